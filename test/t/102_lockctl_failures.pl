
# lockctl run when the server or the connection fails: the command is
# stopped before the lease can have expired on the server; a renewal whose
# reply is lost, or whose commit the server could not confirm, never counts;
# a quick restart keeps the lease.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use LockctlTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

# max_wal_senders > 0: commits wait for synchronous_standby_names
my $node = lc_node('lockctl_fail',
	conf => "wal_level = replica\nmax_wal_senders = 2\n");
my $dir = lc_tempdir();

# reads a pid written by a test command, waiting for it to appear
sub pid_from
{
	my ($file) = @_;
	my $pid = lc_poll(sub { lc_slurp($file) =~ /^(\d+)\n/ ? $1 : 0 }, 60);
	return $pid // 0;
}

# a command that writes its pid, and on SIGTERM the time, then exits
sub guarded_command
{
	my ($name) = @_;
	return ('sh', '-c',
		    qq{echo \$\$ > $dir/$name.pid; }
		  . qq{trap 'date +%s.%N > $dir/$name.term; exit 143' TERM; }
		  . q{while :; do sleep 0.1; done});
}

# the time the command wrote when it got SIGTERM, or undef
sub term_time
{
	my ($name) = @_;
	my $t = lc_slurp("$dir/$name.term");
	return $t =~ /^(\d+\.\d+)/ ? $1 : undef;
}

# calls CODE every 20 ms while lockctl runs (at most TIMEOUT s); returns how
# often CODE returned true
sub while_running
{
	my ($h, $timeout, $code) = @_;
	my $deadline = lc_now() + $timeout;
	my $n = 0;
	while (lc_alive($h) && lc_now() < $deadline)
	{
		$n++ if $code->();
		usleep(20_000);    # poll interval
	}
	return $n;
}

# ---- server stopped: the command is stopped before the lease's expiry ----
my $ttl = 6;
my $h = lc_start($node, 'run', 'down1', '--ttl', "${ttl}s", '--grace', '10s',
	'--', guarded_command('down1'));
my $child = pid_from("$dir/down1.pid");
ok($child, 'server stopped: the command runs');
$node->stop('fast');
my $t_stop = lc_now();    # no renewal can be confirmed after this
is(lc_wait($h, 60), 3, 'server stopped: lockctl exits 3 (lease lost)');
my $term = term_time('down1');
ok(defined $term, 'server stopped: the command got SIGTERM');
cmp_ok($term, '<', $t_stop + $ttl,
	'server stopped: the command was stopped before the lease could expire');
like($h->{stderr}, qr/lease lost: no renewal of down1 could be confirmed in time/,
	'server stopped: lockctl says why');

# a command that ignores SIGTERM is killed at the lease's deadline, even
# with a longer --grace
$node->start;
$h = lc_start($node, 'run', 'down2', '--ttl', "${ttl}s", '--grace', '30s', '--',
	'sh', '-c', qq{trap "" TERM; echo \$\$ > $dir/down2.pid; while :; do sleep 0.1; done});
$child = pid_from("$dir/down2.pid");
$node->stop('fast');
$t_stop = lc_now();
ok(lc_poll(sub { !lc_pid_alive($child) }, 60), 'server stopped, SIGTERM ignored: the command is killed');
cmp_ok(lc_now(), '<', $t_stop + $ttl + 1,
	'server stopped, SIGTERM ignored: killed by the lease\'s deadline, not after --grace');
is(lc_wait($h, 30), 3, 'server stopped, SIGTERM ignored: lockctl exits 3');
$node->start;

# ---- connection blip: a quick restart keeps the lease ----
$h = lc_start($node, 'run', 'blip', '--ttl', '10s', '--',
	'sh', '-c', qq{echo "\$LOCKSERVICE_TOKEN" > $dir/blip.token; sleep 6; echo done > $dir/blip.done});
my $token = lc_poll(sub { lc_slurp("$dir/blip.token") =~ /^(\d+)\n/ ? $1 : 0 }, 60);
ok($token, 'blip: the command runs');
$node->restart;
my $after = $node->safe_psql('postgres',
	"SELECT extract(epoch FROM expires_at) FROM lockservice.leases_live WHERE name = 'blip' AND token = $token");
