//! An SMTP sink on loopback: a real SMTP server (plain text, no TLS, no
//! authentication) that accepts every message and keeps it in memory, so
//! tests see exactly what Portcullis sent through its real SMTP client.
//!
//! Why not a crate: the maintained embeddable servers (`mailin-embedded`)
//! run on threads of their own with no way to stop them, and tests need to
//! start a server late (a mail server that is down at first) and drop it
//! with the test. The subset spoken here is the one RFC 5321 requires of a
//! receiver for lettre's client: `EHLO`/`HELO`, `MAIL`, `RCPT`, `DATA` (with
//! dot-unstuffing), `RSET`, `NOOP`, `QUIT`; anything else is answered 502.
//! Received messages are parsed with `mail-parser`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// Largest message accepted.
const MAX_MESSAGE: usize = 10 * 1024 * 1024;

/// One message the sink received.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// Envelope sender (`MAIL FROM`).
    pub envelope_from: String,
    /// Envelope recipients (`RCPT TO`).
    pub envelope_to: Vec<String>,
    /// The message as transferred (after dot-unstuffing).
    pub raw: Vec<u8>,
    /// `Subject`, decoded.
    pub subject: String,
    /// `From` header address.
    pub from: String,
    /// `To` header address.
    pub to: String,
    /// The text/plain part, decoded.
    pub text: String,
    /// The text/html part, decoded.
    pub html: String,
}

impl ReceivedMail {
    fn parse(envelope_from: String, envelope_to: Vec<String>, raw: Vec<u8>) -> Self {
        let parsed = mail_parser::MessageParser::default().parse(&raw);
        let first_address = |a: Option<&mail_parser::Address<'_>>| {
            a.and_then(|a| a.first())
                .and_then(|a| a.address())
                .unwrap_or_default()
                .to_owned()
        };
        let (subject, from, to, text, html) = match &parsed {
            Some(m) => (
                m.subject().unwrap_or_default().to_owned(),
                first_address(m.from()),
                first_address(m.to()),
                m.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
                m.body_html(0).map(|t| t.into_owned()).unwrap_or_default(),
            ),
            None => Default::default(),
        };
        Self {
            envelope_from,
            envelope_to,
            raw,
            subject,
            from,
            to,
            text,
            html,
        }
    }

    /// The first `http(s)://` URL in the text part.
    pub fn link(&self) -> Option<String> {
        let start = self
            .text
            .find("https://")
            .or_else(|| self.text.find("http://"))?;
        let rest = self.text.get(start..)?;
        let end = rest
            .find(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '>')
            .unwrap_or(rest.len());
        rest.get(..end).map(str::to_owned)
    }

    /// The `token` query parameter of [`link`](Self::link).
    pub fn token(&self) -> Option<String> {
        let link = self.link()?;
        let url = url::Url::parse(&link).ok()?;
        url.query_pairs()
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned())
    }
}

#[derive(Default)]
struct Inbox {
    mails: Mutex<Vec<ReceivedMail>>,
    arrived: Notify,
}

/// A running SMTP sink. Dropping it stops the server.
pub struct SmtpSink {
    addr: SocketAddr,
    inbox: Arc<Inbox>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for SmtpSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSink")
            .field("addr", &self.addr)
            .finish()
    }
}

impl SmtpSink {
    /// Starts a sink on a free loopback port.
    pub async fn start() -> SmtpSink {
        Self::start_on("127.0.0.1:0".parse().expect("address"))
            .await
            .expect("bind an SMTP sink")
    }

    /// Starts a sink on a given address (to bring up a server that was down).
    pub async fn start_on(addr: SocketAddr) -> std::io::Result<SmtpSink> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let inbox = Arc::new(Inbox::default());
        let task = tokio::spawn(serve(listener, inbox.clone()));
        Ok(SmtpSink { addr, inbox, task })
    }

    /// A free loopback address with nothing listening on it (yet): a mail
    /// server that is down.
    pub async fn unused_address() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        l.local_addr().expect("addr")
    }

    /// `smtp://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.inbox.mails.lock().expect("inbox").clone()
    }

    /// Messages received so far for one recipient.
    pub fn messages_to(&self, to: &str) -> Vec<ReceivedMail> {
        self.messages()
            .into_iter()
            .filter(|m| m.envelope_to.iter().any(|t| t.eq_ignore_ascii_case(to)))
            .collect()
    }

    /// Waits (up to 10 s) until `count` messages for `to` have arrived and
    /// returns the last of them; panics on time-out.
    pub async fn wait_for(&self, to: &str, count: usize) -> ReceivedMail {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let arrived = self.inbox.arrived.notified();
            let mails = self.messages_to(to);
            if mails.len() >= count {
                return mails.into_iter().nth(count - 1).expect("message");
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                #[allow(clippy::panic)]
                {
                    panic!(
                        "timed out waiting for message {count} to {to}; received: {:?}",
                        self.messages()
                            .iter()
                            .map(|m| (m.envelope_to.clone(), m.subject.clone()))
                            .collect::<Vec<_>>()
                    );
                }
            }
        }
    }
}

async fn serve(listener: TcpListener, inbox: Arc<Inbox>) {
    while let Ok((stream, _)) = listener.accept().await {
        let inbox = inbox.clone();
        tokio::spawn(async move {
            let _ = session(stream, inbox).await;
        });
    }
}

/// Strips `FROM:` / `TO:` and the angle brackets of a path argument.
fn path_arg(line: &str, prefix: &str) -> Option<String> {
    let rest = line.get(prefix.len()..)?.trim();
    let path = rest.split_whitespace().next().unwrap_or("");
    Some(
        path.trim_start_matches('<')
            .trim_end_matches('>')
            .to_owned(),
    )
}

async fn session(stream: TcpStream, inbox: Arc<Inbox>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write
        .write_all(b"220 portcullis-testkit SMTP sink ready\r\n")
        .await?;
    let mut from = String::new();
    let mut to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end_matches(['\r', '\n']);
        let upper = cmd.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-portcullis-testkit\r\n250-8BITMIME\r\n250 SIZE 10485760\r\n"
        } else if upper.starts_with("HELO") {
            b"250 portcullis-testkit\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            from = path_arg(cmd, "MAIL FROM:").unwrap_or_default();
            to.clear();
            b"250 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            to.push(path_arg(cmd, "RCPT TO:").unwrap_or_default());
            b"250 OK\r\n"
        } else if upper == "DATA" {
            if to.is_empty() {
                b"503 need RCPT first\r\n"
            } else {
                write
                    .write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let mut raw = Vec::new();
                loop {
                    let mut data = String::new();
                    if lines.read_line(&mut data).await? == 0 {
                        return Ok(());
                    }
                    if data == ".\r\n" || data == ".\n" {
                        break;
                    }
                    let data = data.strip_prefix('.').unwrap_or(&data);
                    raw.extend_from_slice(data.as_bytes());
                    if raw.len() > MAX_MESSAGE {
                        write.write_all(b"552 message too large\r\n").await?;
                        return Ok(());
                    }
                }
                let mail = ReceivedMail::parse(from.clone(), std::mem::take(&mut to), raw);
                inbox.mails.lock().expect("inbox").push(mail);
                inbox.arrived.notify_waiters();
                b"250 OK queued\r\n"
            }
        } else if upper == "RSET" {
            from.clear();
            to.clear();
            b"250 OK\r\n"
        } else if upper == "NOOP" {
            b"250 OK\r\n"
        } else if upper == "QUIT" {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            b"502 command not implemented\r\n"
        };
        write.write_all(reply).await?;
    }
}
