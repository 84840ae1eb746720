
# Copyright: lockservice project
#
# A major-version upgrade: a cluster of an older PostgreSQL (LS_OLD_INSTALL,
# an installation with lockservice in it: scripts/test.sh's pg18 suite
# points it at its PostgreSQL 15) that went through a failover (timeline 2),
# with history on, live leases of every kind, a fenced resource and a waiter
# that gave up, is upgraded into this PostgreSQL (18 in CI) with pg_upgrade,
# in copy mode and in --link mode, and dumped with pg_dump and restored into
# it.  Each time: the live leases are there with their tokens, the first new
# token is above every earlier one, fence accepts it and refuses the old
# ones (LS001), LS002 still refuses never-issued tokens, the reaper runs,
# events arrive, and ALTER EXTENSION lockservice UPDATE keeps all of that.

use strict;
use warnings;

use Cwd;
use File::Spec;
use FindBin;
use IPC::Run;
use lib $FindBin::RealBin;
use LSTest;
use LSReaper;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $old_install = $ENV{LS_OLD_INSTALL};
plan skip_all => 'LS_OLD_INSTALL is not set (an older PostgreSQL installation with lockservice; '
  . 'scripts/test.sh sets it in its pg18 suite)'
  unless $old_install;

my $default_version = slurp_file("$FindBin::RealBin/../../lockservice.control") =~ /^default_version\s*=\s*'([^']+)'/m
  ? $1 : die 'no default_version in lockservice.control';
my $conf = "shared_preload_libraries = 'lockservice'\nlockservice.history = on\n"
  . "lockservice.reap_interval = '200ms'\n";

# ------------------------------------------- the old cluster, on timeline 2
my $first = PostgreSQL::Test::Cluster->new('major_first', install_path => $old_install);
$first->init(allows_streaming => 1);
# this major's test modules write settings an older server does not know
$first->adjust_conf('postgresql.conf', 'autovacuum_worker_slots', undef)
  if $first->pg_version < 18;
$first->append_conf('postgresql.conf', $conf);
$first->start;
my $old_version = $first->safe_psql('postgres', 'SHOW server_version_num');
$first->safe_psql('postgres', 'CREATE EXTENSION lockservice');
$first->safe_psql('postgres', "SELECT lockservice.lock_acquire('before-failover', 'w', '1 hour')");
my $old = ls_failover($first, 'major_old', $conf, install_path => $old_install);
my $o = sub { $old->safe_psql('postgres', shift) };
$o->('CHECKPOINT');    # (the end of recovery's checkpoint may still be under way)
is($o->('SELECT timeline_id FROM pg_control_checkpoint()'), '2',
	"the old cluster ($old_version) is on timeline 2");

my %live = (
	exclusive => $o->("SELECT lockservice.lock_acquire('live-x', 'hx', '1 hour')"),
	shared => $o->("SELECT lockservice.lock_acquire_shared('live-s', 'hs', '1 hour')"),
	permit => $o->("SELECT lockservice.sem_acquire('live-p', 'hp', 3, '1 hour')"),
);
my $fenced = $o->("SELECT lockservice.lock_acquire('fenced', 'writer', '1 hour')");
$o->("SELECT lockservice.fence('resource', $fenced)");
$o->("SELECT lockservice.lock_release('fenced', $fenced)");
is($o->("SELECT lockservice.lock_acquire('live-x', 'waiter', '1 min', '300 ms') IS NULL"), 't',
	'a waiter gave up before the upgrade');
my $old_last = $o->('SELECT lockservice.last_issued_token()');
my $old_checksums = $o->('SHOW data_checksums');
my $old_history = $o->('SELECT count(*) FROM lockservice.history');
cmp_ok($old_history, '>=', 5, 'the history has the old grants');
$old->stop;

# a copy of the stopped old cluster for the --link run, which takes its data
# directory over (copy mode leaves the old cluster as it was)
my $tmp = File::Spec->rel2abs(PostgreSQL::Test::Utils::tempdir());
my $old_data = File::Spec->rel2abs($old->data_dir);
system('cp', '-a', $old_data, "$tmp/old-link") == 0 or die "cp: $?";
my $old_bindir = "$old_install/bin";

# upgraded(NAME, OLD_DATA, MODE...): a new cluster of this PostgreSQL made
# from OLD_DATA by pg_upgrade (not started); returns (node, '') or, when
# pg_upgrade failed, (node, the reason: the errors of its logs)
sub upgraded
{
	my ($name, $from, @mode) = @_;
	my $new = PostgreSQL::Test::Cluster->new($name);
	# pg_upgrade wants data checksums as the old cluster has them; since 18
	# initdb turns them on by default
	my @checksums = $old_checksums eq 'on' ? ('--data-checksums')
	  : $new->pg_version >= 18 ? ('--no-data-checksums') : ();
	$new->init(allows_streaming => 1, extra => \@checksums);
	$new->append_conf('postgresql.conf', $conf);
	my $new_data = File::Spec->rel2abs($new->data_dir);
	my $cwd = getcwd();
	chdir(PostgreSQL::Test::Utils::tempdir()) or die "chdir: $!";
	my ($stdout, $stderr) = ('', '');
	my $ok = IPC::Run::run(
		[
			'pg_upgrade', '--no-sync', @mode,
			'-d', $from, '-D', $new_data,
			'-b', $old_bindir, '-B', $new->config_data('--bindir'),
			'-s', $new->host, '-p', $old->port, '-P', $new->port
		],
		'>', \$stdout, '2>', \$stderr);
	chdir($cwd) or die "chdir: $!";
	note "pg_upgrade @mode:\n$stdout$stderr";
	return ($new, '') if $ok;
	my $why = 'pg_upgrade failed';
	for my $log (glob("$new_data/pg_upgrade_output.d/*/log/*.log"))
	{
		my ($err) = slurp_file($log) =~ /^(?:pg_restore: error: .*\n)?.*?(ERROR: .*)$/m;
		$why = "$why: $err" if $err;
	}
	return ($new, $why);
}

