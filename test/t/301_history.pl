
# The audit history (issue 5) with a preloaded server and its reaper:
# - lockservice.history = on in postgresql.conf: the reaper records the
#   expiry of every kind of lease it reaps ("expired", owner: the holder's
#   role, actor: the reaper's bootstrap superuser);
# - lockservice.history_retention: the reaper prunes rows older than it,
#   not younger ones;
# - lockservice.history_max_rows: the reaper keeps the newest max_rows rows
#   and goes on keeping them (it counts rows by the statistics' live-tuple
#   count);
# - force_release: a "forced_release" row (actor: the operator) and an
#   event on LISTEN channel lockservice with "by": the operator;
# - lockservice.history = off in postgresql.conf: nothing is recorded.
# (What sessions record, and that a rollback leaves no trace:
# test/sql/history.sql.)

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

my $INTERVAL = 0.2;    # s, lockservice.reap_interval of this node

# the settings of issue 5 (and the reap interval) in postgresql.conf
my %CONF = (
	'lockservice.history' => 'on',
	'lockservice.history_max_rows' => '5000',
	'lockservice.history_retention' => '7200',
	'lockservice.lock_delay' => '250',
	'lockservice.reap_interval' => '200');
my $node = ls_node(
	'history',
	preload => 1,
	conf => "log_line_prefix = '%m [%p] %b: %q%a '\n"
	  . "lockservice.history = on\n"
	  . "lockservice.history_max_rows = 5000\n"
	  . "lockservice.history_retention = '2h'\n"
	  . "lockservice.lock_delay = 250\n"
	  . "lockservice.reap_interval = '200ms'\n");

sub sql { return $node->safe_psql('postgres', $_[0]); }

sub settings
{
	return sql(
		q{SELECT string_agg(name || '=' || setting, ' ' ORDER BY name) FROM pg_catalog.pg_settings
		   WHERE name IN ('lockservice.history', 'lockservice.history_max_rows',
		                  'lockservice.history_retention', 'lockservice.lock_delay',
		                  'lockservice.reap_interval')});
}
my $want_settings = join ' ', map { "$_=$CONF{$_}" } sort keys %CONF;

# A setting of the library in postgresql.conf must be in effect from the
# start, with no reload (a lock-delay that silently is not there is a
# safety feature off).
if (!is(settings(), $want_settings,
		'the settings in postgresql.conf are in effect after start, without a reload'))
{
	diag 'server log: '
	  . join('', grep { /lockservice/ } split /^/, slurp_file($node->logfile));
	sql('SELECT pg_catalog.pg_reload_conf()');
	$node->poll_query_until('postgres',
		"SELECT current_setting('lockservice.history_max_rows') = '5000'");
	usleep(1_200_000);    # the workers apply the SIGHUP after their old interval
}
is(settings(), $want_settings, 'the settings in postgresql.conf are in effect (after a reload at the latest)');
my ($reaper) = rn_wait_reaper($node, 'postgres', timeout => 10);
ok(defined $reaper, 'a reaper runs');

sub now_epoch { return sql('SELECT extract(epoch FROM clock_timestamp())'); }

# change settings in postgresql.auto.conf and let every process see them
sub reconfigure
{
	my (@settings) = @_;
	sql("ALTER SYSTEM SET $_") for @settings;
	sql('SELECT pg_catalog.pg_reload_conf()');
	# the reaper applies a SIGHUP at its next round
	usleep(4 * $INTERVAL * 1e6);
	return;
}

sql(q{
CREATE ROLE ls_app;
CREATE ROLE ls_op;
GRANT EXECUTE ON FUNCTION lockservice.force_release(text, bigint) TO ls_op;
});

# ---- the reaper records the expiries it reaps ---------------------------------
{
	my ($tx, $ts, $tp) = split /\|/, sql(q{
SET ROLE ls_app;
SELECT lockservice.lock_acquire('exp/x', 'hx', '300 ms'),
       lockservice.lock_acquire_shared('exp/s', 'hs', '300 ms'),
       lockservice.sem_acquire('exp/p', 'hp', 2, '300 ms');
});
	ok( $node->poll_query_until(
			'postgres',
			q{SELECT count(*) = 3 FROM lockservice.history
			   WHERE event = 'expired' AND name LIKE 'exp/%'}),
		'the reaper records the expiry of an exclusive lease, a shared lease and a permit');
	is( sql(
			q{SELECT string_agg(format('%s %s %s %s', name, kind, holder, owner::regrole), ', ' ORDER BY name)
			    FROM lockservice.history WHERE event = 'expired' AND name LIKE 'exp/%'}),
		'exp/p p hp ls_app, exp/s s hs ls_app, exp/x x hx ls_app',
		'expired rows: name, kind, holder and the owner role of each lease');
	is( sql(
			qq{SELECT string_agg(name || '=' || (token = CASE name WHEN 'exp/x' THEN $tx
			                                                     WHEN 'exp/s' THEN $ts ELSE $tp END)::text,
			                     ',' ORDER BY name)
			     FROM lockservice.history WHERE event = 'expired' AND name LIKE 'exp/%'}),
		'exp/p=true,exp/s=true,exp/x=true',
		'expired rows: the token of each lease');
	is( sql(
			q{SELECT count(*) FROM lockservice.history
			   WHERE event = 'expired' AND name LIKE 'exp/%' AND actor <> 10}),
		'0',
		'expired rows: the actor is the bootstrap superuser the reaper runs as');
	is( sql(
			q{SELECT count(*) FROM lockservice.history h
			   WHERE h.event = 'acquired' AND h.name LIKE 'exp/%'
			     AND h.owner = 'ls_app'::regrole AND h.actor = 'ls_app'::regrole}),
		'3',
		'acquired rows: owner and actor are the acquiring role');
	is( sql(
			q{SELECT count(*) FROM lockservice.leases
			   WHERE name LIKE 'exp/%' AND released_at IS NULL AND owner <> 0}),
		'0', 'the reaped leases are gone');
}

