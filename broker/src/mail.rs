//! Outgoing email over SMTP (`LATCHKEY_SMTP_URL`), for the one-time links of PROTOCOL E4.
//! The settings hold the URL and the sender as plain values; this module builds the
//! transport from them (imports run one way: mail → config).
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
    /// The mailer of the broker's settings; `None` when SMTP is not configured. A URL or
    /// sender that lettre refuses is a bad setting, named as such.
    pub fn from_settings(
        smtp: Option<&crate::config::SmtpSettings>,
    ) -> Result<Option<Self>, crate::config::ConfigError> {
        let Some(smtp) = smtp else {
            return Ok(None);
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp.url.expose())
            .map_err(|e| crate::config::ConfigError {
                name: "LATCHKEY_SMTP_URL".into(),
                message: format!(
                    "{:?}: not an SMTP URL lettre understands: {e}",
                    crate::config::redact_url(smtp.url.expose())
                ),
            })?
            .timeout(Some(SEND_TIMEOUT))
            .build();
        let from = smtp
            .from
            .parse::<Mailbox>()
            .map_err(|e| crate::config::ConfigError {
                name: "LATCHKEY_SMTP_FROM".into(),
                message: format!("{:?} is not a mailbox: {e}", smtp.from),
            })?;
        Ok(Some(Self { transport, from }))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SmtpSettings;
    use crate::util::Secret;

    fn smtp(url: &str, from: &str) -> SmtpSettings {
        SmtpSettings {
            url: Secret::new(url),
            from: from.into(),
        }
    }

    #[test]
    fn a_url_or_sender_lettre_refuses_is_a_bad_setting_named_as_such() {
        assert!(Mailer::from_settings(None).unwrap().is_none());
        let ok = smtp(
            "smtps://user:hunter2@mail.example.com",
            "Latchkey <a@example.com>",
        );
        assert!(Mailer::from_settings(Some(&ok)).unwrap().is_some());
        let e = Mailer::from_settings(Some(&smtp(
            "smtp://user:hunter2@127.0.0.1:2525?tls=sometimes",
            "a@example.com",
        )))
        .unwrap_err();
        assert_eq!(e.name, "LATCHKEY_SMTP_URL");
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = Mailer::from_settings(Some(&smtp("smtp://127.0.0.1:2525", "a@@example.com")))
            .unwrap_err();
        assert_eq!(e.name, "LATCHKEY_SMTP_FROM");
    }
}
