//! The sign-in as the contract states it (PROTOCOL §2–§5), below the HTTP routes: the
//! routes extract a request, call one function here, and map its typed outcome or its
//! [`SignInError`] to the answer. Audit events and metrics of an outcome are recorded
//! here, once.
//!
//! - [`authorize`]: an authorization request checked and its flow opened (PROTOCOL §2).
//! - [`account`]: the account page's session and its passkey management (PROTOCOL §9).
//! - [`flow`]: a flow opened for a ceremony call (alive, bound to its browser, unfinished).
//! - [`ceremony`]: options, and the verification of assertions and attestations.
//! - [`passkey`]: a tenant's relying party and a new passkey verified against its
//!   policy, shared by the ceremonies above it.
//! - [`code`]: a verified ceremony becomes the flow's code, in one transaction.
//! - [`recovery`]: whether recovery is offered, and the mails of E4 (verification,
//!   recovery link, notice), sent off the request path.
//! - [`email_links`]: using those links: an address verified, a recovery link asked
//!   for, the recovery ceremony that enrols a passkey with one (PROTOCOL E4).
//! - [`redeem`]: a code for a verified identity, for every door it is presented at.

pub mod account;
pub mod authorize;
pub mod ceremony;
pub mod code;
pub mod email_links;
mod error;
pub mod flow;
pub mod passkey;
pub mod recovery;
pub mod redeem;

pub use error::SignInError;
