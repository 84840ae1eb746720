
# Leases, tokens and fences survive a clean restart (preloaded and not).

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use LSTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

for my $preload (1, 0)
{
	my $tag = $preload ? 'preloaded' : 'not preloaded';
	my $node = ls_node($preload ? 'restart_pre' : 'restart_plain',
		preload => $preload);

	is(ls_sql($node, 'SELECT lockservice.last_issued_token() IS NULL'),
		't', "$tag: last_issued_token() is NULL before the first grant");

	my $t1 = ls_sql($node,
		"SELECT lockservice.lock_acquire('r_a', 'h1', '1 hour')");
	like($t1, qr/^\d+$/, "$tag: acquire returns a token");
	my $t_rel = ls_sql($node,
		"SELECT lockservice.lock_acquire('r_released', 'h1', '1 hour')");
	is(ls_sql($node, "SELECT lockservice.lock_release('r_released', $t_rel)"),
		't', "$tag: release before restart");
	ls_sql($node, "SELECT lockservice.fence('res1', $t1)");
	ls_sql($node, "SELECT lockservice.fence('res2', $t_rel)");
	my $last_before =
	  ls_sql($node, 'SELECT lockservice.last_issued_token()');
	cmp_ok($last_before, '>=', max_of($t1, $t_rel),
		"$tag: last_issued_token() covers the issued tokens");

	$node->restart;

	is(ls_sql($node, "SELECT lockservice.lock_renew('r_a', $t1)"),
		't', "$tag: renew with the same token works after restart");
	is(ls_sql($node, "SELECT lockservice.lock_check('r_a', $t1)"),
		't', "$tag: lock_check is true after restart");
	is( ls_sql(
			$node,
			"SELECT count(*) FROM lockservice.leases_live WHERE name = 'r_a' AND token = $t1 AND holder = 'h1'"
		),
		'1',
		"$tag: lease is live in leases_live after restart");
	is(ls_sql($node, "SELECT lockservice.lock_acquire('r_a', 'h1', '1 hour')"),
		$t1, "$tag: same holder re-acquiring gets the same token after restart");
	is(ls_sql($node, "SELECT lockservice.lock_acquire('r_a', 'h2', '1 hour') IS NULL"),
		't', "$tag: another holder does not get the lease after restart");
	is( ls_sql(
			$node,
			"SELECT count(*) FROM lockservice.leases_live WHERE name = 'r_released'"
		),
		'0',
		"$tag: released lease stays released after restart");
	is(ls_sql($node, "SELECT lockservice.lock_renew('r_released', $t_rel)"),
		'f', "$tag: renewing the released lease is false after restart");

	my $last_after = ls_sql($node, 'SELECT lockservice.last_issued_token()');
	cmp_ok($last_after, '>=', $last_before,
		"$tag: last_issued_token() did not go back across restart");

	my $t2 = ls_sql($node,
		"SELECT lockservice.lock_acquire('r_b', 'h1', '1 hour')");
	cmp_ok($t2, '>', $t1, "$tag: new token after restart > old token");
	cmp_ok($t2, '>', $last_before,
		"$tag: new token after restart > last_issued_token() before restart");
	my $t3 = ls_sql($node,
		"SELECT lockservice.lock_acquire('r_released', 'h3', '1 hour')");
	cmp_ok($t3, '>', $t2,
		"$tag: re-acquiring a released name gives a higher token");

	# fences survive
	is(ls_sql($node, "SELECT token FROM lockservice.fences WHERE resource = 'res1'"),
		$t1, "$tag: fence row survives restart");
	my $lower = $t1 - 2;	# exclusive tokens are even
	is(ls_sqlstate($node, "SELECT lockservice.fence('res1', $lower)"),
		'LS001', "$tag: fence refuses a lower token after restart");
	is(ls_sqlstate($node, "SELECT lockservice.fence('res1', $t1)"),
		'', "$tag: fence accepts the equal token after restart");
	is(ls_sqlstate($node, "SELECT lockservice.fence('res2', $t_rel - 2)"),
		'LS001', "$tag: second fence refuses a lower token after restart");
	is(ls_sqlstate($node, "SELECT lockservice.fence('res1', $t2)"),
		'', "$tag: fence accepts a new token after restart");
	is(ls_sqlstate($node, "SELECT lockservice.fence('res1', $t1)"),
		'LS001', "$tag: ... and then refuses the old one");
	is( ls_sqlstate(
			$node,
			'SELECT lockservice.fence(\'res9\', lockservice.last_issued_token() + 1)'
		),
		'LS002',
		"$tag: fence refuses a never-issued token after restart");

	# a second restart with the lease released: still consistent
	is(ls_sql($node, "SELECT lockservice.lock_release('r_a', $t1)"),
		't', "$tag: release after restart");
	$node->restart;
	is(ls_sql($node, "SELECT lockservice.lock_renew('r_a', $t1)"),
		'f', "$tag: lease released before the 2nd restart is not renewable");
	my $t4 = ls_sql($node,
		"SELECT lockservice.lock_acquire('r_a', 'h2', '1 hour')");
	cmp_ok($t4, '>', $t3, "$tag: token after 2nd restart is higher still");
	$node->stop;
}

done_testing();
