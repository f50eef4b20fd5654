//! A real headless Chromium, driven over W3C WebDriver by `fantoccini` through a chromedriver
//! this process starts on a free port. [`Driver`] is a thin wrapper with the waits the page tests
//! need (every wait gives up after 30 s), the WebAuthn WebDriver extension (as custom commands),
//! and a screenshot in the artifacts directory when a test fails while the browser is open.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

pub use fantoccini::elements::Element;

/// How often and how many times the waits look again: 300 × 100 ms = 30 s.
const POLL: Duration = Duration::from_millis(100);
const POLLS: usize = 300;

/// The Chromium and chromedriver binaries, when installed (Debian: `apt-get install -y
/// chromium chromium-driver`).
pub fn find_browser() -> Option<(PathBuf, PathBuf)> {
    let find = |names: &[&str]| -> Option<PathBuf> {
        let path = std::env::var_os("PATH")?;
        names.iter().find_map(|n| {
            std::env::split_paths(&path)
                .map(|d| d.join(n))
                .find(|p| p.is_file())
        })
    };
    Some((
        find(&["chromium", "chromium-browser", "google-chrome"])?,
        find(&["chromedriver"])?,
    ))
}

/// Where screenshots go: `$WARD_ARTIFACTS`, else `<target dir>/artifacts`.
pub fn artifacts_dir() -> PathBuf {
    let dir = match std::env::var_os("WARD_ARTIFACTS") {
        Some(d) => PathBuf::from(d),
        None => match std::env::var_os("CARGO_TARGET_DIR") {
            Some(t) => PathBuf::from(t).join("artifacts"),
            None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/artifacts"),
        },
    };
    std::fs::create_dir_all(&dir).expect("artifacts dir");
    dir
}

pub struct Driver {
    client: Client,
    /// chromedriver's `host:port`, for the blocking requests of `Drop`.
    address: String,
    session: String,
    child: Child,
    _profile: tempfile::TempDir,
}

impl Driver {
    /// Chromium for `test`, or `None` (after [`crate::missing_component`]: a failure unless
    /// `WARD_TEST_ALLOW_SKIP=1`) when Chromium or chromedriver is not installed.
    pub async fn launch(test: &str) -> Option<Driver> {
        let Some((chromium, chromedriver)) = find_browser() else {
            crate::missing_component(
                test,
                "Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)",
            );
            return None;
        };
        Some(Driver::start(&chromium, &chromedriver).await)
    }

    /// Starts chromedriver and a fresh headless Chromium session.
    pub async fn start(chromium: &Path, chromedriver: &Path) -> Driver {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mut child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let address = format!("127.0.0.1:{port}");
        let profile = tempfile::tempdir().unwrap();
        let mut options = serde_json::Map::new();
        options.insert("browserName".into(), json!("chrome"));
        options.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium.display().to_string(),
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--window-size=1280,1000", "--hide-scrollbars",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        // chromedriver answers once it listens: until then, connecting is refused.
        let mut last = String::new();
        for _ in 0..POLLS {
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(options.clone())
                .connect(&format!("http://{address}"))
                .await
            {
                Ok(client) => {
                    let session = client
                        .session_id()
                        .await
                        .ok()
                        .flatten()
                        .expect("a WebDriver session id");
                    return Driver {
                        client,
                        address,
                        session,
                        child,
                        _profile: profile,
                    };
                }
                Err(e) => last = e.to_string(),
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("chromedriver exited ({status}): {last}");
            }
            tokio::time::sleep(POLL).await;
        }
        let _ = child.kill();
        panic!("no WebDriver session from chromedriver: {last}");
    }

