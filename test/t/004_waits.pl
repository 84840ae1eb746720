
# Blocking waits, on a node with shared_preload_libraries = 'lockservice'
# (waiter queue in shared memory) and on one without (sleep and retry):
# - a waiter is granted promptly after the holder's release commits
# - a waiter is granted promptly at the lease's expiry (holder never releases)
# - wait '300ms' returns NULL after 300 ms (+ margin), also while another
#   transaction holds the lease with lock_check (live, and past expiry)
# - waits show in pg_stat_activity as Extension/Extension; a sleeping waiter
#   holds no relation or tuple lock and waits for no heavyweight lock
# - pg_cancel_backend and statement_timeout interrupt a wait with 57014
#
# Time bounds are generous (2 loaded cores); observed values are reported
# with note().

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use LSTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $PROMPT = 2.0;    # generous bound (s) for "promptly"
my $MARGIN = 1.5;    # generous margin (s) over a wait deadline (contract: 50 ms)

# acquire in autocommit; returns the token
sub acquire
{
	my ($node, $name, $holder, $ttl) = @_;
	my $t = ls_sql($node,
		"SELECT lockservice.lock_acquire('$name', '$holder', '$ttl')");
	like($t, qr/^\d+$/, "$name: '$holder' acquired");
	return $t;
}

# the statement a background waiter runs: token and server clock at return
sub waiter_sql
{
	my ($name, $holder, $ttl, $wait) = @_;
	$wait = defined $wait ? "'$wait'" : 'NULL';
	return
	    "WITH g AS MATERIALIZED (SELECT lockservice.lock_acquire('$name', "
	  . "'$holder', '$ttl', $wait) AS t) "
	  . "SELECT coalesce(t::text, 'NULL'), extract(epoch FROM clock_timestamp()) FROM g";
}

