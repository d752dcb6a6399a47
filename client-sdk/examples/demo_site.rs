//! The demo site: a small page that signs in through a real Latchkey broker with the SDK
//! and shows who is signed in.
//!
//! ```sh
//! cargo run -p latchkey -- serve --demo          # the broker on http://localhost:8080
//! cargo run -p latchkey-client --features actix --example demo_site
//! # open http://localhost:8081
//! ```
//!
//! When the tenant has PRF on, the signed-in page shows a note encrypted end to end with
//! a key that only the passkey can give: the browser derives it from the PRF output
//! (`latchkey-prf.js`, shipped with the SDK), and this server stores only ciphertext.
//!
//! Settings: `DEMO_ISSUER` (default `http://localhost:8080`), `DEMO_BIND` (default
//! `127.0.0.1:8081`), `DEMO_BASE` (default `http://localhost:8081`), `DEMO_CLIENT_ID`
//! (default `demo`).
//!
//! The site answers only on `DEMO_BASE`: a request that reaches it under another host
//! name, such as `http://127.0.0.1:8081`, is sent to the same path there first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use latchkey_client::actix::Integration;
use latchkey_client::{AuthorizeOptions, Client, Config, Prompt};

fn env(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_owned())
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A credential id as the broker's pages show it: its first 10 characters and "…".
fn short_id(id: &str) -> String {
    if id.chars().count() > 12 {
        format!("{}…", id.chars().take(10).collect::<String>())
    } else {
        id.to_owned()
    }
}

fn page(body: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Content-Security-Policy", "default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self'; style-src 'unsafe-inline'; form-action 'self'"))
        .insert_header(("Cache-Control", "no-store"))
        .body(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
             <link rel=\"icon\" href=\"/favicon.ico\" sizes=\"16x16 32x32\"><title>Demo site</title><style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}}\
             dt{{font-weight:600}}dd{{margin:0 0 .6rem;font-family:monospace;word-break:break-all}}a,button{{font-size:1rem}}\
             textarea{{width:100%;min-height:5rem;font:inherit}}</style>\
             <script src=\"/latchkey-prf.js\" defer></script><script src=\"/demo.js\" defer></script></head>\
             <body><h1>Demo site</h1>{body}</body></html>"
        ))
}

async fn home(req: HttpRequest, lk: web::Data<Integration>) -> HttpResponse {
    match lk.current(&req) {
        Some(s) => page(&format!(
            "<p>You are signed in with a passkey.</p><dl id=\"identity\">\
             <dt>Subject (sub)</dt><dd id=\"sub\">{}</dd><dt>Passkey (credential id)</dt><dd id=\"passkey-id\" title=\"{}\">{}</dd>\
             <dt>Backed up (synced)</dt><dd id=\"backed-up\">{}</dd><dt>New account</dt><dd id=\"new-user\">{}</dd>\
             <dt>Re-verified passkey signature</dt><dd>yes</dd></dl>\
             <section id=\"note\"><h2>Your encrypted note</h2>\
             <p id=\"prf-status\">Looking for your passkey's key…</p>\
             <p>Key id: <code id=\"key-id\"></code></p>\
             <textarea id=\"note-text\" aria-label=\"Note\" disabled></textarea>\
             <p><button id=\"note-save\" type=\"button\" disabled>Encrypt and save</button> <span id=\"note-message\" role=\"status\"></span></p>\
             <p>Only your passkey can open this note: this site keeps only the ciphertext.</p></section>\
             <p><a id=\"manage-passkeys\" href=\"/account\">Manage your passkeys</a> (add a backup passkey, rename or remove one)</p>\
             <form method=\"post\" action=\"/logout\"><button id=\"sign-out\">Sign out</button></form>",
            escape(&s.sub),
            escape(&s.credential_id),
            escape(&short_id(&s.credential_id)),
            s.backed_up,
            s.new_user
        )),
        None => page(
            "<p>This site signs people in with Latchkey.</p>\
             <p><a id=\"sign-in\" href=\"/login\">Sign in with a passkey</a></p>\
             <p><a id=\"create\" href=\"/login?create\">Create a passkey</a></p>",
        ),
    }
}

