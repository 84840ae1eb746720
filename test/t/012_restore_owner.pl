
# Copyright: lockservice project
#
# A lease stays its role's through pg_dump and restore into a cluster where
# role OIDs differ (issue 20).  In the new cluster an unrelated role is
# created on purpose at the OID the owner had in the old one (pg_resetwal
# -o sets the next OID): it cannot renew, release or check the lease, and
# the rightful role (by name) can.  A lease and a history row whose role
# does not exist in the new cluster come back with no owner ("-"), with a
# WARNING: no role can use such a lease, it ends at its expiry, and
# force_release ends it at once.  A dump whose owner column holds bare OIDs
# (version 1.2) never hands a lease to the role that has that OID.

use strict;
use warnings;

use File::Spec;
use FindBin;
use lib $FindBin::RealBin;
use LSTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $old = ls_node('owner_old', preload => 1, create => 0);
$old->safe_psql('postgres', 'CREATE ROLE filler; CREATE ROLE app LOGIN; CREATE ROLE gone LOGIN');
$old->safe_psql('postgres', 'CREATE ROLE "Odd Name" LOGIN');
$old->safe_psql('postgres', 'CREATE DATABASE d');
$old->safe_psql('d', 'CREATE EXTENSION lockservice');
$old->safe_psql('d', "ALTER DATABASE d SET lockservice.history = on");

my $as = sub {
	my ($node, $role, $sql) = @_;
	return $node->safe_psql('d', $sql, extra_params => [ '-U', $role ]);
};
my $t_app = $as->($old, 'app', "SELECT lockservice.lock_acquire('job', 'app-1', '1 hour')");
my $t_gone = $as->($old, 'gone', "SELECT lockservice.lock_acquire('orphan', 'gone-1', '1 hour')");
my $t_odd = $as->($old, 'Odd Name', "SELECT lockservice.lock_acquire('odd', 'odd-1', '1 hour')");
my $app_oid = $old->safe_psql('postgres', "SELECT 'app'::pg_catalog.regrole::pg_catalog.oid");
# a session of app (1.5) with a lock in it
my $s_app = $as->($old, 'app', "SELECT lockservice.session_open('app-s', '1 hour')");
my $t_sess = $as->($old, 'app', "SELECT lockservice.lock_acquire('sjob', $s_app)");
is($old->safe_psql('d', "SELECT owner FROM lockservice.leases WHERE name = 'job'"),
	'app', 'the owner column reads as the role name');
is($old->safe_psql('d', "SELECT owner FROM lockservice.leases WHERE name = 'odd'"),
	'"Odd Name"', '... quoted where the name needs it');

my $dump = PostgreSQL::Test::Utils::tempdir() . '/owner.dump';
$old->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $old->connstr('d') ],
	'pg_dump of a database where roles hold leases');
$old->stop;

# The new cluster: the next OID is app's old one, taken by an unrelated role
my $new = PostgreSQL::Test::Cluster->new('owner_new');
$new->init;
$new->append_conf('postgresql.conf', "shared_preload_libraries = 'lockservice'");
command_ok([ 'pg_resetwal', '-o', $app_oid, $new->data_dir ], 'pg_resetwal -o sets the next OID');
$new->start;
$new->safe_psql('postgres', 'CREATE ROLE intruder LOGIN');
is($new->safe_psql('postgres', "SELECT 'intruder'::pg_catalog.regrole::pg_catalog.oid"),
	$app_oid, "the role 'intruder' has the OID 'app' had in the old cluster");
$new->safe_psql('postgres', 'CREATE ROLE app LOGIN; CREATE ROLE "Odd Name" LOGIN; CREATE DATABASE d');
isnt($new->safe_psql('postgres', "SELECT 'app'::pg_catalog.regrole::pg_catalog.oid"),
	$app_oid, "... and 'app' has another OID");

my ($rc, $out, $err) = ('', '', '');
$rc = $new->run_log([ 'pg_restore', '-d', $new->connstr('d'), $dump ]);
ok($rc, 'pg_restore into the new cluster');
my $log = slurp_file($new->logfile);
like($log, qr/WARNING:  lease owner role "gone" does not exist: its leases and history rows are kept with no owner/,
	'the restore says that a lease owner role is missing');

my $q = sub { $new->safe_psql('d', shift) };
is($q->("SELECT owner FROM lockservice.leases WHERE name = 'job'"), 'app',
	"the restored lease belongs to 'app' (by name)");
is($q->("SELECT owner::pg_catalog.oid <> $app_oid FROM lockservice.leases WHERE name = 'job'"), 't',
	'... under its OID in the new cluster');

# the unrelated role at the old OID can do nothing with it
is($as->($new, 'intruder', "SELECT lockservice.lock_check('job', $t_app)"), 'f',
	'the role at the old OID cannot check the lease');
is($as->($new, 'intruder', "SELECT lockservice.lock_renew('job', $t_app)"), 'f',
	'... nor renew it');
is($as->($new, 'intruder', "SELECT lockservice.lock_release('job', $t_app)"), 'f',
	'... nor release it');
is($as->($new, 'intruder', "SELECT lockservice.lock_acquire('job', 'app-1', '1 hour')"), '',
	'... nor take it over with the same holder name');

