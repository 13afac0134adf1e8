//! TOTP (RFC 6238) with `totp-rs`: SHA-1, 6 digits, 30-second steps, one
//! step of skew either way, 160-bit secrets; the enrolment's `otpauth://`
//! URI and its QR code.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use totp_rs::{Algorithm, Builder, Secret, Totp};

use crate::error::{Error, Result};

/// Length of a TOTP secret in bytes (160 bits, as RFC 4226 recommends).
pub(crate) const SECRET_LEN: usize = 20;
/// Digits of a code.
pub(crate) const DIGITS: u8 = 6;
/// Seconds of a step.
pub(crate) const STEP: u64 = 30;

/// A TOTP generator for a secret, labelled for authenticator apps with the
/// realm's name (`issuer`) and the user's address (`account`).
pub(crate) fn totp(secret: &[u8], issuer: &str, account: &str) -> Result<Totp> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(DIGITS)
        .with_skew(1)
        .with_step_duration(STEP)
        .with_secret(Secret::from(secret))
        // A colon separates issuer and account in the label: none may hold one.
        .with_issuer(Some(issuer.replace(':', " ")))
        .with_account_name(account.replace(':', " "))
        .build()
        .map_err(|e| {
            tracing::error!(error = %e, "TOTP set-up");
            Error::Internal("totp")
        })
}

/// The step a code matches at `unix_seconds` (the step before, the current
/// one or the step after), compared in constant time; `None` when none does.
pub(crate) fn matching_step(totp: &Totp, code: &str, unix_seconds: i64) -> Option<i64> {
    let code = code.trim();
    if code.len() != usize::from(DIGITS) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = u64::try_from(unix_seconds).ok()?;
    totp.check(code, now).and_then(|s| i64::try_from(s).ok())
}

/// The `otpauth://totp/...` URI authenticator apps import.
pub(crate) fn otpauth_uri(totp: &Totp) -> Result<String> {
    totp.to_url().map_err(|e| {
        tracing::error!(error = %e, "TOTP URI");
        Error::Internal("totp")
    })
}

/// A QR code of `text` as an SVG `data:` URI, for an `<img src>`.
pub(crate) fn qr_data_uri(text: &str) -> Result<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).map_err(|e| {
        tracing::error!(error = %e, "QR code");
        Error::Internal("qr_code")
    })?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    Ok(format!(
        "data:image/svg+xml;base64,{}",
        STANDARD.encode(svg.as_bytes())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 secret "12345678901234567890", truncated
    /// to six digits.
    #[test]
    fn rfc_6238_vectors() {
        let t = totp(b"12345678901234567890", "Test", "a@example.com").unwrap();
        for (time, code) in [
            (59_i64, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(matching_step(&t, code, time), Some(time / 30), "{time}");
        }
    }

    #[test]
    fn one_step_of_skew_each_way_and_no_more() {
        let t = totp(b"12345678901234567890", "Test", "a@example.com").unwrap();
        // "287082" is the code of step 1 (t = 30..59).
        assert_eq!(matching_step(&t, "287082", 30 + 30), Some(1));
        assert_eq!(matching_step(&t, "287082", 0), Some(1));
        assert_eq!(matching_step(&t, "287082", 30 + 60), None);
    }

    #[test]
    fn malformed_codes_never_match() {
        let t = totp(b"12345678901234567890", "Test", "a@example.com").unwrap();
        for code in ["", "28708", "2870822", "28708a", "+87082", "٢٨٧٠٨٢"] {
            assert_eq!(matching_step(&t, code, 59), None, "{code:?}");
        }
        assert_eq!(matching_step(&t, "287082", -1), None);
    }

    #[test]
    fn uri_names_issuer_and_account_and_qr_is_svg() {
        let t = totp(&[7u8; SECRET_LEN], "Acme: Corp", "ann@example.com").unwrap();
        let uri = otpauth_uri(&t).unwrap();
        assert!(
            uri.starts_with("otpauth://totp/Acme%20%20Corp:ann%40example.com?"),
            "{uri}"
        );
        assert!(
            uri.contains("secret=A4DQOBYHA4DQOBYHA4DQOBYHA4DQOBYH"),
            "{uri}"
        );
        assert!(uri.contains("issuer=Acme%20%20Corp"), "{uri}");
        let qr = qr_data_uri(&uri).unwrap();
        let svg = STANDARD
            .decode(qr.strip_prefix("data:image/svg+xml;base64,").unwrap())
            .unwrap();
        assert!(String::from_utf8(svg).unwrap().contains("<svg"));
    }
}
