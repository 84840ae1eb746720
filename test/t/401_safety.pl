# The lock-safety checker (test/safety/lscheck.c), short CI run.
#
# Builds the checker with gcc -Wall -Wextra -Werror against libpq, creates a
# node (not started: the checker owns the server, so that it can preload
# libfaketime, SIGKILL the postmaster and restart it), then runs:
#
#  1. a fenced run with every nemesis (pause, pg_terminate_backend, SIGKILL
#     of the postmaster, expiry bursts, forward clock steps): all five
#     checks must pass;
#  2. the same clients writing WITHOUT fence() under the pause nemesis: the
#     checker must report violations of check 2 (the register accepted a
#     lower token after a higher one) and exit non-zero -- proof that it can
#     fail.  The lease checks (1, 3, 4, 5) must still pass there.
#  3. and 4. the same two in session mode (--sessions 2): each client opens a
#     session, takes two names in it all or nothing (lock_acquire_all),
#     renews the session, not the locks, and releases them one by one or
#     closes the session; SIGSTOP past the session's ttl ends both locks.
#
# The seed is fixed (LSCHECK_SEED overrides it) and printed; timing is not
# reproducible, the fault kinds and targets are.  LSCHECK_CLIENTS and
# LSCHECK_DURATION override the size of the fenced run.  The checker's logs
# stay in tmp_check/lscheck-*/ (client-NN.log, nemesis.log, register.tsv,
# server.log).
#
# The clock nemesis needs Debian's libfaketime; without it the checker
# skips that nemesis and says so (noted here).

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use LSTest;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $root = "$FindBin::RealBin/../..";
my $src = "$root/test/safety/lscheck.c";
my $tmp = $PostgreSQL::Test::Utils::tmp_check;
my $bin = "$tmp/lscheck";
my $seed = $ENV{LSCHECK_SEED} // 20240607;
my $clients = $ENV{LSCHECK_CLIENTS} // 8;
my $duration = $ENV{LSCHECK_DURATION} // 45;

# ---- build ----------------------------------------------------------------
my ($incdir, $err) = ('', '');
IPC::Run::run([ 'pg_config', '--includedir' ], '>', \$incdir, '2>', \$err)
  or BAIL_OUT("pg_config --includedir failed: $err");
chomp $incdir;
my $bindir = '';
IPC::Run::run([ 'pg_config', '--bindir' ], '>', \$bindir, '2>', \$err)
  or BAIL_OUT("pg_config --bindir failed: $err");
chomp $bindir;
my ($out, $cerr) = ('', '');
my $built = IPC::Run::run(
	[
		'gcc', '-Wall', '-Wextra', '-Werror', '-O2', '-o', $bin, $src,
		"-I$incdir", '-lpq'
	],
	'>', \$out, '2>', \$cerr);
ok($built, 'lscheck builds with gcc -Wall -Wextra -Werror') or diag $cerr;
BAIL_OUT('cannot build the checker') unless $built;

# run the checker; returns (exit status, output)
sub lscheck
{
	my ($node, $tag, @args) = @_;
	my $outdir = "$tmp/lscheck-$tag";
	my $output = '';
	my @cmd = (
		$bin,
		'--pgdata' => $node->data_dir,
		'--host' => $node->host,
		'--port' => $node->port,
		'--bindir' => $bindir,
		'--out' => $outdir,
		'--seed' => $seed,
		@args);
	note "running: @cmd";
	my $h = IPC::Run::start(\@cmd, '<', \undef, '>&', \$output,
		IPC::Run::timeout(900));
	eval { $h->finish; };
	if ($@)
	{
		$h->kill_kill;
		diag "lscheck timed out: $@";
		return (-1, $output);
	}
	my $rc = $h->result(0);
	# the whole report, violations and history slices included
	note $_ for split /\n/, $output;
	return ($rc, $output);
}

sub check_line
{
	my ($output, $n) = @_;
	return $output =~ /^(check $n [^:]*: (PASS|FAIL) .*)$/m ? ($1, $2) : ('', '');
}

# ---- 1. fenced, every nemesis -------------------------------------------
my $node = PostgreSQL::Test::Cluster->new('safety');
$node->init;

