//! Choosing a sign-in flow: `auto` picks PKCE where a browser can open and the device flow
//! elsewhere, and falls back from PKCE to the device flow when the loopback wait times out or
//! cannot bind, unless the server has switched the device flow off.

use std::str::FromStr;

use crate::error::{Error, Result};

/// The flow asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthFlow {
    /// PKCE where a browser can open, else the device flow; fall back when PKCE fails.
    #[default]
    Auto,
    /// Authorization code + PKCE with a loopback redirect.
    Pkce,
    /// Device authorization grant.
    DeviceCode,
    /// The password (and code) typed in this terminal approve the device authorization
    /// (decision 164), where the server allows it. Never chosen by `auto`.
    Password,
}

impl FromStr for AuthFlow {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(AuthFlow::Auto),
            "pkce" => Ok(AuthFlow::Pkce),
            "device_code" | "device-code" | "device" => Ok(AuthFlow::DeviceCode),
            "password" => Ok(AuthFlow::Password),
            other => Err(Error::usage(format!(
                "unknown auth flow {other:?}: expected auto, pkce, device_code or password"
            ))),
        }
    }
}

/// The facts about this machine that decide whether a browser can open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrowserEnv {
    /// `$BROWSER` is set.
    pub browser_var: bool,
    /// `SSH_CONNECTION`/`SSH_CLIENT`/`SSH_TTY` is set.
    pub ssh: bool,
    /// `DISPLAY` or `WAYLAND_DISPLAY` is set.
    pub display: bool,
    /// Running on Linux/BSD (where a display is needed), not macOS/Windows.
    pub needs_display: bool,
    /// The caller said `--no-browser`.
    pub no_browser: bool,
    /// Running under WSL, where the Windows browser opens without a Linux display.
    pub wsl: bool,
}

impl BrowserEnv {
    /// Reads the environment.
    pub fn detect(no_browser: bool) -> Self {
        let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
        Self {
            browser_var: set("BROWSER"),
            ssh: set("SSH_CONNECTION") || set("SSH_CLIENT") || set("SSH_TTY"),
            display: set("DISPLAY") || set("WAYLAND_DISPLAY"),
            needs_display: cfg!(all(unix, not(target_os = "macos"))),
            no_browser,
            wsl: set("WSL_DISTRO_NAME") || set("WSL_INTEROP"),
        }
    }

    /// Why no browser can be opened here, or `None` when one can.
    pub fn why_not(&self) -> Option<&'static str> {
        if self.can_open() {
            None
        } else if self.no_browser {
            Some("--no-browser was given")
        } else if self.ssh {
            Some("this is an SSH session")
        } else {
            Some("there is no display (DISPLAY and WAYLAND_DISPLAY are unset)")
        }
    }

    /// Whether a browser can be opened on this machine.
    pub fn can_open(&self) -> bool {
        if self.no_browser {
            return false;
        }
        // An explicit $BROWSER wins: the user knows what it does (wslview, a remote opener…).
        if self.browser_var {
            return true;
        }
        if self.ssh {
            return false;
        }
        !self.needs_display || self.display || self.wsl
    }
}

/// The first flow to run.
pub fn initial_flow(asked: AuthFlow, env: &BrowserEnv, device_available: bool) -> AuthFlow {
    match asked {
        AuthFlow::Auto if env.can_open() || !device_available => AuthFlow::Pkce,
        AuthFlow::Auto => AuthFlow::DeviceCode,
        other => other,
    }
}

/// After PKCE failed with `err`: `Ok(reason)` to fall back to the device flow, or `Err` to stop.
///
/// # Errors
/// The original error when it is not a reason to fall back, or a device-flow-disabled error
/// saying why no fallback happened.
pub fn fallback_from_pkce(asked: AuthFlow, err: Error, device_available: bool) -> Result<String> {
    if asked != AuthFlow::Auto || !(err.is_timeout() || err.is_bind()) {
        return Err(err);
    }
    if !device_available {
        let hint = err.hint().map(str::to_owned);
        let e = Error::new(
            crate::error::Kind::DeviceFlowDisabled,
            format!(
                "{err}; not falling back to the device flow because the server has switched it off"
            ),
        );
        return Err(match hint {
            Some(h) => e.with_hint(h),
            None => e.with_hint("Open the printed URL in a browser that can reach this machine, or paste the final redirect URL"),
        });
    }
    Ok(err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Kind;

    fn linux(display: bool, ssh: bool) -> BrowserEnv {
        BrowserEnv {
            display,
            ssh,
            needs_display: true,
            ..BrowserEnv::default()
        }
    }

    #[test]
    fn says_why_no_browser() {
        assert_eq!(linux(true, false).why_not(), None);
        assert_eq!(linux(true, true).why_not(), Some("this is an SSH session"));
        assert!(linux(false, false)
            .why_not()
            .is_some_and(|w| w.contains("no display")));
        let no = BrowserEnv {
            no_browser: true,
            ..linux(true, false)
        };
        assert_eq!(no.why_not(), Some("--no-browser was given"));
    }

    #[test]
    fn auto_picks_by_environment() {
        assert_eq!(
            initial_flow(AuthFlow::Auto, &linux(true, false), true),
            AuthFlow::Pkce
        );
        assert_eq!(
            initial_flow(AuthFlow::Auto, &linux(false, false), true),
            AuthFlow::DeviceCode
        );
        assert_eq!(
            initial_flow(AuthFlow::Auto, &linux(true, true), true),
            AuthFlow::DeviceCode
        );
        let mut env = linux(false, true);
        env.browser_var = true;
        assert_eq!(initial_flow(AuthFlow::Auto, &env, true), AuthFlow::Pkce);
        env.no_browser = true;
        assert_eq!(
            initial_flow(AuthFlow::Auto, &env, true),
            AuthFlow::DeviceCode
        );
        // Device flow off: auto stays on PKCE (URL printed, paste accepted).
        assert_eq!(initial_flow(AuthFlow::Auto, &env, false), AuthFlow::Pkce);
        let wsl = BrowserEnv {
            wsl: true,
            ..linux(false, false)
        };
        assert_eq!(initial_flow(AuthFlow::Auto, &wsl, true), AuthFlow::Pkce);
        let mac = BrowserEnv::default();
        assert_eq!(initial_flow(AuthFlow::Auto, &mac, true), AuthFlow::Pkce);
        assert_eq!(
            initial_flow(AuthFlow::DeviceCode, &mac, true),
            AuthFlow::DeviceCode
        );
    }

    #[test]
    fn fallback_rules() {
        let timeout = || Error::new(Kind::Timeout, "timed out");
        assert!(fallback_from_pkce(AuthFlow::Auto, timeout(), true).is_ok());
        assert!(
            fallback_from_pkce(AuthFlow::Auto, Error::new(Kind::Bind, "no port"), true).is_ok()
        );
        assert!(fallback_from_pkce(AuthFlow::Pkce, timeout(), true)
            .unwrap_err()
            .is_timeout());
        assert!(fallback_from_pkce(AuthFlow::Auto, timeout(), false)
            .unwrap_err()
            .is_device_flow_disabled());
        assert!(
            fallback_from_pkce(AuthFlow::Auto, Error::new(Kind::AccessDenied, "no"), true)
                .unwrap_err()
                .is_access_denied()
        );
    }

    #[test]
    fn parses_flow_names() {
        assert_eq!(
            "device_code".parse::<AuthFlow>().unwrap(),
            AuthFlow::DeviceCode
        );
        assert!("x".parse::<AuthFlow>().unwrap_err().is_usage());
    }
}
