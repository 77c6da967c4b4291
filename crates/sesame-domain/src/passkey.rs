//! Passkeys: Sesame as a WebAuthn relying party (W3C Web Authentication Level 3), over
//! `webauthn-rs`.
//!
//! This module owns the three ceremonies and what they hand to the caller:
//! - **registration** of a passkey for a signed-in user ([`PasskeyRp::start_registration`],
//!   [`PasskeyRp::finish_registration`]): always a discoverable (resident) credential with user
//!   verification required, so the passkey can later sign in on its own;
//! - **second factor** after a password ([`PasskeyRp::start_second_factor`],
//!   [`PasskeyRp::finish_second_factor`]) over the passkeys of a known user;
//! - **passwordless** sign-in ([`PasskeyRp::start_passwordless`],
//!   [`PasskeyRp::identify_passwordless`], [`PasskeyRp::finish_passwordless`]): no user is known
//!   until the authenticator names one in its user handle.
//!
//! Each `start_*` returns a [`Ceremony`]: the options to send to the browser and a
//! [`CeremonyState`] the caller keeps server side (webauthn-rs warns that a state held by the
//! client opens replays) and hands back to the matching `finish_*`. A state names its ceremony and,
//! for the first two, its user, so it cannot finish another kind of ceremony or another user's.
//!
//! It refuses: a response for another origin or relying party id; a response to another
//! ceremony's challenge; an assertion without user verification; an assertion whose signature
//! counter does not move past the stored one while either is non-zero (a cloned authenticator,
//! §6.1.1 of the WebAuthn spec; webauthn-rs 0.6 refuses it itself with
//! `CredentialPossibleCompromise`, which becomes [`PasskeyError::CounterRegression`]).
//!
//! It deliberately does not store anything, know users beyond their id, count failures toward
//! lockout, expire ceremony states (the caller stores them with a deadline from the core clock)
//! or check that a new credential id is unused by another account (the store's unique key on the
//! credential id does). It never panics on client input: every browser value is parsed into a
//! [`PasskeyError`].

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;
use webauthn_rs::prelude::{
    Credential, CredentialID, DiscoverableAuthentication, Passkey, PasskeyAuthentication,
    PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Url, Webauthn,
    WebauthnBuilder, WebauthnError,
};
use webauthn_rs_proto::ResidentKeyRequirement;

/// Why a ceremony did not complete. Every variant but [`PasskeyError::Internal`] is the
/// caller's (the browser's) fault and maps to a 4xx.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasskeyError {
    /// The browser's answer is malformed, signed wrongly, answers another challenge, or lacks
    /// user verification.
    #[error("the passkey response is invalid")]
    InvalidResponse,
    /// The answer was made for another origin or relying party id (a phishing site, or a
    /// misconfigured `SESAME_WEBAUTHN_ORIGINS`).
    #[error("the passkey response was made for another origin or relying party")]
    WrongOrigin,
    /// The authenticator's signature counter did not move past the stored one: two copies of the
    /// key exist (WebAuthn §6.1.1). The credential should be treated as compromised.
    #[error("the passkey's signature counter went backwards: the authenticator may be cloned")]
    CounterRegression,
    /// The credential the browser used is not one of the passkeys the caller offered (deleted,
    /// or another account's).
    #[error("the passkey is not registered to this account")]
    UnknownCredential,
    /// The stored ceremony state is unreadable, belongs to another kind of ceremony, or to
    /// another user.
    #[error("the passkey ceremony state is invalid")]
    StateInvalid,
    /// Ours: webauthn-rs refused to build options, or a stored passkey cannot be read.
    #[error("passkey internal error: {0}")]
    Internal(String),
}

/// Why a relying party could not be built from its settings.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasskeyConfigError {
    #[error("at least one origin is required")]
    NoOrigin,
    #[error("origin `{0}` must be https (plain http is allowed only for localhost)")]
    InsecureOrigin(String),
    #[error("origin `{0}` must be scheme://host[:port], without path, query or fragment")]
    NotAnOrigin(String),
    #[error(
        "relying party id `{rp_id}` is not the host of origin `{origin}` nor a parent domain of it"
    )]
    RpIdNotSuffix { rp_id: String, origin: String },
    #[error("relying party name must not be empty")]
    EmptyName,
}

/// The relying party: one per server, built once at startup from configuration.
#[derive(Debug, Clone)]
pub struct PasskeyRp {
    webauthn: Webauthn,
    rp_id: String,
}

/// Who a passkey is being registered for. `id` becomes the WebAuthn user handle (16 bytes),
/// which the passwordless ceremony reads back; `name` and `display_name` are only shown by the
/// authenticator.
#[derive(Debug, Clone, Copy)]
pub struct PasskeyUser<'a> {
    pub id: Uuid,
    pub name: &'a str,
    pub display_name: &'a str,
}

/// What a `start_*` hands out: `options` goes to the browser as JSON (webauthn-rs's encoding:
/// `{"publicKey": {…}}` with base64url binary fields), `state` stays on the server until the
/// matching `finish_*`.
#[derive(Debug, Clone)]
pub struct Ceremony {
    pub options: Value,
    pub state: CeremonyState,
}

/// A ceremony's server-side state, as the text the store keeps (JSON). It is opaque to the
/// caller; only this module reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CeremonyState(String);

impl CeremonyState {
    /// A state read back from storage; it is checked when a `finish_*` reads it.
    #[must_use]
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    #[must_use]
    pub fn into_string(self) -> String {
        self.0
    }
}