    /// The fantoccini client, for anything the wrapper does not say.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Runs an asynchronous script (WebDriver "Execute Async Script"): the script calls its last
    /// argument with the result.
    pub async fn execute_async(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute_async(script, args)
            .await
            .unwrap_or_else(|e| panic!("execute_async: {e}"))
    }

    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("goto {url}: {e}"));
    }

    pub async fn current_url(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default()
    }

    pub async fn source(&self) -> String {
        self.client.source().await.unwrap_or_default()
    }

    async fn try_find(&self, css: &str) -> Option<Element> {
        self.client.find(Locator::Css(css)).await.ok()
    }

    /// The first element matching `css`, waiting up to 30 s for it to appear.
    pub async fn find(&self, css: &str) -> Element {
        for _ in 0..POLLS {
            if let Some(e) = self.try_find(css).await {
                return e;
            }
            tokio::time::sleep(POLL).await;
        }
        panic!(
            "no element {css} on {}:\n{}",
            self.current_url().await,
            self.source().await
        );
    }

    pub async fn exists(&self, css: &str) -> bool {
        self.try_find(css).await.is_some()
    }

    pub async fn click(&self, css: &str) {
        let e = self.find(css).await;
        e.click()
            .await
            .unwrap_or_else(|err| panic!("click {css}: {err}"));
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        e.send_keys(text)
            .await
            .unwrap_or_else(|err| panic!("type into {css}: {err}"));
    }

    /// Clears the field, then types into it.
    pub async fn replace_text(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        e.clear()
            .await
            .unwrap_or_else(|err| panic!("clear {css}: {err}"));
        self.type_into(css, text).await;
    }

    pub async fn text(&self, css: &str) -> String {
        let e = self.find(css).await;
        e.text()
            .await
            .unwrap_or_else(|err| panic!("text of {css}: {err}"))
    }

    pub async fn value(&self, css: &str) -> String {
        let e = self.find(css).await;
        e.prop("value")
            .await
            .unwrap_or_else(|err| panic!("value of {css}: {err}"))
            .unwrap_or_default()
    }

    /// The element's text, or `None` when it is absent or went stale.
    async fn try_text(&self, css: &str) -> Option<String> {
        self.try_find(css).await?.text().await.ok()
    }

    /// Waits up to 30 s until the first element matching `css` contains `needle` (after a
    /// form post, the previous page may still be showing).
    pub async fn wait_text(&self, css: &str, needle: &str) {
        let mut last = String::new();
        for _ in 0..POLLS {
            // The page may navigate between finding the element and reading it (a stale element
            // reference): that is not a failure, just another round.
            if let Some(text) = self.try_text(css).await {
                last = text;
                if last.contains(needle) {
                    return;
                }
            }
            tokio::time::sleep(POLL).await;
        }
        panic!("{css} never contained {needle:?}; last: {last:?}");
    }

    /// Waits until the page's URL contains `needle`.
    pub async fn wait_url_contains(&self, needle: &str) {
        let mut last = String::new();
        for _ in 0..POLLS {
            last = self.current_url().await;
            if last.contains(needle) {
                return;
            }
            tokio::time::sleep(POLL).await;
        }
        panic!("expected a URL with {needle:?}, still at {last}");
    }

    /// Waits until the page's URL path is `path` (query ignored).
    pub async fn wait_path(&self, path: &str) {
        let mut last = String::new();
        for _ in 0..POLLS {
            last = self.current_url().await;
            if url::Url::parse(&last).is_ok_and(|u| u.path() == path) {
                return;
            }
            tokio::time::sleep(POLL).await;
        }
        panic!("expected to reach {path}, still at {last}");
    }

    /// Waits up to 30 s until the page source contains `text`.
    pub async fn wait_source(&self, text: &str) {
        for _ in 0..POLLS {
            if self.source().await.contains(text) {
                return;
            }
            tokio::time::sleep(POLL).await;
        }
        panic!("{text:?} never appeared on {}", self.current_url().await);
    }

    /// Saves a PNG of the viewport as `<artifacts>/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self
            .client
            .screenshot()
            .await
            .unwrap_or_else(|e| panic!("screenshot: {e}"));
        let path = artifacts_dir().join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    pub async fn delete_cookies(&self) {
        self.client
            .delete_all_cookies()
            .await
            .unwrap_or_else(|e| panic!("delete cookies: {e}"));
    }

    /// On ward's sign-in page: types the email, continues, types the password and signs in
    /// (the caller waits for where that leads).
    pub async fn sign_in_with_password(&self, email: &str, password: &str) {
        self.type_into("#email", email).await;
        self.click("form[action='/login'] button[type=submit]")
            .await;
        self.type_into("#password", password).await;
        self.click("form[action='/login/password'] button[type=submit]")
            .await;
    }

    /// Ends the browser session (Chromium exits).
    pub async fn quit(&self) {
        let _ = self.client.clone().close().await;
    }
}

