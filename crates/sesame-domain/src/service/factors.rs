//! [`Factors`]: what the owner of an account does with its second factors: list them, enrol an
//! authenticator app (RFC 6238) and confirm it with its first code, rename and remove factors,
//! and issue a new set of recovery codes. Also the checks every flow shares: a second-factor
//! answer ([`check_answer`]) and the step-up rule ([`require_recent`]).
//!
//! It refuses sign-in (completing a challenge is [`super::SignIn`]'s), other users' factors
//! (the admin's view and reset are [`super::Admin`]'s) and the WebAuthn ceremony itself (the
//! passkey module's). Secrets are sealed with the application key ([`crate::seal::Keyring`])
//! before they reach the store.

use crate::audit::{AuditEvent, AuditKind};
use crate::clock::Timestamp;
use crate::error::AuthError;
use crate::mail::{FactorAdded, FactorRemoved, OutboundMail, RecoveryCodeUsed};
use crate::mfa::{
    AuthMethod, Factor, FactorId, FactorKind, FactorName, MfaRequirement, RecoveryCode, TotpSecret,
};
use crate::model::{ClientInfo, SessionId, User, UserId};
use crate::passkey::{
    CeremonyState, PasskeyAmr, PasskeyAssertion, PasskeyCredential, PasskeyError, PasskeyUser,
};
use crate::store::{ChallengePurpose, FactorEffects, FactorSecret, NewChallenge, NewFactor};
use crate::token::ChallengeToken;
use std::sync::Arc;
use std::time::Duration;

use super::core::{chrono_dur, Core};
use super::Principal;

/// How second factors behave.
#[derive(Debug, Clone)]
pub struct MfaSettings {
    /// Who must have a factor (`SESAME_MFA_REQUIRED`).
    pub required: MfaRequirement,
    /// How long a second-factor challenge (and a WebAuthn ceremony) lives.
    pub challenge_ttl: Duration,
    /// Wrong answers after which a challenge dies.
    pub max_challenge_failures: u32,
    /// How recent an authentication sensitive operations need (`SESAME_REAUTH_MAX_AGE`).
    pub reauth_max_age: Duration,
    /// The issuer shown in authenticator apps (the product name).
    pub totp_issuer: String,
}

impl Default for MfaSettings {
    fn default() -> Self {
        Self {
            required: MfaRequirement::Off,
            challenge_ttl: Duration::from_secs(300),
            max_challenge_failures: 5,
            reauth_max_age: Duration::from_secs(600),
            totp_issuer: "Sesame".to_owned(),
        }
    }
}

/// A second-factor answer.
#[derive(Debug, Clone)]
pub enum SecondFactor {
    /// A code from an authenticator app.
    Totp(String),
    /// One of the account's recovery codes.
    RecoveryCode(String),
    /// A WebAuthn assertion (the browser's `PublicKeyCredential`, as JSON) answering the
    /// challenge's passkey ceremony.
    Passkey(serde_json::Value),
}

/// The passkeys of `user`, as the relying party reads them.
pub(crate) async fn passkey_credentials(
    core: &Core,
    user: UserId,
) -> Result<Vec<(FactorId, PasskeyCredential)>, AuthError> {
    core.store
        .user_passkeys(user)
        .await?
        .into_iter()
        .map(|r| {
            PasskeyCredential::from_stored(r.credential_id, r.credential)
                .map(|c| (r.factor.id, c))
                .map_err(|e| AuthError::Internal(Box::new(e)))
        })
        .collect()
}

