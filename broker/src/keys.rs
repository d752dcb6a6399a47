//! Signing keys: ES256 keys kept in the database, their private halves encrypted with the
//! master key (AES-256-GCM), so that every instance signs with the same keys (PROTOCOL §4).
//! The `kid` is the RFC 7638 JWK thumbprint.

use std::sync::RwLock;

use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use p256::ecdsa::SigningKey;
use p256::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use rand::RngCore as _;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, DatabaseConnection, EntityTrait as _,
    QueryFilter as _, QueryOrder as _, Set,
};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::db::entities::signing_key;
use crate::util::{b64, now, sha256, unb64};

/// Errors of key handling.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sea_orm::DbErr),
    /// A stored key could not be decrypted: the master key is not the one it was sealed with.
    #[error("signing key {0} cannot be decrypted with this master key")]
    Decrypt(String),
    /// Key material could not be encoded.
    #[error("key encoding: {0}")]
    Encoding(String),
}

/// The key id_tokens are signed with now, parsed once when it is loaded: the JWS header
/// (fixed for a key) and ring's P-256 key pair.
struct ActiveKey {
    kid: String,
    /// BASE64URL of the JWS protected header, `{"alg":"ES256","kid":…,"typ":"JWT"}`.
    header_b64: String,
    pair: EcdsaKeyPair,
}

/// The broker's signing keys.
pub struct Keys {
    master: Zeroizing<[u8; 32]>,
    current: RwLock<Option<std::sync::Arc<ActiveKey>>>,
}

impl Keys {
    /// Loads the newest active key, creating one when the database has none.
    pub async fn load(db: &DatabaseConnection, master: [u8; 32]) -> Result<Self, KeyError> {
        let keys = Self {
            master: Zeroizing::new(master),
            current: RwLock::new(None),
        };
        keys.refresh(db).await?;
        Ok(keys)
    }

    /// Re-reads the newest active key from the database (creating one if none exists).
    pub async fn refresh(&self, db: &DatabaseConnection) -> Result<(), KeyError> {
        let row = signing_key::Entity::find()
            .filter(signing_key::Column::RetiredAt.is_null())
            .order_by_desc(signing_key::Column::CreatedAt)
            .one(db)
            .await?;
        let row = match row {
            Some(r) => r,
            None => self.create(db).await?,
        };
        let der = self.open(&row)?;
        let active = ActiveKey::new(&row.kid, &der)?;
        if let Ok(mut slot) = self.current.write() {
            *slot = Some(std::sync::Arc::new(active));
        }
        Ok(())
    }

    /// Generates a new key and stores it; it becomes the signing key.
    pub async fn create(&self, db: &DatabaseConnection) -> Result<signing_key::Model, KeyError> {
        let key = SigningKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let jwk = public_jwk(&key);
        let kid = jwk["kid"].as_str().unwrap_or_default().to_owned();
        let der = key
            .to_pkcs8_der()
            .map_err(|e| KeyError::Encoding(e.to_string()))?;
        let sealed = self.seal(&kid, der.as_bytes())?;
        let model = signing_key::ActiveModel {
            kid: Set(kid),
            private_key: Set(sealed),
            public_jwk: Set(jwk.to_string()),
            created_at: Set(now()),
            retired_at: Set(None),
        }
        .insert(db)
        .await?;
        Ok(model)
    }

    /// Makes a new signing key and retires the others; retired keys stay in the JWKS
    /// while tokens they signed may live. Every instance signs with it after its next
    /// refresh. Returns the new key id.
    pub async fn rotate(&self, db: &DatabaseConnection) -> Result<String, KeyError> {
        let new = self.create(db).await?;
        signing_key::Entity::update_many()
            .col_expr(
                signing_key::Column::RetiredAt,
                sea_orm::sea_query::Expr::value(now()),
            )
            .filter(signing_key::Column::Kid.ne(new.kid.clone()))
            .filter(signing_key::Column::RetiredAt.is_null())
            .exec(db)
            .await?;
        self.refresh(db).await?;
        Ok(new.kid)
    }

