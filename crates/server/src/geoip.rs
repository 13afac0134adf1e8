//! The GeoIP adapter: core's [`GeoIp`] port over MaxMind DB files
//! (`.mmdb`), read with the `maxminddb` crate. None is shipped; an operator
//! configures one or two:
//!
//! - `geoip_db`: a City database (`GeoLite2-City`, `GeoIP2-City`, its
//!   regional editions) gives the country and a location, a Country
//!   database (`GeoLite2-Country`, `GeoIP2-Country`) the country alone;
//! - `geoip_asn_db`: an ASN database (`GeoLite2-ASN`, or `GeoIP2-ISP`)
//!   gives the autonomous system number. MaxMind ships it apart.
//!
//! DB-IP's free databases (`DBIP-City-Lite`, `DBIP-Country-Lite`,
//! `DBIP-ASN-Lite`) use the same layout and are accepted too.
//!
//! Each file is read into memory at start-up (no memory map: the crate
//! forbids `unsafe`, and a file replaced under a map is undefined
//! behaviour), its metadata checked, and start-up fails, naming the
//! setting, when a file is missing, unreadable, not a MaxMind DB or of
//! another kind: a GeoIP setting that silently did nothing would turn the
//! checks off unnoticed. A look-up that fails or finds nothing gives empty
//! fields; it borrows from the loaded file and allocates only the country
//! code.

use std::net::IpAddr;
use std::sync::Arc;

use maxminddb::Reader;
use portcullis_core::risk::{GeoInfo, GeoIp};
use serde::Deserialize;

use crate::config::{ConfigError, GeoIpConfig, GeoIpFile};

#[cfg(any(test, feature = "test-util"))]
pub mod writer;

/// What a database holds, by its metadata's `database_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Country and location (`GeoLite2-City`).
    City,
    /// Country (`GeoLite2-Country`).
    Country,
    /// Autonomous system number (`GeoLite2-ASN`).
    Asn,
}

impl Kind {
    /// The kind of a `database_type`, `None` for one this reader does not
    /// understand (`GeoIP2-Anonymous-IP`, `GeoIP2-Domain`, ...).
    pub fn of(database_type: &str) -> Option<Kind> {
        let rest = ["GeoIP2-", "GeoLite2-", "DBIP-"]
            .iter()
            .find_map(|vendor| database_type.strip_prefix(vendor))?;
        let edition = |name: &str| rest == name || rest.starts_with(&format!("{name}-"));
        if edition("City") {
            Some(Kind::City)
        } else if edition("Country") {
            Some(Kind::Country)
        } else if edition("ASN") || rest == "ISP" {
            Some(Kind::Asn)
        } else {
            None
        }
    }
}

/// One open database.
struct Database {
    reader: Reader<Vec<u8>>,
    kind: Kind,
}

/// The fields read from a record; the rest is skipped without decoding.
#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow)]
    country: Option<Country<'a>>,
    location: Option<Location>,
    autonomous_system_number: Option<u32>,
}

#[derive(Deserialize)]
struct Country<'a> {
    #[serde(borrow)]
    iso_code: Option<&'a str>,
}

#[derive(Deserialize)]
struct Location {
    latitude: Option<f64>,
    longitude: Option<f64>,
}

impl Database {
    /// The record of `ip`, `None` when there is none or it cannot be read.
    fn record(&self, ip: IpAddr) -> Option<Record<'_>> {
        // An IPv4-only database knows no IPv6 address: not worth an error.
        if ip.is_ipv6() && self.reader.metadata().ip_version == 4 {
            return None;
        }
        match self.reader.lookup(ip).and_then(|found| found.decode()) {
            Ok(record) => record,
            Err(e) => {
                tracing::debug!(error = %e, "GeoIP look-up failed");
                None
            }
        }
    }
}

/// GeoIP look-ups in MaxMind DB files.
pub struct MaxMindGeoIp {
    /// City or Country.
    place: Option<Database>,
    /// ASN.
    asn: Option<Database>,
}