/// The outcome of a passkey ceremony's last step: the methods it proves (RFC 8176), after
/// storing the passkey's new counter; `None` when the browser's answer is refused.
pub(crate) async fn passkey_verified(
    core: &Core,
    user: &User,
    creds: &[(FactorId, PasskeyCredential)],
    result: Result<PasskeyAssertion, PasskeyError>,
    client: &ClientInfo,
) -> Result<Option<Vec<AuthMethod>>, AuthError> {
    let assertion = match result {
        Ok(a) => a,
        Err(PasskeyError::Internal(e)) => return Err(AuthError::Internal(e.into())),
        Err(PasskeyError::CounterRegression) => {
            tracing::warn!(user_id = %user.id, event = "passkey_counter_regression", "a passkey's signature counter went backwards: the authenticator may be cloned; refused");
            core.audit(
                AuditKind::LoginFailed,
                Some(user.id),
                client,
                serde_json::json!({"reason": "passkey_counter_regression"}),
            )
            .await;
            return Ok(None);
        }
        Err(e) => {
            tracing::info!(error = %e, "passkey answer refused");
            return Ok(None);
        }
    };
    let Some((id, checked)) = creds
        .iter()
        .find(|(_, c)| c.credential_id == assertion.credential_id)
    else {
        return Ok(None);
    };
    if !core
        .store
        .passkey_used(
            *id,
            &checked.passkey,
            &assertion.credential.passkey,
            core.now(),
        )
        .await?
    {
        // Another use of this passkey was recorded since it was read (or it was deleted): the
        // counter this answer was checked against is stale, as with a cloned authenticator.
        tracing::warn!(user_id = %user.id, "a passkey was used concurrently; the later answer is refused");
        return Ok(None);
    }
    let key = match assertion.credential.amr() {
        PasskeyAmr::Hwk => AuthMethod::Hwk,
        PasskeyAmr::Swk => AuthMethod::Swk,
    };
    // Sesame's relying party requires user verification, so every accepted assertion also
    // proves the user (RFC 8176 `user`).
    Ok(Some(vec![key, AuthMethod::User]))
}

/// The factors of an account, as its owner or an operator sees them.
#[derive(Debug, Clone)]
pub struct FactorOverview {
    pub factors: Vec<Factor>,
    pub recovery_codes_left: u32,
}

/// An authenticator app waiting for its first code: what the owner's app needs, shown once.
#[derive(Debug, Clone)]
pub struct TotpEnrolment {
    pub factor: Factor,
    pub secret: TotpSecret,
    pub otpauth_uri: String,
}

/// The associated data a TOTP secret is sealed with: its factor's id.
pub(crate) fn totp_aad(id: FactorId) -> Vec<u8> {
    crate::seal::SecretKind::TotpSecret.aad(&crate::seal::RowId::Uuid(id.as_uuid()))
}

/// Opens a factor's sealed secret.
fn open(core: &Core, sealed: &crate::seal::Sealed, id: FactorId) -> Result<TotpSecret, AuthError> {
    core.keyring()?
        .open(sealed, &totp_aad(id))
        .map(|plain| TotpSecret::from_bytes(plain.to_vec()))
        .map_err(|e| AuthError::Internal(Box::new(e)))
}

/// A mail to the owner and an audit event, written with a factor change.
pub(crate) fn effects(
    core: &Core,
    user: &User,
    mail: Option<crate::mail::Message>,
    kind: AuditKind,
    actor: Option<UserId>,
    client: &ClientInfo,
    detail: serde_json::Value,
) -> FactorEffects {
    let t = core.now();
    let mails = mail
        .map(|m| OutboundMail::new(Some(user.id), user.email.as_str(), user.locale, m, t))
        .into_iter()
        .collect();
    let mut audit = AuditEvent::new(kind, Some(user.id), client, detail, t);
    audit.actor_id = actor;
    FactorEffects { mails, audit }
}

/// Whether the user has an active second factor.
pub(crate) async fn has_active_factor(core: &Core, user: UserId) -> Result<bool, AuthError> {
    Ok(core
        .store
        .user_factors(user)
        .await?
        .iter()
        .any(Factor::is_active))
}

