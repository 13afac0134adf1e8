//! The permission grammar: `resource:action:scope`.

use std::fmt;
use std::str::FromStr;

/// Why a permission string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PermissionError {
    /// Not exactly three `:`-separated parts.
    #[error("a permission is resource:action:scope (three parts separated by ':')")]
    Shape,
    /// A resource or action segment with characters outside `a-z 0-9 _ - .`.
    #[error("'{0}' is not a valid segment: use a-z, 0-9, '_', '-', '.' or '*'")]
    Segment(String),
    /// A scope other than `own`, `team`, `all` or `*`.
    #[error("'{0}' is not a valid scope: use own, team, all or *")]
    Scope(String),
}

/// A resource or action segment: a name or the wildcard `*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Segment {
    /// `*`: matches any name.
    Any,
    /// A concrete name.
    Name(String),
}

impl Segment {
    fn parse(s: &str) -> Result<Self, PermissionError> {
        if s == "*" {
            return Ok(Self::Any);
        }
        let valid = !s.is_empty()
            && s.len() <= 64
            && s.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.')
            });
        if valid {
            Ok(Self::Name(s.to_owned()))
        } else {
            Err(PermissionError::Segment(s.to_owned()))
        }
    }

    /// Whether this (granted) segment covers a requested one.
    pub fn covers(&self, requested: &Segment) -> bool {
        match (self, requested) {
            (Segment::Any, _) => true,
            (Segment::Name(a), Segment::Name(b)) => a == b,
            (Segment::Name(_), Segment::Any) => false,
        }
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Segment::Any => f.write_str("*"),
            Segment::Name(n) => f.write_str(n),
        }
    }
}

/// How far a permission reaches: `all` includes `team` includes `own`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Only the subject's own resources.
    Own,
    /// Resources of the subject's teams (groups).
    Team,
    /// Every resource.
    All,
}

impl Scope {
    fn parse(s: &str) -> Result<Self, PermissionError> {
        match s {
            "own" => Ok(Scope::Own),
            "team" => Ok(Scope::Team),
            "all" | "*" => Ok(Scope::All),
            other => Err(PermissionError::Scope(other.to_owned())),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scope::Own => "own",
            Scope::Team => "team",
            Scope::All => "all",
        })
    }
}

/// A parsed permission `resource:action:scope` (`users:read:own`, `orders:*:team`,
/// `*:*:*`). Scope `*` is read as `all`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Permission {
    /// What kind of resource.
    pub resource: Segment,
    /// What may be done to it.
    pub action: Segment,
    /// How far the permission reaches.
    pub scope: Scope,
}

impl Permission {
    /// Parses `resource:action:scope`.
    pub fn parse(s: &str) -> Result<Self, PermissionError> {
        let mut parts = s.split(':');
        let (Some(r), Some(a), Some(sc), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(PermissionError::Shape);
        };
        Ok(Self {
            resource: Segment::parse(r)?,
            action: Segment::parse(a)?,
            scope: Scope::parse(sc)?,
        })
    }

    /// Whether holding `self` grants `requested`: wildcards match any segment and a
    /// wider scope includes the narrower ones.
    pub fn implies(&self, requested: &Permission) -> bool {
        self.resource.covers(&requested.resource)
            && self.action.covers(&requested.action)
            && self.scope >= requested.scope
    }
}

impl serde::Serialize for Permission {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Permission {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Permission::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl FromStr for Permission {
    type Err = PermissionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.resource, self.action, self.scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Permission {
        Permission::parse(s).unwrap()
    }

    #[test]
    fn parses_and_displays() {
        assert_eq!(p("users:read:own").to_string(), "users:read:own");
        assert_eq!(p("*:*:*").to_string(), "*:*:all");
        assert_eq!(p("orders:*:team").action, Segment::Any);
    }

    #[test]
    fn rejects_bad_shapes() {
        for bad in [
            "",
            "users",
            "users:read",
            "a:b:c:d",
            "Users:read:own",
            "u:r:world",
            "u::own",
        ] {
            assert!(Permission::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scope_and_wildcards() {
        assert!(p("users:read:all").implies(&p("users:read:team")));
        assert!(p("users:read:team").implies(&p("users:read:own")));
        assert!(!p("users:read:own").implies(&p("users:read:team")));
        assert!(p("orders:*:team").implies(&p("orders:delete:own")));
        assert!(!p("orders:*:team").implies(&p("users:read:own")));
        assert!(p("*:*:*").implies(&p("anything:at:all")));
        assert!(!p("users:read:all").implies(&p("users:*:all")));
    }

    proptest! {
        #[test]
        fn display_round_trips(r in "[a-z][a-z0-9_.-]{0,10}|\\*", a in "[a-z][a-z0-9_.-]{0,10}|\\*", s in "own|team|all") {
            let text = format!("{r}:{a}:{s}");
            let parsed = Permission::parse(&text).unwrap();
            prop_assert_eq!(Permission::parse(&parsed.to_string()).unwrap(), parsed.clone());
            prop_assert!(parsed.implies(&parsed));
        }

        #[test]
        fn parser_never_panics(s in ".{0,40}") {
            let _ = Permission::parse(&s);
        }
    }
}
