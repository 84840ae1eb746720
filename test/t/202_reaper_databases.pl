
# Reapers and databases (issue 3), preloaded: the launcher gives a database
# a reaper when the extension is created there later (autocommit and inside
# a transaction block) and when a database is created from a template that
# has the extension; DROP DATABASE, CREATE DATABASE ... TEMPLATE and ALTER
# DATABASE ... RENAME of a database with a reaper succeed promptly; DROP
# EXTENSION makes the reaper exit cleanly (no error in the log, no restart
# loop, checked over repeated DROP / CREATE cycles with a 10 ms interval) and
# CREATE EXTENSION brings it back.

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

my $PICKUP = 6;    # s: "within a few seconds" (the launcher naps 5 s at most)

my $node = rn_node('reaper_dbs', interval => '200ms');
my $log_start = rn_log_offset($node);

# time a statement run by psql; returns (sqlstate, seconds, stderr)
sub timed
{
	my ($db, $sql) = @_;
	my ($out, $err) = ('', '');
	my $t0 = time;
	$node->psql(
		$db, "\\set VERBOSITY verbose\n$sql",
		stdout => \$out,
		stderr => \$err,
		on_error_stop => 1,
		timeout => 120);
	my $dt = time - $t0;
	my $state = $err =~ /ERROR:\s+([0-9A-Z]{5}):/ ? $1 : '';
	return ($state, $dt, $err);
}

# a few leases that expire at once, and whether the reaper of DB reaps them
sub reaps
{
	my ($db, $tag) = @_;
	$node->safe_psql($db,
		"SELECT lockservice.lock_acquire('$tag' || g, 'h', '200 ms') FROM generate_series(1, 3) g"
	);
	return defined rn_server_wait($node, $db,
		"SELECT NOT EXISTS (SELECT 1 FROM lockservice.leases WHERE name LIKE '$tag%')", 30);
}

ok(defined((rn_wait_reaper($node, 'postgres', timeout => 10))[0]),
	'postgres has a reaper');

# ---- a new database, then CREATE EXTENSION (autocommit) -------------------
$node->safe_psql('postgres', 'CREATE DATABASE db1');
usleep(1_500_000);
is(scalar(rn_reaper_pids($node, 'db1')),
	0, 'a database without the extension keeps no reaper');
$node->safe_psql('db1', 'CREATE EXTENSION lockservice');
my ($pid1, $secs) = rn_wait_reaper($node, 'db1', timeout => 30);
ok(defined $pid1, 'CREATE EXTENSION in db1: db1 gets a reaper');
cmp_ok($secs, '<=', $PICKUP, sprintf('... within a few seconds (%.2f s)', $secs));
ok(reaps('db1', 'a_'), 'the reaper of db1 reaps in db1');

# ---- CREATE EXTENSION inside a transaction block ---------------------------
$node->safe_psql('postgres', 'CREATE DATABASE db2');
$node->safe_psql('db2',
	"BEGIN;\nCREATE EXTENSION lockservice;\nSELECT pg_sleep(1);\nCOMMIT;");
my ($pid2);
($pid2, $secs) = rn_wait_reaper($node, 'db2', timeout => $PICKUP + 4);
ok(defined $pid2 && $secs <= $PICKUP,
	sprintf('CREATE EXTENSION in a transaction block that commits 1 s later: db2 gets a reaper within a few seconds (%s)',
		defined $pid2 ? sprintf('%.2f s', $secs) : 'none after ' . ($PICKUP + 4) . ' s'));

# ---- CREATE DATABASE ... TEMPLATE a database with a reaper -----------------
{
	my ($state, $dt, $err) = timed('postgres', 'CREATE DATABASE db3 TEMPLATE db1');
	is($state, '', 'CREATE DATABASE db3 TEMPLATE db1 (db1 has a reaper) succeeds')
	  or diag $err;
	cmp_ok($dt, '<=', 5, sprintf('... promptly (%.2f s)', $dt));
	my ($p, $s) = rn_wait_reaper($node, 'db1', timeout => 30);
	ok(defined $p && $s <= $PICKUP,
		sprintf('the template db1 has its reaper again (%.2f s)', $s));
	my ($p3, $s3) = rn_wait_reaper($node, 'db3', timeout => $PICKUP + 4);
	ok(defined $p3 && $s3 <= $PICKUP,
		sprintf('db3, created with the extension from its template, gets a reaper within a few seconds (%s)',
			defined $p3 ? sprintf('%.2f s', $s3) : 'none after ' . ($PICKUP + 4) . ' s'));
	ok(reaps('db3', 'c_'), 'leases expire and are reaped in db3') if defined $p3;
}

# ---- ALTER DATABASE ... RENAME of a database with a reaper -----------------
{
	ok(defined((rn_wait_reaper($node, 'db1', timeout => 30))[0]),
		'db1 has a reaper before the rename');
	my ($state, $dt, $err) = timed('postgres', 'ALTER DATABASE db1 RENAME TO db1r');
	is($state, '', 'ALTER DATABASE db1 RENAME TO db1r succeeds') or diag $err;
	cmp_ok($dt, '<=', 5, sprintf('... promptly (%.2f s)', $dt));
	my ($p, $s) = rn_wait_reaper($node, 'db1r', timeout => 30);
	ok(defined $p && $s <= $PICKUP,
		sprintf('the renamed database has a reaper again (%.2f s)', $s));
	ok(reaps('db1r', 'r_'), 'it reaps in the renamed database') if defined $p;
}

