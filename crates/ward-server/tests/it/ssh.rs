//! SSH user certificates (SPEC §2.17) against the real OpenSSH: Debian's `sshd` on a loopback
//! port, run as the current user with `TrustedUserCAKeys` = `GET /api/ssh/ca`, and the real
//! `ssh` client with a key made by `ssh-keygen` and a certificate from ward. An expired
//! certificate and a wrong principal are refused by sshd; bad keys, principals not granted and
//! a locked host without a ticket are refused by ward.

use std::path::Path;
use std::process::Command;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::*;
use crate::mfa::{enrol, post, python_totp};
use crate::on_both_backends;
use crate::sshd::{keygen, login_user, ssh_run, Sshd};

pub async fn certificate(server: &TestServer, bearer: &str, body: Value) -> reqwest::Response {
    post(server, bearer, "/api/ssh/certificates", body).await
}

/// Asks for a certificate of `dir/name.pub` and writes it beside as `name-cert.pub`.
pub async fn save_certificate(
    server: &TestServer,
    bearer: &str,
    dir: &Path,
    name: &str,
    extra: Value,
) -> Value {
    let public = std::fs::read_to_string(dir.join(format!("{name}.pub"))).unwrap();
    let mut body = json!({"public_key": public});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let r = certificate(server, bearer, body).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    std::fs::write(
        dir.join(format!("{name}-cert.pub")),
        v["certificate"].as_str().unwrap(),
    )
    .unwrap();
    v
}

pub fn ssh_config(raw: &mut ward_server::config::RawConfig, user: &str) {
    use ward_server::ssh::config::RawPrincipals;
    raw.ssh.enabled = true;
    raw.ssh.principals = RawPrincipals::PerRole(
        [
            (
                "admin".to_string(),
                vec![user.to_string(), "deploy".to_string()],
            ),
            ("user".to_string(), vec!["dev".to_string()]),
        ]
        .into_iter()
        .collect(),
    );
}

