
# Hot standby and promotion.
#
# On an asynchronous streaming standby the views are readable and the
# writing functions fail with SQLSTATE 25006 and a hint.  After the primary
# is killed and the standby promoted, every token the new primary issues is
# greater than every token the old primary issued (also those that never
# reached the standby): the timeline is folded into the token's high bits
# (token = timeline * 2^47 + nextval).  Fences recorded with old tokens keep
# refusing lower tokens and accept new ones.  Session ids are never handed
# out twice either: a client that still holds the id of a session lost with
# the old primary's last WAL finds it ended on the new primary; it can
# neither renew nor close nor acquire in another client's session.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use LSTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $primary = ls_node('primary', preload => 1,
	init => { allows_streaming => 1 });

# acquire N leases named PREFIX1..PREFIXN (ttl 1 h) and return their tokens
sub acquire_many
{
	my ($node, $prefix, $n) = @_;
	my $sql = '';
	$sql .= "SELECT lockservice.lock_acquire('$prefix$_', 'old', '1 hour');\n"
	  for 1 .. $n;
	my @t = split /\n/, ls_sql($node, $sql);
	is(scalar(@t), $n, "acquired $n leases $prefix*");
	return @t;
}

# Phase 0: before the base backup
my @t0 = acquire_many($primary, 'p0_', 10);
ls_sql($primary, "SELECT lockservice.fence('res_old', $t0[0])");

$primary->backup('bk');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'bk', has_streaming => 1);
$standby->start;

# Phase A: replicated for sure
my @tA = acquire_many($primary, 'pA_', 20);
ls_sql($primary, "SELECT lockservice.fence('res_old', $tA[-1])");
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));

# open N sessions (ttl 1 h) for holder HOLDER and return their ids
sub open_sessions
{
	my ($node, $holder, $n) = @_;
	my @s = split /\n/,
	  ls_sql($node,
		"SELECT lockservice.session_open('$holder', '1 hour') FROM generate_series(1, $n)");
	is(scalar(@s), $n, "opened $n sessions of $holder");
	return @s;
}

# a session with a lock, replicated for sure
my ($sA) = open_sessions($primary, 'sA', 1);
my $sA_tok = ls_sql($primary, "SELECT lockservice.lock_acquire('sA_lock', $sA)");
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));

# ----- the standby: views readable, writes refused with 25006 + hint -----
is( ls_sql(
		$standby,
		"SELECT count(*) FROM lockservice.leases_live WHERE name LIKE 'pA\\_%'"),
	'20',
	'standby: leases_live is readable and shows replicated leases');
is(ls_sql($standby, "SELECT token FROM lockservice.fences WHERE resource = 'res_old'"),
	$tA[-1], 'standby: fences replicated');
my ($st_last_state, $st_last) =
  ls_sqlstate($standby, 'SELECT lockservice.last_issued_token()');
is($st_last_state, '', 'standby: last_issued_token() is callable');
cmp_ok($st_last, '>=', $tA[-1],
	'standby: last_issued_token() >= replicated tokens')
  if $st_last_state eq '';

my $tok = $tA[0];
my %writes = (
	lock_acquire => "SELECT lockservice.lock_acquire('pA_1', 'x', '1 min')",
	lock_acquire_new => "SELECT lockservice.lock_acquire('standby_new', 'x')",
	lock_renew => "SELECT lockservice.lock_renew('pA_1', $tok)",
	lock_release => "SELECT lockservice.lock_release('pA_1', $tok)",
	lock_check => "SELECT lockservice.lock_check('pA_1', $tok)",
	fence => "SELECT lockservice.fence('res_old', $tA[-1])",
	advance_token_counter =>
	  'SELECT lockservice.advance_token_counter(1)',);
for my $f (sort keys %writes)
{
	my ($state, $out, $err) = ls_sqlstate($standby, $writes{$f});
	is($state, '25006', "standby: $f fails with 25006");
	isnt(ls_hint($err), '', "standby: $f error has a hint")
	  or diag $err;
}
is(ls_sql($standby, "SELECT count(*) FROM lockservice.leases_live WHERE name LIKE 'pA\\_%'"),
	'20', 'standby: still 20 live replicated leases after refused writes');

