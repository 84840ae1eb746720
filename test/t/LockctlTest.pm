
# Copyright: lockservice project
#
# Helpers for the lockctl TAP tests (test/t/1*_lockctl*.pl).
# Load with:  use FindBin; use lib $FindBin::RealBin; use LockctlTest;
#
# Which lockctl is tested, first found of:
#   1. $ENV{LOCKCTL}, a path to the binary;
#   2. clients/c/lockctl built in this source tree (make);
#   3. lockctl on PATH (make install puts it in pg_config --bindir).
#
# lockctl is started with PGHOST, PGPORT and PGDATABASE of the node given,
# its output going to files in a temporary directory.  Nothing here is a
# test by itself: functions return values and the .pl files assert.

package LockctlTest;

use strict;
use warnings;

use Exporter 'import';
use File::Spec;
use FindBin;
use POSIX qw(WNOHANG);
use Time::HiRes qw(time usleep);
use Test::More;
use PostgreSQL::Test::Utils;

our @EXPORT = qw(lockctl_path lc_node lc_tempdir lc_cmd lc_start lc_wait
  lc_alive lc_signal lc_poll lc_slurp lc_live_token lc_stamps lc_pid_alive
  lc_now);

my $lockctl;
my $tempdir;
my $seq = 0;
my @started;    # handles of every lockctl started, for the END block

# a test that dies must not leave lockctl processes behind (an elect would
# campaign forever): SIGKILL those still running; their commands die with
# them (PR_SET_PDEATHSIG)
END
{
	for my $h (@started)
	{
		kill('KILL', $h->{pid}) if !defined $h->{exit} && $h->{pid};
	}
}

