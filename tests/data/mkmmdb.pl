#!/usr/bin/perl
# SPDX-License-Identifier: MIT
# tests/data/mkmmdb.pl: writes hadnsd's own small GeoIP2-City-format test database, so the
# GeoIP tests never need a real (licensed, large, changing) MaxMind file in the tree.
#   perl tests/data/mkmmdb.pl [--type=DATABASE_TYPE] OUT.mmdb
# --type changes only the metadata's database_type (default GeoIP2-City), for testing that a
# reader refuses a database of the wrong kind.
# Needs MaxMind::DB::Writer::Tree (Debian: libmaxmind-db-writer-perl); exits 2 with a message
# when it is missing. Check a result with `mmdblookup -f OUT.mmdb -i 192.0.2.1` (mmdb-bin).
#
# The networks, which tests/unit/test_geoip.c relies on (keep the two in step):
#
#   network            continent  country  subdivision  lat, lon         why
#   192.0.2.0/24       EU         DE       BE (Berlin)  52.52, 13.40     TEST-NET-1
#   198.51.100.0/24    NA         US       CA           37.77, -122.42   TEST-NET-2
#   203.0.113.0/24     AS         JP       13 (Tokyo)   35.69, 139.69    TEST-NET-3
#   100.64.0.0/16      EU         GB       -            51.51, -0.13     no subdivision
#   100.65.0.0/25      OC         AU       -            -33.87, 151.21   narrower than /24: the
#                                                                        cache must not keep it
#   100.66.0.0/16      EU         (NL)     -            -                only registered_country,
#                                                                        no country: the fallback
#   100.67.0.0/16      eu         ie       wxyz         -                lower case (read as EU,
#                                                                        IE) and a subdivision
#                                                                        code too long to keep
#   2001:db8:1::/48    EU         FR       -            48.86, 2.35      IPv6
#   2001:db8:2::/48    NA         US       NY           40.71, -74.01    IPv6
#   127.0.0.0/8        NA         US       TX           30.27, -97.74    loopback clients (dnsperf
#                                                                        on the same host) map
#                                                                        somewhere
#
# Everything else is absent. These are all reserved ranges (RFC 5737, RFC 6598, RFC 3849,
# loopback), which the writer silently drops by default: remove_reserved_networks => 0 keeps
# them. alias_ipv6_to_ipv4 makes ::ffff:0:0/96 (and 6to4, Teredo) point at the IPv4 subtree
# ::/96, as in MaxMind's own databases, so IPv4 and IPv4-mapped lookups both work in this
# IPv6 tree.
use strict;
use warnings;

my $type = 'GeoIP2-City';
if ( @ARGV && $ARGV[0] =~ /\A--type=(.+)\z/ ) {
    $type = $1;
    shift @ARGV;
}
my $out = shift @ARGV;
if ( !defined $out || @ARGV ) {
    print STDERR "usage: $0 [--type=DATABASE_TYPE] OUT.mmdb\n";
    exit 2;
}
if ( !eval { require MaxMind::DB::Writer::Tree; 1 } ) {
    print STDERR "$0: MaxMind::DB::Writer::Tree is missing "
        . "(Debian: apt-get install libmaxmind-db-writer-perl)\n";
    exit 2;
}

# The MaxMind DB format stores typed values; the writer asks for each map key's type. The
# keys and types are those of GeoIP2-City (see MaxMind's GeoIP2-City-Test.json).
my %types = (
    continent           => 'map',
    country             => 'map',
    registered_country  => 'map',
    subdivisions        => [ 'array', 'map' ],
    location            => 'map',
    city                => 'map',
    names               => 'map',
    code                => 'utf8_string',
    iso_code            => 'utf8_string',
    en                  => 'utf8_string',
    geoname_id          => 'uint32',
    latitude            => 'double',
    longitude           => 'double',
    accuracy_radius     => 'uint16',
);

