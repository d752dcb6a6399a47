//! Build, parse, validate and fetch WebAuthn Related Origin Requests documents.
//!
//! A site serves `https://{rp_id}/.well-known/webauthn` as `{"origins": [...]}` to let
//! other origins run WebAuthn ceremonies for its RP ID. Chromium honours at most
//! [`MAX_LABELS`] distinct eTLD+1 labels per document; this crate models that rule,
//! builds the documents the broker publishes, and fetches and checks the documents
//! that `site`-mode tenants publish.

mod document;
mod fetch;
mod origin;

pub use document::{
    DocumentError, Evaluation, LabelLimitError, WellKnownDocument, check_label_limit,
    distinct_labels,
};
pub use fetch::{Check, FetchError, Fetcher, FetcherConfig, document_url, validate_rp_id};
pub use origin::{Origin, OriginError};

/// The largest document accepted, in bytes (64 KiB).
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// Chromium honours at most this many distinct eTLD+1 labels in one document.
pub const MAX_LABELS: usize = 5;

/// The path of the document on a site.
pub const WELL_KNOWN_PATH: &str = "/.well-known/webauthn";
