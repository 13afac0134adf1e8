//! The Portcullis realm export format, JSON Lines (docs/import-export.md):
//! a header line, then one [`Record`] per line tagged by `type`.
//!
//! Reading is bounded: [`LineReader`] never holds more than
//! [`MAX_LINE_BYTES`] of one line (a longer line is skipped to its end and
//! refused), and [`parse_line`] refuses JSON nested deeper than
//! [`MAX_DEPTH`] before deserialising it. Every refusal names the line and
//! the field.

use portcullis_policy::model::{Effect, Grantee, Validity};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};
use uuid::Uuid;

/// The format's name, in the header line.
pub const FORMAT_NAME: &str = "portcullis-realm";
/// The format's version, in the header line.
pub const FORMAT_VERSION: u32 = 1;
/// Longest accepted line, in bytes (newline excluded).
pub const MAX_LINE_BYTES: usize = 1024 * 1024;
/// Deepest accepted nesting of arrays and objects in one line.
pub const MAX_DEPTH: usize = 16;

/// The first line of a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// Always [`FORMAT_VERSION`] for files this version writes.
    pub version: u32,
    /// The realm exported (informative: the import names its target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
    /// When the export was made.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub exported_at: Option<OffsetDateTime>,
}

/// A realm's settings that travel with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealmRecord {
    /// Name shown to people.
    pub display_name: String,
    /// Shortest accepted password.
    pub password_min_length: u32,
    /// IANA time zone of policy conditions.
    pub time_zone: String,
    /// Whether sign-in needs a verified address.
    pub require_verified_email: bool,
}

/// A role (permissions and included roles by id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleRecord {
    /// Id; a role of the same name already in the realm keeps its own id
    /// and the file's id is mapped to it.
    pub id: Uuid,
    /// Name, unique in the realm.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Permissions (`resource:action:scope`).
    #[serde(default)]
    pub permissions: Vec<String>,
    /// Ids of included roles (earlier lines).
    #[serde(default)]
    pub includes: Vec<Uuid>,
}

/// A group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupRecord {
    /// Id; mapped by name like roles'.
    pub id: Uuid,
    /// Name, unique in the realm.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Parent group (an earlier line).
    #[serde(default)]
    pub parent: Option<Uuid>,
}

/// A second factor, exported only on request (the TOTP seed in clear).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FactorRecord {
    /// Id.
    pub id: Uuid,
    /// `totp` (the only kind carried).
    pub kind: String,
    /// The name the user knows it by.
    pub name: String,
    /// The TOTP seed, base32 without padding.
    pub secret: String,
    /// Whether enrolment was confirmed.
    #[serde(default)]
    pub confirmed: bool,
}

/// A user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRecord {
    /// Id; without one the user is matched by e-mail, or created.
    #[serde(default)]
    pub id: Option<Uuid>,
    /// E-mail address, unique in the realm.
    pub email: String,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Whether the user may sign in (default true).
    #[serde(default = "yes")]
    pub active: bool,
    /// Whether the address was verified.
    #[serde(default)]
    pub email_verified: bool,
    /// Attributes for policy conditions.
    #[serde(default)]
    pub attributes: Map<String, Value>,
    /// A password hash in any importable format (PHC argon2, bcrypt,
    /// scrypt, PBKDF2, Django, salted SHA).
    #[serde(default)]
    pub password_hash: Option<String>,
    /// Creation time (default: the import's time).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub created_at: Option<OffsetDateTime>,
    /// TOTP factors, when the export was asked for them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub factors: Vec<FactorRecord>,
}

fn yes() -> bool {
    true
}

/// A group membership.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembershipRecord {
    /// The user.
    pub user: Uuid,
    /// The group.
    pub group: Uuid,
    /// When it counts.
    #[serde(default, skip_serializing_if = "is_always")]
    pub validity: Validity,
}

/// A role or a permission granted to a user or a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantRecord {
    /// Who receives it.
    pub to: Grantee,
    /// The role granted (or `permission`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Uuid>,
    /// The permission granted or denied (or `role`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission: Option<String>,
    /// For a permission: allow (default) or deny.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<Effect>,
    /// When it counts.
    #[serde(default, skip_serializing_if = "is_always")]
    pub validity: Validity,
}

fn is_always(v: &Validity) -> bool {
    *v == Validity::ALWAYS
}

/// An organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganizationRecord {
    /// Id; mapped by name like roles'.
    pub id: Uuid,
    /// Name, unique in the realm.
    pub name: String,
    /// Name shown to people.
    pub display_name: String,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Parent organization (an earlier line).
    #[serde(default)]
    pub parent: Option<Uuid>,
    /// Attributes.
    #[serde(default)]
    pub attributes: Map<String, Value>,
}

/// A user's membership of an organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganizationMemberRecord {
    /// The organization.
    pub organization: Uuid,
    /// The user.
    pub user: Uuid,
    /// Its role there (`owner`, `admin`, `member` or a realm role's name).
    pub role: String,
}

