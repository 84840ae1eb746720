
# A sleeping waiter (wait => NULL, holder has the lease for 1 h) must not
# queue DROP EXTENSION lockservice or VACUUM FULL lockservice.leases behind
# it (DESIGN.md: "While asleep it holds no row lock and nothing that would
# queue DROP EXTENSION, ALTER EXTENSION UPDATE or VACUUM FULL behind it").
# Run with and without shared_preload_libraries.
#
# What the waiter does after its extension was dropped is reported: it must
# end with an error, not a token; a preloaded waiter may stay asleep until
# woken (then it is cancelled, 57014).  A not preloaded waiter re-checks every
# <= 20 ms, so it must fail soon after the DROP.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use LSTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $DDL_BOUND = 1.0;      # DROP / VACUUM FULL must not wait for the waiter
my $OBSERVE = 5;          # s to watch the waiter after the DROP

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
	if (defined $wstate)
	{
		isnt($wstate, '', "$tag: waiter fails after DROP EXTENSION")
		  or diag "waiter returned '$out'";
		note sprintf("%s: waiter ended %.3f s after the DROP with %s: %s",
			$tag, $w->{done_at} - $t0, $wstate, $werr =~ /ERROR:\s+(.*)/ ? $1 : $werr);
	}
	else
	{
		# allowed only for a waiter sleeping in the shared-memory queue
		ok($preload,
			$preload
			? "$tag: waiter sleeps on after the DROP (woken by cancel below)"
			: "$tag: sleep-and-retry waiter ended within ${OBSERVE} s of the DROP");
		note "$tag: waiter still asleep ${OBSERVE} s after DROP EXTENSION "
		  . '(sleeps until woken: lease expiry in 1 h, or cancel)';
	}

	is(ls_sqlstate($node, 'CREATE EXTENSION lockservice'),
		'', "$tag: CREATE EXTENSION again after the DROP");
	my $tn = ls_sql($node,
		"SELECT lockservice.lock_acquire('d2', 'holder', '1 hour')");
	like($tn, qr/^\d+$/, "$tag: recreated extension grants leases");

	if (!defined $wstate)
	{
		is(ls_sql($node, 'SELECT pg_cancel_backend(' . $w->pid . ')'),
			't', "$tag: cancel the waiter left from the dropped extension");
		($out, $werr, $wstate) = $w->result(60);
		is($wstate, '57014', "$tag: ... it fails with 57014") or diag $werr;
	}
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

	$node->stop;
}

done_testing();
