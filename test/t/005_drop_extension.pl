
# A sleeping waiter (wait => NULL, holder has the lease for 1 h) must not
# queue DROP EXTENSION lockservice or VACUUM FULL lockservice.leases behind
# it (DESIGN.md: "While asleep it holds no row lock and nothing that would
# queue DROP EXTENSION, ALTER EXTENSION UPDATE or VACUUM FULL behind it").
# Run with and without shared_preload_libraries.
#
# A waiter whose extension was dropped ends within a second (it looks every
# 0.5 s) with SQLSTATE 55000 and a message that says so, never a token.
# ALTER EXTENSION UPDATE does not wait for a sleeping waiter either, which
# then goes on waiting and is granted; DROP DATABASE ... WITH (FORCE) ends
# it at once.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use LSTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

# Bounds generous enough for a loaded 2-core machine, still decisive: a DDL
# queued behind a waiter would wait for its lock_timeout (30 s; the waiter
# waits without limit), and a waiter that did not notice the DROP would
# sleep on past its 500 ms naps until $OBSERVE.
my $DDL_BOUND = 5.0;      # DROP / VACUUM FULL must not wait for the waiter
my $OBSERVE = 30;         # s to wait for the waiter's end at most
my $DROP_WAITER_BOUND = 5.0;    # the waiter's end after the DROP: within a second, + slack

# run DDL with a lock_timeout guard; returns (sqlstate, seconds, stderr)
sub timed_ddl
{
	my ($node, $ddl) = @_;
	my ($state, $out, $err) = ls_sqlstate(
		$node, qq{SET lock_timeout = '30s';
SELECT extract(epoch FROM clock_timestamp()) AS ls_t0 \\gset
$ddl;
SELECT extract(epoch FROM clock_timestamp()) - :ls_t0;},
		timeout => 120);
	return ($state, $out, $err);
}

sub sleeping_waiter
{
	my ($node, $preload, $name, $tag) = @_;
	my $w = LSTest::Session->new($node);
	$w->send(
		"SELECT coalesce(lockservice.lock_acquire('$name', 'waiter', '30s', NULL)::text, 'NULL')"
	);
	ok( $w->wait_until_waiting(
			like => "%lock_acquire('$name'%",
			event => $preload),
		"$tag: waiter on '$name' is waiting");
	return $w;
}

