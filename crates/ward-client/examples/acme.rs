//! A third-party CLI "acme" with login/logout/status, its own config dir, keyring and `ACME_*`
//! variables. Run: `cargo run -p ward-client --example acme -- login http://127.0.0.1:8080`
use std::{process::ExitCode, sync::Arc};
use ward_client::{oauth::parse_server_url, Client, Event, Params};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let params = Params {
        product: "acme".into(),
        keyring_service: "acme".into(),
        env_prefix: "ACME".into(),
        ..Params::default()
    };
    let progress = |e: &Event| match e {
        Event::OpenUrl { url, .. } => eprintln!("Sign in to acme at:\n  {url}"),
        Event::DeviceCode {
            user_code,
            verification_uri,
            ..
        } => {
            eprintln!("Enter {user_code} at {verification_uri}")
        }
        _ => {}
    };
    let client = Client::new(params).with_progress(Arc::new(progress));
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match (args.first().map(String::as_str), args.get(1)) {
        (Some("login"), Some(url)) => match parse_server_url(url) {
            Ok(url) => (client.login(client.login_options("default", url)).await)
                .map(|o| println!("Welcome to acme, {}!", o.user.email)),
            Err(e) => Err(e),
        },
        (Some("logout"), _) => client.logout("default").await.map(|_| println!("Bye.")),
        (Some("status"), _) => (client.status("default", None).await)
            .map(|s| println!("Signed in to {} as {}", s.url, s.user.email)),
        _ => {
            eprintln!("usage: acme login URL | acme logout | acme status");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = result {
        eprintln!("Error: {e}");
        if let Some(hint) = e.hint() {
            eprintln!("{hint}");
        }
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
