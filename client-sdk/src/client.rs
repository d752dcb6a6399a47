//! The client: discovery, PKCE, the authorize URL, the callback, the redeem, id_token
//! validation and re-verification.

use std::sync::RwLock;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use latchkey_proto::{Redemption, SignIn};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use url::Url;

use crate::error::Error;
use crate::verify::{self, Expected};

/// How a site is registered with the broker. Build it with [`Config::new`] and the
/// setters below.
#[derive(Clone)]
#[non_exhaustive]
pub struct Config {
    /// The broker's issuer, e.g. `https://login.example.com`.
    pub issuer: String,
    /// The site's `client_id`.
    pub client_id: String,
    /// The registered redirect URI, exactly as registered.
    pub redirect_uri: String,
    /// The client secret of a confidential client.
    pub client_secret: Option<String>,
    /// The RP ID the site's passkeys are scoped to: the site's registrable domain in
    /// `site` mode, the broker's RP ID in `broker` mode. `None` means the issuer's host
    /// (the broker's default RP ID). Re-verification requires exactly this RP ID, never
    /// the one the broker's answer names.
    pub rp_id: Option<String>,
    /// Origins besides the issuer's allowed in client data (broker-mode related origins).
    pub related_origins: Vec<String>,
    /// Whether the UV flag must be set (the tenant's `user_verification: required`).
    pub user_verification_required: bool,
    /// How old the signed message may be when re-verified.
    pub max_age: Duration,
    /// Re-verify the passkey signature of every sign-in (PROTOCOL §5). On by default.
    pub reverify: bool,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .field("rp_id", &self.rp_id)
            .field("related_origins", &self.related_origins)
            .field("reverify", &self.reverify)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .finish_non_exhaustive()
    }
}

impl Config {
    /// A public client with re-verification on and UV required.
    pub fn new(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        redirect_uri: impl Into<String>,
    ) -> Self {
        Self {
            issuer: issuer.into().trim_end_matches('/').to_owned(),
            client_id: client_id.into(),
            redirect_uri: redirect_uri.into(),
            client_secret: None,
            rp_id: None,
            related_origins: Vec::new(),
            user_verification_required: true,
            max_age: Duration::from_secs(300),
            reverify: true,
        }
    }

    /// Sets the client secret (confidential client).
    pub fn client_secret(mut self, secret: impl Into<String>) -> Self {
        self.client_secret = Some(secret.into());
        self
    }

    /// Sets the RP ID the site's passkeys must be scoped to (`site` mode: the site's
    /// registrable domain, e.g. `shop.example`; `broker` mode: the broker's RP ID when it
    /// is not the issuer's host).
    pub fn rp_id(mut self, rp_id: impl Into<String>) -> Self {
        self.rp_id = Some(rp_id.into());
        self
    }

    /// How old (at most) the signed message of a sign-in may be; 5 minutes by default.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// Turns the re-verification of the passkey signature (PROTOCOL §5) on or off. It
    /// is on by default; turning it off means trusting the broker's word.
    pub fn reverify(mut self, on: bool) -> Self {
        self.reverify = on;
        self
    }

    /// The RP ID re-verification expects: [`Config::rp_id`], or the issuer's host.
    pub fn expected_rp_id(&self) -> Result<String, Error> {
        if let Some(rp_id) = &self.rp_id {
            return Ok(rp_id.clone());
        }
        Url::parse(&self.issuer)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .ok_or_else(|| Error::Discovery(format!("issuer {} has no host", self.issuer)))
    }

    /// The origins re-verification accepts in client data: the issuer's origin and the
    /// related origins.
    pub fn expected_origins(&self) -> Result<Vec<String>, Error> {
        let issuer = Url::parse(&self.issuer)
            .map_err(|e| Error::Discovery(format!("issuer {}: {e}", self.issuer)))?;
        let mut origins = vec![issuer.origin().ascii_serialization()];
        origins.extend(self.related_origins.iter().cloned());
        Ok(origins)
    }