/// The step-up rule for sensitive operations: the caller's token must come from an
/// authentication at most `reauth_max_age` old and, when the account has an active second
/// factor, one that proved it (`amr` has `mfa`).
///
/// # Errors
/// [`AuthError::StepUpRequired`] (RFC 9470 §3), telling the client to re-authenticate.
pub(crate) async fn require_recent(core: &Core, who: &Principal) -> Result<(), AuthError> {
    let max_age = core.mfa.reauth_max_age.as_secs();
    let age = core.now().timestamp() - who.claims.authenticated_at();
    let refused = AuthError::StepUpRequired {
        max_age_secs: max_age,
    };
    if age > i64::try_from(max_age).unwrap_or(i64::MAX) {
        tracing::info!(age_secs = age, "step-up required: authentication too old");
        return Err(refused);
    }
    if !who.claims.multi_factor() && has_active_factor(core, who.user.id).await? {
        tracing::info!("step-up required: second factor not proved in this session");
        return Err(refused);
    }
    Ok(())
}

/// Checks a second-factor answer for `user` at the current time and, when it is right, records
/// its use (the TOTP step, or the spent recovery code with its mail and audit event). Returns
/// the authentication method it proves, or `None` when it is wrong (or a replay).
pub(crate) async fn check_answer(
    core: &Core,
    user: &User,
    answer: &SecondFactor,
    ceremony: Option<&str>,
    client: &ClientInfo,
) -> Result<Option<Vec<AuthMethod>>, AuthError> {
    let t = core.now();
    match answer {
        SecondFactor::Passkey(response) => {
            let (Some(rp), Some(state)) = (core.passkeys.as_ref(), ceremony) else {
                return Ok(None);
            };
            let creds = passkey_credentials(core, user.id).await?;
            let plain: Vec<PasskeyCredential> = creds.iter().map(|(_, c)| c.clone()).collect();
            let result = rp.finish_second_factor(
                &CeremonyState::from_stored(state.to_owned()),
                user.id.as_uuid(),
                response,
                &plain,
            );
            passkey_verified(core, user, &creds, result, client).await
        }
        SecondFactor::Totp(code) => {
            for record in core.store.active_totp_factors(user.id).await? {
                let secret = open(core, &record.secret, record.factor.id)?;
                if let Some(step) = secret.check(code, t, record.last_step) {
                    if core
                        .store
                        .use_totp_step(record.factor.id, step, t, None, None)
                        .await?
                    {
                        return Ok(Some(vec![AuthMethod::Otp]));
                    }
                    tracing::info!("authenticator code refused: its step was used concurrently");
                }
            }
            Ok(None)
        }
        SecondFactor::RecoveryCode(code) => {
            let Some(hash) = RecoveryCode::hash_typed(user.id, code) else {
                return Ok(None);
            };
            let left = core.store.recovery_codes_left(user.id).await?;
            let fx = effects(
                core,
                user,
                Some(
                    RecoveryCodeUsed {
                        email: user.email.as_str().to_owned(),
                        codes_left: left.saturating_sub(1).to_string(),
                    }
                    .into(),
                ),
                AuditKind::MfaRecoveryCodeUsed,
                None,
                client,
                serde_json::json!({ "codes_left": left.saturating_sub(1) }),
            );
            let spent = core.store.use_recovery_code(user.id, &hash, t, &fx).await?;
            if spent {
                core.mail_enqueued();
                Ok(Some(vec![AuthMethod::Otp]))
            } else {
                Ok(None)
            }
        }
    }
}

/// Second factors of the caller's own account (see the module header).
pub struct Factors {
    core: Arc<Core>,
}

impl std::fmt::Debug for Factors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Factors").finish_non_exhaustive()
    }
}

impl Factors {
    #[must_use]
    pub fn new(core: Arc<Core>) -> Self {
        Self { core }
    }

    /// The caller's factors and how many recovery codes are left.
    ///
    /// # Errors
    /// On a storage failure.
    pub async fn overview(&self, who: &Principal) -> Result<FactorOverview, AuthError> {
        overview(&self.core, who.user.id).await
    }