/// WebAuthn's WebDriver extension (W3C WebAuthn Level 2 §11), as fantoccini custom commands.
impl Driver {
    /// A CTAP2 platform authenticator with resident keys and user verification; returns its id.
    pub async fn add_virtual_authenticator(&self) -> String {
        let options = json!({
            "protocol": "ctap2", "transport": "internal", "hasResidentKey": true,
            "hasUserVerification": true, "isUserConsenting": true, "isUserVerified": true
        });
        let v = self
            .extension(http::Method::POST, "webauthn/authenticator", Some(options))
            .await;
        v.as_str().expect("authenticator id").to_string()
    }

    /// The credentials an authenticator holds.
    pub async fn authenticator_credentials(&self, authenticator: &str) -> Vec<Value> {
        let path = format!("webauthn/authenticator/{authenticator}/credentials");
        let v = self.extension(http::Method::GET, &path, None).await;
        v.as_array().cloned().unwrap_or_default()
    }

    async fn extension(&self, method: http::Method, path: &str, body: Option<Value>) -> Value {
        let command = Extension {
            method,
            path: path.to_owned(),
            body,
        };
        self.client
            .issue_cmd(command)
            .await
            .unwrap_or_else(|e| panic!("WebDriver {path}: {e}"))
    }
}

/// A WebDriver extension command: `METHOD /session/{id}/{path}` with an optional JSON body.
#[derive(Debug)]
struct Extension {
    method: http::Method,
    path: String,
    body: Option<Value>,
}

impl WebDriverCompatibleCommand for Extension {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        let session = session_id.unwrap_or_default();
        base_url.join(&format!("session/{session}/{}", self.path))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (
            self.method.clone(),
            self.body.as_ref().map(Value::to_string),
        )
    }
}

impl Driver {
    /// One blocking HTTP request to chromedriver (Drop cannot await, and the test's runtime
    /// may be unwinding); the response body, if any came.
    fn blocking_request(&self, method: &str, path: &str) -> Option<String> {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&self.address).ok()?;
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.address
        )
        .ok()?;
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        let response = String::from_utf8_lossy(&response);
        response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())
    }

    /// After a failure: the page as it was, as `<artifacts>/failure-<test>.png`.
    fn screenshot_on_failure(&self) {
        use base64::Engine;
        let Some(body) =
            self.blocking_request("GET", &format!("/session/{}/screenshot", self.session))
        else {
            return;
        };
        let Ok(v) = serde_json::from_str::<Value>(&body) else {
            return;
        };
        let Some(Ok(png)) = v["value"]
            .as_str()
            .map(|b| base64::engine::general_purpose::STANDARD.decode(b))
        else {
            return;
        };
        let test = std::thread::current()
            .name()
            .unwrap_or("test")
            .replace("::", "-");
        let path = artifacts_dir().join(format!("failure-{test}.png"));
        if std::fs::write(&path, png).is_ok() {
            eprintln!("screenshot of the failure: {}", path.display());
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.screenshot_on_failure();
        }
        // Ends the browser session even after a failed assertion, so Chromium exits; then
        // chromedriver, by its own process id.
        let _ = self.blocking_request("DELETE", &format!("/session/{}", self.session));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
