//! The terminal side of ward-client's progress events: plain lines on stderr, a spinner and a QR
//! code only when stderr is a terminal.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use ward_client::{Event, Progress};

pub struct TermProgress {
    tty: bool,
    stdin_tty: bool,
    spinner: Mutex<Option<ProgressBar>>,
}

impl TermProgress {
    pub fn new() -> Self {
        Self {
            tty: std::io::stderr().is_terminal(),
            stdin_tty: std::io::stdin().is_terminal(),
            spinner: Mutex::new(None),
        }
    }

    /// Prints a line on stderr without tearing the spinner.
    pub fn line(&self, text: &str) {
        match self.spinner.lock().ok().as_deref().and_then(Option::as_ref) {
            Some(pb) => pb.suspend(|| eprintln!("{text}")),
            None => eprintln!("{text}"),
        }
    }

    pub fn finish(&self) {
        if let Ok(mut s) = self.spinner.lock() {
            if let Some(pb) = s.take() {
                pb.finish_and_clear();
            }
        }
    }

    fn wait(&self, what: &str) {
        let msg = format!("Waiting for {what}… (Ctrl-C to cancel)");
        if !self.tty {
            eprintln!("{msg}");
            return;
        }
        self.finish();
        let pb = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
            pb.set_style(style);
        }
        pb.set_message(msg);
        pb.enable_steady_tick(Duration::from_millis(120));
        if let Ok(mut s) = self.spinner.lock() {
            *s = Some(pb);
        }
    }
}

/// A QR code of `payload` drawn with half-block characters.
pub fn qr_text(payload: &str) -> Option<String> {
    use qrcode::render::unicode::Dense1x2;
    let code = qrcode::QrCode::new(payload.as_bytes()).ok()?;
    Some(
        code.render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}

impl Progress for TermProgress {
    fn report(&self, event: &Event) {
        match event {
            Event::PortFallback { wanted, port } => self.line(&format!(
                "Port {wanted} is in use; listening on 127.0.0.1:{port} instead."
            )),
            Event::OpenUrl {
                url,
                paste_accepted,
            } => {
                self.line(&format!(
                    "Open this URL in a browser to sign in:\n\n  {url}\n"
                ));
                if *paste_accepted && self.stdin_tty {
                    self.line("If that browser runs on another machine, paste the address it ends on (http://127.0.0.1:…/callback?…) here and press Enter.");
                }
            }
            Event::BrowserOpened => self.line("Opened the browser."),
            Event::BrowserFailed { reason } => self.line(&format!(
                "Could not open a browser ({reason}); open the URL above yourself."
            )),
            Event::DeviceCode {
                user_code,
                verification_uri,
                verification_uri_complete,
                expires_in,
            } => {
                self.line(&format!(
                    "To sign in, open {verification_uri} and enter the code:\n\n  {user_code}\n"
                ));
                if let Some(complete) = verification_uri_complete {
                    self.line(&format!("Or open this link, which has the code filled in:\n  {complete}\n"));
                    if self.tty {
                        if let Some(qr) = qr_text(complete) {
                            self.line(&format!("Or scan this QR code with a phone:\n{qr}"));
                        }
                    }
                }
                self.line(&format!(
                    "The code expires in {}.",
                    humantime::format_duration(*expires_in)
                ));
            }
            Event::Waiting { what } => self.wait(what),
            Event::SlowDown { .. } | Event::Done => {}
            Event::PasteRejected { reason } => {
                self.line(&format!("That is not the sign-in redirect: {reason}"))
            }
            Event::Fallback { from, to, reason } => {
                self.finish();
                let (from, to) = (flow_name(from), flow_name(to));
                self.line(&format!("{from} did not complete ({reason}); switching to {to}."));
            }
            Event::FlowChosen { flow, reason } => self.line(&format!(
                "Signing in with {} because {reason}.",
                flow_name(flow)
            )),
            Event::LoopbackServer { url, host, port } => self.line(&format!(
                "Note: {url} is an address of this machine only: the phone or computer you approve on must reach it.\nFrom another computer, forward the port first: ssh -L {port}:{host}:{port} <this machine>"
            )),
            Event::PlaintextStore { path, reason } => self.line(&format!(
                "Notice: {reason}; credentials are stored in {} (readable only by you).",
                path.display()
            )),
            Event::PermissionsRepaired {
                path,
                old_mode,
                new_mode,
            } => self.line(&format!(
                "Warning: {} was accessible by other users (mode {old_mode:o}); changed to {new_mode:o}.",
                path.display()
            )),
            Event::Warning { message } => self.line(&format!("Warning: {message}")),
            _ => {}
        }
    }
}

fn flow_name(flow: &str) -> &str {
    match flow {
        "pkce" => "Browser sign-in",
        "device_code" => "the device code flow",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn qr_renders() {
        let qr = super::qr_text("http://127.0.0.1:8080/device?user_code=BCDF-GHJK").unwrap();
        assert!(qr.lines().count() > 10);
        assert!(qr.contains('█') || qr.contains('▀') || qr.contains('▄'));
    }
}