    /// Starts enrolling an authenticator app: a new secret, stored sealed and inactive until
    /// [`Factors::confirm_totp`] sees its first code. Adding a factor to an account that has
    /// one already is a sensitive operation (it would let a thief keep access): step-up.
    ///
    /// # Errors
    /// [`AuthError::StepUpRequired`]; storage failures.
    pub async fn start_totp(
        &self,
        who: &Principal,
        name: Option<FactorName>,
    ) -> Result<TotpEnrolment, AuthError> {
        let core = &self.core;
        if has_active_factor(core, who.user.id).await? {
            require_recent(core, who).await?;
        }
        let t = core.now();
        let id = FactorId::new();
        let secret = TotpSecret::generate();
        let sealed = core.keyring()?.seal(secret.as_bytes(), &totp_aad(id));
        let name = name.unwrap_or_else(|| FactorName::from_stored("Authenticator app".into()));
        let account = who.user.email.as_str();
        let otpauth_uri = secret
            .otpauth_uri(&core.mfa.totp_issuer, account)
            .map_err(|e| AuthError::Internal(e.into()))?;
        core.store
            .insert_factor(
                &NewFactor {
                    id,
                    user_id: who.user.id,
                    name: name.clone(),
                    created_at: t,
                    secret: FactorSecret::Totp(sealed),
                },
                false,
                None,
                None,
            )
            .await?;
        tracing::info!(factor_id = %id, "authenticator app enrolment started");
        Ok(TotpEnrolment {
            factor: Factor {
                id,
                user_id: who.user.id,
                kind: FactorKind::Totp,
                name,
                created_at: t,
                confirmed_at: None,
                last_used_at: None,
            },
            secret,
            otpauth_uri,
        })
    }

    /// Activates an authenticator app with its first code. The account's first factor comes
    /// with a set of recovery codes, returned here once.
    ///
    /// # Errors
    /// [`AuthError::NotFound`] for no such pending factor; [`AuthError::InvalidSecondFactor`]
    /// for a wrong code.
    pub async fn confirm_totp(
        &self,
        who: &Principal,
        id: FactorId,
        code: &str,
        client: &ClientInfo,
    ) -> Result<(Factor, Option<Vec<RecoveryCode>>), AuthError> {
        let core = &self.core;
        let user = &who.user;
        let record = core
            .store
            .totp_factor(user.id, id)
            .await?
            .filter(|r| !r.factor.is_active())
            .ok_or(AuthError::NotFound)?;
        let t = core.now();
        let secret = open(core, &record.secret, id)?;
        let step = secret
            .check(code, t, record.last_step)
            .ok_or(AuthError::InvalidSecondFactor)?;
        let first = !has_active_factor(core, user.id).await?;
        // An enrolment started before the account had a factor must not become a second one
        // without the step-up a new one needs now.
        if !first {
            require_recent(core, who).await?;
        }
        let codes = first.then(RecoveryCode::generate_set);
        let hashes: Option<Vec<_>> = codes
            .as_ref()
            .map(|c| c.iter().map(|c| c.hash(user.id)).collect());
        let fx = added_effects(core, user, &record.factor, client);
        if !core
            .store
            .use_totp_step(id, step, t, Some(&fx), hashes.as_deref())
            .await?
        {
            return Err(AuthError::InvalidSecondFactor);
        }
        core.mail_enqueued();
        tracing::info!(factor_id = %id, first, "authenticator app confirmed");
        let mut factor = record.factor;
        factor.confirmed_at = Some(t);
        factor.last_used_at = Some(t);
        Ok((factor, codes))
    }

