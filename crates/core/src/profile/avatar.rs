//! Avatar images: what a user uploads is never served as it came. Each
//! upload passes these barriers, in order, and a refusal at one stops it:
//!
//! 1. Size: more than [`AvatarLimits::max_bytes`] is refused before any
//!    byte is looked at.
//! 2. Type: sniffed from the magic bytes alone (a declared content type is
//!    never asked for): PNG, JPEG or WebP. SVG (script), GIF, BMP, TIFF,
//!    HTML, anything else, and polyglots that do not start as one of the
//!    three are refused.
//! 3. Header: the pixel dimensions are read from the file's header by hand,
//!    without decoding or allocating, and checked against the limits: a
//!    50,000 x 50,000 header, or a decompression bomb (a tiny file whose
//!    header promises gigabytes of pixels), is refused here. The file's
//!    structure is walked to its end marker too (PNG chunks to `IEND`, JPEG
//!    segments and scans to `EOI`, the WebP RIFF length), so a truncated
//!    file is refused rather than decoded half grey.
//! 4. Decode: by the `image` crate under [`image::Limits`] (width, height
//!    and an allocation budget), a second barrier should the header walk
//!    and the decoder ever disagree. A panic inside a decoder is caught and
//!    answered as a corrupt image.
//! 5. Re-encode: the pixels alone, turned upright by the EXIF orientation,
//!    scaled down to fit [`AvatarLimits::max_edge`] (aspect kept) and
//!    written as a fresh 8-bit PNG holding `IHDR`, `IDAT` and `IEND` only.
//!    EXIF (GPS positions), ICC profiles, text chunks, XMP and whatever
//!    trailed the original are gone. An animated WebP or PNG keeps its
//!    first frame (a PNG's default image); colours are kept as decoded,
//!    without the dropped ICC profile's correction.
//!
//! Serving: the HTTP layer should still send avatars with their
//! `Content-Type`, `X-Content-Type-Options: nosniff` and a restrictive
//! `Content-Security-Policy`: a re-encoded PNG's compressed pixels are
//! bytes an uploader chose, if not in any form a browser would run.

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use image::{
    DynamicImage, ImageDecoder as _, ImageEncoder as _, ImageError, ImageFormat, ImageReader,
};

/// The content type of every sanitised avatar.
pub const AVATAR_CONTENT_TYPE: &str = "image/png";

/// The bounds an upload must keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvatarLimits {
    /// The most bytes an upload may have (2 MiB).
    pub max_bytes: usize,
    /// The widest image accepted, in pixels (4096).
    pub max_width: u32,
    /// The tallest image accepted, in pixels (4096).
    pub max_height: u32,
    /// The most pixels accepted, width times height (4096 x 3072, about
    /// 12.6 million: a 12-megapixel phone photo fits).
    pub max_pixels: u64,
    /// The decoder's allocation budget in bytes (128 MiB: the largest
    /// accepted image at 16 bits per RGBA channel, with room to spare).
    pub max_alloc: u64,
    /// The longest edge of the stored avatar, in pixels (512); larger
    /// images are scaled down, smaller ones kept at their size.
    pub max_edge: u32,
}

impl Default for AvatarLimits {
    fn default() -> Self {
        Self {
            max_bytes: 2 * 1024 * 1024,
            max_width: 4096,
            max_height: 4096,
            max_pixels: 4096 * 3072,
            max_alloc: 128 * 1024 * 1024,
            max_edge: 512,
        }
    }
}

/// The accepted types of uploads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageType {
    /// PNG (`89 50 4E 47 0D 0A 1A 0A`).
    Png,
    /// JPEG (`FF D8 FF`).
    Jpeg,
    /// WebP (`RIFF ....WEBP`).
    WebP,
}

