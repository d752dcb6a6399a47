//! Ready actix-web handlers (feature `actix`): `login` keeps the pending login in an
//! encrypted, HttpOnly, short-lived cookie and redirects to the broker; `callback` checks
//! it, finishes the sign-in, and starts a *new* session (a fresh id, the old one
//! dropped), so no session fixation is possible; `logout` ends the session.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};

use crate::client::{AuthorizeOptions, Callback, Client, PendingLogin, VerifiedSignIn};
use crate::error::Error;

/// Name of the cookie holding the encrypted pending login.
pub const PENDING_COOKIE: &str = "latchkey_pending";
/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "latchkey_session";
/// How long a login may stay pending (the broker's flow lifetime).
pub const PENDING_LIFETIME: Duration = Duration::from_secs(600);
/// How long a session lasts.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(8 * 3600);

/// The sealed content of the pending-login cookie.
#[derive(Serialize, Deserialize)]
struct Sealed {
    pending: PendingLogin,
    /// Unix seconds after which the cookie is refused, whatever the browser kept.
    expires: u64,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The site's side of Latchkey in an actix-web app: share one in `web::Data`.
pub struct Integration {
    client: Arc<Client>,
    cipher: Aes256Gcm,
    secure: bool,
    sessions: Mutex<HashMap<String, (Instant, VerifiedSignIn)>>,
    /// Where to send the browser after sign-in and sign-out.
    pub home: String,
}

impl std::fmt::Debug for Integration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Integration")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl Integration {
    /// `cookie_key` encrypts the pending-login cookie (AES-256-GCM; keep it secret, and
    /// the same across the site's instances); `secure` adds the `Secure` attribute (use
    /// `true` on HTTPS). Sessions are kept in this process's memory.
    pub fn new(client: Arc<Client>, cookie_key: [u8; 32], secure: bool) -> Self {
        Self {
            client,
            cipher: Aes256Gcm::new(&cookie_key.into()),
            secure,
            sessions: Mutex::new(HashMap::new()),
            home: "/".into(),
        }
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn cookie<'c>(&self, name: &'c str, value: String, max_age: CookieDuration) -> Cookie<'c> {
        Cookie::build(name, value)
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .path("/")
            .max_age(max_age)
            .finish()
    }

    fn seal(&self, pending: &PendingLogin) -> Option<String> {
        let plain = serde_json::to_vec(&Sealed {
            pending: pending.clone(),
            expires: unix_now() + PENDING_LIFETIME.as_secs(),
        })
        .ok()?;
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let payload = Payload {
            msg: &plain,
            aad: PENDING_COOKIE.as_bytes(),
        };
        let ct = self.cipher.encrypt(&Nonce::from(nonce), payload).ok()?;
        Some(URL_SAFE_NO_PAD.encode([nonce.as_slice(), &ct].concat()))
    }

    fn open(&self, sealed: &str) -> Option<PendingLogin> {
        let raw = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        let (nonce, ct) = (raw.get(..12)?, raw.get(12..)?);
        let nonce: [u8; 12] = nonce.try_into().ok()?;
        let payload = Payload {
            msg: ct,
            aad: PENDING_COOKIE.as_bytes(),
        };
        let plain = self.cipher.decrypt(&Nonce::from(nonce), payload).ok()?;
        let sealed: Sealed = serde_json::from_slice(&plain).ok()?;
        (unix_now() <= sealed.expires).then_some(sealed.pending)
    }

    /// `GET /login`: redirects to the broker with fresh PKCE, state and nonce.
    pub fn login(&self, options: &AuthorizeOptions) -> HttpResponse {
        let Ok((url, pending)) = self.client.authorize(options) else {
            return HttpResponse::InternalServerError()
                .body("the broker's authorize endpoint is unusable");
        };
        let Some(sealed) = self.seal(&pending) else {
            return HttpResponse::InternalServerError().finish();
        };
        HttpResponse::Found()
            .insert_header((header::LOCATION, url.to_string()))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .cookie(self.cookie(
                PENDING_COOKIE,
                sealed,
                CookieDuration::seconds(PENDING_LIFETIME.as_secs().try_into().unwrap_or(600)),
            ))
            .finish()
    }

    /// `GET /callback`: finishes the sign-in started by [`Integration::login`] in this
    /// browser (state compared in constant time, `iss`, redeem, id_token,
    /// re-verification), hands it to `on_sign_in`, and starts a session under a new
    /// random id, dropping any session id the browser brought (no session fixation). A
    /// callback without a pending login, with another state, or replayed, fails and
    /// creates no session. The error renders as a plain `400`/`502` page through
    /// [`actix_web::ResponseError`], so a handler may just use `?`. A visit that carries
    /// neither `code` nor `error` (the account page's link back to the site, a bookmark)
    /// goes to the home page and changes nothing.
    pub async fn callback(
        &self,
        req: &HttpRequest,
        on_sign_in: impl FnOnce(&VerifiedSignIn),
    ) -> Result<HttpResponse, Error> {
        let callback = Callback::from_query(req.query_string());
        if callback.code.is_none() && callback.error.is_none() {
            return Ok(HttpResponse::SeeOther()
                .insert_header((header::LOCATION, self.home.clone()))
                .finish());
        }
        let pending = req
            .cookie(PENDING_COOKIE)
            .and_then(|c| self.open(c.value()))
            .ok_or_else(|| Error::Callback("no login is pending in this browser".into()))?;
        let sign_in = self.client.finish(&callback, &pending).await?;
        on_sign_in(&sign_in);
        let mut id = [0u8; 32];
        rand::rng().fill_bytes(&mut id);
        let id = URL_SAFE_NO_PAD.encode(id);
        let mut sessions = self
            .sessions
            .lock()
            .map_err(|_| Error::Transport("the session store is poisoned".into()))?;
        if let Some(old) = req.cookie(SESSION_COOKIE) {
            sessions.remove(old.value());
        }
        let now = Instant::now();
        sessions.retain(|_, (started, _)| now.duration_since(*started) < SESSION_LIFETIME);
        sessions.insert(id.clone(), (now, sign_in));
        drop(sessions);
        let mut gone = self.cookie(PENDING_COOKIE, String::new(), CookieDuration::ZERO);
        gone.make_removal();
        Ok(HttpResponse::Found()
            .insert_header((header::LOCATION, self.home.clone()))
            .cookie(gone)
            .cookie(self.cookie(
                SESSION_COOKIE,
                id,
                CookieDuration::seconds(SESSION_LIFETIME.as_secs().try_into().unwrap_or(0)),
            ))
            .finish())
    }

    /// The sign-in of this browser's session, if any.
    pub fn current(&self, req: &HttpRequest) -> Option<VerifiedSignIn> {
        let id = req.cookie(SESSION_COOKIE)?;
        let sessions = self.sessions.lock().ok()?;
        let (started, sign_in) = sessions.get(id.value())?;
        (started.elapsed() < SESSION_LIFETIME).then(|| sign_in.clone())
    }

    /// `POST /logout`: ends the session.
    pub fn logout(&self, req: &HttpRequest) -> HttpResponse {
        if let (Some(id), Ok(mut s)) = (req.cookie(SESSION_COOKIE), self.sessions.lock()) {
            s.remove(id.value());
        }
        let mut gone = self.cookie(SESSION_COOKIE, String::new(), CookieDuration::ZERO);
        gone.make_removal();
        HttpResponse::Found()
            .insert_header((header::LOCATION, self.home.clone()))
            .cookie(gone)
            .finish()
    }
}

