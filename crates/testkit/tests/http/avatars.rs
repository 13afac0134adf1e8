//! Avatars over HTTP: uploads by users and administrators, the public URL
//! with its caching headers, isolation, and hostile uploads.

use image::{ExtendedColorType, ImageEncoder as _, RgbImage};

use super::*;

fn gradient(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    })
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(gradient(w, h).as_raw(), w, h, ExtendedColorType::Rgb8)
        .unwrap();
    out
}

fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
        .write_image(gradient(w, h).as_raw(), w, h, ExtendedColorType::Rgb8)
        .unwrap();
    out
}

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

/// A deflate stream (fixed Huffman codes) of `n` zero bytes, zlib framed.
fn zlib_zeros(n: usize) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let (mut acc, mut len) = (0u64, 0u32);
    let mut put = |value: u32, n: u32, out: &mut Vec<u8>| {
        acc |= u64::from(value) << len;
        len += n;
        while len >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            len -= 8;
        }
    };
    let code = |c: u32, n: u32, out: &mut Vec<u8>, put: &mut dyn FnMut(u32, u32, &mut Vec<u8>)| {
        for i in (0..n).rev() {
            put((c >> i) & 1, 1, out);
        }
    };
    put(1, 1, &mut out);
    put(1, 2, &mut out);
    code(0b0011_0000, 8, &mut out, &mut put);
    let mut left = n - 1;
    while left >= 258 {
        code(0b1100_0101, 8, &mut out, &mut put);
        code(0, 5, &mut out, &mut put);
        left -= 258;
    }
    for _ in 0..left {
        code(0b0011_0000, 8, &mut out, &mut put);
    }
    code(0, 7, &mut out, &mut put);
    put(0, 7, &mut out);
    out
}

