
# Copyright: lockservice project
#
# Reapers for any number of databases (issue 12): 20 databases with the
# extension on a server with max_worker_processes = 8 and the default
# lockservice.max_reapers (3).  Reapers start where work is due and exit
# when idle: in every database an expired lease is reaped within
# 2 x reap_interval (+ scheduling slack) of its expiry and the events reach
# that database's listener; never more than max_reapers reapers at once;
# with every database idle, no reaper is left (the launcher alone).  With
# max_reapers = 1 and the one reaper held in one database while work is due
# in all the others, reaping falls behind: reaper_status() counts it and the
# log names the setting to raise.

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

my $N = 20;
my $INTERVAL = 1;      # s, lockservice.reap_interval
my $SLACK = 3;         # s of scheduling slack on a loaded 2-core machine
my $TTL = 2;           # s
my $IDLE = 2;          # s, lockservice.reaper_idle_time

my $node = rn_node('many_dbs', interval => "${INTERVAL}s",
	conf => "max_worker_processes = 8\nlockservice.reaper_idle_time = '${IDLE}s'\nmax_connections = 60");
is($node->safe_psql('postgres', 'SHOW lockservice.max_reapers'), '3', 'max_reapers is 3 (the default)');
my @dbs = map { "tenant$_" } 1 .. $N;
for my $db (@dbs)
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, 'CREATE EXTENSION lockservice');
}

sub reaper_count
{
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE backend_type = 'lockservice reaper'");
}

# a listener per database
my %listener = map { $_ => LSReaper::Listener->new($node, $_) } @dbs;

# a short lease in every database, all at once; watch how many reapers run
my %expires;
for my $db (@dbs)
{
	$expires{$db} = $node->safe_psql($db,
		"SELECT lockservice.lock_acquire('job', 'worker-$db', '${TTL}s');
		 SELECT extract(epoch FROM expires_at) FROM lockservice.leases WHERE name = 'job'");
	$expires{$db} =~ s/^\d+\n//;
}
my %gone;
my $most = 0;
my $deadline = time + 60;
while (keys %gone < $N && time < $deadline)
{
	my $count = reaper_count();
	$most = $count if $count > $most;
	for my $db (grep { !exists $gone{$_} } @dbs)
	{
		my $g = $node->safe_psql($db,
			"SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM lockservice.leases WHERE name = 'job')
			             THEN extract(epoch FROM clock_timestamp()) END");
		$gone{$db} = $g if $g ne '';
	}
	usleep(100_000);
}
is(scalar(keys %gone), $N, "the expired lease is reaped in all $N databases");
my $worst = 0;
for my $db (keys %gone)
{
	my $late = $gone{$db} - $expires{$db};
	$worst = $late if $late > $worst;
}
cmp_ok($worst, '<=', 2 * $INTERVAL + $SLACK,
	sprintf('... each within 2 x reap_interval (+ %d s slack) of its expiry (slowest %.2f s)', $SLACK, $worst));
cmp_ok($most, '<=', 3, "never more than max_reapers reapers at once (at most $most seen)");
cmp_ok($most, '>=', 1, '... and reapers did run');

# events: every database's listener got its own acquired and expired events
my $events_ok = 0;
for my $db (@dbs)
{
	my @ev = $listener{$db}->collect(
		until => sub { grep { $_->{event} eq 'expired' } @_ },
		timeout => 30);
	my %kinds = map { $_->{event} => 1 } grep { $_->{holder} eq "worker-$db" } @ev;
	my @foreign = grep { $_->{holder} ne "worker-$db" } @ev;
	if ($kinds{acquired} && $kinds{expired} && !@foreign)
	{
		$events_ok++;
	}
	else
	{
		diag "$db: " . join(' ', map { "$_->{event}:$_->{name}:$_->{holder}" } @ev);
	}
	$listener{$db}->quit;
}
is($events_ok, $N, "every database's listener got its acquired and expired events, and no other database's");

# idle: the reapers go, the launcher stays
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_catalog.pg_stat_activity WHERE backend_type = 'lockservice reaper'"),
	'with every database idle, no reaper runs');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE backend_type = 'lockservice launcher'"),
	'1', '... and the launcher alone is left');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM lockservice.reaper_status() WHERE datid IN
		   (SELECT oid FROM pg_catalog.pg_database WHERE datname LIKE 'tenant%')"),
	$N, "reaper_status() lists the $N databases");

# a new lease still gets reaped from idle (a reaper is started for it)
my $exp = $node->safe_psql('tenant7',
	"SELECT lockservice.lock_acquire('again', 'w', '1s');
	 SELECT extract(epoch FROM expires_at) FROM lockservice.leases WHERE name = 'again'");
$exp =~ s/^\d+\n//;
my $g = rn_server_wait($node, 'tenant7',
	"SELECT NOT EXISTS (SELECT 1 FROM lockservice.leases WHERE name = 'again')", 30);
ok(defined $g && $g - $exp <= 2 * $INTERVAL + $SLACK,
	sprintf('after idling, a new expired lease is reaped in time (%.2f s after expiry)', ($g // 1e9) - $exp));

# One reaper for twenty databases: it falls behind.  Made certain, whatever
# the machine's speed: the one reaper is held in tenant1 (its leases table
# locked by an open transaction) while work is due in every other database,
# so their work waits far longer than two reap intervals.  A restart gives a
# new launcher, whose rate-limited warning has not been spent on the bursts
# above.
my $log_off = rn_log_offset($node);
$node->safe_psql('postgres', "ALTER SYSTEM SET lockservice.max_reapers = 1");
$node->safe_psql('postgres', "ALTER SYSTEM SET lockservice.reap_interval = '100ms'");
$node->restart;
is($node->safe_psql('postgres', "SELECT current_setting('lockservice.max_reapers')"),
	'1', 'max_reapers is 1 after the restart');
$node->safe_psql('tenant1', "SELECT lockservice.lock_acquire('pin', 'w', '5s')");
my $locker = LSTest::Session->new($node, db => 'tenant1');
$locker->run('BEGIN; LOCK TABLE lockservice.leases IN ACCESS EXCLUSIVE MODE');
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_catalog.pg_stat_activity
		  WHERE backend_type = 'lockservice reaper' AND datname = 'tenant1'
		    AND wait_event_type = 'Lock'"),
	'the one reaper waits in tenant1 behind the locked table');
$node->safe_psql($_, "SELECT lockservice.lock_acquire('burst', 'w', '200ms')")
  for grep { $_ ne 'tenant1' } @dbs;
ok($node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM lockservice.reaper_status() WHERE times_behind > 0"),
	'with max_reapers = 1, reaper_status() counts databases whose work waited (times_behind)');
my $log = '';
my $log_deadline = time + 60;
while (time < $log_deadline)
{
	$log = rn_log_since($node, $log_off);
	last if $log =~ /falls behind/;
	usleep(100_000);
}
like($log, qr/WARNING:.*reaping in database \d+ falls behind/, 'the log says reaping falls behind');
like($log, qr/HINT:.*lockservice\.max_reapers/, '... and names the setting to raise');
$locker->run('COMMIT');
$locker->quit;
my $left = 0;
for my $db (@dbs)
{
	$left++ unless $node->poll_query_until($db,
		"SELECT NOT EXISTS (SELECT 1 FROM lockservice.leases WHERE name IN ('burst', 'pin'))");
}
is($left, 0, 'once tenant1 is free, one reaper reaps every database in turn');
cmp_ok(reaper_count(), '<=', 1, 'never more than one reaper then');

$node->stop;
done_testing();