impl ImageType {
    /// The type's media type.
    pub fn content_type(self) -> &'static str {
        match self {
            ImageType::Png => "image/png",
            ImageType::Jpeg => "image/jpeg",
            ImageType::WebP => "image/webp",
        }
    }

    fn format(self) -> ImageFormat {
        match self {
            ImageType::Png => ImageFormat::Png,
            ImageType::Jpeg => ImageFormat::Jpeg,
            ImageType::WebP => ImageFormat::WebP,
        }
    }
}

/// A sanitised avatar, ready to store and serve.
#[derive(Clone, PartialEq, Eq)]
pub struct Avatar {
    /// The PNG file.
    pub bytes: Vec<u8>,
    /// Always [`AVATAR_CONTENT_TYPE`].
    pub content_type: &'static str,
    /// Its width in pixels.
    pub width: u32,
    /// Its height in pixels.
    pub height: u32,
    /// The SHA-256 digest of `bytes`.
    pub sha256: [u8; 32],
    /// What the upload was.
    pub source_type: ImageType,
}

impl Avatar {
    /// A strong entity tag: the digest in hex, quoted.
    pub fn etag(&self) -> String {
        let mut s = String::with_capacity(66);
        s.push('"');
        for b in self.sha256 {
            s.push_str(&format!("{b:02x}"));
        }
        s.push('"');
        s
    }
}

impl std::fmt::Debug for Avatar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Avatar")
            .field("bytes", &self.bytes.len())
            .field("width", &self.width)
            .field("height", &self.height)
            .field("etag", &self.etag())
            .field("source_type", &self.source_type)
            .finish()
    }
}

/// Why an upload was refused. Each message is fit to show the uploader.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AvatarError {
    /// 413: more bytes than [`AvatarLimits::max_bytes`].
    #[error("the image is too large: at most {max} bytes are accepted")]
    TooLarge {
        /// The upload's size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// 415: not a PNG, JPEG or WebP image (`detected` names what it looked
    /// like, when known: `GIF`, `SVG`, `HTML`, ...).
    #[error("{}", unsupported_message(*.detected))]
    UnsupportedType {
        /// What the bytes looked like.
        detected: Option<&'static str>,
    },
    /// 400: more pixels than the limits allow.
    #[error(
        "the image is too large: {width} x {height} pixels, at most {max_width} x {max_height} and {max_pixels} pixels are accepted"
    )]
    DimensionsTooLarge {
        /// The declared width.
        width: u32,
        /// The declared height.
        height: u32,
        /// The widest accepted.
        max_width: u32,
        /// The tallest accepted.
        max_height: u32,
        /// The most pixels accepted.
        max_pixels: u64,
    },
    /// 400: the file claims an accepted type but is damaged, truncated or
    /// uses a variant the decoder cannot read.
    #[error("the image is damaged or incomplete")]
    Corrupt,
    /// 500: the re-encoding failed (a bug, never the upload's fault).
    #[error("the image could not be processed")]
    Internal,
}

fn unsupported_message(detected: Option<&'static str>) -> String {
    match detected {
        Some(kind) => format!("{kind} files are not accepted: upload a PNG, JPEG or WebP image"),
        None => "the file is not an accepted image: upload a PNG, JPEG or WebP image".to_owned(),
    }
}

/// Checks, decodes and re-encodes an uploaded avatar (see the module's
/// documentation for each barrier). Never panics.
pub fn sanitize_avatar(bytes: &[u8], limits: &AvatarLimits) -> Result<Avatar, AvatarError> {
    if bytes.len() > limits.max_bytes {
        return Err(AvatarError::TooLarge {
            size: bytes.len(),
            max: limits.max_bytes,
        });
    }
    let kind = sniff(bytes)?;
    let header = probe(kind, bytes)?;
    check_dimensions(header.width, header.height, limits)?;
    walk(kind, bytes)?;
    let pixels = catch_unwind(AssertUnwindSafe(|| decode(kind, bytes, &header, limits)))
        .map_err(|_| AvatarError::Corrupt)??;
    let (bytes, width, height) = catch_unwind(AssertUnwindSafe(|| encode(pixels, limits.max_edge)))
        .map_err(|_| AvatarError::Internal)??;
    let sha256 = portcullis_crypto::random::sha256(&bytes);
    Ok(Avatar {
        bytes,
        content_type: AVATAR_CONTENT_TYPE,
        width,
        height,
        sha256,
        source_type: kind,
    })
}

