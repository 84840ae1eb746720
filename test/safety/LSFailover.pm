# Copyright: lockservice project
#
# Helpers for the failover TAP tests test/t/402_failover_sync.pl and
# test/t/403_failover_async.pl.  Load with:
#   use FindBin; use lib $FindBin::RealBin; use lib "$FindBin::RealBin/../safety";
#   use LSTest; use LSFailover;
#
# Workers are psql processes running a generated script against the
# primary: for lock i of worker w (name w<w>_<i>, holder w<w>):
#
#   lock_acquire(ttl 1 hour)                  -> prints  ACQ name token
#   lock_renew(ttl 3 hours)                   -> prints  REN name token t|f
#   every 3rd lock: lock_release              -> prints  REL name token t|f
#   every 2nd lock: BEGIN; fence('res_w<w>', token);
#                   INSERT INTO fo_register; COMMIT -> prints FEN res token
#
# A line is printed only after its statement returned, so every printed
# line is an acknowledged operation (ON_ERROR_STOP ends the script at the
# first error, e.g. when the primary is killed).  Nothing here asserts; the
# .pl files do.

package LSFailover;

use strict;
use warnings;

use Exporter 'import';
use IPC::Run;
use Time::HiRes qw(time usleep);
use Test::More;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;

our @EXPORT = qw(fo_cluster fo_start_workers fo_stop_workers fo_parse
  fo_check_leases fo_grants fo_wait_grants);

my $ITERS = 20000;    # far more than run before the primary is killed

# fo_cluster(CONF): a preloaded primary (postgresql.conf lines CONF) with the
# workers' register table, and a streaming standby started from its backup;
# returns (primary, standby).  Needs LSTest (ls_node, ls_sql).
sub fo_cluster
{
	my ($conf) = @_;
	my $primary = LSTest::ls_node(
		'primary',
		preload => 1,
		init => { allows_streaming => 1 },
		conf => $conf);
	LSTest::ls_sql($primary,
		'CREATE TABLE fo_register (id bigserial PRIMARY KEY, resource text NOT NULL, token bigint NOT NULL)'
	);
	$primary->backup('bk');
	my $standby = PostgreSQL::Test::Cluster->new('standby');
	$standby->init_from_backup($primary, 'bk', has_streaming => 1);
	$standby->append_conf('postgresql.conf', "cluster_name = 'standby'\n");
	$standby->start;
	return ($primary, $standby);
}

# fo_start_workers(NODE, N): start N psql workers on NODE (database
# postgres); returns a list of worker hashes { h => harness, out => \$stdout }
sub fo_start_workers
{
	my ($node, $n) = @_;
	my @w;
	for my $w (1 .. $n)
	{
		my $file = "$PostgreSQL::Test::Utils::tmp_check/failover_worker_${w}_$$.sql";
		open my $fh, '>', $file or die "$file: $!";
		print $fh "\\set ON_ERROR_STOP 1\n";
		for my $i (1 .. $ITERS)
		{
			my $name = "w${w}_$i";
			print $fh
			  "SELECT lockservice.lock_acquire('$name', 'w$w', '1 hour') AS t \\gset\n",
			  "\\echo ACQ $name :t\n",
			  "SELECT lockservice.lock_renew('$name', :t, '3 hours') AS r \\gset\n",
			  "\\echo REN $name :t :r\n";
			print $fh
			  "SELECT lockservice.lock_release('$name', :t) AS r \\gset\n",
			  "\\echo REL $name :t :r\n"
			  if $i % 3 == 0;
			print $fh "BEGIN;\n",
			  "SELECT lockservice.fence('res_w$w', :t);\n",
			  "INSERT INTO fo_register (resource, token) VALUES ('res_w$w', :t);\n",
			  "COMMIT;\n",
			  "\\echo FEN res_w$w :t\n"
			  if $i % 2 == 0;
		}
		close $fh;
		my $out = '';
		my $err = '';

		# output goes to files: a pipe nobody reads while the test polls
		# the server would fill up and stop the worker
		my $h = IPC::Run::start(
			[
				'psql', '-X', '-q', '-A', '-t', '-d',
				$node->connstr('postgres'), '-f', $file
			],
			'<', \undef, '>', "$file.out", '2>', "$file.err",
			IPC::Run::timeout(600));
		push @w, { h => $h, out => \$out, err => \$err, id => $w, file => $file };
	}
	return @w;
}

# The grants the workers have made: the sum of their latest iteration
# numbers (lease rows are no measure: the reaper deletes released ones).
my $GRANTS_SQL = q{
	SELECT coalesce(sum(i), 0) FROM (
		SELECT max(pg_catalog.split_part(name, '_', 2)::int) AS i
		  FROM lockservice.leases WHERE name LIKE 'w%'
		 GROUP BY pg_catalog.split_part(name, '_', 1)) s};

# fo_grants(NODE): the grants the workers have made so far
sub fo_grants
{
	my ($node) = @_;
	return $node->safe_psql('postgres', $GRANTS_SQL);
}

