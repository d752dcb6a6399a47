//! Property tests of the rules an attacker probes: PKCE (RFC 7636), exact redirect URI
//! matching (RFC 9700 §4.1.1), and the canonical signed message of PROTOCOL §5.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use base64::Engine as _;
use latchkey::domain::{CodeChallenge, CodeVerifier, RedirectUri};
use latchkey::signin::ceremony::signed_message;
use proptest::prelude::*;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

const VERIFIER_CHARS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn challenge_of(verifier: &str) -> String {
    b64(&Sha256::digest(verifier.as_bytes()))
}

prop_compose! {
    fn verifier()(len in 43usize..=128, seed in proptest::collection::vec(0usize..66, 128)) -> String {
        seed[..len].iter().map(|i| VERIFIER_CHARS.as_bytes()[*i] as char).collect()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Every RFC 7636 verifier satisfies its own S256 challenge and no other verifier does.
    #[test]
    fn a_verifier_satisfies_its_own_challenge_and_only_it(v in verifier(), other in verifier(), at in 0usize..128) {
        let parsed = CodeVerifier::parse(&v).unwrap();
        let challenge = CodeChallenge::parse(&challenge_of(&v)).unwrap();
        prop_assert!(challenge.is_satisfied_by(&parsed));
        if other != v {
            prop_assert!(!challenge.is_satisfied_by(&CodeVerifier::parse(&other).unwrap()));
        }
        // One character changed anywhere is another verifier.
        let mut bytes = v.clone().into_bytes();
        let i = at % bytes.len();
        bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
        let changed = String::from_utf8(bytes).unwrap();
        prop_assert!(!challenge.is_satisfied_by(&CodeVerifier::parse(&changed).unwrap()));
    }

    /// Anything outside 43–128 characters of the unreserved set is refused as a verifier,
    /// and a challenge is exactly 43 base64url characters.
    #[test]
    fn malformed_verifiers_and_challenges_are_refused(s in "\\PC{0,200}") {
        let valid = (43..=128).contains(&s.len()) && s.bytes().all(|b| VERIFIER_CHARS.as_bytes().contains(&b));
        prop_assert_eq!(CodeVerifier::parse(&s).is_ok(), valid);
        let valid_challenge = s.len() == 43 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        prop_assert_eq!(CodeChallenge::parse(&s).is_ok(), valid_challenge);
    }

    /// Redirect URIs match as exact strings, nothing else: a presented URI is accepted if
    /// and only if it is byte for byte one of the registered ones.
    #[test]
    fn redirect_uris_match_exactly(registered in proptest::collection::vec("https://[a-z]{1,8}\\.example(:[0-9]{2,4})?/[a-z/]{0,10}(\\?[a-z]=[a-z0-9]{1,4})?", 1..4), presented in "\\PC{0,60}") {
        prop_assert_eq!(RedirectUri::is_registered(&registered, &presented), registered.contains(&presented));
        for r in &registered {
            prop_assert!(RedirectUri::is_registered(&registered, r));
        }
    }

    /// The variants an attacker tries on a registered URI never match it.
    #[test]
    fn variants_of_a_registered_uri_never_match(host in "[a-z]{1,10}", path in "[a-z]{1,10}", variant in 0usize..12) {
        let uri = format!("https://{host}.example/{path}");
        let registered = vec![uri.clone()];
        let candidate = match variant {
            0 => format!("https://{}.example/{path}", host.to_uppercase()),
            1 => format!("https://{host}.example./{path}"),
            2 => format!("https://{host}.example/{path}/"),
            3 => format!("https://{host}.example:443/{path}"),
            4 => format!("https://evil@{host}.example/{path}"),
            5 => format!("https://{host}.example@evil.example/{path}"),
            6 => format!("https://{host}.example\\@evil.example/{path}"),
            7 => format!("https://{host}.example/{path}/../{path}"),
            8 => format!("https://{host}.example/%{:02X}{}", path.as_bytes()[0], &path[1..]),
            9 => format!("HTTPS://{host}.example/{path}"),
            10 => format!("{uri}?x=1"),
            _ => format!("{uri}#x"),
        };
        prop_assert!(!RedirectUri::is_registered(&registered, &candidate), "{candidate}");
    }

    /// The signed message is canonical JSON for any values: it parses, has exactly the
    /// seven members with their values, and equals the compact serialisation with sorted
    /// keys; the challenge is its SHA-256.
    #[test]
    fn the_signed_message_is_canonical_for_any_values(
        aud in "\\PC{0,20}|[\"\\\\\u{0}-\u{1f}]{0,5}",
        challenge in "\\PC{0,50}",
        flow in "\\PC{0,30}",
        iat in any::<i64>(),
        iss in "\\PC{0,40}",
        rp_id in "\\PC{0,30}|[\u{80}-\u{10FFFF}]{0,5}",
    ) {
        let (msg, hash) = signed_message(&aud, &challenge, &flow, iat, &iss, &rp_id);
        let parsed: serde_json::Map<String, Value> = serde_json::from_str(&msg).unwrap();
        let keys: Vec<&str> = parsed.keys().map(String::as_str).collect();
        prop_assert_eq!(keys, vec!["aud", "code_challenge", "flow", "iat", "iss", "nonce", "rp_id"]);
        prop_assert_eq!(parsed["aud"].as_str(), Some(aud.as_str()));
        prop_assert_eq!(parsed["code_challenge"].as_str(), Some(challenge.as_str()));
        prop_assert_eq!(parsed["flow"].as_str(), Some(flow.as_str()));
        prop_assert_eq!(parsed["iat"].as_i64(), Some(iat));
        prop_assert_eq!(parsed["iss"].as_str(), Some(iss.as_str()));
        prop_assert_eq!(parsed["rp_id"].as_str(), Some(rp_id.as_str()));
        let canonical: BTreeMap<&String, &Value> = parsed.iter().collect();
        prop_assert_eq!(&serde_json::to_string(&canonical).unwrap(), &msg);
        let digest: [u8; 32] = Sha256::digest(msg.as_bytes()).into();
        prop_assert_eq!(hash, digest);
    }
}
