# Failover to an ASYNCHRONOUS standby that fell behind.
#
# A primary with one asynchronous streaming standby, lockservice preloaded
# on both.  Four psql workers acquire, renew, release and write fenced rows
# on the primary.  While they run the standby goes away (as if partitioned:
# it is stopped), the workers go on -- their commits are acknowledged
# without the standby -- then the primary is SIGKILLed and the standby
# started and promoted.
#
# What was acknowledged after the standby fell behind is lost: leases,
# renewals, releases and fenced writes.  That is shown with note(), not
# asserted (it is what asynchronous replication means).  What is asserted:
#   - tokens never go backwards: every token issued by the new primary is
#     greater than every token the old one issued, acknowledged or not (the
#     old primary is restarted alone afterwards and asked for
#     last_issued_token()), because the timeline is in the high bits;
#   - fenced resources stay safe: once a new holder has fenced a resource,
#     every old token -- even the highest acknowledged one, whose fence was
#     lost -- is refused (LS001); a lease that was acknowledged on the old
#     primary but lost can be granted again, to a new holder with a higher
#     token, and the old holder's token is then refused by the fence;
#   - the surviving register is consistent: per resource, tokens never
#     decrease in commit order;
#   - the reaper runs on the new primary.

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

my ($primary, $standby) =
  fo_cluster("synchronous_commit = on\nlog_statement = none\n");
ok( $primary->poll_query_until(
		'postgres',
		"SELECT sync_state = 'async' FROM pg_stat_replication WHERE application_name = 'standby'"),
	'the standby streams asynchronously');

my @w = fo_start_workers($primary, 4);
ok(fo_wait_grants($primary, 200), 'workers are acquiring (200 grants)');
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));

# the standby falls behind; the primary goes on acknowledging
$standby->stop('fast');
my $behind = fo_grants($primary);
ok(fo_wait_grants($primary, $behind + 300),
	'workers go on without the standby (300 more grants)');
my $old_pm = ls_kill9($primary);
fo_stop_workers(@w);
my $ack = fo_parse(@w);
my @acked = @{ $ack->{tokens} };
note sprintf('acknowledged by the old primary: %d grants, %d renewals, %d releases, %d fenced writes',
	scalar(@acked), scalar(keys %{ $ack->{ren} }), scalar(keys %{ $ack->{rel} }),
	scalar(map { @$_ } values %{ $ack->{fen} }));

$standby->start;
$standby->promote;
ok($standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'),
	'standby promoted');
my $new = $standby;

# ---- what was lost (shown, not asserted) ------------------------------------
my $c = fo_check_leases($new, $ack);
note "async: of $c->{checked} acknowledged grants, $c->{lost} are lost on the new primary, "
  . "$c->{renew_lost} acknowledged renewals and $c->{release_lost} acknowledged releases are lost";
note "  e.g. $_" for grep { defined } @{ $c->{examples} }[ 0 .. 4 ];
my $fen_lost = 0;
my $fen_total = 0;
for my $res (sort keys %{ $ack->{fen} })
{
	my $in = join ',', @{ $ack->{fen}{$res} };
	$fen_total += @{ $ack->{fen}{$res} };
	$fen_lost += ls_sql($new,
		"SELECT count(*) FROM unnest(ARRAY[$in]::bigint[]) t WHERE NOT EXISTS "
		  . "(SELECT 1 FROM fo_register r WHERE r.resource = '$res' AND r.token = t)");
}
note "async: $fen_lost of $fen_total acknowledged fenced writes are lost on the new primary";
cmp_ok($c->{checked}, '>', 0, 'acknowledged grants were checked');

# ---- tokens never go backwards ------------------------------------------------
my @tN = split /\n/,
  ls_sql($new,
	join '', map { "SELECT lockservice.lock_acquire('after_$_', 'new', '1 hour');\n" } 1 .. 20);
is(scalar(@tN), 20, 'new primary: 20 grants');
cmp_ok(min_of(@tN), '>', max_of(@acked),
	'new primary: every new token > every token acknowledged by the old primary');