# READ ONLY transactions on the primary: 25006 too
is( ls_sqlstate(
		$primary,
		"BEGIN READ ONLY; SELECT lockservice.lock_acquire('ro', 'x'); COMMIT;"
	),
	'25006',
	'primary: lock_acquire in a READ ONLY transaction fails with 25006');
is( ls_sqlstate(
		$primary,
		"BEGIN READ ONLY; SELECT lockservice.lock_check('pA_1', $tok); COMMIT;"),
	'25006',
	'primary: lock_check in a READ ONLY transaction fails with 25006');

# Phase B: issued while the standby streams; no wait (may or may not arrive)
my @tB = acquire_many($primary, 'pB_', 100);

# Phase C: issued while the standby is down: never replicated
$standby->stop;
my @tC = acquire_many($primary, 'pC_', 50);
# more sessions than a sequence logs ahead (32): some ids are past any
# record the standby replayed
my @sC = open_sessions($primary, 'sC', 70);
my $sC_tok = ls_sql($primary, "SELECT lockservice.lock_acquire('sC_lock', $sC[-1])");
ls_sql($primary, "SELECT lockservice.fence('res_c', $tC[-1])");
my $old_last = ls_sql($primary, 'SELECT lockservice.last_issued_token()');
my @old = (@t0, @tA, @tB, @tC);
my $old_max = max_of(@old);
cmp_ok($old_last, '>=', $old_max, 'old primary: last_issued_token() >= its tokens');
is(scalar(grep { ($_ >> 47) != 1 } @old),
	0, 'old primary: every token carries timeline 1 in its high bits');

$primary->kill9;

$standby->start;
$standby->promote;
ok($standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'),
	'standby promoted');
my $new = $standby;

# replicated leases are intact on the new primary
is(ls_sql($new, "SELECT lockservice.lock_renew('pA_1', $tA[0])"),
	't', 'new primary: replicated lease renewable with its old token');
is(ls_sql($new, "SELECT lockservice.lock_acquire('pA_2', 'new', '1 hour', '0') IS NULL"),
	't', 'new primary: replicated live lease is not granted to another holder');

# tokens issued on the new primary
my @tN;
my $sql = '';
$sql .= "SELECT lockservice.lock_acquire('pN_$_', 'new', '1 hour');\n" for 1 .. 20;
# names whose last grant on the old primary never replicated
$sql .= "SELECT lockservice.lock_acquire('pC_$_', 'new', '1 hour');\n" for 1 .. 10;
# a name released on the new primary and re-acquired
@tN = split /\n/, ls_sql($new, $sql);
is(scalar(@tN), 30, 'new primary: 30 acquires granted');
cmp_ok(min_of(@tN), '>', $old_max,
	'new primary: every new token > every token issued on the old primary');
my $new_last = ls_sql($new, 'SELECT lockservice.last_issued_token()');
cmp_ok($new_last, '>', $old_max,
	'new primary: last_issued_token() > every old token');
cmp_ok($new_last, '>=', max_of(@tN),
	'new primary: last_issued_token() >= its tokens');
is(scalar(grep { ($_ >> 47) != 2 } @tN),
	0, 'new primary: every new token carries timeline 2 in its high bits');
is(ls_sql($new, "SELECT lockservice.lock_release('pA_1', $tA[0])"),
	't', 'new primary: release of a replicated lease');
my $tR = ls_sql($new, "SELECT lockservice.lock_acquire('pA_1', 'new', '1 hour')");
cmp_ok($tR, '>', max_of(@tN), 'new primary: re-acquire after release: higher token');

# sessions across promotion
is(ls_sql($new, "SELECT lockservice.session_renew($sA)"),
	't', 'new primary: a replicated session is renewable');
is(ls_sql($new, "SELECT lockservice.lock_acquire('sA_lock', $sA, '0')"),
	$sA_tok, 'new primary: re-acquiring in a replicated session returns its token');
