# Copyright: lockservice project
#
# lockctl with a multi-host conninfo whose first host never answers (an old
# primary behind a partition drops packets): every host gets a timeout of
# its own (connect_timeout), so lockctl reaches the next one, on the first
# connection and when it reconnects to renew.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use LockctlTest;
use IO::Socket::INET;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $node = lc_node('multihost');
my $dir = lc_tempdir();

# a TCP port that completes handshakes (the kernel's backlog) but never
# replies to the startup packet: libpq waits on it until its timeout
my $silent = IO::Socket::INET->new(
	Listen => 16,
	LocalAddr => '127.0.0.1',
	LocalPort => 0,
	Proto => 'tcp') or die "listen: $!";
my $sport = $silent->sockport;
my $conninfo = sprintf('host=127.0.0.1,%s port=%d,%d dbname=postgres connect_timeout=2',
	$node->host, $sport, $node->port);

my $t0 = time;
my ($rc, $out, $err) = lc_cmd(undef, '-d', $conninfo, 'acquire', 'mh-1', '--ttl', '30s');
my $took = time - $t0;
is($rc, 0, 'first host silent: acquire succeeds on the second host') or diag($err);
like($out, qr/^\d+$/, 'first host silent: a token is printed');
cmp_ok($took, '>=', 1.5, 'first host silent: its connect_timeout (2 s) was waited out');
cmp_ok($took, '<', 30, 'first host silent: then the second host was tried');

# the same list from the environment (PGHOST, PGPORT)
($rc, $out, $err) = lc_cmd(
	undef, 'acquire', 'mh-2', '--ttl', '30s',
	{
		env => {
			PGHOST => '127.0.0.1,' . $node->host,
			PGPORT => "$sport," . $node->port,
			PGDATABASE => 'postgres',
			PGCONNECT_TIMEOUT => '2'
		}
	});
is($rc, 0, 'hosts from PGHOST/PGPORT: the silent one is passed over') or diag($err);

# every host silent: a clear connection failure, exit 4, within the timeouts
$t0 = time;
($rc, $out, $err) = lc_cmd(undef, '-d',
	"host=127.0.0.1,127.0.0.1 port=$sport,$sport dbname=postgres connect_timeout=2",
	'acquire', 'mh-3');
$took = time - $t0;
is($rc, 4, 'every host silent: exit 4 (connection failed)');
like($err, qr/timeout expired while connecting/, 'every host silent: the timeout is named');
cmp_ok($took, '<', 30, 'every host silent: gives up after each host\'s timeout');

# run: the renewals' connection is terminated; reconnecting passes over the
# silent first host and the lease is kept
my $h = lc_start(undef, '-d', $conninfo, '-vv', 'run', 'mh-run', '--ttl', '9s', '--',
	'sh', '-c', "echo \$\$ > $dir/mh.pid; exec sleep 60");
my $child = lc_poll(sub { lc_slurp("$dir/mh.pid") =~ /^(\d+)\n/ ? $1 : 0 }, 60);
ok($child, 'run: the command started');
my $token = lc_poll(sub { lc_live_token($node, 'mh-run') }, 30);
ok($token, 'run: the lease is live');
my $renewals = sub { scalar(grep { /renewed/ } split /\n/, lc_slurp($h->{err})) };
lc_poll(sub { $renewals->() >= 1 }, 30);
my $before = $renewals->();
$node->safe_psql('postgres',
	"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'lockservice' "
	  . "AND pid <> pg_backend_pid()");
ok( lc_poll(
		sub { $renewals->() >= $before + 2 },
		60),
	'run: renewals are confirmed again after the connection was cut');
ok(lc_pid_alive($child), 'run: the command ran on');
is(lc_live_token($node, 'mh-run'), $token, 'run: the same lease, same token');
unlike(lc_slurp($h->{err}), qr/lease lost/, 'run: the lease was never considered lost');
lc_signal($h, 'TERM');
is(lc_wait($h, 30), 128 + 15, 'run: SIGTERM ends the command, lockctl exits with its status');
ok(!lc_live_token($node, 'mh-run'), 'run: the lease was released');

$silent->close;
done_testing();
