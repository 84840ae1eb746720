
# The reaper scans lockservice.leases only when a row can have ended (1.1):
# - with only long leases in the table, rounds pass without a table scan
#   (seq_scan of lockservice.leases, which the reaper reports itself, stays
#   put over 30 rounds; it grew by one per round before);
# - a lease granted since the last scan is still reaped promptly when it
#   expires (its commit tells the reaper when), and so is one renewed to a
#   shorter ttl;
# - a change made by hand (a superuser's UPDATE: the trigger
#   lockservice.leases_changed) makes the next round scan;
# - set_lock_delay() makes the next round scan (a shorter delay can end
#   rows sooner than the last scan thought);
# - a round's batches (1,000 rows each) go on where the last one stopped:
#   the round reads the table once;
# - ALTER EXTENSION lockservice UPDATE from 1.0 gives the same objects as
#   CREATE EXTENSION of 1.1, and a 1.0 schema (no trigger) is still reaped.

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

my $INTERVAL = 0.1;    # s, lockservice.reap_interval of this node
my $SLACK = 2.0;       # s, scheduling slack on a loaded 2-core machine

my $node = rn_node('reaper_hint', interval => '100ms');
ok(defined((rn_wait_reaper($node, 'postgres', timeout => 10))[0]),
	'a reaper runs in database postgres');

# the table scans the reaper made so far (it reports its own table stats)
sub seq_scans
{
	my ($db) = @_;
	my $out = $node->safe_psql($db // 'postgres',
		"SELECT pg_catalog.pg_stat_clear_snapshot(); "
		  . "SELECT seq_scan FROM pg_catalog.pg_stat_user_tables WHERE relid = 'lockservice.leases'::pg_catalog.regclass"
	);
	return (split /\n/, $out)[-1];
}

# rows of lockservice.leases that sequential scans returned (the reaper's)
sub tuples_read
{
	my ($db) = @_;
	my $out = $node->safe_psql($db,
		"SELECT pg_catalog.pg_stat_clear_snapshot(); "
		  . "SELECT seq_tup_read FROM pg_catalog.pg_stat_user_tables WHERE relid = 'lockservice.leases'::pg_catalog.regclass"
	);
	return (split /\n/, $out)[-1];
}

# epoch seconds on the server when NAME has no row any more (undef on timeout)
sub gone_at
{
	my ($name, $timeout, $db) = @_;
	return rn_server_wait($node, $db // 'postgres',
		"SELECT NOT EXISTS (SELECT FROM lockservice.leases WHERE name = '$name')",
		$timeout);
}

sub epoch
{
	my ($db) = @_;
	return $node->safe_psql($db // 'postgres',
		'SELECT extract(epoch FROM clock_timestamp())');
}

# ---- long leases only: no scans ------------------------------------------
is( $node->safe_psql(
		'postgres',
		"SELECT count(lockservice.lock_acquire('long' || g, 'h', '1 hour')) FROM generate_series(1, 2000) g"
	),
	'2000',
	'2,000 leases of 1 hour');
usleep(1_000_000);    # a few rounds: the first scan after the grants
my $s0 = seq_scans();
usleep(3_000_000);    # 30 rounds of 100 ms
my $s1 = seq_scans();
note("reaper table scans over 3 s with only 1-hour leases: " . ($s1 - $s0));
cmp_ok($s1 - $s0, '<=', 1,
	'30 reaper rounds with nothing that can end: no table scan');

