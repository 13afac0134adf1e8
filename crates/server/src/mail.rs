//! The mail adapters core talks to: SMTP delivery with lettre (rustls, no
//! OpenSSL) and MX look-ups with hickory's resolver; and the delivery worker
//! that drains the outbox.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hickory_resolver::TokioResolver;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use portcullis_core::Portcullis;
use portcullis_core::mail::{MxAnswer, OutgoingMail, SendError};
use portcullis_core::ports::{Mailer, MxResolver};

use crate::config::SmtpUrl;

/// How long one SMTP command may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an MX look-up may take before it counts as no answer.
const DNS_TIMEOUT: Duration = Duration::from_secs(5);

/// Sends mail through an SMTP server.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The transport holds the credentials.
        f.debug_struct("SmtpMailer")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// A mailer for `smtp://`, `smtps://` URLs as lettre reads them
    /// (`smtp://user:pass@host:587?tls=required`), sending from `from`.
    pub fn new(url: &SmtpUrl, from: &str) -> anyhow::Result<Self> {
        let from: Mailbox = from
            .parse()
            .map_err(|_| anyhow::anyhow!("PORTCULLIS_SMTP_FROM is not a mail address"))?;
        // lettre's own error text may quote the URL: say which setting failed instead.
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
            .map_err(|_| anyhow::anyhow!("PORTCULLIS_SMTP_URL is not a valid SMTP URL ({url})"))?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        Ok(Self { transport, from })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), SendError> {
        let to: Mailbox = mail.to.parse().map_err(|_| SendError {
            message: "the recipient is not a valid address".to_owned(),
            permanent: true,
        })?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.content.subject.clone())
            .multipart(MultiPart::alternative_plain_html(
                mail.content.text.clone(),
                mail.content.html.clone(),
            ))
            .map_err(|e| SendError {
                message: format!("cannot build the message: {e}"),
                permanent: true,
            })?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) => Err(SendError {
                // lettre's errors name the failing step and the server's
                // reply, never the credentials.
                message: e.to_string(),
                permanent: e.is_permanent(),
            }),
        }
    }
}

/// MX look-ups through the system's resolver configuration.
pub struct DnsMxResolver {
    resolver: TokioResolver,
}

impl std::fmt::Debug for DnsMxResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DnsMxResolver")
    }
}

impl DnsMxResolver {
    /// A resolver from `/etc/resolv.conf` (or the platform's equivalent).
    pub fn from_system() -> anyhow::Result<Self> {
        Self::with_server(None)
    }

    /// A resolver asking `server`, or the system's when `None`.
    pub fn with_server(server: Option<std::net::SocketAddr>) -> anyhow::Result<Self> {
        let resolver: TokioResolver = crate::dns::resolver(server)?;
        Ok(Self { resolver })
    }
}

#[async_trait]
impl MxResolver for DnsMxResolver {
    /// `Accepts` when the domain has an MX record other than a null MX
    /// (RFC 7505); `NoMail` on NXDOMAIN, no MX record, or only a null MX;
    /// `Unknown` on a timeout or any other failure.
    async fn mail_domain(&self, domain: &str) -> MxAnswer {
        let fqdn = format!("{}.", domain.trim_end_matches('.'));
        let lookup = tokio::time::timeout(DNS_TIMEOUT, self.resolver.mx_lookup(fqdn)).await;
        match lookup {
            Err(_) => MxAnswer::Unknown,
            Ok(Ok(mx)) => {
                let real = mx.iter().any(|r| !r.exchange().is_root());
                if real {
                    MxAnswer::Accepts
                } else {
                    MxAnswer::NoMail
                }
            }
            Ok(Err(e)) if e.is_nx_domain() || e.is_no_records_found() => MxAnswer::NoMail,
            Ok(Err(e)) => {
                tracing::debug!(domain, error = %e, "MX look-up failed");
                MxAnswer::Unknown
            }
        }
    }
}

/// Runs the delivery worker: a pass at start, then one whenever a message
/// is queued on this instance or `poll` has passed (messages queued by other
/// instances, retries falling due). Errors are logged; the worker goes on.
pub fn spawn_mail_worker(core: Portcullis, poll: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mail = core.mail();
        loop {
            match mail.deliver_due().await {
                // A full batch: more may be due at once.
                Ok(report) if report.claimed >= 20 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "mail delivery pass failed"),
            }
            tokio::select! {
                () = mail.queued() => {}
                () = portcullis_core::clock::wait(poll) => {}
            }
        }
    })
}

/// The adapters for a configuration: an SMTP mailer when a URL is set (with
/// a warning, once, when none is: mail then stays queued), the system's
/// DNS resolver for MX checks, and the SMS webhook when one is configured.
pub fn adapters(
    mail: &crate::config::MailConfig,
    sms: Option<&crate::config::SmsConfig>,
    clock: portcullis_core::SharedClock,
) -> anyhow::Result<portcullis_core::mail::Adapters> {
    let mailer: Option<Arc<dyn Mailer>> = match &mail.smtp_url {
        Some(url) => Some(Arc::new(SmtpMailer::new(url, &mail.from)?)),
        None => {
            tracing::warn!(
                "no SMTP server configured (PORTCULLIS_SMTP_URL): mail is queued but not sent"
            );
            None
        }
    };
    let dns: Option<Arc<dyn portcullis_core::ports::TxtResolver>> =
        match crate::dns::DnsTxtResolver::new(mail.dns_resolver) {
            Ok(r) => Some(Arc::new(r)),
            Err(e) => {
                tracing::warn!(error = %e, "domain verification by DNS is off: no DNS resolver");
                None
            }
        };
    let mx: Option<Arc<dyn MxResolver>> = match DnsMxResolver::with_server(mail.dns_resolver) {
        Ok(r) => Some(Arc::new(r)),
        Err(e) => {
            tracing::warn!(error = %e, "MX checks are off: no DNS resolver");
            None
        }
    };
    let sms: Option<Arc<dyn portcullis_core::ports::SmsSender>> = match sms {
        Some(config) => Some(Arc::new(crate::sms::WebhookSmsSender::new(config, clock)?)),
        None => None,
    };
    Ok(portcullis_core::mail::Adapters {
        mailer,
        mx,
        sms,
        edge: None,
        dns,
    })
}
