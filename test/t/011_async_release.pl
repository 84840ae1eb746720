
# Copyright: lockservice project
#
# A transaction whose only writes are releases commits without waiting for
# the disk or a synchronous standby; everything else keeps the caller's
# synchronous_commit.  Shown with a synchronous standby that never comes
# (synchronous_standby_names names nobody): a commit that waits for it
# hangs until cancelled, one that does not returns at once.  Then a crash:
# a release followed by an acknowledged grant of the same name is durable
# with that grant, and a release lost alone brings back only a lease that
# still ends at its expiry.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use LSTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $node = ls_node('async_release', preload => 1,
	init => { allows_streaming => 1 }, conf => "wal_writer_delay = 10s\n");
$node->safe_psql('postgres', 'CREATE TABLE protected (v int)');

sub lease { return ls_sql($node, "SELECT lockservice.lock_acquire('$_[0]', 'h', '1 hour')") }

# no synchronous standby will ever answer from here on
$node->append_conf('postgresql.conf', "synchronous_standby_names = 'nobody'");
$node->reload;
$node->poll_query_until('postgres', "SELECT current_setting('synchronous_standby_names') = 'nobody'")
  or die 'reload did not take';

# start SQL in a session: true when it finishes, false when its commit waits
# for the synchronous standby (then it is cancelled).  Decided by what the
# session does, not by how long it takes: on a loaded machine a commit that
# does not wait can still take seconds, and one that waits shows SyncRep as
# its wait event for as long as it waits.
sub commits_at_once
{
	my ($sql, $tag) = @_;
	my $s = LSTest::Session->new($node);
	$s->send($sql);
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	while (time < $deadline)
	{
		if ($s->done)
		{
			$s->result(60);
			$s->quit;
			return 1;
		}
		my $waits = $node->safe_psql('postgres',
			'SELECT wait_event FROM pg_catalog.pg_stat_activity WHERE pid = ' . $s->pid);
		if ($waits eq 'SyncRep')
		{
			$node->safe_psql('postgres', 'SELECT pg_cancel_backend(' . $s->pid . ')');
			$s->result(60);
			$s->quit;
			return 0;
		}
		usleep(20_000);
	}
	die "$tag: the statement neither finished nor waited for the standby";
}

my ($t1, $t2, $t3, $t4, $t5);
# the grants themselves wait for the standby: take them with it switched off
# for this session only (a superuser may)
my $nosync = "SET synchronous_commit = local;\n";
$t1 = ls_sql($node, $nosync . "SELECT lockservice.lock_acquire('a', 'h', '1 hour')");
$t2 = ls_sql($node, $nosync . "SELECT lockservice.lock_acquire('b', 'h', '1 hour')");
$t3 = ls_sql($node, $nosync . "SELECT lockservice.lock_acquire('c', 'h', '1 hour')");
$t4 = ls_sql($node, $nosync . "SELECT lockservice.lock_acquire('d', 'h', '1 hour')");
$t5 = ls_sql($node, $nosync . "SELECT lockservice.lock_acquire('e', 'h', '1 hour')");

ok(commits_at_once("SELECT lockservice.lock_release('a', $t1)", 'release'),
	'a release alone (autocommit) does not wait for the synchronous standby');
is(ls_sql($node, "SELECT count(*) FROM lockservice.leases_live WHERE name = 'a'"), '0',
	'... and it took effect');
ok(commits_at_once("BEGIN; SELECT lockservice.lock_release('b', $t2); "
	  . "SELECT lockservice.lock_release('c', $t3); COMMIT", 'two releases'),
	'a transaction of two releases does not wait either');
ok(!commits_at_once("BEGIN; SELECT lockservice.lock_release('d', $t4); "
	  . "INSERT INTO protected VALUES (1); COMMIT", 'release + write'),
	'a release with another write in its transaction waits (the caller\'s durability)');
ok(!commits_at_once("BEGIN; INSERT INTO protected VALUES (2); "
	  . "SELECT lockservice.lock_release('e', $t5); COMMIT", 'write + release'),
	'... also when the write came first');
ok(!commits_at_once("SELECT lockservice.lock_acquire('f', 'h', '1 hour')", 'acquire'),
	'an acquire waits');
my $tf = ls_sql($node, "SELECT token FROM lockservice.leases_live WHERE name = 'f'");
ok(!commits_at_once("SELECT lockservice.lock_renew('f', $tf)", 'renew'),
	'a renewal waits');
ok(!commits_at_once("SELECT lockservice.fence('r', $tf)", 'fence'),
	'a fence waits');
ok(!commits_at_once("SELECT lockservice.force_release('f')", 'force_release'),
	'force_release waits');
my $tg = ls_sql($node, $nosync . "SELECT lockservice.lock_acquire('g', 'h', '1 hour')");
ok(!commits_at_once("SET lockservice.async_releases = off; SELECT lockservice.lock_release('g', $tg)",
		'async_releases off'),
	'with lockservice.async_releases = off a release waits');
is($node->safe_psql('postgres', 'SHOW synchronous_commit'), 'on',
	'synchronous_commit is the caller\'s again after a release-only commit');

$node->append_conf('postgresql.conf', "synchronous_standby_names = ''");
$node->reload;
$node->poll_query_until('postgres', "SELECT current_setting('synchronous_standby_names') = ''")
  or die 'reload did not take';

# ---- crash: a release made durable by the next grant's flush ------------
my $h1 = lease('handoff');
my $h2;
{
	my $w = LSTest::Session->new($node);
	$w->send("SELECT lockservice.lock_acquire('handoff', 'next', '1 hour', '30 s')");
	ok($w->wait_until_waiting(like => "%lock_acquire('handoff'%", event => 1),
		'a waiter waits for the lease');
	is(ls_sql($node, "SELECT lockservice.lock_release('handoff', $h1)"), 't', 'release (async commit)');
	my @r = $w->result(60);
	$h2 = $r[0];
	like($h2 // '', qr/^\d+$/, 'the waiter is granted (its commit is flushed)');
	$w->quit;
}
# ---- a release alone, lost or not: the lease ends at its expiry ---------
my $lone = ls_sql($node, "SELECT lockservice.lock_acquire('lone', 'h', '3 s')");
my $lone_exp = ls_sql($node, "SELECT extract(epoch FROM expires_at) FROM lockservice.leases WHERE name = 'lone' AND token = $lone");
is(ls_sql($node, "SELECT lockservice.lock_release('lone', $lone)"), 't', 'a release alone');
$node->stop('immediate');
$node->start;
is(ls_sql($node, "SELECT holder || ' ' || token FROM lockservice.leases_live WHERE name = 'handoff'"),
	"next $h2", 'after a crash the grant that followed the release is there: the release was durable with it');
my $back = ls_sql($node, "SELECT count(*) FROM lockservice.leases_live WHERE name = 'lone'");
note "the lone release " . ($back ? 'was lost in the crash (allowed)' : 'survived the crash');
my $ends = ls_sql($node, "SELECT coalesce(max(extract(epoch FROM expires_at)), 0) FROM lockservice.leases_live WHERE name = 'lone'");
cmp_ok($ends, '<=', $lone_exp, 'a lease brought back by a lost release still ends at its expiry');
$node->poll_query_until('postgres',
	"SELECT lockservice.lock_acquire('lone', 'other', '1 min') IS NOT NULL")
  or die 'lone never became free';
pass('the name is granted again by its expiry at the latest');

$node->stop;
done_testing();
