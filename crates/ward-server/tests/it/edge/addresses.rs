//! Client addresses and forwarding headers: spoofed headers never reach the backend; behind a
//! trusted nginx each client keeps its own address for limits, audit and sessions.

use super::*;
use crate::on_both_backends;

async fn spoofed_headers_never_reach_the_backend(b: Backend) {
    let s = setup_with(b, |_| {}).await;
    let spoofed: [(&str, &str); 14] = [
        ("X_Ward_User_Id", "evil"),
        ("x-ward_email", "evil"),
        ("X-Ward-Roles", "evil"),
        ("X-Real-IP", "evil"),
        ("X_Real_IP", "evil"),
        ("Forwarded", "for=6.6.6.6"),
        ("X-Forwarded-For", "6.6.6.6"),
        ("X_Forwarded_For", "6.6.6.6"),
        ("X-Forwarded-Host", "evil.example"),
        ("X-Forwarded-Proto", "gopher"),
        ("X-HTTP-Method-Override", "DELETE"),
        ("X-HTTP-Method", "DELETE"),
        ("x_method_override", "DELETE"),
        ("X-Keep-Me", "kept"),
    ];
    let check = |seen: &Value, host: &str| {
        let h = seen["headers"].as_object().unwrap();
        for (name, value) in h {
            let normal = name.replace('_', "-");
            assert!(
                !value.as_str().unwrap_or_default().contains("evil")
                    && !value.as_str().unwrap_or_default().contains("6.6.6.6")
                    && !value.as_str().unwrap_or_default().contains("DELETE")
                    && !value.as_str().unwrap_or_default().contains("gopher"),
                "{name}: {value} in {h:?}"
            );
            assert!(
                !normal.contains("method") && normal != "x-real-ip" && normal != "forwarded",
                "{name} in {h:?}"
            );
        }
        assert_eq!(h["x-forwarded-for"], "127.0.0.1", "{h:?}");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], host);
        assert_eq!(h["x-ward-email"], ADMIN_EMAIL);
        assert_eq!(h["x-ward-roles"], "admin");
        assert_eq!(h["x-keep-me"], "kept");
    };
    let host = s.server.url.trim_start_matches("http://").to_string();

    // HTTP (raw, so that the underscore spellings go out as written).
    let bearer = format!("Bearer {}", s.access);
    let mut headers: Vec<(&str, &str)> = spoofed.to_vec();
    headers.push(("Authorization", &bearer));
    let r = raw_request(&s.server.url, "GET", "/api/containers/c1", &headers).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let seen = r.json();
    assert_eq!(seen["method"], "GET");
    check(&seen, &host);

    // WebSocket.
    let url = format!(
        "{}?token={}",
        s.server
            .url("/api/terminal/t9")
            .replacen("http://", "ws://", 1),
        s.access
    );
    let mut req = url.into_client_request().unwrap();
    for (k, v) in spoofed {
        req.headers_mut().append(
            reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let Message::Text(text) = first else {
        panic!("expected the backend's hello, got {first:?}")
    };
    let seen: Value = serde_json::from_str(text.as_str()).unwrap();
    assert_eq!(seen["target"], "/api/terminal/t9");
    check(&seen, &host);
    let _ = s.backend;
}

// ---------------------------------------------------------------- trusted proxies

/// Signs in at `base` through the pages; returns the final response.
async fn sign_in_at(
    client: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    let page = client
        .get(format!("{base}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = input_value(&page, "csrf_token").unwrap();
    let r = client
        .post(format!("{base}/login"))
        .form(&[("csrf_token", csrf.as_str()), ("email", email)])
        .send()
        .await
        .unwrap();
    let page = r.text().await.unwrap();
    let csrf = input_value(&page, "csrf_token").unwrap();
    client
        .post(format!("{base}/login/password"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
}

async fn audit_ips(server: &TestServer, event_type: &str) -> Vec<(String, Option<String>)> {
    server
        .state
        .store
        .audit_events(&AuditQuery {
            user_id: None,
            event_type: Some(event_type.into()),
            before: None,
            limit: 500,
        })
        .await
        .unwrap()
        .into_iter()
        .map(|(e, _)| (e.outcome, e.actor_ip))
        .collect()
}

async fn trusted_proxy_gives_each_client_its_own_address(b: Backend) {
    let server = TestServer::start_with(b, |c| {
        c.trusted_proxies = ward_server::config::StringList::List(vec!["127.0.0.1/32".into()]);
    })
    .await;
    let nginx = start_nginx(&format!(
        r#"
        location / {{
            proxy_pass {ward};
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
"#,
        ward = server.url
    ))
    .await;

    // The first client fails 61 times (unknown accounts, so no account is locked).
    let attacker = client_from("127.0.0.2");
    let page = attacker
        .get(format!("{}/login", nginx.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = input_value(&page, "csrf_token").unwrap();
    let mut statuses = Vec::new();
    for i in 0..61 {
        let r = attacker
            .post(format!("{}/login/password", nginx.url))
            // A spoofed address of its own: nginx appends the real one.
            .header("X-Forwarded-For", format!("198.51.100.{i}"))
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("email", &format!("nobody{i}@test.example")),
                ("password", "wrong"),
            ])
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert!(statuses[..60].iter().all(|s| *s == 401), "{statuses:?}");
    assert_eq!(statuses[60], 429, "the 61st from that client is limited");

    // Another client behind the same proxy signs in.
    let user = client_from("127.0.0.3");
    let r = sign_in_at(&user, &nginx.url, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );

    // Audit and sessions show the real addresses.
    let events = audit_ips(&server, "signin").await;
    let failed: Vec<_> = events.iter().filter(|(o, _)| o == "failed").collect();
    assert_eq!(failed.len(), 60, "{events:?}");
    assert!(
        failed
            .iter()
            .all(|(_, ip)| ip.as_deref() == Some("127.0.0.2")),
        "{failed:?}"
    );
    assert!(
        events
            .iter()
            .any(|(o, ip)| o == "ok" && ip.as_deref() == Some("127.0.0.3")),
        "{events:?}"
    );
    let admin = server
        .state
        .store
        .user_by_email(ADMIN_EMAIL)
        .await
        .unwrap()
        .unwrap();
    let sessions = server
        .state
        .store
        .sessions_of_user(&admin.id)
        .await
        .unwrap();
    assert!(
        sessions
            .iter()
            .any(|s| s.ip.as_deref() == Some("127.0.0.3")),
        "{:?}",
        sessions.iter().map(|s| &s.ip).collect::<Vec<_>>()
    );
}

async fn without_trusted_proxies_forwarding_headers_are_ignored(b: Backend) {
    let server = TestServer::start(b).await;
    let client = client_from("127.0.0.5");
    let page = client
        .get(server.url("/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = input_value(&page, "csrf_token").unwrap();
    let r = client
        .post(server.url("/login/password"))
        .header("X-Forwarded-For", "198.51.100.1")
        .header("Forwarded", "for=198.51.100.2")
        .header("X-Real-IP", "198.51.100.3")
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("email", "nobody@test.example"),
            ("password", "wrong"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let events = audit_ips(&server, "signin").await;
    assert_eq!(
        events,
        vec![("failed".to_string(), Some("127.0.0.5".to_string()))]
    );
}

on_both_backends!(
    spoofed_headers_never_reach_the_backend,
    trusted_proxy_gives_each_client_its_own_address,
    without_trusted_proxies_forwarding_headers_are_ignored,
);
