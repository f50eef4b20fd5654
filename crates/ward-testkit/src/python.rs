//! Python packages from PyPI for interop tests (Authlib, PyJWT, …), pinned and installed into
//! a venv under the test target's scratch directory on first use.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// A venv's python with `packages` installed, made once under `scratch` (the suite's
/// `CARGO_TARGET_TMPDIR`) and named after the packages, so a new pin makes a new venv.
/// `imports` is a Python import line that proves the venv is usable. `None` (after
/// [`crate::missing_component`]) when python3 or PyPI is unavailable.
pub fn venv(test: &str, scratch: &Path, packages: &[&str], imports: &str) -> Option<PathBuf> {
    static ONCE: Mutex<()> = Mutex::new(());
    let _once = ONCE.lock().unwrap_or_else(|e| e.into_inner());
    let venv = scratch.join(format!("python-{}", packages.join("-").replace("==", "-")));
    let python = venv.join("bin/python");
    let usable = |python: &Path| {
        Command::new(python)
            .args(["-c", imports])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if usable(&python) {
        return Some(python);
    }
    // Made aside and renamed into place: another test process may be doing the same.
    let aside = venv.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&aside);
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&aside)
        .status()
        .is_ok_and(|s| s.success())
        && Command::new(aside.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(packages)
            .status()
            .is_ok_and(|s| s.success());
    if made && std::fs::rename(&aside, &venv).is_err() {
        let _ = std::fs::remove_dir_all(&aside);
    }
    if usable(&python) {
        return Some(python);
    }
    crate::missing_component(
        test,
        &format!(
            "python3 with venv and pip, and PyPI ({})",
            packages.join(", ")
        ),
    );
    None
}
