//! The `/.well-known/webauthn` document and Chromium's evaluation of it.

use crate::{MAX_DOCUMENT_BYTES, MAX_LABELS, Origin};

/// Why bytes are not a valid `/.well-known/webauthn` document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DocumentError {
    /// More than [`MAX_DOCUMENT_BYTES`].
    #[error("the document is larger than 64 KiB: list fewer origins")]
    TooLarge,
    /// The bytes are not JSON.
    #[error("not JSON: {0}")]
    NotJson(String),
    /// JSON, but not an object.
    #[error(
        "the document must be a JSON object such as {{\"origins\": [\"https://example.com\"]}}"
    )]
    NotAnObject,
    /// `origins` is absent or is not an array of strings.
    #[error("the 'origins' member is missing or not a list of strings")]
    BadOrigins,
}

/// A `/.well-known/webauthn` document: `{"origins": [...]}`.
///
/// `origins` keeps the raw strings as published; use [`WellKnownDocument::evaluate`]
/// to see which of them a browser honours.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct WellKnownDocument {
    /// The origins as published, in order.
    pub origins: Vec<String>,
}

/// The outcome of [`WellKnownDocument::evaluate`].
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Evaluation {
    /// Whether the evaluated origin is honoured by the document.
    pub allowed: bool,
    /// Distinct eTLD+1 labels counted, in first-seen order (at most [`MAX_LABELS`]).
    pub labels: Vec<String>,
    /// Entries that are not valid origins (or have no registrable domain); browsers skip them.
    pub skipped: Vec<String>,
    /// Valid entries ignored because their label came after [`MAX_LABELS`] others.
    pub ignored: Vec<String>,
}

impl WellKnownDocument {
    /// Builds a document from origins, de-duplicated, order kept.
    pub fn new(origins: impl IntoIterator<Item = Origin>) -> Self {
        let mut out: Vec<String> = Vec::new();
        for o in origins {
            let s = String::from(o);
            if !out.contains(&s) {
                out.push(s);
            }
        }
        WellKnownDocument { origins: out }
    }

    /// Parses a published document: at most [`MAX_DOCUMENT_BYTES`], a JSON object whose
    /// `origins` member is an array of strings. Other members are allowed and dropped.
    pub fn parse(bytes: &[u8]) -> Result<Self, DocumentError> {
        if bytes.len() > MAX_DOCUMENT_BYTES {
            return Err(DocumentError::TooLarge);
        }
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| DocumentError::NotJson(e.to_string()))?;
        let object = value.as_object().ok_or(DocumentError::NotAnObject)?;
        let list = object
            .get("origins")
            .and_then(|v| v.as_array())
            .ok_or(DocumentError::BadOrigins)?;
        let origins = list
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or(DocumentError::BadOrigins)?;
        Ok(WellKnownDocument { origins })
    }

    /// The pretty-printed JSON a site must publish (no trailing newline).
    pub fn to_json(&self) -> String {
        format!("{:#}", serde_json::json!({ "origins": self.origins }))
    }

    /// Evaluates the document as Chromium does for a ceremony from `origin`.
    ///
    /// Walks the entries in order; unparsable entries and entries without a
    /// registrable domain are skipped. Distinct eTLD+1 labels are collected; an
    /// entry whose label is new once [`MAX_LABELS`] labels are collected is ignored.
    /// `origin` is allowed when it equals an entry that was not skipped or ignored.
    pub fn evaluate(&self, origin: &Origin) -> Evaluation {
        let mut ev = Evaluation::default();
        for raw in &self.origins {
            let Some((entry, label)) = Origin::parse(raw)
                .ok()
                .and_then(|o| o.etld1_label().map(|l| (o, l)))
            else {
                ev.skipped.push(raw.clone());
                continue;
            };
            if !ev.labels.contains(&label) {
                if ev.labels.len() >= MAX_LABELS {
                    ev.ignored.push(raw.clone());
                    continue;
                }
                ev.labels.push(label);
            }
            if entry == *origin {
                ev.allowed = true;
            }
        }
        ev
    }
}

/// Too many distinct eTLD+1 labels: browsers would ignore the new origin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
#[error(
    "'{label}' would be a 6th site label, but browsers honour at most 5 ({}): remove the origins of one of those sites first",
    labels.join(", ")
)]
pub struct LabelLimitError {
    /// The labels already in use, in first-seen order.
    pub labels: Vec<String>,
    /// The new label that would exceed the limit.
    pub label: String,
}

/// Counts the distinct eTLD+1 labels of `origins`, in first-seen order. Origins without
/// a registrable domain (localhost, IPs) count for nothing.
pub fn distinct_labels<'a>(origins: impl IntoIterator<Item = &'a Origin>) -> Vec<String> {
    let mut labels: Vec<String> = Vec::new();
    for label in origins.into_iter().filter_map(Origin::etld1_label) {
        if !labels.contains(&label) {
            labels.push(label);
        }
    }
    labels
}