fn check_dimensions(width: u32, height: u32, limits: &AvatarLimits) -> Result<(), AvatarError> {
    let pixels = u64::from(width) * u64::from(height);
    if width > limits.max_width || height > limits.max_height || pixels > limits.max_pixels {
        return Err(AvatarError::DimensionsTooLarge {
            width,
            height,
            max_width: limits.max_width,
            max_height: limits.max_height,
            max_pixels: limits.max_pixels,
        });
    }
    Ok(())
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// The type the magic bytes show; anything but PNG, JPEG and WebP refused,
/// named when recognised.
pub fn sniff(bytes: &[u8]) -> Result<ImageType, AvatarError> {
    if bytes.starts_with(PNG_SIGNATURE) {
        return Ok(ImageType::Png);
    }
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(ImageType::Jpeg);
    }
    if bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        return Ok(ImageType::WebP);
    }
    Err(AvatarError::UnsupportedType {
        detected: recognise(bytes),
    })
}

/// Names common refused types, for the message.
fn recognise(bytes: &[u8]) -> Option<&'static str> {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    if starts(b"GIF87a") || starts(b"GIF89a") {
        return Some("GIF");
    }
    if starts(b"BM") {
        return Some("BMP");
    }
    if starts(b"II*\0") || starts(b"MM\0*") {
        return Some("TIFF");
    }
    if starts(b"%PDF") {
        return Some("PDF");
    }
    if starts(&[0, 0, 1, 0]) {
        return Some("ICO");
    }
    if bytes.get(4..8) == Some(b"ftyp") {
        return Some("HEIF or AVIF");
    }
    // Text: an SVG or an HTML page, perhaps after a byte-order mark and
    // white space.
    let head = bytes.get(..bytes.len().min(1024)).unwrap_or_default();
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    let text = text.trim_start_matches('\u{feff}').trim_start();
    if text.starts_with('<') {
        if text.contains("<svg") {
            return Some("SVG");
        }
        if text.contains("<html") || text.contains("<!doctype html") || text.contains("<script") {
            return Some("HTML");
        }
        return Some("XML or HTML");
    }
    None
}

/// A header's dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    width: u32,
    height: u32,
}

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes(b.try_into().ok()?))
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(b.try_into().ok()?))
}

fn le16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes(b.try_into().ok()?))
}

fn le32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(b.try_into().ok()?))
}

fn le24(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(3)?)?;
    Some(u32::from(*b.first()?) | u32::from(*b.get(1)?) << 8 | u32::from(*b.get(2)?) << 16)
}

/// Reads the pixel dimensions from the header, without decoding.
fn probe(kind: ImageType, bytes: &[u8]) -> Result<Header, AvatarError> {
    let header = match kind {
        ImageType::Png => probe_png(bytes),
        ImageType::Jpeg => probe_jpeg(bytes),
        ImageType::WebP => probe_webp(bytes),
    }
    .ok_or(AvatarError::Corrupt)?;
    if header.width == 0 || header.height == 0 {
        return Err(AvatarError::Corrupt);
    }
    Ok(header)
}

/// PNG: the first chunk is `IHDR`, 13 bytes, width and height first.
fn probe_png(bytes: &[u8]) -> Option<Header> {
    if be32(bytes, 8)? != 13 || bytes.get(12..16)? != b"IHDR" {
        return None;
    }
    Some(Header {
        width: be32(bytes, 16)?,
        height: be32(bytes, 20)?,
    })
}

/// Whether `marker` starts a frame (SOF0 to SOF15 less DHT, JPG and DAC).
fn is_sof(marker: u8) -> bool {
    (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC)
}

