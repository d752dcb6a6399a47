//! Test support for Latchkey's end-to-end suites: a software authenticator, an independent
//! re-verifier of redeemed sign-ins (PROTOCOL §5), and a harness that runs the real
//! `latchkey` binary on port 0 with its own temporary database.

pub mod authenticator;
pub mod browser;
pub mod harness;
pub mod proxy;
pub mod smtp;
pub mod tls;
pub mod verify;
