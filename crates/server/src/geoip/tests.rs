use std::path::{Path, PathBuf};

use super::writer::{Value, Writer};
use super::*;
use crate::config::Config;

fn city(iso: &str, lat: f64, lon: f64) -> Value {
    Value::map([
        (
            "city",
            Value::map([(
                "names",
                Value::map([
                    ("en", Value::str("Somewhere")),
                    ("de", Value::str("Irgendwo")),
                ]),
            )]),
        ),
        (
            "continent",
            Value::map([
                ("code", Value::str("EU")),
                ("geoname_id", Value::U32(6_255_148)),
            ]),
        ),
        (
            "country",
            Value::map([
                ("geoname_id", Value::U32(2_921_044)),
                ("is_in_european_union", Value::Bool(true)),
                ("iso_code", Value::str(iso)),
                ("names", Value::map([("en", Value::str("Country"))])),
            ]),
        ),
        (
            "location",
            Value::map([
                ("accuracy_radius", Value::U16(100)),
                ("latitude", Value::F64(lat)),
                ("longitude", Value::F64(lon)),
                ("time_zone", Value::str("Europe/Berlin")),
            ]),
        ),
        (
            "subdivisions",
            Value::Array(vec![Value::map([("iso_code", Value::str("BE"))])]),
        ),
    ])
}

fn country(iso: &str) -> Value {
    Value::map([(
        "country",
        Value::map([
            ("geoname_id", Value::U32(2_921_044)),
            ("iso_code", Value::str(iso)),
        ]),
    )])
}

fn asn(number: u32, org: &str) -> Value {
    Value::map([
        ("autonomous_system_number", Value::U32(number)),
        ("autonomous_system_organization", Value::str(org)),
    ])
}

/// A City database: 198.51.100.0/24 in Berlin, 198.51.100.128/25 in
/// Paris (more specific, inserted after), 2001:db8::/32 in Sydney.
fn city_db(ip_version: u16, record_size: u16) -> Vec<u8> {
    let mut w = Writer::new("GeoLite2-City", ip_version, record_size);
    w.insert("198.51.100.0/24", &city("DE", 52.52, 13.405))
        .unwrap();
    w.insert("198.51.100.128/25", &city("FR", 48.8566, 2.3522))
        .unwrap();
    if ip_version == 6 {
        w.insert("2001:db8::/32", &city("AU", -33.87, 151.21))
            .unwrap();
    }
    w.to_bytes()
}

