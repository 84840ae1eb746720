
# Copyright: lockservice project
#
# Helpers shared by the lockservice TAP tests in test/t/*.pl.
# Load with:  use FindBin; use lib $FindBin::RealBin; use LSTest;
#
# Nothing here is a test by itself; functions return values and the .pl files
# make the assertions.

package LSTest;

use strict;
use warnings;

use Exporter 'import';
use Time::HiRes qw(time usleep);
use Test::More;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;

our @EXPORT =
  qw(ls_node ls_sql ls_sqlstate ls_hint max_of min_of ls_kill9 ls_start_after_crash ls_failover);

# ls_node(NAME, preload => 0|1, conf => "extra postgresql.conf lines",
#         init => { init params }, start => 1, create => 1)
# Creates, starts and (unless create => 0) runs CREATE EXTENSION lockservice.
sub ls_node
{
	my ($name, %p) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%{ $p{init} // {} });
	$node->append_conf('postgresql.conf',
		"shared_preload_libraries = 'lockservice'")
	  if $p{preload};
	$node->append_conf('postgresql.conf', $p{conf}) if defined $p{conf};
	return $node if defined $p{start} && !$p{start};
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION lockservice')
	  unless defined $p{create} && !$p{create};
	return $node;
}

# ls_sql(NODE, SQL): like safe_psql on database postgres, returns stdout.
sub ls_sql
{
	my ($node, $sql) = @_;
	return $node->safe_psql('postgres', $sql);
}

# ls_sqlstate(NODE, SQL, timeout => SECONDS)
# Runs SQL (psql, ON_ERROR_STOP, VERBOSITY verbose).  In scalar context
# returns the SQLSTATE of the first error, or '' when there was none.  In list
# context returns (sqlstate, stdout, stderr).
sub ls_sqlstate
{
	my ($node, $sql, %p) = @_;
	my ($out, $err) = ('', '');
	my $timed_out = 0;
	$node->psql(
		'postgres', "\\set VERBOSITY verbose\n$sql",
		stdout => \$out,
		stderr => \$err,
		on_error_stop => 1,
		timeout => $p{timeout} // $PostgreSQL::Test::Utils::timeout_default,
		timed_out => \$timed_out);
	my $state = '';
	$state = $1 if $err =~ /(?:ERROR|FATAL):\s+([0-9A-Z]{5}):/;
	$state = 'TIMEOUT' if $timed_out;
	return wantarray ? ($state, $out, $err) : $state;
}

# ls_hint(STDERR): the HINT line of a verbose error report, or ''
sub ls_hint
{
	my ($err) = @_;
	return $err =~ /^HINT:\s+(.*)$/m ? $1 : '';
}

# ls_kill9(NODE): SIGKILL the postmaster; returns its PID
sub ls_kill9
{
	my ($node) = @_;
	my $pid = $node->{_pid};
	$node->kill9;
	return $pid;
}

# ls_start_after_crash(NODE, OLDPID): start a node whose postmaster was
# killed with ls_kill9.  Waits for the old postmaster to be gone, and retries
# while its children still hold the shared memory (the new postmaster refuses
# to start until they noticed the postmaster's death and exited).
sub ls_start_after_crash
{
	my ($node, $oldpid) = @_;
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	while (time < $deadline)
	{
		if (defined $oldpid && kill(0, $oldpid))
		{
			usleep(50_000);    # poll: old postmaster still exiting
			next;
		}
		$node->{_pid} = undef;
		return 1 if $node->start(fail_ok => 1);
		usleep(200_000);       # poll: old children still exiting
	}
	return 0;
}

# ls_failover(PRIMARY, NAME, CONF, NEW PARAMS...): a failover.  A streaming
# standby NAME of PRIMARY (from a backup; CONF appended to its
# postgresql.conf; NEW PARAMS for PostgreSQL::Test::Cluster->new, such as
# install_path), caught up; PRIMARY stops (immediate) and NAME is promoted:
# returns it, on the next timeline.
sub ls_failover
{
	my ($primary, $name, $conf, %p) = @_;
	$primary->backup("bk_$name");
	my $node = PostgreSQL::Test::Cluster->new($name, %p);
	$node->init_from_backup($primary, "bk_$name", has_streaming => 1);
	$node->append_conf('postgresql.conf', $conf);
	$node->start;
	$primary->wait_for_catchup($node, 'replay', $primary->lsn('insert'));
	$primary->stop('immediate');
	$node->promote;
	$node->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()')
	  or die "the standby $name was not promoted";
	return $node;
}

# Tokens are bigints: Perl on 64-bit builds compares them exactly as IVs.
sub max_of
{
	my $m;
	for (@_) { $m = $_ if !defined $m || $_ > $m; }
	return $m;
}

sub min_of
{
	my $m;
	for (@_) { $m = $_ if !defined $m || $_ < $m; }
	return $m;
}

# ---------------------------------------------------------------------------
# LSTest::Session: a background psql session that can start a statement and
# come back for its result later (waiters, open transactions).
# ---------------------------------------------------------------------------
package LSTest::Session;

use strict;
use warnings;
use Time::HiRes qw(time usleep);
use Test::More;

sub new
{
	my ($class, $node, %p) = @_;
	my $bg = $node->background_psql($p{db} // 'postgres', on_error_stop => 0);
	$bg->set_query_timer_restart;
	$bg->query_safe("\\set VERBOSITY verbose");
	$bg->query_safe($p{setup}) if defined $p{setup};
	my $pid = $bg->query_safe('SELECT pg_backend_pid()');
	chomp $pid;
	return bless { bg => $bg, pid => $pid, node => $node, n => 0 }, $class;
}

sub pid { return $_[0]->{pid}; }

# Run SQL to completion; returns stdout (dies on an error, like query_safe).
sub run
{
	my ($self, $sql) = @_;
	my $out = $self->{bg}->query_safe($sql);
	chomp $out;
	return $out;
}

# Start SQL (one statement, no trailing semicolon needed) and return as soon
# as psql has sent it; collect the outcome with result().
sub send
{
	my ($self, $sql) = @_;
	my $n = ++$self->{n};
	my $bg = $self->{bg};
	$self->{marker} = "ls_session_done_$n";
	$bg->{stderr} = '';
	my $got = $bg->query_until(qr/ls_session_sent_$n\n/,
		    "\\echo ls_session_sent_$n\n$sql\n;\n"
		  . "\\echo $self->{marker}\n\\warn $self->{marker}\n");
	# query_until empties stdout after its match: a statement that finished
	# before the harness read the "sent" line (a fast one, a loaded machine)
	# has its output, and the done marker, in what it returned
	$bg->{stdout} = $1 . $bg->{stdout} if $got =~ /ls_session_sent_$n\n(.*)\z/s;
	$self->{sent_at} = time;
	return;
}

# true once the statement started with send() has finished
sub done
{
	my ($self) = @_;
	my $bg = $self->{bg};
	$bg->{run}->pump_nb;
	my $m = $self->{marker};
	return $bg->{stdout} =~ /\Q$m\E\n/ && $bg->{stderr} =~ /\Q$m\E\n/;
}

# Wait up to TIMEOUT seconds (default: the suite's timeout) for the statement
# started with send().  Returns (stdout, stderr, sqlstate) or an empty list
# when it has not finished in time.  Sets $self->{done_at} (Time::HiRes).
sub result
{
	my ($self, $timeout) = @_;
	$timeout //= $PostgreSQL::Test::Utils::timeout_default;
	my $deadline = time + $timeout;
	while (!$self->done)
	{
		return () if time > $deadline;
		usleep(5_000);    # poll interval while waiting for output
	}
	$self->{done_at} = time;
	my $bg = $self->{bg};
	my $m = $self->{marker};
	my $out = $bg->{stdout};
	my $err = $bg->{stderr};
	$out =~ s/\Q$m\E\n//;
	$err =~ s/\Q$m\E\n//;
	chomp $out;
	chomp $err;
	$bg->{stdout} = '';
	$bg->{stderr} = '';
	my $state = $err =~ /ERROR:\s+([0-9A-Z]{5}):/ ? $1 : '';
	return ($out, $err, $state);
}

# Poll pg_stat_activity (from another connection) until this session runs a
# statement matching LIKE pattern and, with event => 1, shows wait event
# Extension/Extension.  Returns true on success.
sub wait_until_waiting
{
	my ($self, %p) = @_;
	my $like = $p{like} // '%lock_acquire%';
	$like =~ s/'/''/g;
	my $cond =
	  $p{event}
	  ? "wait_event_type = 'Extension' AND wait_event = 'Extension'"
	  : 'true';
	return $self->{node}->poll_query_until('postgres',
		    "SELECT state = 'active' AND query LIKE '$like' AND $cond "
		  . "FROM pg_catalog.pg_stat_activity WHERE pid = $self->{pid}");
}

sub quit
{
	my ($self) = @_;
	my $bg = $self->{bg};
	$bg->{run}->pump_nb;
	if ($bg->{run}->pumpable)
	{
		$bg->quit;
	}
	else
	{
		$bg->{run}->finish;
	}
	return;
}

1;
