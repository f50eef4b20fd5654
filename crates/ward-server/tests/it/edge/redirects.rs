//! Redirects after sign-in stay on this origin, whatever the spelling of the target.

use super::*;
use crate::on_both_backends;

async fn redirects_after_sign_in_stay_on_this_origin(b: Backend) {
    let server = TestServer::start(b).await;
    // Through the whole sign-in: the target in the sign-in page's address, and then (as a
    // forged form would) in the posted form itself.
    for (target, expected) in [
        ("/%09/evil.example", "/account"),
        ("/\t/evil.example", "/account"),
        ("/%0a", "/account"),
        ("/\n", "/account"),
        ("/\\evil.example", "/account"),
        ("//evil.example", "/account"),
        ("/device?x=1", "/device?x=1"),
    ] {
        let browser = server.browser();
        let login = format!(
            "/login?{}",
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("return_to", target)
                .finish()
        );
        let (status, page, _) = browser.get(&login).await;
        assert_eq!(status, StatusCode::OK, "{target:?}");
        let r = browser.submit_form(&page, &[("email", ADMIN_EMAIL)]).await;
        let page = r.text().await.unwrap();
        let r = browser
            .submit_form(
                &page,
                &[
                    ("email", ADMIN_EMAIL),
                    ("password", ADMIN_PASSWORD),
                    ("return_to", target),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{target:?}");
        assert_eq!(location_of(&r), expected, "{target:?}");
    }
    // Signed in, `/login?return_to=…` redirects at once: every form, encoded or not.
    let browser = server.browser();
    let r = browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let bad = [
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r\n/evil.example",
        "/ /evil.example",
        "/%2F/evil.example",
        "/%2f%2fevil.example",
        "/%5Cevil.example",
        "/%5c%5cevil.example",
        "/%09/evil.example",
        "/%0a",
        "/%252F%252Fevil.example",
        "https://evil.example/",
        "http:evil.example",
        "evil.example",
        "/café",
        "",
    ];
    for target in bad {
        let url = reqwest::Url::parse_with_params(&server.url("/login"), &[("return_to", target)])
            .unwrap();
        let (status, body, location) = browser.get(url.as_str()).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{target:?}: {body}");
        assert_eq!(location, "/account", "{target:?}");
    }
    // The raw, undecodable forms in the query string itself: never a 5xx.
    for query in ["return_to=/%0a", "return_to=/%C3%28", "return_to=%"] {
        let r = raw_request(&server.url, "GET", &format!("/login?{query}"), &[]).await;
        assert!(r.status < 500, "{query}: {}", r.status);
    }
}

on_both_backends!(redirects_after_sign_in_stay_on_this_origin,);
