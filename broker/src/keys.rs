//! Signing keys: ES256 keys kept in the database, their private halves encrypted with the
//! master key (AES-256-GCM), so that every instance signs with the same keys (PROTOCOL §4).
//! The `kid` is the RFC 7638 JWK thumbprint.

use std::sync::RwLock;

use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::ecdsa::SigningKey;
use p256::pkcs8::EncodePrivateKey as _;
use rand::RngCore as _;
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

struct ActiveKey {
    kid: String,
    encoding: EncodingKey,
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
        let active = ActiveKey {
            kid: row.kid.clone(),
            encoding: EncodingKey::from_ec_der(&der),
        };
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
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(current.kid.clone());
        jsonwebtoken::encode(&header, claims, &current.encoding)
            .map_err(|e| KeyError::Encoding(e.to_string()))
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
}
