
# The reaper across a crash and on a standby (issue 3), preloaded:
# - kill -9 of a reaper: the postmaster's crash restart drops every session
#   (expected) and brings the launcher and the reaper back; leases survive
#   and expired ones are reaped again;
# - a hot standby runs no launcher and no reaper (start_reaper() fails with
#   25006) and keeps the expired rows it replayed; after pg_ctl promote the
#   new primary reaps them within about one interval.

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

my $INTERVAL = 0.2;

my $primary = rn_node(
	'crash_primary',
	interval => '200ms',
	init => { allows_streaming => 1 },
	conf => 'restart_after_crash = on');

# ---- kill -9 of the reaper ---------------------------------------------------
{
	my ($reaper) = rn_wait_reaper($primary, 'postgres', timeout => 10);
	ok(defined $reaper, 'a reaper runs');
	my $tok = $primary->safe_psql('postgres',
		"SELECT lockservice.lock_acquire('survivor', 'h', '1 hour')");
	my $s = LSTest::Session->new($primary);
	my $s_pid = $s->pid;
	my $log_off = rn_log_offset($primary);

	is(kill('KILL', $reaper), 1, 'kill -9 of the reaper');

	# the postmaster restarts everything; wait until it takes connections
	ok( $primary->poll_query_until(
			'postgres',
			"SELECT pg_is_in_recovery() = false AND count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'lockservice launcher'"
		),
		'after the crash restart the server takes connections and the launcher runs again'
	);
	my $log = rn_log_since($primary, $log_off);
	like(
		$log,
		qr/background worker "lockservice reaper" \(PID $reaper\) was terminated by signal 9/,
		'the postmaster saw the reaper die from SIGKILL');
	like($log, qr/all server processes terminated; reinitializing/,
		'and did a crash restart');

	my $dead = !eval { $s->run('SELECT 1'); 1 };
	ok($dead, 'the session open before the crash was dropped (expected)');
	is( $primary->safe_psql(
			'postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $s_pid"),
		'0',
		'its backend is gone');
	eval { $s->quit };

	my ($new, $secs) =
	  rn_wait_reaper($primary, 'postgres', not => $reaper, timeout => 60);
	ok(defined $new, sprintf('a new reaper runs after the crash restart (%.2f s)', $secs));
	is( $primary->safe_psql(
			'postgres', "SELECT token FROM lockservice.leases_live WHERE name = 'survivor'"),
		$tok,
		'the live lease survived the crash');
	$primary->safe_psql('postgres',
		"SELECT lockservice.lock_acquire('after_crash_' || g, 'h', '300 ms') FROM generate_series(1, 3) g"
	);
	ok( defined rn_server_wait(
			$primary, 'postgres',
			"SELECT NOT EXISTS (SELECT 1 FROM lockservice.leases WHERE name LIKE 'after\\_crash\\_%')",
			30),
		'the reaper reaps again after the crash restart');
	my $row = rn_reaper_row($primary, 'postgres');
	ok($row && $row->{pid} == $new && $row->{reaped} >= 3,
		'reaper_status() shows the new reaper and what it reaped');
}

# ---- a standby ----------------------------------------------------------------
$primary->backup('bk');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'bk', has_streaming => 1);
$standby->start;
my $sb_log_start = rn_log_offset($standby);

# keep the primary's reaper out of the way: expired rows must reach the
# standby and stay there
is($primary->safe_psql('postgres', 'SELECT lockservice.stop_reaper()'),
	't', 'the primary\'s reaper is stopped');
ok(defined rn_wait_no_reaper($primary, 'postgres', timeout => 10),
	'... and gone');
$primary->safe_psql('postgres',
	"SELECT lockservice.lock_acquire('sb_' || g, 'h', '300 ms') FROM generate_series(1, 20) g"
);
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
usleep(500_000);    # the leases expire

{
	my $workers = 0;
	for (1 .. 5)
	{
		$workers += $standby->safe_psql('postgres',
			"SELECT count(*) FROM pg_stat_activity WHERE backend_type IN ('lockservice launcher', 'lockservice reaper')"
		);
		usleep(300_000);
	}
	is($workers, 0, 'standby: no launcher and no reaper run');
	is($standby->safe_psql('postgres', 'SELECT count(*) FROM lockservice.reaper_status()'),
		'0', 'standby: reaper_status() lists nothing');
	my ($state, $out, $err) =
	  ls_sqlstate($standby, 'SELECT lockservice.start_reaper()');
	is($state, '25006', 'standby: start_reaper() fails with 25006');
	is( $standby->safe_psql(
			'postgres', "SELECT count(*) FROM lockservice.leases WHERE name LIKE 'sb\\_%' AND expires_at < clock_timestamp()"),
		'20',
		'standby: the expired leases are still there');
	my @t = rn_worker_trouble(rn_log_since($standby, $sb_log_start));
	is(scalar(@t), 0, 'standby: no worker errors in its log') or diag join("\n", @t);
}

# ---- promotion ----------------------------------------------------------------
{
	$primary->stop;
	$standby->promote;
	my $t0 = $standby->safe_psql('postgres',
		'SELECT extract(epoch FROM clock_timestamp())');
	my $gone = rn_server_wait($standby, 'postgres',
		"SELECT NOT EXISTS (SELECT 1 FROM lockservice.leases WHERE name LIKE 'sb\\_%')",
		60);
	ok(defined $gone, 'after promotion the expired leases are reaped');
	my $dt = defined $gone ? $gone - $t0 : 999;
	note sprintf('promote -> expired rows gone: %.3f s', $dt);
	cmp_ok($dt, '<=', $INTERVAL + 2.0,
		sprintf('... within one interval of the workers starting (%.2f s after promote)', $dt));
	ok( $standby->safe_psql(
			'postgres',
			"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'lockservice launcher'"
		),
		'the promoted server runs the launcher');
	my ($p) = rn_wait_reaper($standby, 'postgres', timeout => 10);
	ok(defined $p, 'and a reaper');
	cmp_ok(rn_reaper_row($standby, 'postgres')->{reaped},
		'>=', 20, 'reaper_status() counts the reaped leases');
}

$standby->stop;
done_testing();
