
# Copyright: lockservice project
#
# Helpers for the TAP tests of the reaper, events and statistics
# (test/t/2*_*.pl).  Load with:
#   use FindBin; use lib $FindBin::RealBin; use LSTest; use LSReaper;
#
# Nothing here asserts anything except rn_node (which checks that the
# configured reap interval is in effect, see there); the .pl files make the
# assertions.

package LSReaper;

use strict;
use warnings;

use Exporter 'import';
use Time::HiRes qw(time usleep);
use Test::More;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;

our @EXPORT = qw(rn_node rn_sql rn_reaper_pids rn_wait_reaper rn_wait_no_reaper
  rn_server_wait rn_log_offset rn_log_since rn_worker_trouble rn_worker_lines rn_dboid
  rn_stats rn_reaper_row);

# Log lines carry the backend type (%b), so reaper and launcher lines can be
# told apart from the rest.
our $LOG_PREFIX = "log_line_prefix = '%m [%p] %b: %q%a '";

# rn_node(NAME, preload => 1, interval => '200ms', conf => "...",
#         init => {...}, create => 1, start => 1)
# A node with lockservice preloaded (unless preload => 0), reap_interval as
# given, and log lines that name the backend type.  After start it checks
# (one ok()) that postgresql.conf's lockservice.reap_interval is the value in
# effect; when it is not (a known bug: the setting was dropped while the
# library loaded), it reloads the configuration so that the file's other
# tests still test their own behaviour.
sub rn_node
{
	my ($name, %p) = @_;
	my $preload = $p{preload} // 1;
	my $interval = $p{interval} // '200ms';
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%{ $p{init} // {} });
	my $conf = "$LOG_PREFIX\nlockservice.reap_interval = '$interval'\n";
	$conf .= "shared_preload_libraries = 'lockservice'\n" if $preload;
	$conf .= "$p{conf}\n" if defined $p{conf};
	$node->append_conf('postgresql.conf', $conf);
	return $node if defined $p{start} && !$p{start};
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION lockservice')
	  unless defined $p{create} && !$p{create};
	rn_check_interval($node, $interval) if $preload;
	return $node;
}

# One ok(): SHOW lockservice.reap_interval equals the configured value in a
# fresh session.  Reloads when it does not (see rn_node).
sub rn_check_interval
{
	my ($node, $interval) = @_;
	my $shown = $node->safe_psql('postgres', 'SHOW lockservice.reap_interval');
	my $ok = ok(_same_ms($shown, $interval),
		$node->name
		  . ": lockservice.reap_interval from postgresql.conf is in effect after start (shows $shown, configured $interval)"
	);
	if (!$ok)
	{
		diag 'server log: '
		  . join('',
			grep { /reap_interval|reserved prefix/ }
			  split /^/, slurp_file($node->logfile));
		$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
		$node->poll_query_until('postgres',
			"SELECT setting::bigint = " . _ms($interval)
			  . " FROM pg_catalog.pg_settings WHERE name = 'lockservice.reap_interval'"
		);
		usleep(1_200_000);    # let the workers process the SIGHUP (applied after the old interval)
	}
	return $ok;
}

sub _ms
{
	my ($v) = @_;
	return $1 if $v =~ /^\s*(\d+)\s*ms\s*$/;
	return $1 * 1000 if $v =~ /^\s*(\d+)\s*s\s*$/;
	return $1 * 60_000 if $v =~ /^\s*(\d+)\s*min\s*$/;
	return $1 * 3_600_000 if $v =~ /^\s*(\d+)\s*h\s*$/;
	return $1 if $v =~ /^\s*(\d+)\s*$/;
	return -1;
}

sub _same_ms { return _ms($_[0]) == _ms($_[1]); }

# rn_sql(NODE, DB, SQL): safe_psql on DB.
sub rn_sql
{
	my ($node, $db, $sql) = @_;
	return $node->safe_psql($db, $sql);
}

# OID of a database
sub rn_dboid
{
	my ($node, $db) = @_;
	return $node->safe_psql('postgres',
		"SELECT oid FROM pg_catalog.pg_database WHERE datname = '$db'");
}

# Pids of the reapers connected to DB, from pg_stat_activity (works with
# and without preloading).
sub rn_reaper_pids
{
	my ($node, $db) = @_;
	my $out = $node->safe_psql('postgres',
		"SELECT pid FROM pg_catalog.pg_stat_activity
		  WHERE backend_type = 'lockservice reaper' AND datname = '$db'
		  ORDER BY pid");
	return grep { /\d/ } split /\n/, $out;
}

# rn_wait_reaper(NODE, DB, not => OLDPID, timeout => S)
# Waits until exactly one reaper is connected to DB (and, with not, it is not
# OLDPID).  Returns (pid, seconds waited), or (undef, seconds) on timeout.
sub rn_wait_reaper
{
	my ($node, $db, %p) = @_;
	my $timeout = $p{timeout} // $PostgreSQL::Test::Utils::timeout_default;
	my $t0 = time;
	while (1)
	{
		my @pids = rn_reaper_pids($node, $db);
		if (@pids == 1 && (!defined $p{not} || $pids[0] != $p{not}))
		{
			return ($pids[0], time - $t0);
		}
		return (undef, time - $t0) if time - $t0 > $timeout;
		usleep(50_000);    # poll interval
	}
}

# rn_wait_no_reaper(NODE, DB, timeout => S): waits until no reaper is
# connected to DB; returns seconds waited, or undef on timeout.
sub rn_wait_no_reaper
{
	my ($node, $db, %p) = @_;
	my $timeout = $p{timeout} // $PostgreSQL::Test::Utils::timeout_default;
	my $t0 = time;
	while (rn_reaper_pids($node, $db))
	{
		return undef if time - $t0 > $timeout;
		usleep(50_000);    # poll interval
	}
	return time - $t0;
}

# The row of reaper_status() for database DB as a hash (preloaded), or undef.
# Times are epoch seconds (server clock).
sub rn_reaper_row
{
	my ($node, $db) = @_;
	my $out = $node->safe_psql($db,
		"SELECT pid, extract(epoch FROM started_at), extract(epoch FROM last_run), reaped, deleted
		   FROM lockservice.reaper_status()
		  WHERE datid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())"
	);
	return undef if $out eq '';
	my ($pid, $started, $last, $reaped, $deleted) = split /\|/, $out;
	return {
		pid => $pid,
		started_at => $started,
		last_run => $last,
		reaped => $reaped,
		deleted => $deleted
	};
}

# The counters of lockservice.stats as a hash (NULL -> undef).
sub rn_stats
{
	my ($node, $db) = @_;
	$db //= 'postgres';
	my $out = $node->safe_psql($db,
		"SELECT row_to_json(s) FROM lockservice.stats s");
	require JSON::PP;
	return JSON::PP::decode_json($out);
}

# rn_server_wait(NODE, DB, CONDITION_SQL, TIMEOUT_S, setup => SQL)
# Polls CONDITION_SQL (a boolean query) on the server every 10 ms, each time
# with a fresh snapshot, until it is true.  Returns the server's
# clock_timestamp() (epoch seconds) at which it was first seen true, or undef
# on timeout.  Measuring on the server keeps the client's scheduling out of
# the figure.
sub rn_server_wait
{
	my ($node, $db, $cond, $timeout, %p) = @_;
	$cond =~ s/'/''/g;
	my $setup = $p{setup} // '';
	my $out = $node->safe_psql(
		$db, qq{$setup
CREATE FUNCTION pg_temp.rn_wait(cond text, timeout float8) RETURNS float8
LANGUAGE plpgsql AS \$\$
DECLARE
	t0 timestamptz := pg_catalog.clock_timestamp();
	ok boolean;
BEGIN
	LOOP
		EXECUTE cond INTO ok;
		IF ok THEN
			RETURN extract(epoch FROM pg_catalog.clock_timestamp());
		END IF;
		IF pg_catalog.clock_timestamp() > t0 + timeout * interval '1 s' THEN
			RETURN NULL;
		END IF;
		PERFORM pg_catalog.pg_sleep(0.01);
	END LOOP;
END \$\$;
SELECT pg_temp.rn_wait('$cond', $timeout);},
		timeout => $timeout + 60);
	return $out eq '' ? undef : $out;
}

# Byte offset of the end of the node's log (for rn_log_since).
sub rn_log_offset
{
	my ($node) = @_;
	return -s $node->logfile;
}

# The node's log from byte OFFSET on.
sub rn_log_since
{
	my ($node, $offset) = @_;
	my $all = slurp_file($node->logfile);
	return substr($all, $offset // 0);
}

# Log lines written by a reaper or the launcher, or by the postmaster about
# one of them (not statements that mention them).
sub rn_worker_lines
{
	my ($text) = @_;
	return grep {
		/\] lockservice (?:reaper|launcher)[^:]*: /
		  || /postmaster: .*background worker "lockservice (?:reaper|launcher)"/
	} split /\n/, $text;
}

# Lines of log TEXT that show a lockservice worker in trouble: an ERROR,
# FATAL, PANIC or WARNING logged by a reaper or the launcher, or the
# postmaster reporting one of them exiting with an error or a signal.
sub rn_worker_trouble
{
	my ($text) = @_;
	return grep {
		/\] lockservice (?:reaper|launcher)[^:]*:\s+(?:ERROR|FATAL|PANIC|WARNING):/
		  || /background worker "lockservice (?:reaper|launcher)" \(PID \d+\) (?:exited with exit code [1-9]|was terminated by signal)/
	} split /\n/, $text;
}