/// What the state text holds: the ceremony kind (so one kind's state cannot finish another),
/// the user it was started for, and webauthn-rs's state (challenge, policy, allowed credentials).
#[derive(Serialize, Deserialize)]
#[serde(tag = "ceremony", rename_all = "snake_case")]
enum StoredState {
    Registration {
        user: Uuid,
        state: PasskeyRegistration,
    },
    SecondFactor {
        user: Uuid,
        state: PasskeyAuthentication,
    },
    Passwordless {
        state: DiscoverableAuthentication,
    },
}

/// A registered passkey as the store keeps it.
///
/// `passkey` is webauthn-rs's serialised `Passkey` (public key, signature counter, flags):
/// opaque to the caller, rewritten after an authentication that changed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyCredential {
    /// The authenticator's credential id (raw bytes): the store's unique key across all users.
    pub credential_id: Vec<u8>,
    pub passkey: String,
    /// The backup-eligible flag (BE, WebAuthn §6.1): the key may be synced off the device.
    pub backup_eligible: bool,
}

/// The `amr` value (RFC 8176 §2) a passkey proves. A backup-eligible (synced) passkey's private
/// key can leave the device, so it proves a software-secured key, `swk`; a device-bound one
/// (BE=0) claims a hardware-secured key, `hwk`. The claim is the authenticator's own: without
/// attestation (Sesame asks for none) a device-bound software authenticator is not told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasskeyAmr {
    Hwk,
    Swk,
}

impl PasskeyAmr {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hwk => "hwk",
            Self::Swk => "swk",
        }
    }
}

impl PasskeyCredential {
    /// A credential as the store keeps it: its id and the serialised passkey (the backup-eligible
    /// flag is read from it).
    ///
    /// # Errors
    /// [`PasskeyError::Internal`] when the stored passkey is unreadable.
    pub fn from_stored(credential_id: Vec<u8>, passkey: String) -> Result<Self, PasskeyError> {
        let mut c = Self {
            credential_id,
            passkey,
            backup_eligible: false,
        };
        c.backup_eligible = Credential::from(c.parse()?).backup_eligible;
        Ok(c)
    }

    fn from_passkey(passkey: &Passkey) -> Result<Self, PasskeyError> {
        let credential: Credential = passkey.clone().into();
        let text = serde_json::to_string(passkey)
            .map_err(|e| PasskeyError::Internal(format!("serialising a passkey: {e}")))?;
        Ok(Self {
            credential_id: credential.cred_id.clone(),
            passkey: text,
            backup_eligible: credential.backup_eligible,
        })
    }

    fn parse(&self) -> Result<Passkey, PasskeyError> {
        serde_json::from_str(&self.passkey).map_err(|e| {
            PasskeyError::Internal(format!(
                "a stored passkey is unreadable ({} bytes): {e}",
                self.passkey.len()
            ))
        })
    }

    /// `hwk` or `swk` (RFC 8176 §2), from the backup-eligible flag.
    #[must_use]
    pub fn amr(&self) -> PasskeyAmr {
        if self.backup_eligible {
            PasskeyAmr::Swk
        } else {
            PasskeyAmr::Hwk
        }
    }

    /// The signature counter last seen (0 for authenticators without one, as most synced
    /// passkeys).
    ///
    /// # Errors
    /// [`PasskeyError::Internal`] when the stored passkey is unreadable.
    pub fn counter(&self) -> Result<u32, PasskeyError> {
        Ok(Credential::from(self.parse()?).counter)
    }
}

/// The user and credential a passwordless answer names, for the caller to load that user's
/// passkeys before [`PasskeyRp::finish_passwordless`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredPasskey {
    pub user_id: Uuid,
    pub credential_id: Vec<u8>,
}

/// A completed authentication: which passkey signed, and the passkey as it must now be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyAssertion {
    pub credential_id: Vec<u8>,
    /// The authenticator's signature counter in this assertion.
    pub counter: u32,
    /// The credential with its new counter and flags.
    pub credential: PasskeyCredential,
    /// Whether `credential` differs from what was stored (only then must it be written).
    pub changed: bool,
}

impl PasskeyRp {
    /// A relying party for `rp_id` (a domain, the one the passkeys are bound to: changing it
    /// orphans every registered passkey) accepting answers from `origins`.
    ///
    /// # Errors
    /// When an origin is not https (http is allowed for `localhost` only, as browsers do), is not
    /// a bare origin, or `rp_id` is neither its host nor a parent domain of it (WebAuthn §5.1.3
    /// "registrable domain suffix").
    pub fn new(rp_id: &str, origins: &[Url], rp_name: &str) -> Result<Self, PasskeyConfigError> {
        if rp_name.trim().is_empty() {
            return Err(PasskeyConfigError::EmptyName);
        }
        let (first, rest) = origins.split_first().ok_or(PasskeyConfigError::NoOrigin)?;
        for origin in origins {
            check_origin(rp_id, origin)?;
        }
        let not_suffix = || PasskeyConfigError::RpIdNotSuffix {
            rp_id: rp_id.to_owned(),
            origin: first.origin().ascii_serialization(),
        };
        let mut builder = WebauthnBuilder::new(rp_id, first)
            .map_err(|_| not_suffix())?
            .rp_name(rp_name);
        for origin in rest {
            builder = builder.append_allowed_origin(origin);
        }
        let webauthn = builder.build().map_err(|_| not_suffix())?;
        Ok(Self {
            webauthn,
            rp_id: rp_id.to_owned(),
        })
    }