for my $preload (1, 0)
{
	my $tag = $preload ? 'preloaded' : 'not preloaded';
	my $node = ls_node($preload ? 'drop_pre' : 'drop_plain',
		preload => $preload);

	# ---- DROP EXTENSION with a sleeping waiter ---------------------------
	my $t = ls_sql($node,
		"SELECT lockservice.lock_acquire('d', 'holder', '1 hour')");
	my $w = sleeping_waiter($node, $preload, 'd', $tag);

	my ($state, $el, $err) = timed_ddl($node, 'DROP EXTENSION lockservice');
	is($state, '', "$tag: DROP EXTENSION succeeds with a sleeping waiter")
	  or diag $err;
	ok($state eq '' && $el < $DDL_BOUND,
		"$tag: DROP EXTENSION is not blocked by the sleeping waiter");
	note sprintf('%s: DROP EXTENSION took %.3f s', $tag, $el)
	  if $state eq '';

	my $t0 = time;
	my ($out, $werr, $wstate) = $w->result($OBSERVE);
	is($wstate, '55000', "$tag: the waiter fails with 55000 after DROP EXTENSION")
	  or diag "waiter returned '" . ($out // '') . "': " . ($werr // '');
	like($werr // '', qr/extension lockservice was dropped while this session waited/,
		"$tag: ... saying that the extension was dropped");
	unlike($out // '', qr/^\d+$/, "$tag: ... and no token");
	ok(defined $w->{done_at} && $w->{done_at} - $t0 < $DROP_WAITER_BOUND,
		"$tag: the waiter ends within ${DROP_WAITER_BOUND} s of the DROP");
	note sprintf("%s: waiter ended %.3f s after the DROP", $tag, $w->{done_at} - $t0)
	  if defined $w->{done_at};

	is(ls_sqlstate($node, 'CREATE EXTENSION lockservice'),
		'', "$tag: CREATE EXTENSION again after the DROP");
	my $tn = ls_sql($node,
		"SELECT lockservice.lock_acquire('d2', 'holder', '1 hour')");
	like($tn, qr/^\d+$/, "$tag: recreated extension grants leases");
	$w->quit;

	# ---- VACUUM FULL lockservice.leases with a sleeping waiter ----------
	$t = ls_sql($node,
		"SELECT lockservice.lock_acquire('v', 'holder', '1 hour')");
	$w = sleeping_waiter($node, $preload, 'v', $tag);
	($state, $el, $err) = timed_ddl($node, 'VACUUM FULL lockservice.leases');
	is($state, '', "$tag: VACUUM FULL lockservice.leases succeeds") or diag $err;
	ok($state eq '' && $el < $DDL_BOUND,
		"$tag: VACUUM FULL is not blocked by the sleeping waiter");
	note sprintf('%s: VACUUM FULL took %.3f s', $tag, $el) if $state eq '';
	($state, $el, $err) = timed_ddl($node, 'VACUUM FULL lockservice.fences');
	is($state, '', "$tag: VACUUM FULL lockservice.fences succeeds") or diag $err;
	ok($state eq '' && $el < $DDL_BOUND,
		"$tag: VACUUM FULL of fences is not blocked by the sleeping waiter");

	ok(!$w->done, "$tag: waiter still waits after VACUUM FULL");
	is(ls_sql($node, "SELECT lockservice.lock_release('v', $t)"),
		't', "$tag: holder releases after VACUUM FULL");
	($out, $werr, $wstate) = $w->result(60);
	is($wstate, '', "$tag: waiter survives VACUUM FULL") or diag $werr;
	like($out, qr/^\d+$/, "$tag: waiter is granted after the release");
	cmp_ok($out, '>', $t, "$tag: ... with a higher token") if $out =~ /^\d+$/;
	$w->quit;

	# ---- ALTER EXTENSION UPDATE with a sleeping waiter ------------------
	$node->safe_psql('postgres', 'DROP EXTENSION lockservice');
	$node->safe_psql('postgres', "CREATE EXTENSION lockservice VERSION '1.1'");
	$t = ls_sql($node, "SELECT lockservice.lock_acquire('u', 'holder', '1 hour')");
	$w = sleeping_waiter($node, $preload, 'u', $tag);
	($state, $el, $err) = timed_ddl($node, 'ALTER EXTENSION lockservice UPDATE');
	is($state, '', "$tag: ALTER EXTENSION UPDATE succeeds with a sleeping waiter") or diag $err;
	ok($state eq '' && $el < $DDL_BOUND,
		"$tag: ALTER EXTENSION UPDATE is not blocked by the sleeping waiter");
	is(ls_sql($node, "SELECT extversion FROM pg_extension WHERE extname = 'lockservice'"),
		'1.5', "$tag: the extension is at 1.5");
	ok(!$w->done, "$tag: the waiter still waits after the update");
	is(ls_sql($node, "SELECT lockservice.lock_release('u', $t)"),
		't', "$tag: holder releases after the update");
	($out, $werr, $wstate) = $w->result(60);
	is($wstate, '', "$tag: the waiter survives the update") or diag $werr;
	cmp_ok($out, '>', $t, "$tag: ... and is granted a higher token") if $out =~ /^\d+$/;
	$w->quit;

	# ---- DROP DATABASE ... WITH (FORCE) with a sleeping waiter ----------
	$node->safe_psql('postgres', 'CREATE DATABASE doomed');
	$node->safe_psql('doomed', 'CREATE EXTENSION lockservice');
	$node->safe_psql('doomed', "SELECT lockservice.lock_acquire('f', 'holder', '1 hour')");
	$w = LSTest::Session->new($node, db => 'doomed');
	$w->send("SELECT lockservice.lock_acquire('f', 'waiter', '30s', NULL)");
	ok($w->wait_until_waiting(like => "%lock_acquire('f'%", event => $preload),
		"$tag: a waiter in database doomed is waiting");
	($state, $el, $err) = timed_ddl($node, 'DROP DATABASE doomed WITH (FORCE)');
	is($state, '', "$tag: DROP DATABASE WITH (FORCE) succeeds with a sleeping waiter") or diag $err;
	ok($state eq '' && $el < 10, "$tag: ... promptly");
	ok($node->poll_query_until('postgres',
			'SELECT count(*) = 0 FROM pg_catalog.pg_stat_activity WHERE pid = ' . $w->pid),
		"$tag: the waiter's session is gone");
	my $leftover = eval { $w->{bg}{run}->pump_nb; $w->{bg}{stdout} } // '';
	unlike($leftover, qr/^\d+$/m, "$tag: the waiter of the dropped database got no token");
	eval { $w->quit };

	$node->stop;
}

done_testing();