sub place {
    my (%a) = @_;
    my %rec = (
        continent => { code => $a{continent}, names => { en => $a{continent_name} } },
    );
    $rec{country} = { iso_code => $a{country}, names => { en => $a{country_name} } }
        if $a{country};
    $rec{registered_country} =
        { iso_code => $a{registered} // $a{country}, names => { en => $a{country_name} } };
    $rec{subdivisions} = [ { iso_code => $a{subdivision}, names => { en => $a{sub_name} } } ]
        if $a{subdivision};
    $rec{location} =
        { latitude => $a{lat}, longitude => $a{lon}, accuracy_radius => 100 }
        if defined $a{lat};
    $rec{city} = { names => { en => $a{city} } } if $a{city};
    return \%rec;
}

my $berlin = place(
    continent => 'EU', continent_name => 'Europe', country => 'DE',
    country_name => 'Germany', subdivision => 'BE', sub_name => 'Berlin',
    city => 'Berlin', lat => 52.52, lon => 13.40 );
my @networks = (
    [ '192.0.2.0/24', $berlin ],
    # A second, wider network with the very same record, which the writer stores once (as
    # every network of one city shares one record in MaxMind's data): hadnsd's cache of
    # decoded records must give it its own prefix.
    [ '100.68.0.0/15', $berlin ],
    [ '198.51.100.0/24', place(
        continent => 'NA', continent_name => 'North America', country => 'US',
        country_name => 'United States', subdivision => 'CA', sub_name => 'California',
        city => 'San Francisco', lat => 37.77, lon => -122.42 ) ],
    [ '203.0.113.0/24', place(
        continent => 'AS', continent_name => 'Asia', country => 'JP', country_name => 'Japan',
        subdivision => '13', sub_name => 'Tokyo', city => 'Tokyo',
        lat => 35.69, lon => 139.69 ) ],
    [ '100.64.0.0/16', place(
        continent => 'EU', continent_name => 'Europe', country => 'GB',
        country_name => 'United Kingdom', lat => 51.51, lon => -0.13 ) ],
    [ '100.65.0.0/25', place(
        continent => 'OC', continent_name => 'Oceania', country => 'AU',
        country_name => 'Australia', lat => -33.87, lon => 151.21 ) ],
    [ '100.66.0.0/16', place(
        continent => 'EU', continent_name => 'Europe', registered => 'NL',
        country_name => 'Netherlands' ) ],
    [ '100.67.0.0/16', place(
        continent => 'eu', continent_name => 'Europe', country => 'ie',
        country_name => 'Ireland', subdivision => 'wxyz', sub_name => 'Nowhere' ) ],
    [ '2001:db8:1::/48', place(
        continent => 'EU', continent_name => 'Europe', country => 'FR',
        country_name => 'France', city => 'Paris', lat => 48.86, lon => 2.35 ) ],
    [ '2001:db8:2::/48', place(
        continent => 'NA', continent_name => 'North America', country => 'US',
        country_name => 'United States', subdivision => 'NY', sub_name => 'New York',
        city => 'New York', lat => 40.71, lon => -74.01 ) ],
    [ '127.0.0.0/8', place(
        continent => 'NA', continent_name => 'North America', country => 'US',
        country_name => 'United States', subdivision => 'TX', sub_name => 'Texas',
        city => 'Austin', lat => 30.27, lon => -97.74 ) ],
);

my $tree = MaxMind::DB::Writer::Tree->new(
    ip_version               => 6,
    record_size              => 24,
    database_type            => $type,
    languages                => ['en'],
    description              => { en => 'hadnsd test database (tests/data/mkmmdb.pl)' },
    map_key_type_callback    => sub {
        my $t = $types{ $_[0] };
        die "mkmmdb.pl: no type for map key '$_[0]'\n" unless defined $t;
        return $t;
    },
    merge_strategy           => 'none',
    alias_ipv6_to_ipv4       => 1,
    remove_reserved_networks => 0,
);
$tree->insert_network( $_->[0], $_->[1] ) for @networks;

# Write beside the target and rename: a reader (or a second writer running at the same time)
# sees either no file or a whole one.
my $tmp = "$out.tmp.$$";
open my $fh, '>:raw', $tmp or die "mkmmdb.pl: $tmp: $!\n";
$tree->write_tree($fh);
close $fh or die "mkmmdb.pl: $tmp: $!\n";
rename $tmp, $out or do {
    my $e = $!;
    unlink $tmp;
    die "mkmmdb.pl: $out: $e\n";
};
exit 0;
