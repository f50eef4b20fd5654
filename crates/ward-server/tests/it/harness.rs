//! Test harness: a real ward server on 127.0.0.1:0 backed by a fresh SQLite file or a fresh
//! PostgreSQL database, driven by a manual clock, and a cookie-keeping "browser".

use std::sync::Arc;

use reqwest::redirect::Policy;
use reqwest::StatusCode;
use sqlx::Connection;
use ward_core::clock::{ManualClock, SystemClock};
use ward_core::random::OsRandom;
use ward_core::Clock;
use ward_server::config::{RawClient, RawConfig};
use ward_server::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const ADMIN_EMAIL: &str = "admin@test.example";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";
pub const APP_CLIENT: &str = "backend";
pub const APP_SECRET: &str = "backend-secret-0123456789";
pub const APP_REDIRECT: &str = "https://app.example.com/callback";

/// Runs the given async test functions once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() { super::$name($crate::harness::Backend::Sqlite).await }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() { super::$name($crate::harness::Backend::Postgres).await }
            )*
        }
    };
}

pub struct TestServer {
    pub url: String,
    pub clock: ManualClock,
    /// The server's state, for tests that inspect it directly.
    #[allow(dead_code)]
    pub state: AppState,
    /// What start-up did about the first admin (a generated password is in here).
    #[allow(dead_code)]
    pub bootstrap: ward_server::Bootstrap,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

fn pg_admin_url() -> String {
    std::env::var("WARD_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

async fn fresh_database(backend: Backend, dir: &std::path::Path) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.join("ward.db").display()),
        Backend::Postgres => {
            let name = format!("ward_test_{}", ward_core::random::random_id(&OsRandom));
            let mut conn = sqlx::PgConnection::connect(&format!("{}/postgres", pg_admin_url()))
                .await
                .expect("PostgreSQL must be running on 127.0.0.1:5432 (see .ci/run)");
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await
                .expect("create test database");
            format!("{}/{name}", pg_admin_url())
        }
    }
}

impl TestServer {
    pub async fn start(backend: Backend) -> TestServer {
        Self::start_with(backend, |_| {}).await
    }

    /// Another server on this one's database and data directory (same master key), e.g. with
    /// a changed policy; it shares this server's clock.
    pub async fn restart_with(&self, customize: impl FnOnce(&mut RawConfig)) -> TestServer {
        let data_dir = self.state.config.data_dir.display().to_string();
        let database_url = self.state.config.database_url.clone();
        Self::start_inner(
            Backend::Sqlite,
            customize,
            Some((data_dir, database_url)),
            Some(self.clock.clone()),
            None,
        )
        .await
    }

    /// A server on a fresh PostgreSQL database whose store trusts cached sessions, users and API
    /// tokens for `cache_ttl` (instead of 1 s): with a long TTL, only `LISTEN/NOTIFY` can carry
    /// another replica's change here in time.
    #[allow(dead_code)]
    pub async fn start_postgres_with_cache_ttl(cache_ttl: std::time::Duration) -> TestServer {
        Self::start_inner(Backend::Postgres, |_| {}, None, None, Some(cache_ttl)).await
    }

    /// Another replica of this server: same database, data directory (master key), public URL
    /// (issuer), clock and cache TTL, its own process state and port (`url` is its own address,
    /// as if the load balancer sent the request there). This one keeps running.
    #[allow(dead_code)]
    pub async fn start_replica(&self) -> TestServer {
        self.start_replica_with(|_| {}).await
    }

    /// [`TestServer::start_replica`] with more configuration (as every replica would have).
    pub async fn start_replica_with(&self, customize: impl FnOnce(&mut RawConfig)) -> TestServer {
        let data_dir = self.state.config.data_dir.display().to_string();
        let database_url = self.state.config.database_url.clone();
        let public_url = self.state.issuer.clone();
        Self::start_inner(
            Backend::Sqlite,
            move |raw| {
                raw.public_url = Some(public_url);
                customize(raw);
            },
            Some((data_dir, database_url)),
            Some(self.clock.clone()),
            Some(self.state.config.store_cache_ttl),
        )
        .await
    }

    pub async fn start_with(
        backend: Backend,
        customize: impl FnOnce(&mut RawConfig),
    ) -> TestServer {
        Self::start_inner(backend, customize, None, None, None).await
    }

