//! `application/x-www-form-urlencoded` request bodies, parsed strictly: RFC
//! 6749 §3.1 forbids repeating a parameter, and an empty value counts as
//! absent.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::OAuthError;

/// Largest form body an endpoint reads.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// The parameters of a form body. Values that need no decoding borrow
/// from the body; [`Form::into_owned`] makes a form that outlives it.
#[derive(Debug, Default)]
pub struct Form<'a>(HashMap<Cow<'a, str>, Cow<'a, str>>);

impl<'a> Form<'a> {
    /// Parses a body sent with `content_type`.
    pub fn parse(content_type: Option<&str>, body: &'a [u8]) -> Result<Self, OAuthError> {
        let essence = content_type
            .and_then(|c| c.split(';').next())
            .map(str::trim)
            .unwrap_or("");
        if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        Self::parse_urlencoded(body)
    }

    /// Parses `application/x-www-form-urlencoded` bytes (a body or a query
    /// string) with the same rules.
    pub fn parse_urlencoded(body: &'a [u8]) -> Result<Self, OAuthError> {
        if body.len() > MAX_FORM_BYTES {
            return Err(OAuthError::invalid_request("the body is too large"));
        }
        let mut params = HashMap::new();
        for (name, value) in url::form_urlencoded::parse(body) {
            if value.is_empty() {
                continue;
            }
            if params.contains_key(&name) {
                return Err(OAuthError::invalid_request(format!(
                    "the parameter {name} is repeated"
                )));
            }
            params.insert(name, value);
        }
        Ok(Self(params))
    }

    /// The same parameters, owned.
    pub fn into_owned(self) -> Form<'static> {
        Form(
            self.0
                .into_iter()
                .map(|(k, v)| (Cow::Owned(k.into_owned()), Cow::Owned(v.into_owned())))
                .collect(),
        )
    }

    /// A parameter's value, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| &**v)
    }

    /// The parameters, form-encoded again (in no particular order).
    pub fn encode(&self) -> String {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        let mut names: Vec<&Cow<'a, str>> = self.0.keys().collect();
        names.sort();
        for name in names {
            if let Some(value) = self.0.get(name) {
                out.append_pair(name, value);
            }
        }
        out.finish()
    }

    /// A required parameter.
    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("{name} is required")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: Option<&str> = Some("application/x-www-form-urlencoded; charset=UTF-8");

    #[test]
    fn parses_and_decodes() {
        let f = Form::parse(FORM, b"grant_type=client_credentials&scope=a+b%3Ac&empty=").unwrap();
        assert_eq!(f.get("grant_type"), Some("client_credentials"));
        assert_eq!(f.get("scope"), Some("a b:c"));
        assert_eq!(f.get("empty"), None);
        assert!(f.require("empty").is_err());
    }

    #[test]
    fn refuses_repeats_other_types_and_size() {
        assert_eq!(
            Form::parse(FORM, b"scope=a&scope=b").unwrap_err().error,
            "invalid_request"
        );
        assert!(Form::parse(Some("application/json"), b"{}").is_err());
        assert!(Form::parse(None, b"a=b").is_err());
        assert!(Form::parse(FORM, &vec![b'a'; MAX_FORM_BYTES + 1]).is_err());
    }
}

#[cfg(test)]
#[path = "form_fuzz_tests.rs"]
mod fuzz_tests;