    #[must_use]
    pub fn rp_id(&self) -> &str {
        &self.rp_id
    }

    #[must_use]
    pub fn origins(&self) -> &[Url] {
        self.webauthn.get_allowed_origins()
    }

    /// Starts registering a passkey for `user`, refusing (in the authenticator) the credentials
    /// in `existing` so one authenticator is not registered twice.
    ///
    /// The options ask for a discoverable credential (`residentKey: "required"`) with user
    /// verification required: a passkey that can sign in without a password.
    ///
    /// # Errors
    /// [`PasskeyError::Internal`] if webauthn-rs refuses the user's name.
    pub fn start_registration(
        &self,
        user: PasskeyUser<'_>,
        existing: &[Vec<u8>],
    ) -> Result<Ceremony, PasskeyError> {
        let exclude: Vec<CredentialID> = existing.to_vec();
        let (mut options, state) = self
            .webauthn
            .start_passkey_registration(
                user.id,
                user.name,
                user.display_name,
                (!exclude.is_empty()).then_some(exclude),
            )
            .map_err(internal)?;
        // webauthn-rs's passkey registration leaves residentKey "discouraged"; a passwordless
        // sign-in needs the credential stored on the authenticator (WebAuthn §5.4.4). The
        // registration state does not depend on this hint, so the finish is unchanged.
        if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
            selection.require_resident_key = true;
            selection.resident_key = Some(ResidentKeyRequirement::Required);
        }
        Ceremony::new(
            &options,
            &StoredState::Registration {
                user: user.id,
                state,
            },
        )
    }

    /// Completes a registration started for `user` with the browser's answer (the JSON of
    /// `navigator.credentials.create()`).
    ///
    /// # Errors
    /// [`PasskeyError::StateInvalid`] for a state of another ceremony or user;
    /// [`PasskeyError::WrongOrigin`], [`PasskeyError::InvalidResponse`] for the answer.
    pub fn finish_registration(
        &self,
        state: &CeremonyState,
        user_id: Uuid,
        response: &Value,
    ) -> Result<PasskeyCredential, PasskeyError> {
        let StoredState::Registration { user, state } = state.read()? else {
            return Err(PasskeyError::StateInvalid);
        };
        if user != user_id {
            return Err(PasskeyError::StateInvalid);
        }
        let response: RegisterPublicKeyCredential =
            RegisterPublicKeyCredential::deserialize(response)
                .map_err(|_| PasskeyError::InvalidResponse)?;
        let passkey = self
            .webauthn
            .finish_passkey_registration(&response, &state)
            .map_err(refusal)?;
        PasskeyCredential::from_passkey(&passkey)
    }

    /// Starts a second-factor authentication of `user_id` over `passkeys` (all of theirs).
    ///
    /// # Errors
    /// [`PasskeyError::UnknownCredential`] when `passkeys` is empty (the user has none);
    /// [`PasskeyError::Internal`] when one of them is unreadable.
    pub fn start_second_factor(
        &self,
        user_id: Uuid,
        passkeys: &[PasskeyCredential],
    ) -> Result<Ceremony, PasskeyError> {
        if passkeys.is_empty() {
            return Err(PasskeyError::UnknownCredential);
        }
        let parsed = passkeys
            .iter()
            .map(PasskeyCredential::parse)
            .collect::<Result<Vec<_>, _>>()?;
        let (options, state) = self
            .webauthn
            .start_passkey_authentication(&parsed)
            .map_err(internal)?;
        Ceremony::new(
            &options,
            &StoredState::SecondFactor {
                user: user_id,
                state,
            },
        )
    }

    /// Completes a second-factor authentication of `user_id`; `passkeys` are the user's passkeys
    /// as stored now (the one that signed is returned updated).
    ///
    /// # Errors
    /// [`PasskeyError::StateInvalid`], [`PasskeyError::WrongOrigin`],
    /// [`PasskeyError::InvalidResponse`], [`PasskeyError::UnknownCredential`] (a passkey not
    /// offered, or deleted since), [`PasskeyError::CounterRegression`].
    pub fn finish_second_factor(
        &self,
        state: &CeremonyState,
        user_id: Uuid,
        response: &Value,
        passkeys: &[PasskeyCredential],
    ) -> Result<PasskeyAssertion, PasskeyError> {
        let StoredState::SecondFactor { user, state } = state.read()? else {
            return Err(PasskeyError::StateInvalid);
        };
        if user != user_id {
            return Err(PasskeyError::StateInvalid);
        }
        let response = parse_assertion(response)?;
        let stored = find(passkeys, response.get_credential_id())?;
        let result = self
            .webauthn
            .finish_passkey_authentication(&response, &state)
            .map_err(refusal)?;
        updated(stored, &result)
    }

    /// Starts a passwordless sign-in: no user, no credential list; the authenticator offers the
    /// discoverable passkeys it holds for this relying party.
    ///
    /// The options carry no `mediation`: the page chooses a modal prompt or, with
    /// `mediation: "conditional"` next to `publicKey`, the autofill list.
    ///
    /// # Errors
    /// [`PasskeyError::Internal`] if webauthn-rs cannot make a challenge.
    pub fn start_passwordless(&self) -> Result<Ceremony, PasskeyError> {
        let (mut options, state) = self
            .webauthn
            .start_discoverable_authentication()
            .map_err(internal)?;
        options.mediation = None;
        Ceremony::new(&options, &StoredState::Passwordless { state })
    }

    /// Reads which user and credential a passwordless answer names (its user handle and
    /// credential id), so the caller can load that user's passkeys. Nothing is verified yet.
    ///
    /// # Errors
    /// [`PasskeyError::InvalidResponse`] for a malformed answer or a user handle that is not a
    /// Sesame user id.
    pub fn identify_passwordless(
        &self,
        response: &Value,
    ) -> Result<DiscoveredPasskey, PasskeyError> {
        let response = parse_assertion(response)?;
        let user_id = user_handle(&response)?;
        Ok(DiscoveredPasskey {
            user_id,
            credential_id: response.get_credential_id().to_vec(),
        })
    }

    /// Completes a passwordless sign-in for `user_id` (from
    /// [`PasskeyRp::identify_passwordless`]); `passkeys` are that user's passkeys as stored.
    ///
    /// # Errors
    /// As [`PasskeyRp::finish_second_factor`]; [`PasskeyError::UnknownCredential`] also when the
    /// credential is not this user's (the user handle and the credential must agree, WebAuthn
    /// §7.2 step 6).
    pub fn finish_passwordless(
        &self,
        state: &CeremonyState,
        user_id: Uuid,
        response: &Value,
        passkeys: &[PasskeyCredential],
    ) -> Result<PasskeyAssertion, PasskeyError> {
        let StoredState::Passwordless { state } = state.read()? else {
            return Err(PasskeyError::StateInvalid);
        };
        let response = parse_assertion(response)?;
        if user_handle(&response)? != user_id {
            return Err(PasskeyError::UnknownCredential);
        }
        let stored = find(passkeys, response.get_credential_id())?;
        let credential = Credential::from(stored.parse()?);
        let result = self
            .webauthn
            .finish_discoverable_authentication_v2(&response, state, &credential)
            .map_err(refusal)?;
        updated(stored, &result)
    }
}

