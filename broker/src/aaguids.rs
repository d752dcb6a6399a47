//! Names of authenticator models by AAGUID, for the admin API, the dashboard and the
//! plain-words refusals of an AAGUID policy.
//!
//! A short list is bundled (`broker/data/aaguids.json`, in the format of the community
//! `passkey-authenticator-aaguids` list: `{"<aaguid>": {"name": "…", …}}`). An operator
//! keeps it current without a new release by pointing `LATCHKEY_AAGUID_NAMES` at a file
//! in the same format (for example that project's `aaguid.json`): its entries are read at
//! start-up and take precedence over the bundled ones. Icons and other members are
//! ignored.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use uuid::Uuid;

const BUNDLED: &str = include_str!("../data/aaguids.json");

static INSTALLED: OnceLock<AaguidNames> = OnceLock::new();

/// Makes `names` (from the settings) the list that [`names`] answers, once per process.
/// Read-only reference data, like a compiled-in table: it is shared rather than passed
/// through every store function that shows a passkey.
pub fn install(names: AaguidNames) {
    let _ = INSTALLED.set(names);
}

/// The list installed at start-up, or the bundled one.
pub fn names() -> &'static AaguidNames {
    INSTALLED.get_or_init(AaguidNames::bundled)
}

/// AAGUID → authenticator name.
#[derive(Clone, Default)]
pub struct AaguidNames(Arc<BTreeMap<Uuid, String>>);

impl std::fmt::Debug for AaguidNames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AaguidNames({} entries)", self.0.len())
    }
}

/// Parses a document of the community format into a map; the error names what is wrong.
fn parse(text: &str) -> Result<BTreeMap<Uuid, String>, String> {
    let doc: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|e| format!("not a JSON object of AAGUIDs: {e}"))?;
    doc.into_iter()
        .map(|(k, v)| {
            let id = Uuid::parse_str(&k).map_err(|_| format!("{k:?} is not an AAGUID"))?;
            let name = v
                .get("name")
                .and_then(serde_json::Value::as_str)
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .ok_or_else(|| format!("{k}: no \"name\""))?;
            Ok((id, name.chars().take(100).collect()))
        })
        .collect()
}

impl AaguidNames {
    /// The bundled list.
    pub fn bundled() -> Self {
        Self(Arc::new(parse(BUNDLED).unwrap_or_default()))
    }

    /// The bundled list overlaid with the entries of an operator's document.
    pub fn with_overrides(text: &str) -> Result<Self, String> {
        let mut map = parse(BUNDLED).unwrap_or_default();
        map.extend(parse(text)?);
        Ok(Self(Arc::new(map)))
    }

    /// The name of an authenticator model, when known. The all-zero AAGUID (not
    /// disclosed) has no name.
    pub fn name(&self, aaguid: &Uuid) -> Option<&str> {
        self.0.get(aaguid).map(String::as_str)
    }

    /// The name of an AAGUID given as text, when it parses and is known.
    pub fn name_of(&self, aaguid: &str) -> Option<&str> {
        Uuid::parse_str(aaguid)
            .ok()
            .and_then(|u| self.0.get(&u))
            .map(String::as_str)
    }

    /// Every entry, by AAGUID.
    pub fn iter(&self) -> impl Iterator<Item = (&Uuid, &str)> {
        self.0.iter().map(|(id, name)| (id, name.as_str()))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is no entry.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_list_parses_and_names_well_known_authenticators() {
        let names = AaguidNames::bundled();
        assert!(names.len() > 20);
        assert_eq!(
            names.name_of("ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4"),
            Some("Google Password Manager")
        );
        assert_eq!(names.name(&Uuid::nil()), None);
    }

    #[test]
    fn an_operator_file_adds_and_overrides_entries() {
        let names = AaguidNames::with_overrides(
            r#"{"ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4": {"name": "GPM", "icon_dark": "data:"},
                "01020304-0506-0708-0102-030405060708": {"name": "Test key"}}"#,
        )
        .unwrap();
        assert_eq!(
            names.name_of("ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4"),
            Some("GPM")
        );
        assert_eq!(
            names.name_of("01020304-0506-0708-0102-030405060708"),
            Some("Test key")
        );
        assert_eq!(
            names.name_of("fbfc3007-154e-4ecc-8c0b-6e020557d7bd"),
            Some("iCloud Keychain")
        );
    }

    #[test]
    fn a_bad_file_is_refused_with_the_reason() {
        assert!(AaguidNames::with_overrides("[]").is_err());
        assert!(
            AaguidNames::with_overrides(r#"{"nope": {"name": "x"}}"#)
                .unwrap_err()
                .contains("nope")
        );
        assert!(
            AaguidNames::with_overrides(r#"{"ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4": {}}"#).is_err()
        );
    }
}
