//! Text that may reach a page: names, descriptions, labels. Portcullis
//! stores such text as typed and escapes it on output (askama escapes
//! every value), and refuses text that carries markup in the first place:
//! what `ammonia`, allowing no tag at all, would have to remove or rewrite
//! (tags, comments, `<script>`, and markup hidden behind character
//! references such as `&lt;script&gt;`). Such input is "script-like": on
//! public endpoints it counts as strikes against the sender (see
//! [`crate::edge`]).

use crate::error::FieldError;

/// The reason given for text with markup; the http layer counts answers
/// carrying it as script-like input.
pub const MARKUP_REASON: &str = "must be plain text, without HTML or script";

/// How an HTML serializer writes text: what `ammonia` gives back for text
/// that holds no markup.
fn escaped(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\u{a0}' => out.push_str("&nbsp;"),
            c => out.push(c),
        }
    }
    out
}

/// Whether `s` holds markup an HTML parser would act on.
pub fn has_markup(s: &str) -> bool {
    if !s.contains(['<', '&']) {
        return false;
    }
    let cleaned = ammonia::Builder::empty().clean(s).to_string();
    cleaned != escaped(s)
}

/// Checks that `value` of `field` is plain text.
pub fn plain(field: &str, value: &str) -> Result<(), FieldError> {
    if has_markup(value) {
        Err(FieldError::new(field, MARKUP_REASON))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_passes_and_markup_does_not() {
        for ok in [
            "Ada Lovelace",
            "AT&T billing",
            "a < b > c",
            "3 <4",
            "emoji 🦀 and ünïcödé",
            "Tom & Jerry; R&D",
            "",
        ] {
            assert!(!has_markup(ok), "{ok}");
        }
        for bad in [
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(1)>",
            "Ada<b>bold</b>",
            "<!-- comment -->",
            "</title><svg/onload=alert(1)>",
            "&lt;script&gt;alert(1)&lt;/script&gt;",
            "<a href=\"javascript:alert(1)\">x</a>",
            "x<style>*{}</style>",
        ] {
            assert!(has_markup(bad), "{bad}");
            assert_eq!(plain("name", bad).unwrap_err().reason, MARKUP_REASON);
        }
    }
}