impl Ceremony {
    fn new(options: &impl Serialize, state: &StoredState) -> Result<Self, PasskeyError> {
        let options = serde_json::to_value(options)
            .map_err(|e| PasskeyError::Internal(format!("serialising passkey options: {e}")))?;
        let state = serde_json::to_string(state)
            .map_err(|e| PasskeyError::Internal(format!("serialising a passkey state: {e}")))?;
        Ok(Self {
            options,
            state: CeremonyState(state),
        })
    }
}

impl CeremonyState {
    fn read(&self) -> Result<StoredState, PasskeyError> {
        serde_json::from_str(&self.0).map_err(|_| PasskeyError::StateInvalid)
    }
}

fn check_origin(rp_id: &str, origin: &Url) -> Result<(), PasskeyConfigError> {
    let shown = origin.as_str().trim_end_matches('/').to_owned();
    let bare = origin.path() == "/"
        && origin.query().is_none()
        && origin.fragment().is_none()
        && origin.username().is_empty()
        && origin.password().is_none();
    if !bare {
        return Err(PasskeyConfigError::NotAnOrigin(shown));
    }
    let Some(host) = origin.domain() else {
        // An IP address has no registrable domain to bind a passkey to (WebAuthn §5.1.3).
        return Err(PasskeyConfigError::RpIdNotSuffix {
            rp_id: rp_id.to_owned(),
            origin: shown,
        });
    };
    match origin.scheme() {
        "https" => {}
        "http" if host == "localhost" => {}
        _ => return Err(PasskeyConfigError::InsecureOrigin(shown)),
    }
    let rp_id = rp_id.trim_end_matches('.').to_ascii_lowercase();
    let suffix = !rp_id.is_empty()
        && (host == rp_id || host.ends_with(&format!(".{rp_id}")))
        && rp_id.contains(|c: char| c != '.');
    if suffix {
        Ok(())
    } else {
        Err(PasskeyConfigError::RpIdNotSuffix {
            rp_id,
            origin: shown,
        })
    }
}

fn parse_assertion(response: &Value) -> Result<PublicKeyCredential, PasskeyError> {
    PublicKeyCredential::deserialize(response).map_err(|_| PasskeyError::InvalidResponse)
}

/// The user handle of a passwordless answer: Sesame registers the user id's 16 bytes.
fn user_handle(response: &PublicKeyCredential) -> Result<Uuid, PasskeyError> {
    response
        .get_user_unique_id()
        .and_then(|b| Uuid::from_slice(b).ok())
        .ok_or(PasskeyError::InvalidResponse)
}

fn find<'a>(
    passkeys: &'a [PasskeyCredential],
    credential_id: &[u8],
) -> Result<&'a PasskeyCredential, PasskeyError> {
    passkeys
        .iter()
        .find(|p| p.credential_id == credential_id)
        .ok_or(PasskeyError::UnknownCredential)
}

fn updated(
    stored: &PasskeyCredential,
    result: &webauthn_rs::prelude::AuthenticationResult,
) -> Result<PasskeyAssertion, PasskeyError> {
    let mut passkey = stored.parse()?;
    // WebAuthn §7.2, the signCount step (and §6.1.1): if either counter is non-zero, the new one
    // must exceed the stored one. webauthn-rs checks against the counter copied into the state
    // when the ceremony started; checking the passkey as stored now also catches a clone whose
    // ceremony began before the original's last sign-in.
    let known = Credential::from(passkey.clone()).counter;
    if (result.counter() != 0 || known != 0) && result.counter() <= known {
        return Err(PasskeyError::CounterRegression);
    }
    let changed = passkey.update_credential(result) == Some(true);
    Ok(PasskeyAssertion {
        credential_id: stored.credential_id.clone(),
        counter: result.counter(),
        credential: PasskeyCredential::from_passkey(&passkey)?,
        changed,
    })
}

