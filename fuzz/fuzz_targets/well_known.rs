//! `/.well-known/webauthn` documents as a site publishes them: parsing, and judging them
//! for the broker's origin with the five-label rule.
#![no_main]

use latchkey_well_known::{Origin, WellKnownDocument, distinct_labels};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = WellKnownDocument::parse(data) else {
        return;
    };
    let broker = Origin::parse("https://login.example.com").expect("origin");
    let _ = doc.evaluate(&broker);
    let origins: Vec<Origin> = doc
        .origins
        .iter()
        .filter_map(|o| Origin::parse(o).ok())
        .collect();
    let labels = distinct_labels(origins.iter());
    let rebuilt = WellKnownDocument::new(origins);
    let reparsed =
        WellKnownDocument::parse(rebuilt.to_json().as_bytes()).expect("own output parses");
    assert_eq!(reparsed.origins, rebuilt.origins);
    assert!(
        labels.len() <= rebuilt.origins.len(),
        "one label at most per origin"
    );
});
