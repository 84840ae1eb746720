
# lockctl run and elect: the command's environment and status, a singleton
# job among concurrent runs, a lease revoked on the server, signals to
# lockctl, lockctl killed, leftovers of the command's process group, and
# leader election with failover.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use LockctlTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# The commands below must die of the signals forwarded to them.  A test run
# started in the background (nohup, or "&" in a script) hands SIGHUP and
# SIGINT down ignored, and an ignored signal stays ignored across exec: put
# them back to their defaults for everything started from here.
$SIG{$_} = 'DEFAULT' for qw(INT HUP);

my $node = lc_node('lockctl_run');
my $dir = lc_tempdir();
my ($rc, $out, $err);

# slack for timing assertions on a loaded machine (seconds)
my $slack = 3;

# reads a pid written by a test command, waiting for it to appear
sub pid_from
{
	my ($file) = @_;
	my $pid = lc_poll(sub { lc_slurp($file) =~ /^(\d+)\n/ ? $1 : 0 }, 60);
	return $pid // 0;
}

# ---- environment and exit status ----
($rc, $out, $err) = lc_cmd($node, 'run', 'r0', '--',
	'sh', '-c', qq{echo "\$LOCKSERVICE_NAME \$LOCKSERVICE_TOKEN \$LOCKSERVICE_HOLDER" > $dir/env; exit 7});
is($rc, 7, 'run exits with the command\'s status');
like(lc_slurp("$dir/env"), qr/^r0 \d+ [^:\s]+:\d+:[0-9a-f]{8}$/,
	'the command gets LOCKSERVICE_NAME, _TOKEN and _HOLDER (host:pid:random)');
is(lc_live_token($node, 'r0'), '', 'the lease is released when the command ends');

($rc) = lc_cmd($node, 'run', 'r0', '--holder', 'job-x', '--',
	'sh', '-c', qq{echo "\$LOCKSERVICE_HOLDER" > $dir/env});
is(lc_slurp("$dir/env"), "job-x\n", '--holder sets LOCKSERVICE_HOLDER');
($rc) = lc_cmd($node, 'run', 'r0', '--', 'sh', '-c', 'kill -TERM $$');
is($rc, 128 + 15, 'a command killed by SIGTERM: exit 143');
($rc, $out, $err) = lc_cmd($node, 'run', 'r0', '--', "$dir/no-such-command");
is($rc, 127, 'a command that does not exist: exit 127');
like($err, qr/cannot run .*no-such-command/, '... with a message');
is(lc_live_token($node, 'r0'), '', '... and the lease is released');

# not acquired: the command does not run
(undef, my $held) = lc_cmd($node, 'acquire', 'r1', '--ttl', '1h', '--holder', 'other');
($rc, $out, $err) = lc_cmd($node, 'run', 'r1', '--', 'touch', "$dir/r1_ran");
is($rc, 2, 'run of a held lock: exit 2');
like($err, qr/r1 is held by other.*\n.*was not acquired; the command was not run/,
	'... saying who holds it');
my $t0 = lc_now();
($rc) = lc_cmd($node, 'run', 'r1', '--wait', '1s', '--', 'touch', "$dir/r1_ran");
is($rc, 2, 'run --wait 1s of a held lock: exit 2');
cmp_ok(lc_now() - $t0, '>=', 0.95, '... after waiting');
ok(!-e "$dir/r1_ran", 'the command did not run');
lc_cmd($node, 'release', 'r1', $held);

# ---- singleton: three runs at once never overlap ----
my $stamps = "$dir/singleton";
my $job = qq{echo "start \$(date +%s.%N) \$LOCKSERVICE_TOKEN" >> $stamps; }
  . qq{sleep 1; echo "stop \$(date +%s.%N) \$LOCKSERVICE_TOKEN" >> $stamps};
my @runs =
  map { lc_start($node, 'run', 'single', '--wait', 'forever', '--ttl', '5s', '--', 'sh', '-c', $job) }
  1 .. 3;