/// A PNG of `w` x `h` one-bit pixels, all zero: a decompression bomb.
fn bomb(w: u32, h: u32) -> Vec<u8> {
    let raw = (h as usize) * (1 + (w as usize).div_ceil(8));
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend(ihdr(w, h, 1, 0));
    out.extend(chunk(b"IDAT", &zlib_zeros(raw)));
    out.extend(chunk(b"IEND", &[]));
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn upload(
    app: &TestApp,
    path: &str,
    token: &str,
    content_type: &str,
    body: Vec<u8>,
) -> portcullis_testkit::Reply {
    let res = app
        .http
        .post(app.url(path))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    portcullis_testkit::Reply::read(res).await
}

async fn fetch(
    app: &TestApp,
    url: &str,
    etag: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut req = app.http.get(url);
    if let Some(e) = etag {
        req = req.header("if-none-match", e);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, headers, res.bytes().await.unwrap().to_vec())
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

backend_tests!(
    profile_avatars_upload_and_serve,
    |app: TestApp| async move {
        let user = app.user("ada@example.com").await;
        let ut = user.access_token.clone();
        let id = app.get("/api/v1/auth/me", Some(&ut)).await.json["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = upload(
            &app,
            "/api/v1/auth/me/avatar",
            &ut,
            "image/png",
            png(64, 48),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let url = r.json["url"].as_str().unwrap().to_owned();
        assert_eq!(url, app.url(&format!("/realms/main/avatars/{id}")));
        assert_eq!(
            (r.json["width"].as_u64(), r.json["height"].as_u64()),
            (Some(64), Some(48))
        );
        let etag = r.json["etag"].as_str().unwrap().to_owned();

        // Served publicly, as a PNG that browsers will not sniff or run.
        let (status, headers, body) = fetch(&app, &url, None).await;
        assert_eq!(status, 200);
        let h = |n: &str| {
            headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        assert_eq!(h("content-type"), "image/png");
        assert_eq!(h("x-content-type-options"), "nosniff");
        assert_eq!(h("content-security-policy"), "default-src 'none'");
        assert!(
            h("cache-control").contains("max-age"),
            "{}",
            h("cache-control")
        );
        assert_eq!(h("etag"), etag);
        assert!(body.starts_with(b"\x89PNG\r\n\x1a\n"));
        let (status, _, body) = fetch(&app, &url, Some(&etag)).await;
        assert_eq!(status, 304);
        assert!(body.is_empty());
        let (status, _, _) = fetch(&app, &url, Some("\"other\"")).await;
        assert_eq!(status, 200);

        // A JPEG is scaled down and stored as PNG; a PNG with HTML behind it
        // comes out without it.
        let r = upload(
            &app,
            "/api/v1/auth/me/avatar",
            &ut,
            "image/jpeg",
            jpeg(1000, 800),
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.json["width"], 512);
        assert_ne!(r.json["etag"], json!(etag));
        let polyglot = [
            png(32, 32).as_slice(),
            b"<html><script>alert(1)</script></html>",
        ]
        .concat();
        let r = upload(&app, "/api/v1/auth/me/avatar", &ut, "image/png", polyglot).await;
        assert_eq!(r.status, 201, "{}", r.text);
        let (_, _, body) = fetch(&app, &url, None).await;
        assert!(!contains(&body, b"<script"));

        // `picture` in the profile's claims points to it.
        let u = app
            .core
            .store()
            .get_user(
                app.core.realms().default_realm().await.unwrap().id,
                id.parse().unwrap(),
            )
            .await
            .unwrap()
            .unwrap();
        let claims = app
            .core
            .profiles()
            .claims(&u, &["openid", "profile"])
            .await
            .unwrap();
        assert_eq!(claims["picture"], json!(url));

        // Removed by its owner; then gone.
        let r = app.delete("/api/v1/auth/me/avatar", Some(&ut)).await;
        assert_eq!(r.status, 204, "{}", r.text);
        assert_eq!(fetch(&app, &url, None).await.0, 404);
        assert_eq!(
            app.delete("/api/v1/auth/me/avatar", Some(&ut)).await.status,
            404
        );
        let claims = app
            .core
            .profiles()
            .claims(&u, &["openid", "profile"])
            .await
            .unwrap();
        assert!(claims.get("picture").is_none());

        // An administrator uploads for a user; a plain user may not.
        let admin = app.admin_token().await;
        let path = format!("/api/v1/identity/users/{id}/avatar");
        let r = upload(&app, &path, &admin, "image/png", png(16, 16)).await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(fetch(&app, &url, None).await.0, 200);
        let r = upload(&app, &path, &ut, "image/png", png(16, 16)).await;
        assert_eq!(r.status, 403, "{}", r.text);
        let r = upload(
            &app,
            &format!("/api/v1/identity/users/{}/avatar", uuid::Uuid::now_v7()),
            &admin,
            "image/png",
            png(16, 16),
        )
        .await;
        assert_eq!(r.status, 404, "{}", r.text);

        // Another realm neither serves nor writes it.
        let r = app
            .post(
                "/api/v1/realms",
                Some(&admin),
                json!({"name": "acme", "admin": {"email": "boss@acme.example", "password": PW}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let boss = app
            .post(
                "/api/v1/realms/acme/auth/login",
                None,
                json!({"email": "boss@acme.example", "password": PW}),
            )
            .await
            .json["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            fetch(&app, &app.url(&format!("/realms/acme/avatars/{id}")), None)
                .await
                .0,
            404
        );
        let r = upload(
            &app,
            &format!("/api/v1/realms/acme/identity/users/{id}/avatar"),
            &boss,
            "image/png",
            png(16, 16),
        )
        .await;
        assert_eq!(r.status, 404, "{}", r.text);
        assert_eq!(
            fetch(&app, &app.url("/realms/main/avatars/nope"), None)
                .await
                .0,
            404
        );
        assert_eq!(
            fetch(&app, &app.url(&format!("/realms/nope/avatars/{id}")), None)
                .await
                .0,
            404
        );

        app.core.flush_audit().await;
        let realm = app.core.realms().default_realm().await.unwrap();
        let records = app.core.store().list_audit(realm.id, 200).await.unwrap();
        assert!(records.iter().any(|r| r.action == "avatar.update"));
        assert!(records.iter().any(|r| r.action == "avatar.delete"));
    }
);

backend_tests!(
    profile_avatars_refuse_hostile_uploads,
    |app: TestApp| async move {
        let user = app.user("mallory@example.com").await;
        let ut = user.access_token.clone();
        let me = "/api/v1/auth/me/avatar";
        let before = rss_kib();
        let svg =
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>".to_vec();
        let html_first = [
            b"<html><script>alert(document.cookie)</script></html>".as_slice(),
            &png(32, 32),
        ]
        .concat();
        let mut huge_header = b"\x89PNG\r\n\x1a\n".to_vec();
        huge_header.extend(ihdr(50_000, 50_000, 8, 2));
        huge_header.extend(chunk(b"IDAT", &zlib_zeros(1000)));
        huge_header.extend(chunk(b"IEND", &[]));
        let the_bomb = bomb(20_000, 20_000);
        assert!(the_bomb.len() < 400 * 1024);
        let mut truncated = png(64, 64);
        truncated.truncate(truncated.len() / 2);
        let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
            ("svg", "image/png", svg.clone(), 415, "SVG"),
            ("svg declared", "image/svg+xml", svg, 415, ""),
            ("html first polyglot", "image/png", html_first, 415, ""),
            (
                "gif",
                "image/png",
                b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec(),
                415,
                "GIF",
            ),
            (
                "50,000 x 50,000 header",
                "image/png",
                huge_header,
                400,
                "50000 x 50000",
            ),
            (
                "decompression bomb",
                "image/png",
                the_bomb,
                400,
                "20000 x 20000",
            ),
            ("truncated", "image/png", truncated, 400, "damaged"),
            (
                "over 2 MiB",
                "image/png",
                vec![0u8; 3 * 1024 * 1024],
                413,
                "",
            ),
            ("empty", "image/png", Vec::new(), 415, ""),
            ("json", "application/json", b"{}".to_vec(), 415, ""),
        ];
        for (what, content_type, body, status, detail) in cases {
            for _ in 0..3 {
                if status == 413 {
                    // The server answers before it has read the body and
                    // may close the connection while the client still
                    // writes: a refusal either way, and what was stored is
                    // checked below. A client of its own, so the
                    // connection it leaves half closed is not reused.
                    let sent = reqwest::Client::new()
                        .post(app.url(me))
                        .bearer_auth(&ut)
                        .header("content-type", content_type)
                        .body(body.clone())
                        .send()
                        .await;
                    if let Ok(res) = sent {
                        let r = portcullis_testkit::Reply::read(res).await;
                        assert_eq!(r.status, 413, "{what}: {}", r.text);
                    }
                    continue;
                }
                let r = upload(&app, me, &ut, content_type, body.clone()).await;
                assert_eq!(r.status, status, "{what}: {}", r.text);
                assert_eq!(
                    r.header("content-type"),
                    Some("application/problem+json"),
                    "{what}"
                );
                assert!(
                    r.json["detail"].as_str().unwrap_or("").contains(detail),
                    "{what}: {}",
                    r.text
                );
            }
        }
        // Nothing stored, and the process did not grow by what a decoder
        // would have allocated (the bomb alone is 400 MB of pixels).
        assert_eq!(
            app.get(
                &format!("/realms/main/avatars/{}", user_id(&app, &ut).await),
                None
            )
            .await
            .status,
            404
        );
        let grown = rss_kib().saturating_sub(before);
        assert!(grown < 100 * 1024, "grew by {grown} KiB");
        let r = upload(&app, me, &ut, "image/png", png(8, 8)).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
);

async fn user_id(app: &TestApp, token: &str) -> String {
    app.get("/api/v1/auth/me", Some(token)).await.json["id"]
        .as_str()
        .unwrap()
        .to_owned()
}
