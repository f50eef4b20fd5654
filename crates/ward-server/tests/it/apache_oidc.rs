//! ward as the OpenID provider of Apache's `mod_auth_openidc` (Debian's
//! `libapache2-mod-auth-openidc`): a real headless Chromium asks Apache for a protected page,
//! is sent to ward, signs in, consents, and comes back to the page; Apache's logout ends the
//! ward session through `/oauth/logout` (RP-Initiated Logout), so the next visit asks for the
//! password again. Screenshots go to the artifacts directory.

use std::time::{Duration, Instant};

use serde_json::Value;
use ward_core::model::AuditQuery;
use ward_server::config::RawClient;

use crate::harness::*;
use crate::on_both_backends;
use crate::webdriver::{find_browser, Driver};

const CLIENT_ID: &str = "apache";
const CLIENT_SECRET: &str = "apache-secret-0123456789abcdef";
const MODULES: &str = "/usr/lib/apache2/modules";

struct Apache {
    child: std::process::Child,
    dir: tempfile::TempDir,
}

impl Drop for Apache {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Apache {
    fn log(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
        format!("{}{}", read("stderr.log"), read("error.log"))
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// docs/proxy.md's `mod_auth_openidc` configuration, in a server of its own.
fn apache_config(dir: &std::path::Path, port: u16, ward: &str) -> String {
    let d = dir.display();
    format!(
        r#"ServerRoot "{d}"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile {d}/httpd.pid
ErrorLog {d}/error.log
LogLevel warn auth_openidc:info
LoadModule mpm_event_module {MODULES}/mod_mpm_event.so
LoadModule authn_core_module {MODULES}/mod_authn_core.so
LoadModule authz_core_module {MODULES}/mod_authz_core.so
LoadModule authz_user_module {MODULES}/mod_authz_user.so
LoadModule mime_module {MODULES}/mod_mime.so
LoadModule auth_openidc_module {MODULES}/mod_auth_openidc.so
LoadModule headers_module {MODULES}/mod_headers.so
TypesConfig /etc/mime.types
DocumentRoot "{d}/htdocs"

OIDCProviderMetadataURL {ward}/.well-known/openid-configuration
OIDCClientID {CLIENT_ID}
OIDCClientSecret {CLIENT_SECRET}
OIDCRedirectURI http://127.0.0.1:{port}/protected/redirect_uri
OIDCCryptoPassphrase test-passphrase-not-secret
OIDCScope "openid email"
OIDCRemoteUserClaim email
OIDCInfoHook iat access_token id_token userinfo session

<Location /protected>
    AuthType openid-connect
    Require valid-user
    # What a protected page should say: a browser keeps no copy to show without asking.
    Header always set Cache-Control "no-store"
</Location>
"#
    )
}

async fn start_apache(port: u16, ward: &str) -> Apache {
    let binary = ["/usr/sbin/apache2", "/usr/sbin/httpd"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists())
        .expect("apache2 is installed (bash .ci/packages.sh)");
    assert!(
        std::path::Path::new(MODULES)
            .join("mod_auth_openidc.so")
            .exists(),
        "mod_auth_openidc is installed (apt-get install -y libapache2-mod-auth-openidc)"
    );
    let dir = tempfile::tempdir().unwrap();
    let htdocs = dir.path().join("htdocs");
    std::fs::create_dir_all(htdocs.join("protected")).unwrap();
    std::fs::write(
        htdocs.join("protected/hello.html"),
        "<!doctype html><title>Protected</title><h1 id=\"protected\">Protected content</h1>",
    )
    .unwrap();
    std::fs::write(
        htdocs.join("signed-out.html"),
        "<!doctype html><title>Bye</title><h1 id=\"bye\">Signed out of the app</h1>",
    )
    .unwrap();
    let conf = dir.path().join("httpd.conf");
    std::fs::write(&conf, apache_config(dir.path(), port, ward)).unwrap();
    let child = std::process::Command::new(binary)
        .arg("-f")
        .arg(&conf)
        .arg("-DFOREGROUND")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("stderr.log")).unwrap())
        .spawn()
        .expect("apache2 starts");
    let apache = Apache { child, dir };
    let deadline = Instant::now() + Duration::from_secs(15);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "apache did not start: {}",
            apache.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    apache
}

async fn sign_in(d: &Driver) {
    d.wait_path("/login").await;
    d.sign_in_with_password(ADMIN_EMAIL, ADMIN_PASSWORD).await;
}

/// The `session.revoked` events: (session id, detail).
async fn revocations(server: &TestServer) -> Vec<(String, Value)> {
    server
        .state
        .store
        .audit_events(&AuditQuery {
            user_id: None,
            event_type: Some("session.revoked".into()),
            before: None,
            limit: 100,
        })
        .await
        .unwrap()
        .into_iter()
        .map(|(e, _)| {
            let detail = serde_json::from_str(&e.detail).unwrap_or(Value::Null);
            (e.target.unwrap_or_default(), detail)
        })
        .collect()
}

async fn apache_mod_auth_openidc_signs_in_and_out_through_ward(b: Backend) {
    let Some((chromium, chromedriver)) = find_browser() else {
        missing_component(
            "apache_mod_auth_openidc_signs_in_and_out_through_ward",
            "Chromium and chromedriver (apt-get install -y chromium chromium-driver)",
        );
        return;
    };
    // Apache's address goes into the client's registration before either starts.
    let port = free_port();
    let app = format!("http://127.0.0.1:{port}");
    let server = TestServer::start_with(b, |c| {
        c.clients.push(RawClient {
            id: CLIENT_ID.into(),
            secret: Some(CLIENT_SECRET.into()),
            redirect_uris: vec![format!("{app}/protected/redirect_uri")],
            grant_types: vec!["authorization_code".into()],
            post_logout_redirect_uris: vec![format!("{app}/signed-out.html")],
            ..RawClient::default()
        });
    })
    .await;
    let apache = start_apache(port, &server.url).await;
    let d = Driver::start(&chromium, &chromedriver).await;

    // The protected page sends the browser to ward; after sign-in and consent it is shown.
    d.goto(&format!("{app}/protected/hello.html")).await;
    sign_in(&d).await;
    d.wait_source("Allow").await;
    d.screenshot("apache-01-consent").await;
    d.click("button[name=decision][value=allow]").await;
    d.wait_source("Protected content").await;
    d.screenshot("apache-02-protected-page").await;
    let at = d.current_url().await;
    assert!(
        at.starts_with(&app),
        "back at Apache: {at}\n{}",
        apache.log()
    );

    // mod_auth_openidc holds ward's ID token for the admin.
    d.goto(&format!("{app}/protected/redirect_uri?info=json"))
        .await;
    let text = d.text("body").await;
    let info: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("info hook answers JSON ({e}): {text}"));
    assert_eq!(info["id_token"]["email"], ADMIN_EMAIL, "{info}");
    assert_eq!(info["id_token"]["iss"], server.url.as_str(), "{info}");
    assert_eq!(info["id_token"]["aud"], CLIENT_ID, "{info}");