    async fn start_inner(
        backend: Backend,
        customize: impl FnOnce(&mut RawConfig),
        existing: Option<(String, String)>,
        clock: Option<ManualClock>,
        cache_ttl: Option<std::time::Duration>,
    ) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut raw = RawConfig::default();
        raw.listen = "127.0.0.1:0".into();
        // The tests exercise guest sessions; the default is off.
        raw.sessions.guests = true;
        match existing {
            Some((data_dir, database_url)) => {
                raw.data_dir = data_dir;
                raw.database_url = Some(database_url);
            }
            None => {
                raw.data_dir = dir.path().display().to_string();
                raw.database_url = Some(fresh_database(backend, dir.path()).await);
            }
        }
        raw.bootstrap_admin_email = Some(ADMIN_EMAIL.into());
        raw.bootstrap_admin_password = Some(ADMIN_PASSWORD.into());
        raw.clients.push(RawClient {
            id: APP_CLIENT.into(),
            secret: Some(APP_SECRET.into()),
            secret_file: None,
            redirect_uris: vec![APP_REDIRECT.into()],
            grant_types: vec![
                "authorization_code".into(),
                "refresh_token".into(),
                "client_credentials".into(),
            ],
            scopes: vec!["containers:read".into(), "containers:write".into()],
            // The tests' resource server: it introspects the CLI's tokens too.
            introspect: true,
            ..RawClient::default()
        });
        customize(&mut raw);
        let mut config = raw.validate().expect("test config is valid");
        if let Some(ttl) = cache_ttl {
            config.store_cache_ttl = ttl;
        }
        let clock = clock.unwrap_or_else(|| ManualClock::new(SystemClock.now()));
        let prepared = ward_server::prepare(config, Arc::new(clock.clone()), Arc::new(OsRandom))
            .await
            .expect("server starts");
        // Replica tests (the only ones setting a cache TTL) reach each server at its own
        // address: a replica's issuer is the first server's URL.
        let url = match cache_ttl {
            Some(_) => format!("http://{}", prepared.local_addr().expect("bound address")),
            None => prepared.state.issuer.clone(),
        };
        let state = prepared.state.clone();
        let bootstrap = prepared.bootstrap.clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(prepared.serve(async move {
            let _ = rx.await;
        }));
        TestServer {
            url,
            clock,
            state,
            bootstrap,
            shutdown: Some(tx),
            _dir: dir,
        }
    }

    pub fn clock_now(&self) -> i64 {
        use ward_core::Clock;
        self.clock.now().0
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// A client that does not follow redirects and keeps cookies, like a browser we drive.
    pub fn browser(&self) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(Policy::none())
                .cookie_store(true)
                .build()
                .expect("client"),
            base: self.url.clone(),
        }
    }

    /// [`TestServer::browser`] that sends `user_agent` (another device, as the server sees it).
    #[allow(dead_code)]
    pub fn browser_with_agent(&self, user_agent: &str) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(Policy::none())
                .cookie_store(true)
                .user_agent(user_agent)
                .build()
                .expect("client"),
            base: self.url.clone(),
        }
    }

    /// A plain API client (no cookies, no redirects).
    pub fn api(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .expect("client")
    }

    /// Signs in through the pages and runs the PKCE flow for `ward-cli`, returning the
    /// authorization code and the redirect it came back on.
    pub async fn cli_code(&self, browser: &Browser, challenge: &str, redirect_uri: &str) -> String {
        let url = reqwest::Url::parse_with_params(
            &self.url("/cli-login"),
            &[
                ("response_type", "code"),
                ("client_id", "ward-cli"),
                ("redirect_uri", redirect_uri),
                ("code_challenge", challenge),
                ("code_challenge_method", "S256"),
                ("state", "st4te"),
                ("scope", "openid offline_access"),
                ("device_name", "test-laptop"),
            ],
        )
        .expect("url");
        let q = authorize_in_browser(browser, url.as_str(), redirect_uri).await;
        assert_eq!(q.get("state").map(String::as_str), Some("st4te"));
        q.get("code").cloned().expect("code in redirect")
    }
}

