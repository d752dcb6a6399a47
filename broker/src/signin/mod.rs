//! The sign-in as the contract states it (PROTOCOL §2–§5), below the HTTP routes: the
//! routes extract a request, call one function here, and map its typed outcome or its
//! [`SignInError`] to the answer. Audit events and metrics of an outcome are recorded
//! here, once.
//!
//! - [`redeem`]: a code for a verified identity, for every door it is presented at.

mod error;
pub mod redeem;

pub use error::SignInError;
