//! The static files of the hosted pages and the admin dashboard, embedded in the binary,
//! with their Subresource Integrity hashes, and the headers of every HTML page (PROTOCOL
//! §2: a strict Content-Security-Policy, no referrer, no caching).

use actix_web::HttpResponse;
use actix_web::http::header;
use base64::Engine as _;
use sha2::{Digest as _, Sha384};

const SCRIPT: &str = include_str!("../static/latchkey.js");

const STYLE: &str = include_str!("../static/latchkey.css");

/// WebAuthn's JSON forms and the Signal API, shared by the hosted pages' scripts.
const WEBAUTHN: &str = include_str!("../static/webauthn.js");

/// The account page's script (PROTOCOL §9).
const ACCOUNT: &str = include_str!("../static/account.js");
/// The admin dashboard's style sheet (the dashboard runs no script).
const ADMIN_STYLE: &str = include_str!("../static/admin.css");

/// The pages' icon: 16 and 32 pixel PNGs in an ICO, which every browser reads.
const FAVICON: &[u8] = include_bytes!("../static/favicon.ico");

/// The embedded static files and their Subresource Integrity hashes.
pub struct Assets {
    /// `sha384-…` of the script.
    pub script_integrity: String,
    /// `sha384-…` of the style sheet.
    pub style_integrity: String,
    /// `sha384-…` of the shared WebAuthn script.
    pub webauthn_integrity: String,
    /// `sha384-…` of the account page's script.
    pub account_integrity: String,
    /// `sha384-…` of the admin dashboard's style sheet.
    pub admin_style_integrity: String,
    /// A short content hash used as the cache-busting `?v=`.
    pub version: String,
}

impl Assets {
    /// Hashes the embedded files.
    pub fn new() -> Self {
        let sri = |s: &str| {
            format!(
                "sha384-{}",
                base64::engine::general_purpose::STANDARD.encode(Sha384::digest(s))
            )
        };
        let script_integrity = sri(SCRIPT);
        let version = crate::util::hex(Sha384::digest(format!(
            "{SCRIPT}{STYLE}{WEBAUTHN}{ACCOUNT}{ADMIN_STYLE}"
        )))[..12]
            .to_owned();
        Self {
            script_integrity,
            style_integrity: sri(STYLE),
            webauthn_integrity: sri(WEBAUTHN),
            account_integrity: sri(ACCOUNT),
            admin_style_integrity: sri(ADMIN_STYLE),
            version,
        }
    }
}

impl Default for Assets {
    fn default() -> Self {
        Self::new()
    }
}

/// `GET /static/latchkey.js`
pub async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(SCRIPT)
}

/// `GET /static/webauthn.js`
pub async fn webauthn_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(WEBAUTHN)
}

/// `GET /static/account.js`
pub async fn account_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(ACCOUNT)
}

/// `GET /static/latchkey.css`
pub async fn style() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(STYLE)
}

/// `GET /static/admin.css`
pub async fn admin_style() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(ADMIN_STYLE)
}

/// `GET /favicon.ico`, also named by each page's `<link rel="icon">`. Images load under
/// the pages' `img-src 'self'`; Subresource Integrity does not apply to icons, and the
/// file is an image only (no script can run in it).
pub async fn favicon() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("image/x-icon")
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(FAVICON)
}

/// The Content-Security-Policy of every HTML page: no inline script or style at all.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// An HTML answer with the headers every page carries.
pub fn html(status: actix_web::http::StatusCode) -> actix_web::HttpResponseBuilder {
    let mut b = HttpResponse::build(status);
    b.content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header(("cross-origin-opener-policy", "same-origin"))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    b
}
