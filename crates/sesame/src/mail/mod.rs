//! Turning outbox messages into email: templates (built in, overridable from a folder) and the
//! three transports an operator can choose — `log` (the embedded default: the whole message, link
//! included, goes to the log), `smtp` (lettre over rustls, trusting the bundled web PKI roots and
//! optionally a CA file; STARTTLS or implicit TLS) and `file` (`.eml` files).
//!
//! The domain decides *what* to send and *when* (the outbox worker); this module only renders and
//! delivers one message at a time, classifying failures as transient or permanent.

pub mod templates;

use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sesame_domain::mail::{DeliveryError, MailTransport, QueuedMail};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use templates::{Rendered, Templates};

/// Which transport delivers mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TransportKind {
    Log,
    Smtp,
    File,
}

/// Renders `mail`; a template that cannot be filled is a permanent failure (the mail is marked
/// dead with the reason), never a message with a hole in it.
fn render(templates: &Templates, mail: &QueuedMail) -> Result<Rendered, DeliveryError> {
    templates
        .render(mail)
        .map_err(|e| DeliveryError::Permanent(format!("cannot render the message: {e}")))
}

/// Builds a MIME message (plain text + HTML alternative) from a rendered one.
fn message(from: &Mailbox, mail: &QueuedMail, r: &Rendered) -> Result<Message, DeliveryError> {
    let to: Mailbox = mail
        .to
        .parse()
        .map_err(|e| DeliveryError::Permanent(format!("invalid recipient address: {e}")))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(r.subject.clone())
        .message_id(Some(format!("<{}@sesame>", mail.id)))
        .multipart(MultiPart::alternative_plain_html(
            r.text.clone(),
            r.html.clone(),
        ))
        .map_err(|e| DeliveryError::Permanent(format!("cannot build the message: {e}")))
}

/// Writes the whole message to the log, for the embedded default.
pub struct LogTransport {
    templates: Arc<Templates>,
}

impl LogTransport {
    #[must_use]
    pub fn new(templates: Arc<Templates>) -> Self {
        Self { templates }
    }
}

#[async_trait]
impl MailTransport for LogTransport {
    async fn send(&self, mail: &QueuedMail) -> Result<(), DeliveryError> {
        let r = render(&self.templates, mail)?;
        tracing::info!(
            mail_id = %mail.id,
            to = %mail.to,
            kind = mail.kind.as_str(),
            subject = %r.subject,
            body = %r.text,
            "mail (log transport: configure SESAME_MAIL_TRANSPORT=smtp to send it)"
        );
        Ok(())
    }
}

/// Sends over SMTP with lettre.
pub struct SmtpTransport {
    templates: Arc<Templates>,
    from: Mailbox,
    inner: AsyncSmtpTransport<Tokio1Executor>,
}

/// Applies Sesame's URL conventions on top of lettre's: `smtp://` means STARTTLS required unless
/// `?tls=none` asks for plain text (a local relay); `smtps://` is implicit TLS.
fn lettre_url(url: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut params: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    let plain = params.contains(&"tls=none");
    params.retain(|p| *p != "tls=none");
    if base.starts_with("smtp://") && !plain && !params.iter().any(|p| p.starts_with("tls=")) {
        params.push("tls=required");
    }
    if params.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", params.join("&"))
    }
}

/// How the connection to the SMTP server is secured, as [`lettre_url`] settles it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SmtpSecurity {
    /// `smtps://`: TLS from the first byte (RFC 8314 section 3.3).
    ImplicitTls,
    /// `smtp://` (default): STARTTLS (RFC 3207), refusing to go on without it.
    StartTls,
    /// `smtp://…?tls=opportunistic`: STARTTLS when the server offers it.
    Opportunistic,
    /// `smtp://…?tls=none`.
    Plain,
}

impl SmtpSecurity {
    fn of(url: &str) -> Self {
        let lettre = lettre_url(url);
        if lettre.starts_with("smtps://") {
            Self::ImplicitTls
        } else if lettre.contains("tls=required") {
            Self::StartTls
        } else if lettre.contains("tls=opportunistic") {
            Self::Opportunistic
        } else {
            Self::Plain
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::ImplicitTls => "implicit TLS",
            Self::StartTls => "STARTTLS",
            Self::Opportunistic => "STARTTLS if offered",
            Self::Plain => "no TLS",
        }
    }
}

/// Where mail goes, for the startup log: `log`, `file DIR` or `smtp HOST:PORT (security)`.
/// Never the URL's user or password.
#[must_use]
pub fn describe(kind: TransportKind, smtp_url: Option<&str>, dir: &std::path::Path) -> String {
    match kind {
        TransportKind::Log => "log".to_owned(),
        TransportKind::File => format!("file {}", dir.display()),
        TransportKind::Smtp => {
            let Some(url) = smtp_url else {
                return "smtp".to_owned();
            };
            let Ok(parsed) = url::Url::parse(url) else {
                return "smtp (unparsable URL)".to_owned();
            };
            let security = SmtpSecurity::of(url);
            let port = parsed.port().unwrap_or(match security {
                SmtpSecurity::ImplicitTls => 465,
                SmtpSecurity::StartTls | SmtpSecurity::Opportunistic => 587,
                SmtpSecurity::Plain => 25,
            });
            format!(
                "smtp {}:{port} ({})",
                parsed.host_str().unwrap_or(""),
                security.as_str()
            )
        }
    }
}