fn asn_db() -> Vec<u8> {
    let mut w = Writer::new("GeoLite2-ASN", 6, 24);
    w.insert("198.51.100.0/24", &asn(64_496, "Example Net"))
        .unwrap();
    w.insert("2001:db8::/32", &asn(4_200_000_000, "Example Six"))
        .unwrap();
    w.to_bytes()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn file(setting: &str, path: &Path) -> Option<GeoIpFile> {
    Some(GeoIpFile {
        setting: setting.to_owned(),
        path: path.to_owned(),
    })
}

fn open_one(path: &Path) -> Result<Option<MaxMindGeoIp>, ConfigError> {
    open(&GeoIpConfig {
        db: file("PORTCULLIS_GEOIP_DB", path),
        asn_db: None,
    })
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn the_writer_writes_what_the_reference_reader_verifies() {
    for (ip_version, record_size) in [(4, 24), (4, 28), (6, 24), (6, 28), (6, 32)] {
        let reader = Reader::from_source(city_db(ip_version, record_size)).unwrap();
        reader.verify().unwrap();
        let m = reader.metadata();
        assert_eq!(m.database_type, "GeoLite2-City");
        assert_eq!((m.ip_version, m.record_size), (ip_version, record_size));
        assert_eq!(m.binary_format_major_version, 2);
        assert_eq!(m.languages, vec!["en".to_owned()]);
        // Decoded in full by the crate's own City schema.
        let found = reader.lookup(ip("198.51.100.7")).unwrap();
        assert_eq!(found.network().unwrap().to_string(), "198.51.100.0/25");
        let city: maxminddb::geoip2::City<'_> = found.decode().unwrap().unwrap();
        assert_eq!(city.country.iso_code, Some("DE"));
        assert_eq!(city.city.names.english, Some("Somewhere"));
        assert_eq!(city.location.accuracy_radius, Some(100));
        assert_eq!(city.subdivisions.len(), 1);
    }
    Reader::from_source(asn_db()).unwrap().verify().unwrap();
}

#[test]
fn kinds_by_database_type() {
    for (t, k) in [
        ("GeoLite2-City", Some(Kind::City)),
        ("GeoIP2-City", Some(Kind::City)),
        ("GeoIP2-City-Europe", Some(Kind::City)),
        ("DBIP-City-Lite", Some(Kind::City)),
        ("GeoLite2-Country", Some(Kind::Country)),
        ("GeoIP2-Country", Some(Kind::Country)),
        ("GeoLite2-ASN", Some(Kind::Asn)),
        ("GeoIP2-ISP", Some(Kind::Asn)),
        ("DBIP-ASN-Lite", Some(Kind::Asn)),
        ("GeoIP2-Anonymous-IP", None),
        ("GeoIP2-Domain", None),
        ("GeoLite2-Citynope", None),
        ("My-City", None),
        ("", None),
    ] {
        assert_eq!(Kind::of(t), k, "{t}");
    }
}

#[test]
fn a_city_database_gives_country_and_location() {
    let dir = tempfile::tempdir().unwrap();
    for (ip_version, record_size) in [(4, 24), (6, 28)] {
        let path = write(dir.path(), "city.mmdb", &city_db(ip_version, record_size));
        let geo = open_one(&path).unwrap().unwrap();
        let berlin = geo.lookup(ip("198.51.100.7"));
        assert_eq!(berlin.country.as_deref(), Some("DE"));
        assert_eq!(berlin.location, Some((52.52, 13.405)));
        assert_eq!(berlin.asn, None);
        let paris = geo.lookup(ip("198.51.100.200"));
        assert_eq!(paris.country.as_deref(), Some("FR"));
        assert_eq!(paris.location, Some((48.8566, 2.3522)));
        // IPv4 as a dual-stack listener reports it.
        assert_eq!(geo.lookup(ip("::ffff:198.51.100.7")), berlin);
        // Outside every network: nothing.
        for outside in ["198.51.101.1", "203.0.113.9", "127.0.0.1", "2001:db9::1"] {
            assert_eq!(geo.lookup(ip(outside)), GeoInfo::default(), "{outside}");
        }
        if ip_version == 6 {
            let sydney = geo.lookup(ip("2001:db8:1::42"));
            assert_eq!(sydney.country.as_deref(), Some("AU"));
            assert_eq!(sydney.location, Some((-33.87, 151.21)));
        } else {
            // IPv6 in an IPv4 database: an error inside, nothing outside.
            assert_eq!(geo.lookup(ip("2001:db8::1")), GeoInfo::default());
        }
    }
}

#[test]
fn a_country_database_gives_the_country_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Writer::new("GeoIP2-Country", 6, 24);
    w.insert("203.0.113.0/24", &country("NZ")).unwrap();
    // A malformed code is not passed on.
    w.insert("203.0.113.128/25", &country("not a code"))
        .unwrap();
    let path = write(dir.path(), "country.mmdb", &w.to_bytes());
    let geo = open_one(&path).unwrap().unwrap();
    let got = geo.lookup(ip("203.0.113.1"));
    assert_eq!(got.country.as_deref(), Some("NZ"));
    assert_eq!((got.location, got.asn), (None, None));
    assert_eq!(geo.lookup(ip("203.0.113.200")), GeoInfo::default());
}

#[test]
fn an_asn_database_gives_the_asn_and_two_files_combine() {
    let dir = tempfile::tempdir().unwrap();
    let asn_path = write(dir.path(), "asn.mmdb", &asn_db());
    let city_path = write(dir.path(), "city.mmdb", &city_db(6, 24));
    let only_asn = open(&GeoIpConfig {
        db: None,
        asn_db: file("PORTCULLIS_GEOIP_ASN_DB", &asn_path),
    })
    .unwrap()
    .unwrap();
    assert_eq!(
        only_asn.lookup(ip("198.51.100.7")),
        GeoInfo {
            country: None,
            asn: Some(64_496),
            location: None
        }
    );
    let both = open(&GeoIpConfig {
        db: file("PORTCULLIS_GEOIP_DB", &city_path),
        asn_db: file("PORTCULLIS_GEOIP_ASN_DB", &asn_path),
    })
    .unwrap()
    .unwrap();
    assert_eq!(
        both.lookup(ip("198.51.100.200")),
        GeoInfo {
            country: Some("FR".into()),
            asn: Some(64_496),
            location: Some((48.8566, 2.3522))
        }
    );
    let six = both.lookup(ip("2001:db8::1"));
    assert_eq!(
        (six.country.as_deref(), six.asn),
        (Some("AU"), Some(4_200_000_000))
    );
    assert_eq!(both.lookup(ip("192.0.2.1")), GeoInfo::default());
    // Nothing configured: no reader.
    assert!(open(&GeoIpConfig::default()).unwrap().is_none());
}

#[test]
fn wrong_kinds_missing_and_garbage_files_are_refused_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let asn_path = write(dir.path(), "asn.mmdb", &asn_db());
    let city_path = write(dir.path(), "city.mmdb", &city_db(6, 24));

    // An ASN database where a City or Country one belongs, and back.
    let e = open_one(&asn_path).unwrap_err();
    assert_eq!(e.setting, "PORTCULLIS_GEOIP_DB");
    assert!(e.reason.contains("'GeoLite2-ASN'"), "{e}");
    assert!(e.reason.contains("PORTCULLIS_GEOIP_ASN_DB"), "{e}");
    let e = open(&GeoIpConfig {
        db: None,
        asn_db: file("geoip_asn_db in /etc/portcullis.toml", &city_path),
    })
    .unwrap_err();
    assert_eq!(e.setting, "geoip_asn_db in /etc/portcullis.toml");
    assert!(e.reason.contains("expected an ASN database"), "{e}");

    // A kind this reader does not understand.
    let mut w = Writer::new("GeoIP2-Anonymous-IP", 6, 24);
    w.insert(
        "198.51.100.0/24",
        &Value::map([("is_anonymous", Value::Bool(true))]),
    )
    .unwrap();
    let anon = write(dir.path(), "anon.mmdb", &w.to_bytes());
    let e = open_one(&anon).unwrap_err();
    assert_eq!(e.setting, "PORTCULLIS_GEOIP_DB");
    assert!(e.reason.contains("'GeoIP2-Anonymous-IP'"), "{e}");

    // Missing.
    let e = open_one(&dir.path().join("GeoLite2-City.mmdb")).unwrap_err();
    assert_eq!(e.setting, "PORTCULLIS_GEOIP_DB");
    assert!(e.reason.contains("cannot read"), "{e}");
    // A directory.
    let e = open_one(dir.path()).unwrap_err();
    assert!(e.reason.contains("cannot read"), "{e}");

    // Garbage, an empty file, and a real one cut short.
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
    let mut cut = city_db(6, 24);
    cut.truncate(cut.len() - 40);
    for (name, bytes) in [
        ("garbage.mmdb", garbage.as_slice()),
        ("empty.mmdb", &[][..]),
        ("cut.mmdb", cut.as_slice()),
    ] {
        let path = write(dir.path(), name, bytes);
        let e = open_one(&path).unwrap_err();
        assert_eq!(e.setting, "PORTCULLIS_GEOIP_DB", "{name}");
        assert!(e.reason.contains("not a MaxMind DB file"), "{name}: {e}");
    }
}

