
# Copyright: lockservice project
#
# pg_dump and restore keep leases, fences and the token counter (the tables
# and the sequence are marked with pg_extension_config_dump), and
# advance_token_counter() moves the counter past tokens of another cluster.
# Sessions come back with their locks; a session the old database opened
# after the dump is never the id of one the restored database opens.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use LSTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $old = ls_node('dump_old', preload => 1);

my $t1 = ls_sql($old, "SELECT lockservice.lock_acquire('d/a', 'w1', '1 hour')");
my $t2 = ls_sql($old, "SELECT lockservice.lock_acquire('d/b', 'w2', '1 hour')");
ls_sql($old, "SELECT lockservice.lock_release('d/b', $t2)");
ls_sql($old, "SELECT lockservice.fence('d/res', $t2)");
my $s1 = ls_sql($old, "SELECT lockservice.sem_acquire('d/pool', 'p1', 3, '1 hour')");
ls_sql($old, "SELECT lockservice.set_lock_delay('d/a', '5 s')");
my $old_last = ls_sql($old, 'SELECT lockservice.last_issued_token()');
my $sess = ls_sql($old, "SELECT lockservice.session_open('d-s', '1 hour')");
my $sess_tok = ls_sql($old, "SELECT lockservice.lock_acquire('d/s', $sess)");

my $dump = PostgreSQL::Test::Utils::tempdir() . '/lockservice.dump';
$old->command_ok(
	[ 'pg_dump', '-Fc', '-f', $dump, '-d', $old->connstr('postgres') ],
	'pg_dump of a database with lockservice');

# the old database goes on: its clients open sessions after the dump
my @after = split /\n/, ls_sql($old,
	"SELECT lockservice.session_open('d-after', '1 hour') FROM generate_series(1, 40)");
is(scalar(@after), 40, 'the old database opened 40 sessions after the dump');

my $new = ls_node('dump_new', preload => 1, create => 0);
$new->safe_psql('postgres', 'CREATE DATABASE restored');
$new->command_ok(
	[ 'pg_restore', '-d', $new->connstr('restored'), $dump ],
	'pg_restore into a new cluster');

my $q = sub { $new->safe_psql('restored', shift) };

is($q->("SELECT count(*) FROM lockservice.leases_live WHERE name = 'd/a' AND token = $t1"),
	'1', 'the live lease came back with its token');
is($q->("SELECT lockservice.lock_renew('d/a', $t1)"),
	't', 'its holder (same role) can renew it');
is($q->("SELECT count(*) FROM lockservice.leases_live WHERE name = 'd/pool' AND token = $s1"),
	'1', 'the semaphore permit came back');
is($q->("SELECT token FROM lockservice.fences WHERE resource = 'd/res'"),
	$t2, 'the fence came back');
is($q->("SELECT lock_delay FROM lockservice.lock_options WHERE name = 'd/a'"),
	'00:00:05', 'the per-name lock-delay came back');
cmp_ok($q->('SELECT lockservice.last_issued_token()'), '>=', $old_last,
	'the token counter came back');

my $t3 = $q->("SELECT lockservice.lock_acquire('d/c', 'w3')");
cmp_ok($t3, '>', $old_last, 'a new token is above every token of the old cluster');

my ($state) = ls_sqlstate($new, "\\c restored\nSELECT lockservice.fence('d/res', $t2 - 2)");
is($state, 'LS001', 'the restored fence still refuses a lower token');

is($q->("SELECT lockservice.session_renew($sess)"), 't',
	'a session of the dump is renewable in the restored database');
is($q->("SELECT lockservice.lock_acquire('d/s', $sess, '0')"), $sess_tok,
	'... and re-acquiring its lock returns its token');
my @fresh = split /\n/, $q->(
	"SELECT lockservice.session_open('d-new', '1 hour') FROM generate_series(1, 40)");
my %after = map { $_ => 1 } @after;
is(scalar(grep { $after{$_} } @fresh), 0,
	'no session the restored database opens has the id of one the old database opened after the dump');
is( $q->(
		'SELECT count(*) FILTER (WHERE lockservice.session_renew(s)) FROM unnest(ARRAY['
		  . join(',', @after) . ']::bigint[]) s'),
	'0',
	'none of the sessions opened after the dump can be renewed in the restored database');

# Tokens of a cluster on a later timeline are above this one's: the counter
# is moved past them by hand.
my $foreign = (5 << 47) + 1000;
ok($q->("SELECT lockservice.advance_token_counter($foreign) >= $foreign"),
	'advance_token_counter reports a counter at or above its argument');
my $t4 = $q->("SELECT lockservice.lock_acquire('d/d', 'w4')");
cmp_ok($t4, '>', $foreign, 'the next token is above the foreign token');
is($q->("SELECT lockservice.advance_token_counter(1) >= $t4"), 't',
	'advance_token_counter never moves the counter backwards');
my $t5 = $q->("SELECT lockservice.lock_acquire('d/e', 'w5')");
cmp_ok($t5, '>', $t4, 'tokens keep increasing after a no-op advance');

done_testing();
