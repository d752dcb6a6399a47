//! A small real SMTP server for the suites: it listens on 127.0.0.1 (port 0), speaks
//! enough ESMTP for lettre (EHLO/HELO, MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP,
//! QUIT), and keeps every message it accepts. One sink per test, so tests run in parallel.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// One message as received.
#[derive(Debug, Clone)]
pub struct Mail {
    /// `MAIL FROM` address.
    pub from: String,
    /// `RCPT TO` addresses.
    pub to: Vec<String>,
    /// The message (headers and body) after dot-unstuffing, lines joined by CRLF.
    pub data: String,
}

impl Mail {
    /// A header's value (unfolded), by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or_default();
        let mut out: Option<String> = None;
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if let Some(v) = out.as_mut() {
                    v.push(' ');
                    v.push_str(line.trim());
                }
                continue;
            }
            if out.is_some() {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case(name)
            {
                out = Some(v.trim().to_owned());
            }
        }
        out
    }

    /// The body, decoded from its transfer encoding (7bit, quoted-printable or base64).
    pub fn body(&self) -> String {
        let raw = self
            .data
            .split_once("\r\n\r\n")
            .map(|(_, b)| b)
            .unwrap_or_default();
        match self
            .header("Content-Transfer-Encoding")
            .map(|e| e.to_ascii_lowercase())
            .as_deref()
        {
            Some("quoted-printable") => decode_quoted_printable(raw),
            Some("base64") => {
                use base64::Engine as _;
                let compact: String = raw.split_whitespace().collect();
                String::from_utf8_lossy(
                    &base64::engine::general_purpose::STANDARD
                        .decode(compact)
                        .unwrap_or_default(),
                )
                .into_owned()
            }
            _ => raw.to_owned(),
        }
    }

    /// The first link in the body that starts with `prefix`.
    pub fn link(&self, prefix: &str) -> Option<String> {
        let body = self.body();
        let i = body.find(prefix)?;
        let rest = &body[i..];
        let end = rest
            .find(|c: char| c.is_whitespace() || c == '>' || c == '"')
            .unwrap_or(rest.len());
        Some(rest[..end].to_owned())
    }
}

/// Decodes quoted-printable (RFC 2045 §6.7): soft line breaks and `=XX` escapes.
pub fn decode_quoted_printable(s: &str) -> String {
    let joined = s.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(
                std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                16,
            )
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A running sink. Dropping it stops accepting connections.
pub struct SmtpSink {
    /// The port it listens on.
    pub port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
    task: tokio::task::JoinHandle<()>,
}

impl SmtpSink {
    /// Starts a sink on 127.0.0.1, port 0.
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let store = mails.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let store = store.clone();
                tokio::spawn(async move {
                    let _ = session(stream, store).await;
                });
            }
        });
        SmtpSink { port, mails, task }
    }

    /// `LATCHKEY_SMTP_URL` for a broker that sends here.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far.
    pub fn all(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }

    /// Messages received so far for `to`.
    pub fn to(&self, to: &str) -> Vec<Mail> {
        self.all()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(to)))
            .collect()
    }

    /// Waits for message number `n` (0-based) to `to`; panics after `timeout`.
    pub async fn nth_to(&self, to: &str, n: usize, timeout: Duration) -> Mail {
        let start = Instant::now();
        loop {
            if let Some(m) = self.to(to).into_iter().nth(n) {
                return m;
            }
            assert!(
                start.elapsed() < timeout,
                "no message #{n} to {to} within {timeout:?}; received {:?}",
                self.all().iter().map(|m| &m.to).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the next message to `to` after the `seen` already received, and returns
    /// its first link starting with `prefix`.
    pub async fn next_link(&self, to: &str, seen: usize, prefix: &str) -> String {
        let m = self.nth_to(to, seen, Duration::from_secs(20)).await;
        m.link(prefix)
            .unwrap_or_else(|| panic!("no link {prefix} in {}", m.body()))
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn session(stream: TcpStream, store: Arc<Mutex<Vec<Mail>>>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink.test ESMTP ready\r\n").await?;
    let mut from = String::new();
    let mut to: Vec<String> = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_owned();
        let upper = cmd.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-sink.test\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 PIPELINING\r\n"
        } else if upper.starts_with("HELO") {
            b"250 sink.test\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            from = address(&cmd["MAIL FROM:".len()..]);
            to.clear();
            b"250 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            to.push(address(&cmd["RCPT TO:".len()..]));
            b"250 OK\r\n"
        } else if upper == "DATA" {
            write
                .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                .await?;
            let mut data: Vec<String> = Vec::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                let l = line.trim_end_matches(['\r', '\n']);
                if l == "." {
                    break;
                }
                // RFC 5321 §4.5.2: a leading dot was doubled by the client.
                data.push(l.strip_prefix('.').unwrap_or(l).to_owned());
            }
            store.lock().unwrap().push(Mail {
                from: from.clone(),
                to: std::mem::take(&mut to),
                data: data.join("\r\n"),
            });
            b"250 OK queued\r\n"
        } else if upper == "RSET" {
            from.clear();
            to.clear();
            b"250 OK\r\n"
        } else if upper == "NOOP" {
            b"250 OK\r\n"
        } else if upper == "QUIT" {
            write.write_all(b"221 Bye\r\n").await?;
            return Ok(());
        } else {
            b"502 Command not implemented\r\n"
        };
        write.write_all(reply).await?;
    }
}

/// The address of `<addr> PARAMS`.
fn address(s: &str) -> String {
    let s = s.trim();
    match (s.find('<'), s.find('>')) {
        (Some(a), Some(b)) if a < b => s[a + 1..b].to_owned(),
        _ => s.split_whitespace().next().unwrap_or_default().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_printable_decodes_soft_breaks_and_escapes() {
        assert_eq!(
            decode_quoted_printable("http://x/verify?token=3Dab=\r\ncd done"),
            "http://x/verify?token=abcd done"
        );
    }
}