impl std::fmt::Debug for MaxMindGeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = |d: &Option<Database>| {
            d.as_ref()
                .map(|d| d.reader.metadata().database_type.clone())
        };
        f.debug_struct("MaxMindGeoIp")
            .field("place", &kind(&self.place))
            .field("asn", &kind(&self.asn))
            .finish()
    }
}

/// An IPv4 address written as IPv6 (`::ffff:192.0.2.1`, as a dual-stack
/// listener reports it) is looked up as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl GeoIp for MaxMindGeoIp {
    fn lookup(&self, ip: IpAddr) -> GeoInfo {
        let ip = canonical(ip);
        let mut info = GeoInfo::default();
        if let Some(db) = &self.place
            && let Some(record) = db.record(ip)
        {
            info.country = record
                .country
                .and_then(|c| c.iso_code)
                .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()))
                .map(str::to_owned);
            if db.kind == Kind::City {
                info.location = record.location.and_then(|l| {
                    let (lat, lon) = (l.latitude?, l.longitude?);
                    ((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon))
                        .then_some((lat, lon))
                });
            }
        }
        if let Some(db) = &self.asn {
            info.asn = db.record(ip).and_then(|r| r.autonomous_system_number);
        }
        info
    }
}

/// What each setting accepts, for error messages.
const PLACE_KINDS: &str =
    "a City or Country database (GeoLite2-City, GeoLite2-Country, GeoIP2-City, GeoIP2-Country)";
const ASN_KINDS: &str = "an ASN database (GeoLite2-ASN, GeoIP2-ISP)";

/// Reads and checks one file; logs what it holds.
fn load(file: &GeoIpFile, accept: &[Kind], expected: &str) -> Result<Database, ConfigError> {
    let fail = |reason: String| ConfigError {
        setting: file.setting.clone(),
        reason,
    };
    let shown = file.path.display();
    let bytes = std::fs::read(&file.path).map_err(|e| fail(format!("cannot read {shown}: {e}")))?;
    let reader = Reader::from_source(bytes)
        .map_err(|e| fail(format!("{shown} is not a MaxMind DB file: {e}")))?;
    let metadata = reader.metadata();
    let database_type = metadata.database_type.as_str();
    let kind = Kind::of(database_type)
        .filter(|k| accept.contains(k))
        .ok_or_else(|| {
            let hint = match Kind::of(database_type) {
                Some(Kind::Asn) => "; set it as geoip_asn_db (PORTCULLIS_GEOIP_ASN_DB)",
                Some(_) => "; set it as geoip_db (PORTCULLIS_GEOIP_DB)",
                None => "",
            };
            fail(format!(
                "{shown} is a '{database_type}' database; expected {expected}{hint}"
            ))
        })?;
    let built = i64::try_from(metadata.build_epoch)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .map(|t| t.date().to_string())
        .unwrap_or_else(|| "unknown".to_owned());
    tracing::info!(
        setting = %file.setting,
        database_type,
        built = %built,
        ip_version = metadata.ip_version,
        "GeoIP database loaded"
    );
    Ok(Database { reader, kind })
}

/// Opens the configured databases: `None` when there are none. An error
/// names the setting whose file is missing, unreadable, not a MaxMind DB,
/// or of the wrong kind.
pub fn open(config: &GeoIpConfig) -> Result<Option<MaxMindGeoIp>, ConfigError> {
    let place = match &config.db {
        Some(f) => Some(load(f, &[Kind::City, Kind::Country], PLACE_KINDS)?),
        None => None,
    };
    let asn = match &config.asn_db {
        Some(f) => Some(load(f, &[Kind::Asn], ASN_KINDS)?),
        None => None,
    };
    Ok((place.is_some() || asn.is_some()).then_some(MaxMindGeoIp { place, asn }))
}

/// Installs the opened databases in `core`, or logs once that there are
/// none (the two GeoIP checks then never fire).
pub fn install(core: &portcullis_core::Portcullis, db: Option<MaxMindGeoIp>) {
    match db {
        Some(db) => core.set_geoip(Arc::new(db)),
        None => tracing::info!(
            "no GeoIP database configured (PORTCULLIS_GEOIP_DB): the country_change and impossible_travel checks are off"
        ),
    }
}

#[cfg(test)]
mod tests;
