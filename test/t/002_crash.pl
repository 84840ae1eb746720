
# kill -9 of the postmaster right after many acknowledged acquires:
# every token issued after the crash is greater than every token acknowledged
# before it, and acknowledged leases are still there, with
# synchronous_commit = on and off (postgresql.conf, and SET LOCAL in the
# acquiring transactions).
#
# wal_writer_delay is set to its maximum so that, without the extension's
# forced flush, asynchronously committed transactions of the last ~10 s would
# still sit in WAL buffers (shared memory) when the postmaster is killed and
# be lost.  (Cluster.pm sets fsync = off; that does not matter here: after
# kill -9 the kernel still has every write(), and only unwritten WAL buffers
# are lost.)
#
# A third node runs with lockservice.sync_grants = off (README: a crash may
# then lose acknowledged grants, but tokens never go backwards): there only
# the token assertions apply, and the number of lost grants is reported.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use LSTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $n_auto = 200;    # autocommit acquires per round
my $n_local = 100;   # BEGIN; SET LOCAL synchronous_commit = off; acquire; COMMIT
my $rounds = 2;

for my $cfg (['on', 'on'], ['off', 'on'], ['off', 'off'])
{
	my ($sync, $grants) = @$cfg;
	my $node = ls_node(
		"crash_sync_${sync}_grants_$grants",
		preload => 1,
		conf => "synchronous_commit = $sync\nwal_writer_delay = '10s'\n"
		  . "lockservice.sync_grants = $grants\n");
	my $durable = $grants eq 'on';

	my $seen_max = 0;    # highest token acknowledged so far (all rounds)
	for my $round (1 .. $rounds)
	{
		my $tag = "sync=$sync sync_grants=$grants round $round";
		my $sql = '';
		for my $i (1 .. $n_auto)
		{
			$sql .=
			  "SELECT 'A', $i, lockservice.lock_acquire('c${round}_a$i', 'h', '1 hour');\n";
		}
		for my $i (1 .. $n_local)
		{
			$sql .=
			    "BEGIN; SET LOCAL synchronous_commit = off; "
			  . "SELECT 'L', $i, lockservice.lock_acquire('c${round}_l$i', 'h', '1 hour'); COMMIT;\n";
		}

		# one psql call, autocommit, as fast as it goes; then crash at once
		my ($ret, $out, $err) = $node->psql('postgres', $sql);
		my $oldpid = ls_kill9($node);
		is($ret, 0, "$tag: all acquires ran") or diag $err;

		my %tok;
		for my $line (split /\n/, $out)
		{
			my ($kind, $i, $t) = split /\|/, $line;
			$tok{"c${round}_" . lc($kind) . $i} = $t;
		}
		is(scalar(keys %tok), $n_auto + $n_local,
			"$tag: got a token for every acquire");
		my @toks = values %tok;
		my $max_ack = max_of(@toks);
		my $min_ack = min_of(@toks);
		cmp_ok($min_ack, '>', $seen_max,
			"$tag: tokens of this round exceed those of earlier rounds");
		my %uniq = map { $_ => 1 } @toks;
		is(scalar(keys %uniq), scalar(@toks), "$tag: tokens are distinct");

		ok(ls_start_after_crash($node, $oldpid), "$tag: restarted after kill -9");

		# every acknowledged lease is still there, with its token
		my $list = join ',', map { "('$_', $tok{$_})" } sort keys %tok;
		my $missing = ls_sql(
			$node, qq{
			SELECT count(*) FROM (VALUES $list) v(name, token)
			 WHERE NOT EXISTS (SELECT 1 FROM lockservice.leases_live l
			                    WHERE l.name = v.name AND l.token = v.token
			                      AND l.holder = 'h')});
		if ($durable)
		{
			is($missing, '0',
				"$tag: every acknowledged lease survived the crash");
		}
		else
		{
			note "$tag: $missing of "
			  . scalar(@toks)
			  . ' acknowledged grants lost in the crash';
		}

		my $last = ls_sql($node, 'SELECT lockservice.last_issued_token()');
		cmp_ok($last, '>=', $max_ack,
			"$tag: last_issued_token() after crash >= max acknowledged token");

		# new tokens after the crash, on new names and on acknowledged names
		# (taken over by another holder after release by the original one)
		my $sql2 = '';
		for my $i (1 .. 20)
		{
			$sql2 .=
			  "SELECT lockservice.lock_acquire('c${round}_new$i', 'h', '1 hour');\n";
		}
		my @new = split /\n/, ls_sql($node, $sql2);
		is(scalar(@new), 20, "$tag: 20 acquires after the crash");
		cmp_ok(min_of(@new), '>', $max_ack,
			"$tag: every new token > every token acknowledged before the crash"
		);
		my $name = "c${round}_a$n_auto";
		is( ls_sql(
				$node,
				"SELECT lockservice.lock_release('$name', $tok{$name})"),
			't',
			"$tag: release of an acknowledged lease works after the crash")
		  if $durable;
		ls_sql($node, "SELECT lockservice.lock_release('$name', $tok{$name})")
		  unless $durable;    # it may or may not still be there
		my $t_over = ls_sql($node,
			"SELECT lockservice.lock_acquire('$name', 'other', '1 hour')");
		cmp_ok($t_over, '>', max_of(@new),
			"$tag: re-acquired name gets a token above all earlier ones");

		note "$tag: acknowledged tokens $min_ack .. $max_ack, "
		  . "first after crash "
		  . min_of(@new);
		$seen_max = max_of($t_over, @new);
	}
	$node->stop;
}

done_testing();
