//! Two-step verification operations shared by the API (`/api/mfa/*`) and the pages
//! (`/account/mfa`): a code checked and audited, MFA turned off, backup codes replaced.

use serde_json::json;
use ward_core::mfa;

use crate::audit::{self, Audit};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::mfa::{backup_hashes, verify_code, Factor};
use crate::state::AppState;

/// Checks a code and writes the MFA audit event either way.
pub async fn checked(
    state: &AppState,
    caller: &Caller,
    ip: Option<&str>,
    code: &str,
    purpose: &str,
) -> ApiResult<Factor> {
    let result = verify_code(state, &caller.user.id, code).await;
    let outcome = crate::mfa::outcome(&result);
    audit::record(
        state,
        Audit::new("mfa.verify", outcome)
            .actor(&caller.user.id)
            .ip(ip)
            .detail(json!({ "purpose": purpose })),
    )
    .await;
    result
}

/// Turns TOTP and backup codes off, with a current code; returns whether MFA is still on
/// (registered security keys still count).
pub async fn disable(
    state: &AppState,
    caller: &Caller,
    ip: Option<&str>,
    code: &str,
) -> ApiResult<bool> {
    crate::authz::require_first_party_session(state, caller)?;
    checked(state, caller, ip, code, "disable").await?;
    state.store.remove_mfa(&caller.user.id).await?;
    audit::record(
        state,
        Audit::new("mfa.disabled", "ok")
            .actor(&caller.user.id)
            .ip(ip)
            .target(&caller.user.id),
    )
    .await;
    crate::mail::notice(state, &caller.user, crate::mail::Notice::MfaDisabled).await;
    crate::mfa::is_enabled(state, &caller.user.id).await
}

/// Replaces the backup codes, with a current code; returns the new ones (shown once).
pub async fn regenerate_backup_codes(
    state: &AppState,
    caller: &Caller,
    ip: Option<&str>,
    code: &str,
) -> ApiResult<Vec<String>> {
    crate::authz::require_first_party_session(state, caller)?;
    checked(state, caller, ip, code, "backup-codes").await?;
    let codes = mfa::new_backup_codes(state.random.as_ref());
    state
        .store
        .replace_backup_codes(
            &caller.user.id,
            &backup_hashes(state, &caller.user.id, &codes),
        )
        .await?;
    audit::record(
        state,
        Audit::new("mfa.backup_codes", "ok")
            .actor(&caller.user.id)
            .ip(ip)
            .target(&caller.user.id),
    )
    .await;
    Ok(codes)
}

/// Removes one of the caller's security keys or passkeys (account security).
pub async fn remove_security_key(
    state: &AppState,
    caller: &Caller,
    ip: Option<&str>,
    id: &str,
) -> ApiResult<()> {
    crate::authz::require_account_security(state, caller)?;
    if !state
        .store
        .delete_webauthn_credential(&caller.user.id, id)
        .await?
    {
        return Err(crate::error::ApiError::not_found(
            "no such security key of yours",
        ));
    }
    audit::record(
        state,
        Audit::new("mfa.webauthn_removed", "ok")
            .actor(&caller.user.id)
            .ip(ip)
            .target(id),
    )
    .await;
    Ok(())
}
