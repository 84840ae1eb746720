
# lockctl through PgBouncer in transaction pooling mode: acquire (also
# waiting), renew, check, release, list, leader and run work; watch refuses
# with a message that says why.  Needs the Debian package pgbouncer.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use LockctlTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $pgbouncer;
for my $dir (split(/:/, $ENV{PATH} // ''), '/usr/sbin')
{
	$pgbouncer = "$dir/pgbouncer" if !defined $pgbouncer && -x "$dir/pgbouncer";
}
plan skip_all => 'pgbouncer is not installed (apt-get install pgbouncer)'
  unless defined $pgbouncer;

my $node = lc_node('lockctl_bouncer');
my $dir = lc_tempdir();
my $port = PostgreSQL::Test::Cluster::get_free_port();
my $user = $node->safe_psql('postgres', 'SELECT current_user');
my $host = $node->host;
my $node_port = $node->port;

# PgBouncer in transaction pooling mode on a loopback port, in front of the
# node's unix socket, trusting its one user
append_to_file("$dir/users.txt", qq{"$user" ""\n});
append_to_file(
	"$dir/pgbouncer.ini", qq{[databases]
postgres = host=$host port=$node_port dbname=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/users.txt
pool_mode = transaction
default_pool_size = 4
max_client_conn = 100
server_reset_query =
ignore_startup_parameters = extra_float_digits
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
});
system_or_bail($pgbouncer, '-d', "$dir/pgbouncer.ini");
my $bouncer_pid;
END
{
	kill 'TERM', $bouncer_pid if $bouncer_pid;
}
$bouncer_pid = lc_poll(sub { lc_slurp("$dir/pgbouncer.pid") =~ /^(\d+)/ ? $1 : 0 }, 30);
ok($bouncer_pid, 'pgbouncer runs');

my $conninfo = "host=127.0.0.1 port=$port dbname=postgres user=$user";
my @via = ('-d', $conninfo);
my ($rc, $out, $err);

# wait until it accepts connections
ok( lc_poll(sub { (lc_cmd(undef, @via, 'list'))[0] eq '0' }, 30),
	'lockctl list through pgbouncer');
like(lc_slurp("$dir/pgbouncer.ini"), qr/^pool_mode = transaction$/m,
	'pgbouncer pools by transaction');

# one-shot subcommands
($rc, my $token) = lc_cmd(undef, @via, 'acquire', 'pb1', '--ttl', '30s', '--holder', 'bh');
is($rc, 0, 'acquire through pgbouncer');
is(lc_live_token($node, 'pb1'), $token, '... the lease is live');
($rc) = lc_cmd(undef, @via, 'renew', 'pb1', $token);
is($rc, 0, 'renew through pgbouncer');
($rc) = lc_cmd(undef, @via, 'check', 'pb1', $token);
is($rc, 0, 'check through pgbouncer');
($rc, $out) = lc_cmd(undef, @via, 'leader', 'pb1');
is($out, "bh\t$token", 'leader through pgbouncer');
($rc, $out) = lc_cmd(undef, @via, 'list');
like($out, qr/^pb1\s+exclusive\s+bh\s/m, 'list through pgbouncer');

# a waiting acquire (a transaction) through pgbouncer
my $waiter = lc_start(undef, @via, 'acquire', 'pb1', '--wait', '60s');
ok( $node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM pg_stat_activity WHERE query LIKE '%lock_acquire%' AND state = 'active' AND pid <> pg_backend_pid()"),
	'acquire --wait through pgbouncer is waiting');
($rc) = lc_cmd(undef, @via, 'release', 'pb1', $token);
is($rc, 0, 'release through pgbouncer');
is(lc_wait($waiter, 30), 0, 'the waiting acquire through pgbouncer gets the lease');
chomp(my $t2 = $waiter->{stdout});
cmp_ok($t2, '>', $token, '... with a higher token');
lc_cmd(undef, @via, 'release', 'pb1', $t2);
is(lc_live_token($node, 'pb1'), '', 'nothing held afterwards');

# run: two at once through pgbouncer take turns, renewing as they go
my $stamps = "$dir/runs";
my $job = qq{echo "start \$(date +%s.%N) \$LOCKSERVICE_TOKEN" >> $stamps; }
  . qq{sleep 2; echo "stop \$(date +%s.%N) \$LOCKSERVICE_TOKEN" >> $stamps};
my @runs = map {
	lc_start(undef, @via, 'run', 'pb2', '--ttl', '3s', '--wait', '60s', '--', 'sh', '-c', $job)
} 1 .. 2;
is(lc_wait($_, 60), 0, 'run through pgbouncer completes with exit 0') for @runs;
my @s = lc_stamps($stamps);
ok( @s == 4
	  && $s[0][0] eq 'start'
	  && $s[1][0] eq 'stop'
	  && $s[1][2] eq $s[0][2]
	  && $s[2][0] eq 'start'
	  && $s[2][1] >= $s[1][1]
	  && $s[2][2] > $s[0][2],
	'runs through pgbouncer do not overlap, tokens increase')
  or diag lc_slurp($stamps);
is(lc_live_token($node, 'pb2'), '', 'the runs released the lease');

# run notices a revoked lease through pgbouncer too
my $h = lc_start(undef, @via, 'run', 'pb3', '--ttl', '3s', '--grace', '1s', '--',
	'sh', '-c', qq{echo \$\$ > $dir/pb3.pid; while :; do sleep 0.1; done});
ok(lc_poll(sub { lc_slurp("$dir/pb3.pid") =~ /^\d+\n/ }, 30), 'run through pgbouncer: the command runs');
$node->safe_psql('postgres',
	"UPDATE lockservice.leases SET expires_at = clock_timestamp() - interval '1s' WHERE name = 'pb3'");
is(lc_wait($h, 30), 3, 'run through pgbouncer: a revoked lease is noticed (exit 3)');

# watch needs a session: it says so
($rc, $out, $err) = lc_cmd(undef, @via, 'watch', { timeout => 30 });
is($rc, 1, 'watch through pgbouncer in transaction mode exits 1');
like($err, qr/watch needs a session of its own .* connection pooler/,
	'... saying it needs a session');

done_testing();
