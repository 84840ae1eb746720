
# lockctl's one-shot subcommands, help, version, exit codes, watch, and bad
# input: clear message, non-zero exit, nothing acquired, nothing run.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use LockctlTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = lc_node('lockctl_basic');
my $dir = lc_tempdir();
my ($rc, $out, $err);

# ---- help and version ----
($rc, $out, $err) = lc_cmd(undef, '--version');
is($rc, 0, '--version exits 0');
like($out, qr/^lockctl \(lockservice\) \d+\.\d+/, '--version prints the version');
($rc, $out) = lc_cmd(undef, '--help');
is($rc, 0, '--help exits 0');
like($out, qr/Exit status:.*\n\s+3\s+run, elect: the lease was lost/s,
	'--help documents the exit codes');
for my $sub (qw(acquire renew release check list leader watch run elect))
{
	($rc, $out) = lc_cmd(undef, $sub, '--help');
	is($rc, 0, "$sub --help exits 0");
	like($out, qr/^Usage: lockctl $sub/, "$sub --help prints its usage");
}

# ---- acquire, renew, check, release ----
($rc, my $token) = lc_cmd($node, 'acquire', 'b1', '--ttl', '30s',
	'--holder', 'me');
is($rc, 0, 'acquire exits 0');
like($token, qr/^\d+$/, 'acquire prints the token');
is(lc_live_token($node, 'b1'), $token, 'the lease is live with that token');
is( $node->safe_psql('postgres',
		"SELECT holder FROM lockservice.leases_live WHERE name = 'b1'"),
	'me',
	'--holder sets the holder');

($rc, $out) = lc_cmd($node, 'acquire', 'b1', '--holder', 'me');
is($rc, 0, 'the same holder acquiring again succeeds');
is($out, $token, '... with the same token');

($rc, $out, $err) = lc_cmd($node, 'acquire', 'b1');
is($rc, 2, 'acquire of a held lock exits 2');
is($out, '', '... printing no token');
like($err, qr/b1 is held by me \(token $token/, '... naming the holder');

my $t0 = lc_now();
($rc, $out, $err) = lc_cmd($node, 'acquire', 'b1', '--wait', '500ms');
my $waited = lc_now() - $t0;
is($rc, 2, 'acquire --wait 500ms of a held lock exits 2');
cmp_ok($waited, '>=', 0.45, '... after waiting');
cmp_ok($waited, '<', 10, '... not much longer than the wait');

($rc) = lc_cmd($node, 'renew', 'b1', $token);
is($rc, 0, 'renew exits 0');
($rc) = lc_cmd($node, 'renew', 'b1', $token, '--ttl', '1h');
is($rc, 0, 'renew --ttl exits 0');
cmp_ok(
	$node->safe_psql('postgres',
		"SELECT extract(epoch FROM remaining) FROM lockservice.leases_live WHERE name = 'b1'"),
	'>', 3000, 'renew --ttl 1h extends the lease to an hour');
($rc) = lc_cmd($node, 'check', 'b1', $token);
is($rc, 0, 'check of the live lease exits 0');
($rc, $out, $err) = lc_cmd($node, 'check', 'b1', $token + 1000);
is($rc, 2, 'check with another token exits 2');
like($err, qr/not held/, '... saying it is not held');

# list and leader
($rc, $out) = lc_cmd($node, 'list');
is($rc, 0, 'list exits 0');
like($out, qr/^NAME\s+KIND\s+HOLDER\s+OWNER\s+TOKEN\s+SESSION\s+EXPIRES IN\s+WAITERS$/m, 'list prints a header');
like($out, qr/^b1\s+exclusive\s+me\s+\S+\s+$token\s+-\s+\d+\.\ds\s/m, 'list shows the lease');
($rc, $out) = lc_cmd($node, 'list', '--json');
is($rc, 0, 'list --json exits 0');
like($out, qr/^\[\{.*"name": "b1".*\}\]$/s, 'list --json prints an array');
like($out, qr/"token": $token\b/, 'list --json shows the lease\'s token');
like($out, qr/"holder": "me"/, 'list --json shows the holder');
like($out, qr/"remaining_seconds": \d+\.\d+/, 'list --json shows the remaining seconds');
($rc, $out) = lc_cmd($node, 'leader', 'b1');
is($rc, 0, 'leader exits 0');
is($out, "me\t$token", 'leader prints holder and token');
($rc, $out) = lc_cmd($node, 'leader', 'b1', '--json');
like($out, qr/^\{.*"holder": "me".*\}$/, 'leader --json prints an object');
like($out, qr/"token": $token\b/, 'leader --json shows the token');
($rc, $out, $err) = lc_cmd($node, 'leader', 'nobody-holds-this');
is($rc, 2, 'leader of a free lock exits 2');
like($err, qr/nobody holds/, '... saying so');

($rc) = lc_cmd($node, 'release', 'b1', $token);
is($rc, 0, 'release exits 0');
is(lc_live_token($node, 'b1'), '', 'the lease is gone');
($rc, $out, $err) = lc_cmd($node, 'release', 'b1', $token);
is($rc, 2, 'a second release exits 2');
($rc) = lc_cmd($node, 'renew', 'b1', $token);
is($rc, 2, 'renew of a released lease exits 2');

# waiting acquire gets the lease when it is released
($rc, $token) = lc_cmd($node, 'acquire', 'b2', '--ttl', '30s');
my $waiter = lc_start($node, 'acquire', 'b2', '--wait', '60s');
ok( $node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM pg_stat_activity WHERE query LIKE '%lock_acquire%' AND state = 'active' AND pid <> pg_backend_pid()"),
	'acquire --wait is waiting');
lc_cmd($node, 'release', 'b2', $token);
is(lc_wait($waiter, 30), 0, 'the waiter acquires once the lease is released');
chomp(my $t2 = $waiter->{stdout});
cmp_ok($t2, '>', $token, '... with a higher token');
is(lc_live_token($node, 'b2'), $t2, '... and the lease is live');

# a waiter killed while waiting is never granted the lease
($rc, $token) = lc_cmd($node, 'acquire', 'b3', '--ttl', '30s');
$waiter = lc_start($node, 'acquire', 'b3', '--wait', 'forever', '--holder', 'ghost');
ok( $node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM pg_stat_activity WHERE query LIKE '%lock_acquire%' AND state = 'active' AND pid <> pg_backend_pid()"),
	'acquire --wait forever is waiting');
lc_signal($waiter, 'KILL');
lc_wait($waiter, 10);
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE query LIKE '%lock_acquire%' AND pid <> pg_backend_pid()"),
	'the killed waiter\'s backend goes away');