my ($rc, $report) = lscheck(
	$node, 'fenced',
	'--clients' => $clients,
	'--names' => 3,
	'--duration' => $duration,
	'--ttl' => 1500,
	'--reap-interval' => 1000,
	'--nemesis' => 'all');

like($report, qr/^lscheck: seed $seed,/m, "fenced run: seed $seed printed");
if ($report =~ /^NOTE: clock nemesis skipped: (.*)$/m)
{
	note "clock nemesis skipped: $1";
}
else
{
	like($report, qr/^clock nemesis took effect/m,
		'fenced run: the forward clock steps reached the server (libfaketime)');
}
for my $k (qw(pause terminate kill expire))
{
	like($report, qr/^nemesis:.* $k [1-9][0-9]*;/m,
		"fenced run: nemesis $k ran at least once");
}
like($report, qr/^operations .* write [1-9][0-9]*\//m,
	'fenced run: acknowledged writes happened');
for my $n (1 .. 5)
{
	my ($line, $verdict) = check_line($report, $n);
	is($verdict, 'PASS', "fenced run: check $n passes") or diag $line;
}
is($rc, 0, 'fenced run: lscheck exits 0');
like($report, qr/^RESULT: PASS/m, 'fenced run: RESULT: PASS');

# ---- 2. the checker can fail: no fencing, pause nemesis ------------------
($rc, $report) = lscheck(
	$node, 'unfenced',
	'--clients' => 6,
	'--names' => 2,
	'--duration' => 20,
	'--ttl' => 1000,
	'--nemesis' => 'pause',
	'--no-fence');

my ($line2, $verdict2) = check_line($report, 2);
is($verdict2, 'FAIL', 'unfenced run: check 2 (register) FAILS') or diag $line2;
like($line2, qr/, [1-9][0-9]* accepted with a lower token/,
	'unfenced run: lower-token writes counted');
like($report, qr/^VIOLATION check 2: register lock-\d+ accepted token \d+ \(row \d+\) after token \d+/m,
	'unfenced run: a violation is printed');
like($report, qr/^  history of lock-\d+, server time/m,
	'unfenced run: with the history slice that shows it');
for my $n (1, 3, 4, 5)
{
	my ($line, $verdict) = check_line($report, $n);
	is($verdict, 'PASS', "unfenced run: lease check $n still passes") or diag $line;
}
is($rc, 1, 'unfenced run: lscheck exits 1');
like($report, qr/^RESULT: FAIL/m, 'unfenced run: RESULT: FAIL');

# ---- 3. sessions: every lock of a session, every nemesis -----------------
my $sess_duration = $ENV{LSCHECK_SESSION_DURATION} // 30;
($rc, $report) = lscheck(
	$node, 'sessions',
	'--clients' => $clients,
	'--names' => 3,
	'--sessions' => 2,
	'--duration' => $sess_duration,
	'--ttl' => 1500,
	'--reap-interval' => 1000,
	'--nemesis' => 'all');
for my $k (qw(pause terminate kill expire))
{
	like($report, qr/^nemesis:.* $k [1-9][0-9]*;/m,
		"session run: nemesis $k ran at least once");
}
like($report, qr/^operations .*acquire [1-9][0-9]*\/.* renew [1-9][0-9]*\/.* write [1-9][0-9]*\//m,
	'session run: grants, session renewals and acknowledged writes happened');
for my $n (1 .. 5)
{
	my ($line, $verdict) = check_line($report, $n);
	is($verdict, 'PASS', "session run: check $n passes") or diag $line;
}
is($rc, 0, 'session run: lscheck exits 0');

# ---- 4. sessions without fencing: the checker still fails ----------------
($rc, $report) = lscheck(
	$node, 'sessions-unfenced',
	'--clients' => 6,
	'--names' => 2,
	'--sessions' => 2,
	'--duration' => 20,
	'--ttl' => 1000,
	'--nemesis' => 'pause',
	'--no-fence');
($line2, $verdict2) = check_line($report, 2);
is($verdict2, 'FAIL', 'unfenced session run: check 2 (register) FAILS') or diag $line2;
for my $n (1, 3, 4, 5)
{
	my ($line, $verdict) = check_line($report, $n);
	is($verdict, 'PASS', "unfenced session run: lease check $n still passes") or diag $line;
}
is($rc, 1, 'unfenced session run: lscheck exits 1');

done_testing();
