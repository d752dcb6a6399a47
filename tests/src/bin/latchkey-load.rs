//! `latchkey-load`: a load generator for any implementation of the Latchkey wire contract
//! (PROTOCOL.md). It speaks only the contract: it creates a tenant through the admin API,
//! registers software-authenticator passkeys through the hosted-page ceremony API, then
//! runs whole sign-ins (`GET /authorize` → authentication options → assertion → redeem)
//! in a closed loop at a concurrency, or at a fixed arrival rate. It reports flows per
//! second, per-step and whole-flow latency percentiles, errors by code, and the server's
//! memory and CPU read from `/proc` when given its pid; as a table and as JSON.
//!
//! It only ever sends traffic to loopback addresses, and stops by itself after its
//! duration or count.
//!
//! ```text
//! latchkey-load --base-url http://127.0.0.1:8080 --admin-token TOKEN \
//!     [--users N] [--concurrency C | --rate R] [--duration 20s | --count N] \
//!     [--pid PID] [--json FILE]
//! ```

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use hdrhistogram::Histogram;
use latchkey_tests::authenticator::{SoftAuthenticator, b64};
use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// The redirect URI of the load tenant; never followed.
const REDIRECT: &str = "http://localhost/latchkey-load/callback";
/// Most flows in flight at once in fixed-rate mode; arrivals beyond it are counted as
/// `generator overloaded` errors rather than queued without bound.
const MAX_IN_FLIGHT: u64 = 4096;
/// The steps of one sign-in, in order.
const STEPS: [&str; 4] = ["authorize", "options", "assertion", "redeem"];

type Res<T> = Result<T, String>;

/// Command line.
#[derive(Debug, Parser)]
#[command(
    name = "latchkey-load",
    version,
    about = "Load generator for the Latchkey wire contract: whole passkey sign-ins, loopback only"
)]
struct Args {
    /// Base URL of the broker, on a loopback address (e.g. http://127.0.0.1:8080).
    #[arg(long)]
    base_url: String,
    /// Admin API token (the broker's LATCHKEY_ADMIN_TOKEN), used to create the load tenant.
    #[arg(long)]
    admin_token: String,
    /// Passkeys (one per user) to register before the run; sign-ins pick them at random.
    #[arg(long, default_value_t = 100)]
    users: usize,
    /// Closed loop: this many sign-ins in flight at all times (default 32). A sign-in
    /// refused with `Retry-After` waits that long before the next one.
    #[arg(long, conflicts_with = "rate")]
    concurrency: Option<usize>,
    /// Open loop: start this many sign-ins per second, whatever their latency.
    #[arg(long)]
    rate: Option<f64>,
    /// How long to run, e.g. 20s, 500ms, 2m (default 20s).
    #[arg(long, value_parser = parse_duration, conflicts_with = "count")]
    duration: Option<Duration>,
    /// Run exactly this many sign-ins instead of a duration.
    #[arg(long)]
    count: Option<u64>,
    /// The broker's process id: sample its RSS and CPU from /proc.
    #[arg(long)]
    pid: Option<u32>,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// `20s`, `500ms`, `2m`, or plain seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map_or((s, "s"), |i| (&s[..i], &s[i..]));
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration such as 20s, 500ms or 2m"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("{s:?}: the unit must be ms, s or m")),
    };
    if !(secs > 0.0 && secs <= 3600.0) {
        return Err(format!("{s:?} must be more than 0 and at most 1 hour"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Refuses anything but a loopback target: a literal loopback address, or `localhost`
/// (and names under it), which is then pinned to 127.0.0.1 rather than resolved.
fn loopback_target(base: &str) -> Res<(url::Url, Option<(String, SocketAddr)>)> {
    let url = url::Url::parse(base).map_err(|e| format!("--base-url {base:?}: {e}"))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(format!("--base-url {base:?} must be http:// or https://"));
    }
    let port = url
        .port_or_known_default()
        .ok_or_else(|| format!("--base-url {base:?} has no port"))?;
    match url.host() {
        Some(url::Host::Ipv4(ip)) if ip.is_loopback() => Ok((url, None)),
        Some(url::Host::Ipv6(ip)) if ip.is_loopback() => Ok((url, None)),
        Some(url::Host::Domain(d))
            if d.eq_ignore_ascii_case("localhost")
                || d.to_ascii_lowercase().ends_with(".localhost") =>
        {
            let pin = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
            Ok((url.clone(), Some((d.to_owned(), pin))))
        }
        _ => Err(format!(
            "refusing {base:?}: latchkey-load only targets loopback addresses (127.0.0.0/8, ::1, localhost)"
        )),
    }
}

/// One failed step, keyed for the report as `step status error`, with the server's
/// `Retry-After` when it sent one.
#[derive(Debug)]
struct Failure {
    code: String,
    retry_after: Option<Duration>,
}

impl Failure {
    fn http(step: &str, status: u16, retry_after: Option<Duration>, body: &str) -> Self {
        let code = serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_default();
        Self {
            code: format!("{step} {status} {code}").trim_end().to_owned(),
            retry_after,
        }
    }
    fn other(step: &str, what: &str) -> Self {
        Self {
            code: format!("{step} {what}"),
            retry_after: None,
        }
    }
}

/// The `Retry-After` of an answer, in seconds (capped at a minute).
fn retry_after(res: &reqwest::Response) -> Option<Duration> {
    res.headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s.min(60)))
}

