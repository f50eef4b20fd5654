//! What ward's two integration suites share (`crates/ward-server/tests/it` and
//! `crates/ward/tests/it`): a headless Chromium driven over WebDriver ([`browser`]), HTML form
//! helpers for the pages' server-rendered forms ([`html`]), and one launcher for the `ward`
//! binary ([`process`]). A dev-dependency only.
//!
//! A helper that cannot do its job panics with what went wrong: here a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod browser;
pub mod html;
pub mod process;
pub mod python;

/// A component a test needs is missing: a failure, unless the person running the tests asked
/// for skipping with `WARD_TEST_ALLOW_SKIP=1` (then the skip is printed, never silent).
pub fn missing_component(test: &str, what: &str) {
    if skipping_allowed() {
        eprintln!("SKIPPED {test}: {what} (WARD_TEST_ALLOW_SKIP=1)");
        return;
    }
    panic!(
        "{test} needs {what}; install it (.ci/packages.sh) or set WARD_TEST_ALLOW_SKIP=1 to skip"
    );
}

/// Whether the person running the tests asked for missing components to skip tests.
pub fn skipping_allowed() -> bool {
    std::env::var("WARD_TEST_ALLOW_SKIP").is_ok_and(|v| v == "1")
}
