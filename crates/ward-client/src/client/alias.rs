//! Which profile to use: the flag, `<PREFIX>_PROFILE`, a `.<product>-profile` file in the
//! current directory or a parent, the config's current profile, or `default` (decision 131).
//! A child of `client` so it can read the client's private fields.

use super::{validate_alias, Client};
use crate::error::Result;

/// What picked the profile (see [`Client::resolve_alias`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AliasSource {
    /// The caller's flag (`--profile`).
    Flag,
    /// `<PREFIX>_PROFILE`.
    Env,
    /// A `.<product>-profile` file: this one.
    Directory(std::path::PathBuf),
    /// The config's current profile.
    Current,
    /// Nothing: `default`.
    Default,
}

impl AliasSource {
    /// Whether the profile was asked for by name (so a missing one is the caller's mistake).
    pub fn is_named(&self) -> bool {
        matches!(self, Self::Flag | Self::Env | Self::Directory(_))
    }
}

impl Client {
    /// The profile alias to use: `flag` > `<PREFIX>_PROFILE` > a `.<product>-profile` file in
    /// the current directory or a parent > the config's current > `default`.
    ///
    /// # Errors
    /// When the config is corrupt, the directory file names no valid profile, or the name is
    /// not a valid alias.
    pub fn resolve_alias(&self, flag: Option<&str>) -> Result<String> {
        Ok(self.resolve_alias_with_source(flag)?.0)
    }

    /// [`Client::resolve_alias`], and what chose the alias.
    ///
    /// # Errors
    /// As [`Client::resolve_alias`].
    pub fn resolve_alias_with_source(&self, flag: Option<&str>) -> Result<(String, AliasSource)> {
        let (alias, source) = if let Some(a) = flag {
            (a.to_owned(), AliasSource::Flag)
        } else if let Some(a) = self.params.env("PROFILE") {
            (a, AliasSource::Env)
        } else if let Some(found) = self.directory_profile()? {
            (found.alias, AliasSource::Directory(found.file))
        } else {
            match self.load_config()?.current {
                Some(a) => (a, AliasSource::Current),
                None => ("default".to_owned(), AliasSource::Default),
            }
        };
        validate_alias(&alias)?;
        Ok((alias, source))
    }

    /// The profile named by `.<product>-profile` in the current directory or a parent.
    ///
    /// # Errors
    /// When the file names no valid profile.
    pub fn directory_profile(&self) -> Result<Option<crate::dirprofile::DirProfile>> {
        let Ok(cwd) = std::env::current_dir() else {
            return Ok(None);
        };
        crate::dirprofile::find(&cwd, &crate::dirprofile::file_name(&self.params.product))
    }
}