fn internal(e: WebauthnError) -> PasskeyError {
    PasskeyError::Internal(e.to_string())
}

/// What a refused answer means for the caller. webauthn-rs has one error type for its own
/// configuration and for the client's answer; in a `finish_*` every error but those below is
/// about the answer.
fn refusal(e: WebauthnError) -> PasskeyError {
    match e {
        WebauthnError::InvalidRPOrigin
        | WebauthnError::InvalidRPIDHash
        | WebauthnError::CredentialCrossOrigin => PasskeyError::WrongOrigin,
        WebauthnError::CredentialPossibleCompromise => PasskeyError::CounterRegression,
        WebauthnError::CredentialNotFound => PasskeyError::UnknownCredential,
        WebauthnError::Configuration => PasskeyError::Internal(e.to_string()),
        _ => PasskeyError::InvalidResponse,
    }
}

#[cfg(test)]
mod tests {
    //! Every ceremony against `webauthn-authenticator-rs`'s software passkey, driven through its
    //! `WebauthnAuthenticator` (the client-side checks a browser makes: https, rp id suffix of the
    //! origin). `SoftPasskey::new(true)` reports user verification as done (a platform
    //! authenticator after a fingerprint). It refuses to make resident keys, keeps no user handle
    //! and answers only for credentials it is offered, so [`Browser`] adds the discoverable part:
    //! it checks the relying party asked for a resident key, keeps each credential's user handle
    //! and, for an empty allow list, offers the credentials it holds, as a platform
    //! authenticator's account picker does. The user handle is not signed (WebAuthn §6.3.3), so
    //! filling it in here is what the authenticator itself does. A real browser's resident keys
    //! are exercised by the Chromium virtual-authenticator test.

