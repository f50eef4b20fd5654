//! Choosing and removing profiles.

use super::*;

impl Client {
    /// Makes `alias` the current profile.
    ///
    /// # Errors
    /// When there is no such profile.
    pub fn use_profile(&self, alias: &str) -> Result<()> {
        let found = self.config.update(|c| {
            if c.profiles.contains_key(alias) {
                c.current = Some(alias.to_owned());
                true
            } else {
                false
            }
        })?;
        if found {
            Ok(())
        } else {
            Err(self.unknown_profile(alias)?)
        }
    }

    /// Forgets `alias`: its secret and its profile (the server session is revoked first, best
    /// effort).
    ///
    /// # Errors
    /// When there is no such profile or storage fails.
    pub async fn remove_profile(&self, alias: &str) -> Result<()> {
        self.require_profile(alias)?;
        self.logout(alias).await?;
        self.config.update(|c| {
            c.profiles.remove(alias);
            if c.current.as_deref() == Some(alias) {
                c.current = None;
            }
        })?;
        Ok(())
    }
}
