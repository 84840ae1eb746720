
# lockctl with several names and sessions: acquire of several names all or
# nothing, the session subcommand, run and elect with several names kept by
# one session (its environment, a session renewed through a long wait,
# overlapping sets that never deadlock nor overlap, a session ended on the
# server, the server stopped), and lockctl stopped past the session's ttl:
# the names go to the next holder with higher tokens and the old command's
# late fenced writes are refused.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use LockctlTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

$SIG{$_} = 'DEFAULT' for qw(INT HUP);

my $node = lc_node('lockctl_sessions');
my $dir = lc_tempdir();
my $psql = $node->config_data('--bindir') . '/psql';
my ($rc, $out, $err);

# slack for timing assertions on a loaded machine (seconds)
my $slack = 3;

sub q1 { return $node->safe_psql('postgres', $_[0]); }

# a shell script in the temporary directory; returns its path
sub script
{
	my ($name, $body) = @_;
	my $path = "$dir/$name.sh";
	open(my $fh, '>', $path) or die "$path: $!";
	print $fh "#!/bin/sh\n$body";
	close $fh;
	chmod 0755, $path;
	return $path;
}

# ---- acquire of several names: all or nothing ----
($rc, $out) = lc_cmd($node, 'acquire', 'm1', 'm2', 'm3', '--ttl', '1h', '--holder', 'multi');
is($rc, 0, 'acquire of three free names: exit 0');
my @tokens = split /\n/, $out;
is(scalar(@tokens), 3, '... prints three tokens');
is( q1("SELECT string_agg(token::text, ' ' ORDER BY name) FROM lockservice.leases_live "
		  . "WHERE name IN ('m1', 'm2', 'm3') AND holder = 'multi' AND session IS NULL"),
	"@tokens", '... in the order of the names, each a lease of its own');
(undef, my $m4) = lc_cmd($node, 'acquire', 'm4', '--ttl', '1h', '--holder', 'other');
($rc, $out, $err) = lc_cmd($node, 'acquire', 'm5', 'm4', 'm6', '--holder', 'late');
is($rc, 2, 'acquire of names one of which is held: exit 2');
like($err, qr/m4 is held by other .*\n.*the 3 names were not all free: none was acquired/,
	'... naming the holder');
is(q1("SELECT count(*) FROM lockservice.leases WHERE holder = 'late'"), '0',
	'... and none of them was taken');
($rc, $out, $err) = lc_cmd($node, 'acquire', 'm7', 'm7');
is($rc, 1, 'a name given twice: exit 1');
like($err, qr/given more than once \[SQLSTATE 22023\]/, '... with the server\'s message');

# ---- sessions ----
($rc, my $s) = lc_cmd($node, 'session', 'open', '--ttl', '1h', '--holder', 'sess-h');
is($rc, 0, 'session open: exit 0');
like($s, qr/^\d+$/, 'session open prints the session id');
($rc, $out) = lc_cmd($node, 'acquire', 'k1', 'k2', '--session', $s);
is($rc, 0, 'acquire of two names in the session: exit 0');
my @ktok = split /\n/, $out;
(undef, $out) = lc_cmd($node, 'acquire', 'k2', '--session', $s);
is($out, $ktok[1], 'acquiring again in the same session gives the same token');
is( q1("SELECT string_agg(name || ':' || holder || ':' || session, ' ' ORDER BY name) "
		  . "FROM lockservice.leases_live WHERE session = $s"),
	"k1:sess-h:$s k2:sess-h:$s", 'the locks are kept by the session, with its holder');
(undef, $out) = lc_cmd($node, 'list');
like($out, qr/^k1\s+exclusive\s+sess-h\s+\S+\s+$ktok[0]\s+$s\s/m,
	'list shows the session that keeps a lock');
like($out, qr/^m1\s+exclusive\s+multi\s+\S+\s+$tokens[0]\s+-\s/m,
	'... and "-" for a lease with its own ttl');
($rc) = lc_cmd($node, 'session', 'renew', $s, '--ttl', '2h');
is($rc, 0, 'session renew: exit 0');
ok(q1("SELECT expires_at > now() + interval '90 minutes' FROM lockservice.sessions WHERE id = $s") eq 't',
	'... to the ttl given');
($rc) = lc_cmd($node, 'release', 'k1', $ktok[0]);
is($rc, 0, 'one lock of the session is released on its own');
is(lc_live_token($node, 'k2'), $ktok[1], '... the other stays');
($rc) = lc_cmd($node, 'session', 'close', $s);
is($rc, 0, 'session close: exit 0');
is(q1("SELECT count(*) FROM lockservice.leases_live WHERE session = $s"), '0',
	'... and every lock in it is released');