is(lc_wait($_, 120), 0, 'singleton: each run completes with exit 0') for @runs;
my @s = lc_stamps($stamps);
is(scalar(@s), 6, 'singleton: three starts and three stops');
my $ok = 1;
for my $i (0 .. $#s)
{
	my $want = $i % 2 ? 'stop' : 'start';
	$ok = 0 unless $s[$i][0] eq $want;
	$ok = 0 if $i > 0 && $s[$i][1] < $s[ $i - 1 ][1];
	$ok = 0 if $i % 2 && $s[$i][2] ne $s[ $i - 1 ][2];
}
ok($ok, 'singleton: the commands never overlap (start/stop alternate, in time order)')
  or diag lc_slurp($stamps);
ok($s[2][2] > $s[0][2] && $s[4][2] > $s[2][2],
	'singleton: tokens strictly increase from run to run');
is(lc_live_token($node, 'single'), '', 'singleton: nothing is held afterwards');

# ---- lease revoked on the server: the command is stopped ----
# the command stops on SIGTERM
my $h = lc_start($node, 'run', 'lost1', '--ttl', '3s', '--grace', '1s', '--',
	'sh', '-c', qq{echo \$\$ > $dir/lost1.pid; while :; do sleep 0.1; done});
my $child = pid_from("$dir/lost1.pid");
ok($child, 'lost lease: the command runs');
$t0 = lc_now();    # before the lease ends: lockctl cannot notice earlier
$node->safe_psql('postgres',
	"UPDATE lockservice.leases SET expires_at = clock_timestamp() - interval '1s' WHERE name = 'lost1'");
is(lc_wait($h, 60), 3, 'lost lease: lockctl exits 3');
my $took = $h->{ended} - $t0;
cmp_ok($took, '<=', 3 / 3 + 1 + $slack,
	'lost lease: the command is stopped within ttl/3 + grace');
like($h->{stderr}, qr/lease lost: lost1 \(token \d+\) is no longer held; sent SIGTERM/,
	'lost lease: lockctl says so');
ok(!lc_pid_alive($child), 'lost lease: the command is gone');

# the command ignores SIGTERM: SIGKILL after the grace period
$h = lc_start($node, 'run', 'lost2', '--ttl', '3s', '--grace', '2s', '--',
	'sh', '-c', qq{trap "" TERM; echo \$\$ > $dir/lost2.pid; while :; do sleep 0.1; done});
$child = pid_from("$dir/lost2.pid");
$t0 = lc_now();    # before the lease ends: lockctl cannot notice earlier
$node->safe_psql('postgres',
	"UPDATE lockservice.leases SET expires_at = clock_timestamp() - interval '1s' WHERE name = 'lost2'");
is(lc_wait($h, 60), 3, 'lost lease, SIGTERM ignored: lockctl exits 3');
$took = $h->{ended} - $t0;
cmp_ok($took, '>=', 1.9, 'lost lease, SIGTERM ignored: the grace period is given');
cmp_ok($took, '<=', 3 / 3 + 2 + $slack,
	'lost lease, SIGTERM ignored: killed within ttl/3 + grace');
ok(!lc_pid_alive($child), 'lost lease, SIGTERM ignored: the command is gone');

# ---- signals to lockctl ----
for my $sig ('TERM', 'INT', 'HUP')
{
	my $name = "sig_$sig";
	$h = lc_start($node, 'run', $name, '--ttl', '30s', '--',
		'sh', '-c', qq{echo \$\$ > $dir/$name.pid; exec sleep 60});
	$child = pid_from("$dir/$name.pid");
	ok(lc_live_token($node, $name), "SIG$sig: the lease is held");
	lc_signal($h, $sig);
	$t0 = lc_now();
	my $signo = { TERM => 15, INT => 2, HUP => 1 }->{$sig};
	is(lc_wait($h, 30), 128 + $signo, "SIG$sig to lockctl: the command gets it, exit 128+$signo");
	cmp_ok($h->{ended} - $t0, '<', $slack, "SIG$sig: lockctl ends at once");
	ok(!lc_pid_alive($child), "SIG$sig: the command is gone");
	is(lc_live_token($node, $name), '', "SIG$sig: the lease is released (not left to expire)");
}

# a signal while still waiting for the lease: nothing runs, nothing held
(undef, $held) = lc_cmd($node, 'acquire', 'sigwait', '--ttl', '1h');
$h = lc_start($node, 'run', 'sigwait', '--wait', 'forever', '--', 'touch', "$dir/sigwait_ran");
ok( $node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM pg_stat_activity WHERE query LIKE '%lock_acquire%' AND state = 'active' AND pid <> pg_backend_pid()"),
	'run --wait forever is waiting');
lc_signal($h, 'TERM');
is(lc_wait($h, 30), 128 + 15, 'SIGTERM while waiting: exit 143');
like($h->{stderr}, qr/interrupted .* while waiting for sigwait; nothing acquired/, '... with a message');
lc_cmd($node, 'release', 'sigwait', $held);
ok(!-e "$dir/sigwait_ran", '... and the command never ran');

# lockctl killed with SIGKILL: the command gets SIGKILL (PR_SET_PDEATHSIG)
$h = lc_start($node, 'run', 'sigkill', '--ttl', '30s', '--',
	'sh', '-c', qq{echo \$\$ > $dir/sigkill.pid; exec sleep 60});
$child = pid_from("$dir/sigkill.pid");
lc_signal($h, 'KILL');
lc_wait($h, 30);
ok(lc_poll(sub { !lc_pid_alive($child) }, 10),
	'lockctl killed by SIGKILL: the command is killed too');
ok(lc_live_token($node, 'sigkill'), '... and the lease is left to expire at its ttl');

# ---- what the command leaves in its process group is stopped too ----
$h = lc_start($node, 'run', 'leftover', '--ttl', '30s', '--grace', '1s', '--',
	'sh', '-c', qq{sleep 60 & echo \$! > $dir/leftover.pid; exit 0});
is(lc_wait($h, 30), 0, 'leftovers: run exits with the command\'s status');
$child = pid_from("$dir/leftover.pid");
ok(!lc_pid_alive($child), 'leftovers: the background process of the command is stopped');
is(lc_live_token($node, 'leftover'), '', 'leftovers: then the lease is released');

# ---- elect: one leader at a time, failover ----
my $elog = "$dir/elect";
sub campaign
{
	my ($who) = @_;
	return lc_start($node, 'elect', 'e1', '--ttl', '3s', '--holder', "cand-$who", '--',
		'sh', '-c', qq{echo "$who \$LOCKSERVICE_TOKEN" >> $elog; exec sleep 60});
}
my $cand_a = campaign('A');
ok(lc_poll(sub { lc_slurp($elog) =~ /^A / }, 30), 'elect: the first candidate leads');
my $cand_b = campaign('B');
my $cand_c = campaign('C');
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 2 FROM pg_stat_activity WHERE query LIKE '%lock_acquire%' AND state = 'active' AND pid <> pg_backend_pid()"),
	'elect: the other candidates campaign');
