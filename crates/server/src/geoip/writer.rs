//! A minimal MaxMind DB (MMDB v2) writer, for tests only: no database is
//! shipped and none may be downloaded at test time, so tests write their own.
//!
//! It follows the published format (MaxMind DB File Format Specification,
//! version 2.0): a binary search tree of `node_count` nodes with two
//! 24-, 28- or 32-bit records each, 16 zero bytes, a data section of
//! maps, strings, doubles, unsigned integers, arrays and booleans, then
//! `\xAB\xCD\xEFMaxMind.com` and the metadata map. An `ip_version` 6
//! database keeps IPv4 networks at `::/96`, as MaxMind's own databases do
//! (without their aliases of `::ffff:0:0/96` and `2002::/16`).
//!
//! It writes no pointers (each record's data is written out in full) and
//! networks must be inserted from the least to the most specific: a more
//! specific network splits the record of one inserted before it, a less
//! specific one replaces the whole subtree.

use std::net::IpAddr;

/// A value of the data section.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// UTF-8 string (type 2).
    Str(String),
    /// IEEE 754 double (type 3).
    F64(f64),
    /// Unsigned 16-bit integer (type 5).
    U16(u16),
    /// Unsigned 32-bit integer (type 6).
    U32(u32),
    /// Unsigned 64-bit integer (type 9).
    U64(u64),
    /// Map with string keys (type 7).
    Map(Vec<(String, Value)>),
    /// Array (type 11).
    Array(Vec<Value>),
    /// Boolean (type 14).
    Bool(bool),
}

impl Value {
    /// A string value.
    pub fn str(s: &str) -> Self {
        Self::Str(s.to_owned())
    }

    /// A map from `(key, value)` pairs.
    pub fn map<const N: usize>(pairs: [(&str, Value); N]) -> Self {
        Self::Map(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }
}

/// One record of a search-tree node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Record {
    /// No data for this network.
    Empty,
    /// Another node.
    Node(usize),
    /// Data at this offset of the data section.
    Data(usize),
}

/// The metadata marker that precedes the metadata map.
pub const METADATA_MARKER: &[u8] = b"\xAB\xCD\xEFMaxMind.com";

/// A database being written.
#[derive(Debug, Clone)]
pub struct Writer {
    database_type: String,
    ip_version: u16,
    record_size: u16,
    build_epoch: u64,
    description: String,
    languages: Vec<String>,
    nodes: Vec<[Record; 2]>,
    data: Vec<u8>,
}

impl Writer {
    /// An empty database of `database_type` (e.g. `GeoLite2-City`),
    /// `ip_version` 4 or 6, with records of `record_size` bits (24, 28 or 32).
    pub fn new(database_type: &str, ip_version: u16, record_size: u16) -> Self {
        Self {
            database_type: database_type.to_owned(),
            ip_version,
            record_size,
            build_epoch: 1_764_000_000,
            description: format!("Portcullis test {database_type}"),
            languages: vec!["en".to_owned()],
            nodes: vec![[Record::Empty; 2]],
            data: Vec::new(),
        }
    }

    /// Sets the build time (Unix seconds).
    pub fn build_epoch(mut self, epoch: u64) -> Self {
        self.build_epoch = epoch;
        self
    }

    /// Stores `value` for `network` (`203.0.113.0/24`, `2001:db8::/32`).
    pub fn insert(&mut self, network: &str, value: &Value) -> Result<(), String> {
        let (addr, len) = network
            .split_once('/')
            .ok_or_else(|| format!("{network}: not ADDRESS/LENGTH"))?;
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{network}: not an IP address"))?;
        let len: u32 = len
            .parse()
            .map_err(|_| format!("{network}: not a prefix length"))?;
        let (bits, prefix) = match (addr, self.ip_version) {
            (IpAddr::V4(v4), 4) => (u128::from(u32::from(v4)) << 96, len),
            // IPv4 lives at ::/96 of an IPv6 tree.
            (IpAddr::V4(v4), _) => (u128::from(u32::from(v4)), 96 + len),
            (IpAddr::V6(v6), 6) => (u128::from(v6), len),
            (IpAddr::V6(_), _) => return Err(format!("{network}: IPv6 in an IPv4 database")),
        };
        let depth = if self.ip_version == 4 { 32 } else { 128 };
        if prefix == 0 || prefix > depth {
            return Err(format!("{network}: prefix length out of range"));
        }
        // In an IPv4 tree the address sits in the top 32 bits of `bits`.
        let offset = self.data.len();
        encode(value, &mut self.data);
        let mut node = 0usize;
        for i in 0..prefix {
            let bit = usize::from((bits >> (127 - i)) & 1 == 1);
            let last = i + 1 == prefix;
            let next_index = self.nodes.len();
            let slot = self
                .nodes
                .get_mut(node)
                .and_then(|n| n.get_mut(bit))
                .ok_or("corrupt tree")?;
            if last {
                *slot = Record::Data(offset);
                break;
            }
            match *slot {
                Record::Node(n) => node = n,
                // Split: both halves keep what the wider network had.
                other => {
                    *slot = Record::Node(next_index);
                    self.nodes.push([other; 2]);
                    node = next_index;
                }
            }
        }
        Ok(())
    }

