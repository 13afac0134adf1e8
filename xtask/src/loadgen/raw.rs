//! A bare HTTP/1.1 keep-alive connection for the OAuth scenarios: each
//! request is written in one piece from a prepared head, and the answer is
//! parsed with `httparse`, as `wrk` does. The load generator shares the
//! cores with the server under test; a general client (hyper's, with its
//! request builder, header maps and the channel between a request's sender
//! and the connection's driver) spent about a third of the CPU a token
//! request costs both sides together, CPU the server then lacked.
//!
//! Answers may carry `Content-Length` or be chunked; a `Connection: close`
//! answer closes the connection after it, and the next request reconnects.

use std::net::SocketAddr;

use anyhow::{Context as _, Result, bail};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Largest answer head and body accepted.
const MAX_ANSWER: usize = 1 << 20;

/// A connection that POSTs forms to one path, one request at a time.
pub struct RawConn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    /// Request line and headers up to `Content-Length: `.
    head: Vec<u8>,
    /// The request being written.
    out: Vec<u8>,
    /// Bytes read and not yet consumed.
    buf: Vec<u8>,
}

/// An answer: its status and whole body.
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl RawConn {
    /// Connects to `addr` for `POST path` with a form body and the
    /// `Authorization` header value `authorization`.
    pub async fn connect(addr: SocketAddr, path: &str, authorization: &str) -> Result<Self> {
        if path.bytes().any(|b| b <= b' ' || b == 0x7f) || authorization.contains(['\r', '\n']) {
            bail!("the path or credentials cannot go in a request head");
        }
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nAuthorization: {authorization}\r\nContent-Length: "
        )
        .into_bytes();
        let stream = Some(open(addr).await?);
        Ok(Self {
            addr,
            stream,
            head,
            out: Vec::with_capacity(4096),
            buf: Vec::with_capacity(8192),
        })
    }

    /// Opens a new connection in place of the current one.
    pub async fn reopen(&mut self) -> Result<()> {
        self.stream = Some(open(self.addr).await?);
        Ok(())
    }

    /// POSTs `body`; returns the answer. A connection that failed or that
    /// the server closes is dropped, and the next request opens another.
    pub async fn post(&mut self, body: &[u8]) -> Result<Answer> {
        self.out.clear();
        self.out.extend_from_slice(&self.head);
        self.out
            .extend_from_slice(format!("{}\r\n\r\n", body.len()).as_bytes());
        self.out.extend_from_slice(body);
        let mut stream = match self.stream.take() {
            Some(stream) => stream,
            None => open(self.addr).await?,
        };
        stream.write_all(&self.out).await.context("sending")?;
        self.buf.clear();
        loop {
            if let Some((answer, keep_alive)) = parse(&self.buf)? {
                if keep_alive {
                    self.stream = Some(stream);
                }
                return Ok(answer);
            }
            if self.buf.len() > MAX_ANSWER {
                bail!("the answer is larger than {MAX_ANSWER} bytes");
            }
            self.buf.reserve(8192);
            if stream.read_buf(&mut self.buf).await.context("receiving")? == 0 {
                bail!("the server closed the connection");
            }
        }
    }
}

async fn open(addr: SocketAddr) -> Result<TcpStream> {
    let tcp = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    tcp.set_nodelay(true).context("setting TCP_NODELAY")?;
    Ok(tcp)
}

/// A whole answer at the start of `buf` (the answer to the one request in
/// flight: nothing follows it), and whether the connection stays open;
/// `None` while incomplete.
fn parse(buf: &[u8]) -> Result<Option<(Answer, bool)>> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let head = match response.parse(buf).context("a malformed answer")? {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => return Ok(None),
    };
    let status = response.code.context("an answer without a status")?;
    let mut length = None;
    let mut chunked = false;
    let mut keep_alive = response.version == Some(1);
    for h in response.headers.iter() {
        let value = std::str::from_utf8(h.value).unwrap_or("").trim();
        if h.name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<usize>().context("a bad Content-Length")?);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().ends_with("chunked");
        } else if h.name.eq_ignore_ascii_case("connection") {
            keep_alive = !value.eq_ignore_ascii_case("close");
        }
    }
    let rest = buf.get(head..).unwrap_or_default();
    let body = if chunked {
        match dechunk(rest)? {
            Some(body) => body,
            None => return Ok(None),
        }
    } else {
        let length = length.context("an answer without Content-Length or chunks")?;
        match rest.get(..length) {
            Some(body) => body.to_vec(),
            None => return Ok(None),
        }
    };
    Ok(Some((Answer { status, body }, keep_alive)))
}

/// A chunked body (RFC 9112 §7.1) at the start of `buf`; `None` while
/// incomplete. Trailers are skipped.
fn dechunk(buf: &[u8]) -> Result<Option<Vec<u8>>> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let Some(rest) = buf.get(at..) else {
            return Ok(None);
        };
        let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let line =
            std::str::from_utf8(rest.get(..eol).unwrap_or_default()).context("a bad chunk size")?;
        let size = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size, 16).context("a bad chunk size")?;
        at += eol + 2;
        if size == 0 {
            // Trailer fields, then an empty line.
            loop {
                let Some(rest) = buf.get(at..) else {
                    return Ok(None);
                };
                let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
                    return Ok(None);
                };
                at += eol + 2;
                if eol == 0 {
                    return Ok(Some(body));
                }
            }
        }
        if body.len() + size > MAX_ANSWER {
            bail!("the answer is larger than {MAX_ANSWER} bytes");
        }
        let Some(chunk) = buf.get(at..at + size) else {
            return Ok(None);
        };
        body.extend_from_slice(chunk);
        at += size;
        match buf.get(at..at + 2) {
            Some(b"\r\n") => at += 2,
            Some(_) => bail!("a chunk without its CRLF"),
            None => return Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every prefix of `raw` shorter than `end` is an incomplete answer.
    fn incomplete_before(raw: &[u8], end: usize) {
        for cut in 1..end {
            assert!(parse(&raw[..cut]).unwrap().is_none(), "{cut}");
        }
    }

    #[test]
    fn answers_with_a_length() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"a\":true}\nextra";
        let (answer, keep_alive) = parse(raw).unwrap().unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body, b"{\"a\":true}\n");
        assert!(keep_alive);
        incomplete_before(raw, raw.len() - 5);
    }

    #[test]
    fn chunked_answers_and_close() {
        let raw = b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n4;x=y\r\nabcd\r\n3\r\nefg\r\n0\r\nTrailer: 1\r\n\r\n";
        let (answer, keep_alive) = parse(raw).unwrap().unwrap();
        assert_eq!(answer.status, 400);
        assert_eq!(answer.body, b"abcdefg");
        assert!(!keep_alive);
        incomplete_before(raw, raw.len());
    }

    #[test]
    fn malformed_answers_are_errors() {
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err());
        assert!(parse(b"garbage\r\n\r\n").is_err());
    }
}