# ---- a new short lease is reaped promptly ----------------------------------
{
	my $t0 = epoch();
	$node->safe_psql('postgres',
		"SELECT lockservice.lock_acquire('short', 'h', '1 s')");
	my $gone = gone_at('short', 30);
	ok(defined $gone, 'a 1 s lease granted after the last scan is reaped');
	my $dt = ($gone // 1e9) - $t0;
	note(sprintf('1 s lease gone %.2f s after the acquire', $dt));
	cmp_ok($dt, '<=', 1 + 2 * $INTERVAL + $SLACK,
		'... within its ttl + 2 x reap_interval (+ slack)');
	cmp_ok($dt, '>=', 0.9, '... and not before it expired');
	ok($node->poll_query_until('postgres',
			"SELECT seq_scan > $s1 FROM pg_catalog.pg_stat_user_tables WHERE relid = 'lockservice.leases'::pg_catalog.regclass"),
		'... by a table scan the reaper counted (seq_scan moved again)');
}

# ---- a renewal to a shorter ttl is reaped at its new expiry ---------------
{
	my $t = $node->safe_psql('postgres',
		"SELECT lockservice.lock_acquire('renewed', 'h', '1 hour')");
	usleep(500_000);    # rounds pass: the next scan is an hour away
	my $t0 = epoch();
	$node->safe_psql('postgres',
		"SELECT lockservice.lock_renew('renewed', $t, '1 s')");
	my $gone = gone_at('renewed', 30);
	ok(defined $gone, 'a lease renewed from 1 hour to 1 s is reaped');
	cmp_ok(($gone // 1e9) - $t0, '<=', 1 + 2 * $INTERVAL + $SLACK,
		sprintf('... within its new ttl + 2 x reap_interval (+ slack): %.2f s', ($gone // 1e9) - $t0));
}

# ---- a change by hand: the trigger makes the reaper look -------------------
{
	my $t0 = epoch();
	$node->safe_psql('postgres',
		"UPDATE lockservice.leases SET expires_at = clock_timestamp() - interval '1 ms' WHERE name = 'long1'"
	);
	my $gone = gone_at('long1', 30);
	ok(defined $gone, 'a lease made to expire by a superuser UPDATE is reaped');
	cmp_ok(($gone // 1e9) - $t0, '<=', 2 * $INTERVAL + $SLACK,
		sprintf('... within 2 x reap_interval (+ slack): %.2f s', ($gone // 1e9) - $t0));
	is( $node->safe_psql(
			'postgres',
			"SELECT tgname FROM pg_catalog.pg_trigger WHERE tgrelid = 'lockservice.leases'::pg_catalog.regclass"
		),
		'leases_changed',
		'the trigger is lockservice.leases_changed');
	my ($state, $out, $err) =
	  ls_sqlstate($node, 'SELECT lockservice.leases_changed()');
	is($state, '39P01', 'leases_changed() cannot be called directly (39P01)')
	  or diag($err);
}

# ---- set_lock_delay(): the next round scans --------------------------------
{
	# a lease that expired 2 s ago, held back by a 1-hour lock-delay
	$node->safe_psql(
		'postgres', q{
		SELECT lockservice.set_lock_delay('delayed', '1 hour');
		SELECT lockservice.lock_acquire('delayed', 'h', '100 ms');});
	usleep(2_000_000);
	ok(!defined gone_at('delayed', 1), 'a lease in its lock-delay is kept');
	my $t0 = epoch();
	$node->safe_psql('postgres',
		"SELECT lockservice.set_lock_delay('delayed', NULL)");
	my $gone = gone_at('delayed', 30);
	ok(defined $gone, 'after set_lock_delay(NULL) the expired lease is reaped');
	cmp_ok(($gone // 1e9) - $t0, '<=', 2 * $INTERVAL + $SLACK,
		sprintf('... within 2 x reap_interval (+ slack): %.2f s', ($gone // 1e9) - $t0));
}

# ---- the batches of a round read the table once ----------------------------
{
	$node->safe_psql('postgres', 'CREATE DATABASE batches');
	$node->safe_psql('batches', 'CREATE EXTENSION lockservice');
	ok(defined((rn_wait_reaper($node, 'batches', timeout => 30))[0]),
		'a reaper runs in database batches');
	usleep(500_000);    # its first round, over the empty table, is done
	my $read0 = tuples_read('batches');
	my $reaped0 = rn_reaper_row($node, 'batches')->{reaped};

	# 3,000 live leases first in the table, then 3,500 that expired an hour
	# ago: a batch deletes at most 1,000 rows, so the round takes 4 batches.
	# Each batch starting over from the first block read 15,500 rows.
	$node->safe_psql(
		'batches', q{
		INSERT INTO lockservice.leases
		SELECT 'b' || g, 0, 'x', 'h', current_user::text::lockservice.lease_owner, 2 * g,
		       '1 hour', now() - interval '2 hours',
		       CASE WHEN g <= 3000 THEN now() + interval '1 hour' ELSE now() - interval '1 hour' END,
		       NULL, NULL
		  FROM pg_catalog.generate_series(1, 6500) g ORDER BY g});
	my $done = rn_server_wait($node, 'batches',
		"SELECT reaped >= $reaped0 + 3500 FROM lockservice.reaper_status() "
		  . "WHERE datid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = 'batches')",
		60);
	ok(defined $done, '3,500 expired leases are reaped');
	my $read = tuples_read('batches') - $read0;
	note("rows the reaper read to reap 3,500 of 6,500 in batches of 1,000: $read");
	cmp_ok($read, '<=', 8000,
		'the round read each row about once (6,500 rows; 15,500 when every batch started over)');
	is($node->safe_psql('batches', 'SELECT count(*) FROM lockservice.leases'),
		'3000', 'the 3,000 live leases are kept');
}

# ---- 1.0 -> 1.5 ------------------------------------------------------------
{
	$node->safe_psql('postgres', 'CREATE DATABASE old');
	$node->safe_psql('old', "CREATE EXTENSION lockservice VERSION '1.0'");
	is($node->safe_psql('old',
			"SELECT count(*) FROM pg_catalog.pg_trigger WHERE tgrelid = 'lockservice.leases'::pg_catalog.regclass"),
		'0', 'a 1.0 schema has no trigger');
	ok(defined((rn_wait_reaper($node, 'old', timeout => 10))[0]),
		'a reaper runs in database old');
	my $t0 = epoch('old');
	$node->safe_psql('old',
		"SELECT lockservice.lock_acquire('short10', 'h', '1 s')");
	my $gone = gone_at('short10', 30, 'old');
	ok(defined $gone, '1.0 schema: a 1 s lease is reaped');
	cmp_ok(($gone // 1e9) - $t0, '<=', 1 + 2 * $INTERVAL + $SLACK,
		'... within its ttl + 2 x reap_interval (+ slack)');

	$node->safe_psql('old', 'ALTER EXTENSION lockservice UPDATE');
	is($node->safe_psql('old',
			"SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'lockservice'"),
		'1.5', 'ALTER EXTENSION lockservice UPDATE goes to 1.5');

	# the objects of the extension, with their definitions and privileges
	my $objects = q{
		SELECT pg_catalog.pg_describe_object(classid, objid, 0)
		       || coalesce(' ' || pg_catalog.pg_get_functiondef(p.oid), '')
		       || coalesce(' ' || p.proacl::text, '')
		       || coalesce(' ' || c.relacl::text, '')
		  FROM pg_catalog.pg_depend d
		  LEFT JOIN pg_catalog.pg_proc p ON d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND p.oid = d.objid
		  LEFT JOIN pg_catalog.pg_class c ON d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND c.oid = d.objid
		 WHERE d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
		   AND d.refobjid = (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'lockservice')
		   AND d.deptype = 'e'
		 ORDER BY 1;
		SELECT pg_catalog.pg_get_triggerdef(oid) FROM pg_catalog.pg_trigger
		 WHERE tgrelid = 'lockservice.leases'::pg_catalog.regclass;};
	my $upgraded = $node->safe_psql('old', $objects);
	my $fresh = $node->safe_psql('postgres', $objects);
	is($upgraded, $fresh,
		'1.0 updated to 1.5 has the same objects, definitions and privileges as a fresh 1.5');
	like($fresh, qr/leases_changed/, '... the trigger and its function among them');
}

$node->stop;
done_testing();