    /// Accepts client data from a related origin too (broker mode, embedded ceremonies).
    /// The origin is compared in its serialised form (`https://host[:port]`), so a
    /// trailing slash or path given here is dropped.
    pub fn related_origin(mut self, origin: impl Into<String>) -> Self {
        let origin = origin.into();
        let origin = match Url::parse(&origin) {
            Ok(url) if url.origin().is_tuple() => url.origin().ascii_serialization(),
            _ => origin,
        };
        self.related_origins.push(origin);
        self
    }

    /// Matches the tenant's `user_verification` policy (`preferred` → `false`).
    pub fn user_verification_required(mut self, required: bool) -> Self {
        self.user_verification_required = required;
        self
    }
}

/// The endpoints of `/.well-known/openid-configuration`.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    /// The issuer; must equal the configured one.
    pub issuer: String,
    /// `/authorize`.
    pub authorization_endpoint: String,
    /// `/oauth/token`.
    pub token_endpoint: String,
    /// `/oauth/jwks`.
    pub jwks_uri: String,
    /// `POST /api/v1/sign-ins/redeem`.
    #[serde(default)]
    pub latchkey_redeem_endpoint: Option<String>,
    /// `GET /account`: the hosted account page (PROTOCOL §9).
    #[serde(default)]
    pub latchkey_account_endpoint: Option<String>,
}

/// What the broker should open on: sign-in (default) or passkey creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// The sign-in view.
    Login,
    /// The "create a passkey" view.
    Create,
}

/// Options of one authorization request.
#[derive(Debug, Clone, Default)]
pub struct AuthorizeOptions {
    /// The view to open first.
    pub prompt: Option<Prompt>,
    /// An email to prefill.
    pub login_hint: Option<String>,
    /// Ask for the `email` scope.
    pub email: bool,
    /// Further scopes to ask for, after `openid` (and `email`).
    pub scopes: Vec<String>,
}

/// What the site keeps between the redirect to the broker and the callback: the PKCE
/// verifier (RFC 7636), `state` and `nonce`. Keep it server side or in an encrypted
/// cookie; its `Debug` never prints the verifier.
#[derive(Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    /// The `state` sent.
    pub state: String,
    /// The `nonce` sent (echoed in the id_token).
    pub nonce: String,
    verifier: String,
}

impl std::fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingLogin")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

fn random(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

impl PendingLogin {
    /// A fresh login: a 256-bit verifier from the operating system's CSPRNG, state, nonce.
    pub fn new() -> Self {
        Self {
            state: random(16),
            nonce: random(16),
            verifier: random(32),
        }
    }

    /// BASE64URL(SHA-256(verifier)): the S256 `code_challenge`.
    pub fn code_challenge(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.verifier.as_bytes()))
    }

    /// The PKCE verifier, for the redeem.
    pub fn verifier(&self) -> &str {
        &self.verifier
    }
}

impl Default for PendingLogin {
    fn default() -> Self {
        Self::new()
    }
}

/// The query of the redirect back to the site.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Callback {
    /// The one-time code.
    pub code: Option<String>,
    /// The state, to compare with the pending login's.
    pub state: Option<String>,
    /// The issuer (RFC 9207).
    pub iss: Option<String>,
    /// An error code instead of a code.
    pub error: Option<String>,
    /// Its description.
    pub error_description: Option<String>,
}

impl Callback {
    /// Parses a query string (`code=…&state=…&iss=…`).
    pub fn from_query(query: &str) -> Self {
        let mut c = Self::default();
        for (k, v) in url::form_urlencoded::parse(query.trim_start_matches('?').as_bytes()) {
            let slot = match k.as_ref() {
                "code" => &mut c.code,
                "state" => &mut c.state,
                "iss" => &mut c.iss,
                "error" => &mut c.error,
                "error_description" => &mut c.error_description,
                _ => continue,
            };
            *slot = Some(v.into_owned());
        }
        c
    }
}

/// A sign-in the SDK has checked: the broker's [`SignIn`] (its members read through
/// `Deref`: `signed_in.sub`, `signed_in.passkey_id`, …) with the claims of its validated
/// id_token. What [`Client::finish`] and [`Client::check`] answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifiedSignIn {
    /// The sign-in as the broker stated it, checked.
    pub sign_in: SignIn,
    /// The validated id_token's claims.
    pub id_token_claims: Value,
}