    /// Rotates when the newest active key is older than `max_age` seconds. Several
    /// instances may do this at once; the worst case is one extra key in the JWKS.
    pub async fn rotate_if_older_than(
        &self,
        db: &DatabaseConnection,
        max_age: i64,
    ) -> Result<Option<String>, KeyError> {
        let newest = signing_key::Entity::find()
            .filter(signing_key::Column::RetiredAt.is_null())
            .order_by_desc(signing_key::Column::CreatedAt)
            .one(db)
            .await?;
        match newest {
            Some(k) if k.created_at > now() - max_age => Ok(None),
            _ => self.rotate(db).await.map(Some),
        }
    }

    /// Every stored key, newest first (no private material).
    pub async fn list(db: &DatabaseConnection) -> Result<Vec<signing_key::Model>, KeyError> {
        let mut rows = signing_key::Entity::find()
            .order_by_desc(signing_key::Column::CreatedAt)
            .all(db)
            .await?;
        for r in &mut rows {
            r.private_key.clear();
        }
        Ok(rows)
    }

    /// The id of the key used for signing now.
    pub fn current_kid(&self) -> Option<String> {
        self.current
            .read()
            .ok()
            .and_then(|g| g.as_ref().map(|k| k.kid.clone()))
    }

    /// Signs `claims` as an ES256 JWT with the current key.
    pub fn sign(&self, claims: &Value) -> Result<String, KeyError> {
        let current = self
            .current
            .read()
            .ok()
            .and_then(|g| g.clone())
            .ok_or_else(|| KeyError::Encoding("no signing key loaded".into()))?;
        // RFC 7515 compact serialisation: header.claims.signature, each BASE64URL; the
        // ES256 signature is r ‖ s, 64 bytes (RFC 7518 §3.4).
        let claims = serde_json::to_vec(claims).map_err(|e| KeyError::Encoding(e.to_string()))?;
        let mut jwt = String::with_capacity(current.header_b64.len() + claims.len() * 4 / 3 + 92);
        jwt.push_str(&current.header_b64);
        jwt.push('.');
        jwt.push_str(&b64(&claims));
        let signature = current
            .pair
            .sign(&SystemRandom::new(), jwt.as_bytes())
            .map_err(|_| KeyError::Encoding("signing failed".into()))?;
        jwt.push('.');
        jwt.push_str(&b64(signature.as_ref()));
        Ok(jwt)
    }

    /// The JWKS: every key that is active or was retired less than `grace` seconds ago.
    pub async fn jwks(db: &DatabaseConnection, grace: i64) -> Result<Value, KeyError> {
        let rows = signing_key::Entity::find()
            .filter(
                sea_orm::Condition::any()
                    .add(signing_key::Column::RetiredAt.is_null())
                    .add(signing_key::Column::RetiredAt.gt(now() - grace)),
            )
            .order_by_desc(signing_key::Column::CreatedAt)
            .all(db)
            .await?;
        let keys: Vec<Value> = rows
            .iter()
            .filter_map(|r| serde_json::from_str(&r.public_jwk).ok())
            .collect();
        Ok(json!({ "keys": keys }))
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.master.as_ref().into())
    }

    fn seal(&self, kid: &str, plaintext: &[u8]) -> Result<String, KeyError> {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let ct = self
            .cipher()
            .encrypt(
                &Nonce::from(nonce_arr(&nonce)?),
                Payload {
                    msg: plaintext,
                    aad: kid.as_bytes(),
                },
            )
            .map_err(|_| KeyError::Encoding("encryption failed".into()))?;
        Ok(format!("v1.{}.{}", b64(nonce), b64(ct)))
    }

    fn open(&self, row: &signing_key::Model) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let fail = || KeyError::Decrypt(row.kid.clone());
        let mut parts = row.private_key.split('.');
        let (Some("v1"), Some(n), Some(c), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(fail());
        };
        let nonce = unb64(n).filter(|n| n.len() == 12).ok_or_else(fail)?;
        let ct = unb64(c).ok_or_else(fail)?;
        self.cipher()
            .decrypt(
                &Nonce::from(nonce_arr(&nonce)?),
                Payload {
                    msg: &ct,
                    aad: row.kid.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| fail())
    }
}