# the checks on a cluster made from the old one; DB its database
sub check_copy
{
	my ($what, $node, $db) = @_;
	my $q = sub { $node->safe_psql($db, shift) };
	is($q->("SELECT count(*) FROM lockservice.leases_live
		WHERE (name, token) IN (('live-x', $live{exclusive}), ('live-s', $live{shared}), ('live-p', $live{permit}))"),
		'3', "$what: the exclusive, shared and semaphore leases are there with their tokens");
	is($q->("SELECT lockservice.lock_renew('live-x', $live{exclusive})"), 't',
		"$what: the exclusive holder renews its lease");
	is($q->('SELECT count(*) FROM lockservice.history'), $old_history,
		"$what: the history is there");
	my $L = LSReaper::Listener->new($node, $db);
	my $new_token = $q->("SELECT lockservice.lock_acquire('after-$what', 'w', '1 hour')");
	cmp_ok($new_token, '>', $old_last, "$what: the first new token is above every old one");
	my @ev = $L->until_name("after-$what", 30);
	ok(@ev && $ev[-1]{event} eq 'acquired', "$what: its event arrives on LISTEN channel lockservice");
	is($q->("SELECT lockservice.fence('resource', $new_token)"), '',
		"$what: fence accepts the new token");
	my ($state) = ls_sqlstate($node, "\\c $db\nSELECT lockservice.fence('resource', $fenced)");
	is($state, 'LS001', "$what: fence refuses the old token (LS001)");
	($state) = ls_sqlstate($node, "\\c $db\nSELECT lockservice.fence('resource', $new_token + (1::bigint << 40))");
	is($state, 'LS002', "$what: fence still refuses a token never issued (LS002)");
	my ($reaper) = rn_wait_reaper($node, $db, timeout => 30);
	ok(defined $reaper, "$what: a reaper runs");
	$q->("SELECT lockservice.lock_acquire('short-$what', 'w', '300 ms')");
	ok($node->poll_query_until($db,
		"SELECT count(*) = 1 FROM lockservice.history WHERE name = 'short-$what' AND event = 'expired'"),
		"$what: the reaper ends an expired lease");
	$q->('ALTER EXTENSION lockservice UPDATE');
	is($q->("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'lockservice'"),
		$default_version, "$what: ALTER EXTENSION lockservice UPDATE: at the default version ($default_version)");
	cmp_ok($q->("SELECT lockservice.lock_acquire('after-update-$what', 'w', '1 hour')"), '>', $new_token,
		"$what: after the update tokens go on rising");
	is($q->("SELECT count(*) FROM lockservice.leases_live WHERE name = 'live-x' AND token = $live{exclusive}"),
		'1', "$what: the live lease is still there");
	$L->quit;
}

# pg_upgrade in copy and in --link mode; a failure of PostgreSQL's own (an
# option the old server writes that the new one refuses) skips that mode's
# checks and says so
my $checks = 13;
for my $run ([ 'pg_upgrade', 'major_copy', $old_data ], [ 'pg_upgrade --link', 'major_link', "$tmp/old-link", '--link' ])
{
	my ($what, $name, $from, @mode) = @$run;
	my ($new, $why) = upgraded($name, $from, @mode);
  SKIP:
	{
		if ($why =~ /unrecognized parameter "pg_attver"/)
		{
			skip "$what: PostgreSQL $old_version writes the column option pg_attver, which "
			  . 'PostgreSQL ' . $new->pg_version . " refuses ($why)", $checks + 1;
		}
		is($why, '', "$what from $old_version to this major");
		$new->start;
		check_copy($what, $new, 'postgres');
		$new->stop;
	}
}

# pg_dump of the old cluster (this major's pg_dump), restored into a new one
$old->start;
my $dump = "$tmp/major.dump";
command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $old->connstr('postgres') ],
	"pg_dump (this major) of the $old_version cluster");
$old->stop;
my $restored = ls_node('major_restored', create => 0, conf => $conf);
$restored->safe_psql('postgres', 'CREATE DATABASE restored');
$restored->command_ok([ 'pg_restore', '-d', $restored->connstr('restored'), $dump ],
	'pg_restore into this major');
check_copy('restore', $restored, 'restored');
$restored->stop;

done_testing();
