
# The reaper without shared_preload_libraries (issue 3):
# - no reaper until lockservice.start_reaper(), which returns the pid of a
#   dynamic background worker (backend_type "lockservice reaper") that
#   reaps the current database; reaper_status() shows it;
# - start_reaper() while one runs fails clearly (55000), also right after
#   the first call; stop_reaper() returns true and the worker exits, then
#   false; pg_terminate_backend of it -> back within its restart time;
# - not executable by PUBLIC;
# - stats counters are NULL, reset_stats() fails with 55000, no events;
# - with no background worker slot free, start_reaper() fails with 53000
#   and a hint naming max_worker_processes.

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

my $node = rn_node('plain', preload => 0, interval => '200ms');

sub sql { return $node->safe_psql('postgres', $_[0]); }

# the library reads lockservice.* from the configuration file when a backend
# loads it
{
	my ($state, $out, $err) = ls_sqlstate($node,
		"SELECT lockservice.lock_acquire('load', 'h', '1 s') IS NOT NULL;\nSHOW lockservice.reap_interval;");
	is($out, "t\n200ms",
		'not preloaded: lockservice.reap_interval from postgresql.conf is in effect once a backend loaded the library'
	);
	unlike($err, qr/WARNING/, '... and loading the library warns about nothing')
	  or diag $err;
}

usleep(1_000_000);
is(scalar(rn_reaper_pids($node, 'postgres')), 0, 'no reaper runs by itself');
is(sql('SELECT count(*) FROM lockservice.reaper_status()'), '0',
	'reaper_status() lists nothing');
is(sql('SELECT lockservice.stop_reaper()'), 'f',
	'stop_reaper() without a reaper returns false');