ok($after, 'blip: the lease survived the restart');
ok( $node->poll_query_until('postgres',
		"SELECT extract(epoch FROM expires_at) > $after FROM lockservice.leases_live WHERE name = 'blip' AND token = $token"),
	'blip: lockctl renews the same lease after the restart');
is(lc_wait($h, 60), 0, 'blip: the command completes, lockctl exits 0');
is(lc_slurp("$dir/blip.done"), "done\n", 'blip: the command ran to its end');
is(lc_live_token($node, 'blip'), '', 'blip: the lease is released');

# ---- elect keeps campaigning through a server restart ----
(undef, my $held) = lc_cmd($node, 'acquire', 'campaign', '--ttl', '1h');
$h = lc_start($node, 'elect', 'campaign', '--',
	'sh', '-c', qq{echo led > $dir/campaign.led});
ok( $node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM pg_stat_activity WHERE query LIKE '%lock_acquire%' AND state = 'active' AND pid <> pg_backend_pid()"),
	'elect: campaigning');
$node->restart;
ok( $node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM pg_stat_activity WHERE query LIKE '%lock_acquire%' AND state = 'active' AND pid <> pg_backend_pid()"),
	'elect: campaigning again after the restart');
lc_cmd($node, 'release', 'campaign', $held);
is(lc_wait($h, 60), 0, 'elect: elected after the restart once the lock was free');
is(lc_slurp("$dir/campaign.led"), "led\n", 'elect: the command ran as leader');

# ---- a renewal whose reply is lost (connection broken mid-call) ----
# A session holds the lease's row lock, so renewals block; each blocked
# renewal's connection is terminated.  No renewal can change the lease while
# the row is locked, so its expiry is known exactly.
$h = lc_start($node, 'run', 'lostreply', '--ttl', "${ttl}s", '--grace', '1s', '-v',
	'--', guarded_command('lostreply'));
$child = pid_from("$dir/lostreply.pid");
ok($child, 'lost reply: the command runs');
my $locker = $node->background_psql('postgres', on_error_stop => 1);
$locker->query_safe('BEGIN');
my $expires = $locker->query_safe(
	"SELECT extract(epoch FROM expires_at) FROM lockservice.leases WHERE name = 'lostreply' FOR UPDATE");
chomp $expires;
my $kills = while_running(
	$h, 60,
	sub {
		$node->safe_psql('postgres',
			"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
			  . "WHERE query LIKE '%lock_renew%' AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
		) > 0;
	});
cmp_ok($kills, '>=', 1, 'lost reply: renewals were cut off mid-call');
is(lc_wait($h, 30), 3, 'lost reply: lockctl exits 3 (never counted the renewal as done)');
$term = term_time('lostreply');
ok(defined $term && $term < $expires,
	'lost reply: the command was stopped before the lease expired on the server');
like($h->{stderr}, qr/renewal not confirmed \(connection lost/,
	'lost reply: lockctl reports the unconfirmed renewal');
$locker->query_safe('ROLLBACK');
$locker->quit;

# ---- a renewal whose commit is not confirmed (synchronous replication
# wait cancelled: the server warns that the commit may not be replicated)
$h = lc_start($node, 'run', 'syncrep', '--ttl', '8s', '--grace', '1s', '-v',
	'--', guarded_command('syncrep'));
$child = pid_from("$dir/syncrep.pid");
ok($child, 'unconfirmed commit: the command runs');
$node->safe_psql('postgres', "ALTER SYSTEM SET synchronous_standby_names = 'nobody'");
$node->reload;
my $t_sync = lc_now();
my $cancels = while_running(
	$h, 60,
	sub {
		$node->safe_psql('postgres',
			"SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity "
			  . "WHERE query LIKE '%lock_renew%' AND wait_event = 'SyncRep' AND pid <> pg_backend_pid()"
		) > 0;
	});
cmp_ok($cancels, '>=', 1, 'unconfirmed commit: renewals were cancelled in the synchronous replication wait');
is(lc_wait($h, 30), 3, 'unconfirmed commit: lockctl exits 3 (never counted those renewals)');
like($h->{stderr}, qr/the server could not confirm the commit/,
	'unconfirmed commit: lockctl reports the warning as unconfirmed');
$term = term_time('syncrep');
ok(defined $term && $term < $t_sync + 8,
	'unconfirmed commit: the command was stopped within the last confirmed lease');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET synchronous_standby_names');
$node->reload;

done_testing();
