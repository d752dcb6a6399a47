//! The demo site: a small page that signs in through a real Latchkey broker with the SDK
//! and shows who is signed in.
//!
//! ```sh
//! cargo run -p latchkey -- serve --demo          # the broker on http://localhost:8080
//! cargo run -p latchkey-client --features actix --example demo_site
//! # open http://localhost:8081
//! ```
//!
//! Settings: `DEMO_ISSUER` (default `http://localhost:8080`), `DEMO_BIND` (default
//! `127.0.0.1:8081`), `DEMO_BASE` (default `http://localhost:8081`), `DEMO_CLIENT_ID`
//! (default `demo`).

use std::sync::Arc;

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

fn page(body: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"))
        .insert_header(("Cache-Control", "no-store"))
        .body(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
             <title>Demo site</title><style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}}\
             dt{{font-weight:600}}dd{{margin:0 0 .6rem;font-family:monospace;word-break:break-all}}a,button{{font-size:1rem}}</style></head>\
             <body><h1>Demo site</h1>{body}</body></html>"
        ))
}

async fn home(req: HttpRequest, lk: web::Data<Integration>) -> HttpResponse {
    match lk.current(&req) {
        Some(s) => page(&format!(
            "<p>You are signed in with a passkey.</p><dl id=\"identity\">\
             <dt>Subject (sub)</dt><dd id=\"sub\">{}</dd><dt>Passkey id</dt><dd id=\"passkey-id\">{}</dd>\
             <dt>Backed up (synced)</dt><dd id=\"backed-up\">{}</dd><dt>New account</dt><dd id=\"new-user\">{}</dd>\
             <dt>Re-verified passkey signature</dt><dd>yes</dd></dl>\
             <form method=\"post\" action=\"/logout\"><button id=\"sign-out\">Sign out</button></form>",
            escape(&s.sub),
            escape(&s.passkey_id),
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

async fn logout(req: HttpRequest, lk: web::Data<Integration>) -> HttpResponse {
    lk.logout(&req)
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
    HttpServer::new(move || {
        App::new()
            .app_data(lk.clone())
            .route("/", web::get().to(home))
            .route("/login", web::get().to(login))
            .route("/callback", web::get().to(callback))
            .route("/logout", web::post().to(logout))
    })
    .bind(bind)?
    .run()
    .await
}