async fn ssh_certificates_with_real_sshd(b: Backend) {
    let user = login_user();
    let server = TestServer::start_with(b, |raw| {
        ssh_config(raw, &user);
        raw.mfa.lock_kinds.push("host".into());
        raw.ssh.lock_kind = Some("host".into());
    })
    .await;
    let admin = cli_tokens(&server).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    // The CA, in OpenSSH format, with no credential needed (hosts fetch it).
    let r = server
        .api()
        .get(server.url("/api/ssh/ca"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let ca = r.text().await.unwrap();
    assert!(ca.starts_with("ssh-ed25519 AAAA"), "{ca}");
    assert_eq!(ca.lines().count(), 1);
    let sshd = Sshd::start(&ca, None).await;

    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("id_ed25519");
    keygen(dir.path(), "id_ed25519", &["-t", "ed25519"]);
    let v = save_certificate(
        &server,
        &admin,
        dir.path(),
        "id_ed25519",
        json!({"host": "127.0.0.1"}),
    )
    .await;
    assert_eq!(v["principals"], json!([user.clone(), "deploy"]));
    assert_eq!(v["valid_before"], server.clock_now() + 900, "ttl 15m");
    let key_id = v["key_id"].as_str().unwrap();
    assert!(key_id.starts_with("ward:admin@test.example:"), "{key_id}");
    // ssh-keygen reads what ward wrote: the key id carries the session.
    let shown = Command::new("ssh-keygen")
        .arg("-L")
        .arg("-f")
        .arg(dir.path().join("id_ed25519-cert.pub"))
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains("user certificate") && shown.contains(key_id),
        "{shown}"
    );
    let (ok, out, err) = ssh_run(sshd.port, &key, &user, &[]);
    assert!(ok, "sshd accepts ward's certificate: {err}");
    assert_eq!(out.trim(), "hello-from-sshd");

    // A wrong principal: a certificate for `deploy` does not log in as the user.
    save_certificate(
        &server,
        &admin,
        dir.path(),
        "id_ed25519",
        json!({"host": "127.0.0.1", "principals": ["deploy"]}),
    )
    .await;
    let (ok, _, _) = ssh_run(sshd.port, &key, &user, &[]);
    assert!(
        !ok,
        "sshd refuses a certificate without the login's principal"
    );

    // An expired certificate: issued an hour ago (the clock stepped back), refused by sshd.
    server.clock.advance(-3600);
    save_certificate(
        &server,
        &admin,
        dir.path(),
        "id_ed25519",
        json!({"host": "127.0.0.1"}),
    )
    .await;
    server.clock.advance(3600);
    let (ok, _, _) = ssh_run(sshd.port, &key, &user, &[]);
    assert!(!ok, "sshd refuses an expired certificate");

    // ward refuses, naming the reason, and issues nothing.
    let refused = |body: Value, status: StatusCode, says: &'static str| {
        let server = &server;
        let admin = admin.clone();
        async move {
            let r = certificate(server, &admin, body).await;
            assert_eq!(r.status(), status, "{says}");
            let text = r.text().await.unwrap();
            assert!(text.contains(says), "{says}: {text}");
        }
    };
    refused(
        json!({"public_key": "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----", "host": "127.0.0.1"}),
        StatusCode::BAD_REQUEST,
        "not an OpenSSH public key",
    )
    .await;
    let rsa2048 = keygen(dir.path(), "id_rsa2048", &["-t", "rsa", "-b", "2048"]);
    refused(
        json!({"public_key": rsa2048, "host": "127.0.0.1"}),
        StatusCode::BAD_REQUEST,
        "at least 3072 bits; this one has 2048",
    )
    .await;
    let ed = std::fs::read_to_string(dir.path().join("id_ed25519.pub")).unwrap();
    refused(
        json!({"public_key": ed, "host": "127.0.0.1", "principals": ["postgres"]}),
        StatusCode::FORBIDDEN,
        "principal \\\"postgres\\\" is not granted to role admin",
    )
    .await;
    refused(
        json!({"public_key": ed}),
        StatusCode::BAD_REQUEST,
        "host is required",
    )
    .await;
    // RSA of 3072 bits and ECDSA are accepted.
    keygen(dir.path(), "id_rsa3072", &["-t", "rsa", "-b", "3072"]);
    save_certificate(
        &server,
        &admin,
        dir.path(),
        "id_rsa3072",
        json!({"host": "127.0.0.1"}),
    )
    .await;
    let (ok, _, err) = ssh_run(sshd.port, &dir.path().join("id_rsa3072"), &user, &[]);
    assert!(ok, "RSA 3072 with a certificate: {err}");
    keygen(dir.path(), "id_ecdsa", &["-t", "ecdsa", "-b", "256"]);
    save_certificate(
        &server,
        &admin,
        dir.path(),
        "id_ecdsa",
        json!({"host": "127.0.0.1"}),
    )
    .await;

    // A locked host needs a ticket for its certificate.
    let (secret, _) = enrol(&server, &admin).await;
    let code = |s: &TestServer| python_totp(&secret, s.clock_now());
    let r = post(
        &server,
        &admin,
        "/api/security/host/127.0.0.1/mfa-lock",
        json!({"code": code(&server)}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    server.clock.advance(30);
    let r = certificate(
        &server,
        &admin,
        json!({"public_key": ed, "host": "127.0.0.1"}),
    )
    .await;
    assert_eq!(
        error_code(r).await,
        (StatusCode::FORBIDDEN, "mfa_required".into())
    );
    let ticket: Value = post(
        &server,
        &admin,
        "/api/security/host/127.0.0.1/verify",
        json!({"code": code(&server)}),
    )
    .await
    .json()
    .await
    .unwrap();
    save_certificate(
        &server,
        &admin,
        dir.path(),
        "id_ed25519",
        json!({"host": "127.0.0.1", "ticket": ticket["ticket"]}),
    )
    .await;
    let (ok, _, err) = ssh_run(sshd.port, &key, &user, &[]);
    assert!(ok, "with a ticket for the locked host: {err}");
    // The ticket was single-use.
    let r = certificate(
        &server,
        &admin,
        json!({"public_key": ed, "host": "127.0.0.1", "ticket": ticket["ticket"]}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Issuance is audited.
    let audit: Value = server
        .api()
        .get(server.url("/api/admin/audit"))
        .query(&[("type", "ssh.certificate")])
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(audit.to_string().contains("ssh.certificate"), "{audit}");
}

async fn ssh_ca_rotation(b: Backend) {
    let user = login_user();
    let server = TestServer::start_with(b, |raw| ssh_config(raw, &user)).await;
    let admin = cli_tokens(&server).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let ca = |server: &TestServer| {
        let url = server.url("/api/ssh/ca");
        let api = server.api();
        async move { api.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let first = ca(&server).await;
    let dir = tempfile::tempdir().unwrap();
    keygen(dir.path(), "id", &["-t", "ed25519"]);
    save_certificate(&server, &admin, dir.path(), "id", json!({})).await;
    let old_cert = std::fs::read_to_string(dir.path().join("id-cert.pub")).unwrap();
    let id = ward_server::ssh::rotate(
        server.state.store.as_ref(),
        &server.state.master_key,
        server.state.random.as_ref(),
        server.state.clock.now(),
    )
    .await
    .unwrap();
    assert!(id.starts_with("sshca_"));
    let both = ca(&server).await;
    assert_eq!(both.lines().count(), 2, "{both}");
    assert_eq!(
        both.lines().nth(1).unwrap(),
        first.trim(),
        "the old key is still published"
    );
    // New certificates are signed by the new key: sshd trusting only the new key accepts them,
    // and refuses the certificate the old key signed.
    let sshd = Sshd::start(both.lines().next().unwrap(), None).await;
    let (ok, _, _) = ssh_run(sshd.port, &dir.path().join("id"), &user, &[]);
    assert!(!ok, "the old key's certificate against the new key only");
    save_certificate(&server, &admin, dir.path(), "id", json!({})).await;
    assert_ne!(
        old_cert,
        std::fs::read_to_string(dir.path().join("id-cert.pub")).unwrap()
    );
    let (ok, _, err) = ssh_run(sshd.port, &dir.path().join("id"), &user, &[]);
    assert!(ok, "{err}");
    // After ssh.ttl the old key is no longer published.
    server.clock.advance(900);
    assert_eq!(ca(&server).await.lines().count(), 1);
}

on_both_backends!(ssh_certificates_with_real_sshd, ssh_ca_rotation);