# ---- force_release: the row and the event name the operator -----------------
{
	my $L = LSReaper::Listener->new($node, 'postgres');
	my $tok = sql(q{SET ROLE ls_app; SELECT lockservice.lock_acquire('force/x', 'hf', '1 hour')});
	is(sql(q{SET ROLE ls_op; SELECT lockservice.force_release('force/x')}),
		'1', 'the operator role forces the lease of another role');
	my @ev = $L->collect(
		until => sub { grep { ($_->{event} // '') eq 'forced_release' } @_ },
		timeout => 30);
	my ($e) = grep { ($_->{event} // '') eq 'forced_release' } @ev;
	ok($e, 'a "forced_release" event is published on LISTEN channel lockservice');
	is($e && $e->{name}, 'force/x', 'forced_release event: name');
	is($e && $e->{holder}, 'hf', 'forced_release event: the holder whose lease ended');
	is($e && $e->{token}, $tok, 'forced_release event: its token');
	is($e && $e->{by}, 'ls_op', 'forced_release event: "by" names the operator role');
	$L->quit;
	is( sql(
			qq{SELECT string_agg(format('%s %s %s %s %s', event, kind, holder, owner::regrole, actor::regrole)
			                     || ' ' || (token = $tok)::text, ', ' ORDER BY at, ctid)
			     FROM lockservice.history WHERE name = 'force/x'}),
		'acquired x hf ls_app ls_app true, forced_release x hf ls_app ls_op true',
		'history: the grant, and the forced release with the operator as actor');
}

# ---- retention: rows older than history_retention go, younger ones stay ------
{
	reconfigure("lockservice.history_retention = '4s'");
	is(sql('SHOW lockservice.history_retention'), '4s', 'history_retention set to 4s');
	my $old_at = sql(q{
SELECT lockservice.lock_release('ret/old', lockservice.lock_acquire('ret/old', 'h'));
SELECT extract(epoch FROM max(at)) FROM lockservice.history WHERE name = 'ret/old';
});
	$old_at = (split /\n/, $old_at)[-1];
	usleep(2_000_000);    # the next rows are 2 s younger
	sql(q{SELECT lockservice.lock_release('ret/new', lockservice.lock_acquire('ret/new', 'h'))});
	ok( $node->poll_query_until(
			'postgres',
			q{SELECT NOT EXISTS (SELECT 1 FROM lockservice.history WHERE name = 'ret/old')}),
		'rows older than history_retention are pruned');
	my $gone = now_epoch();
	is(sql(q{SELECT count(*) FROM lockservice.history WHERE name = 'ret/new'}),
		'2', 'rows younger than history_retention are kept meanwhile');
	cmp_ok($gone - $old_at, '>=', 4, 'no row was pruned before it was history_retention old');
	ok( $node->poll_query_until(
			'postgres',
			q{SELECT NOT EXISTS (SELECT 1 FROM lockservice.history WHERE name = 'ret/new')}),
		'the younger rows go too once they are history_retention old');
	is(sql(q{SELECT count(*) FROM lockservice.history}), '0',
		'with a short retention and nothing happening, the history empties');
}

# ---- history_max_rows: the newest rows are kept ---------------------------
{
	reconfigure("lockservice.history_retention = '1h'", 'lockservice.history_max_rows = 10');
	# 15 grants and releases of names max/01 .. max/15: 30 rows, oldest first
	sql(q{
SELECT count(lockservice.lock_release(n, lockservice.lock_acquire(n, 'h')))
  FROM (SELECT 'max/' || lpad(g::text, 2, '0') AS n FROM generate_series(1, 15) g) s;
});
	# the statistics learn of the rows when that session has ended
	ok( $node->poll_query_until(
			'postgres',
			q{SELECT count(*) <= 10 FROM lockservice.history}),
		'the reaper prunes the history down to history_max_rows');
	my $first = sql(q{SELECT count(*) FROM lockservice.history});
	usleep(10 * $INTERVAL * 1e6);    # ten more rounds of the reaper
	my $later = sql(q{SELECT count(*) FROM lockservice.history});
	is($first, '10', 'exactly history_max_rows rows are kept');
	is($later, '10', 'and still history_max_rows rows ten reaper rounds later (nothing more is pruned)');
	is( sql(
			q{SELECT string_agg(DISTINCT name, ',' ORDER BY name) FROM lockservice.history}),
		'max/11,max/12,max/13,max/14,max/15',
		'the newest rows are the ones kept');
	reconfigure('lockservice.history_max_rows = 1000000');
}

# ---- switched off in postgresql.conf: nothing is recorded ----------------------
{
	reconfigure('lockservice.history = off');
	is(sql('SHOW lockservice.history'), 'off', 'lockservice.history is off');
	sql(q{SELECT lockservice.lock_release('off/r', lockservice.lock_acquire('off/r', 'h'))});
	sql(q{SELECT lockservice.lock_acquire('off/x', 'h', '300 ms')});
	ok( $node->poll_query_until(
			'postgres',
			q{SELECT NOT EXISTS (SELECT 1 FROM lockservice.leases WHERE name = 'off/x')}),
		'the expired lease is reaped');
	is(sql(q{SELECT count(*) FROM lockservice.history WHERE name LIKE 'off/%'}),
		'0', 'with lockservice.history off neither sessions nor the reaper record anything');
}

$node->stop;
done_testing();
