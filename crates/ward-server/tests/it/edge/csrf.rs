//! CSRF tokens bound to the session; the __Host- cookie behind https.

use super::*;
use crate::on_both_backends;

/// `name=value` of the `Set-Cookie` named `name` in `r`, with the whole header line.
fn set_cookie(r: &reqwest::Response, name: &str) -> Option<(String, String)> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|line| {
            let value = line[name.len() + 1..].split(';').next().unwrap_or_default();
            (value.to_string(), line.to_string())
        })
}

/// A sibling subdomain plants its own pre-session cookie and token in a signed-in victim's
/// browser: the victim's forms refuse them, and accept the victim's own.
async fn csrf_token_is_bound_to_the_session(b: Backend) {
    let server = TestServer::start(b).await;
    let plain = server.api();
    // The attacker's own pre-session cookie and the token ward gave it.
    let r = plain.get(server.url("/login")).send().await.unwrap();
    let (planted, _) = set_cookie(&r, "ward_csrf").expect("a CSRF cookie");
    let attacker_token = input_value(&r.text().await.unwrap(), "csrf_token").unwrap();
    // The victim signs in.
    let victim = server.browser();
    let r = victim.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (session, _) = set_cookie(&r, "ward_session").expect("a session cookie");

    let forge = |csrf_cookie: String, token: String| {
        plain
            .post(server.url("/account/tokens"))
            .header(
                "Cookie",
                format!("ward_session={session}; ward_csrf={csrf_cookie}"),
            )
            .form(&[
                ("csrf_token", token.as_str()),
                ("name", "forged"),
                ("expires", "30"),
                ("scope.containers:read", "on"),
            ])
            .send()
    };
    // The planted pair, and the planted cookie with itself as the token (the old
    // double-submit check accepted both).
    let r = forge(planted.clone(), attacker_token.clone())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = forge(planted.clone(), planted.clone()).await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // The victim's own page gives a token that works, whatever pre-session cookie is there.
    let (_, page, _) = victim.get("/account").await;
    let own = input_value(&page, "csrf_token").unwrap();
    let r = forge(planted, own).await.unwrap();
    // Accepted: post/redirect/get to the page that shows the new token (decision 89).
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location_of(&r), "/account#tokens");
}

async fn csrf_cookie_has_the_host_prefix_over_https(b: Backend) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = TestServer::start_with(b, |c| {
        c.listen = format!("127.0.0.1:{port}");
        c.public_url = Some(format!("https://localhost:{port}"));
    })
    .await;
    let base = format!("http://127.0.0.1:{port}");
    let plain = server.api();
    let r = plain.get(format!("{base}/login")).send().await.unwrap();
    assert!(set_cookie(&r, "ward_csrf").is_none());
    let (value, line) = set_cookie(&r, "__Host-ward_csrf").expect("the __Host- cookie");
    assert!(line.contains("Secure") && line.contains("Path=/"), "{line}");
    assert!(!line.to_ascii_lowercase().contains("domain="), "{line}");
    let token = input_value(&r.text().await.unwrap(), "csrf_token").unwrap();
    let submit = |cookie: String| {
        plain
            .post(format!("{base}/login"))
            .header("Cookie", cookie)
            .form(&[("csrf_token", token.as_str()), ("email", ADMIN_EMAIL)])
            .send()
    };
    let r = submit(format!("__Host-ward_csrf={value}")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The unprefixed name (which a sibling subdomain can set) is not read.
    let r = submit(format!("ward_csrf={value}")).await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

on_both_backends!(
    csrf_token_is_bound_to_the_session,
    csrf_cookie_has_the_host_prefix_over_https,
);
