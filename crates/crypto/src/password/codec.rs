//! Byte encodings met in stored hashes and export files: PHC "B64" (standard alphabet, no
//! padding), lenient base64 (padded or not, standard or URL-safe alphabet, as Keycloak and
//! Auth0 write it) and hex (either case).

use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Standard alphabet, padding optional.
const LENIENT_STANDARD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// URL-safe alphabet, padding optional.
const LENIENT_URL_SAFE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Encodes bytes as PHC "B64": standard base64 alphabet without padding.
pub(super) fn b64_encode(bytes: &[u8]) -> String {
    STANDARD_NO_PAD.encode(bytes)
}

/// Decodes PHC "B64" strictly (no padding, canonical trailing bits).
pub(super) fn b64_decode(text: &str) -> Option<Vec<u8>> {
    STANDARD_NO_PAD.decode(text).ok()
}

/// Decodes base64 as exporters write it: padded or not, standard or URL-safe alphabet.
pub(super) fn base64_lenient(text: &str) -> Option<Vec<u8>> {
    LENIENT_STANDARD
        .decode(text)
        .or_else(|_| LENIENT_URL_SAFE.decode(text))
        .ok()
}

/// Decodes hex, upper or lower case; `None` for an odd length or a non-hex digit.
pub(super) fn hex_decode(text: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| match pair {
            [hi, lo] => Some(nibble(*hi)? << 4 | nibble(*lo)?),
            _ => None,
        })
        .collect()
}

/// Lower-case hex of `bytes`.
pub(super) fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        for nibble in [b >> 4, b & 0x0f] {
            if let Some(&d) = DIGITS.get(usize::from(nibble)) {
                out.push(char::from(d));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_errors() {
        assert_eq!(hex_decode("00ffA0").unwrap(), vec![0, 255, 160]);
        assert_eq!(hex_lower(&[0, 255, 160]), "00ffa0");
        assert_eq!(hex_decode(""), Some(vec![]));
        assert_eq!(hex_decode("abc"), None);
        assert_eq!(hex_decode("zz"), None);
        assert_eq!(hex_decode("é1"), None);
    }

    #[test]
    fn base64_variants() {
        assert_eq!(base64_lenient("c2FsdA==").unwrap(), b"salt");
        assert_eq!(base64_lenient("c2FsdA").unwrap(), b"salt");
        assert_eq!(base64_lenient("-_8").unwrap(), vec![0xfb, 0xff]);
        assert_eq!(base64_lenient("+/8").unwrap(), vec![0xfb, 0xff]);
        assert_eq!(base64_lenient("!!"), None);
        assert_eq!(b64_decode("c2FsdA").unwrap(), b"salt");
        assert_eq!(b64_decode("c2FsdA=="), None);
        assert_eq!(b64_encode(b"salt"), "c2FsdA");
    }
}