    /// Starts registering a passkey: the browser's creation options, and the id of the
    /// ceremony (kept server side, single use, `SESAME_MFA_CHALLENGE_TTL`). Like any new factor
    /// on an account that has one, it needs a step-up.
    ///
    /// # Errors
    /// [`AuthError::PasskeysUnavailable`], [`AuthError::StepUpRequired`].
    pub async fn start_passkey(
        &self,
        who: &Principal,
    ) -> Result<super::PasskeyCeremony, AuthError> {
        let core = &self.core;
        let rp = core
            .passkeys
            .as_ref()
            .ok_or(AuthError::PasskeysUnavailable)?;
        if has_active_factor(core, who.user.id).await? {
            require_recent(core, who).await?;
        }
        let existing: Vec<Vec<u8>> = passkey_credentials(core, who.user.id)
            .await?
            .into_iter()
            .map(|(_, c)| c.credential_id)
            .collect();
        let user = &who.user;
        let name = user.email.as_str();
        let display = user.display_name.as_ref().map_or(name, |d| d.as_str());
        let ceremony = rp
            .start_registration(
                PasskeyUser {
                    id: user.id.as_uuid(),
                    name,
                    display_name: display,
                },
                &existing,
            )
            .map_err(|e| AuthError::Internal(Box::new(e)))?;
        store_ceremony(
            core,
            ceremony,
            ChallengePurpose::PasskeyRegister,
            Some(user.id),
            Some(who.session_id()),
        )
        .await
    }

    /// Finishes registering a passkey with the browser's answer: the passkey is active at once
    /// (the account's first factor comes with recovery codes, returned once), mailed about and
    /// audited.
    ///
    /// # Errors
    /// [`AuthError::InvalidChallenge`] for an unknown, used or expired ceremony (or another
    /// user's); [`AuthError::InvalidSecondFactor`] when the browser's answer is refused or the
    /// credential is registered already.
    pub async fn finish_passkey(
        &self,
        who: &Principal,
        registration_id: &str,
        name: Option<FactorName>,
        response: &serde_json::Value,
        client: &ClientInfo,
    ) -> Result<(Factor, Option<Vec<RecoveryCode>>), AuthError> {
        let core = &self.core;
        let rp = core
            .passkeys
            .as_ref()
            .ok_or(AuthError::PasskeysUnavailable)?;
        let user = &who.user;
        let state = take_ceremony(
            core,
            registration_id,
            ChallengePurpose::PasskeyRegister,
            Some(user.id),
        )
        .await?;
        let cred = rp
            .finish_registration(
                &CeremonyState::from_stored(state),
                user.id.as_uuid(),
                response,
            )
            .map_err(|e| match e {
                PasskeyError::Internal(e) => AuthError::Internal(e.into()),
                other => {
                    tracing::info!(error = %other, "passkey registration refused");
                    AuthError::InvalidSecondFactor
                }
            })?;
        let t = core.now();
        let factor = Factor {
            id: FactorId::new(),
            user_id: user.id,
            kind: FactorKind::Passkey,
            name: name.unwrap_or_else(|| FactorName::from_stored("Passkey".into())),
            created_at: t,
            confirmed_at: Some(t),
            last_used_at: None,
        };
        let first = !has_active_factor(core, user.id).await?;
        if !first {
            require_recent(core, who).await?;
        }
        let codes = first.then(RecoveryCode::generate_set);
        let hashes: Option<Vec<_>> = codes
            .as_ref()
            .map(|c| c.iter().map(|c| c.hash(user.id)).collect());
        let fx = added_effects(core, user, &factor, client);
        match core
            .store
            .insert_factor(
                &NewFactor {
                    id: factor.id,
                    user_id: user.id,
                    name: factor.name.clone(),
                    created_at: t,
                    secret: FactorSecret::Passkey {
                        credential_id: cred.credential_id,
                        credential: cred.passkey,
                    },
                },
                true,
                Some(&fx),
                hashes.as_deref(),
            )
            .await
        {
            Ok(()) => {}
            // The credential id is unique across accounts (webauthn-rs: one credential, one
            // account).
            Err(crate::StoreError::Conflict(_)) => return Err(AuthError::InvalidSecondFactor),
            Err(e) => return Err(e.into()),
        }
        core.mail_enqueued();
        tracing::info!(factor_id = %factor.id, first, "passkey registered");
        Ok((factor, codes))
    }