#[test]
fn a_corrupt_record_gives_empty_fields() {
    // The tree points into the data section at a byte that is no valid value.
    let mut w = Writer::new("GeoLite2-Country", 4, 24);
    w.insert("192.0.2.0/24", &country("SE")).unwrap();
    let mut bytes = w.to_bytes();
    let intact = Reader::from_source(bytes.clone()).unwrap();
    let found: Option<Record<'_>> = intact.lookup(ip("192.0.2.1")).unwrap().decode().unwrap();
    assert_eq!(found.unwrap().country.unwrap().iso_code, Some("SE"));
    let node_count = Reader::from_source(bytes.clone())
        .unwrap()
        .metadata()
        .node_count as usize;
    let data_start = node_count * 6 + 16;
    // Extended type 13 (end marker) where a map should be.
    bytes[data_start] = 0x00;
    bytes[data_start + 1] = 13 - 7;
    let reader = Reader::from_source(bytes).unwrap();
    let geo = MaxMindGeoIp {
        place: Some(Database {
            reader,
            kind: Kind::Country,
        }),
        asn: None,
    };
    assert_eq!(geo.lookup(ip("192.0.2.1")), GeoInfo::default());
}

#[test]
fn the_settings_reach_the_reader() {
    let dir = tempfile::tempdir().unwrap();
    let city_path = write(dir.path(), "city.mmdb", &city_db(6, 28));
    let asn_path = write(dir.path(), "asn.mmdb", &asn_db());
    let toml = dir.path().join("portcullis.toml");
    std::fs::write(
        &toml,
        format!("geoip_db = {:?}\n", city_path.display().to_string()),
    )
    .unwrap();
    let config = Config::load(
        Some(&toml),
        [(
            "PORTCULLIS_GEOIP_ASN_DB".to_owned(),
            asn_path.display().to_string(),
        )],
    )
    .unwrap();
    assert_eq!(
        config.geoip.db.as_ref().unwrap().setting,
        format!("geoip_db in {}", toml.display())
    );
    assert_eq!(
        config.geoip.asn_db.as_ref().unwrap().setting,
        "PORTCULLIS_GEOIP_ASN_DB"
    );
    let geo = open(&config.geoip).unwrap().unwrap();
    let got = geo.lookup(ip("198.51.100.7"));
    assert_eq!(
        (got.country.as_deref(), got.asn),
        (Some("DE"), Some(64_496))
    );
    assert!(format!("{geo:?}").contains("GeoLite2-ASN"));

    // Swapped files: start-up would stop, naming the file's setting.
    let e = open(
        &Config::load(
            None,
            [(
                "PORTCULLIS_GEOIP_DB".to_owned(),
                asn_path.display().to_string(),
            )],
        )
        .unwrap()
        .geoip,
    )
    .unwrap_err();
    assert!(e.to_string().starts_with("PORTCULLIS_GEOIP_DB: "), "{e}");
    // An empty path is refused by the configuration itself.
    let e = Config::load(
        None,
        [("PORTCULLIS_GEOIP_ASN_DB".to_owned(), String::new())],
    )
    .unwrap_err();
    assert_eq!(e.setting, "PORTCULLIS_GEOIP_ASN_DB");
}
