
# Copyright: lockservice project
#
# Tokens over a cluster's whole life, with no manual step: a cluster that
# went through a failover (timeline 2) is upgraded with pg_upgrade into a
# new cluster (timeline 1); a base backup of the result is started as a new
# primary while the original goes on granting; a dump of it is restored into
# another new cluster while the original goes on granting.  Each time the
# live leases are there, the first new token is above every token issued
# before (also those issued after the copy was taken), fence accepts it and
# refuses the old ones, and LS002 still refuses tokens never issued.  A
# session with a lock survives each copy, and no session a copy opens has
# the id of one its original opened (also after the copy).  And a
# DROP EXTENSION says (with preloading) which call moves a new installation
# above the tokens of the dropped one.

use strict;
use warnings;

use Cwd;
use File::Spec;
use FindBin;
use lib $FindBin::RealBin;
use LSTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $tl_shift = 47;

# the highest token a node issued: every grant of this test goes through here
my %highest;
sub grant
{
	my ($node, $name, $holder, $ttl) = @_;
	my $t = ls_sql($node,
		"SELECT lockservice.lock_acquire('$name', '$holder', '" . ($ttl // '1 hour') . "')");
	$highest{ $node->name } = $t
	  if !defined $highest{ $node->name } || $t > $highest{ $node->name };
	return $t;
}

# open N sessions (ttl 1 h) and return their ids
my %session_ids;
sub open_sessions
{
	my ($node, $n, $dbname) = @_;
	my @ids = split /\n/,
	  $node->safe_psql($dbname // 'postgres',
		"SELECT lockservice.session_open('s', '1 hour') FROM generate_series(1, $n)");
	push @{ $session_ids{ $node->name } }, @ids;
	return @ids;
}

# how many of the ids a copy opened its original had opened too
sub ids_in_common
{
	my ($copy, $original) = @_;
	my %seen = map { $_ => 1 } @{ $session_ids{$original} };
	return scalar(grep { $seen{$_} } @{ $session_ids{$copy} });
}

# ---------------------------------------------------------------- timeline 2
my $first = ls_node('life_first', preload => 1, init => { allows_streaming => 1 });
grant($first, "before-failover-$_", 'w') for 1 .. 5;
my $second = ls_failover($first, 'life_second', "shared_preload_libraries = 'lockservice'");

my $live = grant($second, 'live', 'keeper');
my $fenced = grant($second, 'fenced', 'writer');
ls_sql($second, "SELECT lockservice.fence('resource', $fenced)");
ls_sql($second, "SELECT lockservice.lock_release('fenced', $fenced)");
grant($second, "after-failover-$_", 'w') for 1 .. 5;
my ($sess) = open_sessions($second, 1);
my $sess_tok = ls_sql($second, "SELECT lockservice.lock_acquire('live-s', $sess)");
open_sessions($second, 40);
is($highest{life_second} >> $tl_shift, 2, 'tokens after the failover are on timeline 2');
my $second_last = ls_sql($second, 'SELECT lockservice.last_issued_token()');
cmp_ok($second_last, '>=', $highest{life_second}, 'last_issued_token covers every grant');

# ---------------------------------------------------------------- pg_upgrade
my $bindir = $second->config_data('--bindir');
my $up = PostgreSQL::Test::Cluster->new('life_upgraded');
$up->init(allows_streaming => 1);
$up->append_conf('postgresql.conf', "shared_preload_libraries = 'lockservice'");
$second->stop;
# absolute before the chdir (PostgreSQL 18's test modules give relative paths)
my ($old_data, $new_data) = map { File::Spec->rel2abs($_) } ($second->data_dir, $up->data_dir);
my $cwd = getcwd();
chdir(PostgreSQL::Test::Utils::tempdir()) or die "chdir: $!";
command_ok(
	[
		'pg_upgrade', '--no-sync',
		'-d', $old_data, '-D', $new_data,
		'-b', $bindir, '-B', $bindir,
		'-s', $up->host, '-p', $second->port, '-P', $up->port
	],
	'pg_upgrade of a cluster on timeline 2 with lockservice preloaded');
chdir($cwd) or die "chdir: $!";
$up->start;
is(ls_sql($up, 'SELECT timeline_id FROM pg_control_checkpoint()'),
	'1', 'the upgraded cluster starts at timeline 1');

my $q = sub { ls_sql($up, shift) };
is($q->("SELECT count(*) FROM lockservice.leases_live WHERE name = 'live' AND token = $live"),
	'1', 'pg_upgrade: the live lease is there with its token');
cmp_ok($q->('SELECT lockservice.last_issued_token()'), '>=', $second_last,
	'pg_upgrade: last_issued_token() before the first grant covers every old token');
is($q->("SELECT lockservice.fence('resource', $fenced)"), '',
	'pg_upgrade: fence accepts the last old token before any new grant (no LS002)');
is($q->("SELECT lockservice.lock_renew('live', $live)"), 't',
	'pg_upgrade: the holder renews its lease');
is($q->("SELECT lockservice.session_renew($sess)"), 't',
	'pg_upgrade: the session is there and renewable');
is($q->("SELECT lockservice.lock_acquire('live-s', $sess, '0')"), $sess_tok,
	'pg_upgrade: re-acquiring its lock returns its token');
my $up_first = grant($up, 'new-after-upgrade', 'w');
cmp_ok($up_first, '>', $second_last, 'pg_upgrade: the first new token is above every token issued before');
is($q->("SELECT lockservice.fence('resource', $up_first)"), '',
	'pg_upgrade: fence accepts the new token');
my ($state) = ls_sqlstate($up, "SELECT lockservice.fence('resource', $fenced)");
is($state, 'LS001', 'pg_upgrade: fence refuses the old token after the new one');
($state) = ls_sqlstate($up, "SELECT lockservice.fence('resource', $up_first + (1::bigint << 40))");
is($state, 'LS002', 'pg_upgrade: fence still refuses a token never issued (LS002)');
my $up_second = grant($up, 'new-after-upgrade-2', 'w');
cmp_ok($up_second, '>', $up_first, 'pg_upgrade: tokens go on increasing');
cmp_ok($up_second - $up_first, '<', 1000, 'pg_upgrade: the counter moved up once, not at every grant');
$up->restart;
cmp_ok(grant($up, 'after-restart', 'w'), '<', $up_second + 1000,
	'pg_upgrade: a restart does not move the counter again');
open_sessions($up, 40);
is(ids_in_common('life_upgraded', 'life_second'), 0,
	'pg_upgrade: no new session has the id of an old one');

# -------------------------------------------- base backup started as a primary
$up->backup('bk_up');
grant($up, "after-backup-$_", 'w') for 1 .. 40;    # the clone never sees these
open_sessions($up, 40);                             # nor these
ls_sql($up, 'SELECT pg_switch_wal()');
my $clone = PostgreSQL::Test::Cluster->new('life_clone');
$clone->init_from_backup($up, 'bk_up');
$clone->start;
is($clone->safe_psql('postgres',
	"SELECT count(*) FROM lockservice.leases_live WHERE name = 'live' AND token = $live"),
	'1', 'base backup: the live lease is there');
my $clone_first = grant($clone, 'new-on-clone', 'w');
cmp_ok($clone_first, '>', $highest{life_upgraded},
	'base backup: the first token is above every token the original issued, also after the backup');
is(ls_sql($clone, "SELECT lockservice.fence('resource', $clone_first)"), '',
	'base backup: fence accepts the new token');
($state) = ls_sqlstate($clone, "SELECT lockservice.fence('resource', $up_first)");
is($state, 'LS001', 'base backup: fence refuses the old token');
is(ls_sql($clone, "SELECT lockservice.session_renew($sess)"), 't',
	'base backup: the session is there and renewable');
open_sessions($clone, 40);
is(ids_in_common('life_clone', 'life_upgraded'), 0,
	'base backup: no session of the clone has the id of one the original opened, also after the backup');
$clone->stop;

# ---------------------------------------------- pg_dump into a new cluster
my $dump = PostgreSQL::Test::Utils::tempdir() . '/life.dump';
$up->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $up->connstr('postgres') ],
	'pg_dump of the upgraded cluster');
