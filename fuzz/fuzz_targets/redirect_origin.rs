//! Redirect URI and origin validation: registration parsing, exact matching, the
//! Related Origin Requests origin parser and RP ID checks.
#![no_main]

use latchkey::domain::{RedirectUri, RpId};
use latchkey_well_known::Origin;
use libfuzzer_sys::fuzz_target;

const REGISTERED: &str = "https://site.example/cb";

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let registered = vec![REGISTERED.to_owned()];
    assert_eq!(RedirectUri::is_registered(&registered, s), s == REGISTERED);
    if let Ok(r) = RedirectUri::parse(s) {
        let url = url::Url::parse(r.as_str()).expect("a parsed redirect URI is a URL");
        assert!(url.fragment().is_none() && url.username().is_empty());
        assert!(url.scheme() == "https" || url.scheme() == "http");
    }
    if let Ok(o) = Origin::parse(s) {
        let again = Origin::parse(o.as_str()).expect("an origin reparses");
        assert_eq!(again.as_str(), o.as_str());
        let _ = o.is_within_rp_id("example.com");
        let _ = o.etld1_label();
    }
    if let Ok(rp) = RpId::parse("rp_id", s) {
        let _ = rp.covers_host("login.example.com");
    }
    let _ = latchkey_well_known::validate_rp_id(s);
});