    /// Renames one of the caller's factors.
    ///
    /// # Errors
    /// [`AuthError::NotFound`].
    pub async fn rename(
        &self,
        who: &Principal,
        id: FactorId,
        name: &FactorName,
        client: &ClientInfo,
    ) -> Result<Factor, AuthError> {
        let core = &self.core;
        if !core.store.rename_factor(who.user.id, id, name).await? {
            return Err(AuthError::NotFound);
        }
        core.audit(
            AuditKind::MfaFactorRenamed,
            Some(who.user.id),
            client,
            serde_json::json!({ "factor_id": id }),
        )
        .await;
        self.find(who.user.id, id).await
    }

    async fn find(&self, user: UserId, id: FactorId) -> Result<Factor, AuthError> {
        self.core
            .store
            .user_factors(user)
            .await?
            .into_iter()
            .find(|f| f.id == id)
            .ok_or(AuthError::NotFound)
    }

    /// Removes one of the caller's factors (step-up). Removing the last active factor also
    /// voids the recovery codes.
    ///
    /// # Errors
    /// [`AuthError::StepUpRequired`], [`AuthError::NotFound`].
    pub async fn remove(
        &self,
        who: &Principal,
        id: FactorId,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let core = &self.core;
        let factor = self.find(who.user.id, id).await?;
        // A pending enrolment protects nothing yet: abandoning it needs no step-up.
        if factor.is_active() {
            require_recent(core, who).await?;
        }
        let fx = removed_effects(core, &who.user, Some(&factor), None, client);
        let n = core
            .store
            .delete_factors(who.user.id, Some(id), &fx)
            .await?;
        if n == 0 {
            return Err(AuthError::NotFound);
        }
        core.mail_enqueued();
        tracing::info!(factor_id = %id, "factor removed by its owner");
        Ok(())
    }

    /// A new set of recovery codes (step-up); the old set stops working.
    ///
    /// # Errors
    /// [`AuthError::StepUpRequired`], [`AuthError::NoSecondFactor`].
    pub async fn regenerate_recovery_codes(
        &self,
        who: &Principal,
        client: &ClientInfo,
    ) -> Result<Vec<RecoveryCode>, AuthError> {
        let core = &self.core;
        require_recent(core, who).await?;
        if !has_active_factor(core, who.user.id).await? {
            return Err(AuthError::NoSecondFactor);
        }
        let codes = RecoveryCode::generate_set();
        let hashes: Vec<_> = codes.iter().map(|c| c.hash(who.user.id)).collect();
        let fx = effects(
            core,
            &who.user,
            None,
            AuditKind::MfaRecoveryCodesIssued,
            None,
            client,
            serde_json::json!({ "count": codes.len() }),
        );
        core.store
            .replace_recovery_codes(who.user.id, &hashes, core.now(), &fx)
            .await?;
        tracing::info!("recovery codes regenerated");
        Ok(codes)
    }
}

/// Now and then (one call in 64), forgets challenges that expired over an hour ago, so the
/// table holds only recent ones without a sweeper (as the lockout counters are pruned).
pub(crate) async fn prune_now_and_then(core: &Core) {
    if rand::random::<u8>() < 4 {
        let before = core.now() - chrono::Duration::hours(1);
        if let Err(e) = core.store.prune_challenges(before).await {
            tracing::warn!(error = %e, "pruning expired challenges failed");
        }
    }
}

/// Keeps a passkey ceremony's state for its lifetime (`SESAME_MFA_CHALLENGE_TTL`) under a new
/// single-use id, which goes to the browser with the options.
///
/// # Errors
/// [`AuthError::Internal`] when it cannot be kept.
pub(crate) async fn store_ceremony(
    core: &Core,
    ceremony: crate::passkey::Ceremony,
    purpose: ChallengePurpose,
    user: Option<UserId>,
    session: Option<SessionId>,
) -> Result<super::PasskeyCeremony, AuthError> {
    let t = core.now();
    let id = ChallengeToken::generate();
    let expires_at = t + chrono_dur(core.mfa.challenge_ttl);
    core.store
        .insert_challenge(&NewChallenge {
            hash: id.hash(),
            user_id: user,
            purpose,
            session_id: session,
            state: Some(ceremony.state.into_string()),
            created_at: t,
            expires_at,
        })
        .await?;
    prune_now_and_then(core).await;
    Ok(super::PasskeyCeremony {
        id,
        options: ceremony.options,
        expires_in: secs_until(expires_at, t),
    })
}

