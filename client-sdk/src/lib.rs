//! The Latchkey client SDK: what a site needs to sign people in with passkeys through a
//! Latchkey broker. PKCE (RFC 7636, S256), `state` and `nonce`; the callback's `iss`
//! (RFC 9207); the redeem; id_token validation against the broker's JWKS; and, on by
//! default, re-verification that the person's authenticator signed over this site's own
//! `code_challenge` (PROTOCOL §5), so the site need not take the broker's word for it.
//!
//! ```no_run
//! use latchkey_client::{AuthorizeOptions, Callback, Client, Config};
//!
//! # async fn site() -> Result<(), latchkey_client::Error> {
//! let config = Config::new("https://login.example.com", "shop", "https://shop.example/callback");
//! let client = Client::discover(config).await?;
//!
//! // 1. Send the browser to the broker; keep `pending` (server side or encrypted cookie).
//! let (url, pending) = client.authorize(&AuthorizeOptions::default())?;
//! println!("redirect to {url}");
//!
//! // 2. On the redirect back: check, redeem, validate, re-verify.
//! let callback = Callback::from_query("code=…&state=…&iss=…");
//! let sign_in = client.finish(&callback, &pending).await?;
//! println!("{} signed in (new account: {})", sign_in.sub, sign_in.new_user);
//! # Ok(()) }
//! ```
//!
//! [`Client::finish`] is [`Client::redeem`] (a typed [`Redemption`]) followed by
//! [`Client::check`] (id_token, then [`Client::reverify`]), and answers a
//! [`VerifiedSignIn`]: the broker's [`SignIn`] with the id_token's claims. Call them
//! separately to keep the raw material. The wire types ([`SignIn`], [`Material`],
//! [`Redemption`], [`ErrorCode`]) are those of the `latchkey-proto` crate, the very
//! types the broker writes. In `site` mode, tell the client the site's RP ID with
//! [`Config::rp_id`]; by default it expects the issuer's host (the broker's RP ID).
//!
//! Failures are an [`Error`] that says where they come from: the broker's OAuth error
//! (its code typed by [`Error::code`]), the transport, discovery, the callback, the
//! id_token, or a [`VerifyError`] naming the re-verification step that failed.
//!
//! With the `actix` feature, `actix::Integration` gives ready `login`, `callback` and
//! `logout` handlers (an encrypted pending-login cookie, a new session id after sign-in);
//! `examples/demo_site.rs` is a complete site, and `docs/integration.md` in the
//! repository the whole guide.

// Imports run one way: `actix` → `client` → `verify` → `error`.
mod client;
mod error;
pub mod verify;

#[cfg(feature = "actix")]
pub mod actix;

pub use client::{
    AuthorizeOptions, Callback, Client, Config, Discovery, PendingLogin, Prompt, VerifiedSignIn,
};
pub use error::{Error, VerifyError};
pub use latchkey_proto::{Ceremony, ErrorCode, Material, Redemption, SignIn};