impl SmtpTransport {
    /// `ca_file`: PEM certificates trusted in addition to the bundled web PKI roots (a private
    /// or self-signed mail server).
    ///
    /// # Errors
    /// A message naming what is wrong with the URL or the certificate file.
    pub fn new(
        url: &str,
        ca_file: Option<&std::path::Path>,
        from: Mailbox,
        timeout: Duration,
        templates: Arc<Templates>,
    ) -> Result<Self, String> {
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(&lettre_url(url))
            .map_err(|e| format!("SESAME_SMTP_URL is not a usable smtp:// or smtps:// URL: {e}"))?
            .timeout(Some(timeout));
        if let Some(path) = ca_file {
            builder = builder.tls(tls_with_ca(url, path)?);
        }
        let inner = builder.build();
        Ok(Self {
            templates,
            from,
            inner,
        })
    }
}

/// The TLS settings lettre derives from the URL, with the certificates in `path` trusted too.
fn tls_with_ca(url: &str, path: &std::path::Path) -> Result<Tls, String> {
    let pem = std::fs::read(path)
        .map_err(|e| format!("SESAME_SMTP_CA_FILE {} cannot be read: {e}", path.display()))?;
    let cert = Certificate::from_pem(&pem).map_err(|e| {
        format!(
            "SESAME_SMTP_CA_FILE {} holds no PEM certificate: {e}",
            path.display()
        )
    })?;
    let host = url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .ok_or("SESAME_SMTP_URL names no host")?;
    let params = TlsParameters::builder(host)
        .add_root_certificate(cert)
        .build()
        .map_err(|e| format!("SESAME_SMTP_CA_FILE {}: {e}", path.display()))?;
    Ok(match SmtpSecurity::of(url) {
        SmtpSecurity::ImplicitTls => Tls::Wrapper(params),
        SmtpSecurity::StartTls => Tls::Required(params),
        SmtpSecurity::Opportunistic => Tls::Opportunistic(params),
        SmtpSecurity::Plain => Tls::None,
    })
}

#[async_trait]
impl MailTransport for SmtpTransport {
    async fn send(&self, mail: &QueuedMail) -> Result<(), DeliveryError> {
        let msg = message(&self.from, mail, &render(&self.templates, mail)?)?;
        self.inner.send(msg).await.map(|_| ()).map_err(|e| {
            if e.is_permanent() {
                DeliveryError::Permanent(e.to_string())
            } else {
                DeliveryError::Transient(e.to_string())
            }
        })
    }
}

/// Writes each message as an `.eml` file into a folder.
pub struct FileTransport {
    templates: Arc<Templates>,
    from: Mailbox,
    inner: AsyncFileTransport<Tokio1Executor>,
}

impl FileTransport {
    /// # Errors
    /// A message when the folder cannot be created.
    pub fn new(dir: PathBuf, from: Mailbox, templates: Arc<Templates>) -> Result<Self, String> {
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("SESAME_MAIL_DIR {} cannot be created: {e}", dir.display()))?;
        Ok(Self {
            templates,
            from,
            inner: AsyncFileTransport::new(dir),
        })
    }
}

#[async_trait]
impl MailTransport for FileTransport {
    async fn send(&self, mail: &QueuedMail) -> Result<(), DeliveryError> {
        let msg = message(&self.from, mail, &render(&self.templates, mail)?)?;
        self.inner
            .send(msg)
            .await
            .map(|_| ())
            .map_err(|e| DeliveryError::Transient(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_default_to_required_starttls() {
        assert_eq!(
            lettre_url("smtp://u:p@mail:587"),
            "smtp://u:p@mail:587?tls=required"
        );
        assert_eq!(lettre_url("smtp://mail:25?tls=none"), "smtp://mail:25");
        assert_eq!(
            lettre_url("smtp://mail:25?tls=opportunistic"),
            "smtp://mail:25?tls=opportunistic"
        );
        assert_eq!(lettre_url("smtps://u:p@mail:465"), "smtps://u:p@mail:465");
    }

    #[test]
    fn a_described_transport_names_host_port_and_security_but_no_credentials() {
        let dir = std::path::Path::new("mail");
        let smtp = |url: &str| describe(TransportKind::Smtp, Some(url), dir);
        assert_eq!(
            smtp("smtp://user:hunter2@mail.example:2525"),
            "smtp mail.example:2525 (STARTTLS)"
        );
        assert_eq!(
            smtp("smtps://user:hunter2@mail.example"),
            "smtp mail.example:465 (implicit TLS)"
        );
        assert_eq!(smtp("smtp://relay?tls=none"), "smtp relay:25 (no TLS)");
        assert_eq!(describe(TransportKind::Log, None, dir), "log");
        assert_eq!(describe(TransportKind::File, None, dir), "file mail");
    }
}