# the rightful role can
is($as->($new, 'app', "SELECT lockservice.lock_check('job', $t_app)"), 't',
	"'app' checks its restored lease");
is($as->($new, 'app', "SELECT lockservice.lock_renew('job', $t_app)"), 't',
	"'app' renews it");
is($as->($new, 'app', "SELECT lockservice.lock_acquire('job', 'app-1', '1 hour')"), $t_app,
	"'app' retrying its acquire gets the same token");
is($as->($new, 'Odd Name', "SELECT lockservice.lock_renew('odd', $t_odd)"), 't',
	'a role whose name needs quoting renews its restored lease');
# the session is app's too: the intruder (app's old OID) cannot renew,
# close or use it; app can
is($as->($new, 'intruder', "SELECT lockservice.session_renew($s_app)"), 'f',
	'the role with the old OID cannot renew the restored session');
is($as->($new, 'intruder', "SELECT lockservice.session_close($s_app)"), 'f',
	'... nor close it');
is($as->($new, 'intruder', "SELECT lockservice.lock_check('sjob', $t_sess)"), 'f',
	'... nor check its lock');
is($q->("SELECT owner FROM lockservice.sessions WHERE id = $s_app"), 'app',
	'the restored session\'s owner is app, by name');
is($as->($new, 'app', "SELECT lockservice.session_renew($s_app)"), 't',
	'app renews its restored session');
is($as->($new, 'app', "SELECT lockservice.lock_acquire('sjob', $s_app)"), $t_sess,
	'... and re-acquiring its lock in it returns the same token');
isnt($as->($new, 'app', "SELECT lockservice.session_open('app-s2')"), $s_app,
	'a session opened after the restore gets a new id');
is($as->($new, 'app', "SELECT lockservice.session_close($s_app)"), 't',
	'... and app closes the restored session');
is($as->($new, 'app', "SELECT lockservice.lock_release('job', $t_app)"), 't',
	"'app' releases it");

# a lease whose role the new cluster does not have: nobody's, until it ends
is($q->("SELECT owner || ' ' || (owner::pg_catalog.oid = 0) FROM lockservice.leases WHERE name = 'orphan'"),
	'- true', 'a lease of a role missing in the new cluster has no owner');
is($q->("SELECT owner::text FROM lockservice.leases_live WHERE name = 'orphan'"), '-',
	'... and leases_live shows it held, by no owner');
for my $role ('intruder', 'app', 'postgres')
{
	is($as->($new, $role,
			"SELECT lockservice.lock_renew('orphan', $t_gone)::text || lockservice.lock_check('orphan', $t_gone)::text || lockservice.lock_release('orphan', $t_gone)::text"),
		'falsefalsefalse', "$role can neither renew, check nor release a lease with no owner");
}
is($q->("SELECT lockservice.lock_acquire('orphan', 'other', '1 hour')"), '',
	'it keeps its name from others until it ends');
is($q->("SELECT lockservice.force_release('orphan')"), '1', 'force_release ends it');
my $t_next = $q->("SELECT lockservice.lock_acquire('orphan', 'other', '1 hour')");
cmp_ok($t_next, '>', $t_gone, '... and the next holder gets a higher token');

# history rows: their owners and actors by name, or none
is($q->("SELECT string_agg(DISTINCT owner::text, ',' ORDER BY owner::text) FROM lockservice.history
		 WHERE token IN ($t_app, $t_gone, $t_odd) AND event = 'acquired'"),
	'"Odd Name",-,app', 'history rows keep their owners by name (none for the missing role)');
is($q->("SELECT count(*) FROM lockservice.history WHERE owner::pg_catalog.oid = $app_oid
		    OR actor::pg_catalog.oid = $app_oid"),
	'0', 'no history row is the role at the old OID');

# text and binary input: a name, "-", a missing name; never a bare OID
is($q->("SELECT '$app_oid'::lockservice.lease_owner::pg_catalog.oid"), '0',
	'a bare number (a dump of 1.2 stored OIDs) reads as no owner, not as the role with that OID');
is($q->("SELECT 'app'::lockservice.lease_owner::pg_catalog.regrole::text"), 'app',
	'a role name reads as that role');
is($q->("SELECT '\"Odd Name\"'::lockservice.lease_owner::text"), '"Odd Name"',
	'a quoted role name reads as that role');
is($q->("SELECT '-'::lockservice.lease_owner::pg_catalog.oid"), '0', '"-" reads as no owner');
my ($state) = ls_sqlstate($new, "\\c d\nSELECT 'a.b'::lockservice.lease_owner");
is($state, '22P02', 'a qualified name is invalid input (22P02)');
my $bin = File::Spec->rel2abs(PostgreSQL::Test::Utils::tempdir()) . '/owner.bin';    # COPY wants an absolute path
$new->safe_psql('d', "COPY (SELECT owner FROM lockservice.leases WHERE name = 'odd') TO '$bin' (FORMAT binary)");
is($new->safe_psql('d', "CREATE TEMP TABLE t (o lockservice.lease_owner);
		COPY t FROM '$bin' (FORMAT binary);
		SELECT o FROM t"),
	'"Odd Name"', 'binary COPY out and in keeps the role by name');

$new->stop;
done_testing();
