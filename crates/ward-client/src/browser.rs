//! Opening the user's browser: `$BROWSER` first (a `:`-separated list of commands, `%s` replaced
//! by the URL or the URL appended), else the platform opener. Never waits for the browser.

use std::process::{Command, Stdio};

/// Launches a browser at `url`.
///
/// # Errors
/// A description of why nothing could be launched.
pub fn open_browser(url: &str) -> Result<(), String> {
    if let Some(var) = std::env::var_os("BROWSER").filter(|v| !v.is_empty()) {
        let var = var.to_string_lossy().into_owned();
        let mut last = String::from("$BROWSER is empty");
        for cmd in var.split(':').map(str::trim).filter(|c| !c.is_empty()) {
            let mut words: Vec<String> = cmd.split_whitespace().map(str::to_owned).collect();
            if words.iter().any(|w| w.contains("%s")) {
                for w in &mut words {
                    *w = w.replace("%s", url);
                }
            } else {
                words.push(url.to_owned());
            }
            let Some((prog, args)) = words.split_first() else {
                continue;
            };
            match Command::new(prog)
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
            {
                Ok(_child) => return Ok(()),
                Err(e) => last = format!("cannot run {prog}: {e}"),
            }
        }
        return Err(last);
    }
    open::that_detached(url).map_err(|e| e.to_string())
}
