//! Admission control: a bound on the requests one instance handles at once. Past it a
//! request is refused at once (`503` with `Retry-After`) instead of queueing without
//! bound; new sign-ins are admitted only below half of it, so that flows already
//! started finish first.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// Admission control: a bound on the requests this instance handles at once.
///
/// Past its capacity a server that accepts every request only queues them: each waits
/// longer, holds its connection and buffers longer, and memory grows with the queue
/// while nothing is served faster. So a request that arrives when `max` requests are
/// already in progress is answered `503` with `Retry-After: 1` at once, without touching
/// the database. New sign-ins (`GET /authorize`) are admitted only below half of `max`:
/// under overload the flows already started (their ceremony calls and redeems) keep the
/// capacity and finish, and people are turned away at the first step, where a retry
/// costs them nothing. Health, readiness, metrics and the static assets are never
/// refused nor counted, so that an operator and the hosted page still work.
pub struct Admission {
    in_flight: Arc<AtomicU32>,
    max: u32,
}

/// A request refused by [`Admission`]: the instance is at its bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overloaded;

/// One admitted request; its drop gives the place back.
#[derive(Debug)]
pub struct Permit(Arc<AtomicU32>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Admission {
    /// A bound of `max` requests at once (`LATCHKEY_MAX_IN_FLIGHT`).
    pub fn new(max: u32) -> Self {
        Self {
            in_flight: Arc::new(AtomicU32::new(0)),
            max,
        }
    }

    /// Requests in progress now.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Admits a request (`Ok(Some(permit))`), lets an exempt one through uncounted
    /// (`Ok(None)`), or refuses it.
    pub fn admit(
        &self,
        method: &actix_web::http::Method,
        path: &str,
    ) -> Result<Option<Permit>, Overloaded> {
        if matches!(path, "/healthz" | "/readyz" | "/metrics" | "/favicon.ico")
            || path.starts_with("/static/")
        {
            return Ok(None);
        }
        let limit = if method == actix_web::http::Method::GET && path == "/authorize" {
            self.max / 2
        } else {
            self.max
        };
        let before = self.in_flight.fetch_add(1, Ordering::AcqRel);
        if before >= limit {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return Err(Overloaded);
        }
        Ok(Some(Permit(self.in_flight.clone())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::Method;

    #[test]
    fn admission_keeps_half_the_places_for_flows_already_started() {
        let a = Admission::new(4);
        let first = a.admit(&Method::GET, "/authorize").unwrap();
        let second = a.admit(&Method::GET, "/authorize").unwrap();
        assert!(first.is_some() && second.is_some());
        // Two in flight: a third new sign-in is refused, a ceremony call is not.
        assert!(a.admit(&Method::GET, "/authorize").is_err());
        let call = a
            .admit(&Method::POST, "/api/v1/flows/x/authentication")
            .unwrap();
        let redeem = a.admit(&Method::POST, "/api/v1/sign-ins/redeem").unwrap();
        assert_eq!(a.in_flight(), 4);
        assert!(
            a.admit(&Method::POST, "/api/v1/sign-ins/redeem").is_err(),
            "the fifth request is over the bound"
        );
        // Exempt paths pass uncounted even now.
        assert!(matches!(a.admit(&Method::GET, "/readyz"), Ok(None)));
        assert!(matches!(
            a.admit(&Method::GET, "/static/latchkey.js"),
            Ok(None)
        ));
        assert!(matches!(a.admit(&Method::GET, "/favicon.ico"), Ok(None)));
        assert_eq!(a.in_flight(), 4, "a refusal gives its place back at once");
        drop((call, redeem, first));
        assert_eq!(a.in_flight(), 1);
        let again = a.admit(&Method::GET, "/authorize").unwrap();
        assert!(again.is_some());
        assert_eq!(a.in_flight(), 2);
    }
}
