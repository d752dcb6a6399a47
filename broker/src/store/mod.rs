//! Persistence, one module per aggregate. Single-use things (challenges, codes, email
//! links) are consumed by one atomic statement so that under any concurrency exactly one
//! caller wins.

pub mod accounts;
pub mod admin;
pub mod audit;
pub mod email_tokens;
pub mod flows;
pub mod tenants;
pub mod tokens;
