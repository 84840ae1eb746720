
# lockservice.stats (issue 3), preloaded: every counter moves as documented
# (src/stats.h: acquires counts grants, re-acquires included; calls are
# counted when they return, whether or not their transaction commits), the
# waiters gauge follows sleeping acquirers (also cancelled ones),
# live_leases matches leases_live, reset_stats() zeroes the counters and
# moves stats_reset, and is not executable by PUBLIC while the view is
# readable by everyone.
#
# reap_interval is 1h so that the reaper reaps only when restarted here.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use LSTest;
use LSReaper;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my @COUNTERS = qw(acquires acquires_waited acquire_timeouts renewals
  renewals_failed releases expirations_reaped takeovers fence_refusals
  events_dropped);

my $node = rn_node('stats', interval => '1h');

sub sql { return $node->safe_psql('postgres', $_[0]); }

is( sql("SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'lockservice.stats'::regclass AND attnum > 0"),
	join(',', @COUNTERS, qw(waiters stats_reset live_leases live_sessions)),
	'lockservice.stats has the documented columns');

# ---- reset_stats -------------------------------------------------------------------
my $before = rn_stats($node);
sql("SELECT lockservice.lock_acquire('pre', 'h', '1 min')");
usleep(10_000);
sql('SELECT lockservice.reset_stats()');
my $s0 = rn_stats($node);
is(join(',', map { $s0->{$_} } @COUNTERS), join(',', map { 0 } @COUNTERS),
	'reset_stats(): every counter is 0');
cmp_ok(sql("SELECT '$s0->{stats_reset}'::timestamptz > '$before->{stats_reset}'::timestamptz"),
	'eq', 't', 'reset_stats(): stats_reset moves forward');

{
	my ($state) = ls_sqlstate($node,
		"CREATE ROLE st_user; SET ROLE st_user; SELECT lockservice.reset_stats();");
	is($state, '42501', 'reset_stats() is not executable by PUBLIC');
	my ($state2, $out) = ls_sqlstate($node,
		"SET ROLE st_user; SELECT acquires >= 0 AND live_leases >= 0 FROM lockservice.stats;");
	is($state2 . $out, 't', 'lockservice.stats is readable by PUBLIC');
}

