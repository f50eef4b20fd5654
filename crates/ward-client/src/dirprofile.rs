//! Profile by directory (SPEC §3.1): a `.<product>-profile` file (`.ward-profile`) in the
//! current directory or any parent names the profile to use there, so a checkout of work code
//! signs in as the work account without switching the global profile (which concurrent shells
//! and agents would all see).
//!
//! The file holds one profile name; blank lines and lines starting with `#` are ignored.

use std::path::{Path, PathBuf};

use crate::error::{io_error, Error, Result};

/// A profile named by a directory file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirProfile {
    /// The profile name.
    pub alias: String,
    /// The file that named it.
    pub file: PathBuf,
}

/// The file name for `product` (`.ward-profile`).
pub fn file_name(product: &str) -> String {
    format!(".{product}-profile")
}

/// The nearest `file_name` in `start` or its parents, read.
///
/// # Errors
/// A usage error naming the file when it names no valid profile; an I/O error when it cannot be
/// read.
pub fn find(start: &Path, file_name: &str) -> Result<Option<DirProfile>> {
    for dir in start.ancestors() {
        let file = dir.join(file_name);
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                continue
            }
            // A directory by that name, or one we may not read: not a profile file.
            Err(e) if file.is_dir() || e.kind() == std::io::ErrorKind::PermissionDenied => continue,
            Err(e) => return Err(io_error(format!("cannot read {}", file.display()), e)),
        };
        let alias = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .unwrap_or_default()
            .to_owned();
        if crate::client::validate_alias(&alias).is_err() {
            return Err(Error::usage(format!(
                "{} does not name a profile (found {alias:?})",
                file.display()
            ))
            .with_hint(
                "Write one profile name in it (letters, digits, '.', '_' or '-'), or remove it",
            ));
        }
        return Ok(Some(DirProfile { alias, file }));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_file_wins_and_comments_are_skipped() {
        let root = tempfile::tempdir().unwrap();
        let deep = root.path().join("a/b/c");
        std::fs::create_dir_all(&deep).unwrap();
        assert_eq!(find(&deep, ".ward-profile").unwrap(), None);
        std::fs::write(root.path().join(".ward-profile"), "work\n").unwrap();
        let found = find(&deep, ".ward-profile").unwrap().unwrap();
        assert_eq!(found.alias, "work");
        assert_eq!(found.file, root.path().join(".ward-profile"));
        std::fs::write(
            root.path().join("a/b/.ward-profile"),
            "# the client's cluster\n\n  client-eu  \n",
        )
        .unwrap();
        assert_eq!(
            find(&deep, ".ward-profile").unwrap().unwrap().alias,
            "client-eu"
        );
    }

    #[test]
    fn a_bad_name_is_a_usage_error_naming_the_file() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join(".ward-profile"), "../etc\n").unwrap();
        let err = find(root.path(), ".ward-profile").unwrap_err();
        assert!(err.is_usage());
        assert!(err.to_string().contains(".ward-profile"), "{err}");
        std::fs::write(root.path().join(".ward-profile"), "\n").unwrap();
        assert!(find(root.path(), ".ward-profile").unwrap_err().is_usage());
    }

    #[test]
    fn a_directory_of_that_name_is_not_a_profile_file() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join(".ward-profile")).unwrap();
        assert_eq!(find(root.path(), ".ward-profile").unwrap(), None);
    }
}