# ---- start_reaper ----------------------------------------------------------------
my $pid;
{
	my ($state, $out, $err) = ls_sqlstate($node,
		"SELECT lockservice.start_reaper();\nSELECT lockservice.start_reaper();");
	($pid) = split /\n/, $out;
	like($pid // '', qr/^\d+$/, 'start_reaper() returns a pid');
	is($state, '55000',
		'start_reaper() right after start_reaper() fails with 55000 (one already runs)')
	  or diag "second call: $out $err";
	like($err, qr/already runs/, '... saying a reaper already runs');

	# whatever happened, leave exactly one reaper (stop any extra ones)
	usleep(500_000);
	my @pids = rn_reaper_pids($node, 'postgres');
	is(scalar(@pids), 1, 'exactly one reaper runs') or diag "reapers: @pids";
	while (rn_reaper_pids($node, 'postgres') > 1)
	{
		sql('SELECT lockservice.stop_reaper()');
		usleep(300_000);
	}
	my @now = rn_reaper_pids($node, 'postgres');
	$pid = $now[0] if @now;

	is( sql("SELECT backend_type || '/' || datname FROM pg_stat_activity WHERE pid = $pid"),
		'lockservice reaper/postgres',
		'the pid is a "lockservice reaper" connected to the current database');
	is(sql('SELECT pid FROM lockservice.reaper_status()'), $pid,
		'reaper_status() shows it');

	($state, $out, $err) = ls_sqlstate($node, 'SELECT lockservice.start_reaper()');
	is($state, '55000', 'start_reaper() while it runs fails with 55000');
	like($err, qr/already runs.*\b$pid\b/, '... naming the running reaper\'s pid');
	is(scalar(rn_reaper_pids($node, 'postgres')), 1, '... and starts no second reaper');
}

# ---- it reaps ----------------------------------------------------------------------
sql("SELECT lockservice.lock_acquire('np' || g, 'h', '300 ms') FROM generate_series(1, 5) g");
ok( defined rn_server_wait(
		$node, 'postgres',
		"SELECT NOT EXISTS (SELECT 1 FROM lockservice.leases WHERE name LIKE 'np%')", 30),
	'the reaper reaps expired leases');

# ---- pg_terminate_backend -----------------------------------------------------------
{
	sql("SELECT pg_terminate_backend($pid)");
	my ($p, $secs) = rn_wait_reaper($node, 'postgres', not => $pid, timeout => 30);
	ok(defined $p, 'after pg_terminate_backend the reaper is restarted');
	cmp_ok($secs, '<=', 5, sprintf('... within a few seconds (%.2f s)', $secs));
	$pid = $p if defined $p;
	sql("SELECT lockservice.lock_acquire('np2_' || g, 'h', '300 ms') FROM generate_series(1, 3) g");
	ok( defined rn_server_wait(
			$node, 'postgres',
			"SELECT NOT EXISTS (SELECT 1 FROM lockservice.leases WHERE name LIKE 'np2\\_%')", 30),
		'and it reaps');
}

# ---- stop_reaper -------------------------------------------------------------------------
is(sql('SELECT lockservice.stop_reaper()'), 't', 'stop_reaper() returns true');
ok(defined rn_wait_no_reaper($node, 'postgres', timeout => 10), 'the reaper exits');
usleep(1_500_000);
is(scalar(rn_reaper_pids($node, 'postgres')), 0, 'and is not restarted');
is(sql('SELECT lockservice.stop_reaper()'), 'f', 'stop_reaper() again returns false');
is(sql('SELECT count(*) FROM lockservice.reaper_status()'), '0',
	'reaper_status() lists nothing');

# ---- privileges ------------------------------------------------------------------------------
{
	sql('CREATE ROLE np_user');
	for my $f (qw(start_reaper stop_reaper reset_stats))
	{
		my ($state) = ls_sqlstate($node, "SET ROLE np_user; SELECT lockservice.$f();");
		is($state, '42501', "$f() is not executable by PUBLIC");
	}
}

# ---- stats and events without preloading ----------------------------------------------------
{
	my $s = rn_stats($node);
	is(join(',', map { defined $s->{$_} ? 'x' : 'NULL' }
		  qw(acquires acquires_waited acquire_timeouts renewals renewals_failed releases
		  expirations_reaped takeovers fence_refusals events_dropped waiters stats_reset)),
		join(',', ('NULL') x 12), 'stats: the counters are NULL');
	is($s->{live_leases}, sql('SELECT count(*) FROM lockservice.leases_live'),
		'stats: live_leases is still counted');
	my ($state, $out, $err) = ls_sqlstate($node, 'SELECT lockservice.reset_stats()');
	is($state, '55000', 'reset_stats() fails with 55000');
	like($err, qr/shared_preload_libraries/, '... naming shared_preload_libraries');

	sql('SELECT lockservice.start_reaper()');
	ok(defined((rn_wait_reaper($node, 'postgres', timeout => 10))[0]), 'a reaper runs again');
	my $L = LSReaper::Listener->new($node, 'postgres');
	my $t = sql("SELECT lockservice.lock_acquire('np_ev', 'h', '200 ms')");
	my @ev = $L->collect(timeout => 2);
	is(scalar(@ev), 0, 'no events without preloading');
	$L->quit;
	sql('SELECT lockservice.stop_reaper()');
	rn_wait_no_reaper($node, 'postgres', timeout => 10);
}

# ---- no background worker slot free ---------------------------------------------------------
# max_worker_processes = 2: the logical replication launcher takes one slot,
# the reaper of postgres the other.
{
	$node->append_conf('postgresql.conf', 'max_worker_processes = 2');
	$node->restart;
	sql('CREATE DATABASE np2');
	$node->safe_psql('np2', 'CREATE EXTENSION lockservice');
	my @taken = split /\n/, sql(
		"SELECT backend_type FROM pg_stat_activity WHERE backend_type NOT IN
		   ('client backend', 'autovacuum launcher', 'background writer', 'checkpointer', 'walwriter', 'archiver')"
	);
	note 'background workers: ' . join(', ', @taken);
	my ($st1, $o1, $e1) = ls_sqlstate($node, 'SELECT lockservice.start_reaper()');
	is($st1, '', 'max_worker_processes = 2: a reaper for postgres starts') or diag $e1;
	my ($o2, $e2) = ('', '');
	$node->psql(
		'np2', "\\set VERBOSITY verbose\nSELECT lockservice.start_reaper();",
		stdout => \$o2,
		stderr => \$e2);
	my $st2 = $e2 =~ /ERROR:\s+([0-9A-Z]{5}):/ ? $1 : '';
	is($st2, '53000', 'with every worker slot taken, start_reaper() fails with 53000');
	like($e2, qr/no background worker slot is free/, '... saying no worker slot is free');
	like(ls_hint($e2), qr/max_worker_processes/, '... with a hint naming max_worker_processes');
	is(scalar(rn_reaper_pids($node, 'np2')), 0, 'no reaper runs in np2');
	is(sql('SELECT lockservice.stop_reaper()'), 't', 'stop the reaper of postgres');
	rn_wait_no_reaper($node, 'postgres', timeout => 10);
	my ($o3, $e3) = ('', '');
	$node->psql('np2', 'SELECT lockservice.start_reaper() > 0', stdout => \$o3, stderr => \$e3);
	is($o3, 't', 'with a slot free again, start_reaper() in np2 works') or diag $e3;
}

$node->stop;
done_testing();