/// One line after the header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    /// The realm's settings.
    Realm(RealmRecord),
    /// A role.
    Role(RoleRecord),
    /// A group.
    Group(GroupRecord),
    /// A user.
    User(UserRecord),
    /// A group membership.
    Membership(MembershipRecord),
    /// A role or permission grant.
    Grant(GrantRecord),
    /// An organization.
    Organization(OrganizationRecord),
    /// An organization membership.
    OrganizationMember(OrganizationMemberRecord),
}

impl Record {
    /// The `type` of the line.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Realm(_) => "realm",
            Self::Role(_) => "role",
            Self::Group(_) => "group",
            Self::User(_) => "user",
            Self::Membership(_) => "membership",
            Self::Grant(_) => "grant",
            Self::Organization(_) => "organization",
            Self::OrganizationMember(_) => "organization_member",
        }
    }
}

/// Why a line was refused: the field (or `line`) and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// The field at fault, dotted; `line` for the line as a whole.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

impl LineError {
    /// A refusal of `field`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// The deepest nesting of `[` and `{` in a JSON text (strings skipped).
pub fn json_depth(bytes: &[u8]) -> usize {
    let (mut depth, mut max, mut in_str, mut escaped) = (0usize, 0usize, false, false);
    for &b in bytes {
        if in_str {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Parses one line after the header into a record.
pub fn parse_line(bytes: &[u8]) -> Result<Record, LineError> {
    if json_depth(bytes) > MAX_DEPTH {
        return Err(LineError::new(
            "line",
            format!("nests deeper than {MAX_DEPTH} levels"),
        ));
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| json_error(bytes, &e))?;
    let Value::Object(mut map) = value else {
        return Err(LineError::new("line", "must be a JSON object"));
    };
    let kind = match map.remove("type") {
        Some(Value::String(kind)) => kind,
        _ => return Err(LineError::new("type", "is missing (a string)")),
    };
    let body = Value::Object(map);
    match kind.as_str() {
        "realm" => typed(body).map(Record::Realm),
        "role" => typed(body).map(Record::Role),
        "group" => typed(body).map(Record::Group),
        "user" => typed(body).map(Record::User),
        "membership" => typed(body).map(Record::Membership),
        "grant" => typed(body).map(Record::Grant),
        "organization" => typed(body).map(Record::Organization),
        "organization_member" => typed(body).map(Record::OrganizationMember),
        _ => Err(LineError::new(
            "type",
            "must be realm, role, group, user, membership, grant, organization or organization_member",
        )),
    }
}

/// A record's fields, with the path of the first wrong one.
fn typed<T: serde::de::DeserializeOwned>(body: Value) -> Result<T, LineError> {
    serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let quoted = inner
            .split('`')
            .nth(1)
            .filter(|_| inner.starts_with("missing field") || inner.starts_with("unknown field"));
        let field = match (path.as_str(), quoted) {
            (".", Some(f)) => f.to_owned(),
            (".", None) => "line".to_owned(),
            (p, Some(f)) if inner.starts_with("missing field") => format!("{p}.{f}"),
            (p, _) => p.to_owned(),
        };
        let reason = inner
            .split(", expected one of")
            .next()
            .unwrap_or("is not valid")
            .to_owned();
        LineError::new(field, reason)
    })
}

/// Parses the header line.
pub fn parse_header(bytes: &[u8]) -> Result<Header, LineError> {
    if json_depth(bytes) > MAX_DEPTH {
        return Err(LineError::new("line", "nests too deep"));
    }
    let h: Header = serde_json::from_slice(bytes).map_err(|e| json_error(bytes, &e))?;
    if h.format != FORMAT_NAME {
        return Err(LineError::new(
            "format",
            format!("must be \"{FORMAT_NAME}\" (the first line is the header)"),
        ));
    }
    if h.version != FORMAT_VERSION {
        return Err(LineError::new(
            "version",
            format!("must be {FORMAT_VERSION}"),
        ));
    }
    Ok(h)
}

/// Names the field serde complained about, when its message quotes one.
fn json_error(bytes: &[u8], e: &serde_json::Error) -> LineError {
    let msg = e.to_string();
    let field = msg
        .split('`')
        .nth(1)
        .filter(|_| {
            msg.starts_with("missing field")
                || msg.starts_with("unknown field")
                || msg.starts_with("duplicate field")
        })
        .map(str::to_owned)
        .or_else(|| {
            // "invalid type ... at line 1 column N": the key before column N.
            let col = msg.rsplit("column ").next()?.parse::<usize>().ok()?;
            last_key_before(bytes, col)
        })
        .unwrap_or_else(|| "line".to_owned());
    // serde's message without its position suffix.
    let reason = msg
        .split(" at line ")
        .next()
        .unwrap_or("is not valid JSON")
        .to_owned();
    LineError::new(field, reason)
}

/// The last object key that starts before byte `col` (1-based) of `bytes`.
fn last_key_before(bytes: &[u8], col: usize) -> Option<String> {
    let head = bytes.get(..col.min(bytes.len()))?;
    let text = std::str::from_utf8(head).ok()?;
    let colon = text.rfind("\":")?;
    let start = text.get(..colon)?.rfind('"')?;
    text.get(start + 1..colon).map(str::to_owned)
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding (TOTP seeds).
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let (mut buf, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buf = (buf << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            let i = ((buf >> bits) & 31) as usize;
            out.push(char::from(BASE32.get(i).copied().unwrap_or(b'A')));
        }
    }
    if bits > 0 {
        let i = ((buf << (5 - bits)) & 31) as usize;
        out.push(char::from(BASE32.get(i).copied().unwrap_or(b'A')));
    }
    out
}

/// Decodes RFC 4648 base32 (case-insensitive, padding and spaces ignored).
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buf, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|c| !matches!(c, b'=' | b' ')) {
        let v = BASE32.iter().position(|&a| a == c.to_ascii_uppercase())?;
        buf = ((buf << 5) | v as u32) & 0xffff;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buf >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

/// One line read by [`LineReader`].
#[derive(Debug)]
pub enum ReadLine {
    /// A line (newline and a trailing `\r` removed), 1-based number.
    Line(u64, Vec<u8>),
    /// A line longer than the limit; its bytes were skipped.
    TooLong(u64),
}

/// Splits a byte stream into lines without ever holding more than the
/// limit of one line.
pub struct LineReader<R> {
    inner: R,
    line: u64,
    limit: usize,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    /// Lines of `inner`, each at most [`MAX_LINE_BYTES`].
    pub fn new(inner: R) -> Self {
        Self::with_limit(inner, MAX_LINE_BYTES)
    }

    /// Lines of `inner`, each at most `limit` bytes.
    pub fn with_limit(inner: R, limit: usize) -> Self {
        Self {
            inner,
            line: 0,
            limit,
        }
    }

    /// The next line, `None` at the end (blank lines are skipped but
    /// counted).
    pub async fn next(&mut self) -> std::io::Result<Option<ReadLine>> {
        loop {
            let mut buf = Vec::new();
            let mut too_long = false;
            let mut any = false;
            loop {
                let chunk = self.inner.fill_buf().await?;
                if chunk.is_empty() {
                    break;
                }
                any = true;
                let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
                    Some(i) => (i, true),
                    None => (chunk.len(), false),
                };
                if !too_long {
                    match chunk.get(..take) {
                        Some(part) if buf.len() + part.len() <= self.limit => {
                            buf.extend_from_slice(part)
                        }
                        _ => {
                            too_long = true;
                            buf = Vec::new();
                        }
                    }
                }
                self.inner.consume(take + usize::from(done));
                if done {
                    break;
                }
            }
            if !any {
                return Ok(None);
            }
            self.line += 1;
            if too_long {
                return Ok(Some(ReadLine::TooLong(self.line)));
            }
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            if buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Ok(Some(ReadLine::Line(self.line, buf)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_round_trips() {
        let seed: Vec<u8> = (0u8..20).collect();
        let text = base32_encode(&seed);
        assert_eq!(base32_decode(&text).unwrap(), seed);
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI");
        assert!(base32_decode("not base32!").is_none());
    }

    #[test]
    fn depth_ignores_brackets_in_strings() {
        assert_eq!(json_depth(br#"{"a":"[[[{{{\"]]]"}"#), 1);
        assert_eq!(json_depth(br#"{"a":[[{"b":1}]]}"#), 4);
    }

    #[test]
    fn deep_json_is_refused_before_parsing() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let e = parse_line(deep.as_bytes()).unwrap_err();
        assert_eq!(e.field, "line");
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse_line(br#"{"type":"user"}"#).unwrap_err();
        assert_eq!(e.field, "email");
        let e = parse_line(br#"{"type":"user","email":"a@b.co","active":"yes"}"#).unwrap_err();
        assert_eq!(e.field, "active", "{e:?}");
        let e = parse_line(br#"{"type":"user","email":"a@b.co","pasword_hash":"x"}"#).unwrap_err();
        assert_eq!(e.field, "pasword_hash");
        let e = parse_line(br#"{"type":"nope"}"#).unwrap_err();
        assert_eq!(e.field, "type", "{e:?}");
    }

    #[test]
    fn header_is_checked() {
        assert!(parse_header(br#"{"format":"portcullis-realm","version":1}"#).is_ok());
        assert_eq!(
            parse_header(br#"{"format":"portcullis-realm","version":2}"#)
                .unwrap_err()
                .field,
            "version"
        );
    }

    #[tokio::test]
    async fn long_lines_are_skipped_not_held() {
        let mut input = b"{\"a\":1}\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 10_000));
        input.extend(b"\n\n{\"b\":2}\r\n");
        let mut r =
            LineReader::with_limit(tokio::io::BufReader::with_capacity(64, &input[..]), 100);
        assert!(matches!(r.next().await.unwrap(), Some(ReadLine::Line(1, l)) if l == b"{\"a\":1}"));
        assert!(matches!(
            r.next().await.unwrap(),
            Some(ReadLine::TooLong(2))
        ));
        assert!(matches!(r.next().await.unwrap(), Some(ReadLine::Line(4, l)) if l == b"{\"b\":2}"));
        assert!(r.next().await.unwrap().is_none());
    }
}
