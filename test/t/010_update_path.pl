
# Copyright: lockservice project
#
# The update path from every released version: a database at 1.0, 1.1 or
# 1.2 with history on, live leases, a fenced resource and (after the server
# restarted with this library) a sleeping waiter runs ALTER EXTENSION
# lockservice UPDATE.
# The old schema keeps working with the new library before the update; the
# update does not wait for the waiter; afterwards every lease is there and
# renewable, the waiter is granted when the holder releases, tokens keep
# increasing, the fence keeps its order, and the objects are exactly those
# of a fresh installation.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use LSTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $latest = '1.5';
my @released = ('1.0', '1.1', '1.2', '1.3', '1.4');

my $node = ls_node('update_path', preload => 1);

# the objects of the extension in a database, with definitions and privileges
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
	 WHERE tgrelid = 'lockservice.leases'::pg_catalog.regclass;
	SELECT pg_catalog.array_to_string(ARRAY(SELECT c::pg_catalog.regclass::text
	         FROM pg_catalog.pg_extension e, unnest(e.extconfig) c
	        WHERE e.extname = 'lockservice' ORDER BY 1), ',');};
my $fresh = $node->safe_psql('postgres', $objects);

my %st;
for my $v (@released)
{
	my $db = 'from_' . ($v =~ tr/./_/r);
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql('postgres', "ALTER DATABASE $db SET lockservice.history = on");
	$node->safe_psql($db, "CREATE EXTENSION lockservice VERSION '$v'");
	my $q = sub { $node->safe_psql($db, shift) };
	my %s;
	$s{live} = $q->("SELECT lockservice.lock_acquire('live', 'keeper', '1 hour')");
	$s{fenced} = $q->("SELECT lockservice.lock_acquire('fenced', 'writer', '1 hour')");
	$q->("SELECT lockservice.fence('resource', $s{fenced})");
	$q->("SELECT lockservice.lock_release('fenced', $s{fenced})");
	$s{shared} = $q->("SELECT lockservice.lock_acquire_shared('config', 'reader', '1 hour')");
	$st{$v} = \%s;
}

# this library, loaded at the restart, with the old schemas
$node->restart;
for my $v (@released)
{
	my $db = 'from_' . ($v =~ tr/./_/r);
	my $q = sub { $node->safe_psql($db, shift) };
	my $t = $q->("SELECT lockservice.lock_acquire('before-update', 'w', '1 hour')");
	cmp_ok($t, '>', $st{$v}{fenced}, "$v schema, new library: a grant above the old tokens");
	is($q->("SELECT lockservice.lock_release('before-update', $t)"), 't',
		"$v schema, new library: release");
	$st{$v}{before} = $t;
}

for my $v (@released)
{
	my $db = 'from_' . ($v =~ tr/./_/r);
	my $q = sub { $node->safe_psql($db, shift) };
	my %s = %{ $st{$v} };

	my $w = LSTest::Session->new($node, db => $db);
	$w->send("SELECT lockservice.lock_acquire('live', 'waiter', '1 hour', NULL)");
	ok($w->wait_until_waiting(like => "%lock_acquire('live'%", event => 1),
		"$v: a waiter sleeps on the live lease");

	my ($state, $out, $err) = ls_sqlstate($node,
		"\\c $db\nSET lock_timeout = '5s';\nALTER EXTENSION lockservice UPDATE");
	is($state, '', "$v: ALTER EXTENSION UPDATE does not wait for the waiter") or diag $err;
	is($q->("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'lockservice'"),
		$latest, "$v: updated to $latest");
	is($node->safe_psql($db, $objects), $fresh,
		"$v: the objects, definitions, privileges and dumped tables are those of a fresh $latest");

	is($q->("SELECT count(*) FROM lockservice.leases_live WHERE (name, token) IN (('live', $s{live}), ('config', $s{shared}))"),
		'2', "$v: the live leases are there with their tokens");
	is($q->("SELECT count(*) FROM lockservice.leases
			  WHERE name IN ('live', 'config') AND owner::text = current_user::text"),
		'2', "$v: their owner reads as the role's name");
	is($q->("SELECT count(*) FROM lockservice.history
			  WHERE name = 'live' AND event = 'acquired'
			    AND owner::text = current_user::text AND actor::text = current_user::text"),
		'1', "$v: the history row's owner and actor read as the role's name");
	is($q->("SELECT lockservice.lock_renew('live', $s{live})"), 't', "$v: the holder renews");
	ok(!$w->done, "$v: the waiter still waits");
	is($q->("SELECT lockservice.lock_release('live', $s{live})"), 't', "$v: the holder releases");
	my ($granted, $werr, $wstate) = $w->result(60);
	is($wstate, '', "$v: the waiter is granted") or diag $werr;
	cmp_ok($granted // 0, '>', $s{before}, "$v: ... with a token above every earlier one");
	$w->quit;

	my $t = $q->("SELECT lockservice.lock_acquire('after-update', 'w', '1 hour')");
	cmp_ok($t, '>', $granted // 0, "$v: tokens keep increasing after the update");
	is($q->("SELECT lockservice.fence('resource', $t)"), '', "$v: fence accepts the new token");
	($state) = ls_sqlstate($node, "\\c $db\nSELECT lockservice.fence('resource', $s{fenced})");
	is($state, 'LS001', "$v: fence refuses the old token");
	cmp_ok($q->('SELECT lockservice.last_issued_token()'), '>=', $t,
		"$v: last_issued_token() covers the new token");
}

$node->stop;
done_testing();
