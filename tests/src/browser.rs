//! A small Chrome DevTools Protocol client that drives Debian's Chromium headless, with a
//! WebAuthn virtual authenticator, for the browser suite.
//!
//! Set `LATCHKEY_CHROMIUM` to use another binary. Without Chromium the suite fails with
//! an install hint, unless `LATCHKEY_SKIP_BROWSER=1` says explicitly to skip it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

/// Whether the browser suite was told explicitly to skip (`LATCHKEY_SKIP_BROWSER=1`).
pub fn skipped() -> bool {
    if std::env::var("LATCHKEY_SKIP_BROWSER").is_ok_and(|v| v == "1") {
        eprintln!("browser suite skipped: LATCHKEY_SKIP_BROWSER=1");
        return true;
    }
    false
}

fn chromium_binary() -> PathBuf {
    if let Ok(p) = std::env::var("LATCHKEY_CHROMIUM") {
        return PathBuf::from(p);
    }
    for candidate in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if std::path::Path::new(candidate).exists() {
            return PathBuf::from(candidate);
        }
    }
    panic!(
        "Chromium is needed for the browser suite and was not found. Install it with \
         `sudo apt-get install -y chromium chromium-driver` (or set LATCHKEY_CHROMIUM to its path). \
         To skip this suite explicitly, run the tests with LATCHKEY_SKIP_BROWSER=1."
    );
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

struct Connection {
    tx: mpsc::UnboundedSender<Message>,
    pending: Pending,
    events: Arc<Mutex<Vec<Value>>>,
    next: AtomicU64,
}

impl Connection {
    async fn open(url: &str) -> Arc<Connection> {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect to DevTools");
        let (mut sink, mut stream) = ws.split();
        let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
        tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                if sink.send(m).await.is_err() {
                    break;
                }
            }
        });
        let pending: Pending = Arc::default();
        let events: Arc<Mutex<Vec<Value>>> = Arc::default();
        let (p, e) = (pending.clone(), events.clone());
        tokio::spawn(async move {
            while let Some(Ok(msg)) = stream.next().await {
                let Message::Text(text) = msg else { continue };
                let Ok(v) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                if let Some(id) = v.get("id").and_then(Value::as_u64) {
                    if let Some(waiter) = p.lock().unwrap().remove(&id) {
                        let _ = waiter.send(v);
                    }
                } else {
                    e.lock().unwrap().push(v);
                }
            }
        });
        Arc::new(Connection {
            tx,
            pending,
            events,
            next: AtomicU64::new(1),
        })
    }

    async fn call(
        &self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, String> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = s.into();
        }
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap().insert(id, tx);
        self.tx
            .send(Message::Text(msg.to_string().into()))
            .map_err(|e| e.to_string())?;
        let v = tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .map_err(|_| format!("{method} timed out"))?
            .map_err(|e| e.to_string())?;
        match v.get("error") {
            Some(e) => Err(format!("{method}: {e}")),
            None => Ok(v["result"].clone()),
        }
    }
}

/// A headless Chromium with its own profile, killed (with its children) on drop.
pub struct Browser {
    child: Child,
    conn: Arc<Connection>,
    profile: PathBuf,
}

impl Browser {
    /// Launches Chromium. `map` sends `host:443` to `127.0.0.1:port`, so that pages and
    /// `/.well-known/webauthn` fetches of test host names reach local servers.
    pub async fn launch(map: &[(&str, u16)]) -> Browser {
        let profile = crate::harness::temp_dir("latchkey-chromium");
        let rules = map
            .iter()
            .map(|(host, port)| format!("MAP {host}:443 127.0.0.1:{port}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut cmd = Command::new(chromium_binary());
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--ignore-certificate-errors",
            "--remote-debugging-port=0",
            "--window-size=1280,900",
        ])
        .arg(format!("--user-data-dir={}", profile.display()));
        if !rules.is_empty() {
            cmd.arg(format!("--host-resolver-rules={rules}"));
        }
        cmd.arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| {
            panic!("cannot start Chromium: {e}; install it with `sudo apt-get install -y chromium`")
        });
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stderr);
            let mut line = String::new();
            let mut sent = false;
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                if !sent && let Some(i) = line.find("ws://") {
                    let _ = tx.send(line[i..].trim().to_owned());
                    sent = true;
                }
                line.clear();
            }
        });
        let ws = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("Chromium did not print its DevTools address");
        let conn = Connection::open(&ws).await;
        Browser {
            child,
            conn,
            profile,
        }
    }

    /// Opens a new tab with a virtual authenticator.
    pub async fn new_page(&self, authenticator: Authenticator) -> Page {
        self.new_page_with(authenticator, json!({})).await
    }

    /// Opens a new tab with a virtual authenticator whose CDP options are completed by
    /// `extra` (e.g. `{"hasPrf": true}`, `{"defaultBackupEligibility": true}`).
    pub async fn new_page_with(&self, authenticator: Authenticator, extra: Value) -> Page {
        let target = self
            .conn
            .call(None, "Target.createTarget", json!({"url": "about:blank"}))
            .await
            .unwrap();
        let target_id = target["targetId"].as_str().unwrap().to_owned();
        let attached = self
            .conn
            .call(
                None,
                "Target.attachToTarget",
                json!({"targetId": target_id, "flatten": true}),
            )
            .await
            .unwrap();
        let session = attached["sessionId"].as_str().unwrap().to_owned();
        let page = Page {
            conn: self.conn.clone(),
            session,
            authenticator_id: String::new(),
        };
        page.call("Page.enable", json!({})).await;
        page.call("Runtime.enable", json!({})).await;
        page.call("WebAuthn.enable", json!({"enableUI": false}))
            .await;
        let mut options = json!({
            "protocol": "ctap2",
            "ctap2Version": "ctap2_1",
            "transport": "internal",
            "hasResidentKey": true,
            "hasUserVerification": authenticator.user_verification,
            "isUserVerified": authenticator.user_verification,
            "automaticPresenceSimulation": true,
        });
        if let (Some(o), Some(e)) = (options.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        let added = page
            .call(
                "WebAuthn.addVirtualAuthenticator",
                json!({ "options": options }),
            )
            .await;
        Page {
            authenticator_id: added["authenticatorId"].as_str().unwrap().to_owned(),
            ..page
        }
    }
}

