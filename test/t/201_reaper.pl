
# The reaper of a preloaded server (issue 3): launcher and reaper processes,
# expired leases gone within 2 x reap_interval, released rows kept 60 s,
# leases held by a lock_check transaction skipped without waiting, waiters
# woken by the reaper, stop_reaper() / start_reaper() when preloaded, SIGHUP
# changing the interval, and pg_terminate_backend of the reaper and of the
# launcher.

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

my $INTERVAL = 0.2;    # s, lockservice.reap_interval of this node
my $SLACK = 2.0;       # s, scheduling slack on a loaded 2-core machine

my $node = rn_node('reaper', interval => '200ms');
my $dboid = rn_dboid($node, 'postgres');

sub now_epoch
{
	return $node->safe_psql('postgres',
		'SELECT extract(epoch FROM clock_timestamp())');
}

# ---- processes -----------------------------------------------------------
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'lockservice launcher'"
	),
	'one launcher runs (backend_type "lockservice launcher")');
my ($reaper, $waited) = rn_wait_reaper($node, 'postgres', timeout => 10);
ok(defined $reaper,
	'a reaper runs in database postgres (backend_type "lockservice reaper")');
my $row = rn_reaper_row($node, 'postgres');
is($row && $row->{pid}, $reaper, 'reaper_status() shows the reaper pid');
ok( $node->poll_query_until(
		'postgres',
		"SELECT last_run IS NOT NULL AND started_at <= last_run AND reaped >= 0
		   FROM lockservice.reaper_status() WHERE datid = $dboid"),
	'reaper_status(): started_at, last_run and reaped are filled in');

# ---- expired leases disappear within 2 x reap_interval --------------------
{
	my @gaps;
	for my $round (1 .. 3)
	{
		# ttls that end at different phases of the reaper's cycle
		my $ttl = 700 + 70 * $round;
		my $max_exp = $node->safe_psql(
			'postgres', qq{
SELECT count(lockservice.lock_acquire('exp${round}_' || g, 'h', '$ttl ms')) FROM generate_series(1, 5) g;
SELECT extract(epoch FROM max(expires_at)) FROM lockservice.leases WHERE name LIKE 'exp${round}\\_%';}
		);
		$max_exp = (split /\n/, $max_exp)[-1];
		my $gone = rn_server_wait($node, 'postgres',
			"SELECT NOT EXISTS (SELECT 1 FROM lockservice.leases WHERE name LIKE 'exp${round}\\_%')",
			30);
		ok(defined $gone, "round $round: 5 expired leases were reaped");
		push @gaps, defined $gone ? $gone - $max_exp : 999;
	}
	my $worst = max_of(@gaps);
	note sprintf('expiry -> row gone: %s s (reap_interval %.1f s)',
		join(', ', map { sprintf '%.3f', $_ } @gaps), $INTERVAL);
	cmp_ok($worst, '<=', 2 * $INTERVAL + $SLACK,
		"expired leases disappear within 2 x reap_interval (+${SLACK}s slack): worst "
		  . sprintf('%.3f s', $worst));
	is( $node->safe_psql(
			'postgres', "SELECT lockservice.lock_acquire('keep', 'h', '1 hour') IS NOT NULL"),
		't',
		'a live lease is taken');
	usleep(4 * $INTERVAL * 1e6);    # four reaper rounds
	is( $node->safe_psql(
			'postgres', "SELECT count(*) FROM lockservice.leases_live WHERE name = 'keep'"),
		'1',
		'a live lease is not reaped');
}

# ---- released rows: kept 60 s, then deleted without counting as expired ---
{
	my $tok = $node->safe_psql('postgres',
		"SELECT lockservice.lock_acquire('rel1', 'h', '1 hour')");
	$node->safe_psql('postgres', "SELECT lockservice.lock_release('rel1', $tok)");
	usleep(4 * $INTERVAL * 1e6);
	is( $node->safe_psql(
			'postgres', "SELECT count(*) FROM lockservice.leases WHERE name = 'rel1' AND released_at IS NOT NULL"),
		'1',
		'a released row is kept (for 60 s) after release');
	my $row_before = rn_reaper_row($node, 'postgres');
	# age it instead of waiting a minute
	$node->safe_psql('postgres',
		"UPDATE lockservice.leases SET released_at = clock_timestamp() - interval '61 s' WHERE name = 'rel1'"
	);
	my $t0 = now_epoch();
	my $gone = rn_server_wait($node, 'postgres',
		"SELECT NOT EXISTS (SELECT 1 FROM lockservice.leases WHERE name = 'rel1')", 30);
	ok(defined $gone && $gone - $t0 <= 2 * $INTERVAL + $SLACK,
		'a row released more than 60 s ago is deleted within 2 x reap_interval');
	my $row_after = rn_reaper_row($node, 'postgres');
	is($row_after->{reaped}, $row_before->{reaped},
		'deleting a released row does not count as a reaped expiration');
	cmp_ok($row_after->{deleted}, '>=', $row_before->{deleted} + 1,
		'... it counts in reaper_status().deleted');
}

# ---- a lease held by lock_check is skipped, without waiting ----------------
{
	my $s = LSTest::Session->new($node);
	my $tok = $s->run(
		"BEGIN; SELECT lockservice.lock_acquire('chk', 'h', '2 s'); COMMIT; BEGIN");
	is($s->run("SELECT lockservice.lock_check('chk', $tok)"),
		't', 'lock_check holds the lease');
	$node->safe_psql('postgres',
		"SELECT lockservice.lock_acquire('chk_other', 'h', '2 s')");
	my $gone = rn_server_wait($node, 'postgres',
		"SELECT NOT EXISTS (SELECT 1 FROM lockservice.leases WHERE name = 'chk_other')",
		30);
	ok(defined $gone,
		'while a lock_check transaction holds an expired lease, other expired leases are reaped'
	);
	usleep(4 * $INTERVAL * 1e6);
	is( $node->safe_psql(
			'postgres', "SELECT count(*) FROM lockservice.leases WHERE name = 'chk' AND expires_at < clock_timestamp()"),
		'1',
		'the expired lease held by lock_check is not reaped while the check transaction runs'
	);
	is( $node->safe_psql(
			'postgres', "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'lockservice reaper' AND wait_event_type = 'Lock'"),
		'0',
		'the reaper does not wait for the row lock');
	$s->run('COMMIT');
	my $t0 = now_epoch();
	$gone = rn_server_wait($node, 'postgres',
		"SELECT NOT EXISTS (SELECT 1 FROM lockservice.leases WHERE name = 'chk')", 30);
	ok(defined $gone && $gone - $t0 <= 2 * $INTERVAL + $SLACK,
		'after the check transaction ends the lease is reaped within 2 x reap_interval');
	$s->quit;
}

# ---- a waiter is woken by the reaper --------------------------------------
# A waiter sleeps until the lease in its way expires as it read it.  Here the
# lease is made to expire behind the waiter's back (a direct UPDATE of the
# table, which wakes nobody), so only the reaper's wake-up, sent when it
# deletes the expired row, can end the sleep before the waiter's deadline.
# Control: with the reaper stopped the waiter sleeps to its deadline.
{
	is($node->safe_psql('postgres', 'SELECT lockservice.stop_reaper()'),
		't', 'preloaded: stop_reaper() returns true while the reaper runs');
	ok(defined rn_wait_no_reaper($node, 'postgres', timeout => 10),
		'preloaded: the reaper exits after stop_reaper()');
	usleep(1_500_000);
	is(scalar(rn_reaper_pids($node, 'postgres')),
		0, 'preloaded: the launcher does not restart a stopped reaper');
	is($node->safe_psql('postgres', 'SELECT lockservice.stop_reaper()'),
		'f', 'preloaded: stop_reaper() returns false when no reaper runs');

	my $run = sub {
		my ($name, $wait) = @_;
		$node->safe_psql('postgres',
			"SELECT lockservice.lock_acquire('$name', 'holder', '1 hour')");
		my $w = LSTest::Session->new($node);
		$w->send(
			"SELECT lockservice.lock_acquire('$name', 'waiter', '1 min', '$wait s') IS NOT NULL"
		);
		ok( $w->wait_until_waiting(like => "%lock_acquire('$name'%", event => 1),
			"waiter on $name sleeps");
		usleep(200_000);
		$node->safe_psql('postgres',
			"UPDATE lockservice.leases SET expires_at = clock_timestamp() - interval '1 ms' WHERE name = '$name'"
		);
		my $t0 = time;
		my ($out, $err, $state) = $w->result(60);
		my $dt = time - $t0;                    # since the lease ended
		my $total = $w->{done_at} - $w->{sent_at};    # since the call
		$w->quit;
		return ($out, $dt, $total);
	};

	my ($got, $dt, $total) = $run->('wk_control', 4);
	is($got, 't', 'control (no reaper): the waiter gets the lease at its deadline');
	cmp_ok($total, '>=', 3.9,
		sprintf('control (no reaper): nothing wakes the waiter before its 4 s deadline (woke after %.2f s)', $total));

	is($node->safe_psql('postgres', 'SELECT lockservice.start_reaper() IS NULL'),
		't', 'preloaded: start_reaper() returns NULL');
	my ($pid, $secs) = rn_wait_reaper($node, 'postgres', timeout => 10);
	ok(defined $pid, sprintf('preloaded: the reaper is back after start_reaper() (%.2f s)', $secs));
	cmp_ok($secs, '<=', 3, 'preloaded: ... within a few seconds');
	$reaper = $pid;

	($got, $dt) = $run->('wk_reaped', 30);
	is($got, 't', 'with the reaper: the waiter gets the lease');
	cmp_ok($dt, '<=', 2 * $INTERVAL + 1.0,
		sprintf('with the reaper: it is woken when the reaper reaps, long before its deadline (%.2f s)', $dt));
}

# ---- SIGHUP changes the interval -------------------------------------------
# Samples reaper_status().last_run on the server every 5 ms and returns the
# epoch times of the next N runs (or fewer at the timeout).
sub next_runs
{
	my ($n, $timeout, $before) = @_;
	$before //= '';
	my $out = $node->safe_psql(
		'postgres', qq{
CREATE FUNCTION pg_temp.runs(n int, timeout float8) RETURNS SETOF float8
LANGUAGE plpgsql AS \$\$
DECLARE
	t0 timestamptz := clock_timestamp();
	prev timestamptz;
	cur timestamptz;
	got int := 0;
BEGIN
	SELECT last_run INTO prev FROM lockservice.reaper_status() WHERE datid = $dboid;
	LOOP
		SELECT last_run INTO cur FROM lockservice.reaper_status() WHERE datid = $dboid;
		IF cur IS DISTINCT FROM prev AND cur IS NOT NULL THEN
			RETURN NEXT extract(epoch FROM cur);
			got := got + 1;
			prev := cur;
		END IF;
		EXIT WHEN got >= n OR clock_timestamp() > t0 + timeout * interval '1 s';
		PERFORM pg_sleep(0.005);
	END LOOP;
END \$\$;
$before
SELECT 'run', pg_temp.runs($n, $timeout);}, timeout => $timeout + 60);
	my @lines = split /\n/, $out;
	my @runs = map { (split /\|/)[1] } grep { /^run\|/ } @lines;
	my @other = grep { !/^run\|/ } @lines;
	return (\@runs, \@other);
}

sub gaps
{
	my @r = @_;
	return map { $r[$_] - $r[ $_ - 1 ] } 1 .. $#r;
}

sub median
{
	my @s = sort { $a <=> $b } @_;
	return @s ? $s[ int($#s / 2) ] : undef;
}

{
	my ($runs) = next_runs(6, 20);
	my @g = gaps(@$runs);
	note 'gaps at 200ms: ' . join(', ', map { sprintf '%.3f', $_ } @g);
	my $m = median(@g);
	ok(@g >= 4 && $m >= 0.15 && $m <= 0.5,
		sprintf('reap_interval 200ms: runs about 200 ms apart (median %.3f s)', $m // -1));

	$node->safe_psql('postgres',
		"ALTER SYSTEM SET lockservice.reap_interval = '1s'; SELECT pg_reload_conf();");
	next_runs(1, 5);    # the round scheduled under the old interval
	($runs) = next_runs(4, 20);
	@g = gaps(@$runs);
	note 'gaps at 1s: ' . join(', ', map { sprintf '%.3f', $_ } @g);
	$m = median(@g);
	ok(@g >= 3 && $m >= 0.9 && $m <= 1.6,
		sprintf('after SIGHUP with reap_interval 1s: runs about 1 s apart (median %.3f s)', $m // -1));

	# from a long interval to a short one: the new interval applies at once,
	# not only after the round the old interval had scheduled.  A reaper
	# started under 10s runs at once and schedules its next round 10 s
	# later; right after that first round the configuration (200ms, written
	# by ALTER SYSTEM beforehand) is reloaded.
	$node->safe_psql('postgres',
		"ALTER SYSTEM SET lockservice.reap_interval = '10s'; SELECT pg_reload_conf();");
	$node->poll_query_until('postgres',
		"SELECT current_setting('lockservice.reap_interval') = '10s'");
	$node->safe_psql('postgres', 'SELECT lockservice.stop_reaper()');
	rn_wait_no_reaper($node, 'postgres', timeout => 10);
	$node->safe_psql('postgres',
		"ALTER SYSTEM SET lockservice.reap_interval = '200ms'");
	my $out = $node->safe_psql(
		'postgres', qq{
CREATE FUNCTION pg_temp.reload_after_first_run() RETURNS float8
LANGUAGE plpgsql AS \$\$
DECLARE
	t0 timestamptz := clock_timestamp();
	first timestamptz;
	reload timestamptz;
	cur timestamptz;
BEGIN
	LOOP    -- the new reaper's first round
		SELECT last_run INTO first FROM lockservice.reaper_status()
		 WHERE datid = $dboid AND last_run > started_at;
		EXIT WHEN first IS NOT NULL;
		IF clock_timestamp() > t0 + interval '20 s' THEN RETURN NULL; END IF;
		PERFORM pg_sleep(0.005);
	END LOOP;
	PERFORM pg_reload_conf();
	reload := clock_timestamp();
	LOOP    -- its next round
		SELECT last_run INTO cur FROM lockservice.reaper_status() WHERE datid = $dboid;
		IF cur > first THEN
			RETURN extract(epoch FROM cur - reload);
		END IF;
		IF clock_timestamp() > reload + interval '20 s' THEN RETURN 999; END IF;
		PERFORM pg_sleep(0.005);
	END LOOP;
END \$\$;
SELECT lockservice.start_reaper();
SELECT pg_temp.reload_after_first_run();}, timeout => 120);
	my $first = (split /\n/, $out)[-1];
	$first = 999 if !defined $first || $first eq '';
	note sprintf('10s -> 200ms: next run %.3f s after the reload', $first);
	cmp_ok($first, '<=', 2.0,
		'lowering reap_interval (10s -> 200ms) takes effect within a few seconds of the reload, not after the old 10 s'
	);
	$node->safe_psql('postgres',
		"ALTER SYSTEM RESET lockservice.reap_interval; SELECT pg_reload_conf();");
	next_runs(2, 15);
}

# ---- pg_terminate_backend of the reaper ------------------------------------
{
	my $log_off = rn_log_offset($node);
	($reaper) = rn_wait_reaper($node, 'postgres', timeout => 10);
	is($node->safe_psql('postgres', "SELECT pg_terminate_backend($reaper)"),
		't', 'pg_terminate_backend(reaper)');
	my ($pid, $secs) =
	  rn_wait_reaper($node, 'postgres', not => $reaper, timeout => 30);
	ok(defined $pid, 'a new reaper runs after pg_terminate_backend');
	note sprintf('reaper back after %.2f s (bgw_restart_time 1 s)', $secs);
	cmp_ok($secs, '<=', 5, sprintf('... within a few seconds (%.2f s)', $secs));
	ok( $node->poll_query_until(
			'postgres',
			"SELECT pid = $pid FROM lockservice.reaper_status() WHERE datid = $dboid"),
		'reaper_status() shows the new pid');
	$node->safe_psql('postgres',
		"SELECT lockservice.lock_acquire('term_' || g, 'h', '300 ms') FROM generate_series(1, 3) g"
	);
	my $gone = rn_server_wait($node, 'postgres',
		"SELECT NOT EXISTS (SELECT 1 FROM lockservice.leases WHERE name LIKE 'term\\_%')",
		30);
	ok(defined $gone, 'the restarted reaper reaps');
	cmp_ok(rn_reaper_row($node, 'postgres')->{reaped},
		'>=', 3, 'reaper_status().reaped counts them');
	is(scalar(rn_reaper_pids($node, 'postgres')), 1, 'exactly one reaper runs');

	# the launcher: restarted too, and it does not start a second reaper
	my $launcher = $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'lockservice launcher'");
	$node->safe_psql('postgres', "SELECT pg_terminate_backend($launcher)");
	ok( $node->poll_query_until(
			'postgres',
			"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'lockservice launcher' AND pid <> $launcher"
		),
		'the launcher is restarted after pg_terminate_backend');
	usleep(1_500_000);
	is(join(',', rn_reaper_pids($node, 'postgres')),
		$pid, 'the restarted launcher keeps the running reaper (no second one)');

	my @trouble = grep { !/exited with exit code 1/ }
	  rn_worker_trouble(rn_log_since($node, $log_off));
	# pg_terminate_backend makes the worker log FATAL "terminating background
	# worker ... due to administrator command" and exit with code 1; nothing
	# else is expected.
	@trouble = grep { !/due to administrator command/ } @trouble;
	is(scalar(@trouble), 0, 'no other worker errors in the log')
	  or diag join("\n", @trouble);
}

$node->stop;
done_testing();