grant($up, "after-dump-$_", 'w') for 1 .. 40;    # the dump never sees these
open_sessions($up, 40);                           # nor these
my $restored = ls_node('life_restored', preload => 1, create => 0);
$restored->safe_psql('postgres', 'CREATE DATABASE restored');
$restored->command_ok([ 'pg_restore', '-d', $restored->connstr('restored'), $dump ],
	'pg_restore into a new cluster');
my $r = sub { $restored->safe_psql('restored', shift) };
is($r->("SELECT count(*) FROM lockservice.leases_live WHERE name = 'live' AND token = $live"),
	'1', 'restore: the live lease is there');
my $restored_first = $r->("SELECT lockservice.lock_acquire('new-on-restored', 'w')");
cmp_ok($restored_first, '>', $highest{life_upgraded},
	'restore: the first token is above every token of the original, also after the dump');
is($r->("SELECT lockservice.fence('resource', $restored_first)"), '',
	'restore: fence accepts the new token');
($state) = ls_sqlstate($restored, "\\c restored\nSELECT lockservice.fence('resource', $up_first)");
is($state, 'LS001', 'restore: fence refuses the old token');
is($r->("SELECT lockservice.session_renew($sess)"), 't',
	'restore: the session is there and renewable');
open_sessions($restored, 40, 'restored');
is(ids_in_common('life_restored', 'life_upgraded'), 0,
	'restore: no session of the restored database has the id of one the original opened, also after the dump');

# ------------------------------------- DROP EXTENSION and CREATE EXTENSION
my $last_before_drop = ls_sql($up, 'SELECT lockservice.last_issued_token()');
my ($ret, $out, $err) = $up->psql('postgres', 'DROP EXTENSION lockservice');
is($ret, 0, 'DROP EXTENSION');
like($err, qr/NOTICE:.*dropping the fencing token counter of this database at token $last_before_drop/,
	'DROP EXTENSION says at which token the counter goes');
like($err, qr/HINT:.*lockservice\.advance_token_counter\($last_before_drop\)/,
	'and names the call that moves a new installation above it');
ls_sql($up, 'CREATE EXTENSION lockservice');
my $fresh = ls_sql($up, "SELECT lockservice.lock_acquire('fresh', 'w')");
cmp_ok($fresh, '<', $up_first, 'a new installation starts below the old tokens');
ls_sql($up, "SELECT lockservice.advance_token_counter($last_before_drop)");
cmp_ok(ls_sql($up, "SELECT lockservice.lock_acquire('fresh2', 'w')"),
	'>', $highest{life_upgraded}, 'advance_token_counter moves it above them');

$up->stop;
$restored->stop;
done_testing();
