
# Lock sessions with the reaper, a crash and a failover (lockservice 1.5):
# - a session that is not renewed ends, and the reaper ends every lock in it
#   in time (its ttl + 2 x reap_interval + slack from the last renewal), one
#   "expired" event per lock that names the session, and then deletes the
#   session row;
# - a session renewed in time keeps every lock: the reaper reaps none of them;
# - a lock whose session row is missing (a restore loads leases before
#   sessions) is left alone by the reaper, live again once the row is back;
# - closing a session: one "released" event per lock;
# - a crash (SIGKILL of the postmaster) and a failover to a synchronous
#   standby keep sessions and their locks as they keep leases: what was
#   acknowledged is there (a session's last renewal too), still held,
#   renewable, closable; later grants get higher tokens.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use LSTest;
use LSReaper;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $INTERVAL = 0.2;
my $SLACK = 3;    # seconds: a loaded 2-core machine

my $node = rn_node('sessions', interval => '200ms', init => { allows_streaming => 1 });
ok(defined((rn_wait_reaper($node, 'postgres', timeout => 10))[0]), 'a reaper runs');
my $L = LSReaper::Listener->new($node, 'postgres');

sub sql { return $node->safe_psql('postgres', $_[0]); }

# ---- expiry: every lock ends with its session, one event each -------------
{
	my $n = 20;
	my $s = sql("SELECT lockservice.session_open('sleeper', '1 second')");
	my $opened = time;
	my @tokens = split /\n/, sql(
		"SELECT lockservice.lock_acquire('sx/' || i, $s) FROM generate_series(1, $n) i ORDER BY i");
	is(scalar(grep { $_ > 0 } @tokens), $n, "$n locks granted in the session");
	my @acq = $L->collect(
		until => sub { (grep { $_->{event} eq 'acquired' && $_->{name} =~ m{^sx/} } @_) >= $n },
		timeout => 30);
	my @acq_sx = grep { $_->{event} eq 'acquired' && $_->{name} =~ m{^sx/} } @acq;
	is(scalar(grep { ($_->{session} // 0) == $s && $_->{holder} eq 'sleeper' } @acq_sx),
		$n, 'each "acquired" event names the session and its holder');

	# not renewed: the reaper ends them all
	my $gone;
	while (time < $opened + 60)
	{
		if (sql("SELECT count(*) FROM lockservice.leases WHERE name LIKE 'sx/%'") == 0)
		{
			$gone = time;
			last;
		}
		usleep(50_000);
	}
	ok(defined $gone, 'every lock of the expired session was reaped');
	cmp_ok(($gone // 1e9) - $opened, '<=', 1 + 2 * $INTERVAL + $SLACK,
		'... within the session ttl + 2 x reap_interval (+ slack)');
	my @exp = $L->collect(
		until => sub { (grep { $_->{event} eq 'expired' && $_->{name} =~ m{^sx/} } @_) >= $n },
		timeout => 30);
	my @exp_sx = grep { $_->{event} eq 'expired' && $_->{name} =~ m{^sx/} } @exp;
	is(scalar(@exp_sx), $n, 'one "expired" event per lock');
	is(join(',', sort { $a <=> $b } map { $_->{token} } @exp_sx),
		join(',', sort { $a <=> $b } @tokens), '... with each lock\'s own token');
	is(scalar(grep { ($_->{session} // 0) == $s } @exp_sx), $n, '... naming the session');
	ok($node->poll_query_until('postgres',
			"SELECT count(*) = 0 FROM lockservice.sessions WHERE id = $s"),
		'the ended session\'s row is deleted once its locks are gone');
	is(sql("SELECT lockservice.session_renew($s)"), 'f', 'an ended session cannot be renewed');
}

# ---- renewed in time: nothing is reaped ------------------------------------
{
	my $s = sql("SELECT lockservice.session_open('alive', '1 second')");
	sql("SELECT lockservice.lock_acquire('sr/' || i, $s) FROM generate_series(1, 5) i");
	my $reaped = sql(
		"SELECT sum(reaped) FROM lockservice.reaper_status() WHERE datid = (SELECT oid FROM pg_database WHERE datname = 'postgres')");
	my $renewals_ok = 1;
	my $end = time + 4;
	while (time < $end)
	{
		$renewals_ok &&= sql("SELECT lockservice.session_renew($s)") eq 't';
		usleep(250_000);
	}
	ok($renewals_ok, 'the session was renewed every 250 ms for 4 s (ttl 1 s)');
	is(sql("SELECT count(*) FROM lockservice.leases_live WHERE session = $s"),
		'5', 'all 5 locks are still held');
	is(sql(
			"SELECT sum(reaped) FROM lockservice.reaper_status() WHERE datid = (SELECT oid FROM pg_database WHERE datname = 'postgres')"
		),
		$reaped, 'the reaper reaped none of them');

	is(sql("SELECT lockservice.session_close($s)"), 't', 'closed');
	my @rel = $L->collect(
		until => sub { (grep { $_->{event} eq 'released' && $_->{name} =~ m{^sr/} } @_) >= 5 },
		timeout => 30);
	is(scalar(grep { $_->{event} eq 'released' && $_->{name} =~ m{^sr/} && ($_->{session} // 0) == $s } @rel),
		5, 'closing: one "released" event per lock, naming the session');
	is(sql("SELECT count(*) FROM lockservice.leases_live WHERE name LIKE 'sr/%'"),
		'0', 'none is held after the close');
}
$L->quit;

# ---- a crash keeps the session and its locks --------------------------------
my ($s, $before);
{
	$s = sql("SELECT lockservice.session_open('survivor', '1 hour')");
	sql("SELECT lockservice.lock_acquire('sc/' || i, $s) FROM generate_series(1, 3) i");
	$before = sql("SELECT max(token) FROM lockservice.leases_live WHERE session = $s");
	my $pid = ls_kill9($node);
	ok(ls_start_after_crash($node, $pid), 'restarted after SIGKILL of the postmaster');
	is(sql("SELECT count(*) FROM lockservice.leases_live WHERE session = $s"),
		'3', 'after the crash: the session\'s 3 locks are held');
	is(sql("SELECT holder FROM lockservice.sessions_live WHERE id = $s"),
		'survivor', '... and the session is open');
	is(sql("SELECT lockservice.lock_acquire('sc/1', 'other') IS NULL"),
		't', '... its locks are not granted to others');
	is(sql("SELECT lockservice.session_renew($s)"), 't', '... it can be renewed');
	cmp_ok(sql("SELECT lockservice.lock_acquire('sc/4', $s)"), '>', $before,
		'... a new lock in it gets a higher token');
}

# ---- a lock whose session row is not there yet is not reaped ---------------
# A restore (pg_restore, psql) loads lockservice.leases before
# lockservice.sessions: in between, the reaper must leave the locks of the
# sessions still to come alone.  Here the session row is taken away by hand
# and put back after the reaper has certainly been through the table (a
# lease that expired after the row went is reaped first).
{
	my $rs = sql("SELECT lockservice.session_open('restored', '1 hour')");
	my $rt = sql("SELECT lockservice.lock_acquire('sr/1', $rs)");
	sql("CREATE TABLE saved_session AS SELECT * FROM lockservice.sessions WHERE id = $rs");
	sql("DELETE FROM lockservice.sessions WHERE id = $rs");
	sql("SELECT lockservice.lock_acquire('sr/marker', 'marker', '10 ms')");
	ok( $node->poll_query_until('postgres',
			"SELECT count(*) = 0 FROM lockservice.leases WHERE name = 'sr/marker'"),
		'with a session row missing, the reaper has been through the table');
	is(sql("SELECT token FROM lockservice.leases WHERE name = 'sr/1' AND session = $rs"),
		$rt, '... and left the lock of the missing session in place');
	sql("INSERT INTO lockservice.sessions SELECT * FROM saved_session");
	sql("DROP TABLE saved_session");
	is(sql("SELECT token FROM lockservice.leases_live WHERE name = 'sr/1' AND session = $rs"),
		$rt, 'the session row back (the rest of a restore): the lock is live');
	is(sql("SELECT lockservice.lock_acquire('sr/1', $rs)"), $rt,
		'... re-acquiring it in the session returns the same token');
	is(sql("SELECT lockservice.lock_acquire('sr/1', 'other') IS NULL"), 't',
		'... and nobody else gets it');

	# a lock whose session row stays missing (deleted by hand) is not
	# live: the next acquire of the name takes it over, with a higher token
	sql("DELETE FROM lockservice.sessions WHERE id = $rs");
	is(sql("SELECT count(*) FROM lockservice.leases_live WHERE name = 'sr/1'"), '0',
		'a lock whose session row is gone is not live');
	cmp_ok(sql("SELECT lockservice.lock_acquire('sr/1', 'other', '1 hour')"), '>', $rt,
		'... the next acquire of its name takes it over with a higher token');
}

# ---- failover to a synchronous standby keeps them too -----------------------
# The standby streams with synchronous_standby_names naming it, so every
# commit the primary acknowledges is on the standby's disk.  The primary is
# then stopped at once (immediate: no catch-up, no shutdown checkpoint) and
# the standby promoted: what was acknowledged must be there, the session's
# last renewal included.
{
	$node->backup('bk_sync');
	my $new = PostgreSQL::Test::Cluster->new('sessions_sync');
	$new->init_from_backup($node, 'bk_sync', has_streaming => 1);
	$new->append_conf('postgresql.conf', "shared_preload_libraries = 'lockservice'");
	$new->start;
	sql("ALTER SYSTEM SET synchronous_standby_names = 'sessions_sync'");
	$node->reload;
	ok( $node->poll_query_until('postgres',
			"SELECT sync_state = 'sync' FROM pg_stat_replication WHERE application_name = 'sessions_sync'"),
		'the standby is synchronous');

	# acknowledged with the standby's flush: a renewal, a lock, a session
	is(sql("SELECT lockservice.session_renew($s, '2 hours')"), 't',
		'a renewal of the session, committed with the synchronous standby');
	my $expires = sql("SELECT expires_at FROM lockservice.sessions WHERE id = $s");
	my $t5 = sql("SELECT lockservice.lock_acquire('sc/5', $s)");
	my $s2 = sql("SELECT lockservice.session_open('second', '1 hour')");
	my $t6 = sql("SELECT lockservice.lock_acquire('sc/6', $s2)");
	$node->stop('immediate');
	$new->promote;
	ok($new->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'),
		'the synchronous standby is promoted');

	my $nsql = sub { return $new->safe_psql('postgres', $_[0]); };
	is($nsql->("SELECT string_agg(name || ' ' || token, ',' ORDER BY name) FROM lockservice.leases_live WHERE session = $s2"),
		"sc/6 $t6", 'after failover: a session opened just before it and its lock are there');
	is($nsql->("SELECT count(*) FROM lockservice.leases_live WHERE session = $s"),
		'5', '... the older session\'s 5 locks are held');
	is($nsql->("SELECT token FROM lockservice.leases_live WHERE name = 'sc/5'"),
		$t5, '... the last one with its token');
	is($nsql->("SELECT expires_at FROM lockservice.sessions WHERE id = $s"),
		$expires, '... and the session\'s last renewal (2 hours) survived');
	is($nsql->("SELECT lockservice.session_renew($s)"),
		't', '... the session can be renewed on the new primary');
	is($nsql->("SELECT lockservice.lock_acquire('sc/2', 'other') IS NULL"),
		't', '... its locks are not granted to others');
	cmp_ok($nsql->("SELECT lockservice.lock_acquire('sc/7', $s)"),
		'>', $t6, '... a new lock in it gets a higher token than any before');
	is($nsql->("SELECT lockservice.session_close($s)"),
		't', '... and it can be closed');
	is($nsql->("SELECT count(*) FROM lockservice.leases_live WHERE session = $s"),
		'0', '... which ends all its locks');
	$new->stop;
}

done_testing();
