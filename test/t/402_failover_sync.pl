# Failover to a SYNCHRONOUS standby.
#
# A primary with one synchronous standby (synchronous_standby_names =
# 'standby', synchronous_commit = on) and lockservice preloaded on both.
# Four psql workers acquire, renew, release and write fenced rows on the
# primary; while they run, the primary is SIGKILLed and the standby
# promoted.  Then, on the new primary:
#   - every acknowledged lease is there with its token and holder, renewed
#     leases with their renewed expiry, acknowledged releases released;
#   - every acknowledged fenced write is in the register and its fence
#     refuses the tokens before it;
#   - every new token is greater than every token the old primary handed out
#     (acknowledged or not: the old primary is restarted alone afterwards and
#     asked for last_issued_token()), and carries timeline 2 in its high bits;
#   - the reaper runs (reaper_status() non-empty) and reaps a lease that
#     expired after the failover.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use lib "$FindBin::RealBin/../safety";
use LSTest;
use LSFailover;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my ($primary, $standby) =
  fo_cluster("synchronous_commit = on\nlockservice.reap_interval = '200ms'\n"
	  . "log_statement = none\n");

$primary->append_conf('postgresql.conf', "synchronous_standby_names = 'standby'\n");
$primary->reload;
ok( $primary->poll_query_until(
		'postgres',
		"SELECT sync_state = 'sync' FROM pg_stat_replication WHERE application_name = 'standby'"),
	'the standby is synchronous');

my @w = fo_start_workers($primary, 4);
ok(fo_wait_grants($primary, 400), 'workers are acquiring (400 grants)');

# a lease that expires only after the kill: the new primary's reaper must
# remove it
my $short = ls_sql($primary, "SELECT lockservice.lock_acquire('short', 'x', '3 s')");
ok($short > 0, 'short lease granted just before the kill');
my $killed_at = time;
my $old_pm = ls_kill9($primary);
fo_stop_workers(@w);
my $ack = fo_parse(@w);
my @acked = @{ $ack->{tokens} };
cmp_ok(scalar(@acked), '>=', 400, 'at least 400 acknowledged grants before the kill');
note sprintf('acknowledged: %d grants, %d renewals, %d releases, %d fenced writes',
	scalar(@acked), scalar(keys %{ $ack->{ren} }), scalar(keys %{ $ack->{rel} }),
	scalar(map { @$_ } values %{ $ack->{fen} }));

$standby->promote;
ok($standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'),
	'standby promoted');
my $new = $standby;

# ---- every acknowledged operation is on the new primary -------------------
my $c = fo_check_leases($new, $ack);
is($c->{checked}, scalar(keys %{ $ack->{acq} }), 'every acknowledged grant checked');
is($c->{lost}, 0, 'sync: no acknowledged lease lost')
  or diag join("\n", @{ $c->{examples} }[ 0 .. min_of(9, $#{ $c->{examples} }) ]);
is($c->{renew_lost}, 0, 'sync: no acknowledged renewal lost');
is($c->{release_lost}, 0,
	'sync: every acknowledged release is kept, or undone with its lease as it was (async_releases)');
note "acknowledged releases undone by the failover (allowed: release-only commits do not wait for the standby): $c->{release_undone}";
note "releases in flight at the kill (either outcome allowed): $c->{uncertain}";

# a live replicated lease is still exclusive and renewable by its holder
my ($live) = grep { !$ack->{rel}{$_} && !$ack->{relsched}{$_} } sort keys %{ $ack->{acq} };
is(ls_sql($new, "SELECT lockservice.lock_acquire('$live', 'intruder', '1 min') IS NULL"),
	't', "new primary: live lease $live is not granted to another holder");
is(ls_sql($new, "SELECT lockservice.lock_renew('$live', $ack->{acq}{$live})"),
	't', "new primary: the holder renews $live with its old token");

# ---- fenced writes --------------------------------------------------------
my ($fen_lost, $fen_checked, $refused) = (0, 0, 0);
for my $res (sort keys %{ $ack->{fen} })
{
	my @t = @{ $ack->{fen}{$res} };
	$fen_checked += @t;
	my $in = join ',', @t;
	$fen_lost += ls_sql($new,
		"SELECT count(*) FROM unnest(ARRAY[$in]::bigint[]) t WHERE NOT EXISTS "
		  . "(SELECT 1 FROM fo_register r WHERE r.resource = '$res' AND r.token = t)");
	my $fence_tok = ls_sql($new,
		"SELECT token FROM lockservice.fences WHERE resource = '$res'");
	cmp_ok($fence_tok, '>=', $t[-1],
		"new primary: fence of $res is at least the last acknowledged token");
	if (@t >= 2)
	{
		$refused++
		  if ls_sqlstate($new, "SELECT lockservice.fence('$res', $t[-2])") eq 'LS001';
	}
}
is($fen_lost, 0, "sync: none of $fen_checked acknowledged fenced writes lost");
is($refused, scalar(grep { @{ $ack->{fen}{$_} } >= 2 } keys %{ $ack->{fen} }),
	'new primary: every fence refuses the token before its last acknowledged one');

# ---- tokens ---------------------------------------------------------------
my @tN = split /\n/,
  ls_sql($new,
	join '', map { "SELECT lockservice.lock_acquire('after_$_', 'new', '1 hour');\n" } 1 .. 20);
is(scalar(@tN), 20, 'new primary: 20 grants');
cmp_ok(min_of(@tN), '>', max_of(@acked),
	'new primary: every new token > every acknowledged old token');
is(scalar(grep { ($_ >> 47) != 2 } @tN), 0,
	'new primary: new tokens carry timeline 2 in their high bits');
for my $res (sort keys %{ $ack->{fen} })
{
	is(ls_sqlstate($new, "SELECT lockservice.fence('$res', $tN[0])"),
		'', "new primary: fence of $res accepts a new token");
	is(ls_sqlstate($new, "SELECT lockservice.fence('$res', $ack->{fen}{$res}[-1])"),
		'LS001', "new primary: ... and then refuses the last old token");
}

# ---- the reaper -----------------------------------------------------------
ok( $new->poll_query_until(
		'postgres', 'SELECT count(*) > 0 FROM lockservice.reaper_status()'),
	'new primary: reaper_status() is not empty');
ok( $new->poll_query_until(
		'postgres', "SELECT count(*) = 0 FROM lockservice.leases WHERE name = 'short'"),
	'new primary: the reaper removed the lease that expired');
note 'reaper: ' . ls_sql($new, 'SELECT pid, last_run, reaped FROM lockservice.reaper_status()');

# ---- every token the old primary could have issued ------------------------
# Restart the old primary alone (no standby to wait for) and ask it.
$primary->append_conf('postgresql.conf', "synchronous_standby_names = ''\n");
ok(ls_start_after_crash($primary, $old_pm), 'old primary restarted alone');
my $old_last = ls_sql($primary, 'SELECT lockservice.last_issued_token()');
cmp_ok($old_last, '>=', max_of(@acked),
	'old primary: last_issued_token() >= every acknowledged token');
cmp_ok(min_of(@tN), '>', $old_last,
	'new primary: every new token > every token the old primary could have issued');
$primary->stop('immediate');

note sprintf('failover took %.1f s; old tokens up to %d (timeline %d), new from %d (timeline %d)',
	time - $killed_at, $old_last, $old_last >> 47, min_of(@tN), $tN[0] >> 47);

$new->stop;
done_testing();
