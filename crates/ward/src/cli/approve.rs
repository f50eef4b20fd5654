//! `ward verify KIND ID` without `--code`: approval from another device (SPEC §2.17, §3.1).
//! Asks the server for an approval request, prints its URL and a QR code of it (on stderr, so
//! stdout carries only the ticket), and polls at the server's interval (RFC 8628 §3.5: 5 s more
//! after each `slow_down`) until the ticket comes, the request is denied, or it expires.

use std::time::Duration;

use serde_json::json;
use ward_proto::{PollBody, Ticket, VerifyRequestStarted};

use super::progress::qr_text;
use super::{call_api, decode, print_json, to_body, CliError, CliResult, Ctx};

const POLL_PATH: &str = "/api/security/verify/poll";

/// `state_path` is `/api/security/{kind}/{id}` (segments already escaped).
pub async fn verify_by_approval(ctx: &Ctx, state_path: &str, target: &str) -> CliResult {
    let path = format!("{state_path}/verify/request");
    let started = call_api(ctx, "POST", &path, Some(json!({}))).await?;
    let started: VerifyRequestStarted = decode(&path, started)?;
    let url = started.approve_url.as_str();
    let poll = to_body(&PollBody {
        request_id: started.request_id.clone(),
    });
    let mut interval = started.interval.clamp(1, 60).unsigned_abs();
    let expires_in = started.expires_in.max(0).unsigned_abs();
    eprintln!("To open {target}, approve this request on a device signed in as you:");
    eprintln!();
    eprintln!("  {url}");
    eprintln!();
    if let Some(qr) = qr_text(url) {
        eprintln!("{qr}");
    }
    eprintln!(
        "Waiting for the approval (expires in {} min)…",
        expires_in.div_ceil(60)
    );
    loop {
        tokio::time::sleep(Duration::from_secs(interval)).await;
        let polled = call_api(ctx, "POST", POLL_PATH, Some(poll.clone())).await;
        match polled {
            Ok(v) => {
                if ctx.json() {
                    print_json(&v);
                } else {
                    let ticket: Ticket = decode(POLL_PATH, v)?;
                    println!("{}", ticket.ticket);
                    eprintln!(
                        "Approved. Ticket for one connection to {target}, valid {} s.",
                        ticket.expires_in
                    );
                }
                return Ok(());
            }
            Err(e) => match e.api_error.as_deref() {
                Some("authorization_pending") => {}
                Some("slow_down") => interval += 5,
                Some("access_denied") => {
                    return Err(CliError::new(format!(
                        "the request to open {target} was denied on the approving device"
                    )))
                }
                Some("expired_token") => {
                    return Err(CliError::new(format!(
                        "the request to open {target} expired before it was approved"
                    ))
                    .hint("Run the command again, or pass --code CODE."))
                }
                _ => return Err(e),
            },
        }
    }
}