impl std::ops::Deref for VerifiedSignIn {
    type Target = SignIn;

    fn deref(&self) -> &SignIn {
        &self.sign_in
    }
}

/// A Latchkey client for one site.
pub struct Client {
    config: Config,
    http: reqwest::Client,
    discovery: Discovery,
    jwks: RwLock<Option<JwkSet>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

async fn json_or_oauth_error(res: reqwest::Response) -> Result<Value, Error> {
    let status = res.status().as_u16();
    let body: Value = res
        .json()
        .await
        .map_err(|e| Error::Transport(format!("answer is not JSON: {e}")))?;
    if (200..300).contains(&status) {
        return Ok(body);
    }
    Err(Error::OAuth {
        status,
        error: body["error"].as_str().unwrap_or("unknown_error").to_owned(),
        description: body["error_description"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    })
}

impl Client {
    /// Fetches the broker's discovery document and checks its issuer.
    pub async fn discover(config: Config) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()?;
        Self::discover_with(config, http).await
    }

    /// Like [`Client::discover`] with a reqwest client of your own.
    pub async fn discover_with(config: Config, http: reqwest::Client) -> Result<Self, Error> {
        let url = format!("{}/.well-known/openid-configuration", config.issuer);
        let res = http.get(&url).send().await?;
        if !res.status().is_success() {
            return Err(Error::Discovery(format!("{url} answered {}", res.status())));
        }
        let discovery: Discovery = res
            .json()
            .await
            .map_err(|e| Error::Discovery(e.to_string()))?;
        if discovery.issuer != config.issuer {
            return Err(Error::Discovery(format!(
                "the document's issuer {} is not the configured {}",
                discovery.issuer, config.issuer
            )));
        }
        Ok(Self {
            config,
            http,
            discovery,
            jwks: RwLock::new(None),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The broker's discovery document, fetched once by [`Client::discover`].
    pub fn discovery(&self) -> &Discovery {
        &self.discovery
    }

    /// The address of this site's account page at the broker (PROTOCOL §9), where a
    /// person adds a backup passkey, names their passkeys and removes one they lost.
    /// `return_to`, when given, must be exactly one of the site's registered redirect
    /// URIs (the page links back to it); `None` leaves the link out.
    pub fn account_url(&self, return_to: Option<&str>) -> Result<Url, Error> {
        let mut url = match &self.discovery.latchkey_account_endpoint {
            Some(endpoint) => Url::parse(endpoint),
            None => Url::parse(&self.discovery.authorization_endpoint).map(|mut u| {
                u.set_path("/account");
                u.set_query(None);
                u
            }),
        }
        .map_err(|e| Error::Discovery(e.to_string()))?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", &self.config.client_id);
            if let Some(r) = return_to {
                q.append_pair("return_to", r);
            }
        }
        Ok(url)
    }

    /// Starts a login: the URL to send the browser to, and what to keep until the callback.
    pub fn authorize(&self, options: &AuthorizeOptions) -> Result<(Url, PendingLogin), Error> {
        let pending = PendingLogin::new();
        let mut scopes = vec!["openid"];
        if options.email {
            scopes.push("email");
        }
        for extra in &options.scopes {
            if !scopes.contains(&extra.as_str()) {
                scopes.push(extra);
            }
        }
        let scope = scopes.join(" ");
        let mut url = Url::parse(&self.discovery.authorization_endpoint)
            .map_err(|e| Error::Discovery(e.to_string()))?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &self.config.client_id)
                .append_pair("redirect_uri", &self.config.redirect_uri)
                .append_pair("code_challenge", &pending.code_challenge())
                .append_pair("code_challenge_method", "S256")
                .append_pair("state", &pending.state)
                .append_pair("nonce", &pending.nonce)
                .append_pair("scope", &scope);
            match options.prompt {
                Some(Prompt::Create) => {
                    q.append_pair("prompt", "create");
                }
                Some(Prompt::Login) => {
                    q.append_pair("prompt", "login");
                }
                None => {}
            }
            if let Some(h) = &options.login_hint {
                q.append_pair("login_hint", h);
            }
        }
        Ok((url, pending))
    }

    /// Finishes a login from the callback: checks `state` (constant time) and `iss`
    /// (RFC 9207), redeems the code with the verifier, validates the id_token, and
    /// re-verifies the passkey signature over this site's own `code_challenge`.
    pub async fn finish(
        &self,
        callback: &Callback,
        pending: &PendingLogin,
    ) -> Result<VerifiedSignIn, Error> {
        if let Some(e) = &callback.error {
            return Err(Error::Callback(format!(
                "the broker answered {e}: {}",
                callback.error_description.as_deref().unwrap_or_default()
            )));
        }
        let state = callback.state.as_deref().unwrap_or_default();
        if !bool::from(state.as_bytes().ct_eq(pending.state.as_bytes())) {
            return Err(Error::Callback(
                "state does not match the pending login".into(),
            ));
        }
        if callback.iss.as_deref() != Some(self.config.issuer.as_str()) {
            return Err(Error::Callback(
                "iss is not this broker's issuer (RFC 9207)".into(),
            ));
        }
        let code = callback
            .code
            .as_deref()
            .ok_or_else(|| Error::Callback("no code".into()))?;
        let answer = self.redeem(code, pending.verifier()).await?;
        self.check(&answer, pending).await
    }

    /// Redeems a code with its PKCE verifier at `POST /api/v1/sign-ins/redeem`. The
    /// answer is typed but unchecked: [`Client::check`] validates it ([`Client::finish`]
    /// does both). A code without its verifier is refused (`Error::OAuth`, `invalid_grant`).
    pub async fn redeem(&self, code: &str, verifier: &str) -> Result<Redemption, Error> {
        let endpoint = self
            .discovery
            .latchkey_redeem_endpoint
            .clone()
            .unwrap_or_else(|| format!("{}/api/v1/sign-ins/redeem", self.config.issuer));
        let mut body = json!({
            "client_id": self.config.client_id,
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": self.config.redirect_uri,
        });
        if let Some(s) = &self.config.client_secret {
            body["client_secret"] = s.clone().into();
        }
        let res = self.http.post(endpoint).json(&body).send().await?;
        let answer = json_or_oauth_error(res).await?;
        serde_json::from_value(answer)
            .map_err(|e| Error::Transport(format!("the redeem answer is not the contract: {e}")))
    }

    /// Checks a redeem answer: the id_token (signature by `kid` against the JWKS, `iss`,
    /// `aud`, `exp`, `nonce`, `sub`) and, unless turned off, the passkey signature over
    /// this site's own `code_challenge` (PROTOCOL §5, see [`Client::reverify`]).
    pub async fn check(
        &self,
        redemption: &Redemption,
        pending: &PendingLogin,
    ) -> Result<VerifiedSignIn, Error> {
        let claims = self.validate_id_token(&redemption.id_token).await?;
        if claims["nonce"].as_str() != Some(pending.nonce.as_str()) {
            return Err(Error::IdToken("nonce is not the pending login's".into()));
        }
        if claims["sub"].as_str() != Some(redemption.sign_in.sub.as_str()) {
            return Err(Error::IdToken("sub differs from the sign-in".into()));
        }
        if self.config.reverify {
            self.reverify(redemption, pending)?;
        }
        Ok(VerifiedSignIn {
            sign_in: redemption.sign_in.clone(),
            id_token_claims: claims,
        })
    }

    /// Re-verifies a redeem answer (PROTOCOL §5): the signed message names this site's
    /// `client_id`, issuer, RP ID and the `code_challenge` of `pending`, and is recent;
    /// the client data commits to it from an expected origin; the authenticator data is
    /// for the RP ID with UP (and UV when required); the signature verifies with the
    /// returned public key (or, for a creation, that key is the attested one).
    pub fn reverify(&self, redemption: &Redemption, pending: &PendingLogin) -> Result<(), Error> {
        let rp_id = self.config.expected_rp_id()?;
        let origins = self.config.expected_origins()?;
        let origins: Vec<&str> = origins.iter().map(String::as_str).collect();
        let challenge = pending.code_challenge();
        verify::verify(
            &redemption.sign_in,
            &redemption.verify,
            &Expected {
                code_challenge: &challenge,
                client_id: &self.config.client_id,
                rp_id: &rp_id,
                issuer: &self.config.issuer,
                origins: &origins,
                user_verification_required: self.config.user_verification_required,
                max_age_secs: i64::try_from(self.config.max_age.as_secs()).unwrap_or(i64::MAX),
            },
        )?;
        Ok(())
    }

    async fn jwks(&self, refresh: bool) -> Result<JwkSet, Error> {
        if !refresh && let Some(set) = self.jwks.read().ok().and_then(|g| g.clone()) {
            return Ok(set);
        }
        let set: JwkSet = self
            .http
            .get(&self.discovery.jwks_uri)
            .send()
            .await?
            .json()
            .await
            .map_err(|e| Error::Transport(format!("JWKS: {e}")))?;
        if let Ok(mut g) = self.jwks.write() {
            *g = Some(set.clone());
        }
        Ok(set)
    }

    /// Validates an id_token; an unknown `kid` refetches the JWKS once (key rotation).
    pub async fn validate_id_token(&self, token: &str) -> Result<Value, Error> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| Error::IdToken(e.to_string()))?;
        if header.alg != Algorithm::ES256 {
            return Err(Error::IdToken(format!("alg {:?} is not ES256", header.alg)));
        }
        let kid = header.kid.ok_or_else(|| Error::IdToken("no kid".into()))?;
        let mut set = self.jwks(false).await?;
        if set.find(&kid).is_none() {
            set = self.jwks(true).await?;
        }
        let jwk = set
            .find(&kid)
            .ok_or_else(|| Error::IdToken(format!("kid {kid} is not in the JWKS")))?;
        let key = DecodingKey::from_jwk(jwk).map_err(|e| Error::IdToken(e.to_string()))?;
        let mut v = Validation::new(Algorithm::ES256);
        v.set_issuer(&[&self.config.issuer]);
        v.set_audience(&[&self.config.client_id]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        jsonwebtoken::decode::<Value>(token, &key, &v)
            .map(|d| d.claims)
            .map_err(|e| Error::IdToken(e.to_string()))
    }
}

