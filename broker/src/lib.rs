//! Latchkey: a hosted passkey sign-in broker.
//!
//! A site sends a browser to [`/authorize`](routes::authorize); the hosted page runs a
//! WebAuthn ceremony through the [ceremony API](routes::ceremony); the broker sends the
//! browser back with a one-time code bound to the site's PKCE `code_challenge`; the
//! site's backend [redeems](routes::redeem) it for a verified identity and the signed
//! WebAuthn material. The wire contract is `PROTOCOL.md`; `ARCHITECTURE.md` walks
//! through the code.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod aaguids;
pub mod admin;
pub mod admission;
pub mod app;
pub mod assets;
pub mod cli;
pub mod config;
pub mod db;
pub mod demo;
pub mod domain;
pub mod errors;
pub mod guard;
pub mod i18n;
pub mod keys;
pub mod mail;
pub mod metrics;
pub mod pages;
pub mod passkeys;
pub mod policy;
pub mod ratelimit;
pub mod routes;
pub mod security;
pub mod signin;
pub mod state;
pub mod store;
pub mod templates;
pub mod util;
pub mod web;