lc_cmd($node, 'release', 'b3', $token);
is($node->safe_psql('postgres',
		"SELECT count(*) FROM lockservice.leases_live WHERE name = 'b3'"),
	'0', 'the killed waiter was not granted the lease');

# ---- watch (events are sent by hand: the payload contract) ----
my $w_all = lc_start($node, 'watch');
my $w_one = lc_start($node, 'watch', 'w1', '--json');
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 2 FROM pg_stat_activity WHERE query LIKE 'LISTEN%'"),
	'watch is listening');
$node->safe_psql('postgres',
	q{NOTIFY lockservice, '{"event":"acquired","name":"w1","holder":"h1","token":42}'});
$node->safe_psql('postgres',
	q{NOTIFY lockservice, '{"event":"released","name":"w2","holder":"h\\"2","token":43}'});
$node->safe_psql('postgres',
	q{NOTIFY lockservice, '{"event":"taken_over","name":"w1","holder":"h3","token":44,"previous_holder":"h1","previous_token":42,"at":"2026-01-02 03:04:05.678+00"}'});
$node->safe_psql('postgres', q{NOTIFY other_channel, 'x'});
ok( lc_poll(sub { lc_slurp($w_all->{out}) =~ /taken_over w1/ && lc_slurp($w_one->{out}) =~ /taken_over/ }, 30),
	'watch printed the events');
lc_signal($_, 'INT') for ($w_all, $w_one);
is(lc_wait($w_all, 10), 0, 'watch exits 0 on SIGINT');
is(lc_wait($w_one, 10), 0, 'watch NAME exits 0 on SIGINT');
# (real events of earlier tests may arrive too: look at w1 and w2 only)
my @lines = grep { / w[12] / } split /\n/, $w_all->{stdout};
like($lines[0] // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4} /,
	'watch: an event without "at" is stamped with the local time');
