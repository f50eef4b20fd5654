//! Signing in from a terminal with a password and a code (`ward login --auth-flow password`,
//! like `tsh login` with local users), for boxes with no browser anywhere (decision 164).
//!
//! The CLI asks for a device code as usual (`POST /oauth/device/code`), then sends the typed
//! email, password and — when the account has two-step verification — code here with the
//! `user_code`. When every factor passes, that device code is approved as if the owner had
//! approved it in a browser, and the CLI's next poll of `/oauth/token` gets its session (bound to
//! its DPoP key, audited as a CLI sign-in). Nothing else issues tokens: the rules of the device
//! grant, the session and the password and MFA budgets are the ones every other path uses.

use axum::http::StatusCode;
use ward_core::audit::Outcome;
use ward_core::authority::FIRST_PARTY_CLIENTS;
use ward_core::device::normalize_user_code;
use ward_core::model::{normalize_email, DeviceGrant};

use crate::audit::{self, Audit};
use crate::error::ApiError;
use crate::mfa::{amr_with_otp, verify_code};
use crate::ops::signin::{check_password, PasswordCheck};
use crate::state::AppState;

/// What the terminal typed.
pub struct TerminalCredentials {
    pub user_code: String,
    pub email: String,
    pub password: String,
    /// A TOTP or backup code; asked for after a first answer of `mfa_required`.
    pub code: Option<String>,
}

/// The account the device code was approved for.
pub struct Approved {
    pub email: String,
    pub amr: Vec<String>,
}

const METHOD: &str = "terminal_password";

fn refused(status: StatusCode, code: &'static str, description: impl ToString) -> ApiError {
    ApiError::new(status, code, description)
}

/// Approves the caller's own pending `ward-cli` device code once the password (and the second
/// factor, when the account has one) are right.
///
/// # Errors
/// 403 `terminal_sign_in_off` when the server does not allow it; 400 `invalid_user_code` for a
/// code that is unknown, expired, used, not the CLI's, or asked for from another address; 401
/// `invalid_credentials` (with the guesses left), 401 `mfa_required`, 400 `invalid_code`; 403
/// `routed_to_idp`, `pending_approval`, `password_change_required`, `mfa_enrolment_required`;
/// 429 over a limit.
pub async fn approve(
    state: &AppState,
    typed: TerminalCredentials,
    ip: Option<&str>,
) -> Result<Approved, ApiError> {
    if !state.config.terminal_sign_in {
        return Err(refused(
            StatusCode::FORBIDDEN,
            "terminal_sign_in_off",
            "this server does not allow signing in with a password in the terminal \
             (terminal_sign_in = false); sign in with a browser or the device code",
        ));
    }
    let email = normalize_email(&typed.email);
    let user = match check_password(state, &email, typed.password, ip, METHOD).await? {
        PasswordCheck::Passed(user) => user,
        PasswordCheck::Refused { remaining } => {
            return Err(refused(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                format!("incorrect email or password; {remaining} attempts left"),
            )
            .with_remaining(remaining))
        }
        PasswordCheck::RoutedToIdp(idp) => {
            return Err(refused(
                StatusCode::FORBIDDEN,
                "routed_to_idp",
                format!(
                    "accounts at this domain sign in through {}, not with a password here; \
                     sign in with a browser or the device code",
                    idp.name
                ),
            ))
        }
        PasswordCheck::PendingApproval(_) => {
            return Err(refused(
                StatusCode::FORBIDDEN,
                "pending_approval",
                "this account is waiting for an administrator's approval",
            ))
        }
    };
    if state.store.password_change_required(&user.id).await? {
        return Err(refused(
            StatusCode::FORBIDDEN,
            "password_change_required",
            "this account must choose a new password first; sign in with a browser once",
        ));
    }
    let mut amr: Vec<String> = vec![ward_core::model::Amr::Pwd.into()];
    if crate::mfa::is_enabled(state, &user.id).await? {
        let Some(code) = typed.code.as_deref().filter(|c| !c.trim().is_empty()) else {
            return Err(refused(
                StatusCode::UNAUTHORIZED,
                "mfa_required",
                "enter the code from your authenticator app, or a backup code",
            ));
        };
        let checked = verify_code(state, &user.id, code.trim()).await;
        audit::record(
            state,
            Audit::new("mfa.verify", crate::mfa::outcome(&checked))
                .target(user.id.as_str())
                .ip(ip)
                .detail(serde_json::json!({"purpose": "signin", "method": METHOD})),
        )
        .await;
        checked?;
        amr = amr_with_otp(&amr);
    } else if crate::mfa::required_for(state, &user.role) {
        return Err(refused(
            StatusCode::FORBIDDEN,
            "mfa_enrolment_required",
            "your role requires two-step verification; set it up by signing in with a browser once",
        ));
    }
    let grant = pending_grant(state, &typed.user_code, ip).await?;
    let now = state.clock.now();
    let decided = state
        .store
        .decide_device_grant(&grant.user_code, Some((&user.id, now, &amr)), now)
        .await?;
    if !decided {
        return Err(invalid_user_code());
    }
    audit::record(
        state,
        Audit::new("device.approved", Outcome::Ok)
            .actor(user.id.as_str())
            .ip(ip)
            .target(&grant.user_code)
            .detail(serde_json::json!({"method": METHOD, "amr": amr})),
    )
    .await;
    Ok(Approved {
        email: user.email,
        amr,
    })
}

fn invalid_user_code() -> ApiError {
    refused(
        StatusCode::BAD_REQUEST,
        "invalid_user_code",
        "this sign-in code is unknown, expired or already used; run the login again",
    )
}

/// The CLI's own pending grant: a first-party client's, asked for from the same address as this
/// request (a terminal approves only the code it started itself, never one sent to it).
async fn pending_grant(
    state: &AppState,
    user_code: &str,
    ip: Option<&str>,
) -> Result<DeviceGrant, ApiError> {
    let code = normalize_user_code(user_code).ok_or_else(invalid_user_code)?;
    let grant = state
        .store
        .device_grant_by_user_code(&code)
        .await?
        .filter(|g| g.expires_at > state.clock.now())
        .filter(|g| FIRST_PARTY_CLIENTS.contains(&g.client_id.as_str()))
        .ok_or_else(invalid_user_code)?;
    if grant.requested_ip.as_deref() != ip {
        return Err(refused(
            StatusCode::BAD_REQUEST,
            "invalid_user_code",
            "this sign-in code was asked for from another address; a terminal approves only \
             its own code",
        ));
    }
    Ok(grant)
}
