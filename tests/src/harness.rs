//! Starts the real `latchkey` binary on port 0 with its own temporary data directory and
//! drives it over HTTP, as a site and a browser would.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use latchkey_proto::{ErrorCode, Redemption};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::authenticator::{SoftAuthenticator, b64};

/// The bootstrap admin token every test broker gets.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef";

/// Path of the `latchkey` binary, built once per test process (incrementally, so it is
/// never stale).
pub fn binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| cargo_build(&["-p", "latchkey", "--bin", "latchkey"], "latchkey"))
        .clone()
}

/// Path of the SDK's demo site example, built once per test process.
pub fn demo_site_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        cargo_build(
            &[
                "-p",
                "latchkey-client",
                "--features",
                "actix",
                "--example",
                "demo_site",
            ],
            "examples/demo_site",
        )
    })
    .clone()
}

/// Runs `cargo build` with `args` in this test's profile; returns `target/<profile>/<artifact>`.
fn cargo_build(args: &[&str], artifact: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/<profile>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf();
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet"]).args(args);
    // The variables cargo sets for this test process would change the build's
    // fingerprint and force a rebuild on every run.
    for (key, _) in std::env::vars() {
        let per_crate = [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
            "CARGO_PRIMARY_PACKAGE",
            "CARGO_TARGET_TMPDIR",
            "CARGO_RUSTC_CURRENT_DIR",
        ];
        if per_crate.iter().any(|p| key.starts_with(p)) {
            cmd.env_remove(key);
        }
    }
    if release {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("run cargo build");
    assert!(status.success(), "cargo build {args:?} failed");
    profile_dir.join(artifact)
}

/// A fresh temporary directory under the system temp dir.
pub fn temp_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "{prefix}-{}-{}",
        std::process::id(),
        crate::authenticator::b64(&rand::random::<[u8; 8]>())
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running broker.
pub struct Broker {
    child: Option<Child>,
    /// The issuer (and WebAuthn origin), e.g. `http://localhost:PORT`.
    pub issuer: String,
    /// Where this instance answers: the issuer's scheme and host with the port bound.
    /// Equal to the issuer unless several instances share one issuer.
    pub base: String,
    /// The port bound.
    pub port: u16,
    /// The data directory (SQLite database, master key, logs).
    pub dir: PathBuf,
    env: Vec<(String, String)>,
}

impl Broker {
    /// Starts a broker with default test settings.
    pub fn start() -> Broker {
        Self::start_with(&[])
    }

    /// Starts a broker with extra `LATCHKEY_*` variables.
    pub fn start_with(env: &[(&str, &str)]) -> Broker {
        let dir = temp_dir("latchkey-test");
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Self::spawn(dir, env)
    }

    /// Starts a broker serving HTTPS directly as `https://{host}:PORT`, with a
    /// certificate made for `host`; clients resolve `host` to the loopback port.
    pub fn start_tls(host: &str, env: &[(&str, &str)]) -> Broker {
        let dir = temp_dir("latchkey-tls");
        let (cert, key) = crate::tls::self_signed(host);
        std::fs::write(dir.join("cert.pem"), cert).unwrap();
        std::fs::write(dir.join("key.pem"), key).unwrap();
        let mut all: Vec<(String, String)> = vec![
            (
                "LATCHKEY_TLS_CERT".into(),
                dir.join("cert.pem").display().to_string(),
            ),
            (
                "LATCHKEY_TLS_KEY".into(),
                dir.join("key.pem").display().to_string(),
            ),
            ("LATCHKEY_ISSUER".into(), format!("https://{host}:0")),
        ];
        all.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Self::spawn(dir, all)
    }

    fn host(&self) -> String {
        url::Url::parse(&self.issuer)
            .unwrap()
            .host_str()
            .unwrap()
            .to_owned()
    }

    fn spawn(dir: PathBuf, mut env: Vec<(String, String)>) -> Broker {
        if !env.iter().any(|(k, _)| k == "LATCHKEY_DATABASE_URL") {
            env.splice(0..0, database_env());
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("broker.log"))
            .unwrap();
        let mut cmd = Command::new(binary());
        cmd.arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("LATCHKEY_BIND", "127.0.0.1:0")
            .env("LATCHKEY_ISSUER", "http://localhost:0")
            .env("LATCHKEY_DATA_DIR", &dir)
            .env("LATCHKEY_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("LATCHKEY_LOG", "debug,sqlx=warn,sea_orm=warn,sea_orm_migration=warn,actix_server=warn,hyper=warn,reqwest=warn,rustls=warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .current_dir(&dir);
        for (k, v) in &env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn latchkey");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
            // Keep draining so the child never blocks on a full pipe.
            let mut sink = String::new();
            while reader.read_line(&mut sink).unwrap_or(0) > 0 {
                sink.clear();
            }
        });
        let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_default();
        let Some(issuer) = line.split(" issuer ").nth(1).map(|s| s.trim().to_owned()) else {
            let _ = child.kill();
            panic!(
                "broker did not start: {line:?}\n{}",
                std::fs::read_to_string(dir.join("broker.log")).unwrap_or_default()
            );
        };
        let port = line
            .split_whitespace()
            .find(|w| w.starts_with("127.0.0.1:"))
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .unwrap();
        let mut base = url::Url::parse(&issuer).unwrap();
        base.set_port(Some(port)).unwrap();
        let base = base.as_str().trim_end_matches('/').to_owned();
        Broker {
            child: Some(child),
            issuer,
            base,
            port,
            dir,
            env,
        }
    }

    /// Starts a second instance on the same database and data directory, under the same
    /// issuer, as behind a load balancer.
    pub fn sibling(&self) -> Broker {
        let mut env = self.env.clone();
        env.retain(|(k, _)| k != "LATCHKEY_ISSUER");
        env.push(("LATCHKEY_ISSUER".into(), self.issuer.clone()));
        Self::spawn(self.dir.clone(), env)
    }

    /// The settings this broker was started with (for the CLI on the same database).
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// Stops with SIGTERM and returns whether the process exited 0.
    pub fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        for _ in 0..200 {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        false
    }

    /// Stops and starts again on the same data directory and settings (a new port).
    pub fn restart(mut self) -> Broker {
        assert!(self.stop(), "broker did not stop cleanly");
        let dir = self.dir.clone();
        let env = std::mem::take(&mut self.env);
        Self::spawn(dir, env)
    }

    /// The process id of the running broker.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Everything the broker logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.join("broker.log")).unwrap_or_default()
    }

    /// A URL on the broker.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A browser-like client: cookie jar, no redirects followed.
    pub fn browser(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .resolve(&self.host(), ([127, 0, 0, 1], self.port).into())
            .tls_danger_accept_invalid_certs(true)
            .build()
            .unwrap()
    }

    /// A back-channel client: no cookies, no redirects.
    pub fn backend(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .resolve(&self.host(), ([127, 0, 0, 1], self.port).into())
            .tls_danger_accept_invalid_certs(true)
            .build()
            .unwrap()
    }

    /// The broker's `/metrics` (Prometheus text).
    pub async fn metrics(&self) -> String {
        self.backend()
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The value of one sample of `/metrics` (`name` or `name{labels}` as printed), or
    /// `None` when the broker does not print it.
    pub async fn metric(&self, sample: &str) -> Option<u64> {
        self.metrics().await.lines().find_map(|l| {
            l.strip_prefix(sample)
                .and_then(|v| v.strip_prefix(' '))
                .map(|v| v.trim().parse().unwrap())
        })
    }

    /// Calls the admin API with the bootstrap token.
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .backend()
            .request(method, self.url(&format!("/api/v1/admin{path}")))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status >= 400 {
            assert!(error_code(&value).is_some(), "{status}: {value}");
        }
        (status, value)
    }

    /// Creates a tenant through the admin API; panics unless it answers 201.
    pub async fn create_tenant(&self, body: Value) -> Value {
        let (status, t) = self
            .admin(reqwest::Method::POST, "/tenants", Some(body.clone()))
            .await;
        assert_eq!(status, 201, "create tenant {body}: {t}");
        t
    }

    /// Creates a public broker-mode tenant `client_id` redirecting to `https://site.example/cb`.
    pub async fn simple_tenant(&self, client_id: &str) -> Value {
        self.create_tenant(json!({"client_id": client_id, "name": "Test site", "redirect_uris": [REDIRECT], "rp_mode": "broker"})).await
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // A PostgreSQL run leaves no schema behind (best effort: needs `psql`).
        let var = |k: &str| {
            self.env
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        if let (Some(url), Some(schema)) = (
            var("LATCHKEY_DATABASE_URL"),
            var("LATCHKEY_DATABASE_SCHEMA"),
        ) {
            let _ = Command::new("psql")
                .args([
                    url.as_str(),
                    "-qc",
                    &format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// The redirect URI of [`Broker::simple_tenant`].
pub const REDIRECT: &str = "https://site.example/cb";

/// A PKCE pair (RFC 7636, S256).
#[derive(Clone, Debug)]
pub struct Pkce {
    /// The verifier the site keeps.
    pub verifier: String,
    /// BASE64URL(SHA-256(verifier)).
    pub challenge: String,
}

impl Pkce {
    /// A new random pair.
    pub fn new() -> Self {
        let verifier = b64(&rand::random::<[u8; 32]>());
        let challenge = b64(&Sha256::digest(verifier.as_bytes()));
        Self {
            verifier,
            challenge,
        }
    }
}

impl Default for Pkce {
    fn default() -> Self {
        Self::new()
    }
}

/// One browser going through one flow.
#[derive(Clone)]
pub struct Flow {
    /// The browser's client (with the flow cookie).
    pub browser: reqwest::Client,
    /// The flow id from the page's `<meta name="latchkey-flow">`.
    pub id: String,
    /// The PKCE pair of the site.
    pub pkce: Pkce,
    /// The state sent.
    pub state: String,
    /// The client id.
    pub client_id: String,
    /// The redirect URI.
    pub redirect_uri: String,
    /// The broker's issuer (and origin).
    pub issuer: String,
    /// Where the ceremony calls go (an instance's base URL).
    pub base: String,
}

/// Extracts the flow id from the hosted page.
pub fn flow_id_from_html(html: &str) -> Option<String> {
    let i = html.find("name=\"latchkey-flow\" content=\"")?;
    let rest = &html[i + "name=\"latchkey-flow\" content=\"".len()..];
    Some(rest[..rest.find('"')?].to_owned())
}

impl Flow {
    /// Opens a flow for `client_id` with `REDIRECT` and fresh PKCE, in a new browser.
    pub async fn open(broker: &Broker, client_id: &str) -> Flow {
        Self::open_with(broker, broker.browser(), client_id, REDIRECT, &[]).await
    }

    /// Opens a flow with extra query parameters, in the given browser.
    pub async fn open_with(
        broker: &Broker,
        browser: reqwest::Client,
        client_id: &str,
        redirect_uri: &str,
        extra: &[(&str, &str)],
    ) -> Flow {
        let pkce = Pkce::new();
        let state = b64(&rand::random::<[u8; 12]>());
        let mut q: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", redirect_uri),
            ("code_challenge", &pkce.challenge),
            ("code_challenge_method", "S256"),
            ("state", &state),
        ];
        q.extend_from_slice(extra);
        let res = browser
            .get(broker.url("/authorize"))
            .query(&q)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200, "authorize failed");
        let html = res.text().await.unwrap();
        let id = flow_id_from_html(&html).expect("flow id in page");
        Flow {
            browser,
            id,
            pkce,
            state,
            client_id: client_id.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            issuer: broker.issuer.clone(),
            base: broker.base.clone(),
        }
    }

    /// POSTs JSON to `/api/v1/flows/{id}/{path}` and returns status and body.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let res = self
            .browser
            .post(format!("{}/api/v1/flows/{}/{path}", self.base, self.id))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let value = res.json().await.unwrap_or(Value::Null);
        if status >= 400 {
            assert!(error_code(&value).is_some(), "{status}: {value}");
        }
        (status, value)
    }

    /// Registration options for a new account.
    pub async fn registration_options(&self, body: Value) -> Value {
        let (s, v) = self.post("registration/options", &body).await;
        assert_eq!(s, 200, "registration/options: {v}");
        v
    }

    /// Authentication options.
    pub async fn authentication_options(&self) -> Value {
        let (s, v) = self.post("authentication/options", &json!({})).await;
        assert_eq!(s, 200, "authentication/options: {v}");
        v
    }

    /// Creates a passkey with `auth` and returns the page's answer.
    pub async fn register(&self, auth: &mut SoftAuthenticator, body: Value) -> (u16, Value) {
        let options = self.registration_options(body).await;
        let credential = auth.register(&options, &self.issuer).unwrap();
        self.post("registration", &credential).await
    }

    /// Signs in with `auth` and returns the page's answer.
    pub async fn sign_in(&self, auth: &mut SoftAuthenticator) -> (u16, Value) {
        let options = self.authentication_options().await;
        let credential = auth.authenticate(&options, &self.issuer).unwrap();
        self.post("authentication", &credential).await
    }

    /// The code in a `redirect_to`, after checking state and iss (RFC 9207).
    pub fn code_from(&self, answer: &Value) -> String {
        let to = url::Url::parse(answer["redirect_to"].as_str().expect("redirect_to")).unwrap();
        assert!(
            to.as_str().starts_with(&self.redirect_uri),
            "{to} does not go to {}",
            self.redirect_uri
        );
        let q: std::collections::HashMap<String, String> = to.query_pairs().into_owned().collect();
        assert_eq!(q.get("state"), Some(&self.state));
        assert_eq!(q.get("iss"), Some(&self.issuer));
        q["code"].clone()
    }

    /// Redeems a code at `/oauth/token` (RFC 6749 form) with this flow's verifier.
    pub async fn token(&self, broker: &Broker, code: &str) -> (u16, Value) {
        let res = broker
            .backend()
            .post(broker.url("/oauth/token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("client_id", self.client_id.as_str()),
                ("code", code),
                ("redirect_uri", self.redirect_uri.as_str()),
                ("code_verifier", self.pkce.verifier.as_str()),
            ])
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Redeems a code at `/api/v1/sign-ins/redeem` with this flow's verifier.
    pub async fn redeem(&self, broker: &Broker, code: &str) -> (u16, Value) {
        redeem(broker, &json!({"client_id": self.client_id, "code": code, "code_verifier": self.pkce.verifier, "redirect_uri": self.redirect_uri})).await
    }
}

/// POSTs a redeem body and returns status and JSON. A `200` answer must be, byte for
/// byte, a [`Redemption`] of the shared wire types (no member more or less, in the same
/// order), and a refusal's `error` one of the contract's [`ErrorCode`]s.
pub async fn redeem(broker: &Broker, body: &Value) -> (u16, Value) {
    let res = broker
        .backend()
        .post(broker.url("/api/v1/sign-ins/redeem"))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    if status == 200 {
        let typed: Redemption = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("the redeem answer is not a Redemption: {e}: {text}"));
        assert_eq!(
            serde_json::to_string(&typed).unwrap(),
            text,
            "the redeem answer is not exactly a latchkey_proto::Redemption"
        );
    }
    let value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if status >= 400 {
        assert!(error_code(&value).is_some(), "{status}: {value}");
    }
    (status, value)
}

/// The `error` of a refusal as one of the contract's codes; `None` when the answer
/// carries none. A code outside the contract fails the test.
pub fn error_code(answer: &Value) -> Option<ErrorCode> {
    let code = answer.get("error")?;
    Some(
        serde_json::from_value(code.clone())
            .unwrap_or_else(|e| panic!("{code} is not an error code of the contract: {e}")),
    )
}

/// The backend the suites run on: `LATCHKEY_TEST_DATABASE=postgres` runs every broker of
/// the suite on PostgreSQL (`LATCHKEY_TEST_POSTGRES_URL`, default the local server's
/// `test` database), each in a schema of its own; otherwise each gets its own SQLite file.
pub fn database_env() -> Vec<(String, String)> {
    if std::env::var("LATCHKEY_TEST_DATABASE").as_deref() != Ok("postgres") {
        return Vec::new();
    }
    postgres_env()
}

/// Settings for a broker on PostgreSQL in a fresh schema: `LATCHKEY_DATABASE_URL` first.
/// Fails with how to start PostgreSQL when it cannot be reached.
pub fn postgres_env() -> Vec<(String, String)> {
    let url = std::env::var("LATCHKEY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let parsed = url::Url::parse(&url).expect("LATCHKEY_TEST_POSTGRES_URL is a URL");
    let addr = format!(
        "{}:{}",
        parsed.host_str().unwrap_or("127.0.0.1"),
        parsed.port().unwrap_or(5432)
    );
    let reachable = std::net::ToSocketAddrs::to_socket_addrs(&addr)
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok());
    assert!(
        reachable,
        "PostgreSQL is not reachable at {addr}. Start it (for example `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`) \
         or point LATCHKEY_TEST_POSTGRES_URL at one; to skip the PostgreSQL half explicitly, run ./scripts/test --skip-postgres."
    );
    let schema = format!("lk_{}", hex_id());
    vec![
        ("LATCHKEY_DATABASE_URL".into(), url),
        ("LATCHKEY_DATABASE_SCHEMA".into(), schema),
        (
            "LATCHKEY_MASTER_KEY".into(),
            "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff".into(),
        ),
    ]
}

fn hex_id() -> String {
    rand::random::<[u8; 8]>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Broker {
    /// The JWKS this instance serves.
    pub async fn jwks(&self) -> jsonwebtoken::jwk::JwkSet {
        self.backend()
            .get(self.url("/oauth/jwks"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Validates an id_token as any OpenID Connect library would: ES256 signature with the
    /// key of its `kid` in this instance's JWKS, `iss`, `aud`, `exp`. Returns the claims
    /// and the `kid`.
    pub async fn verify_id_token(&self, token: &str, client_id: &str) -> (Value, String) {
        use jsonwebtoken::{Algorithm, DecodingKey, Validation};
        let header = jsonwebtoken::decode_header(token).unwrap();
        assert_eq!(header.alg, Algorithm::ES256);
        let kid = header.kid.expect("kid in the header");
        let set = self.jwks().await;
        let jwk = set
            .find(&kid)
            .unwrap_or_else(|| panic!("kid {kid} in the JWKS of {}", self.base));
        let mut v = Validation::new(Algorithm::ES256);
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[client_id]);
        let claims = jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &v)
            .unwrap()
            .claims;
        (claims, kid)
    }
}

/// Sends `n` redeems of the same body at once, spread over `instances` in turn, and
/// returns their statuses.
pub async fn concurrent_redeems(instances: &[&Broker], body: &Value, n: usize) -> Vec<u16> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let target = instances[i % instances.len()];
            let (client, url, body) = (
                target.backend(),
                target.url("/api/v1/sign-ins/redeem"),
                body.clone(),
            );
            tokio::spawn(async move {
                client
                    .post(url)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::with_capacity(n);
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses
}

/// The SDK's demo site (`client-sdk/examples/demo_site.rs`) running against `broker` on a
/// port of its own, as tenant `client_id`; killed when dropped, passing test or failing.
pub struct DemoSite {
    child: Child,
    /// Where it answers: `http://localhost:PORT`.
    pub base: String,
}

impl DemoSite {
    /// Registers the tenant (redirect `{base}/callback`), starts the site and waits until
    /// it listens.
    pub async fn start(broker: &Broker, client_id: &str) -> DemoSite {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let base = format!("http://localhost:{port}");
        broker
            .create_tenant(json!({"client_id": client_id, "name": "Demo site", "redirect_uris": [format!("{base}/callback")], "rp_mode": "broker"}))
            .await;
        let child = Command::new(demo_site_binary())
            .env("DEMO_ISSUER", &broker.issuer)
            .env("DEMO_BIND", format!("127.0.0.1:{port}"))
            .env("DEMO_BASE", &base)
            .env("DEMO_CLIENT_ID", client_id)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let site = DemoSite { child, base };
        let start = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the demo site did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        site
    }
}

impl Drop for DemoSite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Broker {
    /// Kills the process with SIGKILL (no draining, no shutdown of the database pool),
    /// then starts it again on the same data directory and settings (a new port), as a
    /// crash and a supervisor's restart would.
    pub fn kill_and_restart(mut self) -> Broker {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let dir = self.dir.clone();
        let env = std::mem::take(&mut self.env);
        Self::spawn(dir, env)
    }
}