/// Shared by every task of the run.
struct Ctx {
    client: reqwest::Client,
    base: String,
    issuer: String,
    client_id: String,
}

/// One registered user: the authenticator holding its passkey, and its credential id.
struct User {
    auth: Mutex<SoftAuthenticator>,
    credential_id: String,
}

/// The flow cookie set by `/authorize`, as `name=value`.
fn flow_cookie(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("latchkey_flow=") || v.starts_with("__Host-latchkey_flow="))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

fn flow_id_from_html(html: &str) -> Option<String> {
    let marker = "name=\"latchkey-flow\" content=\"";
    let rest = &html[html.find(marker)? + marker.len()..];
    Some(rest[..rest.find('"')?].to_owned())
}

/// `GET /authorize`: the flow id and its cookie.
async fn authorize(
    ctx: &Ctx,
    challenge: &str,
    state: &str,
    prompt: &str,
) -> Result<(String, String), Failure> {
    let res = ctx
        .client
        .get(format!("{}/authorize", ctx.base))
        .query(&[
            ("response_type", "code"),
            ("client_id", &ctx.client_id),
            ("redirect_uri", REDIRECT),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
            ("state", state),
            ("prompt", prompt),
        ])
        .send()
        .await
        .map_err(|e| Failure::other("authorize", &transport(&e)))?;
    let status = res.status().as_u16();
    let pause = retry_after(&res);
    let cookie = flow_cookie(&res);
    let body = res
        .text()
        .await
        .map_err(|e| Failure::other("authorize", &transport(&e)))?;
    if status != 200 {
        return Err(Failure::http("authorize", status, pause, &body));
    }
    let id = flow_id_from_html(&body)
        .ok_or_else(|| Failure::other("authorize", "no flow id in page"))?;
    let cookie = cookie.ok_or_else(|| Failure::other("authorize", "no flow cookie"))?;
    Ok((id, cookie))
}

fn transport(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connect error".into()
    } else {
        "transport error".into()
    }
}

/// POSTs JSON and returns the JSON answer of a 200.
async fn post(
    ctx: &Ctx,
    step: &str,
    url: String,
    cookie: Option<&str>,
    body: &Value,
) -> Result<Value, Failure> {
    let mut req = ctx.client.post(url).json(body);
    if let Some(c) = cookie {
        req = req.header(COOKIE, c);
    }
    let res = req
        .send()
        .await
        .map_err(|e| Failure::other(step, &transport(&e)))?;
    let status = res.status().as_u16();
    let pause = retry_after(&res);
    let text = res
        .text()
        .await
        .map_err(|e| Failure::other(step, &transport(&e)))?;
    if status != 200 {
        return Err(Failure::http(step, status, pause, &text));
    }
    serde_json::from_str(&text).map_err(|_| Failure::other(step, "answer is not JSON"))
}