is(scalar(grep { ($_ >> 47) != 2 } @tN), 0,
	'new primary: new tokens carry timeline 2 in their high bits');
my $new_last = ls_sql($new, 'SELECT lockservice.last_issued_token()');
cmp_ok($new_last, '>=', max_of(@tN), 'new primary: last_issued_token() >= its tokens');

# ---- fenced resources stay safe -----------------------------------------------
for my $res (sort keys %{ $ack->{fen} })
{
	my @t = @{ $ack->{fen}{$res} };
	my $lead = ls_sql($new, "SELECT lockservice.lock_acquire('lead_$res', 'new-leader', '1 hour')");
	cmp_ok($lead, '>', $t[-1], "new primary: the new holder's token for $res beats every old one");
	is(ls_sqlstate($new, "SELECT lockservice.fence('$res', $lead)"),
		'', "new primary: fence of $res accepts the new holder's token");
	my $bad = 0;
	for my $old (@t[ max_of(0, $#t - 5) .. $#t ])
	{
		$bad++ if ls_sqlstate($new, "SELECT lockservice.fence('$res', $old)") ne 'LS001';
	}
	is($bad, 0, "new primary: fence of $res refuses the last acknowledged old tokens (LS001)");
}

# a lease acknowledged on the old primary but lost: granted again, higher
my @held = grep { !$ack->{rel}{$_} && !$ack->{relsched}{$_} } sort keys %{ $ack->{acq} };
my $lost = @held
  ? ls_sql(
	$new, 'SELECT v.name FROM (VALUES '
	  . join(',', map { "('$_', $ack->{acq}{$_})" } @held)
	  . ') v(name, token) WHERE NOT EXISTS (SELECT 1 FROM lockservice.leases_live l '
	  . 'WHERE l.name = v.name AND l.token = v.token) ORDER BY v.token DESC LIMIT 1')
  : '';
$lost = undef if $lost eq '';
SKIP:
{
	skip 'no acknowledged lease was lost this time', 4 unless defined $lost;
	my $old = $ack->{acq}{$lost};
	my $t2 = ls_sql($new, "SELECT lockservice.lock_acquire('$lost', 'second-holder', '1 hour')");
	note "lease $lost: acknowledged to w* with token $old on the old primary, lost in the "
	  . "failover, granted again to second-holder with token $t2: two holders believe they hold it";
	ok($t2 ne '', "new primary: the lost lease $lost is granted again");
	cmp_ok($t2, '>', $old, '... with a higher token than the lost one');
	is(ls_sqlstate($new, "SELECT lockservice.fence('res_$lost', $t2)"),
		'', "... the second holder's fenced write is accepted");
	is(ls_sqlstate($new, "SELECT lockservice.fence('res_$lost', $old)"),
		'LS001', "... and the first holder's (old token) is refused");
}

# the surviving register is consistent
is( ls_sql(
		$new, q{
	SELECT count(*) FROM (SELECT token, max(token) OVER (PARTITION BY resource ORDER BY id
	       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before
	  FROM fo_register) s WHERE token < before}),
	'0',
	'new primary: per resource, the register never accepted a lower token after a higher one');

# ---- the reaper ---------------------------------------------------------------
ok( $new->poll_query_until(
		'postgres', 'SELECT count(*) > 0 FROM lockservice.reaper_status()'),
	'new primary: reaper_status() is not empty');

# ---- every token the old primary could have issued ----------------------------
ok(ls_start_after_crash($primary, $old_pm), 'old primary restarted alone');
my $old_last = ls_sql($primary, 'SELECT lockservice.last_issued_token()');
cmp_ok($old_last, '>=', max_of(@acked),
	'old primary: last_issued_token() >= every acknowledged token');
cmp_ok(min_of(@tN), '>', $old_last,
	'new primary: every new token > every token the old primary could have issued');
$primary->stop('immediate');
note sprintf('old tokens up to %d (timeline %d), new from %d (timeline %d)',
	$old_last, $old_last >> 47, min_of(@tN), $tN[0] >> 47);

$new->stop;
done_testing();
