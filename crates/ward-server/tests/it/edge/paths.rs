//! Paths: encoded and dot-segment spellings against a permission and a lock, through the built-in
//! proxy (raw request lines) and through forward-auth behind a real nginx.

use super::*;
use crate::on_both_backends;

async fn builtin_proxy_matches_and_forwards_the_normalised_path(b: Backend) {
    let s = setup_with(b, |_| {}).await;
    let bearer = format!("Bearer {}", s.access);
    let auth = [("Authorization", bearer.as_str())];
    let get = |target: &'static str| raw_request(&s.server.url, "GET", target, &auth);

    // Encoded unreserved characters: decoded, matched and forwarded decoded.
    let r = get("/api/%63ontainers/c%31?q=%2F").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["target"], "/api/containers/c1?q=%2F");
    // DELETE through an encoded prefix meets the route's permission.
    let r = raw_request(&s.server.url, "DELETE", "/api/%63ontainers/c1", &auth).await;
    assert_eq!(r.status, 403, "{}", r.body);
    let description = r.json()["error_description"].to_string();
    assert!(description.contains("containers:delete"), "{description}");

    // Dot segments against the lock: each names terminal t1 and needs its proof.
    lock_terminal_t1(&s).await;
    for target in [
        "/api/containers/../terminal/t1",
        "/api/terminal/./t1",
        "/api/terminal/x/../t1",
        "/api/termin%61l/t1",
        "/api/terminal/%2e/t1",
        "/api//terminal//t1",
    ] {
        let r = get(target).await;
        assert_eq!(r.status, 403, "{target}: {}", r.body);
        assert_eq!(r.json()["error"], "mfa_required", "{target}");
    }
    // Another terminal is not locked, and is forwarded in normal form.
    let r = get("/api/terminal/x/../t2/./size").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["target"], "/api/terminal/t2/size");

    // What cannot be made unambiguous is refused, and never reaches the backend.
    for (target, why) in [
        ("/api/containers/a%2Fb", "encoded '/'"),
        ("/api/containers/a%2fb", "encoded '/'"),
        ("/api/containers/a%5Cb", "encoded '\\'"),
        ("/api/containers/a\\b", "backslash"),
        ("/api/containers/a%00", "control character"),
        ("/api/containers/..;/terminal/t1", "parameters"),
        ("/api/containers/../../../etc/passwd", "above the root"),
        ("/api/containers/%zz", "malformed percent escape"),
    ] {
        let r = get(target).await;
        assert_eq!(r.status, 400, "{target}: {}", r.body);
        assert_eq!(r.json()["error"], "invalid_path", "{target}");
        let description = r.json()["error_description"].as_str().unwrap().to_string();
        assert!(description.contains(why), "{target}: {description}");
    }

    // ward's own routes see the same form: `/api/%70rofile` is the profile, and a lock id
    // of `.` or `..` can never be named.
    let r = get("/api/%70rofile").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["email"], ADMIN_EMAIL);
    for target in [
        "/api/security/terminal/%2e%2e/mfa-lock",
        "/api/security/terminal/./verify",
        "/api/security/terminal//verify",
    ] {
        let r = raw_request(&s.server.url, "POST", target, &auth).await;
        assert!(
            r.status == 404 || r.status == 405,
            "{target}: {} {}",
            r.status,
            r.body
        );
    }
}

async fn forward_auth_behind_nginx_sees_the_normalised_path(b: Backend) {
    let s = setup_with(b, |_| {}).await;
    let nginx = start_nginx(&forward_auth_server(&s.server.url, &s.backend)).await;
    let bearer = format!("Bearer {}", s.access);
    let auth = [("Authorization", bearer.as_str())];
    let send =
        |method: &'static str, target: &'static str| raw_request(&nginx.url, method, target, &auth);

    let r = send("GET", "/api/containers/c1").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["headers"]["x-ward-email"], ADMIN_EMAIL);
    // The backend is handed the raw path and serves /api/containers/c1; ward decides on
    // the same resource, so the DELETE needs containers:delete.
    for target in [
        "/api/%63ontainers/c1",
        "/api/containers/x/../c1",
        "/api/containers/./c1",
    ] {
        let r = send("DELETE", target).await;
        assert_eq!(r.status, 403, "DELETE {target}: {}", r.body);
    }
    // The lock applies whatever the spelling.
    lock_terminal_t1(&s).await;
    for target in [
        "/api/termin%61l/t1",
        "/api/terminal/./t1",
        "/api/terminal/x/../t1",
        "/api/containers/../terminal/t1",
    ] {
        let r = send("GET", target).await;
        assert_eq!(r.status, 403, "GET {target}: {}", r.body);
    }
    let r = send("GET", "/api/terminal/t2").await;
    assert_eq!(r.status, 200, "an unlocked terminal: {}", r.body);
    // Refused paths are 403 (nginx would turn a 400 into a 500), and so is a path no route
    // describes (proxy.unmatched = "deny").
    for target in [
        "/api/containers/a%2Fb",
        "/api/containers/..;/x",
        "/elsewhere",
    ] {
        let r = send("GET", target).await;
        assert_eq!(r.status, 403, "GET {target}: {}", r.body);
    }

    // ward's own answer, without nginx: what each refusal says.
    let validate = |uri: &'static str| {
        s.server
            .api()
            .get(s.server.url("/api/auth/validate"))
            .bearer_auth(&s.access)
            .header("X-Forwarded-Method", "GET")
            .header("X-Forwarded-Uri", uri)
            .send()
    };
    let r = validate("/api/containers/a%2Fb").await.unwrap();
    assert_eq!(
        error_code(r).await,
        (StatusCode::FORBIDDEN, "invalid_path".into())
    );
    let r = validate("/elsewhere").await.unwrap();
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("no route matches"),
        "{body}"
    );
}

async fn unmatched_allow_needs_only_an_identity(b: Backend) {
    let s = setup_with(b, |c| c.proxy.unmatched = "allow".into()).await;
    let validate = |uri: &'static str, token: Option<&str>| {
        let mut r = s
            .server
            .api()
            .get(s.server.url("/api/auth/validate"))
            .header("X-Forwarded-Method", "DELETE")
            .header("X-Forwarded-Uri", uri);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    let r = validate("/elsewhere", Some(&s.access)).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = validate("/elsewhere", None).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // The normalised path still meets its route.
    let r = validate("/api/%63ontainers/c1", Some(&s.access))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

on_both_backends!(
    builtin_proxy_matches_and_forwards_the_normalised_path,
    forward_auth_behind_nginx_sees_the_normalised_path,
    unmatched_allow_needs_only_an_identity,
);