    use super::*;
    use webauthn_authenticator_rs::softpasskey::SoftPasskey;
    use webauthn_authenticator_rs::WebauthnAuthenticator;
    use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse};
    use webauthn_rs_proto::{AllowCredentials, UserVerificationPolicy};

    const ORIGIN: &str = "https://auth.example.com";

    fn url(s: &str) -> Url {
        Url::parse(s).expect("a test URL")
    }

    fn rp() -> PasskeyRp {
        PasskeyRp::new("example.com", &[url(ORIGIN)], "Sesame").expect("a valid relying party")
    }

    struct Browser {
        origin: Url,
        authenticator: SoftPasskey,
        resident: Vec<(Vec<u8>, Vec<u8>)>,
        /// Ignore the relying party's `userVerification: "required"` (a client that does not
        /// verify the user).
        skip_user_verification: bool,
    }

    impl Browser {
        fn at(origin: &str) -> Self {
            Self {
                origin: url(origin),
                authenticator: SoftPasskey::new(true),
                resident: Vec::new(),
                skip_user_verification: false,
            }
        }

        fn create(&mut self, options: &Value) -> Value {
            let mut options: CreationChallengeResponse =
                serde_json::from_value(options.clone()).expect("creation options");
            let handle = options.public_key.user.id.clone();
            if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
                assert!(
                    selection.require_resident_key,
                    "a passkey must be discoverable"
                );
                selection.require_resident_key = false;
                if self.skip_user_verification {
                    selection.user_verification = UserVerificationPolicy::Discouraged_DO_NOT_USE;
                }
            }
            let credential = self
                .authenticator
                .do_registration(self.origin.clone(), options)
                .expect("the authenticator registers");
            self.resident.push((credential.raw_id.to_vec(), handle));
            serde_json::to_value(credential).expect("a JSON credential")
        }

        fn get(&mut self, options: &Value) -> Value {
            let mut options: RequestChallengeResponse =
                serde_json::from_value(options.clone()).expect("request options");
            let discoverable = options.public_key.allow_credentials.is_empty();
            if self.skip_user_verification {
                options.public_key.user_verification =
                    UserVerificationPolicy::Discouraged_DO_NOT_USE;
            }
            if discoverable {
                options.public_key.allow_credentials = self
                    .resident
                    .iter()
                    .map(|(id, _)| AllowCredentials {
                        type_: "public-key".into(),
                        id: id.clone(),
                        transports: None,
                    })
                    .collect();
            }
            let mut assertion = self
                .authenticator
                .do_authentication(self.origin.clone(), options)
                .expect("the authenticator signs");
            if discoverable {
                let id = assertion.raw_id.to_vec();
                let handle = self
                    .resident
                    .iter()
                    .find(|(c, _)| *c == id)
                    .map(|r| r.1.clone());
                assertion.response.user_handle = handle;
            }
            serde_json::to_value(assertion).expect("a JSON assertion")
        }
    }

    fn user(name: &str) -> (Uuid, String) {
        (Uuid::new_v4(), name.to_owned())
    }

    fn register(rp: &PasskeyRp, browser: &mut Browser, id: Uuid, name: &str) -> PasskeyCredential {
        let user = PasskeyUser {
            id,
            name,
            display_name: name,
        };
        let ceremony = rp
            .start_registration(user, &[])
            .expect("registration starts");
        let response = browser.create(&ceremony.options);
        rp.finish_registration(&ceremony.state, id, &response)
            .expect("registration finishes")
    }

    #[test]
    fn registration_asks_for_a_discoverable_user_verified_passkey_and_returns_a_credential() {
        let rp = rp();
        let (id, name) = user("alice@example.com");
        let ceremony = rp
            .start_registration(
                PasskeyUser {
                    id,
                    name: &name,
                    display_name: "Alice",
                },
                &[vec![1, 2, 3]],
            )
            .expect("registration starts");
        let selection = &ceremony.options["publicKey"]["authenticatorSelection"];
        assert_eq!(selection["residentKey"], "required");
        assert_eq!(selection["requireResidentKey"], true);
        assert_eq!(selection["userVerification"], "required");
        assert_eq!(ceremony.options["publicKey"]["rp"]["id"], "example.com");
        assert_eq!(ceremony.options["publicKey"]["rp"]["name"], "Sesame");
        assert_eq!(
            ceremony.options["publicKey"]["excludeCredentials"][0]["id"],
            "AQID"
        );

        let mut browser = Browser::at(ORIGIN);
        let response = browser.create(&ceremony.options);
        let credential = rp
            .finish_registration(&ceremony.state, id, &response)
            .expect("registration finishes");
        assert_eq!(credential.credential_id, browser.resident[0].0);
        assert!(
            !credential.backup_eligible,
            "the soft passkey is device-bound"
        );
        assert_eq!(credential.amr(), PasskeyAmr::Hwk);
        assert_eq!(credential.counter(), Ok(0));
    }

    #[test]
    fn amr_is_swk_for_a_backup_eligible_passkey_and_hwk_for_a_device_bound_one() {
        let mut credential = PasskeyCredential {
            credential_id: vec![1],
            passkey: String::new(),
            backup_eligible: true,
        };
        assert_eq!(credential.amr().as_str(), "swk");
        credential.backup_eligible = false;
        assert_eq!(credential.amr().as_str(), "hwk");
    }

    #[test]
    fn a_registered_passkey_passes_as_a_second_factor_and_its_counter_moves_on() {
        let rp = rp();
        let mut browser = Browser::at(ORIGIN);
        let (id, name) = user("alice@example.com");
        let stored = register(&rp, &mut browser, id, &name);

        let ceremony = rp
            .start_second_factor(id, std::slice::from_ref(&stored))
            .expect("authentication starts");
        assert_eq!(
            ceremony.options["publicKey"]["userVerification"],
            "required"
        );
        let response = browser.get(&ceremony.options);
        let assertion = rp
            .finish_second_factor(
                &ceremony.state,
                id,
                &response,
                std::slice::from_ref(&stored),
            )
            .expect("the assertion is accepted");
        assert_eq!(assertion.credential_id, stored.credential_id);
        assert_eq!(assertion.counter, 1);
        assert!(assertion.changed);
        assert_eq!(assertion.credential.counter(), Ok(1));
        assert_eq!(assertion.credential.credential_id, stored.credential_id);
    }

    #[test]
    fn a_second_factor_needs_at_least_one_passkey() {
        assert_eq!(
            rp().start_second_factor(Uuid::new_v4(), &[]).err(),
            Some(PasskeyError::UnknownCredential)
        );
    }

    #[test]
    fn passwordless_sign_in_identifies_the_user_whose_passkey_signed() {
        let rp = rp();
        let mut alice_phone = Browser::at(ORIGIN);
        let mut bob_phone = Browser::at(ORIGIN);
        let (alice, _) = user("alice");
        let (bob, _) = user("bob");
        let alice_key = register(&rp, &mut alice_phone, alice, "alice");
        let bob_key = register(&rp, &mut bob_phone, bob, "bob");

        let ceremony = rp.start_passwordless().expect("passwordless starts");
        assert_eq!(
            ceremony.options["publicKey"]["allowCredentials"],
            serde_json::json!([])
        );
        assert!(ceremony.options.get("mediation").is_none());
        let response = bob_phone.get(&ceremony.options);
        let found = rp.identify_passwordless(&response).expect("a user handle");
        assert_eq!(
            found,
            DiscoveredPasskey {
                user_id: bob,
                credential_id: bob_key.credential_id.clone(),
            }
        );
        let assertion = rp
            .finish_passwordless(
                &ceremony.state,
                bob,
                &response,
                std::slice::from_ref(&bob_key),
            )
            .expect("bob signs in");
        assert_eq!(assertion.credential_id, bob_key.credential_id);

        // The user handle and the credential must name the same account.
        let again = rp.start_passwordless().expect("passwordless starts");
        let response = bob_phone.get(&again.options);
        assert_eq!(
            rp.finish_passwordless(
                &again.state,
                alice,
                &response,
                &[alice_key.clone(), bob_key]
            )
            .err(),
            Some(PasskeyError::UnknownCredential)
        );
        assert_eq!(
            rp.finish_passwordless(&again.state, bob, &response, &[alice_key])
                .err(),
            Some(PasskeyError::UnknownCredential)
        );
    }

    #[test]
    fn a_passwordless_answer_without_a_sesame_user_handle_is_invalid() {
        let rp = rp();
        let mut browser = Browser::at(ORIGIN);
        let (id, _) = user("alice");
        register(&rp, &mut browser, id, "alice");
        let ceremony = rp.start_passwordless().expect("passwordless starts");
        let mut response = browser.get(&ceremony.options);
        response["response"]["userHandle"] = Value::Null;
        assert_eq!(
            rp.identify_passwordless(&response).err(),
            Some(PasskeyError::InvalidResponse)
        );
        response["response"]["userHandle"] = "AQID".into();
        assert_eq!(
            rp.identify_passwordless(&response).err(),
            Some(PasskeyError::InvalidResponse)
        );
    }

    /// Two copies of one key: the clone signs with the counter it was copied at, which is
    /// behind what the original has shown since. Both ceremonies start before either finishes,
    /// so webauthn-rs's state holds the old counter: only the check against the stored counter
    /// catches the clone.
    #[test]
    fn a_cloned_authenticators_counter_regression_is_refused() {
        let rp = rp();
        let mut browser = Browser::at(ORIGIN);
        let (id, _) = user("alice");
        let stored = register(&rp, &mut browser, id, "alice");

        let for_clone = rp
            .start_second_factor(id, std::slice::from_ref(&stored))
            .expect("starts");
        let cloned_answer = browser.get(&for_clone.options); // counter 1
        let for_original = rp
            .start_second_factor(id, std::slice::from_ref(&stored))
            .expect("starts");
        let original_answer = browser.get(&for_original.options); // counter 2

        let accepted = rp
            .finish_second_factor(&for_original.state, id, &original_answer, &[stored])
            .expect("the original is accepted");
        assert_eq!(accepted.counter, 2);
        assert_eq!(
            rp.finish_second_factor(&for_clone.state, id, &cloned_answer, &[accepted.credential])
                .err(),
            Some(PasskeyError::CounterRegression)
        );
    }

    #[test]
    fn a_passwordless_clone_is_refused_too() {
        let rp = rp();
        let mut browser = Browser::at(ORIGIN);
        let (id, _) = user("alice");
        let stored = register(&rp, &mut browser, id, "alice");
        let for_clone = rp.start_passwordless().expect("starts");
        let cloned_answer = browser.get(&for_clone.options);
        let for_original = rp.start_passwordless().expect("starts");
        let original_answer = browser.get(&for_original.options);
        let accepted = rp
            .finish_passwordless(&for_original.state, id, &original_answer, &[stored])
            .expect("the original is accepted");
        assert_eq!(
            rp.finish_passwordless(&for_clone.state, id, &cloned_answer, &[accepted.credential])
                .err(),
            Some(PasskeyError::CounterRegression)
        );
    }

    #[test]
    fn an_assertion_made_for_another_origin_is_refused() {
        let rp = rp();
        let mut browser = Browser::at(ORIGIN);
        let (id, _) = user("alice");
        let stored = register(&rp, &mut browser, id, "alice");
        // A sibling site under the same registrable domain: the browser lets it use the rp id,
        // the relying party must not accept what it collects.
        let mut elsewhere = Browser::at("https://evil.example.com");
        std::mem::swap(&mut elsewhere.authenticator, &mut browser.authenticator);
        let ceremony = rp
            .start_second_factor(id, std::slice::from_ref(&stored))
            .expect("starts");
        let response = elsewhere.get(&ceremony.options);
        assert_eq!(
            rp.finish_second_factor(&ceremony.state, id, &response, &[stored])
                .err(),
            Some(PasskeyError::WrongOrigin)
        );
    }

    #[test]
    fn a_registration_made_for_another_origin_is_refused() {
        let rp = rp();
        let (id, _) = user("alice");
        let ceremony = rp
            .start_registration(
                PasskeyUser {
                    id,
                    name: "alice",
                    display_name: "alice",
                },
                &[],
            )
            .expect("starts");
        let response = Browser::at("https://evil.example.com").create(&ceremony.options);
        assert_eq!(
            rp.finish_registration(&ceremony.state, id, &response).err(),
            Some(PasskeyError::WrongOrigin)
        );
    }

    #[test]
    fn a_passkey_registered_without_user_verification_is_refused() {
        let rp = rp();
        let (id, _) = user("alice");
        let mut careless = Browser::at(ORIGIN);
        careless.skip_user_verification = true;
        let ceremony = rp
            .start_registration(
                PasskeyUser {
                    id,
                    name: "alice",
                    display_name: "alice",
                },
                &[],
            )
            .expect("starts");
        let response = careless.create(&ceremony.options);
        assert_eq!(
            rp.finish_registration(&ceremony.state, id, &response).err(),
            Some(PasskeyError::InvalidResponse)
        );
    }

    #[test]
    fn an_assertion_without_user_verification_is_refused() {
        let rp = rp();
        let mut browser = Browser::at(ORIGIN);
        let (id, _) = user("alice");
        let stored = register(&rp, &mut browser, id, "alice");
        browser.skip_user_verification = true;
        let second = rp
            .start_second_factor(id, std::slice::from_ref(&stored))
            .expect("starts");
        let response = browser.get(&second.options);
        assert_eq!(
            rp.finish_second_factor(&second.state, id, &response, std::slice::from_ref(&stored))
                .err(),
            Some(PasskeyError::InvalidResponse)
        );
        let passwordless = rp.start_passwordless().expect("starts");
        let response = browser.get(&passwordless.options);
        assert_eq!(
            rp.finish_passwordless(&passwordless.state, id, &response, &[stored])
                .err(),
            Some(PasskeyError::InvalidResponse)
        );
    }

    #[test]
    fn a_state_finishes_only_its_own_ceremony() {
        let rp = rp();
        let mut browser = Browser::at(ORIGIN);
        let (alice, _) = user("alice");
        let (bob, _) = user("bob");
        let stored = register(&rp, &mut browser, alice, "alice");
        let keys = [stored];

        let first = rp.start_second_factor(alice, &keys).expect("starts");
        let second = rp.start_second_factor(alice, &keys).expect("starts");
        let answer_to_second = browser.get(&second.options);
        // Another challenge of the same kind.
        assert_eq!(
            rp.finish_second_factor(&first.state, alice, &answer_to_second, &keys)
                .err(),
            Some(PasskeyError::InvalidResponse)
        );
        // Another user's state.
        assert_eq!(
            rp.finish_second_factor(&second.state, bob, &answer_to_second, &keys)
                .err(),
            Some(PasskeyError::StateInvalid)
        );
        // Another kind of ceremony's state.
        let passwordless = rp.start_passwordless().expect("starts");
        assert_eq!(
            rp.finish_second_factor(&passwordless.state, alice, &answer_to_second, &keys)
                .err(),
            Some(PasskeyError::StateInvalid)
        );
        assert_eq!(
            rp.finish_passwordless(&second.state, alice, &answer_to_second, &keys)
                .err(),
            Some(PasskeyError::StateInvalid)
        );
        let registration = rp
            .start_registration(
                PasskeyUser {
                    id: alice,
                    name: "alice",
                    display_name: "alice",
                },
                &[],
            )
            .expect("starts");
        assert_eq!(
            rp.finish_registration(&second.state, alice, &answer_to_second)
                .err(),
            Some(PasskeyError::StateInvalid)
        );
        assert_eq!(
            rp.finish_second_factor(&registration.state, alice, &answer_to_second, &keys)
                .err(),
            Some(PasskeyError::StateInvalid)
        );
        // Its own state still finishes it.
        assert!(rp
            .finish_second_factor(&second.state, alice, &answer_to_second, &keys)
            .is_ok());
    }

    #[test]
    fn garbage_from_the_client_or_the_store_is_an_error_not_a_panic() {
        let rp = rp();
        let (id, _) = user("alice");
        let ceremony = rp.start_second_factor(
            id,
            &[PasskeyCredential {
                credential_id: vec![1],
                passkey: "{}".into(),
                backup_eligible: false,
            }],
        );
        assert!(matches!(ceremony, Err(PasskeyError::Internal(_))));

        let passwordless = rp.start_passwordless().expect("starts");
        for junk in [
            serde_json::json!(null),
            serde_json::json!({}),
            serde_json::json!({"id": "x", "rawId": "!!", "type": "public-key"}),
            serde_json::json!({"id": "AQ", "rawId": "AQ", "type": "public-key", "response": {
                "authenticatorData": "AQ", "clientDataJSON": "AQ", "signature": "AQ",
                "userHandle": Uuid::nil().as_bytes().to_vec()}}),
        ] {
            assert_eq!(
                rp.identify_passwordless(&junk).err(),
                Some(PasskeyError::InvalidResponse)
            );
            assert!(rp
                .finish_passwordless(&passwordless.state, Uuid::nil(), &junk, &[])
                .is_err());
            assert!(rp
                .finish_registration(&passwordless.state, id, &junk)
                .is_err());
        }
        let bad_state = CeremonyState::from_stored("not json".into());
        assert_eq!(
            rp.finish_passwordless(&bad_state, id, &serde_json::json!({}), &[])
                .err(),
            Some(PasskeyError::StateInvalid)
        );
    }

    #[test]
    fn the_relying_party_refuses_origins_it_cannot_serve() {
        let build = |rp_id: &str, origins: &[&str]| {
            let origins: Vec<Url> = origins.iter().map(|o| url(o)).collect();
            PasskeyRp::new(rp_id, &origins, "Sesame").map(|rp| rp.rp_id().to_owned())
        };
        assert_eq!(
            build("example.com", &["https://example.com"]),
            Ok("example.com".into())
        );
        assert_eq!(
            build(
                "example.com",
                &["https://auth.example.com:8443", "https://example.com"]
            ),
            Ok("example.com".into())
        );
        assert_eq!(
            build("localhost", &["http://localhost:8080"]),
            Ok("localhost".into())
        );
        assert_eq!(build("example.com", &[]), Err(PasskeyConfigError::NoOrigin));
        assert_eq!(
            build("example.com", &["http://example.com"]),
            Err(PasskeyConfigError::InsecureOrigin(
                "http://example.com".into()
            ))
        );
        assert!(matches!(
            build("example.com", &["https://notexample.com"]),
            Err(PasskeyConfigError::RpIdNotSuffix { .. })
        ));
        assert!(matches!(
            build("auth.example.com", &["https://example.com"]),
            Err(PasskeyConfigError::RpIdNotSuffix { .. })
        ));
        assert!(matches!(
            build("127.0.0.1", &["https://127.0.0.1"]),
            Err(PasskeyConfigError::RpIdNotSuffix { .. })
        ));
        assert!(matches!(
            build("example.com", &["https://example.com/app"]),
            Err(PasskeyConfigError::NotAnOrigin(_))
        ));
        assert_eq!(
            PasskeyRp::new("example.com", &[url(ORIGIN)], " ").err(),
            Some(PasskeyConfigError::EmptyName)
        );
    }
}