# ---------------------------------------------------------------------------
# LSReaper::Listener: a background psql session that LISTENs on channel
# lockservice and collects the notifications, decoded.
# ---------------------------------------------------------------------------
package LSReaper::Listener;

use strict;
use warnings;
use JSON::PP;
use Time::HiRes qw(time usleep);
use Test::More;

sub new
{
	my ($class, $node, $db) = @_;
	$db //= 'postgres';
	my $bg = $node->background_psql($db, on_error_stop => 0);
	$bg->set_query_timer_restart;
	$bg->query_safe('LISTEN lockservice');
	return bless { bg => $bg, node => $node, queue => [], bad => [] }, $class;
}

# One round trip (psql prints the notifications that arrived); queues them.
# Each queued event is the decoded payload plus _pid (the notifying
# backend) and _raw (the payload text).
sub poll
{
	my ($self, $sleep) = @_;
	$sleep //= 0.05;
	my $out = $self->{bg}->query("SELECT pg_catalog.pg_sleep($sleep)");
	for my $line (split /\n/, $out)
	{
		next unless $line =~ /^Asynchronous notification "(.*?)" with payload "(.*)" received from server process with PID (\d+)\.$/;
		my ($channel, $payload, $pid) = ($1, $2, $3);
		my $ev = eval { decode_json($payload) };
		if (!$ev || ref $ev ne 'HASH' || $channel ne 'lockservice')
		{
			push @{ $self->{bad} }, $line;
			next;
		}
		$ev->{_pid} = $pid;
		$ev->{_raw} = $payload;
		push @{ $self->{queue} }, $ev;
	}
	return;
}

# Payloads that were not a JSON object (or came on another channel).
sub bad { return @{ $_[0]->{bad} }; }

# collect(until => sub { my @events = @_; ... }, timeout => S)
# Polls until UNTIL (given every event queued so far) returns true, or the
# timeout passes; returns the queued events and empties the queue.  Without
# until it collects for the whole timeout.
sub collect
{
	my ($self, %p) = @_;
	my $timeout = $p{timeout} // $PostgreSQL::Test::Utils::timeout_default;
	my $deadline = time + $timeout;
	while (1)
	{
		last if $p{until} && $p{until}->(@{ $self->{queue} });
		last if time > $deadline;
		$self->poll;
	}
	my @ev = @{ $self->{queue} };
	$self->{queue} = [];
	return @ev;
}

# Events up to and including the first event on lock name MARKER.
sub until_name
{
	my ($self, $marker, $timeout) = @_;
	return $self->collect(
		until => sub { grep { ($_->{name} // '') eq $marker } @_ },
		timeout => $timeout);
}

sub quit
{
	my ($self) = @_;
	$self->{bg}->quit;
	return;
}

1;