/// The `code` of a `redirect_to`, after checking `state` and `iss` (RFC 9207).
fn code_of(ctx: &Ctx, answer: &Value, state: &str, step: &str) -> Result<String, Failure> {
    let to = answer["redirect_to"]
        .as_str()
        .and_then(|s| url::Url::parse(s).ok())
        .ok_or_else(|| Failure::other(step, "no redirect_to"))?;
    let q: BTreeMap<String, String> = to.query_pairs().into_owned().collect();
    if !to.as_str().starts_with(REDIRECT)
        || q.get("state").map(String::as_str) != Some(state)
        || q.get("iss") != Some(&ctx.issuer)
    {
        return Err(Failure::other(
            step,
            "redirect_to has the wrong target, state or iss",
        ));
    }
    q.get("code")
        .cloned()
        .ok_or_else(|| Failure::other(step, "no code in redirect_to"))
}

/// A PKCE pair (RFC 7636, S256) and a state.
fn pkce() -> (String, String, String) {
    let verifier = b64(&rand::random::<[u8; 32]>());
    let challenge = b64(&Sha256::digest(verifier.as_bytes()));
    (verifier, challenge, b64(&rand::random::<[u8; 12]>()))
}

/// Creates a passkey for a new account through the ceremony API.
async fn register(ctx: &Ctx, i: usize) -> Result<User, Failure> {
    let (_verifier, challenge, state) = pkce();
    let (flow, cookie) = authorize(ctx, &challenge, &state, "create").await?;
    let options = post(
        ctx,
        "registration/options",
        format!("{}/api/v1/flows/{flow}/registration/options", ctx.base),
        Some(&cookie),
        &json!({"display_name": format!("Load user {i}")}),
    )
    .await?;
    let mut auth = SoftAuthenticator::new();
    let credential = auth
        .register(&options, &ctx.issuer)
        .map_err(|e| Failure::other("registration", &e.to_string()))?;
    let answer = post(
        ctx,
        "registration",
        format!("{}/api/v1/flows/{flow}/registration", ctx.base),
        Some(&cookie),
        &credential,
    )
    .await?;
    code_of(ctx, &answer, &state, "registration")?;
    Ok(User {
        auth: Mutex::new(auth),
        credential_id: credential["id"].as_str().unwrap_or_default().to_owned(),
    })
}

/// Microseconds taken by each step of one sign-in.
type StepTimes = [u64; 4];

/// One whole sign-in with `user`: authorize, options, assertion, redeem.
async fn sign_in(ctx: &Ctx, user: &User) -> Result<StepTimes, Failure> {
    let mut times = [0u64; 4];
    let (verifier, challenge, state) = pkce();
    let t = Instant::now();
    let (flow, cookie) = authorize(ctx, &challenge, &state, "login").await?;
    times[0] = micros(t);
    let t = Instant::now();
    let options = post(
        ctx,
        "options",
        format!("{}/api/v1/flows/{flow}/authentication/options", ctx.base),
        Some(&cookie),
        &json!({}),
    )
    .await?;
    times[1] = micros(t);
    let t = Instant::now();
    let assertion = {
        let mut auth = user
            .auth
            .lock()
            .map_err(|_| Failure::other("assertion", "authenticator poisoned"))?;
        auth.authenticate(&options, &ctx.issuer)
            .map_err(|e| Failure::other("assertion", &e.to_string()))?
    };
    let answer = post(
        ctx,
        "assertion",
        format!("{}/api/v1/flows/{flow}/authentication", ctx.base),
        Some(&cookie),
        &assertion,
    )
    .await?;
    let code = code_of(ctx, &answer, &state, "assertion")?;
    times[2] = micros(t);
    let t = Instant::now();
    let redeemed = post(
        ctx,
        "redeem",
        format!("{}/api/v1/sign-ins/redeem", ctx.base),
        None,
        &json!({"client_id": ctx.client_id, "code": code, "code_verifier": verifier, "redirect_uri": REDIRECT}),
    )
    .await?;
    if redeemed["sign_in"]["credential_id"].as_str() != Some(&user.credential_id)
        || redeemed["id_token"].as_str().is_none()
    {
        return Err(Failure::other(
            "redeem",
            "sign-in of another credential or without id_token",
        ));
    }
    times[3] = micros(t);
    Ok(times)
}