# ---- counters, operation by operation ---------------------------------------------
# delta(NAME, CODE, EXPECTED): run CODE, compare every counter's change with
# EXPECTED (missing: 0)
sub delta
{
	my ($name, $code, $want) = @_;
	my $a = rn_stats($node);
	my @ret = $code->();
	my $b = rn_stats($node);
	my $got = join ',', map { "$_=" . ($b->{$_} - $a->{$_}) } @COUNTERS;
	my $exp = join ',', map { "$_=" . ($want->{$_} // 0) } @COUNTERS;
	is($got, $exp, "stats: $name");
	return wantarray ? @ret : $ret[0];
}

my $t1 = delta('a new lease: acquires +1',
	sub { sql("SELECT lockservice.lock_acquire('s1', 'h1', '1 min')") },
	{ acquires => 1 });
delta('re-acquire by the same holder: acquires +1 (re-acquires included)',
	sub { sql("SELECT lockservice.lock_acquire('s1', 'h1', '1 min')") },
	{ acquires => 1 });
delta('acquire of a held name, wait 0: acquire_timeouts +1',
	sub { sql("SELECT lockservice.lock_acquire('s1', 'h2', '1 min')") },
	{ acquire_timeouts => 1 });
delta('acquire of a held name, wait 300 ms: acquire_timeouts +1',
	sub { sql("SELECT lockservice.lock_acquire('s1', 'h2', '1 min', '300 ms')") },
	{ acquire_timeouts => 1 });
delta('renew: renewals +1',
	sub { sql("SELECT lockservice.lock_renew('s1', $t1)") },
	{ renewals => 1 });
delta('renew with a wrong token: renewals_failed +1',
	sub { sql("SELECT lockservice.lock_renew('s1', $t1 + 2)") },
	{ renewals_failed => 1 });

# a waiter: waiters gauge, acquires_waited
{
	my $w = LSTest::Session->new($node);
	my $t2 = delta(
		'a waiter granted after a release: acquires +1, acquires_waited +1, releases +1',
		sub {
			$w->send("SELECT lockservice.lock_acquire('s1', 'h2', '1 min', '60 s')");
			ok($w->wait_until_waiting(like => "%lock_acquire('s1'%", event => 1),
				'the waiter sleeps');
			ok($node->poll_query_until('postgres', 'SELECT waiters = 1 FROM lockservice.stats'),
				'stats: waiters = 1 while it sleeps');
			sql("SELECT lockservice.lock_release('s1', $t1)");
			my ($out) = $w->result(60);
			return $out;
		},
		{ acquires => 1, acquires_waited => 1, releases => 1 });
	like($t2 // '', qr/^\d+$/, 'the waiter got the lease');
	is(sql('SELECT waiters FROM lockservice.stats'), '0', 'stats: waiters = 0 again');
	delta('release with a stale token: no counter moves',
		sub { sql("SELECT lockservice.lock_release('s1', $t1)") }, {});

	delta(
		'a waiter cancelled by statement_timeout: no counter moves',
		sub {
			$w->run("SET statement_timeout = '700ms'");
			$w->send("SELECT lockservice.lock_acquire('s1', 'h3', '1 min', NULL)");
			ok($node->poll_query_until('postgres', 'SELECT waiters = 1 FROM lockservice.stats'),
				'stats: waiters = 1 while the second waiter sleeps');
			my ($out, $err, $state) = $w->result(60);
			is($state, '57014', 'it is cancelled (57014)');
		},
		{});
	is(sql('SELECT waiters FROM lockservice.stats'), '0',
		'stats: waiters = 0 after the cancelled wait');
	$w->quit;
}

delta(
	'takeover of an expired lease: acquires +2, takeovers +1',
	sub {
		sql("SELECT lockservice.lock_acquire('s2', 'h1', '200 ms')");
		usleep(400_000);
		sql("SELECT lockservice.lock_acquire('s2', 'h2', '1 min')");
	},
	{ acquires => 2, takeovers => 1 });

{
	my $lo = sql("SELECT lockservice.lock_acquire('f_lo', 'h', '1 min')");
	my $hi = sql("SELECT lockservice.lock_acquire('f_hi', 'h', '1 min')");
	sql("SELECT lockservice.fence('res', $hi)");
	delta(
		'fence with a stale token (LS001): fence_refusals +1',
		sub {
			my ($state) = ls_sqlstate($node, "SELECT lockservice.fence('res', $lo)");
			is($state, 'LS001', 'the stale fence is refused');
		},
		{ fence_refusals => 1 });
	delta('fence with the same token: no counter moves',
		sub { sql("SELECT lockservice.fence('res', $hi)") }, {});
}

delta('an acquire rolled back: counted anyway (counted when the call returns)',
	sub { sql("BEGIN; SELECT lockservice.lock_acquire('s3', 'h', '1 min'); ROLLBACK;") },
	{ acquires => 1 });

delta(
	'7 leases expire and the reaper reaps them: acquires +7, expirations_reaped +7',
	sub {
		sql("SELECT lockservice.lock_acquire('sx' || g, 'h', '200 ms') FROM generate_series(1, 7) g");
		usleep(400_000);
		# restart the reaper: reap_interval is 1h, a new one reaps at once
		sql('SELECT lockservice.stop_reaper()');
		rn_wait_no_reaper($node, 'postgres', timeout => 10);
		sql('SELECT lockservice.start_reaper()');
		ok( defined rn_server_wait(
				$node, 'postgres',
				"SELECT NOT EXISTS (SELECT 1 FROM lockservice.leases WHERE name LIKE 'sx%')",
				30),
			'the reaper reaped them');
	},
	{ acquires => 7, expirations_reaped => 7 });

# ---- live_leases ---------------------------------------------------------------------
sql("SELECT lockservice.lock_acquire('live' || g, 'h', '1 min') FROM generate_series(1, 5) g");
my ($ll, $cnt) = split /\|/,
  sql('SELECT (SELECT live_leases FROM lockservice.stats), (SELECT count(*) FROM lockservice.leases_live)');
is($ll, $cnt, "live_leases = the number of rows of leases_live ($cnt)");
cmp_ok($ll, '>=', 5, 'live_leases counts the live leases');

# ---- live_sessions (1.5) ------------------------------------------------------------
{
	my $before = sql('SELECT live_sessions FROM lockservice.stats');
	my $s = sql("SELECT lockservice.session_open('st', '1 min')");
	is(sql('SELECT live_sessions FROM lockservice.stats'), $before + 1,
		'live_sessions counts an open session');
	sql("SELECT lockservice.session_close($s)");
	is(sql('SELECT live_sessions FROM lockservice.stats'), $before,
		'... and not a closed one');
}

# ---- reset again ------------------------------------------------------------------------
{
	my $a = rn_stats($node);
	cmp_ok($a->{acquires}, '>', 0, 'counters moved since the reset');
	usleep(10_000);
	sql('SELECT lockservice.reset_stats()');
	my $b = rn_stats($node);
	is(join(',', map { $b->{$_} } @COUNTERS), join(',', map { 0 } @COUNTERS),
		'reset_stats() again: every counter is 0');
	is(sql("SELECT '$b->{stats_reset}'::timestamptz > '$a->{stats_reset}'::timestamptz"),
		't', 'stats_reset moves forward again');
	is($b->{live_leases}, $ll, 'reset_stats() does not touch live_leases');
}

$node->stop;
done_testing();