/// Drives a browser through an authorization URL: sign in, consent, and return the query of the
/// final redirect to `redirect_uri`.
pub async fn authorize_in_browser(
    browser: &Browser,
    url: &str,
    redirect_uri: &str,
) -> std::collections::HashMap<String, String> {
    let location = browser
        .sign_in_through(url, ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;
    let consent = browser.get(&location).await;
    assert_eq!(consent.0, StatusCode::OK);
    assert!(consent.1.contains("Authorize CLI access"), "{}", consent.1);
    let back = browser
        .submit_form(&consent.1, &[("decision", "allow")])
        .await;
    assert_eq!(back.status(), StatusCode::SEE_OTHER);
    let to = location_of(&back);
    assert!(to.starts_with(redirect_uri), "{to}");
    let url = reqwest::Url::parse(&to).expect("redirect url");
    url.query_pairs().into_owned().collect()
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub fn location_of(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

// The page readers live in the test kit (scraper); these names stay for the tests using them.
pub use ward_testkit::html::{form_action, input_value};

pub struct Browser {
    pub http: reqwest::Client,
    base: String,
}

impl Browser {
    fn abs(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    pub async fn get(&self, path: &str) -> (StatusCode, String, String) {
        let r = self.http.get(self.abs(path)).send().await.expect("GET");
        let status = r.status();
        let loc = location_of(&r);
        (status, r.text().await.unwrap_or_default(), loc)
    }

    /// Submits the page's first form with its hidden fields plus `fields`.
    pub async fn submit_form(&self, html: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let action = form_action(html).expect("page has a form");
        let mut params: Vec<(String, String)> = Vec::new();
        for hidden in ["csrf_token", "return_to", "request", "user_code"] {
            if fields.iter().any(|(k, _)| *k == hidden) {
                continue;
            }
            if let Some(v) = input_value(html, hidden) {
                params.push((hidden.to_string(), v));
            }
        }
        for (k, v) in fields {
            params.push((k.to_string(), v.to_string()));
        }
        self.http
            .post(self.abs(&action))
            .form(&params)
            .send()
            .await
            .expect("POST")
    }

    /// Starts at `url`, which must send an unsigned browser to the sign-in page, signs in, and
    /// returns where the sign-in sends the browser back to.
    pub async fn sign_in_through(&self, url: &str, email: &str, password: &str) -> String {
        let (status, _, login) = self.get(url).await;
        assert_eq!(
            status,
            StatusCode::SEE_OTHER,
            "unsigned browser is sent to sign in"
        );
        assert!(login.starts_with("/login?"), "{login}");
        let (status, page, _) = self.get(&login).await;
        assert_eq!(status, StatusCode::OK);
        let r = self.submit_form(&page, &[("email", email)]).await;
        assert_eq!(r.status(), StatusCode::OK);
        let page = r.text().await.expect("password page");
        assert!(page.contains("name=\"password\""));
        let r = self
            .submit_form(&page, &[("email", email), ("password", password)])
            .await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "sign-in succeeds");
        location_of(&r)
    }

    /// Signs in at `/login` directly.
    pub async fn sign_in(&self, email: &str, password: &str) -> reqwest::Response {
        let (_, page, _) = self.get("/login").await;
        let r = self.submit_form(&page, &[("email", email)]).await;
        let page = r.text().await.expect("password page");
        self.submit_form(&page, &[("email", email), ("password", password)])
            .await
    }
}

/// A PKCE verifier and its S256 challenge.
pub fn pkce_pair() -> (String, String) {
    let verifier = ward_core::random::random_string(&OsRandom, ward_core::random::BASE62, 64);
    let challenge = ward_core::pkce::s256_challenge(&verifier);
    (verifier, challenge)
}

pub const LOOPBACK: &str = "http://127.0.0.1:49152/callback";

/// Exchanges a CLI code for tokens with a plain form post.
pub async fn exchange_cli_code(
    server: &TestServer,
    code: &str,
    verifier: &str,
) -> reqwest::Response {
    server
        .api()
        .post(server.url("/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", LOOPBACK),
            ("client_id", "ward-cli"),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .expect("token request")
}

/// Full CLI sign-in: returns the token response JSON.
pub async fn cli_tokens(server: &TestServer) -> serde_json::Value {
    let browser = server.browser();
    let (verifier, challenge) = pkce_pair();
    let code = server.cli_code(&browser, &challenge, LOOPBACK).await;
    let r = exchange_cli_code(server, &code, &verifier).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.expect("token json")
}

pub async fn profile_status(server: &TestServer, access_token: &str) -> StatusCode {
    server
        .api()
        .get(server.url("/api/profile"))
        .bearer_auth(access_token)
        .send()
        .await
        .expect("profile")
        .status()
}

pub async fn refresh_grant(server: &TestServer, refresh_token: &str) -> reqwest::Response {
    server
        .api()
        .post(server.url("/oauth/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", "ward-cli"),
        ])
        .send()
        .await
        .expect("refresh")
}

pub async fn error_code(r: reqwest::Response) -> (StatusCode, String) {
    let status = r.status();
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    (
        status,
        body["error"].as_str().unwrap_or_default().to_string(),
    )
}

// A missing component fails the test unless `WARD_TEST_ALLOW_SKIP=1` (the test kit's rule).
pub use ward_testkit::missing_component;
