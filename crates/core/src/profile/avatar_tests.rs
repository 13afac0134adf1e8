#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::{ExtendedColorType, ImageEncoder, RgbImage, RgbaImage};

use super::*;
use crate::clock::Stopwatch;

// ---- building test images ----

fn gradient(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    })
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(gradient(w, h).as_raw(), w, h, ExtendedColorType::Rgb8)
        .unwrap();
    out
}

fn png_rgba(w: u32, h: u32) -> Vec<u8> {
    let img = RgbaImage::from_fn(w, h, |x, _| image::Rgba([200, 10, 10, (x % 256) as u8]));
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(img.as_raw(), w, h, ExtendedColorType::Rgba8)
        .unwrap();
    out
}

fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 85)
        .write_image(gradient(w, h).as_raw(), w, h, ExtendedColorType::Rgb8)
        .unwrap();
    out
}

fn webp(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    WebPEncoder::new_lossless(&mut out)
        .write_image(gradient(w, h).as_raw(), w, h, ExtendedColorType::Rgb8)
        .unwrap();
    out
}

/// CRC-32 (ISO-HDLC), as PNG chunks carry it.
fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = 0xFFFF_FFFF_u32;
    for byte in parts.iter().flat_map(|p| p.iter()) {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// One PNG chunk: length, type, data, CRC of type and data.
fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc32(&[kind, data]).to_be_bytes());
    out
}

fn ihdr(w: u32, h: u32, depth: u8, color: u8) -> Vec<u8> {
    let mut data = w.to_be_bytes().to_vec();
    data.extend_from_slice(&h.to_be_bytes());
    data.extend_from_slice(&[depth, color, 0, 0, 0]);
    chunk(b"IHDR", &data)
}

/// Inserts chunks right after a PNG's IHDR.
fn with_chunks_after_ihdr(png: &[u8], extra: &[Vec<u8>]) -> Vec<u8> {
    let at = 8 + 25;
    assert_eq!(&png[12..16], b"IHDR");
    let mut out = png[..at].to_vec();
    for c in extra {
        out.extend_from_slice(c);
    }
    out.extend_from_slice(&png[at..]);
    out
}