#[cfg(test)]
impl Client {
    /// A client with a fixed discovery document, for tests that need no broker.
    pub(crate) fn offline(config: Config) -> Self {
        let iss = config.issuer.clone();
        Self {
            config,
            http: reqwest::Client::new(),
            discovery: Discovery {
                issuer: iss.clone(),
                authorization_endpoint: format!("{iss}/authorize"),
                token_endpoint: format!("{iss}/oauth/token"),
                jwks_uri: format!("{iss}/oauth/jwks"),
                latchkey_redeem_endpoint: None,
                latchkey_account_endpoint: None,
            },
            jwks: RwLock::new(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn client() -> Client {
        Client::offline(Config::new(
            "https://login.example.com/",
            "shop",
            "https://shop.example/cb?x=1",
        ))
    }

    #[test]
    fn an_unreachable_broker_is_a_transport_error_with_its_cause() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let config = Config::new(format!("http://127.0.0.1:{port}"), "shop", "https://s/cb");
        match rt.block_on(Client::discover(config)) {
            Err(Error::Transport(m)) => assert!(m.contains("onnect"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_account_url_names_the_site_and_where_to_come_back() {
        let c = client();
        let url = c.account_url(Some("https://shop.example/cb?x=1")).unwrap();
        assert_eq!(url.path(), "/account");
        let q: HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["client_id"], "shop");
        assert_eq!(q["return_to"], "https://shop.example/cb?x=1");
        let bare = c.account_url(None).unwrap();
        assert_eq!(bare.query(), Some("client_id=shop"));
    }

    #[test]
    fn pkce_matches_rfc_7636_appendix_b() {
        let pending = PendingLogin {
            state: "s".into(),
            nonce: "n".into(),
            verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into(),
        };
        assert_eq!(
            pending.code_challenge(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn fresh_logins_are_random_and_well_formed() {
        let a = PendingLogin::new();
        let b = PendingLogin::new();
        assert_ne!(a.verifier(), b.verifier());
        assert_ne!(a.state, b.state);
        assert_ne!(a.nonce, b.nonce);
        // RFC 7636 §4.1: 43–128 unreserved characters.
        assert_eq!(a.verifier().len(), 43);
        assert!(
            a.verifier()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
        );
        assert_eq!(a.code_challenge().len(), 43);
        assert!(!format!("{a:?}").contains(a.verifier()));
    }

    #[test]
    fn the_authorize_url_carries_every_parameter() {
        let client = client();
        let (url, pending) = client
            .authorize(&AuthorizeOptions {
                prompt: Some(Prompt::Login),
                login_hint: Some("ada@example.com".into()),
                email: true,
                scopes: vec!["email".into(), "profile".into()],
            })
            .unwrap();
        assert!(
            url.as_str()
                .starts_with("https://login.example.com/authorize?")
        );
        let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["client_id"], "shop");
        assert_eq!(q["redirect_uri"], "https://shop.example/cb?x=1");
        assert_eq!(q["code_challenge"], pending.code_challenge());
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["state"], pending.state);
        assert_eq!(q["nonce"], pending.nonce);
        assert_eq!(q["scope"], "openid email profile");
        assert_eq!(q["prompt"], "login");
        assert_eq!(q["login_hint"], "ada@example.com");

        let (url, _) = client.authorize(&AuthorizeOptions::default()).unwrap();
        let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(q["scope"], "openid");
        assert!(!q.contains_key("prompt") && !q.contains_key("login_hint"));
    }

    #[test]
    fn the_config_derives_rp_id_and_origins_from_the_issuer() {
        let config = Config::new("https://login.example.com:8443/", "shop", "https://s/cb");
        assert_eq!(config.issuer, "https://login.example.com:8443");
        assert_eq!(config.expected_rp_id().unwrap(), "login.example.com");
        assert_eq!(
            config.expected_origins().unwrap(),
            ["https://login.example.com:8443"]
        );
        let config = config
            .rp_id("shop.example")
            .related_origin("https://shop.example/")
            .client_secret("hunter2");
        assert_eq!(config.expected_rp_id().unwrap(), "shop.example");
        assert_eq!(
            config.expected_origins().unwrap(),
            ["https://login.example.com:8443", "https://shop.example"]
        );
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn callbacks_parse_and_bad_ones_are_refused_before_any_redeem() {
        let cb =
            Callback::from_query("?code=c%2B1&state=s&iss=https%3A%2F%2Flogin.example.com&x=y");
        assert_eq!(cb.code.as_deref(), Some("c+1"));
        assert_eq!(cb.state.as_deref(), Some("s"));
        assert_eq!(cb.iss.as_deref(), Some("https://login.example.com"));

        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let client = client();
        let pending = PendingLogin::new();
        let finish =
            |query: String| rt.block_on(client.finish(&Callback::from_query(&query), &pending));
        let iss = "https%3A%2F%2Flogin.example.com";
        let state = &pending.state;
        for (query, what) in [
            (format!("code=c&state=other&iss={iss}"), "state"),
            (format!("code=c&iss={iss}"), "state"),
            (format!("code=c&state={state}"), "iss"),
            (
                format!("code=c&state={state}&iss=https%3A%2F%2Fevil.example"),
                "iss",
            ),
            (format!("state={state}&iss={iss}"), "no code"),
            (
                format!("error=access_denied&error_description=no&state={state}&iss={iss}"),
                "access_denied",
            ),
        ] {
            match finish(query.clone()) {
                Err(Error::Callback(m)) => assert!(m.contains(what), "{query}: {m}"),
                other => panic!("{query}: {other:?}"),
            }
        }
    }
}