($rc, $out, $err) = lc_cmd($node, 'session', 'close', $s);
is($rc, 2, 'session close of a closed session: exit 2');
like($err, qr/session $s has ended/, '... saying so');
($rc) = lc_cmd($node, 'session', 'renew', $s);
is($rc, 2, 'session renew of a closed session: exit 2');
($rc, $out, $err) = lc_cmd($node, 'acquire', 'k3', '--session', $s);
is($rc, 1, 'acquire in a closed session: exit 1');
like($err, qr/session $s has ended .*nothing was acquired/, '... saying so');
is(lc_live_token($node, 'k3'), '', '... and nothing is held');

# bad input: message, exit 1, nothing done
my @bad = (
	[ [ 'session' ], qr/missing open, renew or close/, 'session without an action' ],
	[ [ 'session', 'frob' ], qr/unknown action "frob"/, 'unknown action' ],
	[ [ 'session', 'renew' ], qr/missing the session ID/, 'renew without an id' ],
	[ [ 'session', 'close', 'abc' ], qr/invalid session id "abc"/, 'bad session id' ],
	[ [ 'session', 'close', '0' ], qr/invalid session id "0"/, 'zero session id' ],
	[ [ 'session', 'open', '--ttl', '0' ], qr/--ttl must be positive/, 'zero session ttl' ],
	[ [ 'session', 'open', 'extra' ], qr/too many arguments/, 'open with an argument' ],
	[ [ 'session', 'close', '5', '--ttl', '1s' ], qr/--ttl is for/, 'close with --ttl' ],
	[ [ 'acquire', 'bad1', '--session', '-3' ], qr/invalid session id "-3"/, 'acquire with a bad session id' ],
	[ [ 'acquire', 'bad1', '--session', '5', '--ttl', '1s' ], qr/--session does not go with --ttl or --holder/,
		'acquire with --session and --ttl' ],
	[ [ 'acquire', 'bad1', '' ], qr/NAME must not be empty/, 'acquire with an empty name' ],
	[ [ 'run', 'bad1', 'bad1', '--', 'true' ], qr/NAME "bad1" is given twice/, 'run with a name twice' ],
);
for my $case (@bad)
{
	my ($args, $re, $what) = @$case;
	($rc, $out, $err) = lc_cmd($node, @$args);
	is($rc, 1, "bad input ($what): exit 1");
	like($err, $re, "bad input ($what): message");
}
is(q1("SELECT count(*) FROM lockservice.leases WHERE name = 'bad1'"), '0',
	'bad input: nothing was acquired');

# ---- run with several names: one session keeps them ----
($rc) = lc_cmd($node, 'run', 'r1', 'r2', 'r3', '--holder', 'runner', '--',
	'sh', '-c',
	qq{env | grep '^LOCKSERVICE_' | sort > $dir/env; }
	  . qq{$psql -XAtc "SELECT string_agg(name || ' ' || token || ' ' || session, ',' ORDER BY name) FROM lockservice.leases_live WHERE holder = 'runner'" > $dir/live});