/// The chunk types of a PNG, in order.
fn chunk_types(png: &[u8]) -> Vec<String> {
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    let mut at = 8;
    let mut out = Vec::new();
    while at + 8 <= png.len() {
        let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
        out.push(String::from_utf8_lossy(&png[at + 4..at + 8]).into_owned());
        at += 12 + len;
    }
    assert_eq!(at, png.len(), "nothing after IEND");
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn assert_clean(avatar: &Avatar) {
    assert_eq!(
        chunk_types(&avatar.bytes)
            .iter()
            .filter(|c| *c != "IDAT")
            .collect::<Vec<_>>(),
        ["IHDR", "IEND"]
    );
    assert_eq!(avatar.content_type, "image/png");
    assert_eq!(
        avatar.sha256,
        portcullis_crypto::random::sha256(&avatar.bytes)
    );
    let back = image::load_from_memory_with_format(&avatar.bytes, image::ImageFormat::Png).unwrap();
    assert_eq!((back.width(), back.height()), (avatar.width, avatar.height));
}

/// A deflate stream (fixed Huffman codes) of `n` zero bytes, in zlib
/// framing: a literal zero, then copies of 258 bytes at distance 1.
fn zlib_zeros(n: usize) -> Vec<u8> {
    struct Bits {
        out: Vec<u8>,
        acc: u64,
        len: u32,
    }
    impl Bits {
        /// LSB first (header fields).
        fn put(&mut self, value: u32, n: u32) {
            self.acc |= u64::from(value) << self.len;
            self.len += n;
            while self.len >= 8 {
                self.out.push(self.acc as u8);
                self.acc >>= 8;
                self.len -= 8;
            }
        }
        /// A Huffman code, most significant bit first.
        fn code(&mut self, code: u32, n: u32) {
            for i in (0..n).rev() {
                self.put((code >> i) & 1, 1);
            }
        }
    }
    let mut bits = Bits {
        out: vec![0x78, 0x01],
        acc: 0,
        len: 0,
    };
    bits.put(1, 1); // BFINAL
    bits.put(1, 2); // BTYPE = fixed
    let literal_zero = |b: &mut Bits| b.code(0b0011_0000, 8);
    literal_zero(&mut bits);
    let mut left = n - 1;
    while left >= 258 {
        bits.code(0b1100_0101, 8); // length 258 (code 285)
        bits.code(0, 5); // distance 1 (code 0)
        left -= 258;
    }
    for _ in 0..left {
        literal_zero(&mut bits);
    }
    bits.code(0, 7); // end of block (256)
    if bits.len > 0 {
        bits.put(0, 8 - bits.len);
    }
    let adler = ((n % 65521) as u32) << 16 | 1;
    bits.out.extend_from_slice(&adler.to_be_bytes());
    bits.out
}

/// A PNG declaring `w` x `h` one-bit grey pixels, all zero, compressed.
fn bomb(w: u32, h: u32) -> Vec<u8> {
    let raw = (h as usize) * (1 + (w as usize).div_ceil(8));
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend(ihdr(w, h, 1, 0));
    out.extend(chunk(b"IDAT", &zlib_zeros(raw)));
    out.extend(chunk(b"IEND", &[]));
    out
}

/// Exif (big-endian TIFF): IFD0 with ImageDescription, Orientation and a
/// GPS IFD pointer; the GPS IFD with a latitude.
fn exif_with_gps(orientation: u16, description: &[u8]) -> Vec<u8> {
    let mut t: Vec<u8> = b"MM\0\x2a\0\0\0\x08".to_vec();
    let entries = 3u16;
    let ifd0_end = 8 + 2 + 12 * u32::from(entries) + 4;
    let desc_at = ifd0_end;
    let gps_at = desc_at + description.len() as u32;
    t.extend_from_slice(&entries.to_be_bytes());
    // ImageDescription, ASCII.
    t.extend_from_slice(&[0x01, 0x0E, 0, 2]);
    t.extend_from_slice(&(description.len() as u32).to_be_bytes());
    t.extend_from_slice(&desc_at.to_be_bytes());
    // Orientation, SHORT.
    t.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1]);
    t.extend_from_slice(&orientation.to_be_bytes());
    t.extend_from_slice(&[0, 0]);
    // GPSInfo IFD pointer, LONG.
    t.extend_from_slice(&[0x88, 0x25, 0, 4, 0, 0, 0, 1]);
    t.extend_from_slice(&gps_at.to_be_bytes());
    t.extend_from_slice(&[0, 0, 0, 0]);
    t.extend_from_slice(description);
    // GPS IFD: GPSLatitudeRef "N", GPSLatitude 51/1 30/1 2604/100.
    let gps_entries = 2u16;
    let rationals_at = gps_at + 2 + 12 * u32::from(gps_entries) + 4;
    t.extend_from_slice(&gps_entries.to_be_bytes());
    t.extend_from_slice(&[0, 1, 0, 2, 0, 0, 0, 2, b'N', 0, 0, 0]);
    t.extend_from_slice(&[0, 2, 0, 5, 0, 0, 0, 3]);
    t.extend_from_slice(&rationals_at.to_be_bytes());
    t.extend_from_slice(&[0, 0, 0, 0]);
    for (num, den) in [(51u32, 1u32), (30, 1), (2604, 100)] {
        t.extend_from_slice(&num.to_be_bytes());
        t.extend_from_slice(&den.to_be_bytes());
    }
    let mut exif = b"Exif\0\0".to_vec();
    exif.extend(t);
    exif
}

