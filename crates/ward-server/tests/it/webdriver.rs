//! The browser moved to the test kit (`ward_testkit::browser`: fantoccini driving Debian's
//! chromium); this path stays for branches that still name `crate::webdriver`.
#[allow(unused_imports)]
pub use ward_testkit::browser::*;