fn micros(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_micros())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// Latency histograms and error counts of the run.
struct Stats {
    steps: Vec<Histogram<u64>>,
    flow: Histogram<u64>,
    errors: BTreeMap<String, u64>,
    ok: u64,
}

fn histogram() -> Histogram<u64> {
    // 1 µs to 10 minutes at 3 significant digits; values above are clamped.
    Histogram::new_with_bounds(1, 600_000_000, 3)
        .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!()))
}

impl Stats {
    fn new() -> Self {
        Self {
            steps: STEPS.iter().map(|_| histogram()).collect(),
            flow: histogram(),
            errors: BTreeMap::new(),
            ok: 0,
        }
    }

    /// Records one sign-in; `flow_us` is measured from its intended start.
    fn record(&mut self, result: Result<StepTimes, Failure>, flow_us: u64) {
        match result {
            Ok(times) => {
                for (h, v) in self.steps.iter_mut().zip(times) {
                    h.saturating_record(v);
                }
                self.flow.saturating_record(flow_us.max(1));
                self.ok += 1;
            }
            Err(Failure { code, .. }) => *self.errors.entry(code).or_default() += 1,
        }
    }
}

/// RSS and CPU of a process, from /proc.
#[derive(Default, Clone, Copy)]
struct ProcSample {
    rss_kb: u64,
    cpu_ticks: u64,
}

fn proc_sample(pid: &str) -> Option<ProcSample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())?;
    Some(ProcSample {
        rss_kb,
        cpu_ticks: cpu_ticks(pid).unwrap_or(0),
    })
}

/// utime + stime of a process, in clock ticks (`/proc/PID/stat` fields 14 and 15).
fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Clock ticks per second of /proc/PID/stat (USER_HZ, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

fn loadavg() -> Vec<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .filter_map(|v| v.parse().ok())
        .collect()
}

fn percentiles(h: &Histogram<u64>) -> Value {
    let ms = |v: u64| (v as f64 / 1000.0 * 1000.0).round() / 1000.0;
    if h.is_empty() {
        return json!({"count": 0});
    }
    json!({
        "count": h.len(),
        "mean": (h.mean() / 1000.0 * 1000.0).round() / 1000.0,
        "p50": ms(h.value_at_quantile(0.50)),
        "p95": ms(h.value_at_quantile(0.95)),
        "p99": ms(h.value_at_quantile(0.99)),
        "max": ms(h.max()),
    })
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => {}
        Err(e) => {
            eprintln!("latchkey-load: {e}");
            std::process::exit(1);
        }
    }
}