/// JPEG: the segments up to the first frame header (SOFn), which holds
/// height then width.
fn probe_jpeg(bytes: &[u8]) -> Option<Header> {
    let mut at = 2;
    loop {
        let (marker, next) = jpeg_marker(bytes, at)?;
        match marker {
            0x01 | 0xD0..=0xD7 => at = next,
            // A second SOI, an EOI or a scan before any frame header.
            0xD8..=0xDA => return None,
            m => {
                let len = usize::from(be16(bytes, next)?);
                if len < 2 {
                    return None;
                }
                if is_sof(m) {
                    // Length, precision, height, width.
                    let height = u32::from(be16(bytes, next.checked_add(3)?)?);
                    let width = u32::from(be16(bytes, next.checked_add(5)?)?);
                    return Some(Header { width, height });
                }
                at = next.checked_add(len)?;
            }
        }
    }
}

/// The marker at `at` (after any fill bytes) and the offset after it.
fn jpeg_marker(bytes: &[u8], at: usize) -> Option<(u8, usize)> {
    if *bytes.get(at)? != 0xFF {
        return None;
    }
    let mut at = at;
    while *bytes.get(at)? == 0xFF {
        at = at.checked_add(1)?;
    }
    Some((*bytes.get(at)?, at.checked_add(1)?))
}

/// WebP: the first chunk of the RIFF is `VP8 ` (lossy), `VP8L` (lossless)
/// or `VP8X` (extended: the canvas size).
fn probe_webp(bytes: &[u8]) -> Option<Header> {
    let data = 20;
    match bytes.get(12..16)? {
        b"VP8 " => {
            if bytes.get(data + 3..data + 6)? != [0x9D, 0x01, 0x2A] {
                return None;
            }
            Some(Header {
                width: u32::from(le16(bytes, data + 6)? & 0x3FFF),
                height: u32::from(le16(bytes, data + 8)? & 0x3FFF),
            })
        }
        b"VP8L" => {
            if *bytes.get(data)? != 0x2F {
                return None;
            }
            let bits = le32(bytes, data + 1)?;
            Some(Header {
                width: (bits & 0x3FFF) + 1,
                height: ((bits >> 14) & 0x3FFF) + 1,
            })
        }
        b"VP8X" => Some(Header {
            width: le24(bytes, data + 4)? + 1,
            height: le24(bytes, data + 7)? + 1,
        }),
        _ => None,
    }
}

/// Walks the file's structure to its end: refuses truncated files.
fn walk(kind: ImageType, bytes: &[u8]) -> Result<(), AvatarError> {
    let complete = match kind {
        ImageType::Png => walk_png(bytes),
        ImageType::Jpeg => walk_jpeg(bytes),
        ImageType::WebP => walk_webp(bytes),
    };
    complete.then_some(()).ok_or(AvatarError::Corrupt)
}

/// PNG: chunk after chunk (length, type, data, CRC) until `IEND`.
fn walk_png(bytes: &[u8]) -> bool {
    let mut at = PNG_SIGNATURE.len();
    loop {
        let (Some(len), Some(kind)) = (
            be32(bytes, at),
            at.checked_add(4).and_then(|t| bytes.get(t..t + 4)),
        ) else {
            return false;
        };
        let Some(next) = usize::try_from(len)
            .ok()
            .and_then(|len| at.checked_add(12)?.checked_add(len))
        else {
            return false;
        };
        if next > bytes.len() {
            return false;
        }
        if kind == b"IEND" {
            return true;
        }
        at = next;
    }
}

/// JPEG: segments, and the entropy-coded data of each scan, until `EOI`.
fn walk_jpeg(bytes: &[u8]) -> bool {
    let mut at = 2;
    loop {
        let Some((marker, next)) = jpeg_marker(bytes, at) else {
            return false;
        };
        match marker {
            0xD9 => return true,
            0xD8 => return false,
            0x01 | 0xD0..=0xD7 => at = next,
            m => {
                let Some(end) =
                    be16(bytes, next).and_then(|len| next.checked_add(usize::from(len)))
                else {
                    return false;
                };
                if end > bytes.len() {
                    return false;
                }
                at = if m == 0xDA {
                    skip_scan(bytes, end)
                } else {
                    end
                };
            }
        }
    }
}

