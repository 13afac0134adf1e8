//! Action and resource patterns of policy statements: globs where `*`
//! matches any run of characters (including none).
//!
//! - An action pattern containing `:` is matched against `{kind}:{action}`,
//!   otherwise against the action alone.
//! - A resource pattern containing `/` is matched against `{kind}/{id}` (and
//!   never matches a resource without id), otherwise against the kind alone.
//!
//! Matching joins the two parts virtually: nothing is allocated.

/// A text made of up to two parts joined by a separator byte.
#[derive(Clone, Copy)]
struct Joined<'a> {
    head: &'a [u8],
    sep: Option<u8>,
    tail: &'a [u8],
}

impl Joined<'_> {
    fn len(&self) -> usize {
        match self.sep {
            Some(_) => self.head.len() + 1 + self.tail.len(),
            None => self.head.len(),
        }
    }

    fn at(&self, i: usize) -> Option<u8> {
        if i < self.head.len() {
            return self.head.get(i).copied();
        }
        let sep = self.sep?;
        if i == self.head.len() {
            return Some(sep);
        }
        self.tail.get(i - self.head.len() - 1).copied()
    }
}

/// A compiled glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Glob {
    /// `*`: everything.
    Any,
    /// No `*`: equality.
    Exact(Box<str>),
    /// Anything else.
    Wild(Box<str>),
}

impl Glob {
    pub(crate) fn new(pattern: &str) -> Self {
        if pattern.bytes().all(|b| b == b'*') && !pattern.is_empty() {
            Glob::Any
        } else if pattern.contains('*') {
            Glob::Wild(pattern.into())
        } else {
            Glob::Exact(pattern.into())
        }
    }

    fn matches(&self, text: Joined<'_>) -> bool {
        match self {
            Glob::Any => true,
            Glob::Exact(p) => {
                let p = p.as_bytes();
                p.len() == text.len() && p.iter().enumerate().all(|(i, &c)| text.at(i) == Some(c))
            }
            Glob::Wild(p) => wild_match(p.as_bytes(), text),
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            Glob::Any => 0,
            Glob::Exact(p) | Glob::Wild(p) => p.len(),
        }
    }
}

/// Iterative glob matching with single-star backtracking: O(n·m) worst case,
/// no recursion.
fn wild_match(pattern: &[u8], text: Joined<'_>) -> bool {
    let n = text.len();
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < n {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if Some(c) == text.at(t) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|&c| c == b'*'))
}

/// A statement's action pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ActionPattern {
    qualified: bool,
    glob: Glob,
}

impl ActionPattern {
    pub(crate) fn new(pattern: &str) -> Self {
        Self {
            qualified: pattern.contains(':'),
            glob: Glob::new(pattern),
        }
    }

    pub(crate) fn matches(&self, kind: &str, action: &str) -> bool {
        let text = if self.qualified {
            Joined {
                head: kind.as_bytes(),
                sep: Some(b':'),
                tail: action.as_bytes(),
            }
        } else {
            Joined {
                head: action.as_bytes(),
                sep: None,
                tail: &[],
            }
        };
        self.glob.matches(text)
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.glob.heap_bytes()
    }
}

/// A statement's resource pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResourcePattern {
    with_id: bool,
    glob: Glob,
    /// The resource kind every match has, when the pattern pins it (no `*`
    /// in the kind part): used to index statements by kind.
    kind: Option<Box<str>>,
}

impl ResourcePattern {
    pub(crate) fn new(pattern: &str) -> Self {
        let (with_id, kind_part) = match pattern.split_once('/') {
            Some((kind, _)) => (true, kind),
            None => (false, pattern),
        };
        Self {
            with_id,
            glob: Glob::new(pattern),
            kind: (!kind_part.contains('*')).then(|| kind_part.into()),
        }
    }

    /// The kind every matching resource has, if the pattern pins one.
    pub(crate) fn pinned_kind(&self) -> Option<&str> {
        self.kind.as_deref()
    }

    pub(crate) fn matches(&self, kind: &str, id: Option<&str>) -> bool {
        if self.with_id {
            let Some(id) = id else { return false };
            self.glob.matches(Joined {
                head: kind.as_bytes(),
                sep: Some(b'/'),
                tail: id.as_bytes(),
            })
        } else {
            self.glob.matches(Joined {
                head: kind.as_bytes(),
                sep: None,
                tail: &[],
            })
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.glob.heap_bytes() + self.kind.as_ref().map_or(0, |k| k.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob_matches(pattern: &str, text: &str) -> bool {
        Glob::new(pattern).matches(Joined {
            head: text.as_bytes(),
            sep: None,
            tail: &[],
        })
    }

    #[test]
    fn globs() {
        assert!(glob_matches("*", ""));
        assert!(glob_matches("*", "abc"));
        assert!(glob_matches("a*c", "abc"));
        assert!(glob_matches("a*c", "ac"));
        assert!(!glob_matches("a*c", "ab"));
        assert!(glob_matches("*b*", "abc"));
        assert!(glob_matches("a**", "a"));
        assert!(!glob_matches("", "a"));
        assert!(glob_matches("", ""));
        assert!(glob_matches("doc*s", "documents"));
        assert!(!glob_matches("abc", "abcd"));
    }

    #[test]
    fn action_patterns() {
        assert!(ActionPattern::new("read").matches("documents", "read"));
        assert!(!ActionPattern::new("read").matches("documents", "write"));
        assert!(ActionPattern::new("documents:read").matches("documents", "read"));
        assert!(!ActionPattern::new("documents:read").matches("orders", "read"));
        assert!(ActionPattern::new("doc*:*").matches("documents", "read"));
        assert!(ActionPattern::new("*").matches("x", "y"));
        assert!(ActionPattern::new("re*").matches("x", "read"));
    }

    #[test]
    fn resource_patterns() {
        let p = ResourcePattern::new("documents/42");
        assert!(p.matches("documents", Some("42")));
        assert!(!p.matches("documents", Some("43")));
        assert!(!p.matches("documents", None));
        assert_eq!(p.pinned_kind(), Some("documents"));
        let p = ResourcePattern::new("documents/*");
        assert!(p.matches("documents", Some("1")));
        assert!(!p.matches("documents", None));
        let p = ResourcePattern::new("documents");
        assert!(p.matches("documents", Some("1")));
        assert!(p.matches("documents", None));
        assert!(!p.matches("docs", None));
        let p = ResourcePattern::new("doc*");
        assert_eq!(p.pinned_kind(), None);
        assert!(p.matches("documents", None));
    }
}