impl Browser {
    /// The profile directory, unique to this browser (its processes name it).
    pub fn profile(&self) -> &std::path::Path {
        &self.profile
    }
}

/// Whether any process still runs whose command line mentions `needle`.
pub fn process_running(needle: &str) -> bool {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .any(|cmd| String::from_utf8_lossy(&cmd).contains(needle))
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// What the virtual authenticator can do.
#[derive(Clone, Copy, Debug)]
pub struct Authenticator {
    /// Whether it performs user verification.
    pub user_verification: bool,
}

impl Default for Authenticator {
    fn default() -> Self {
        Self {
            user_verification: true,
        }
    }
}

/// One tab, attached with a flat session.
pub struct Page {
    conn: Arc<Connection>,
    session: String,
    /// The virtual authenticator of this tab.
    pub authenticator_id: String,
}

impl Page {
    /// Sends a command; panics on a protocol error.
    pub async fn call(&self, method: &str, params: Value) -> Value {
        self.conn
            .call(Some(&self.session), method, params)
            .await
            .unwrap()
    }

    /// Sends a command and returns the protocol error, if any.
    pub async fn try_call(&self, method: &str, params: Value) -> Result<Value, String> {
        self.conn.call(Some(&self.session), method, params).await
    }

    /// Navigates and waits until the document has loaded.
    pub async fn goto(&self, url: &str) {
        self.call("Page.navigate", json!({"url": url})).await;
        self.wait_for(
            &format!(
                "location.href.startsWith({}) && document.readyState === 'complete'",
                json!(url.split('?').next().unwrap_or(url))
            ),
            Duration::from_secs(15),
        )
        .await;
    }

    /// Evaluates an expression (awaiting promises) as if from a user gesture.
    pub async fn eval(&self, expression: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "awaitPromise": true, "returnByValue": true, "userGesture": true}),
            )
            .await;
        if let Some(e) = r.get("exceptionDetails") {
            return json!({"exception": e});
        }
        r["result"]["value"].clone()
    }

    /// Polls `expression` until it is truthy; panics with the page's state after `timeout`.
    pub async fn wait_for(&self, expression: &str, timeout: Duration) -> Value {
        let start = Instant::now();
        loop {
            let v = self
                .eval(&format!(
                    "(() => {{ try {{ return ({expression}); }} catch (e) {{ return false; }} }})()"
                ))
                .await;
            let truthy = match &v {
                Value::Null | Value::Bool(false) => false,
                Value::String(s) => !s.is_empty(),
                Value::Number(n) => n.as_f64() != Some(0.0),
                _ => true,
            };
            if truthy {
                return v;
            }
            if start.elapsed() > timeout {
                let state = self
                    .eval("JSON.stringify({url: location.href, state: document.body && document.body.dataset, text: document.body && document.body.innerText.slice(0, 600)})")
                    .await;
                panic!("timed out waiting for {expression}; page: {state}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks the element with `id`.
    pub async fn click(&self, id: &str) {
        let ok = self.eval(&format!("(() => {{ const e = document.getElementById({}); if (!e) return false; e.click(); return true; }})()", json!(id))).await;
        assert_eq!(ok, Value::Bool(true), "no element #{id}");
    }

    /// Sets the value of the input with `id`.
    pub async fn fill(&self, id: &str, value: &str) {
        let ok = self
            .eval(&format!("(() => {{ const e = document.getElementById({}); if (!e) return false; e.value = {}; return true; }})()", json!(id), json!(value)))
            .await;
        assert_eq!(ok, Value::Bool(true), "no input #{id}");
    }

    /// The credentials the virtual authenticator holds.
    pub async fn credentials(&self) -> Vec<Value> {
        let r = self
            .call(
                "WebAuthn.getCredentials",
                json!({"authenticatorId": self.authenticator_id}),
            )
            .await;
        r["credentials"].as_array().cloned().unwrap_or_default()
    }

    /// Writes a PNG screenshot at `width`×`height`, light or dark.
    pub async fn screenshot(&self, path: &std::path::Path, width: u32, height: u32, dark: bool) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600}),
        )
        .await;
        self.call(
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme", "value": if dark { "dark" } else { "light" }}]}),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(150)).await;
        let shot = self
            .call("Page.captureScreenshot", json!({"format": "png"}))
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }

    /// Events received so far whose method is `method`.
    pub fn events(&self, method: &str) -> Vec<Value> {
        self.conn
            .events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e["method"] == method)
            .cloned()
            .collect()
    }
}
