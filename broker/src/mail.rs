//! Outgoing email over SMTP (`LATCHKEY_SMTP_URL`), for the one-time links of PROTOCOL E4.
//! Sending never blocks a ceremony: callers spawn it after their commit, and a send is
//! bounded by a timeout. Nothing here logs a recipient, a token or the SMTP password.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};

/// How long one message may take to be handed to the SMTP server, connection included.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(15);

/// The broker's SMTP client and sender.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").finish_non_exhaustive()
    }
}

/// Why a message was not sent; its text names no recipient and no secret.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MailError(String);

impl Mailer {
    /// A mailer for an SMTP URL in lettre's form and a sender mailbox.
    pub fn new(url: &str, from: &str) -> Result<Self, MailError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| MailError(format!("not an SMTP URL lettre understands: {e}")))?
            .timeout(Some(SEND_TIMEOUT))
            .build();
        let from = from
            .parse::<Mailbox>()
            .map_err(|e| MailError(format!("the sender is not a mailbox: {e}")))?;
        Ok(Self { transport, from })
    }

    /// The mailer of the broker's settings; `None` when SMTP is not configured.
    pub fn from_settings(settings: &crate::config::Settings) -> Result<Option<Self>, MailError> {
        match (&settings.smtp_url, &settings.smtp_from) {
            (Some(url), Some(from)) => Self::new(url.expose(), from).map(Some),
            _ => Ok(None),
        }
    }

    /// Sends a plain-text message to `to`, within [`SEND_TIMEOUT`].
    pub async fn send(&self, to: &str, subject: &str, body: String) -> Result<(), MailError> {
        let to = to
            .parse::<Mailbox>()
            .map_err(|_| MailError("the recipient's address is not usable".into()))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| MailError(format!("the message could not be built: {e}")))?;
        match tokio::time::timeout(SEND_TIMEOUT, self.transport.send(message)).await {
            Ok(Ok(_)) => Ok(()),
            // Only the kind of failure and the reply code: a server's reply text may
            // repeat the recipient's address.
            Ok(Err(e)) => Err(MailError(describe(&e))),
            Err(_) => Err(MailError("SMTP: timed out".into())),
        }
    }
}

fn describe(e: &lettre::transport::smtp::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_tls() {
        "TLS failed"
    } else if e.is_permanent() {
        "refused permanently"
    } else if e.is_transient() {
        "refused for now"
    } else if e.is_response() {
        "answered unexpectedly"
    } else if e.is_client() {
        "client error"
    } else {
        "connection failed"
    };
    match e.status() {
        Some(code) => format!("SMTP: {kind} ({code})"),
        None => format!("SMTP: {kind}"),
    }
}