($rc, $out) = lc_cmd($node, 'leader', 'e1');
like($out, qr/^cand-A\t\d+$/, 'elect: leader names the leader');
lc_signal($cand_a, 'TERM');
is(lc_wait($cand_a, 30), 143, 'elect: the leader stops on SIGTERM');
ok(lc_poll(sub { lc_slurp($elog) =~ /^[BC] /m }, 30), 'elect: another candidate takes over at once');
my ($second) = lc_slurp($elog) =~ /^([BC]) /m;
my ($next, $last) = $second eq 'B' ? ($cand_b, $cand_c) : ($cand_c, $cand_b);
($rc, $out) = lc_cmd($node, 'leader', 'e1');
like($out, qr/^cand-$second\t/, 'elect: leader names the new leader');

# the leader's lockctl dies without releasing: failover after the ttl
lc_signal($next, 'KILL');
lc_wait($next, 30);
$t0 = lc_now();
ok(lc_poll(sub { scalar(() = lc_slurp($elog) =~ /^\w /mg) == 3 }, 30),
	'elect: the last candidate takes over after a leader was killed');
cmp_ok(lc_now() - $t0, '<=', 3 + $slack, '... within the ttl');
my @e = lc_stamps($elog);
ok($e[1][1] > $e[0][1] && $e[2][1] > $e[1][1], 'elect: each leader has a higher token');
lc_signal($last, 'TERM');
is(lc_wait($last, 30), 143, 'elect: the last leader stops on SIGTERM');

done_testing();