    /// The database file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let node_count = self.nodes.len();
        let value = |r: Record| -> u64 {
            let v = match r {
                Record::Empty => node_count,
                Record::Node(n) => n,
                Record::Data(off) => node_count + 16 + off,
            };
            v as u64
        };
        let mut out = Vec::new();
        for [left, right] in &self.nodes {
            let (l, r) = (value(*left), value(*right));
            match self.record_size {
                24 => {
                    out.extend_from_slice(&be(l, 3));
                    out.extend_from_slice(&be(r, 3));
                }
                28 => {
                    // The middle byte holds the top nibble of each record.
                    out.extend_from_slice(&be(l, 3));
                    out.push(((((l >> 24) & 0x0f) << 4) | ((r >> 24) & 0x0f)) as u8);
                    out.extend_from_slice(&be(r, 3));
                }
                _ => {
                    out.extend_from_slice(&be(l, 4));
                    out.extend_from_slice(&be(r, 4));
                }
            }
        }
        out.extend_from_slice(&[0u8; 16]);
        out.extend_from_slice(&self.data);
        out.extend_from_slice(METADATA_MARKER);
        let metadata = Value::Map(vec![
            ("node_count".into(), Value::U32(node_count as u32)),
            ("record_size".into(), Value::U16(self.record_size)),
            ("ip_version".into(), Value::U16(self.ip_version)),
            (
                "database_type".into(),
                Value::Str(self.database_type.clone()),
            ),
            (
                "languages".into(),
                Value::Array(self.languages.iter().cloned().map(Value::Str).collect()),
            ),
            ("binary_format_major_version".into(), Value::U16(2)),
            ("binary_format_minor_version".into(), Value::U16(0)),
            ("build_epoch".into(), Value::U64(self.build_epoch)),
            (
                "description".into(),
                Value::Map(vec![("en".into(), Value::Str(self.description.clone()))]),
            ),
        ]);
        encode(&metadata, &mut out);
        out
    }
}

/// The low `n` bytes of `v`, big-endian.
fn be(v: u64, n: usize) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    bytes.iter().skip(8 - n).copied().collect()
}

/// A control byte (and extended type byte, and size bytes) for a value of
/// type `kind` and `size`.
fn control(kind: u8, size: usize, out: &mut Vec<u8>) {
    let (low, extra): (u8, Vec<u8>) = if size < 29 {
        (size as u8, Vec::new())
    } else if size < 29 + 256 {
        (29, vec![(size - 29) as u8])
    } else if size < 285 + 65_536 {
        (30, be((size - 285) as u64, 2))
    } else {
        (31, be((size - 65_821) as u64, 3))
    };
    if kind <= 7 {
        out.push((kind << 5) | low);
    } else {
        // Extended type: type 0 in the control byte, then `kind - 7`.
        out.push(low);
        out.push(kind - 7);
    }
    out.extend_from_slice(&extra);
}

/// An unsigned integer in as few bytes as it needs.
fn unsigned(kind: u8, v: u64, out: &mut Vec<u8>) {
    let bytes: Vec<u8> = v
        .to_be_bytes()
        .into_iter()
        .skip_while(|b| *b == 0)
        .collect();
    control(kind, bytes.len(), out);
    out.extend_from_slice(&bytes);
}

/// Appends a value's encoding.
pub fn encode(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Str(s) => {
            control(2, s.len(), out);
            out.extend_from_slice(s.as_bytes());
        }
        Value::F64(f) => {
            control(3, 8, out);
            out.extend_from_slice(&f.to_be_bytes());
        }
        Value::U16(n) => unsigned(5, u64::from(*n), out),
        Value::U32(n) => unsigned(6, u64::from(*n), out),
        Value::U64(n) => unsigned(9, *n, out),
        Value::Map(pairs) => {
            control(7, pairs.len(), out);
            for (k, v) in pairs {
                encode(&Value::Str(k.clone()), out);
                encode(v, out);
            }
        }
        Value::Array(items) => {
            control(11, items.len(), out);
            for v in items {
                encode(v, out);
            }
        }
        // A boolean's value is its size.
        Value::Bool(b) => control(14, usize::from(*b), out),
    }
}