is_deeply(
	[ map { s/^\S+ //r } @lines ],
	[
		'acquired w1 holder=h1 token=42',
		'released w2 holder=h"2 token=43',
		'taken_over w1 holder=h3 token=44 previous_holder=h1 previous_token=42'
	],
	'watch prints one line per event') or diag $w_all->{stdout};
like($lines[2] // '', qr/^2026-01-02T03:04:05\.678\+00 taken_over/,
	'watch: an event with "at" is stamped with the server\'s time');
is($w_one->{stdout},
	qq{{"event":"acquired","name":"w1","holder":"h1","token":42}\n}
	  . qq{{"event":"taken_over","name":"w1","holder":"h3","token":44,"previous_holder":"h1","previous_token":42,"at":"2026-01-02 03:04:05.678+00"}\n},
	'watch NAME --json prints that lock\'s payloads only, as received');

# real events, when the extension publishes them (lockservice.events)
SKIP:
{
	skip 'the installed lockservice publishes no events', 2
	  unless $node->safe_psql('postgres',
		"SELECT current_setting('lockservice.events', true)") eq 'on';
	my $w = lc_start($node, 'watch', 'real1');
	ok( $node->poll_query_until('postgres',
			"SELECT count(*) = 1 FROM pg_stat_activity WHERE query LIKE 'LISTEN%'"),
		'watch is listening for real events');
	(undef, my $t) = lc_cmd($node, 'acquire', 'real1', '--holder', 'rh');
	lc_cmd($node, 'release', 'real1', $t);
	ok( lc_poll(sub { lc_slurp($w->{out}) =~ /acquired real1 holder=rh token=$t\n.*released real1 holder=rh token=$t\n/s }, 30),
		'watch shows a real acquire and release');
	lc_signal($w, 'TERM');
	lc_wait($w, 10);
}

# ---- bad input: message, non-zero exit, nothing acquired, nothing run ----
my $marker = "$dir/must_not_exist";
my @bad = (
	[ [ 'acquire', 'bad1', '--bogus' ], qr/unrecognized option.*--bogus.*\n.*--help/s, 'unknown flag' ],
	[ [ 'acquire', 'bad1', '--ttl', '10x' ], qr/invalid duration for --ttl: "10x"/, 'bad ttl' ],
	[ [ 'acquire', 'bad1', '--ttl', '-5s' ], qr/invalid duration/, 'negative ttl' ],
	[ [ 'acquire', 'bad1', '--ttl', '0' ], qr/--ttl must be positive/, 'zero ttl' ],
	[ [ 'acquire', 'bad1', '--wait', 'soon' ], qr/invalid duration for --wait/, 'bad wait' ],
	[ [ 'acquire' ], qr/missing NAME/, 'missing name' ],
	[ [ 'acquire', 'bad1', 'bad1' ], qr/given more than once/, 'a name given twice' ],
	[ [ 'leader', 'bad1', 'extra' ], qr/too many arguments/, 'extra argument' ],
	[ [ 'renew', 'bad1', 'abc' ], qr/invalid token "abc"/, 'bad token' ],
	[ [ 'release', 'bad1' ], qr/missing NAME or TOKEN/, 'missing token' ],
	[ [ 'frobnicate' ], qr/unknown subcommand "frobnicate"/, 'unknown subcommand' ],
	[ [ '--frob', 'list' ], qr/unknown option "--frob"/, 'unknown global option' ],
	[ [ 'run', 'bad1', 'touch', $marker ], qr/missing "--" before the command/, 'run without --' ],
	[ [ 'run', 'bad1', '--' ], qr/missing the command after "--"/, 'run without a command' ],
	[ [ 'run', 'bad1', '--ttl', '5q', '--', 'touch', $marker ], qr/invalid duration for --ttl/, 'run with a bad ttl' ],
	[ [ 'run', 'bad1', '--grace', 'x', '--', 'touch', $marker ], qr/invalid duration for --grace/, 'run with a bad grace' ],
	[ [ 'run', 'bad1', '--frob', '--', 'touch', $marker ], qr/unrecognized option/, 'run with an unknown flag' ],
	[ [ 'run', 'bad1', '--ttl', '3s', '--margin', '5s', '--', 'touch', $marker ], qr/--margin must be shorter/, 'run with margin > ttl' ],
	[ [ 'run', '--', 'touch', $marker ], qr/missing NAME/, 'run without a name' ],
	[ [ 'elect', 'bad1', '--wait', '1s', '--', 'touch', $marker ], qr/elect waits without limit/, 'elect with --wait' ],
);
for my $case (@bad)
{
	my ($args, $re, $what) = @$case;
	($rc, $out, $err) = lc_cmd($node, @$args);
	is($rc, 1, "bad input ($what): exit 1");
	like($err, $re, "bad input ($what): message");
}
ok(!-e $marker, 'bad input: no command was run');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM lockservice.leases WHERE name = 'bad1'"),
	'0', 'bad input: nothing was acquired');

# unreachable server
my $port = PostgreSQL::Test::Cluster::get_free_port();
for my $args ([ 'acquire', 'bad2' ], [ 'run', 'bad2', '--', 'touch', $marker ], [ 'list' ])
{
	($rc, $out, $err) = lc_cmd(undef, '-d', "host=127.0.0.1 port=$port dbname=postgres", @$args);
	is($rc, 4, "unreachable server ($args->[0]): exit 4");
	like($err, qr/could not connect to the server: .*refused.*\n.*-d CONNINFO/,
		"unreachable server ($args->[0]): message says what to do");
}
ok(!-e $marker, 'unreachable server: no command was run');

# a database without the extension
$node->safe_psql('postgres', 'CREATE DATABASE noext');
($rc, $out, $err) = lc_cmd($node, '-d', 'dbname=noext', 'acquire', 'x');
is($rc, 1, 'database without the extension: exit 1');
like($err, qr/CREATE EXTENSION lockservice/, '... with a hint');

# a connection string wins over the environment; -d after the subcommand
($rc, $out) = lc_cmd($node, 'list', '-d', 'dbname=postgres');
is($rc, 0, '-d after the subcommand');

done_testing();