async fn login(req: HttpRequest, lk: web::Data<Integration>) -> HttpResponse {
    let prompt = (req.query_string() == "create").then_some(Prompt::Create);
    lk.login(&AuthorizeOptions {
        prompt,
        email: true,
        ..Default::default()
    })
}

async fn callback(req: HttpRequest, lk: web::Data<Integration>) -> HttpResponse {
    match lk
        .callback(&req, |s| println!("demo site: {} signed in", s.sub))
        .await
    {
        Ok(res) => res,
        Err(e) => HttpResponse::BadRequest()
            .content_type("text/html; charset=utf-8")
            .body(format!(
                "<p>The sign-in failed: {}</p><p><a href=\"/\">Back</a></p>",
                escape(&e.to_string())
            )),
    }
}

/// `GET /account`: to this site's account page at the broker, which links back here.
async fn account(lk: web::Data<Integration>) -> HttpResponse {
    let client = lk.client();
    match client.account_url(Some(&client.config().redirect_uri)) {
        Ok(url) => HttpResponse::SeeOther()
            .insert_header(("Location", url.to_string()))
            .finish(),
        Err(e) => HttpResponse::BadGateway()
            .content_type("text/plain; charset=utf-8")
            .body(format!("The account page is not available: {e}")),
    }
}

async fn logout(req: HttpRequest, lk: web::Data<Integration>) -> HttpResponse {
    lk.logout(&req)
}

/// Ciphertexts of notes by subject. The server never holds a key.
#[derive(Default)]
struct Notes(Mutex<HashMap<String, String>>);

fn script(body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "no-cache"))
        .body(body)
}

/// The site's own icon (a house; the broker's pages have a keyhole).
async fn favicon() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("image/x-icon")
        .insert_header(("Cache-Control", "public, max-age=86400"))
        .body(&include_bytes!("demo_site_favicon.ico")[..])
}

/// Where the site lives: `DEMO_BASE`, and its host and port as a `Host` header says them.
struct SiteBase {
    base: String,
    authority: String,
}

/// Sends a request that reached the site under another host name than `DEMO_BASE`'s
/// (typically `127.0.0.1:8081` for `localhost:8081`) to the same path on `DEMO_BASE`,
/// before anything else runs. Cookies belong to a host name and the broker returns
/// people to the registered `{DEMO_BASE}/callback`, so a sign-in started under another
/// name could never finish there (its pending login would be in the other name's
/// cookie), and a passkey created on the way would leave an account behind.
async fn canonical_host(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let target = req.app_data::<web::Data<SiteBase>>().and_then(|site| {
        let host = req.connection_info().host().to_ascii_lowercase();
        (host != site.authority).then(|| {
            let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
            format!("{}{path}", site.base)
        })
    });
    match target {
        None => Ok(next.call(req).await?.map_into_left_body()),
        Some(location) => Ok(req
            .into_response(
                HttpResponse::TemporaryRedirect()
                    .insert_header((header::LOCATION, location))
                    .insert_header((header::CACHE_CONTROL, "no-store"))
                    .finish(),
            )
            .map_into_right_body()),
    }
}

async fn prf_js() -> HttpResponse {
    script(include_str!("../js/latchkey-prf.js"))
}

async fn demo_js() -> HttpResponse {
    script(DEMO_JS)
}

async fn get_note(
    req: HttpRequest,
    lk: web::Data<Integration>,
    notes: web::Data<Notes>,
) -> HttpResponse {
    let Some(s) = lk.current(&req) else {
        return HttpResponse::Unauthorized().finish();
    };
    let sealed = notes.0.lock().ok().and_then(|m| m.get(&s.sub).cloned());
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(serde_json::json!({ "sealed": sealed }))
}