/// A JPEG with an APP1 Exif segment right after SOI.
fn jpeg_with_exif(w: u32, h: u32, exif: &[u8]) -> Vec<u8> {
    let plain = jpeg(w, h);
    let mut out = plain[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((exif.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(exif);
    out.extend_from_slice(&plain[2..]);
    out
}

fn limits() -> AvatarLimits {
    AvatarLimits::default()
}

fn too_large(r: Result<Avatar, AvatarError>) -> bool {
    matches!(r, Err(AvatarError::DimensionsTooLarge { .. }))
}

// ---- accepted uploads ----

#[test]
fn png_jpeg_and_webp_come_out_as_clean_pngs() {
    for (input, kind) in [
        (png(64, 48), ImageType::Png),
        (jpeg(64, 48), ImageType::Jpeg),
        (webp(64, 48), ImageType::WebP),
    ] {
        let avatar = sanitize_avatar(&input, &limits()).unwrap();
        assert_eq!(avatar.source_type, kind);
        assert_eq!((avatar.width, avatar.height), (64, 48));
        assert_clean(&avatar);
        assert!(avatar.etag().starts_with('"') && avatar.etag().len() == 66);
    }
    // Lossless inputs keep their pixels exactly.
    let avatar = sanitize_avatar(&png(40, 30), &limits()).unwrap();
    let back = image::load_from_memory(&avatar.bytes).unwrap().into_rgb8();
    assert_eq!(back, gradient(40, 30));
    // Transparency is kept.
    let avatar = sanitize_avatar(&png_rgba(20, 20), &limits()).unwrap();
    assert!(
        image::load_from_memory(&avatar.bytes)
            .unwrap()
            .color()
            .has_alpha()
    );
    // The same upload gives the same bytes, hence the same ETag.
    assert_eq!(
        sanitize_avatar(&png(40, 30), &limits()).unwrap().etag(),
        avatar_etag_of(&png(40, 30))
    );
}

fn avatar_etag_of(input: &[u8]) -> String {
    sanitize_avatar(input, &limits()).unwrap().etag()
}

#[test]
fn large_images_are_scaled_to_the_maximum_edge_keeping_their_aspect() {
    let avatar = sanitize_avatar(&png(2000, 1000), &limits()).unwrap();
    assert_eq!((avatar.width, avatar.height), (512, 256));
    let avatar = sanitize_avatar(&jpeg(300, 1200), &limits()).unwrap();
    assert_eq!((avatar.width, avatar.height), (128, 512));
    let avatar = sanitize_avatar(&png(4000, 3), &limits()).unwrap();
    assert_eq!(avatar.width, 512);
    assert!(avatar.height >= 1);
    let small = AvatarLimits {
        max_edge: 64,
        ..limits()
    };
    let avatar = sanitize_avatar(&webp(100, 100), &small).unwrap();
    assert_eq!((avatar.width, avatar.height), (64, 64));
}

// ---- refused before decoding ----

#[test]
fn too_many_bytes_are_refused_before_anything_else() {
    let l = AvatarLimits {
        max_bytes: 1000,
        ..limits()
    };
    let garbage = vec![b'<'; 1001];
    assert_eq!(
        sanitize_avatar(&garbage, &l),
        Err(AvatarError::TooLarge {
            size: 1001,
            max: 1000
        })
    );
    assert!(matches!(
        sanitize_avatar(&vec![0; 2 * 1024 * 1024 + 1], &limits()),
        Err(AvatarError::TooLarge { .. })
    ));
}

#[test]
fn other_types_are_refused_by_their_magic_bytes_and_named() {
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>"#;
    let xml_svg =
        b"\xEF\xBB\xBF  <?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>";
    let mut gif = b"GIF89a\x01\x00\x01\x00\x80\x00\x00".to_vec();
    gif.extend_from_slice(&[0; 32]);
    let html_then_png = [
        b"<!DOCTYPE html><html><script>alert(1)</script>".as_slice(),
        &png(4, 4),
    ]
    .concat();
    for (input, named) in [
        (svg.to_vec(), Some("SVG")),
        (xml_svg.to_vec(), Some("SVG")),
        (gif, Some("GIF")),
        (b"BM\x3a\0\0\0\0\0\0\0\x36\0\0\0".to_vec(), Some("BMP")),
        (b"II*\0\x08\0\0\0".to_vec(), Some("TIFF")),
        (b"MM\0*\0\0\0\x08".to_vec(), Some("TIFF")),
        (html_then_png, Some("HTML")),
        (b"%PDF-1.7".to_vec(), Some("PDF")),
        (b"\0\0\0\x1cftypavif".to_vec(), Some("HEIF or AVIF")),
        (Vec::new(), None),
        (b"\x89PN".to_vec(), None),
        (b"just some text".to_vec(), None),
    ] {
        assert_eq!(
            sanitize_avatar(&input, &limits()),
            Err(AvatarError::UnsupportedType { detected: named }),
            "{:?}",
            String::from_utf8_lossy(&input[..input.len().min(20)])
        );
    }
    let message = AvatarError::UnsupportedType {
        detected: Some("GIF"),
    }
    .to_string();
    assert_eq!(
        message,
        "GIF files are not accepted: upload a PNG, JPEG or WebP image"
    );
}

#[test]
fn a_50000_pixel_header_is_refused_without_decoding() {
    // PNG: a header and an end, no pixels at all.
    let mut huge_png = b"\x89PNG\r\n\x1a\n".to_vec();
    huge_png.extend(ihdr(50_000, 50_000, 8, 6));
    huge_png.extend(chunk(b"IEND", &[]));
    // JPEG: a real one whose frame header claims 50,000 x 50,000.
    let mut huge_jpeg = jpeg(16, 16);
    let sof = huge_jpeg
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .unwrap();
    huge_jpeg[sof + 5..sof + 7].copy_from_slice(&50_000u16.to_be_bytes());
    huge_jpeg[sof + 7..sof + 9].copy_from_slice(&50_000u16.to_be_bytes());
    // WebP: an extended header with a 50,000 x 50,000 canvas.
    let mut vp8x = vec![0u8; 10];
    vp8x[4..7].copy_from_slice(&(50_000u32 - 1).to_le_bytes()[..3]);
    vp8x[7..10].copy_from_slice(&(50_000u32 - 1).to_le_bytes()[..3]);
    let mut huge_webp = b"RIFF".to_vec();
    huge_webp.extend_from_slice(&(4u32 + 8 + 10).to_le_bytes());
    huge_webp.extend_from_slice(b"WEBPVP8X");
    huge_webp.extend_from_slice(&10u32.to_le_bytes());
    huge_webp.extend(vp8x);
    for input in [huge_png, huge_jpeg, huge_webp] {
        let e = sanitize_avatar(&input, &limits()).unwrap_err();
        assert!(
            matches!(
                e,
                AvatarError::DimensionsTooLarge {
                    width: 50_000,
                    height: 50_000,
                    ..
                }
            ),
            "{e:?}"
        );
    }
    // Within each edge but over the pixel count.
    let mut square = b"\x89PNG\r\n\x1a\n".to_vec();
    square.extend(ihdr(4096, 4096, 8, 2));
    square.extend(chunk(b"IEND", &[]));
    assert!(too_large(sanitize_avatar(&square, &limits())));
    // Zero pixels are no image.
    let mut empty = b"\x89PNG\r\n\x1a\n".to_vec();
    empty.extend(ihdr(0, 10, 8, 2));
    empty.extend(chunk(b"IEND", &[]));
    assert_eq!(
        sanitize_avatar(&empty, &limits()),
        Err(AvatarError::Corrupt)
    );
}

#[test]
fn a_decompression_bomb_is_refused_by_its_header_without_allocating() {
    // 20,000 x 20,000 one-bit pixels: 50 MB of zeros in ~300 KB (400 MB
    // once a decoder expands it to 8-bit grey).
    let bomb = bomb(20_000, 20_000);
    assert!(bomb.len() < 400 * 1024, "{}", bomb.len());
    let watch = Stopwatch::start();
    let e = sanitize_avatar(&bomb, &limits()).unwrap_err();
    assert!(
        matches!(
            e,
            AvatarError::DimensionsTooLarge {
                width: 20_000,
                height: 20_000,
                ..
            }
        ),
        "{e:?}"
    );
    // The second barrier: with the header check opened wide, the decoder's
    // allocation budget refuses it before allocating its 400 MB.
    let wide_open = AvatarLimits {
        max_width: u32::MAX,
        max_height: u32::MAX,
        max_pixels: u64::MAX,
        max_alloc: 64 * 1024 * 1024,
        ..limits()
    };
    let e = sanitize_avatar(&bomb, &wide_open).unwrap_err();
    assert!(matches!(e, AvatarError::DimensionsTooLarge { .. }), "{e:?}");
    // Inflating 50 MB, let alone expanding it, takes far longer than this
    // in a debug build: neither refusal read the pixels.
    assert!(
        watch.elapsed() < Duration::from_millis(500),
        "{:?}",
        watch.elapsed()
    );
}

#[test]
fn the_bomb_is_a_real_one() {
    // A smaller bomb of the same making decodes to zeros: the stream above
    // is valid deflate, not a header with garbage behind it.
    let small = bomb(1000, 800);
    let img = image::load_from_memory(&small).unwrap();
    assert_eq!((img.width(), img.height()), (1000, 800));
    assert!(img.into_luma8().pixels().all(|p| p.0 == [0]));
    let avatar = sanitize_avatar(&small, &limits()).unwrap();
    assert_eq!(avatar.width, 512);
    assert!((409..=410).contains(&avatar.height), "{}", avatar.height);
}

// ---- hostile content ----

#[test]
fn a_png_with_html_appended_comes_out_without_it() {
    let payload =
        b"<html><script>fetch('/api/v1/me').then(r=>r.text()).then(alert)</script></html>";
    let polyglot = [png(32, 32).as_slice(), payload].concat();
    let avatar = sanitize_avatar(&polyglot, &limits()).unwrap();
    assert!(!contains(&avatar.bytes, b"<script"));
    assert!(!contains(&avatar.bytes, b"fetch("));
    assert_clean(&avatar);
}

#[test]
fn text_and_metadata_chunks_are_dropped() {
    let script = b"Comment\0<script>alert(document.cookie)</script>";
    let itxt = b"XML:com.adobe.xmp\0\0\0\0\0<x:xmpmeta><script>alert(2)</script></x:xmpmeta>";
    let exif = exif_with_gps(1, b"secret-location\0");
    let input = with_chunks_after_ihdr(
        &png(32, 32),
        &[
            chunk(b"tEXt", script),
            chunk(b"iTXt", itxt),
            chunk(b"eXIf", &exif[6..]),
        ],
    );
    // The decoder reads the file as it is (the chunks are well formed).
    image::load_from_memory(&input).unwrap();
    let avatar = sanitize_avatar(&input, &limits()).unwrap();
    for needle in [
        b"<script".as_slice(),
        b"alert(",
        b"secret-location",
        b"tEXt",
        b"iTXt",
        b"eXIf",
        b"xmpmeta",
    ] {
        assert!(
            !contains(&avatar.bytes, needle),
            "{}",
            String::from_utf8_lossy(needle)
        );
    }
    assert_clean(&avatar);
}

#[test]
fn a_jpegs_exif_and_gps_are_stripped_and_its_orientation_applied() {
    let description = b"taken-at-51.5074N-0.1278W\0";
    let exif = exif_with_gps(6, description);
    let input = jpeg_with_exif(80, 40, &exif);
    assert!(contains(&input, b"taken-at-51.5074N"));
    assert!(
        contains(&input, &[0x88, 0x25]),
        "the GPS IFD pointer is in the input"
    );
    let avatar = sanitize_avatar(&input, &limits()).unwrap();
    assert!(!contains(&avatar.bytes, b"taken-at"));
    assert!(!contains(&avatar.bytes, b"Exif"));
    assert!(!contains(&avatar.bytes, b"MM\0\x2a"));
    assert_clean(&avatar);
    // Orientation 6 (rotate 90 degrees clockwise): the 80 x 40 photo stands up.
    assert_eq!((avatar.width, avatar.height), (40, 80));
}

#[test]
fn truncated_and_damaged_files_are_refused_as_corrupt() {
    let jpg = jpeg(64, 64);
    let p = png(64, 64);
    let w = webp(64, 64);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("jpeg cut in its scan", jpg[..jpg.len() / 2].to_vec()),
        ("jpeg without EOI", jpg[..jpg.len() - 2].to_vec()),
        ("jpeg header only", jpg[..20].to_vec()),
        ("jpeg SOI only", vec![0xFF, 0xD8, 0xFF]),
        ("png cut in IDAT", p[..p.len() / 2].to_vec()),
        ("png without IEND", p[..p.len() - 12].to_vec()),
        ("png signature only", p[..8].to_vec()),
        ("png with a chunk length past the end", {
            let mut x = p.clone();
            x[33..37].copy_from_slice(&u32::MAX.to_be_bytes());
            x
        }),
        ("webp cut", w[..w.len() / 2].to_vec()),
        ("webp header only", w[..16].to_vec()),
        ("png with its pixels scrambled", {
            let mut x = p.clone();
            let idat = x.windows(4).position(|c| c == b"IDAT").unwrap();
            for b in &mut x[idat + 4..idat + 40] {
                *b ^= 0x5A;
            }
            x
        }),
    ];
    for (what, input) in cases {
        assert_eq!(
            sanitize_avatar(&input, &limits()),
            Err(AvatarError::Corrupt),
            "{what}"
        );
    }
}

#[test]
fn error_messages_are_fit_for_the_uploader() {
    assert_eq!(
        AvatarError::TooLarge { size: 3, max: 2 }.to_string(),
        "the image is too large: at most 2 bytes are accepted"
    );
    assert_eq!(
        AvatarError::Corrupt.to_string(),
        "the image is damaged or incomplete"
    );
    let e = sanitize_avatar(&bomb(20_000, 20_000), &limits())
        .unwrap_err()
        .to_string();
    assert!(e.contains("20000 x 20000 pixels"), "{e}");
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    fn samples() -> Vec<Vec<u8>> {
        vec![png(16, 12), png_rgba(8, 8), jpeg(16, 12), webp(16, 12)]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
            prop_assert!(sanitize_avatar(&bytes, &limits()).is_err());
        }

        #[test]
        fn random_bytes_behind_a_magic_never_panic(
            magic in prop_oneof![
                Just(b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec()),
                Just(vec![0xFF, 0xD8, 0xFF]),
                Just(b"RIFF\0\0\0\0WEBPVP8 ".to_vec()),
                Just(b"RIFF\0\0\0\0WEBPVP8L".to_vec()),
                Just(b"RIFF\0\0\0\0WEBPVP8X".to_vec()),
            ],
            tail in prop::collection::vec(any::<u8>(), 0..2048),
        ) {
            let input = [magic, tail].concat();
            let _ = sanitize_avatar(&input, &limits());
        }

        #[test]
        fn mutated_images_never_panic_and_what_passes_is_clean(
            which in 0usize..4,
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in any::<prop::sample::Index>(),
            truncate in any::<bool>(),
        ) {
            let mut input = samples().swap_remove(which);
            for (at, byte) in flips {
                let i = at.index(input.len());
                input[i] = byte;
            }
            if truncate {
                input.truncate(cut.index(input.len()));
            }
            if let Ok(avatar) = sanitize_avatar(&input, &limits()) {
                assert_clean(&avatar);
            }
        }
    }
}