# lockctl_path(): the lockctl binary under test (see above); bails out when
# there is none.
sub lockctl_path
{
	return $lockctl if defined $lockctl;
	my $tree = File::Spec->catfile($FindBin::RealBin, '..', '..', 'clients',
		'c', 'lockctl');
	if (defined $ENV{LOCKCTL} && $ENV{LOCKCTL} ne '')
	{
		$lockctl = $ENV{LOCKCTL};
	}
	elsif (-x $tree)
	{
		$lockctl = $tree;
	}
	else
	{
		for my $dir (split /:/, $ENV{PATH} // '')
		{
			my $p = File::Spec->catfile($dir, 'lockctl');
			if (-x $p)
			{
				$lockctl = $p;
				last;
			}
		}
	}
	BAIL_OUT('lockctl not found: set LOCKCTL, or run make (clients/c/lockctl) or make install')
	  unless defined $lockctl && -x $lockctl;
	note "testing $lockctl";
	return $lockctl;
}

# lc_node(NAME, conf => "lines"): a preloaded, started node with lockservice
sub lc_node
{
	my ($name, %p) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf',
		"shared_preload_libraries = 'lockservice'\n" . ($p{conf} // ''));
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION lockservice');
	return $node;
}

sub lc_tempdir
{
	$tempdir //= PostgreSQL::Test::Utils::tempdir('lockctl');
	return $tempdir;
}

# the environment lockctl runs with: the node's host and port, or none
sub _env_for
{
	my ($node, $extra) = @_;
	my %env = %ENV;
	delete @env{ grep { /^PG/ } keys %env };
	if (defined $node)
	{
		$env{PGHOST} = $node->host;
		$env{PGPORT} = $node->port;
		$env{PGDATABASE} = 'postgres';
	}
	%env = (%env, %{ $extra // {} });
	return \%env;
}

# lc_start(NODE, ARGS..., {env => {...}}): starts lockctl ARGS in the
# background.  Returns a handle: pid, out/err file names, started (time).
sub lc_start
{
	my ($node, @args) = @_;
	my $opts = ref $args[-1] eq 'HASH' ? pop @args : {};
	my $n = ++$seq;
	my $dir = lc_tempdir();
	my $h = {
		out => "$dir/lockctl_$n.out",
		err => "$dir/lockctl_$n.err",
		args => [@args],
		started => time,
	};
	my $env = _env_for($node, $opts->{env});
	my $bin = lockctl_path();
	my $pid = fork;
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		%ENV = %$env;
		open(STDIN, '<', '/dev/null') or die;
		open(STDOUT, '>', $h->{out}) or die;
		open(STDERR, '>', $h->{err}) or die;
		exec($bin, @args) or POSIX::_exit(125);
	}
	$h->{pid} = $pid;
	push @started, $h;
	return $h;
}

# lc_wait(HANDLE, TIMEOUT): waits for a started lockctl; returns its exit
# code (128+N for signal N), or undef after TIMEOUT seconds.  Sets
# $h->{exit}, $h->{ended}, $h->{stdout}, $h->{stderr}.
sub lc_wait
{
	my ($h, $timeout) = @_;
	return $h->{exit} if defined $h->{exit};
	$timeout //= $PostgreSQL::Test::Utils::timeout_default;
	my $deadline = time + $timeout;
	while (1)
	{
		my $r = waitpid($h->{pid}, WNOHANG);
		if ($r == $h->{pid})
		{
			$h->{ended} = time;
			$h->{exit} = ($? & 127) ? 128 + ($? & 127) : $? >> 8;
			$h->{stdout} = lc_slurp($h->{out});
			$h->{stderr} = lc_slurp($h->{err});
			note "lockctl @{$h->{args}}: exit $h->{exit}\n"
			  . "stdout: $h->{stdout}\nstderr: $h->{stderr}";
			return $h->{exit};
		}
		return undef if time > $deadline;
		usleep(20_000);    # poll interval while waiting for lockctl
	}
}

# true while a started lockctl has not exited
sub lc_alive
{
	my ($h) = @_;
	return 0 if defined $h->{exit};
	return waitpid($h->{pid}, WNOHANG) == 0 ? 1 : do
	{
		$h->{ended} = time;
		$h->{exit} = ($? & 127) ? 128 + ($? & 127) : $? >> 8;
		$h->{stdout} = lc_slurp($h->{out});
		$h->{stderr} = lc_slurp($h->{err});
		note "lockctl @{$h->{args}}: exit $h->{exit}\n"
		  . "stdout: $h->{stdout}\nstderr: $h->{stderr}";
		0;
	};
}

sub lc_signal
{
	my ($h, $sig) = @_;
	return kill($sig, $h->{pid});
}

# lc_cmd(NODE, ARGS..., {env => {...}, timeout => S}): runs lockctl to the
# end; returns (exit code, stdout, stderr).
sub lc_cmd
{
	my ($node, @args) = @_;
	my $opts = ref $args[-1] eq 'HASH' ? $args[-1] : {};
	my $h = lc_start($node, @args);
	my $rc = lc_wait($h, $opts->{timeout} // 60);
	if (!defined $rc)
	{
		kill 'KILL', $h->{pid};
		lc_wait($h, 10);
		return ('TIMEOUT', $h->{stdout} // '', $h->{stderr} // '');
	}
	chomp(my $out = $h->{stdout});
	return ($rc, $out, $h->{stderr});
}

# lc_poll(CODE, TIMEOUT): calls CODE every 20 ms until it returns true;
# returns its value, or undef after TIMEOUT seconds.
sub lc_poll
{
	my ($code, $timeout) = @_;
	my $deadline = time + ($timeout // $PostgreSQL::Test::Utils::timeout_default);
	while (1)
	{
		my $v = $code->();
		return $v if $v;
		return undef if time > $deadline;
		usleep(20_000);    # poll interval for conditions
	}
}

# contents of a file, or '' when it does not exist
sub lc_slurp
{
	my ($file) = @_;
	return '' unless -e $file;
	open(my $fh, '<', $file) or return '';
	local $/;
	my $c = <$fh>;
	close $fh;
	return $c // '';
}

# the token of the live lease NAME, or '' when not held
sub lc_live_token
{
	my ($node, $name) = @_;
	return $node->safe_psql('postgres',
		"SELECT token FROM lockservice.leases_live WHERE name = '$name'");
}

# lc_stamps(FILE): lines "WORD TIME TOKEN" appended by test commands, as
# a list of [word, time, token]
sub lc_stamps
{
	my ($file) = @_;
	return map { [split / /] } grep { /\S/ } split /\n/, lc_slurp($file);
}

# true while process PID exists and is not a zombie
sub lc_pid_alive
{
	my ($pid) = @_;
	return 0 unless kill(0, $pid);
	my $stat = lc_slurp("/proc/$pid/stat");
	return 0 if $stat =~ /^\d+ \(.*\) Z /s;
	return 1;
}

sub lc_now { return time; }

1;