my @sN = open_sessions($new, 'sN', 70);
my %old_ids = map { $_ => 1 } ($sA, @sC);
is(scalar(grep { $old_ids{$_} } @sN),
	0, 'new primary: no new session id is one the old primary handed out');
cmp_ok(min_of(@sN), '>', max_of(@sC),
	'new primary: every new session id > every id of the old primary');
# the new clients take the lock the lost session held, in every session
my $sN_tok = ls_sql($new,
	"SELECT lockservice.lock_acquire('sC_lock', $sN[-1], '0')");
cmp_ok($sN_tok, '>', $sC_tok,
	'new primary: the lock of a lost session is granted with a higher token');
ls_sql($new, "SELECT lockservice.lock_acquire('sN_$_', $sN[$_ - 1], '0')")
  for 1 .. 70;
# the old clients, reconnected to the new primary, still hold their ids
is( ls_sql(
		$new,
		'SELECT count(*) FILTER (WHERE lockservice.session_renew(s)) FROM unnest(ARRAY['
		  . join(',', @sC) . ']::bigint[]) s'),
	'0',
	'new primary: none of the 70 lost sessions can be renewed');
my @stale;
for my $i (0 .. $#sC)
{
	my ($state, $out) = ls_sqlstate($new,
		"SELECT lockservice.lock_acquire('sC_lock', $sC[$i], '0')");
	push @stale, "sC_lock in $sC[$i]: $state $out" if $state ne 'LS006';
	($state, $out) = ls_sqlstate($new,
		"SELECT lockservice.lock_acquire('sN_' || ($i + 1), $sC[$i], '0')");
	push @stale, "sN_@{[$i + 1]} in $sC[$i]: $state $out" if $state ne 'LS006';
}
is(scalar(@stale), 0,
	'new primary: an acquire in a lost session fails with LS006 (never another session\'s token)')
  or diag join("\n", @stale[0 .. ($#stale < 4 ? $#stale : 4)]);
is( ls_sql(
		$new,
		'SELECT count(*) FILTER (WHERE lockservice.session_close(s)) FROM unnest(ARRAY['
		  . join(',', @sC) . ']::bigint[]) s'),
	'0',
	'new primary: none of the lost sessions can be closed');
is(ls_sql($new, "SELECT count(*) FROM lockservice.leases_live WHERE name LIKE 'sN\\_%' OR name = 'sC_lock'"),
	'71', 'new primary: the new sessions keep their 71 locks');

# fences across promotion
is(ls_sqlstate($new, "SELECT lockservice.fence('res_old', $tA[-2])"),
	'LS001', 'new primary: fence refuses a token lower than the replicated fence');
is(ls_sqlstate($new, "SELECT lockservice.fence('res_old', $tA[-1])"),
	'', 'new primary: fence accepts the equal old token');
is(ls_sqlstate($new, "SELECT lockservice.fence('res_old', $tC[-1])"),
	'', 'new primary: fence accepts a higher old token that never replicated');
is(ls_sqlstate($new, "SELECT lockservice.fence('res_old', $tN[0])"),
	'', 'new primary: fence accepts a new token');
is(ls_sqlstate($new, "SELECT lockservice.fence('res_old', $tC[-1])"),
	'LS001', 'new primary: ... and then refuses every old token');
is(ls_sqlstate($new, "SELECT lockservice.fence('res_old', $old_max)"),
	'LS001', 'new primary: ... including the highest old token');
is(ls_sqlstate($new, "SELECT lockservice.fence('res_c', $tC[-1])"),
	'', 'new primary: unreplicated fence resource accepts the old token');
is( ls_sqlstate(
		$new,
		'SELECT lockservice.fence(\'res_x\', lockservice.last_issued_token() + 1)'
	),
	'LS002',
	'new primary: fence refuses a never-issued token');

note sprintf(
	'old tokens %d..%d (timeline %d), new tokens %d..%d (timeline %d)',
	min_of(@old), $old_max, $old_max >> 47, min_of(@tN), max_of(@tN),
	$tN[0] >> 47);

$new->stop;

done_testing();
