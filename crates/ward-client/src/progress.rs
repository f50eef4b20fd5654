//! How the library talks to the user without printing: it reports [`Event`]s to a [`Progress`]
//! the embedding CLI implements (and can brand).

use std::path::PathBuf;
use std::time::Duration;

/// Something worth telling the user.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The loopback port asked for was taken; another one is used.
    PortFallback {
        /// The port asked for.
        wanted: u16,
        /// The port in use.
        port: u16,
    },
    /// Open this URL to sign in (always reported before any browser is opened).
    OpenUrl {
        /// The sign-in URL.
        url: String,
        /// Whether a pasted redirect URL is accepted meanwhile.
        paste_accepted: bool,
    },
    /// A browser was launched.
    BrowserOpened,
    /// Launching a browser failed; the user has to open the URL by hand.
    BrowserFailed {
        /// Why.
        reason: String,
    },
    /// Device flow: enter `user_code` at `verification_uri`.
    DeviceCode {
        /// `XXXX-XXXX`.
        user_code: String,
        /// Where to enter it.
        verification_uri: String,
        /// The URL with the code filled in: the payload for a QR code.
        verification_uri_complete: Option<String>,
        /// How long the code is valid.
        expires_in: Duration,
    },
    /// Waiting for the user; `what` says for what.
    Waiting {
        /// e.g. "browser sign-in", "device approval".
        what: String,
    },
    /// The server asked to poll more slowly.
    SlowDown {
        /// The new interval.
        interval: Duration,
    },
    /// A pasted line was not a usable redirect URL.
    PasteRejected {
        /// Why.
        reason: String,
    },
    /// One flow gave up and another is tried.
    Fallback {
        /// The flow given up.
        from: String,
        /// The flow tried next.
        to: String,
        /// Why.
        reason: String,
    },
    /// No OS keyring: secrets go to a 0600 file.
    PlaintextStore {
        /// The file.
        path: PathBuf,
        /// Why the keyring was not used.
        reason: String,
    },
    /// A file or directory was readable by others and has been tightened.
    PermissionsRepaired {
        /// The path.
        path: PathBuf,
        /// Mode found.
        old_mode: u32,
        /// Mode set.
        new_mode: u32,
    },
    /// `auto` chose a flow without trying the other first, and why (e.g. the device flow
    /// because no browser can be opened here).
    FlowChosen {
        /// The flow chosen.
        flow: String,
        /// Why.
        reason: String,
    },
    /// The server URL is a loopback address: the device that approves the sign-in must reach
    /// it (another machine needs port forwarding).
    LoopbackServer {
        /// The server URL.
        url: String,
        /// Its host (`127.0.0.1`, `localhost`, …).
        host: String,
        /// Its port.
        port: u16,
    },
    /// A non-fatal problem (e.g. the server could not be told about a logout).
    Warning {
        /// The message.
        message: String,
    },
    /// Waiting is over.
    Done,
}

/// Receives [`Event`]s. Implementations must not block for long.
pub trait Progress: Send + Sync {
    /// Called for every event, in order.
    fn report(&self, event: &Event);
}

/// Ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Progress for Silent {
    fn report(&self, _event: &Event) {}
}

impl<F: Fn(&Event) + Send + Sync> Progress for F {
    fn report(&self, event: &Event) {
        self(event)
    }
}
