//! Per-client-IP rate limits: a fixed one-minute window counted in this process's memory.
//! Limits are therefore per instance; behind a load balancer of N instances a client gets
//! at most N times the limit, which still bounds guessing and flooding.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use crate::util::now;

/// A bucket name and a client.
type Key = (&'static str, IpAddr);
/// The current minute and the requests counted in it.
type Window = (i64, u32);

/// A fixed-window limiter keyed by client IP and bucket name.
pub struct RateLimiter {
    per_minute: u32,
    windows: Mutex<HashMap<Key, Window>>,
}

impl RateLimiter {
    /// A limiter allowing `per_minute` requests per client and bucket.
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a request; `Err(seconds)` to wait when the client is over its limit.
    pub fn check(&self, bucket: &'static str, ip: IpAddr) -> Result<(), u64> {
        let t = now();
        let window = t / 60;
        let Ok(mut w) = self.windows.lock() else {
            return Ok(());
        };
        if w.len() > 100_000 {
            w.retain(|_, (win, _)| *win == window);
        }
        let entry = w.entry((bucket, ip)).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        entry.1 += 1;
        if entry.1 > self.per_minute {
            Err((60 - t % 60).max(1) as u64)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_past_the_limit_and_keeps_buckets_and_clients_apart() {
        let l = RateLimiter::new(2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(l.check("x", a).is_ok());
        assert!(l.check("x", a).is_ok());
        let wait = l.check("x", a).unwrap_err();
        assert!((1..=60).contains(&wait));
        assert!(l.check("y", a).is_ok());
        assert!(l.check("x", b).is_ok());
    }
}