/// The offset of the first marker after a scan's entropy-coded data
/// (where `FF` is followed by anything but a stuffed `00`, a restart
/// marker or another `FF`), or the end of the input.
fn skip_scan(bytes: &[u8], from: usize) -> usize {
    let mut at = from;
    while let Some(&b) = bytes.get(at) {
        if b == 0xFF {
            match bytes.get(at + 1) {
                Some(0x00 | 0xD0..=0xD7) => at += 2,
                Some(0xFF) => at += 1,
                _ => return at,
            }
        } else {
            at += 1;
        }
    }
    at
}

/// WebP: the RIFF's declared length is all there.
fn walk_webp(bytes: &[u8]) -> bool {
    le32(bytes, 4)
        .and_then(|len| usize::try_from(len).ok()?.checked_add(8))
        .is_some_and(|end| end <= bytes.len())
}

/// Decodes under the `image` crate's limits, turned upright.
fn decode(
    kind: ImageType,
    bytes: &[u8],
    header: &Header,
    limits: &AvatarLimits,
) -> Result<DynamicImage, AvatarError> {
    let mut budget = image::Limits::default();
    budget.max_image_width = Some(limits.max_width);
    budget.max_image_height = Some(limits.max_height);
    budget.max_alloc = Some(limits.max_alloc);
    let decode_error = |e: ImageError| decode_error(&e, header, limits);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), kind.format());
    reader.limits(budget.clone());
    let mut decoder = reader.into_decoder().map_err(decode_error)?;
    let (width, height) = decoder.dimensions();
    if (width, height) != (header.width, header.height) {
        // The decoder read another header than ours: trust neither.
        return Err(AvatarError::Corrupt);
    }
    budget
        .reserve(decoder.total_bytes())
        .map_err(decode_error)?;
    decoder.set_limits(budget).map_err(decode_error)?;
    // An unreadable orientation leaves the image as it is.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut pixels = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
    pixels.apply_orientation(orientation);
    Ok(pixels)
}

/// A decoder's error: over its limits is too large, anything else (bad
/// data, a variant it does not read) corrupt.
fn decode_error(e: &ImageError, header: &Header, limits: &AvatarLimits) -> AvatarError {
    match e {
        ImageError::Limits(_) => AvatarError::DimensionsTooLarge {
            width: header.width,
            height: header.height,
            max_width: limits.max_width,
            max_height: limits.max_height,
            max_pixels: limits.max_pixels,
        },
        _ => AvatarError::Corrupt,
    }
}

/// Scales to fit `max_edge` and writes an 8-bit PNG of the pixels alone.
fn encode(pixels: DynamicImage, max_edge: u32) -> Result<(Vec<u8>, u32, u32), AvatarError> {
    let pixels = if pixels.width() > max_edge || pixels.height() > max_edge {
        pixels.resize(max_edge, max_edge, image::imageops::FilterType::Triangle)
    } else {
        pixels
    };
    let (width, height) = (pixels.width(), pixels.height());
    let (raw, color) = if pixels.color().has_alpha() {
        (
            pixels.into_rgba8().into_raw(),
            image::ExtendedColorType::Rgba8,
        )
    } else {
        (
            pixels.into_rgb8().into_raw(),
            image::ExtendedColorType::Rgb8,
        )
    };
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new_with_quality(
        &mut out,
        image::codecs::png::CompressionType::Default,
        image::codecs::png::FilterType::Adaptive,
    )
    .write_image(&raw, width, height, color)
    .map_err(|_| AvatarError::Internal)?;
    Ok((out, width, height))
}

#[cfg(test)]
#[path = "avatar_tests.rs"]
mod tests;
