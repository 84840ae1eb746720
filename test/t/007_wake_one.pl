
# Copyright: lockservice project
#
# Who a hand-off wakes (preloaded: waiters queue in shared memory).
# - A release wakes only the head of the name's queue, not every waiter: six
#   waiters queued on one name are granted one after the other, in arrival
#   order, and none of them reads the name more than a few times while it
#   waits (each waiter reports the index scans of its own transaction; when
#   every change woke every waiter, the last one read the name 9 times).
# - When the head wants a shared lock, the shared waiters before the first
#   exclusive one are granted together; the rest wait their turn.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use LSTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = ls_node('wake_one', preload => 1);

# acquire (waiting), count this transaction's index scans, release
ls_sql(
	$node, q{
	CREATE FUNCTION public.wake_step(p_holder text) RETURNS text
	LANGUAGE plpgsql AS $$
	DECLARE
		t bigint;
		s bigint;
	BEGIN
		t := lockservice.lock_acquire('herd', p_holder, '1 min', '60 s');
		s := pg_catalog.pg_stat_get_xact_numscans('lockservice.leases_pkey'::pg_catalog.regclass);
		PERFORM lockservice.lock_release('herd', t);
		RETURN t || ' ' || s;
	END $$});

# ---- 1. one wake-up per hand-off ---------------------------------------
{
	my $holder = ls_sql($node,
		"SELECT lockservice.lock_acquire('herd', 'h0', '1 min')");
	like($holder, qr/^\d+$/, 'holder acquired herd');

	my @waiters;
	for my $i (1 .. 6)
	{
		my $w = LSTest::Session->new($node);
		$w->send("SELECT public.wake_step('w$i')");
		ok($w->wait_until_waiting(like => '%wake_step%', event => 1),
			"waiter $i is waiting");
		push @waiters, $w;
	}
	is(ls_sql($node, "SELECT lockservice.lock_waiters('herd')"),
		'6', 'six waiters queued');
	is(ls_sql($node, "SELECT lockservice.lock_release('herd', $holder)"),
		't', 'holder released');

	my ($prev, @scans) = ($holder);
	for my $i (1 .. 6)
	{
		my ($out, $err, $state) = $waiters[ $i - 1 ]->result;
		ok(defined $out && $state eq '', "waiter $i finished")
		  or diag($err // 'timed out');
		my ($token, $n) = split / /, ($out // '0 0');
		cmp_ok($token, '>', $prev, "waiter $i granted after waiter " . ($i - 1));
		$prev = $token;
		push @scans, $n;
	}
	note("index scans of the name per waiter, in arrival order: @scans");
	# first attempt, the attempt after queueing, woken when the previous
	# holder leaves the queue (its grant not committed yet: busy), woken by
	# its commit: 4; more only for 1-second busy rechecks on a slow machine
	cmp_ok(max_of(@scans), '<=', 6,
		'no waiter read the name more than 6 times (only the head is woken)');
	$_->quit for @waiters;
}

# ---- 2. shared waiters at the head are granted together --------------------
{
	my $x = ls_sql($node,
		"SELECT lockservice.lock_acquire('mix', 'x0', '1 min')");
	my %s;
	my @order = (
		[ s1 => 'lock_acquire_shared' ],
		[ s2 => 'lock_acquire_shared' ],
		[ e3 => 'lock_acquire' ],
		[ s4 => 'lock_acquire_shared' ]);
	for my $o (@order)
	{
		my ($h, $f) = @$o;
		$s{$h} = LSTest::Session->new($node);
		$s{$h}->send("SELECT lockservice.$f('mix', '$h', '1 min', '60 s')");
		ok($s{$h}->wait_until_waiting(like => "%$f('mix', '$h'%", event => 1),
			"$h is waiting");
	}
	is(ls_sql($node, "SELECT lockservice.lock_release('mix', $x)"),
		't', 'exclusive holder released');

	my %tok;
	for my $h (qw(s1 s2))
	{
		my ($out, $err, $state) = $s{$h}->result;
		like($out // '', qr/^\d+$/, "$h granted (shared, together)")
		  or diag($err // 'timed out');
		$tok{$h} = $out;
	}
	is( ls_sql(
			$node,
			"SELECT string_agg(holder, ',' ORDER BY holder) FROM lockservice.lock_holder('mix')"
		),
		's1,s2',
		'both shared leases held at once');
	ok(!$s{e3}->done && !$s{s4}->done,
		'the exclusive waiter and the shared one behind it still wait');

	ls_sql($node, "SELECT lockservice.lock_release('mix', $tok{$_})")
	  for qw(s1 s2);
	my ($e3) = $s{e3}->result;
	like($e3 // '', qr/^\d+$/, 'e3 granted once both shared leases are gone');
	ok(!$s{s4}->done, 's4 waits while e3 holds');
	ls_sql($node, "SELECT lockservice.lock_release('mix', $e3)");
	my ($s4) = $s{s4}->result;
	like($s4 // '', qr/^\d+$/, 's4 granted after e3 released');
	$_->quit for values %s;
}

$node->stop;
done_testing();