sub run_suite
{
	my ($preload) = @_;
	my $tag = $preload ? 'preloaded' : 'not preloaded';
	my $node = ls_node($preload ? 'waits_pre' : 'waits_plain',
		preload => $preload);

	# sample a backend's wait event N times, 10 ms apart, inside the server
	ls_sql(
		$node, q{
		CREATE FUNCTION public.ls_sample_wait(p int, n int) RETURNS text
		LANGUAGE plpgsql AS $$
		DECLARE s text; r text[] := '{}';
		BEGIN
			FOR i IN 1 .. n LOOP
				PERFORM pg_catalog.pg_stat_clear_snapshot();
				SELECT coalesce(wait_event_type, '-') || '/' || coalesce(wait_event, '-')
				  INTO s FROM pg_catalog.pg_stat_activity WHERE pid = p;
				r := r || s;
				PERFORM pg_catalog.pg_sleep(0.01);
			END LOOP;
			RETURN (SELECT string_agg(e || '=' || c, ' ' ORDER BY c DESC)
			          FROM (SELECT e, count(*) c FROM unnest(r) e GROUP BY e) x);
		END $$});

	# ---- 1. granted promptly after the holder's release commits ----------
	{
		my $t1 = acquire($node, 'w', 'a', '1 hour');
		my $w = LSTest::Session->new($node);
		$w->send(waiter_sql('w', 'b', '30s', '20s'));
		ok($w->wait_until_waiting(like => "%lock_acquire('w'%", event => $preload),
			"$tag: waiter is waiting" . ($preload ? ' (wait event Extension)' : ''));

		my $pid = $w->pid;
		my $hist = ls_sql($node, "SELECT public.ls_sample_wait($pid, 50)");
		note "$tag: waiter wait events over 50 samples: $hist";
		my %h = map { split /=/ } split / /, $hist;
		my $ext = $h{'Extension/Extension'} // 0;
		if ($preload)
		{
			cmp_ok($ext, '>=', 45,
				"$tag: sleeping waiter shows wait event Extension/Extension");
		}
		else
		{
			cmp_ok($ext, '>=', 1,
				"$tag: sleep-and-retry waiter shows wait event Extension/Extension"
			);
		}
		my $locks = ls_sql($node,
			"SELECT count(*) FILTER (WHERE locktype IN ('relation', 'tuple')) || '|' || "
			  . "count(*) FILTER (WHERE NOT granted) || '|' || "
			  . "coalesce(string_agg(locktype || ':' || coalesce(relation::regclass::text, '') || ':' || mode, ', '), '') "
			  . "FROM pg_catalog.pg_locks WHERE pid = $pid");
		my ($rel_locks, $ungranted, $desc) = split /\|/, $locks;
		note "$tag: waiter's locks while waiting: $desc";
		is($ungranted, '0', "$tag: waiter is not waiting for a heavyweight lock");
		if ($preload)
		{
			is($rel_locks, '0',
				"$tag: sleeping waiter holds no relation or tuple lock");
		}

		my ($t0, $rel) = split /\|/,
		  ls_sql($node,
			"SELECT extract(epoch FROM clock_timestamp()), lockservice.lock_release('w', $t1)"
		  );
		is($rel, 't', "$tag: holder released");
		my ($out, $err, $state) = $w->result;
		is($state, '', "$tag: waiter returned without error") or diag $err;
		my ($t2, $granted_at) = split /\|/, $out // '';
		cmp_ok($t2, '>', $t1, "$tag: waiter granted with a higher token");
		my $lat = $granted_at - $t0;
		cmp_ok($lat, '<', $PROMPT,
			"$tag: waiter granted promptly after release commit");
		note sprintf('%s: release-to-grant latency %.3f s', $tag, $lat);
		$w->quit;
	}

	# ---- 2. wait '300ms' returns NULL in time, also when the lease row is
	#         locked by an open transaction that did lock_check ------------
	{
		my $t = acquire($node, 'r', 'a', '1 hour');
		my $c = LSTest::Session->new($node);
		$c->run('BEGIN');
		is($c->run("SELECT lockservice.lock_check('r', $t)"),
			't', "$tag: open transaction holds lock_check on 'r'");

		my $sql =
		    "WITH g AS MATERIALIZED (SELECT lockservice.lock_acquire('r', 'b', '30s', '300ms') AS t) "
		  . "SELECT t IS NULL, extract(epoch FROM clock_timestamp() - statement_timestamp()) FROM g";
		my ($state, $out, $err) = ls_sqlstate($node, $sql, timeout => 120);
		is($state, '', "$tag: 300ms waiter returned without error") or diag $err;
		my ($isnull, $el) = split /\|/, $out;
		is($isnull, 't', "$tag: 300ms waiter got NULL while lock_check holds the lease");
		cmp_ok($el, '>=', 0.3, "$tag: 300ms waiter waited at least 300 ms");
		cmp_ok($el, '<', 0.3 + $MARGIN, "$tag: 300ms waiter returned in time");
		note sprintf('%s: wait 300ms (live lease, lock_check open) took %.3f s',
			$tag, $el);
		$c->run('COMMIT');

		# the same past expires_at: lock_check keeps the lease until its
		# transaction ends
		my $te = acquire($node, 'r2', 'a', '3s');
		$c->run('BEGIN');
		my $checked = $c->run("SELECT lockservice.lock_check('r2', $te)");
		SKIP:
		{
			skip "$tag: machine too slow, lease expired before lock_check", 5
			  unless $checked eq 't';
			ok( $node->poll_query_until(
					'postgres',
					"SELECT clock_timestamp() > expires_at FROM lockservice.leases WHERE name = 'r2' AND slot = 0"
				),
				"$tag: lease 'r2' is past expires_at");
			($state, $out, $err) = ls_sqlstate($node,
				$sql =~ s/'r', 'b'/'r2', 'b'/r, timeout => 120);
			is($state, '', "$tag: 300ms waiter on expired, checked lease: no error")
			  or diag $err;
			($isnull, $el) = split /\|/, $out;
			is($isnull, 't',
				"$tag: expired lease held by lock_check is not taken over");
			cmp_ok($el, '>=', 0.3, "$tag: ... after waiting at least 300 ms");
			cmp_ok($el, '<', 0.3 + $MARGIN, "$tag: ... and returned in time");
			note sprintf('%s: wait 300ms (expired lease, lock_check open) took %.3f s',
				$tag, $el);
		}
		$c->run('COMMIT');
		my $tn = ls_sql($node,
			"SELECT lockservice.lock_acquire('r2', 'b', '30s')");
		cmp_ok($tn, '>', $te,
			"$tag: expired lease is taken over once the checking transaction ended");
		$c->quit;
	}

	# ---- 3. waiter granted at lease expiry (holder never releases) -------
	{
		my $w = LSTest::Session->new($node);
		my $t = acquire($node, 'e', 'a', '2s');
		$w->send(waiter_sql('e', 'b', '30s', '20s'));
		my $exp = ls_sql($node,
			"SELECT extract(epoch FROM expires_at) FROM lockservice.leases WHERE name = 'e' AND slot = 0 AND token = $t"
		);
		ok($w->wait_until_waiting(like => "%lock_acquire('e'%", event => $preload),
			"$tag: expiry waiter is waiting");
		my $now = ls_sql($node, 'SELECT extract(epoch FROM clock_timestamp())');
		note "$tag: expiry waiter seen waiting "
		  . sprintf('%.3f', $exp - $now)
		  . ' s before expiry' . ($now >= $exp ? ' (too late, test weaker)' : '');
		my ($out, $err, $state) = $w->result;
		is($state, '', "$tag: expiry waiter returned without error") or diag $err;
		my ($t2, $granted_at) = split /\|/, $out // '';
		cmp_ok($t2, '>', $t, "$tag: expiry waiter granted with a higher token");
		my $lat = $granted_at - $exp;
		cmp_ok($lat, '>=', 0, "$tag: not granted before the lease expired");
		cmp_ok($lat, '<', $PROMPT, "$tag: granted promptly at lease expiry");
		note sprintf('%s: expiry-to-grant latency %.3f s', $tag, $lat);
		$w->quit;
	}

	# ---- 4. pg_cancel_backend and statement_timeout ----------------------
	{
		my $t = acquire($node, 'c', 'a', '1 hour');
		my $w = LSTest::Session->new($node);
		$w->send(waiter_sql('c', 'b', '30s', undef));
		ok($w->wait_until_waiting(like => "%lock_acquire('c'%", event => $preload),
			"$tag: wait => NULL waiter is waiting");
		my $pid = $w->pid;
		my $t0 = time;
		is(ls_sql($node, "SELECT pg_cancel_backend($pid)"),
			't', "$tag: pg_cancel_backend sent");
		my ($out, $err, $state) = $w->result(60);
		is($state, '57014', "$tag: cancelled waiter fails with 57014")
		  or diag $err;
		note sprintf('%s: cancel took %.3f s', $tag, $w->{done_at} - $t0);
		is($w->run('SELECT 1'), '1', "$tag: cancelled session is usable");
		is( ls_sql(
				$node,
				"SELECT holder || ' ' || (token = $t) FROM lockservice.leases_live WHERE name = 'c'"
			),
			'a true',
			"$tag: holder keeps the lease after the waiter was cancelled");
		$w->quit;

		for my $wait ('NULL', "'1 hour'")
		{
			my $t1 = time;
			my ($st, $o, $e) = ls_sqlstate($node,
				"SET statement_timeout = '500ms';\n"
				  . "SELECT lockservice.lock_acquire('c', 'b', '30s', $wait);",
				timeout => 120);
			my $el = time - $t1;
			is($st, '57014', "$tag: statement_timeout interrupts wait => $wait")
			  or diag $e;
			like($e, qr/statement timeout/, "$tag: ... reported as statement timeout");
			cmp_ok($el, '>=', 0.5, "$tag: ... not before the timeout");
			cmp_ok($el, '<', 0.5 + 2 * $PROMPT, "$tag: ... promptly");
			note sprintf('%s: statement_timeout 500ms, wait => %s: psql took %.3f s',
				$tag, $wait, $el);
		}
		is(ls_sql($node, "SELECT lockservice.lock_release('c', $t)"),
			't', "$tag: holder still releases after interrupted waiters");
	}

	$node->stop;
	return;
}

run_suite(1);
run_suite(0);

done_testing();