/// Checks that adding `candidate` to `existing` keeps at most [`MAX_LABELS`] distinct labels.
pub fn check_label_limit(existing: &[Origin], candidate: &Origin) -> Result<(), LabelLimitError> {
    let labels = distinct_labels(existing);
    match candidate.etld1_label() {
        Some(label) if !labels.contains(&label) && labels.len() >= MAX_LABELS => {
            Err(LabelLimitError { labels, label })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn o(s: &str) -> Origin {
        Origin::parse(s).unwrap()
    }

    fn doc(list: &[&str]) -> WellKnownDocument {
        WellKnownDocument {
            origins: list.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn shared_label_counts_once() {
        let list = [
            o("https://a.example.com"),
            o("https://b.example.co.uk"),
            o("http://localhost:1"),
        ];
        assert_eq!(distinct_labels(&list), vec!["example"]);
    }

    #[test]
    fn sixth_label_refused() {
        let five: Vec<Origin> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|l| o(&format!("https://{l}.com")))
            .collect();
        assert_eq!(
            check_label_limit(&five, &o("https://login.c.co.uk")),
            Ok(())
        );
        assert_eq!(check_label_limit(&five, &o("http://localhost")), Ok(()));
        let err = check_label_limit(&five, &o("https://f.com")).unwrap_err();
        assert_eq!(err.labels, vec!["a", "b", "c", "d", "e"]);
        assert_eq!(err.label, "f");
        assert!(err.to_string().contains("a, b, c, d, e"));
        assert_eq!(check_label_limit(&five[..4], &o("https://f.com")), Ok(()));
    }

    #[test]
    fn new_deduplicates_in_order() {
        let d = WellKnownDocument::new([
            o("https://b.com"),
            o("https://a.com"),
            o("https://B.com:443"),
        ]);
        assert_eq!(d.origins, vec!["https://b.com", "https://a.com"]);
        assert_eq!(
            d.to_json(),
            "{\n  \"origins\": [\n    \"https://b.com\",\n    \"https://a.com\"\n  ]\n}"
        );
        assert_eq!(WellKnownDocument::parse(d.to_json().as_bytes()).unwrap(), d);
    }

    #[test]
    fn parse_shapes() {
        let ok =
            WellKnownDocument::parse(br#"{"origins": ["https://a.com", "junk"], "x": 1}"#).unwrap();
        assert_eq!(ok.origins, vec!["https://a.com", "junk"]);
        assert!(matches!(
            WellKnownDocument::parse(b"<html>"),
            Err(DocumentError::NotJson(_))
        ));
        assert_eq!(
            WellKnownDocument::parse(b"[]"),
            Err(DocumentError::NotAnObject)
        );
        assert_eq!(
            WellKnownDocument::parse(b"{}"),
            Err(DocumentError::BadOrigins)
        );
        assert_eq!(
            WellKnownDocument::parse(br#"{"origins": "x"}"#),
            Err(DocumentError::BadOrigins)
        );
        assert_eq!(
            WellKnownDocument::parse(br#"{"origins": [1]}"#),
            Err(DocumentError::BadOrigins)
        );
    }

    #[test]
    fn parse_size_cap() {
        let mut big = br#"{"origins": [], "pad": ""#.to_vec();
        big.resize(MAX_DOCUMENT_BYTES - 2, b'a');
        big.extend_from_slice(b"\"}");
        assert!(WellKnownDocument::parse(&big).is_ok());
        big.insert(big.len() - 2, b'a');
        assert_eq!(WellKnownDocument::parse(&big), Err(DocumentError::TooLarge));
    }

    #[test]
    fn evaluate_skips_invalid_entries() {
        let d = doc(&[
            "not an origin",
            "http://evil.com",
            "http://localhost:8080",
            "https://broker.example",
        ]);
        let ev = d.evaluate(&o("https://broker.example"));
        assert!(ev.allowed);
        assert_eq!(
            ev.skipped,
            vec!["not an origin", "http://evil.com", "http://localhost:8080"]
        );
        assert_eq!(ev.labels, vec!["broker"]);
        assert!(!d.evaluate(&o("https://other.example")).allowed);
    }

    #[test]
    fn evaluate_limit_depends_on_order() {
        let mut list = vec![
            "https://a.com",
            "https://b.com",
            "https://x.a.com",
            "https://c.com",
            "https://d.com",
        ];
        list.extend(["https://e.com", "https://f.com", "https://a.co.uk"]);
        let ev = doc(&list).evaluate(&o("https://f.com"));
        assert!(!ev.allowed);
        assert_eq!(ev.labels, vec!["a", "b", "c", "d", "e"]);
        assert_eq!(ev.ignored, vec!["https://f.com"]);
        assert!(doc(&list).evaluate(&o("https://a.co.uk")).allowed);
        list.swap(0, 6);
        assert!(doc(&list).evaluate(&o("https://f.com")).allowed);
    }
}
