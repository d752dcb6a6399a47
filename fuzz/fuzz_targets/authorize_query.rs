//! The `/authorize` query string: form decoding with duplicate detection, then every
//! domain parser the handler applies to its values.
#![no_main]

use latchkey::domain::{ClientId, CodeChallenge, RedirectUri, State};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let (params, duplicate) = latchkey::web::read_query(query);
    if let Some(k) = &duplicate {
        assert!(params.contains_key(k));
    }
    for v in params.values() {
        let _ = ClientId::parse(v);
        let _ = CodeChallenge::parse(v);
        if let Ok(s) = State::parse(v) {
            assert!(s.as_str().bytes().all(|b| (0x20..=0x7e).contains(&b)));
        }
        if let Ok(r) = RedirectUri::parse(v) {
            assert_eq!(r.as_str(), v, "a redirect URI is kept exactly as given");
            let _ = r.with_query(&[("code", "c"), ("state", v)]);
        }
    }
    let scope = latchkey::signin::authorize::granted_scope(
        params.get("scope").map_or("openid", String::as_str),
    );
    assert!(scope == "openid" || scope == "openid email");
});