async fn put_note(
    req: HttpRequest,
    lk: web::Data<Integration>,
    notes: web::Data<Notes>,
    body: web::Json<serde_json::Value>,
) -> HttpResponse {
    let Some(s) = lk.current(&req) else {
        return HttpResponse::Unauthorized().finish();
    };
    let sealed = body.get("sealed").and_then(|v| v.as_str()).filter(|v| {
        (40..=16_384).contains(&v.len())
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    let Some(sealed) = sealed else {
        return HttpResponse::BadRequest().body("sealed must be base64url ciphertext");
    };
    if let Ok(mut m) = notes.0.lock() {
        m.insert(s.sub.clone(), sealed.to_owned());
    }
    HttpResponse::NoContent().finish()
}

/// The signed-in page's script: unlock the note with the passkey's key.
const DEMO_JS: &str = r#"(async function () {
  'use strict';
  const $ = (id) => document.getElementById(id);
  if (!$('note')) return;
  const prf = await LatchkeyPrf.take({ info: 'latchkey demo note v1' });
  document.body.dataset.prf = prf.status;
  if (!prf.key) {
    $('prf-status').textContent = prf.status === 'unavailable'
      ? 'This passkey or browser cannot give an encryption key (no PRF), so the note stays locked.'
      : 'No key from your passkey on this visit (PRF is off for this site, or the page was reloaded): sign in again to unlock the note.';
    document.body.dataset.note = 'locked';
    return;
  }
  $('key-id').textContent = prf.keyId;
  $('prf-status').textContent = 'Unlocked with your passkey.';
  const res = await fetch('/note', { credentials: 'same-origin' });
  const { sealed } = await res.json();
  if (sealed) {
    try {
      $('note-text').value = await LatchkeyPrf.decrypt(prf.key, sealed);
      document.body.dataset.note = 'opened';
    } catch (e) {
      $('prf-status').textContent = 'This note was sealed with another passkey; this one cannot open it.';
      document.body.dataset.note = 'locked';
      return;
    }
  } else {
    document.body.dataset.note = 'empty';
  }
  $('note-text').disabled = false;
  $('note-save').disabled = false;
  $('note-save').addEventListener('click', async () => {
    const body = JSON.stringify({ sealed: await LatchkeyPrf.encrypt(prf.key, $('note-text').value) });
    const r = await fetch('/note', { method: 'PUT', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' }, body });
    $('note-message').textContent = r.ok ? 'Saved, encrypted.' : 'Could not save.';
    document.body.dataset.note = r.ok ? 'saved' : 'error';
  });
})();
"#;

/// `DEMO_BASE` without a trailing `/`, and its `host[:port]` (no port when it is the
/// scheme's default, as browsers send it).
fn site_base(base: &str) -> std::io::Result<SiteBase> {
    let url = url::Url::parse(base)
        .map_err(|e| std::io::Error::other(format!("DEMO_BASE {base:?} is not a URL: {e}")))?;
    let host = url
        .host_str()
        .ok_or_else(|| std::io::Error::other(format!("DEMO_BASE {base:?} has no host")))?;
    let authority = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    Ok(SiteBase {
        base: base.trim_end_matches('/').to_owned(),
        authority: authority.to_ascii_lowercase(),
    })
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let issuer = env("DEMO_ISSUER", "http://localhost:8080");
    let base = env("DEMO_BASE", "http://localhost:8081");
    let config = Config::new(
        &issuer,
        env("DEMO_CLIENT_ID", "demo"),
        format!("{base}/callback"),
    );
    let client = Client::discover(config)
        .await
        .map_err(|e| std::io::Error::other(format!("cannot reach the broker at {issuer}: {e}")))?;
    let mut key = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
    let lk = web::Data::new(Integration::new(
        Arc::new(client),
        key,
        base.starts_with("https"),
    ));
    let bind = env("DEMO_BIND", "127.0.0.1:8081");
    println!("demo site on {base} (broker {issuer})");
    let notes = web::Data::new(Notes::default());
    let site = web::Data::new(site_base(&base)?);
    HttpServer::new(move || {
        App::new()
            .wrap(from_fn(canonical_host))
            .app_data(site.clone())
            .app_data(lk.clone())
            .app_data(notes.clone())
            .route("/favicon.ico", web::get().to(favicon))
            .route("/latchkey-prf.js", web::get().to(prf_js))
            .route("/demo.js", web::get().to(demo_js))
            .route("/note", web::get().to(get_note))
            .route("/note", web::put().to(put_note))
            .route("/", web::get().to(home))
            .route("/login", web::get().to(login))
            .route("/callback", web::get().to(callback))
            .route("/account", web::get().to(account))
            .route("/logout", web::post().to(logout))
    })
    .bind(bind)?
    .run()
    .await
}