# ---- DROP DATABASE of a database with a reaper -----------------------------
{
	ok(defined((rn_wait_reaper($node, 'db1r', timeout => 30))[0]),
		'db1r has a reaper before DROP DATABASE');
	my $oid = rn_dboid($node, 'db1r');
	my ($state, $dt, $err) = timed('postgres', 'DROP DATABASE db1r');
	is($state, '', 'DROP DATABASE of a database with a reaper succeeds')
	  or diag $err;
	cmp_ok($dt, '<=', 5, sprintf('... promptly (%.2f s)', $dt));
	usleep(1_000_000);
	is( $node->safe_psql(
			'postgres', "SELECT count(*) FROM lockservice.reaper_status() WHERE datid = $oid"),
		'0',
		'reaper_status() no longer lists the dropped database');
	is( $node->safe_psql(
			'postgres', "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'lockservice reaper' AND datid = $oid"),
		'0',
		'no reaper is left for the dropped database');
	# a database of the same name again, with the extension: gets a reaper
	$node->safe_psql('postgres', 'CREATE DATABASE db1r');
	$node->safe_psql('db1r', 'CREATE EXTENSION lockservice');
	my ($p, $s) = rn_wait_reaper($node, 'db1r', timeout => 30);
	ok(defined $p && $s <= $PICKUP,
		sprintf('a new database of the dropped one\'s name gets its reaper (%.2f s)', $s));
	($state, $dt, $err) = timed('postgres', 'DROP DATABASE db1r');
	is($state, '', 'and can be dropped again') or diag $err;
}

my @trouble = rn_worker_trouble(rn_log_since($node, $log_start));
is(scalar(@trouble), 0, 'no reaper or launcher errors in the log so far')
  or diag join("\n", @trouble);

# ---- DROP EXTENSION while the reaper runs, repeatedly ----------------------
# A 10 ms interval makes the reaper's rounds overlap the DROP as often as
# possible.
{
	$node->safe_psql('postgres', 'CREATE DATABASE dropx');
	$node->safe_psql('dropx', 'CREATE EXTENSION lockservice');
	ok(defined((rn_wait_reaper($node, 'dropx', timeout => 30))[0]),
		'dropx has a reaper');
	$node->safe_psql('postgres',
		"ALTER SYSTEM SET lockservice.reap_interval = '10ms'; SELECT pg_reload_conf();");
	usleep(1_500_000);    # (the old 200 ms schedule runs out first)

	my $off = rn_log_offset($node);
	my $cycles = 8;
	my ($gone_ok, $back_ok, $drop_ok) = (0, 0, 0);
	my ($worst_drop, $worst_back) = (0, 0);
	for my $i (1 .. $cycles)
	{
		my ($p) = rn_wait_reaper($node, 'dropx', timeout => 30);
		$node->safe_psql('dropx',
			"SELECT lockservice.lock_acquire('d' || g, 'h', '5 ms') FROM generate_series(1, 50) g"
		);
		usleep(20_000);
		my ($state, $dt, $err) = timed('dropx', 'DROP EXTENSION lockservice');
		$drop_ok++ if $state eq '' && $dt <= 5;
		$worst_drop = $dt if $dt > $worst_drop;
		my $g = rn_wait_no_reaper($node, 'dropx', timeout => 10);
		$gone_ok++ if defined $g;
		$node->safe_psql('dropx', 'CREATE EXTENSION lockservice');
		my ($p2, $s2) = rn_wait_reaper($node, 'dropx', timeout => 30);
		$back_ok++ if defined $p2 && $s2 <= $PICKUP;
		$worst_back = $s2 if $s2 > $worst_back;
	}
	note sprintf('DROP EXTENSION: worst %.2f s; reaper back after CREATE EXTENSION: worst %.2f s',
		$worst_drop, $worst_back);
	is($drop_ok, $cycles, "DROP EXTENSION succeeds promptly while the reaper runs ($cycles cycles)");
	is($gone_ok, $cycles, 'the reaper exits after every DROP EXTENSION');
	is($back_ok, $cycles, 'CREATE EXTENSION again brings the reaper back within a few seconds, every time');
	my @t = rn_worker_trouble(rn_log_since($node, $off));
	is(scalar(@t), 0,
		"no reaper error in the log over $cycles DROP / CREATE EXTENSION cycles")
	  or diag join("\n", @t[ 0 .. ($#t < 9 ? $#t : 9) ]);

	# after a final DROP: no reaper, no restart loop, a quiet log
	$node->safe_psql('dropx', 'DROP EXTENSION lockservice');
	ok(defined rn_wait_no_reaper($node, 'dropx', timeout => 10),
		'after the last DROP EXTENSION the reaper is gone');
	$off = rn_log_offset($node);
	my $seen = 0;
	for (1 .. 6)
	{
		usleep(500_000);
		$seen++ if rn_reaper_pids($node, 'dropx');
	}
	is($seen, 0, 'no reaper comes back in dropx over 3 s (no restart loop)');
	my @lines = rn_worker_lines(rn_log_since($node, $off));
	is(scalar(@lines), 0, 'and the workers log nothing meanwhile')
	  or diag join("\n", @lines[ 0 .. ($#lines < 9 ? $#lines : 9) ]);
	$node->safe_psql('postgres',
		'ALTER SYSTEM RESET lockservice.reap_interval; SELECT pg_reload_conf();');
}

# the other databases are still reaped (a reaper starts there when due)
ok(reaps('postgres', 'still_'), 'postgres is still reaped');

$node->stop;
done_testing();