/// Uses the ceremony `raw` of `purpose` (for `user`, when one is named) once and returns its
/// state.
///
/// # Errors
/// [`AuthError::InvalidChallenge`] for an unknown, used, expired or exhausted one.
pub(crate) async fn take_ceremony(
    core: &Core,
    raw: &str,
    purpose: ChallengePurpose,
    user: Option<UserId>,
) -> Result<String, AuthError> {
    let token = ChallengeToken::parse(raw).ok_or(AuthError::InvalidChallenge)?;
    let hash = token.hash();
    let t = core.now();
    let c = core
        .store
        .challenge(&hash)
        .await?
        .filter(|c| c.purpose == purpose && c.used_at.is_none() && c.expires_at > t)
        .filter(|c| user.is_none() || c.user_id == user)
        .ok_or(AuthError::InvalidChallenge)?;
    if !core
        .store
        .consume_challenge(&hash, t, core.mfa.max_challenge_failures)
        .await?
    {
        return Err(AuthError::InvalidChallenge);
    }
    c.state.ok_or(AuthError::InvalidChallenge)
}

/// The factors of `user` and the count of unused recovery codes.
pub(crate) async fn overview(core: &Core, user: UserId) -> Result<FactorOverview, AuthError> {
    Ok(FactorOverview {
        factors: core.store.user_factors(user).await?,
        recovery_codes_left: core.store.recovery_codes_left(user).await?,
    })
}

/// The mail and audit event of a factor that became active.
pub(crate) fn added_effects(
    core: &Core,
    user: &User,
    factor: &Factor,
    client: &ClientInfo,
) -> FactorEffects {
    effects(
        core,
        user,
        Some(
            FactorAdded {
                email: user.email.as_str().to_owned(),
                factor_kind: factor.kind.as_str().to_owned(),
                factor_name: factor.name.as_str().to_owned(),
            }
            .into(),
        ),
        AuditKind::MfaFactorAdded,
        None,
        client,
        serde_json::json!({ "factor_id": factor.id, "type": factor.kind.as_str() }),
    )
}

/// The mail and audit event of a removal: one factor, or (`None`) all of them by `admin`.
pub(crate) fn removed_effects(
    core: &Core,
    user: &User,
    factor: Option<&Factor>,
    admin: Option<UserId>,
    client: &ClientInfo,
) -> FactorEffects {
    // A pending enrolment never protected the account: its removal needs no mail.
    let mail = match factor {
        Some(f) if !f.is_active() => None,
        _ => Some(
            FactorRemoved {
                email: user.email.as_str().to_owned(),
                factor_kind: factor.map_or("all", |f| f.kind.as_str()).to_owned(),
                factor_name: factor
                    .map(|f| f.name.as_str().to_owned())
                    .unwrap_or_default(),
                by_admin: if admin.is_some() { "yes" } else { "no" }.to_owned(),
            }
            .into(),
        ),
    };
    let (kind, detail) = match factor {
        Some(f) => (
            AuditKind::MfaFactorRemoved,
            serde_json::json!({ "factor_id": f.id, "type": f.kind.as_str() }),
        ),
        None => (AuditKind::AdminFactorsReset, serde_json::json!({})),
    };
    effects(core, user, mail, kind, admin, client, detail)
}

/// Whether the policy makes `user`, with or without a factor, limited to enrolment.
pub(crate) fn enrolment_only(settings: &MfaSettings, user: &User, has_factor: bool) -> bool {
    !has_factor && settings.required.applies_to(&user.roles)
}

/// Seconds until `at`, at least 1.
pub(crate) fn secs_until(at: Timestamp, t: Timestamp) -> u64 {
    u64::try_from((at - t).num_seconds()).unwrap_or(0).max(1)
}