fn nonce_arr(n: &[u8]) -> Result<[u8; 12], KeyError> {
    n.try_into()
        .map_err(|_| KeyError::Encoding("nonce length".into()))
}

impl ActiveKey {
    /// Parses a stored PKCS#8 key. ring is given the raw scalar and public point, which
    /// the RustCrypto key (that generated it) yields whatever optional PKCS#8 fields the
    /// encoder wrote.
    fn new(kid: &str, pkcs8: &[u8]) -> Result<Self, KeyError> {
        let bad = |e: &dyn std::fmt::Display| KeyError::Encoding(format!("signing key {kid}: {e}"));
        let key = SigningKey::from_pkcs8_der(pkcs8).map_err(|e| bad(&e))?;
        let scalar = Zeroizing::new(key.to_bytes());
        let point = key.verifying_key().to_encoded_point(false);
        let pair = EcdsaKeyPair::from_private_key_and_public_key(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &scalar[..],
            point.as_bytes(),
            &SystemRandom::new(),
        )
        .map_err(|e| bad(&e))?;
        let header = json!({"alg": "ES256", "kid": kid, "typ": "JWT"});
        Ok(Self {
            kid: kid.to_owned(),
            header_b64: b64(header.to_string().as_bytes()),
            pair,
        })
    }
}

/// The public JWK of `key`, with its RFC 7638 thumbprint as `kid`.
pub fn public_jwk(key: &SigningKey) -> Value {
    let point = key.verifying_key().to_encoded_point(false);
    let x = b64(point.x().map(|x| &x[..]).unwrap_or_default());
    let y = b64(point.y().map(|y| &y[..]).unwrap_or_default());
    // RFC 7638 §3: the required members in lexicographic order, no whitespace.
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    let kid = b64(sha256(canonical.as_bytes()));
    json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "use": "sig", "alg": "ES256"})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprint_matches_rfc7638_shape() {
        let key = SigningKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let jwk = public_jwk(&key);
        assert_eq!(jwk["kid"].as_str().unwrap().len(), 43);
        assert_eq!(jwk["alg"], "ES256");
    }

    /// A token signed with ring verifies with RustCrypto's P-256 against the public JWK,
    /// carries the key's kid and the claims unchanged, and no two signatures repeat.
    #[test]
    fn signed_tokens_verify_with_an_independent_implementation() {
        use p256::ecdsa::signature::Verifier as _;
        let key = SigningKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let kid = public_jwk(&key)["kid"].as_str().unwrap().to_owned();
        let der = key.to_pkcs8_der().unwrap();
        let active = ActiveKey::new(&kid, der.as_bytes()).unwrap();
        let keys = Keys {
            master: Zeroizing::new([7; 32]),
            current: RwLock::new(Some(std::sync::Arc::new(active))),
        };
        let claims = json!({"sub": "u1", "aud": "c1", "name": "ünïcode"});
        let jwt = keys.sign(&claims).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: Value = serde_json::from_slice(&unb64(parts[0]).unwrap()).unwrap();
        assert_eq!(header, json!({"alg": "ES256", "kid": kid, "typ": "JWT"}));
        let body: Value = serde_json::from_slice(&unb64(parts[1]).unwrap()).unwrap();
        assert_eq!(body, claims);
        let sig = p256::ecdsa::Signature::from_slice(&unb64(parts[2]).unwrap()).unwrap();
        let signed = format!("{}.{}", parts[0], parts[1]);
        key.verifying_key().verify(signed.as_bytes(), &sig).unwrap();
        let mut tampered = signed.clone().into_bytes();
        tampered[signed.len() - 1] ^= 1;
        assert!(key.verifying_key().verify(&tampered, &sig).is_err());
        assert_ne!(keys.sign(&claims).unwrap(), jwt);
    }
}