/// Renders an SDK error as a response that tells the person nothing the site's logs
/// should not: `400` for a refused or unverifiable sign-in, `502` when the broker cannot
/// be reached.
impl actix_web::ResponseError for Error {
    fn status_code(&self) -> actix_web::http::StatusCode {
        match self {
            Error::Transport(_) | Error::Discovery(_) => actix_web::http::StatusCode::BAD_GATEWAY,
            _ => actix_web::http::StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code())
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .content_type("text/plain; charset=utf-8")
            .body(format!("The sign-in failed: {self}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Config;

    fn integration(key: u8) -> Integration {
        let client = Client::offline(Config::new(
            "https://login.example.com",
            "shop",
            "https://s/cb",
        ));
        Integration::new(Arc::new(client), [key; 32], true)
    }

    #[test]
    fn the_pending_cookie_is_sealed_bound_to_its_key_and_expires() {
        let lk = integration(1);
        let pending = PendingLogin::new();
        let sealed = lk.seal(&pending).unwrap();
        assert!(!sealed.contains(pending.verifier()) && !sealed.contains(&pending.state));
        let opened = lk.open(&sealed).unwrap();
        assert_eq!(opened.verifier(), pending.verifier());
        assert_eq!(opened.state, pending.state);
        assert!(integration(2).open(&sealed).is_none(), "another key");
        assert!(lk.open("not base64 !").is_none());
        assert!(lk.open(&sealed[..sealed.len() - 2]).is_none(), "truncated");

        // Past its expiry it is refused, whatever the browser kept.
        let stale = serde_json::to_vec(&Sealed {
            pending,
            expires: unix_now() - 1,
        })
        .unwrap();
        let nonce = [0u8; 12];
        let ct = lk
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &stale,
                    aad: PENDING_COOKIE.as_bytes(),
                },
            )
            .unwrap();
        assert!(
            lk.open(&URL_SAFE_NO_PAD.encode([&nonce[..], &ct].concat()))
                .is_none()
        );
    }

    #[test]
    fn login_redirects_with_a_secure_http_only_cookie() {
        let res = integration(1).login(&AuthorizeOptions::default());
        assert_eq!(res.status().as_u16(), 302);
        let location = res
            .headers()
            .get(header::LOCATION)
            .unwrap()
            .to_str()
            .unwrap();
        assert!(location.starts_with("https://login.example.com/authorize?"));
        let cookie = res.cookies().find(|c| c.name() == PENDING_COOKIE).unwrap();
        assert_eq!(cookie.http_only(), Some(true));
        assert_eq!(cookie.secure(), Some(true));
        assert_eq!(cookie.same_site(), Some(SameSite::Lax));
        assert_eq!(cookie.path(), Some("/"));
    }
}
