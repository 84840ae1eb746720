
# Copyright: lockservice project
#
# META.json keeps PGXN's rules (META spec 1.0.0, https://pgxn.org/spec/):
# the required keys and their types, semantic versions, a license from the
# spec's list, provides entries with file and version, prereqs by phase and
# relation; and it agrees with the tree: the version is the control file's
# default_version, the files it names exist, the license file is there.

use strict;
use warnings;

use JSON::PP;
use Test::More;

my $root = $ENV{TESTDIR} // '.';
my $semver = qr/^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+)?$/;

sub slurp
{
	my ($path) = @_;
	open(my $fh, '<', $path) or die "cannot open $path: $!";
	local $/;
	my $text = <$fh>;
	close $fh;
	return $text;
}

my $meta = eval { JSON::PP->new->decode(slurp("$root/META.json")) };
ok($meta && ref $meta eq 'HASH', 'META.json is a JSON object') or BAIL_OUT($@);

for my $key (qw(name abstract maintainer license provides version meta-spec))
{
	ok(exists $meta->{$key}, "required key $key");
}

like($meta->{name}, qr/^[^\s\/\\\p{Cc}]{2,}$/, 'name: two characters or more, no space, slash or control');
is($meta->{name}, 'lockservice', 'name is the extension');
ok(!ref $meta->{abstract} && length $meta->{abstract} > 0, 'abstract is a non-empty string');
like($meta->{version}, $semver, 'version is a semantic version');
is($meta->{'meta-spec'}{version}, '1.0.0', 'meta-spec version 1.0.0');

my @maintainers = ref $meta->{maintainer} eq 'ARRAY' ? @{ $meta->{maintainer} } : ($meta->{maintainer});
ok(@maintainers && !grep({ ref $_ || $_ eq '' } @maintainers), 'maintainer: a string or a list of strings');

my %licenses = map { $_ => 1 } qw(agpl_3 apache_1_1 apache_2_0 artistic_1 artistic_2 bsd freebsd
  gfdl_1_2 gfdl_1_3 gpl_1 gpl_2 gpl_3 lgpl_2_1 lgpl_3_0 mit mozilla_1_0 mozilla_1_1 openssl perl_5
  postgresql qpl_1_0 ssleay sun zlib open_source restricted unrestricted unknown);
my @license = ref $meta->{license} eq 'ARRAY' ? @{ $meta->{license} } : ($meta->{license});
ok(!grep({ ref $_ ? ref $_ ne 'HASH' : !$licenses{$_} } @license), 'license from the spec\'s list');
ok(-f "$root/LICENSE", 'the LICENSE file is there');
like(slurp("$root/LICENSE"), qr/Permission to use, copy, modify, and distribute this software/,
	'LICENSE is the PostgreSQL License') if $meta->{license} eq 'postgresql';

my $control = slurp("$root/lockservice.control");
my ($default) = $control =~ /^default_version\s*=\s*'([^']+)'/m;
is($meta->{version}, "$default.0", "version is the control file's default_version ($default)");

ok(ref $meta->{provides} eq 'HASH' && %{ $meta->{provides} }, 'provides: at least one extension');
while (my ($ext, $p) = each %{ $meta->{provides} })
{
	ok(ref $p eq 'HASH', "provides $ext: an object");
	ok(defined $p->{file} && -f "$root/$p->{file}", "provides $ext: file $p->{file} exists");
	like($p->{version} // '', $semver, "provides $ext: version is semantic");
	ok(!defined $p->{docfile} || -f "$root/$p->{docfile}", "provides $ext: docfile exists");
	is($p->{version}, $meta->{version}, "provides $ext: the distribution's version");
}

my %phases = map { $_ => 1 } qw(configure build test runtime develop);
my %relations = map { $_ => 1 } qw(requires recommends suggests conflicts);
my @bad;
for my $phase (keys %{ $meta->{prereqs} // {} })
{
	push @bad, "phase $phase" unless $phases{$phase};
	for my $rel (keys %{ $meta->{prereqs}{$phase} })
	{
		push @bad, "relation $phase.$rel" unless $relations{$rel};
		while (my ($name, $ver) = each %{ $meta->{prereqs}{$phase}{$rel} })
		{
			push @bad, "$phase.$rel.$name: $ver" unless $ver eq '0' || $ver =~ $semver;
		}
	}
}
is_deeply(\@bad, [], 'prereqs: known phases and relations, semantic versions');
is($meta->{prereqs}{runtime}{requires}{PostgreSQL}, '15.0.0', 'requires PostgreSQL 15');

like($meta->{release_status} // 'stable', qr/^(stable|testing|unstable)$/, 'release_status');
ok(!defined $meta->{tags}
	  || (ref $meta->{tags} eq 'ARRAY' && !grep({ ref $_ || length $_ == 0 || length $_ > 255 } @{ $meta->{tags} })),
	'tags: strings of 1 to 255 characters');

done_testing();