async fn run(args: Args) -> Res<()> {
    let (url, pin) = loopback_target(&args.base_url)?;
    if args.users == 0 {
        return Err("--users must be at least 1".into());
    }
    if let Some(r) = args.rate
        && !(r > 0.0 && r <= 100_000.0)
    {
        return Err("--rate must be more than 0 and at most 100000 per second".into());
    }
    if args.count == Some(0) {
        return Err("--count must be at least 1".into());
    }
    if args.concurrency == Some(0) {
        return Err("--concurrency must be at least 1".into());
    }
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .tcp_nodelay(true)
        .pool_max_idle_per_host(usize::MAX)
        .timeout(Duration::from_secs(30))
        .tls_danger_accept_invalid_certs(true);
    if let Some((host, addr)) = &pin {
        builder = builder.resolve(host, *addr);
    }
    let client = builder.build().map_err(|e| e.to_string())?;
    let base = url.as_str().trim_end_matches('/').to_owned();

    // The issuer is the WebAuthn origin the authenticator must put in its client data.
    let discovery: Value = client
        .get(format!("{base}/.well-known/openid-configuration"))
        .send()
        .await
        .map_err(|e| format!("cannot reach {base}: {e}"))?
        .json()
        .await
        .map_err(|e| format!("{base}/.well-known/openid-configuration: {e}"))?;
    let issuer = discovery["issuer"]
        .as_str()
        .ok_or("the discovery document has no issuer")?
        .to_owned();

    let client_id = format!(
        "load-{}",
        &b64(&rand::random::<[u8; 6]>()).replace(['-', '_'], "x")
    );
    let res = client
        .post(format!("{base}/api/v1/admin/tenants"))
        .bearer_auth(&args.admin_token)
        .json(&json!({"client_id": client_id, "name": "Load test", "redirect_uris": [REDIRECT], "rp_mode": "broker"}))
        .send()
        .await
        .map_err(|e| format!("admin API: {e}"))?;
    if res.status().as_u16() != 201 {
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        return Err(format!(
            "creating the load tenant answered {status}: {text}"
        ));
    }
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        base: base.clone(),
        issuer: issuer.clone(),
        client_id: client_id.clone(),
    });

    // Register the users, a bounded number at a time.
    let reg_start = Instant::now();
    let workers = args.concurrency.unwrap_or(32).clamp(1, 64).min(args.users);
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (ctx, next, n) = (ctx.clone(), next.clone(), args.users as u64);
        tasks.push(tokio::spawn(async move {
            let mut users = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok(users);
                }
                users.push(register(&ctx, i as usize).await?);
            }
        }));
    }
    let mut users = Vec::with_capacity(args.users);
    for t in tasks {
        match t.await.map_err(|e| e.to_string())? {
            Ok(mut u) => users.append(&mut u),
            Err(Failure { code, .. }) => {
                let hint = if code.contains("429") {
                    " (the broker rate-limits this client: set LATCHKEY_RATE_LIMIT_EXEMPT=127.0.0.0/8 on it for a load test)"
                } else {
                    ""
                };
                return Err(format!("registering the users failed: {code}{hint}"));
            }
        }
    }
    let register_s = reg_start.elapsed().as_secs_f64();
    let users = Arc::new(users);

    // The run.
    let duration = args.duration.unwrap_or(Duration::from_secs(20));
    let stats = Arc::new(Mutex::new(Stats::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicU64::new(0));
    let load_before = loadavg();
    let pid = args.pid.map(|p| p.to_string());
    let proc_before = pid.as_deref().and_then(proc_sample);
    let self_before = cpu_ticks("self");
    let db_before = db_counters(&client, &base).await;
    let samples: Arc<Mutex<(u64, u64)>> = Arc::new(Mutex::new((0, 0)));
    let sampler = pid.clone().map(|p| {
        let (samples, stop) = (samples.clone(), stop.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                if let Some(s) = proc_sample(&p)
                    && let Ok(mut m) = samples.lock()
                {
                    m.0 = m.0.max(s.rss_kb);
                    m.1 = s.rss_kb;
                }
            }
        })
    });

    let start = Instant::now();
    let deadline = start + duration;
    let wants_more = {
        let (started, count) = (started.clone(), args.count);
        move || match count {
            Some(n) => started.fetch_add(1, Ordering::Relaxed) < n,
            None => Instant::now() < deadline,
        }
    };
    let mode;
    if let Some(rate) = args.rate {
        mode = json!({"kind": "rate", "rate": rate});
        let in_flight = Arc::new(AtomicU64::new(0));
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut handles = Vec::new();
        let mut seq: u64 = 0;
        loop {
            let intended = tick.tick().await;
            if !wants_more() {
                break;
            }
            seq += 1;
            if in_flight.load(Ordering::Relaxed) >= MAX_IN_FLIGHT {
                if let Ok(mut s) = stats.lock() {
                    s.record(
                        Err(Failure::other(
                            "generator",
                            "overloaded (too many in flight)",
                        )),
                        0,
                    );
                }
                continue;
            }
            in_flight.fetch_add(1, Ordering::Relaxed);
            let (ctx, users, stats, in_flight) =
                (ctx.clone(), users.clone(), stats.clone(), in_flight.clone());
            handles.push(tokio::spawn(async move {
                let user = &users[rand::random_range(0..users.len())];
                let result = sign_in(&ctx, user).await;
                // Latency from the intended start: a slow server cannot hide its queue
                // (no coordinated omission).
                let flow_us = u64::try_from(intended.elapsed().as_micros()).unwrap_or(u64::MAX);
                if let Ok(mut s) = stats.lock() {
                    s.record(result, flow_us);
                }
                in_flight.fetch_sub(1, Ordering::Relaxed);
            }));
            if seq.is_multiple_of(1024) {
                handles.retain(|h| !h.is_finished());
            }
        }
        for h in handles {
            let _ = h.await;
        }
    } else {
        let c = args.concurrency.unwrap_or(32);
        mode = json!({"kind": "closed", "concurrency": c});
        let wants_more = Arc::new(wants_more);
        let mut handles = Vec::new();
        for _ in 0..c {
            let (ctx, users, stats, wants_more) = (
                ctx.clone(),
                users.clone(),
                stats.clone(),
                wants_more.clone(),
            );
            handles.push(tokio::spawn(async move {
                while wants_more() {
                    let user = &users[rand::random_range(0..users.len())];
                    let t = Instant::now();
                    let result = sign_in(&ctx, user).await;
                    let flow_us = micros(t);
                    // A client that is told to come back later does so, as browsers and
                    // SDKs should: a closed loop that retried at once would only measure
                    // how fast refusals are.
                    let pause = result.as_ref().err().and_then(|f| f.retry_after);
                    if let Ok(mut s) = stats.lock() {
                        s.record(result, flow_us);
                    }
                    if let Some(pause) = pause {
                        tokio::time::sleep(pause).await;
                    }
                }
            }));
        }
        for h in handles {
            let _ = h.await;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    if let Some(s) = sampler {
        let _ = s.await;
    }
    let proc_after = pid.as_deref().and_then(proc_sample);
    let self_after = cpu_ticks("self");
    let load_after = loadavg();
    let db_after = db_counters(&client, &base).await;

    let stats = stats.lock().map_err(|_| "statistics poisoned")?;
    let (rss_max, rss_last) = samples.lock().map(|m| *m).unwrap_or_default();
    let errors_total: u64 = stats.errors.values().sum();
    let mut latency = serde_json::Map::new();
    for (name, h) in STEPS.iter().zip(&stats.steps) {
        latency.insert((*name).to_owned(), percentiles(h));
    }
    latency.insert("flow".into(), percentiles(&stats.flow));
    let server = match (proc_before, proc_after) {
        (Some(b), Some(a)) => {
            let cpu_s = a.cpu_ticks.saturating_sub(b.cpu_ticks) as f64 / TICKS_PER_SECOND;
            json!({
                "pid": args.pid,
                "rss_kb_max": rss_max.max(a.rss_kb),
                "rss_kb_last": if a.rss_kb > 0 { a.rss_kb } else { rss_last },
                "cpu_s": cpu_s,
                "cpu_ms_per_flow": if stats.ok > 0 { cpu_s * 1000.0 / stats.ok as f64 } else { 0.0 },
            })
        }
        _ => Value::Null,
    };
    // Database work per sign-in, from the broker's own counters (PROTOCOL §8 metrics).
    let database = match (&db_before, &db_after) {
        (Some(b), Some(a)) if stats.ok > 0 => {
            let per = |k: &str| {
                let d = a.get(k).copied().unwrap_or(0.0) - b.get(k).copied().unwrap_or(0.0);
                (d / stats.ok as f64 * 100.0).round() / 100.0
            };
            let reads = per("latchkey_db_statements_total{kind=\"read\"}");
            let writes = per("latchkey_db_statements_total{kind=\"write\"}");
            let transactions = per("latchkey_db_transactions_total");
            let round_trips = per("latchkey_db_round_trips_total");
            json!({
                "statements_per_flow": reads + writes,
                "reads_per_flow": reads,
                "writes_per_flow": writes,
                "transactions_per_flow": transactions,
                // Statements, BEGINs and COMMITs that went to a connection thread or the
                // server; SQLite's direct statements, on the request's thread, make none.
                "round_trips_per_flow": round_trips,
                "wal_fsyncs_per_flow": per("latchkey_db_wal_fsyncs_total"),
            })
        }
        _ => Value::Null,
    };
    let generator_cpu_s = match (self_before, self_after) {
        (Some(b), Some(a)) => a.saturating_sub(b) as f64 / TICKS_PER_SECOND,
        _ => 0.0,
    };
    let report = json!({
        "base_url": base,
        "issuer": issuer,
        "client_id": client_id,
        "mode": mode,
        "users": args.users,
        "register_s": (register_s * 1000.0).round() / 1000.0,
        "elapsed_s": (elapsed * 1000.0).round() / 1000.0,
        "flows": stats.ok,
        "flows_per_s": ((stats.ok as f64 / elapsed) * 10.0).round() / 10.0,
        "errors_total": errors_total,
        "errors": stats.errors,
        "latency_ms": latency,
        "server": server,
        "database": database,
        "generator_cpu_s": generator_cpu_s,
        "loadavg_before": load_before,
        "loadavg_after": load_after,
    });
    print_table(&report);
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        std::fs::write(path, text + "\n")
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

/// The broker's `latchkey_db_*` counters from `/metrics`, by sample name.
async fn db_counters(client: &reqwest::Client, base: &str) -> Option<BTreeMap<String, f64>> {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let counters: BTreeMap<String, f64> = text
        .lines()
        .filter(|l| l.starts_with("latchkey_db_"))
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect();
    (!counters.is_empty()).then_some(counters)
}

fn print_table(r: &Value) {
    let mode = match r["mode"]["kind"].as_str() {
        Some("rate") => format!("fixed rate {} flows/s", r["mode"]["rate"]),
        _ => format!("closed loop, concurrency {}", r["mode"]["concurrency"]),
    };
    println!(
        "latchkey-load → {} (issuer {})",
        r["base_url"].as_str().unwrap_or_default(),
        r["issuer"].as_str().unwrap_or_default()
    );
    println!(
        "{mode}, {} users registered in {:.1} s, ran {:.1} s",
        r["users"],
        r["register_s"].as_f64().unwrap_or(0.0),
        r["elapsed_s"].as_f64().unwrap_or(0.0)
    );
    println!(
        "flows        {} ok, {} errors, {} flows/s",
        r["flows"], r["errors_total"], r["flows_per_s"]
    );
    println!(
        "{:<12} {:>9} {:>9} {:>9} {:>9}",
        "latency ms", "p50", "p95", "p99", "max"
    );
    for step in STEPS.iter().chain(&["flow"]) {
        let l = &r["latency_ms"][step];
        let f = |k: &str| l[k].as_f64().map_or("-".to_owned(), |v| format!("{v:.2}"));
        println!(
            "{step:<12} {:>9} {:>9} {:>9} {:>9}",
            f("p50"),
            f("p95"),
            f("p99"),
            f("max")
        );
    }
    if let Some(errors) = r["errors"].as_object() {
        for (code, n) in errors {
            println!("error        {n:>7}  {code}");
        }
    }
    let d = &r["database"];
    if !d.is_null() {
        let f = |k: &str| d[k].as_f64().unwrap_or(0.0);
        println!(
            "database     per flow: {:.2} statements ({:.2} reads, {:.2} writes), {:.2} transactions, {:.2} round trips, {:.2} WAL fsyncs",
            f("statements_per_flow"),
            f("reads_per_flow"),
            f("writes_per_flow"),
            f("transactions_per_flow"),
            f("round_trips_per_flow"),
            f("wal_fsyncs_per_flow")
        );
    }
    let s = &r["server"];
    if !s.is_null() {
        println!(
            "server       RSS max {:.1} MB, last {:.1} MB; CPU {:.1} s ({:.3} ms per flow)",
            s["rss_kb_max"].as_f64().unwrap_or(0.0) / 1024.0,
            s["rss_kb_last"].as_f64().unwrap_or(0.0) / 1024.0,
            s["cpu_s"].as_f64().unwrap_or(0.0),
            s["cpu_ms_per_flow"].as_f64().unwrap_or(0.0)
        );
    }
    println!(
        "generator    CPU {:.1} s; load average {} → {}",
        r["generator_cpu_s"].as_f64().unwrap_or(0.0),
        r["loadavg_before"],
        r["loadavg_after"]
    );
}
