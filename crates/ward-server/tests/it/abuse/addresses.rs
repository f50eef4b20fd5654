//! Email addresses (SPEC §2.13): email-domain routing enforced by the server, no IdP vouching
//! for another's domain, and look-alike addresses refused at sign-up, admin creation and through
//! an IdP.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::*;
use crate::on_both_backends;

async fn routed_domain_signs_in_only_through_its_idp(b: Backend) {
    use crate::idp::{audit_events, page_of, sign_in_via_idp, submit_email, ward_with_provider};
    let (server, provider) = ward_with_provider(b, |c, issuer| {
        // Another IdP for `gh.example` that may vouch for any domain.
        let mut any = crate::idp::oidc_idp("anywhere", issuer, &["gh.example"]);
        any.allowed_domains = Some(vec!["*".into()]);
        c.idp.push(any);
        // `corp`, too, may vouch for any domain: but never for one routed to `anywhere`.
        c.idp[0].allowed_domains = Some(vec!["*".into()]);
    })
    .await;
    let admin = admin_token(&server).await;
    let password = "carol's local password";
    let r = server
        .api()
        .post(server.url("/api/admin/users"))
        .bearer_auth(&admin)
        .json(&json!({"email": "carol@corp.example", "password": password, "role": "user"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let carol = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    // A direct POST /login/password for the routed domain: refused, naming the IdP, before the
    // password is read (a wrong one gets the same answer).
    let browser = server.browser();
    let (_, login, _) = browser.get("/login").await;
    for pw in [password, "wrong password"] {
        let r = browser
            .http
            .post(server.url("/login/password"))
            .form(&[
                (
                    "csrf_token",
                    input_value(&login, "csrf_token").unwrap().as_str(),
                ),
                ("email", "carol@corp.example"),
                ("password", pw),
            ])
            .send()
            .await
            .unwrap();
        let (status, page) = page_of(r).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
        assert!(page.contains("Sign in with corp"), "{page}");
        assert!(page.contains("corp.example"), "{page}");
    }
    let events = audit_events(&server, "signin").await;
    assert_eq!(events[0].0, "denied");
    assert_eq!(events[0].1["reason"], "routed_to_idp");

    // Break-glass: an admin sets local_login; the password form and the password work again.
    let r = server
        .api()
        .patch(server.url(&format!("/api/admin/users/{carol}")))
        .bearer_auth(&admin)
        .json(&json!({"local_login": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = submit_email(&browser, "carol@corp.example").await;
    assert_eq!(r.status(), StatusCode::OK, "the password form, not the IdP");
    let page = r.text().await.unwrap();
    let r = browser
        .submit_form(
            &page,
            &[("email", "carol@corp.example"), ("password", password)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(audit_events(&server, "user.local_login").await.len(), 1);

    // An IdP allowed `["*"]` vouches for an address at a domain routed to another IdP:
    // refused with a page that says so, audited, no account.
    provider
        .post(
            "/__test/accounts",
            json!({"eve@corp.example": {"email": "bob@gh.example"}}),
        )
        .await;
    let (s, page) =
        page_of(sign_in_via_idp(&server, &server.browser(), "eve@corp.example").await).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{page}");
    assert!(page.contains("sign in only through anywhere"), "{page}");
    let events = audit_events(&server, "signin").await;
    assert_eq!(events[0].0, "failed");
    assert_eq!(events[0].1["reason"], "email_domain_routed_elsewhere");
    assert_eq!(
        server
            .state
            .store
            .user_by_email("bob@gh.example")
            .await
            .unwrap(),
        None
    );
}

const FULLWIDTH_ADMIN: &str = "\u{ff41}dmin@test.example";
const CYRILLIC_A_ADMIN: &str = "\u{430}dmin@test.example";
/// All Cyrillic (one script), and looks like `ace`.
const CYRILLIC_ACE: &str = "\u{430}\u{441}\u{435}@test.example";

async fn admin_creates(server: &TestServer, admin: &str, email: &str) -> (StatusCode, String) {
    let r = server
        .api()
        .post(server.url("/api/admin/users"))
        .bearer_auth(admin)
        .json(&json!({"email": email, "password": "some long password", "role": "user"}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    (
        status,
        body["error_description"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

async fn look_alike_addresses_are_refused(b: Backend) {
    let server = TestServer::start_with(b, |c| {
        c.signup = true.into();
        c.idp.push(ward_server::config::RawIdp {
            name: "corp".into(),
            kind: "github".into(),
            client_id: "corp-client".into(),
            client_secret: Some("corp-secret".into()),
            domains: vec!["corp.example".into()],
            ..Default::default()
        });
    })
    .await;
    let admin = admin_token(&server).await;
    assert_eq!(
        admin_creates(&server, &admin, "ace@test.example").await.0,
        StatusCode::CREATED
    );

    // Admin creation.
    let (status, message) = admin_creates(&server, &admin, FULLWIDTH_ADMIN).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "the same address as the admin's"
    );
    assert!(message.contains("admin@test.example"), "{message}");
    let (status, message) = admin_creates(&server, &admin, CYRILLIC_A_ADMIN).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message.contains("mixes scripts"), "{message}");
    let (status, message) = admin_creates(&server, &admin, CYRILLIC_ACE).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        message.contains("looks like the address of another account"),
        "{message}"
    );

    // Sign-up: the same, and the taken address is not confirmed as such.
    let browser = server.browser();
    let password = ("password", "a new long password");
    let cases = [
        (
            FULLWIDTH_ADMIN,
            StatusCode::CONFLICT,
            "The account could not be created.",
        ),
        (
            ADMIN_EMAIL,
            StatusCode::CONFLICT,
            "The account could not be created.",
        ),
        (CYRILLIC_A_ADMIN, StatusCode::BAD_REQUEST, "mixes scripts"),
        (
            CYRILLIC_ACE,
            StatusCode::BAD_REQUEST,
            "looks like the address of another account",
        ),
        // Routing is decided on the normalised domain.
        (
            "bob@corp.example.",
            StatusCode::BAD_REQUEST,
            "sign in through corp",
        ),
        (
            "bob@\u{ff43}orp.example",
            StatusCode::BAD_REQUEST,
            "sign in through corp",
        ),
        (
            "bob@CORP.example..",
            StatusCode::BAD_REQUEST,
            "sign in through corp",
        ),
    ];
    for (email, status, message) in cases {
        let r = crate::signup::sign_up(&browser, &[("email", email), password]).await;
        assert_eq!(r.status(), status, "{email}");
        let page = r.text().await.unwrap();
        assert!(page.contains(message), "{email}: {page}");
        assert!(!page.contains("exists"), "{email}: {page}");
    }
    // The sign-in page routes the twins of a routed domain to the IdP.
    let (_, login, _) = browser.get("/login").await;
    let r = browser
        .submit_form(&login, &[("email", "bob@corp.example.")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        location_of(&r).starts_with("https://github.com/"),
        "{}",
        location_of(&r)
    );
    assert_eq!(server.state.store.count_users().await.unwrap(), 2);
}

async fn look_alike_addresses_are_refused_through_an_idp(b: Backend) {
    use crate::idp::{audit_events, page_of, sign_in_via_idp, ward_with_provider};
    let (server, provider) = ward_with_provider(b, |_, _| {}).await;
    let admin = admin_token(&server).await;
    assert_eq!(
        admin_creates(&server, &admin, "ace@corp.example").await.0,
        StatusCode::CREATED
    );
    for (asserted, why) in [
        (
            "\u{430}\u{441}\u{435}@corp.example",
            "looks like the address of another account",
        ),
        ("\u{430}dmin@corp.example", "mixes scripts"),
    ] {
        provider
            .post(
                "/__test/accounts",
                json!({"eve@corp.example": {"email": asserted}}),
            )
            .await;
        let (s, page) =
            page_of(sign_in_via_idp(&server, &server.browser(), "eve@corp.example").await).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{page}");
        assert!(page.contains(why), "{page}");
        let events = audit_events(&server, "signin").await;
        assert_eq!(events[0].1["reason"], "email_look_alike");
    }
    assert_eq!(server.state.store.count_users().await.unwrap(), 2);
}

on_both_backends!(
    routed_domain_signs_in_only_through_its_idp,
    look_alike_addresses_are_refused,
    look_alike_addresses_are_refused_through_an_idp,
);