# fo_wait_grants(NODE, N): poll until the workers have made N grants
sub fo_wait_grants
{
	my ($node, $n) = @_;
	return $node->poll_query_until('postgres', "SELECT ($GRANTS_SQL) >= $n");
}

# fo_stop_workers(WORKERS...): wait for every worker to end (they end on
# the first error); kill those still running after 60 s
sub fo_stop_workers
{
	for my $w (@_)
	{
		eval { $w->{h}->finish; };
		if ($@)
		{
			$w->{h}->kill_kill;
		}
		${ $w->{out} } = PostgreSQL::Test::Utils::slurp_file("$w->{file}.out");
		${ $w->{err} } = PostgreSQL::Test::Utils::slurp_file("$w->{file}.err");
	}
	return;
}

# fo_parse(WORKERS...): the acknowledged operations, as a hash:
#   acq   => { name => token }          acknowledged grants
#   ren   => { name => 1 }              acknowledged renewals (true)
#   rel   => { name => 1 }              acknowledged releases (true)
#   relsched => { name => 1 }           releases the script would run
#   fen   => { resource => [tokens] }   acknowledged fenced writes, in order
#   tokens => [all acknowledged tokens]
sub fo_parse
{
	my %a = (acq => {}, ren => {}, rel => {}, relsched => {}, fen => {}, tokens => []);
	for my $w (@_)
	{
		for my $line (split /\n/, ${ $w->{out} })
		{
			if ($line =~ /^ACQ (\S+) (\d+)$/)
			{
				my ($name, $tok) = ($1, $2);
				$a{acq}{$name} = $tok;
				push @{ $a{tokens} }, $tok;
				my ($i) = $name =~ /_(\d+)$/;
				$a{relsched}{$name} = 1 if $i % 3 == 0;
			}
			elsif ($line =~ /^REN (\S+) (\d+) t$/)
			{
				$a{ren}{$1} = 1;
			}
			elsif ($line =~ /^REL (\S+) (\d+) t$/)
			{
				$a{rel}{$1} = 1;
			}
			elsif ($line =~ /^FEN (\S+) (\d+)$/)
			{
				push @{ $a{fen}{$1} }, $2;
			}
		}
	}
	return \%a;
}

# fo_check_leases(NODE, ACKS): compare the lease table of NODE with the
# acknowledged operations.  Returns a hash of counts and example lines:
#   checked, present_ok, lost (acknowledged grant missing / other token),
#   renew_lost, release_lost, uncertain (release in flight), examples => [..]
sub fo_check_leases
{
	my ($node, $a) = @_;
	my %r = (checked => 0, lost => 0, renew_lost => 0, release_lost => 0,
		release_undone => 0, uncertain => 0, examples => []);
	my @names = sort keys %{ $a->{acq} };
	return \%r unless @names;
	my $values = join ',',
	  map { "('$_', $a->{acq}{$_})" } @names;
	my $rows = $node->safe_psql(
		'postgres', qq{
		SELECT v.name, v.token, l.token, l.holder,
		       l.released_at IS NOT NULL,
		       l.expires_at > pg_catalog.clock_timestamp() + interval '150 minutes',
		       l.expires_at > pg_catalog.clock_timestamp() + interval '30 minutes'
		  FROM (VALUES $values) v(name, token)
		  LEFT JOIN lockservice.leases l ON l.name = v.name AND l.slot = 0});
	for my $row (split /\n/, $rows)
	{
		my ($name, $tok, $ltok, $holder, $released, $long, $live) = split /\|/, $row;
		$r{checked}++;
		my $why;
		if ($ltok eq '' || $ltok < $tok)
		{
			$why = $ltok eq '' ? 'no lease row' : "older token $ltok";
			$r{lost}++;
		}
		elsif ($ltok > $tok)
		{
			# every worker name is acquired once: nobody else may have it
			$why = "a later token $ltok replaced it";
			$r{lost}++;
		}
		elsif ($a->{rel}{$name})
		{
			# a transaction that only released commits without waiting for
			# the standby (lockservice.async_releases): a failover may undo
			# it, which brings the lease back with its own token and expiry
			# (checked above and below: never another holder, never longer)
			if ($released ne 't' && $live ne 't')
			{
				$why = 'an undone release left a lease that is not live';
				$r{release_lost}++;
			}
			elsif ($released ne 't')
			{
				$r{release_undone}++;
			}
		}
		elsif ($a->{relsched}{$name} && $released eq 't')
		{
			$r{uncertain}++;    # the release was in flight
		}
		elsif ($released eq 't')
		{
			$why = 'released without a release';
			$r{lost}++;
		}
		elsif ($a->{ren}{$name} && $long ne 't')
		{
			$why = 'acknowledged renewal lost';
			$r{renew_lost}++;
		}
		elsif ($live ne 't')
		{
			$why = 'lease expired early';
			$r{lost}++;
		}
		push @{ $r{examples} }, "$name token $tok: $why" if $why;
	}
	return \%r;
}

1;
