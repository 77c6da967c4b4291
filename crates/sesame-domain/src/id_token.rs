//! ID tokens (OpenID Connect Core §2): the keys that sign them and the signing itself.
//!
//! A client chooses `RS256` (the default, which every relying-party library verifies) or
//! `EdDSA` (`id_token_signed_response_alg`). Each algorithm's keys are [`StoredKey`] rows like
//! the access-token keys: the oldest active key of an algorithm signs, every active key is
//! published in the JWKS (RFC 7517) with its `kid`, so a verifier that caches the set finds
//! every key a live token names. RSA keys are 2048-bit, generated with the `rsa` crate and kept
//! as PKCS#1 DER; the signature itself is `jsonwebtoken`'s.
//!
//! Owns: key generation for RSA, the signer, the JWK form of the keys. Refuses: deciding which
//! claims a token carries (the provider service, from [`crate::oidc::user_claims`]) and
//! verifying ID tokens (relying parties do that; Sesame only verifies an `id_token_hint`).

use crate::client::IdTokenAlg;
use crate::clock::Timestamp;
use crate::error::AuthError;
use crate::token::StoredKey;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore as _;
use rsa::pkcs1::{DecodeRsaPublicKey as _, EncodeRsaPrivateKey as _, EncodeRsaPublicKey as _};
use rsa::traits::PublicKeyParts as _;
use std::collections::HashMap;
use zeroize::Zeroizing;

/// The size of generated RSA keys, in bits (RFC 7518 §3.3: at least 2048).
pub const RSA_BITS: usize = 2048;

/// A fresh RSA key for RS256 ID tokens, with a random `kid`.
///
/// # Errors
/// [`AuthError::Internal`] if generation or encoding fails (never expected).
pub fn generate_rs256(now: Timestamp) -> Result<StoredKey, AuthError> {
    let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, RSA_BITS)
        .map_err(|e| AuthError::Internal(e.to_string().into()))?;
    let private = key
        .to_pkcs1_der()
        .map_err(|e| AuthError::Internal(e.to_string().into()))?;
    let public = key
        .to_public_key()
        .to_pkcs1_der()
        .map_err(|e| AuthError::Internal(e.to_string().into()))?;
    Ok(StoredKey {
        kid: generate_kid(),
        algorithm: IdTokenAlg::Rs256.as_str().to_owned(),
        private_der: Zeroizing::new(private.as_bytes().to_vec()),
        public_raw: public.as_bytes().to_vec(),
        created_at: now,
    })
}

/// A random key id: 96 bits, base64url.
#[must_use]
pub fn generate_kid() -> String {
    let mut kid = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut kid);
    B64.encode(kid)
}

struct Signing {
    kid: String,
    key: EncodingKey,
}

/// Signs ID tokens and publishes their keys.
pub struct IdTokenSigner {
    rs256: Signing,
    eddsa: Signing,
    /// Every active key, as JWKs, sorted by `kid`.
    jwks: Vec<serde_json::Value>,
    /// Every active key by `kid`, to verify an `id_token_hint`.
    verify: HashMap<String, (Algorithm, DecodingKey)>,
}

impl std::fmt::Debug for IdTokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdTokenSigner")
            .field("rs256", &self.rs256.kid)
            .field("eddsa", &self.eddsa.kid)
            .finish_non_exhaustive()
    }
}

impl IdTokenSigner {
    /// From every active key: the oldest of each algorithm signs.
    ///
    /// # Errors
    /// A message when an algorithm has no key, or a key cannot be read.
    pub fn new(keys: &[StoredKey]) -> Result<Self, String> {
        let mut sorted: Vec<&StoredKey> = keys.iter().collect();
        sorted.sort_by(|a, b| (a.created_at, &a.kid).cmp(&(b.created_at, &b.kid)));
        let mut jwks = Vec::new();
        let mut verify = HashMap::new();
        let mut rs256 = None;
        let mut eddsa = None;
        for k in sorted {
            match IdTokenAlg::parse(&k.algorithm) {
                Some(IdTokenAlg::Rs256) => {
                    let public = rsa::RsaPublicKey::from_pkcs1_der(&k.public_raw)
                        .map_err(|e| format!("RSA key {} is unreadable: {e}", k.kid))?;
                    let n = B64.encode(public.n().to_bytes_be());
                    let e = B64.encode(public.e().to_bytes_be());
                    jwks.push(serde_json::json!({
                        "kty": "RSA", "n": n, "e": e, "kid": k.kid, "use": "sig", "alg": "RS256"
                    }));
                    let decoding = DecodingKey::from_rsa_components(&n, &e)
                        .map_err(|e| format!("RSA key {} is unreadable: {e}", k.kid))?;
                    verify.insert(k.kid.clone(), (Algorithm::RS256, decoding));
                    if rs256.is_none() {
                        rs256 = Some(Signing {
                            kid: k.kid.clone(),
                            key: EncodingKey::from_rsa_der(&k.private_der),
                        });
                    }
                }
                Some(IdTokenAlg::EdDsa) => {
                    jwks.push(serde_json::json!({
                        "kty": "OKP", "crv": "Ed25519", "x": B64.encode(&k.public_raw),
                        "kid": k.kid, "use": "sig", "alg": "EdDSA"
                    }));
                    verify.insert(
                        k.kid.clone(),
                        (Algorithm::EdDSA, DecodingKey::from_ed_der(&k.public_raw)),
                    );
                    if eddsa.is_none() {
                        eddsa = Some(Signing {
                            kid: k.kid.clone(),
                            key: EncodingKey::from_ed_der(&k.private_der),
                        });
                    }
                }
                None => {}
            }
        }
        jwks.sort_by(|a, b| a["kid"].as_str().cmp(&b["kid"].as_str()));
        Ok(Self {
            rs256: rs256.ok_or("no RS256 key in the store")?,
            eddsa: eddsa.ok_or("no EdDSA key in the store")?,
            jwks,
            verify,
        })
    }

