
# Lease events on LISTEN channel lockservice (issue 3), preloaded:
# - payload: one JSON object {"event", "name", "holder", "token", "at"}
#   (taken_over adds "previous_holder" and "previous_token"), names and
#   holders JSON-escaped, "at" the time of the change, notified by the
#   database's reaper;
# - acquired / released after commit only; nothing while the transaction is
#   open, nothing on ROLLBACK or ROLLBACK TO SAVEPOINT, nothing on renew;
# - a takeover of an expired lease: "expired" (old holder and token), then
#   "taken_over"; the reaper: "expired";
# - lockservice.events = off (session, and ALTER SYSTEM for the reaper):
#   nothing; only superusers may change it;
# - each database's events go to that database's listeners;
# - an event committed while the reaper restarts is delivered or counted in
#   lockservice.stats.events_dropped.
#
# Order: events reach the ring in commit order and the reaper notifies them
# in that order, so "nothing for X" is checked by committing X, then a marker,
# and collecting everything up to the marker.
#
# reap_interval is 1h at first so that the reaper never reaps a lease that a
# takeover test wants to take over; it still publishes events at once (it is
# woken when an event comes).

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use LSTest;
use LSReaper;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $node = rn_node('events', interval => '1h');
my ($reaper) = rn_wait_reaper($node, 'postgres', timeout => 10);
ok(defined $reaper, 'a reaper runs');

my $L = LSReaper::Listener->new($node, 'postgres');
my $marks = 0;

sub sql { return $node->safe_psql('postgres', $_[0]); }