    // Apache's logout ends the ward session too, and comes back to the app's page.
    assert!(revocations(&server).await.is_empty());
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("logout", &format!("{app}/signed-out.html"))
        .finish();
    d.goto(&format!("{app}/protected/redirect_uri?{query}"))
        .await;
    d.wait_source("Signed out of the app").await;
    // Two sessions end: the browser's at ward, through the end-session endpoint, and the one
    // Apache's tokens belonged to (mod_auth_openidc revokes its tokens first at
    // /oauth/revoke; the end-session request would end it otherwise).
    let revoked = revocations(&server).await;
    let log = apache.log();
    assert!(
        revoked.iter().any(|(_, d)| d["via"] == "end_session"
            && d["client_id"] == CLIENT_ID
            && d["channel"] == "web"),
        "the browser session ended through /oauth/logout: {revoked:?}\n{log}"
    );
    let sessions: std::collections::BTreeSet<&String> = revoked.iter().map(|(s, _)| s).collect();
    assert_eq!(sessions.len(), 2, "{revoked:?}");

    // The next visit needs the password again: the ward session is gone, not only Apache's.
    // Neither from the browser's cache (`Cache-Control: no-store` above; before it, the static
    // page's `Last-Modified` let Chromium answer the same URL from its heuristic cache without
    // asking Apache, and the test failed at random under load) nor at a URL it has loaded.
    d.goto(&format!("{app}/protected/hello.html?after=logout"))
        .await;
    d.wait_path("/login").await;
    d.screenshot("apache-03-signed-out").await;
    d.quit().await;
}

on_both_backends!(apache_mod_auth_openidc_signs_in_and_out_through_ward);