is($rc, 0, 'run with three names: exit 0');
my %env = map { /^(\w+)=(.*)$/ ? ($1 => $2) : () } split /\n/, lc_slurp("$dir/env");
like($env{LOCKSERVICE_SESSION} // '', qr/^\d+$/, 'the command gets LOCKSERVICE_SESSION');
is( join(' ', map { $env{"LOCKSERVICE_NAME_$_"} // '' } 1 .. 3), 'r1 r2 r3',
	'... LOCKSERVICE_NAME_1.._3 in the order given');
is( $env{LOCKSERVICE_TOKENS} // '',
	join(' ', map { $env{"LOCKSERVICE_TOKEN_$_"} // '' } 1 .. 3),
	'... LOCKSERVICE_TOKENS: the tokens in the same order');
is("$env{LOCKSERVICE_NAME} $env{LOCKSERVICE_TOKEN}",
	"r1 $env{LOCKSERVICE_TOKEN_1}", '... LOCKSERVICE_NAME and _TOKEN of the first name');
is( lc_slurp("$dir/live"),
	join(',', map { "$env{\"LOCKSERVICE_NAME_$_\"} $env{\"LOCKSERVICE_TOKEN_$_\"} $env{LOCKSERVICE_SESSION}" } 1 .. 3) . "\n",
	'while it runs, the three locks are live with those tokens, kept by that session');
is(q1("SELECT count(*) FROM lockservice.leases_live WHERE holder = 'runner'"), '0',
	'the locks are released when the command ends');
is( q1("SELECT count(*) FROM lockservice.sessions WHERE id = $env{LOCKSERVICE_SESSION} AND expires_at > now()"),
	'0', '... and the session is closed');

# waiting longer than the session's ttl: the session is renewed meanwhile
(undef, my $w2) = lc_cmd($node, 'acquire', 'w2', '--ttl', '1h', '--holder', 'blocker');
my $h = lc_start($node, '-v', 'run', 'w1', 'w2', '--ttl', '1s', '--wait', '60s', '--',
	'sh', '-c', qq{echo "\$LOCKSERVICE_SESSION" > $dir/w.session});
ok( $node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM pg_stat_activity WHERE query LIKE '%lock_acquire_all%' AND state = 'active' AND pid <> pg_backend_pid()"),
	'run of two names waits for the held one');
is(q1("SELECT count(*) FROM lockservice.leases_live WHERE name = 'w1'"), '0',
	'... holding neither while it waits');
my ($ws) = q1("SELECT id FROM lockservice.sessions WHERE holder <> 'sess-h' AND expires_at > now() ORDER BY id DESC LIMIT 1");
sleep 3;    # three session ttls
is(q1("SELECT expires_at > now() FROM lockservice.sessions WHERE id = $ws"), 't',
	'... while its session (ttl 1s) is renewed through the wait');
lc_cmd($node, 'release', 'w2', $w2);
is(lc_wait($h, 60), 0, 'the run gets both names once free, exit 0');
is(lc_slurp("$dir/w.session"), "$ws\n", '... in the session it opened before waiting');
unlike($h->{stderr}, qr/ended while waiting/, '... which never ended');

# overlapping sets never deadlock and never run at the same time
my $stamps = "$dir/overlap";
my $job = script('overlap', qq{echo "start \$(date +%s.%N) \$1" >> $stamps
sleep 0.5
echo "stop \$(date +%s.%N) \$1" >> $stamps
});
my @sets = ([ 'o1', 'o2' ], [ 'o2', 'o3' ], [ 'o3', 'o1' ], [ 'o1', 'o2', 'o3' ]);
my @runs;
for my $round (1 .. 2)
{
	for my $i (0 .. $#sets)
	{
		push @runs, lc_start($node, 'run', @{ $sets[$i] }, '--wait', 'forever', '--ttl', '5s',
			'--', $job, "set$i");
	}
}
is(lc_wait($_, 180), 0, 'overlapping sets: each run completes') for @runs;
my @s = lc_stamps($stamps);
is(scalar(@s), 2 * scalar(@runs), 'overlapping sets: every run started and stopped');
my $ok = 1;
for my $i (0 .. $#s)
{
	# every two sets share a name, so the runs must be strictly one at a time
	my $want = $i % 2 ? 'stop' : 'start';
	$ok = 0 unless $s[$i][0] eq $want;
	$ok = 0 if $i > 0 && $s[$i][1] < $s[ $i - 1 ][1];
	$ok = 0 if $i % 2 && $s[$i][2] ne $s[ $i - 1 ][2];
}
ok($ok, 'overlapping sets: no two runs hold a shared name at once')
  or diag lc_slurp($stamps);
is(q1("SELECT count(*) FROM lockservice.leases_live WHERE name IN ('o1', 'o2', 'o3')"), '0',
	'overlapping sets: nothing is held afterwards');

# elect with several names
(undef, my $e2) = lc_cmd($node, 'acquire', 'e2', '--ttl', '1h');
$h = lc_start($node, 'elect', 'e1', 'e2', '--ttl', '2s', '--',
	'sh', '-c', qq{echo "\$LOCKSERVICE_TOKENS" > $dir/elect.tokens});
ok( $node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM pg_stat_activity WHERE query LIKE '%lock_acquire_all%' AND state = 'active' AND pid <> pg_backend_pid()"),
	'elect of two names campaigns');
lc_cmd($node, 'release', 'e2', $e2);
is(lc_wait($h, 60), 0, 'elect of two names: elected once both are free');
like(lc_slurp("$dir/elect.tokens"), qr/^\d+ \d+$/, '... with a token for each');

# ---- the session ended on the server: the command is stopped ----
$h = lc_start($node, 'run', 'x1', 'x2', '--ttl', '3s', '--grace', '1s', '--',
	'sh', '-c', qq{echo "\$LOCKSERVICE_SESSION" > $dir/x.session; exec sleep 60});
my $xs = lc_poll(sub { lc_slurp("$dir/x.session") =~ /^(\d+)\n/ ? $1 : 0 }, 60);
ok($xs, 'session ended: the command runs');
my $t0 = lc_now();
q1("UPDATE lockservice.sessions SET expires_at = clock_timestamp() - interval '1s' WHERE id = $xs");
is(lc_wait($h, 60), 3, 'session ended on the server: lockctl exits 3');
cmp_ok($h->{ended} - $t0, '<=', 3 / 3 + 1 + $slack,
	'... within ttl/3 + grace');
like($h->{stderr}, qr/lease lost: session $xs \(keeping x1 and x2\) has ended; sent SIGTERM/,
	'... saying which session and names');

# ---- lockctl stopped past the session's ttl: fencing refuses the old
# holder's late writes; the next holder gets every name with a higher token
# each name's fenced write as the command's holder: "accepted", "LS001"
# (refused: a later token was written), or psql's message
my $fence_all = q{for i in 1 2 3; do
  eval "n=\$LOCKSERVICE_NAME_$i t=\$LOCKSERVICE_TOKEN_$i"
  out=$(} . $psql . q{ -XAtq -v VERBOSITY=sqlstate -c "SELECT lockservice.fence('res:$n', $t)" 2>&1)
  case "$out" in
    "") echo accepted ;;
    *LS001*) echo LS001 ;;
    *) echo "$out" ;;
  esac
done};
my $old = script('old', qq{echo "\$LOCKSERVICE_TOKENS" > $dir/old.tokens
$fence_all > $dir/old.first
while [ ! -e $dir/old.go ]; do sleep 0.1; done
$fence_all > $dir/old.late
exec sleep 60
});
my $new = script('new', qq{echo "\$LOCKSERVICE_TOKENS" > $dir/new.tokens
$fence_all > $dir/new.fence
});
my $ha = lc_start($node, 'run', 'f1', 'f2', 'f3', '--ttl', '2s', '--grace', '1s', '--', $old);
ok(lc_poll(sub { lc_slurp("$dir/old.first") =~ /(accepted\n){3}/ }, 60),
	'stopped holder: its first fenced writes are accepted');
lc_signal($ha, 'STOP');
my $t_stop = lc_now();
my $hb = lc_start($node, 'run', 'f1', 'f2', 'f3', '--ttl', '2s', '--wait', '60s', '--', $new);
is(lc_wait($hb, 90), 0, 'stopped holder: another run gets the three names');
# the last renewal came at most ttl/3 before the stop: the session lasts ttl
# after it, so no grant can come sooner than 2/3 ttl after the stop
cmp_ok(lc_now() - $t_stop, '>=', 1.2, '... only after the stopped session could expire');
my @old_t = split ' ', lc_slurp("$dir/old.tokens");
my @new_t = split ' ', lc_slurp("$dir/new.tokens");
ok(@new_t == 3 && !grep({ $new_t[$_] <= $old_t[$_] } 0 .. 2),
	'... each with a higher token') or diag "old @old_t new @new_t";
is(lc_slurp("$dir/new.fence"), "accepted\n" x 3, '... and its fenced writes are accepted');
open(my $go, '>', "$dir/old.go") or die;
close $go;
ok(lc_poll(sub { lc_slurp("$dir/old.late") =~ /(\w+\n){3}/ }, 60), 'the old command tries late writes');
is(lc_slurp("$dir/old.late"), "LS001\n" x 3, 'every late fenced write of the old holder is refused (LS001)');
lc_signal($ha, 'CONT');
is(lc_wait($ha, 60), 3, 'the stopped lockctl, resumed, counts the session lost: exit 3');
like($ha->{stderr}, qr/lease lost: .*session/, '... and says so');

# ---- the server stopped: the command is stopped before the session can expire
my $ttl = 6;
$h = lc_start($node, 'run', 'd1', 'd2', '--ttl', "${ttl}s", '--grace', '10s', '--',
	'sh', '-c', qq{echo \$\$ > $dir/d.pid; trap 'date +%s.%N > $dir/d.term; exit 143' TERM; while :; do sleep 0.1; done});
ok(lc_poll(sub { lc_slurp("$dir/d.pid") =~ /^\d+\n/ }, 60), 'server stopped: the command runs');
$node->stop('fast');
$t_stop = lc_now();
is(lc_wait($h, 60), 3, 'server stopped: lockctl exits 3');
my $term = lc_slurp("$dir/d.term");
ok($term =~ /^(\d+\.\d+)/ && $1 < $t_stop + $ttl,
	'server stopped: the command was stopped before the session could expire');
like($h->{stderr}, qr/lease lost: no renewal of session \d+ could be confirmed in time/,
	'server stopped: lockctl says why');
$node->start;

done_testing();
