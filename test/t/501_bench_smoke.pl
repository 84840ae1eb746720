
# The benchmark harness still works: bench/run.sh --quick (every figure but
# the soak, each briefly, against the installed extension) starts its own
# server, checks lockservice's counters after every run (a release for every
# grant, every renew true), exits 0, and writes the summary with every
# figure's ratios and the charts.  Figures are not judged here: performance
# is measured by the full run, never in a test.

use strict;
use warnings;

use FindBin;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;

my $root = "$FindBin::RealBin/../..";
my $results = PostgreSQL::Test::Utils::tempdir();
my ($out, $err) = ('', '');

my $ok = IPC::Run::run(
	[
		'bash', "$root/bench/run.sh", '--quick', '--build', 'installed',
		'--results', $results
	],
	'<', \undef, '>', \$out, '2>', \$err);
ok($ok, 'bench/run.sh --quick exits 0')
  or diag("stdout:\n$out\nstderr:\n$err");
like($out . $err, qr/^\[[^\]]*\] done in /m, '... and says it is done');
unlike($out . $err, qr/CHECK FAILED/, '... with no failed check');

my $summary = -e "$results/summary.md" ? slurp_file("$results/summary.md") : '';
for my $fig (1, 2, 3, 4, 6, 7, 10)
{
	like($summary, qr/^\| $fig \| .* \| (met|MISSED|info) \|/m,
		"summary.md has the ratios of figure $fig");
}
like($summary, qr/^- figure 1: measured .*, extension built from the installed files/m,
	'summary.md says what it measured');

SKIP:
{
	skip 'gnuplot is not installed: no charts', 2
	  unless grep { -x "$_/gnuplot" } split /:/, $ENV{PATH} // '';
	ok(-s "$results/sweep.png", 'the client-count chart is drawn');
	ok(-s "$results/handoff_latency.png", 'the hand-off latency chart is drawn');
}

done_testing();
