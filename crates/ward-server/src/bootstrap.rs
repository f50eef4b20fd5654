//! The first admin: from `WARD_BOOTSTRAP_ADMIN_EMAIL`/`_PASSWORD`, else `admin@localhost` with
//! a random password that the binary prints once.

use ward_core::clock::Timestamp;
use ward_core::model::{is_plausible_email, normalize_email, User};
use ward_core::random::{random_string, BASE62};
use ward_core::store::Store;
use ward_core::Random;
use ward_core::UserId;

use crate::config::Config;
use crate::hashing::PasswordPool;
use crate::StartError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bootstrap {
    /// Users existed already.
    Existing,
    /// The configured admin was created.
    Configured { email: String },
    /// An admin with a generated password was created; show the password once.
    Generated { email: String, password: String },
}

pub async fn ensure_admin(
    config: &Config,
    store: &dyn Store,
    passwords: &PasswordPool,
    now: Timestamp,
    random: &dyn Random,
) -> Result<Bootstrap, StartError> {
    if store.count_users_up_to(1).await? > 0 {
        return Ok(Bootstrap::Existing);
    }
    let (email, password, generated) = match &config.bootstrap_admin {
        Some((email, password)) => (normalize_email(email), password.clone(), false),
        None => (
            "admin@localhost".to_string(),
            random_string(random, BASE62, 20),
            true,
        ),
    };
    if !is_plausible_email(&email) {
        return Err(StartError::Bootstrap(format!(
            "bootstrap_admin_email = {email:?}: expected an email address"
        )));
    }
    let hash = passwords
        .hash(password.clone())
        .await
        .map_err(|e| StartError::Bootstrap(format!("bootstrap_admin_password: {e}")))?;
    let user = User {
        id: UserId::random(random),
        name: email.split('@').next().unwrap_or("admin").to_string(),
        email: email.clone(),
        password_hash: Some(hash),
        role: "admin".into(),
        disabled: false,
        created_at: now,
        // The operator chose it (or it is admin@localhost): nothing to verify by mail.
        email_verified: true,
    };
    match store.insert_user(&user).await {
        // The printed password is in a terminal's scrollback and maybe a log: the admin
        // chooses their own at first sign-in (SPEC §2.14).
        Ok(()) if generated => {
            store.set_password_change_required(&user.id, true).await?;
        }
        Ok(()) => {}
        // Another replica created the first user at the same moment.
        Err(ward_core::StoreError::Conflict(_)) => return Ok(Bootstrap::Existing),
        Err(e) => return Err(e.into()),
    }
    Ok(if generated {
        Bootstrap::Generated { email, password }
    } else {
        Bootstrap::Configured { email }
    })
}