    /// The JWKs of every active ID-token key.
    #[must_use]
    pub fn jwks(&self) -> &[serde_json::Value] {
        &self.jwks
    }

    /// Signs `claims` as an ID token with `alg`.
    ///
    /// # Errors
    /// [`AuthError::Internal`] if encoding or signing fails (never expected).
    pub fn sign(&self, alg: IdTokenAlg, claims: &serde_json::Value) -> Result<String, AuthError> {
        let (signing, algorithm) = match alg {
            IdTokenAlg::Rs256 => (&self.rs256, Algorithm::RS256),
            IdTokenAlg::EdDsa => (&self.eddsa, Algorithm::EdDSA),
        };
        let mut header = Header::new(algorithm);
        header.typ = Some("JWT".to_owned());
        header.kid = Some(signing.kid.clone());
        jsonwebtoken::encode(&header, claims, &signing.key).map_err(AuthError::internal)
    }

    /// The claims of an ID token this provider signed for `issuer` (an `id_token_hint`), checking
    /// the signature and issuer but not `exp` or `aud` (OpenID Connect RP-Initiated Logout 1.0
    /// §2: an expired hint is still a hint).
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`] when it is not one.
    pub fn read_hint(&self, token: &str, issuer: &str) -> Result<serde_json::Value, AuthError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| AuthError::InvalidToken("malformed"))?;
        let (alg, key) = header
            .kid
            .as_deref()
            .and_then(|kid| self.verify.get(kid))
            .ok_or(AuthError::InvalidToken("unknown_kid"))?;
        let mut v = Validation::new(*alg);
        v.set_issuer(&[issuer]);
        v.validate_exp = false;
        v.validate_aud = false;
        v.set_required_spec_claims(&["iss", "sub", "aud"]);
        jsonwebtoken::decode::<serde_json::Value>(token, key, &v)
            .map(|d| d.claims)
            .map_err(|_| AuthError::InvalidToken("bad_signature"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::now;

    fn keys() -> Vec<StoredKey> {
        vec![
            generate_rs256(now()).expect("rsa"),
            StoredKey::generate_ed25519(now()).expect("ed25519"),
        ]
    }

    #[test]
    fn an_id_token_verifies_with_the_published_key_of_its_kid_in_both_algorithms() {
        let signer = IdTokenSigner::new(&keys()).expect("signer");
        let claims = serde_json::json!({"iss": "https://id.example", "sub": "u", "aud": "c", "exp": 4_000_000_000_i64});
        for alg in [IdTokenAlg::Rs256, IdTokenAlg::EdDsa] {
            let token = signer.sign(alg, &claims).expect("sign");
            let header = jsonwebtoken::decode_header(&token).expect("header");
            assert_eq!(
                header.alg,
                if alg == IdTokenAlg::Rs256 {
                    Algorithm::RS256
                } else {
                    Algorithm::EdDSA
                }
            );
            let kid = header.kid.expect("kid");
            assert!(
                signer.jwks().iter().any(|k| k["kid"] == kid.as_str()),
                "{kid} is published"
            );
            let read = signer
                .read_hint(&token, "https://id.example")
                .expect("verifies");
            assert_eq!(read["sub"], "u");
            assert!(
                signer.read_hint(&token, "https://other.example").is_err(),
                "issuer checked"
            );
        }
    }

    #[test]
    fn a_signer_needs_a_key_of_each_algorithm() {
        let only_rsa = vec![generate_rs256(now()).expect("rsa")];
        assert!(IdTokenSigner::new(&only_rsa).is_err());
    }
}