# commit a marker acquire; return every event up to and including it
sub upto_marker
{
	my ($setup) = @_;
	my $m = 'mark_' . ++$marks;
	sql(($setup // '') . "SELECT lockservice.lock_acquire('$m', 'marker', '1 min')");
	my @ev = $L->until_name($m, 30);
	my $last = $ev[-1];
	ok($last && $last->{name} eq $m && $last->{event} eq 'acquired',
		"marker $m arrived");
	return @ev[ 0 .. $#ev - 1 ];
}

sub names_of { return join ',', map { "$_->{event}:$_->{name}" } @_; }

sub keys_of { return join ',', sort grep { !/^_/ } keys %{ $_[0] }; }

sub at_epoch
{
	my ($at) = @_;
	return sql("SELECT extract(epoch FROM '$at'::timestamptz)");
}

# ---- acquired: the payload -------------------------------------------------
{
	my ($t0, $tok, $t1) = split /\|/,
	  sql("SELECT extract(epoch FROM clock_timestamp()), lockservice.lock_acquire('ev_a', 'h1', '1 min'), extract(epoch FROM clock_timestamp())"
	  );
	my @ev = $L->until_name('ev_a', 30);
	is(names_of(@ev), 'acquired:ev_a', 'acquire -> one "acquired" event');
	my $e = $ev[-1] // {};
	is(keys_of($e), 'at,event,holder,name,token',
		'acquired: keys event, name, holder, token, at');
	is($e->{holder}, 'h1', 'acquired: holder');
	is($e->{token}, $tok, 'acquired: token is the token returned');
	ok(!ref $e->{token} && $e->{_raw} =~ /"token":$tok[,}]/,
		'acquired: token is a JSON number');
	my $at = defined $e->{at} ? at_epoch($e->{at}) : -1;
	ok($at >= $t0 && $at <= $t1, 'acquired: "at" is the time of the call');
	is($e->{_pid}, $reaper, 'notified by the reaper of the database');
	is(scalar($L->bad), 0, 'every payload is a JSON object');

	# renew: nothing; release: "released"
	is(sql("SELECT lockservice.lock_renew('ev_a', $tok)"), 't', 'renew');
	is(sql("SELECT lockservice.lock_release('ev_a', $tok)"), 't', 'release');
	@ev = $L->until_name('ev_a', 30);
	is(names_of(@ev), 'released:ev_a',
		'renew -> no event; release -> one "released" event');
	$e = $ev[-1] // {};
	is(keys_of($e), 'at,event,holder,name,token', 'released: keys');
	is($e->{holder} . '/' . $e->{token}, "h1/$tok", 'released: holder and token');
}

# ---- JSON escaping -----------------------------------------------------------
{
	# name: quote, backslash, tab, non-ASCII; holder: quotes, newline, emoji
	my $name_sql = q{E'ev "q" \\\\ x\tz ' || chr(246)};
	my $holder_sql = q{E'h\n"' || chr(128512) || '"'};
	my $tok = sql(
		"SELECT lockservice.lock_acquire($name_sql, $holder_sql, '1 min')");
	my $want_name = "ev \"q\" \\ x\tz \x{f6}";
	my $want_holder = "h\n\"\x{1F600}\"";
	my @ev = $L->collect(
		until => sub { grep { $_->{token} eq $tok } @_ },
		timeout => 30);
	my ($e) = grep { $_->{token} eq $tok } @ev;
	is($e && $e->{name}, $want_name, 'name with quotes, backslash, tab and non-ASCII survives the JSON');
	is($e && $e->{holder}, $want_holder, 'holder with a newline, quotes and an emoji survives the JSON');
}

# ---- only after commit ---------------------------------------------------------
{
	my $s = LSTest::Session->new($node);
	$s->run('BEGIN');
	my $tok = $s->run("SELECT lockservice.lock_acquire('ev_tx', 'h', '1 min')");
	my @ev = $L->collect(timeout => 1.5);
	is(names_of(grep { $_->{name} eq 'ev_tx' } @ev), '',
		'no event while the acquiring transaction is open');
	$s->run('COMMIT');
	@ev = $L->until_name('ev_tx', 30);
	is(names_of(@ev), 'acquired:ev_tx', '"acquired" after COMMIT');

	$s->run('BEGIN');
	$s->run("SELECT lockservice.lock_release('ev_tx', $tok)");
	@ev = $L->collect(timeout => 1.5);
	is(names_of(grep { $_->{name} eq 'ev_tx' } @ev), '',
		'no event while the releasing transaction is open');
	$s->run('COMMIT');
	@ev = $L->until_name('ev_tx', 30);
	is(names_of(@ev), 'released:ev_tx', '"released" after COMMIT');
	$s->quit;
}

# ---- nothing on rollback ---------------------------------------------------------
{
	my $tok = sql("SELECT lockservice.lock_acquire('ev_rr', 'h', '1 min')");
	sql(qq{BEGIN;
SELECT lockservice.lock_acquire('ev_rb', 'h', '1 min');
ROLLBACK;
BEGIN;
SELECT lockservice.lock_release('ev_rr', $tok);
ROLLBACK;
BEGIN;
SAVEPOINT a;
SELECT lockservice.lock_acquire('ev_sp1', 'h', '1 min');
ROLLBACK TO SAVEPOINT a;
SAVEPOINT b;
SELECT lockservice.lock_acquire('ev_sp2', 'h', '1 min');
RELEASE SAVEPOINT b;
COMMIT;});
	my @ev = upto_marker();
	is(names_of(@ev), 'acquired:ev_rr,acquired:ev_sp2',
		'ROLLBACK and ROLLBACK TO SAVEPOINT publish nothing; a released savepoint\'s acquire is published at commit'
	);
	is(sql("SELECT count(*) FROM lockservice.leases_live WHERE name = 'ev_rr'"),
		'1', 'the rolled back release left the lease live');
}

# ---- takeover of an expired lease: expired, then taken_over ------------------------
{
	my $old = sql("SELECT lockservice.lock_acquire('ev_to', 'old', '300 ms')");
	usleep(600_000);
	my $new = sql("SELECT lockservice.lock_acquire('ev_to', 'new', '1 min')");
	cmp_ok($new, '>', $old, 'takeover: a new, higher token');
	my @ev = $L->collect(
		until => sub { grep { $_->{event} eq 'taken_over' } @_ },
		timeout => 30);
	is(names_of(@ev), 'acquired:ev_to,expired:ev_to,taken_over:ev_to',
		'takeover of an expired lease -> "expired", then "taken_over"');
	my ($x) = grep { $_->{event} eq 'expired' } @ev;
	my ($t) = grep { $_->{event} eq 'taken_over' } @ev;
	is(keys_of($x // {}), 'at,event,holder,name,token', 'expired: keys');
	is(($x // {})->{holder} . '/' . ($x // {})->{token}, "old/$old",
		'expired: the old holder and token');
	is(keys_of($t // {}),
		'at,event,holder,name,previous_holder,previous_token,token',
		'taken_over: keys, with previous_holder and previous_token');
	is(join('/', map { ($t // {})->{$_} // '' } qw(holder token previous_holder previous_token)),
		"new/$new/old/$old", 'taken_over: new and previous holder and token');
}

# ---- SET lockservice.events = off in a session ----------------------------
{
	my ($state, $out, $err) = ls_sqlstate($node,
		"CREATE ROLE ev_user; SET ROLE ev_user; SET lockservice.events = off;");
	is($state, '42501', 'only superusers may change lockservice.events');

	my $tok = sql("SET lockservice.events = off;
SELECT lockservice.lock_acquire('ev_off1', 'h', '1 min');");
	sql("SET lockservice.events = off;
SELECT lockservice.lock_release('ev_off1', $tok);
SELECT lockservice.lock_acquire('ev_off1b', 'h', '200 ms');");
	usleep(300_000);    # (reap_interval is still 1h: this is a takeover)
	sql("SET lockservice.events = off;
SELECT lockservice.lock_acquire('ev_off1b', 'h2', '1 min');");
	my @ev = upto_marker();
	is(names_of(grep { $_->{name} =~ /^ev_off1/ } @ev), '',
		'SET lockservice.events = off: no acquired, released, expired or taken_over events from that session'
	);
}

# ---- the reaper: expired ---------------------------------------------------------------
{
	my @toks = split /\n/,
	  sql("SELECT lockservice.lock_acquire('ev_rp' || g, 'rh' || g, '300 ms') FROM generate_series(1, 3) g ORDER BY g"
	  );
	my @ev = $L->collect(
		until => sub { 3 == grep { $_->{name} =~ /^ev_rp/ } @_ },
		timeout => 30);
	usleep(500_000);
	# a new reaper with a short interval (reap_interval was 1h) reaps them
	is(sql('SELECT lockservice.stop_reaper()'), 't', 'stop the reaper');
	ok(defined rn_wait_no_reaper($node, 'postgres', timeout => 10), '... gone');
	sql("ALTER SYSTEM SET lockservice.reap_interval = '200ms'; SELECT pg_reload_conf();");
	$node->poll_query_until('postgres',
		"SELECT current_setting('lockservice.reap_interval') = '200ms'");
	sql('SELECT lockservice.start_reaper()');
	my ($p) = rn_wait_reaper($node, 'postgres', timeout => 10);
	ok(defined $p, 'the reaper is back');
	$reaper = $p;
	@ev = $L->collect(
		until => sub { 3 == grep { $_->{event} eq 'expired' && $_->{name} =~ /^ev_rp/ } @_ },
		timeout => 30);
	my @x = sort { $a->{name} cmp $b->{name} }
	  grep { $_->{name} =~ /^ev_rp/ } @ev;
	is(names_of(@x), 'expired:ev_rp1,expired:ev_rp2,expired:ev_rp3',
		'the reaper reaps three expired leases -> three "expired" events, nothing else');
	is(join(',', map { "$_->{holder}/$_->{token}" } @x),
		join(',', map { "rh$_/$toks[$_ - 1]" } 1 .. 3),
		'expired (reaper): holders and tokens of the reaped leases');
	is(join(',', map { keys_of($_) } @x[0 .. 0]), 'at,event,holder,name,token',
		'expired (reaper): keys');
	is(scalar(grep { $_->{_pid} != $p } @x), 0, 'notified by the reaper');
	is(sql("SELECT count(*) FROM lockservice.leases WHERE name LIKE 'ev\\_rp%'"),
		'0', 'the rows are gone');
}

# ---- lockservice.events = off for the whole server, the reaper included ----
{
	sql("ALTER SYSTEM SET lockservice.events = off; SELECT pg_reload_conf();");
	$node->poll_query_until('postgres',
		"SELECT current_setting('lockservice.events') = 'off'");
	usleep(500_000);    # the reaper handles SIGHUP as soon as it is woken
	sql("SELECT lockservice.lock_acquire('ev_off2', 'h', '300 ms')");
	ok( defined rn_server_wait(
			$node, 'postgres',
			"SELECT NOT EXISTS (SELECT 1 FROM lockservice.leases WHERE name = 'ev_off2')",
			30),
		'events off: the reaper still reaps');
	my @ev = upto_marker('SET lockservice.events = on; ');
	is(names_of(grep { $_->{name} eq 'ev_off2' } @ev), '',
		'ALTER SYSTEM SET lockservice.events = off: no "acquired", and no "expired" from the reaper'
	);
	sql("ALTER SYSTEM RESET lockservice.events; SELECT pg_reload_conf();");
	$node->poll_query_until('postgres',
		"SELECT current_setting('lockservice.events') = 'on'");
	sql("SELECT lockservice.lock_acquire('ev_on_again', 'h', '1 min')");
	@ev = $L->until_name('ev_on_again', 30);
	is(names_of(grep { $_->{name} eq 'ev_on_again' } @ev), 'acquired:ev_on_again',
		'events on again after ALTER SYSTEM RESET');
}

# ---- another database ----------------------------------------------------------------------
{
	sql('CREATE DATABASE evdb');
	$node->safe_psql('evdb', 'CREATE EXTENSION lockservice');
	my ($p) = rn_wait_reaper($node, 'evdb', timeout => 30);
	ok(defined $p, 'evdb has a reaper');
	my $L2 = LSReaper::Listener->new($node, 'evdb');
	$node->safe_psql('evdb', "SELECT lockservice.lock_acquire('ev_db', 'h', '1 min')");
	my @ev2 = $L2->until_name('ev_db', 30);
	is(names_of(@ev2), 'acquired:ev_db', 'a listener in evdb gets evdb\'s event');
	is(($ev2[-1] // {})->{_pid}, $p, '... from evdb\'s reaper');
	my @ev = upto_marker();
	is(names_of(grep { $_->{name} eq 'ev_db' } @ev), '',
		'a listener in postgres does not get it');
	$L2->quit;
}

# ---- an event committed while the reaper restarts ----------------------------------------------
{
	my $d0 = rn_stats($node)->{events_dropped};
	($reaper) = rn_wait_reaper($node, 'postgres', timeout => 10);
	sql("SELECT pg_terminate_backend($reaper);
SELECT lockservice.lock_acquire('ev_gap', 'h', '1 min');");
	my ($p) = rn_wait_reaper($node, 'postgres', not => $reaper, timeout => 30);
	ok(defined $p, 'the reaper is back after pg_terminate_backend');
	my @ev = upto_marker();
	my $got = grep { $_->{name} eq 'ev_gap' } @ev;
	my $d1 = rn_stats($node)->{events_dropped};
	ok($got || $d1 > $d0,
		'an event committed while the reaper restarts is delivered, or counted in events_dropped'
	) or diag "not delivered, events_dropped $d0 -> $d1";
}

is(scalar($L->bad), 0, 'no payload that is not a JSON object');
$L->quit;
$node->stop;
done_testing();
