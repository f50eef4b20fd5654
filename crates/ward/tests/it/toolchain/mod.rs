//! Issue 23: ward's credentials for the whole toolchain. The real git (a repository served by
//! `git http-backend` behind a ward proxy route) and the real kubectl (against a route whose
//! backend answers like an API server) run with nothing but ward's helpers configured; docker's
//! helper protocol is driven as docker drives it; `ward env` and `.ward-profile`.

mod tls_front;
mod upstream;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::support::{Cli, Out, Server, WARD};
use crate::{assert_ok, login_pkce, WAIT};
use tls_front::TlsFront;
use upstream::Upstream;

/// A tool the test drives; missing is a failure unless `WARD_TEST_ALLOW_SKIP=1`.
fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        if std::env::var("WARD_TEST_ALLOW_SKIP").is_ok_and(|v| v == "1") {
            eprintln!("SKIPPED: {name} is not installed (WARD_TEST_ALLOW_SKIP=1)");
        } else {
            panic!("this test needs {name}; install it (.ci/packages.sh) or set WARD_TEST_ALLOW_SKIP=1 to skip");
        }
    }
    found
}

/// A signed-in CLI, a ward server with a `/git` route and a `/` route (the Kubernetes API
/// server), their backend, a bare repository `repo.git` with one commit on `main`, and a TLS
/// front for kubectl.
struct World {
    server: Server,
    cli: Cli,
    upstream: Upstream,
    tls: TlsFront,
    _repos: tempfile::TempDir,
}

fn plain_git(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("HOME", dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

impl World {
    async fn start() -> World {
        let repos = tempfile::tempdir().unwrap();
        let seed = repos.path().join("seed");
        std::fs::create_dir(&seed).unwrap();
        plain_git(&seed, &["init", "-q", "-b", "main"]);
        std::fs::write(seed.join("README"), "hello\n").unwrap();
        plain_git(&seed, &["add", "README"]);
        plain_git(
            &seed,
            &[
                "-c",
                "user.name=Seed",
                "-c",
                "user.email=seed@example.com",
                "commit",
                "-q",
                "-m",
                "first",
            ],
        );
        plain_git(repos.path(), &["clone", "-q", "--bare", "seed", "repo.git"]);
        let upstream = Upstream::start(repos.path()).await;
        let server = Server::start_with(&format!(
            r#"resources = ["agent", "containers", "ssh", "snippets", "recordings", "repos", "cluster"]
[[routes]]
prefix = "/git"
upstream = "{up}"
permissions = {{ GET = "repos:read", POST = "repos:write" }}

[[routes]]
prefix = "/"
upstream = "{up}"
permission = "cluster:read"
"#,
            up = upstream.url
        ));
        let cli = Cli::new();
        login_pkce(&server, &cli).await;
        let tls = TlsFront::start(server.url.trim_start_matches("http://").to_owned()).await;
        World {
            server,
            cli,
            upstream,
            tls,
            _repos: repos,
        }
    }

    /// `program` with the CLI's environment (temp HOME, ward's config dir), never prompting.
    fn command(&self, program: &Path, args: &[&str], cwd: &Path) -> tokio::process::Command {
        let template = self.cli.command(&[]);
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args).current_dir(cwd).env_clear();
        for (k, v) in template.as_std().get_envs() {
            if let Some(v) = v {
                cmd.env(k, v);
            }
        }
        cmd.env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("KUBECONFIG", self.cli.dir.path().join("kubeconfig"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    fn repo_url(&self) -> String {
        format!("{}/git/repo.git", self.server.url)
    }

    /// Writes a kubeconfig whose user is `ward credential kube` as `--print-kubeconfig` prints
    /// it, speaking `api_version`.
    async fn write_kubeconfig(&self, api_version: &str) {
        let users = self
            .cli
            .run(&["credential", "kube", "--print-kubeconfig"])
            .await;
        assert_ok(&users);
        let users = users.stdout.replace(
            "client.authentication.k8s.io/v1\n",
            &format!("{api_version}\n"),
        );
        use base64::Engine;
        let ca = base64::engine::general_purpose::STANDARD.encode(&self.tls.cert_pem);
        let config = format!(
            "apiVersion: v1
kind: Config
clusters:
- name: ward
  cluster:
    server: {}
    certificate-authority-data: {ca}
contexts:
- name: ward
  context:
    cluster: ward
    user: ward-default
current-context: ward
{users}",
            self.tls.url
        );
        std::fs::write(self.cli.dir.path().join("kubeconfig"), config).unwrap();
    }

    /// Makes the cached access token nearly expired: 30 s left, inside the CLI's refresh
    /// margin (60 s), so every helper wants a new one.
    fn expire_access_token(&self) {
        use ward_core::Clock;
        let soon = ward_core::clock::SystemClock.now().0 + 30;
        let mut creds = self.cli.credentials();
        creds["default"]["access_expires_at"] = soon.into();
        self.cli.write_credentials(&creds);
    }
}

async fn output(mut cmd: tokio::process::Command) -> Out {
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("timed out")
        .unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `ward ARGS` (or the program `bin`) with `stdin` as its input.
async fn with_stdin(mut cmd: tokio::process::Command, stdin: &str) -> Out {
    cmd.stdin(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    let out = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("timed out")
        .unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn host_of(url: &str) -> String {
    url.trim_start_matches("http://").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_clone_and_push_with_only_setup_git_then_a_revoked_session_fails() {
    let Some(git) = tool("git") else { return };
    let w = World::start().await;
    let home = w.cli.dir.path().to_owned();
    // Nothing set up: git has no credential, cannot prompt, and fails.
    let out = output(w.command(&git, &["clone", &w.repo_url(), "before"], &home)).await;
    assert_ne!(out.code, 0, "{out:?}");
    assert!(!home.join("before/README").exists());

    let setup = w.cli.run(&["auth", "setup-git"]).await;
    assert_ok(&setup);
    let key = format!("credential.{}.helper", w.server.url);
    assert!(setup.stdout.contains(&key), "{}", setup.stdout);
    // The user's global config (the temp HOME's) holds the reset and ward's helper, once.
    let again = w.cli.run(&["auth", "setup-git"]).await;
    assert_ok(&again);
    let gitconfig = std::fs::read_to_string(home.join(".gitconfig")).unwrap();
    assert_eq!(
        gitconfig.matches("credential git").count(),
        1,
        "{gitconfig}"
    );
    assert!(gitconfig.contains("helper = \n"), "{gitconfig}");

    let out = output(w.command(&git, &["clone", &w.repo_url(), "work"], &home)).await;
    assert_ok(&out);
    let work = home.join("work");
    assert_eq!(
        std::fs::read_to_string(work.join("README")).unwrap(),
        "hello\n"
    );
    // Push a commit as the signed-in user.
    std::fs::write(work.join("NOTES"), "pushed through ward\n").unwrap();
    assert_ok(&output(w.command(&git, &["add", "NOTES"], &work)).await);
    let commit = [
        "-c",
        "user.name=Admin",
        "-c",
        "user.email=admin@example.com",
        "commit",
        "-q",
        "-m",
        "notes",
    ];
    assert_ok(&output(w.command(&git, &commit, &work)).await);
    let out = output(w.command(&git, &["push", "origin", "main"], &work)).await;
    assert_ok(&out);
    // The repository behind ward has it; git http-backend saw ward's identity.
    let log = std::process::Command::new("git")
        .args(["--git-dir", "repo.git", "log", "--format=%s", "main"])
        .current_dir(w._repos.path())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&log.stdout), "notes\nfirst\n");
    let pushes: Vec<_> = w
        .upstream
        .seen()
        .into_iter()
        .filter(|s| s.path.ends_with("/git-receive-pack"))
        .collect();
    assert!(!pushes.is_empty());
    assert!(pushes
        .iter()
        .all(|s| s.ward.get("x-ward-email").map(String::as_str)
            == Some(w.server.admin_email.as_str())));

    // The session is revoked on the server; the cached token still looks fresh locally.
    let sid = w.cli.config()["profiles"]["default"]["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ok(
        &w.cli
            .run(&["api", "-X", "DELETE", &format!("/api/sessions/{sid}")])
            .await,
    );
    std::fs::write(work.join("NOTES"), "again\n").unwrap();
    let commit_all = [
        "-c",
        "user.name=Admin",
        "-c",
        "user.email=admin@example.com",
        "commit",
        "-q",
        "-a",
        "-m",
        "again",
    ];
    assert_ok(&output(w.command(&git, &commit_all, &work)).await);
    let out = output(w.command(&git, &["push", "origin", "main"], &work)).await;
    assert_ne!(out.code, 0, "{out:?}");
    // The session is DPoP-bound (decision 153): the helper's `get` asks the server for a tool
    // token, which the revoked session cannot have, so git stops there with the reason.
    assert!(
        out.stderr
            .contains("Error: a token for tools was refused: session revoked"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains(&format!("Please run: ward login default {}", w.server.url)),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_helper_answers_only_for_its_host() {
    let w = World::start().await;
    let host = host_of(&w.server.url);
    let ask = |input: String, args: &'static [&'static str]| {
        let cmd = w.cli.command(args);
        async move { with_stdin(cmd, &input).await }
    };
    let out = ask(
        format!("protocol=http\nhost={host}\npath=git/repo.git\n\n"),
        &["credential", "git", "get"],
    )
    .await;
    assert_ok(&out);
    // The session is DPoP-bound (decision 153): the helper hands git a short-lived tool token,
    // never the stored bound one.
    let bound = w.cli.credentials()["default"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "username=ward");
    let token = lines[1].strip_prefix("password=").unwrap();
    assert!(token.starts_with("ey") && token != bound, "{lines:?}");
    assert!(lines[2].starts_with("password_expiry_utc="), "{lines:?}");
    assert_eq!(lines.len(), 3);
    assert!(out.stderr.is_empty(), "{}", out.stderr);
    // Other hosts, or another scheme: no answer, so git asks the next helper.
    for other in [
        "protocol=https\nhost=github.com\n\n".to_owned(),
        format!("protocol=https\nhost={host}\n\n"),
    ] {
        let out = ask(other, &["credential", "git", "get"]).await;
        assert_ok(&out);
        assert_eq!(out.stdout, "");
    }
    // store keeps nothing; unknown operations are ignored.
    let out = ask(
        format!("protocol=http\nhost={host}\nusername=ward\npassword={token}\n\n"),
        &["credential", "git", "store"],
    )
    .await;
    assert_ok(&out);
    assert_eq!(out.stdout, "");
    assert_ok(&ask(String::new(), &["credential", "git", "capabilities"]).await);
    // --host: a git server elsewhere (forward-auth in front of it).
    let out = ask(
        "protocol=https\nhost=git.example.com\n\n".to_owned(),
        &["credential", "git", "--host", "git.example.com", "get"],
    )
    .await;
    assert_ok(&out);
    // A fresh tool token each time (decision 153).
    assert!(out.stdout.contains("password=ey"), "{}", out.stdout);
    // Signed out: an Error line, nothing on stdout.
    assert_ok(&w.cli.run(&["logout"]).await);
    let out = ask(
        format!("protocol=http\nhost={host}\n\n"),
        &["credential", "git", "get"],
    )
    .await;
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stdout, "");
    assert!(out.stderr.starts_with("Error: "), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_runs_with_the_exec_plugin_v1_and_v1beta1() {
    let Some(kubectl) = tool("kubectl") else {
        return;
    };
    let w = World::start().await;
    let home = w.cli.dir.path().to_owned();
    let printed = w
        .cli
        .run(&["credential", "kube", "--print-kubeconfig"])
        .await;
    assert_ok(&printed);
    assert!(
        printed
            .stdout
            .starts_with("users:\n- name: \"ward-default\"\n"),
        "{}",
        printed.stdout
    );
    assert!(
        printed.stdout.contains(&format!("command: \"{WARD}\"")),
        "{}",
        printed.stdout
    );
    for version in [
        "client.authentication.k8s.io/v1",
        "client.authentication.k8s.io/v1beta1",
    ] {
        w.write_kubeconfig(version).await;
        let before = w.upstream.seen().len();
        let out = output(w.command(&kubectl, &["version", "--output", "json"], &home)).await;
        assert_ok(&out);
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(v["serverVersion"]["gitVersion"], "v1.32.0", "{version}");
        let out = output(w.command(&kubectl, &["get", "--raw", "/api"], &home)).await;
        assert_ok(&out);
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(v["kind"], "APIVersions");
        let seen = w.upstream.seen();
        let seen = &seen[before..];
        assert!(seen.iter().any(|s| s.path == "/version"), "{seen:?}");
        assert!(seen.iter().any(|s| s.path == "/api"), "{seen:?}");
        for s in seen {
            assert_eq!(s.ward["x-ward-email"], w.server.admin_email, "{s:?}");
            assert_eq!(s.ward["x-ward-credential"], "session", "{s:?}");
            assert!(s.ward.contains_key("x-ward-session-id"), "{s:?}");
        }
    }
    // The plugin as kubectl calls it: the same apiVersion back, the token and its expiry.
    for version in [
        "client.authentication.k8s.io/v1",
        "client.authentication.k8s.io/v1beta1",
    ] {
        let info = format!(
            r#"{{"kind":"ExecCredential","apiVersion":"{version}","spec":{{"interactive":false}}}}"#
        );
        let out = w
            .cli
            .run_env(&["credential", "kube"], &[("KUBERNETES_EXEC_INFO", &info)])
            .await;
        assert_ok(&out);
        assert!(out.stderr.is_empty(), "{}", out.stderr);
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(v["apiVersion"], version);
        assert_eq!(v["kind"], "ExecCredential");
        let token = v["status"]["token"].as_str().unwrap();
        assert!(token.starts_with("ey"));
        assert_ne!(token, w.cli.credentials()["default"]["access_token"]);
        assert!(v["status"]["expirationTimestamp"]
            .as_str()
            .unwrap()
            .ends_with('Z'));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_plugin_signs_in_on_stderr_only_when_interactive() {
    let w = World::start().await;
    assert_ok(&w.cli.run(&["logout"]).await);
    let info = |interactive: bool| {
        format!(
            r#"{{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{{"interactive":{interactive}}}}}"#
        )
    };
    // kubectl says no interaction: an Error line, nothing on stdout, no browser.
    let opened_before = w.cli.browser_urls().len();
    let out = w
        .cli
        .run_env(
            &["credential", "kube"],
            &[("KUBERNETES_EXEC_INFO", &info(false))],
        )
        .await;
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr
            .starts_with("Error: signed out of profile default\n"),
        "{}",
        out.stderr
    );
    assert_eq!(w.cli.browser_urls().len(), opened_before);
    // Interaction allowed: sign-in on stderr, then only the ExecCredential on stdout.
    let mut cmd = w.cli.command(&["credential", "kube"]);
    cmd.env("KUBERNETES_EXEC_INFO", info(true));
    let child = cmd.spawn().unwrap();
    let url = w
        .cli
        .wait_new_browser_url("/cli-login", opened_before, WAIT)
        .await;
    match w.server.user().visit(&url, false).await {
        Ok(crate::browser::Stop::Page(_, body)) => assert!(body.contains("Login Successful!")),
        other => panic!("browser: {other:?}"),
    }
    let out = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["kind"], "ExecCredential");
    assert!(v["status"]["token"].as_str().unwrap().starts_with("ey"));
    assert!(stderr.contains("signing in"), "{stderr}");
    assert!(stderr.contains("/cli-login"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_helper_protocol_driven_as_docker_does() {
    let w = World::start().await;
    // docker runs `docker-credential-<name>` from PATH.
    let bin = w.cli.dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let helper = bin.join("docker-credential-ward");
    std::os::unix::fs::symlink(WARD, &helper).unwrap();
    let run = |op: &'static str, input: String| {
        let cmd = w.command(&helper, &[op], w.cli.dir.path());
        async move { with_stdin(cmd, &input).await }
    };
    let host = host_of(&w.server.url);
    let out = run("get", format!("{host}\n")).await;
    assert_ok(&out);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["ServerURL"], host);
    assert_eq!(v["Username"], "ward");
    let secret = v["Secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("ey"));
    assert_ne!(secret, w.cli.credentials()["default"]["access_token"]);
    // What docker then sends, HTTP Basic, goes through the proxy.
    let r = Server::http()
        .get(format!("{}/version", w.server.url))
        .basic_auth("ward", Some(&secret))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // With the scheme, as docker writes some registries.
    let out = run("get", w.server.url.clone()).await;
    assert_ok(&out);
    // Another registry: docker's "not found" answer, exit 1.
    let out = run("get", "registry-1.docker.io".into()).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stdout, "credentials not found in native keychain\n");
    let out = run("list", String::new()).await;
    assert_ok(&out);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v[&w.server.url], "ward");
    let out = run(
        "store",
        format!(r#"{{"ServerURL":"{host}","Username":"u","Secret":"typed"}}"#),
    )
    .await;
    assert_ok(&out);
    assert_eq!(out.stdout, "");
    assert!(!std::fs::read_to_string(w.cli.credentials_path())
        .unwrap()
        .contains("typed"));
    let out = run("erase", host.clone()).await;
    assert_ok(&out);
    assert_eq!(out.stdout, "");
    let out = run("version", String::new()).await;
    assert_ok(&out);
    assert!(
        out.stdout.starts_with("docker-credential-ward"),
        "{}",
        out.stdout
    );
    // The same through `ward credential docker`.
    let out = with_stdin(w.cli.command(&["credential", "docker", "get"]), &host).await;
    assert_ok(&out);
    assert!(out.stdout.contains(r#""Secret":"ey"#), "{}", out.stdout);
    // Signed out: the reason on stdout for docker to show, an Error line on stderr, exit 1.
    assert_ok(&w.cli.run(&["logout"]).await);
    let out = run("get", host).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stdout, "signed out of profile default\n");
    assert!(
        out.stderr
            .starts_with("Error: signed out of profile default\n"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_and_profile_by_directory() {
    let w = World::start().await;
    let bound = w.cli.credentials()["default"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // `ward env`: the variables ward itself reads; the token is a short-lived tool token of the
    // DPoP-bound session (decision 153), never the stored bound one.
    let out = w.cli.run(&["env"]).await;
    assert_ok(&out);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], format!("WARD_URL={}", w.server.url));
    let session_token = lines[1].strip_prefix("WARD_TOKEN=").unwrap().to_owned();
    assert!(session_token.starts_with("ey") && session_token != bound);
    assert!(
        lines[2].starts_with("WARD_TOKEN_EXPIRES_AT=20"),
        "{lines:?}"
    );
    assert!(lines[2].ends_with('Z'));
    let out = w.cli.run(&["env", "--format", "json"]).await;
    assert_ok(&out);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(v["WARD_TOKEN"].as_str().unwrap().starts_with("ey"));
    assert_eq!(v["WARD_URL"], w.server.url.as_str());
    // …which another ward (a script, a container) uses as is.
    let other = Cli::new();
    let out = other
        .run_env(
            &["status"],
            &[("WARD_URL", &w.server.url), ("WARD_TOKEN", &session_token)],
        )
        .await;
    assert_ok(&out);

    // A second profile, `ci`, holding an API token.
    let created = w
        .cli
        .run(&[
            "tokens",
            "create",
            "--name",
            "ci",
            "--scope",
            "cluster:read",
            "--output",
            "json",
        ])
        .await;
    assert_ok(&created);
    let v: serde_json::Value = serde_json::from_str(&created.stdout).unwrap();
    let api_token = v["token"].as_str().unwrap().to_owned();
    assert_ok(
        &w.cli
            .run(&["login", "ci", &w.server.url, "--token", &api_token])
            .await,
    );
    assert_ok(&w.cli.run(&["profiles", "use", "default"]).await);

    // `.ward-profile` in a parent directory picks `ci` there.
    let project = w.cli.dir.path().join("project");
    let deep = project.join("src/module");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(
        project.join(".ward-profile"),
        "# this checkout's account\nci\n",
    )
    .unwrap();
    let in_dir = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = w.cli.command(args);
        cmd.current_dir(&deep);
        for (k, v) in env {
            cmd.env(k, v);
        }
        output(cmd)
    };
    let out = in_dir(&["env"], &[]).await;
    assert_ok(&out);
    assert!(
        out.stdout.contains(&format!("WARD_TOKEN={api_token}\n")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("WARD_TOKEN_EXPIRES_AT=\n"),
        "{}",
        out.stdout
    );
    let out = in_dir(&["status"], &[]).await;
    assert_ok(&out);
    assert!(
        out.stdout.contains(&format!(
            "Profile: ci (from {})",
            project.join(".ward-profile").display()
        )),
        "{}",
        out.stdout
    );
    // The helpers follow it too.
    let out = with_stdin(
        {
            let mut c = w.cli.command(&["credential", "git", "get"]);
            c.current_dir(&deep);
            c
        },
        &format!("protocol=http\nhost={}\n\n", host_of(&w.server.url)),
    )
    .await;
    assert_ok(&out);
    assert!(
        out.stdout.contains(&format!("password={api_token}\n")),
        "{}",
        out.stdout
    );
    // --profile and WARD_PROFILE still win.
    for (args, env) in [
        (&["env", "--profile", "default"][..], &[][..]),
        (&["env"][..], &[("WARD_PROFILE", "default")][..]),
    ] {
        let out = in_dir(args, env).await;
        assert_ok(&out);
        assert!(out.stdout.contains("WARD_TOKEN=ey"), "{}", out.stdout);
    }
    // Outside the project, the current profile.
    let out = w.cli.run(&["env"]).await;
    assert!(out.stdout.contains("WARD_TOKEN=ey"), "{}", out.stdout);
    // A file naming a profile that does not exist is a usage error naming the file.
    std::fs::write(deep.join(".ward-profile"), "nope\n").unwrap();
    let out = in_dir(&["env"], &[]).await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.starts_with(&format!(
            "Error: no profile named nope (named by {})\n",
            deep.join(".ward-profile").display()
        )),
        "{}",
        out.stderr
    );
}

/// Twenty tools at once on an access token due for refresh: ten `git fetch` (each asks
/// `ward credential git get`) and ten kubectl commands (each runs `ward credential kube`).
/// The cross-process lock lets exactly one refresh reach the server; all succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_parallel_git_and_kubectl_refresh_once() {
    let (Some(git), Some(kubectl)) = (tool("git"), tool("kubectl")) else {
        return;
    };
    let w = World::start().await;
    let home = w.cli.dir.path().to_owned();
    assert_ok(&w.cli.run(&["auth", "setup-git"]).await);
    w.write_kubeconfig("client.authentication.k8s.io/v1").await;
    let mut clones = Vec::new();
    for i in 0..10 {
        let name = format!("clone{i}");
        assert_ok(&output(w.command(&git, &["clone", "-q", &w.repo_url(), &name], &home)).await);
        clones.push(home.join(name));
    }
    let old_access = w.cli.credentials()["default"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    w.expire_access_token();
    let refreshes_before = w.server.logged_requests("POST", "/oauth/token", 200);

    let mut running = Vec::new();
    for dir in &clones {
        running.push(tokio::spawn(output(w.command(
            &git,
            &["fetch", "origin"],
            dir,
        ))));
    }
    for _ in 0..10 {
        running.push(tokio::spawn(output(w.command(
            &kubectl,
            &["get", "--raw", "/api"],
            &home,
        ))));
    }
    for r in running {
        assert_ok(&r.await.unwrap());
    }
    assert_eq!(
        w.server.logged_requests("POST", "/oauth/token", 200),
        refreshes_before + 1,
        "exactly one refresh reached the server:\n{}",
        w.server.log()
    );
    assert_eq!(w.server.logged_requests("POST", "/oauth/token", 400), 0);
    let new_access = w.cli.credentials()["default"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_access, old_access);
    // The session survived (no refresh-token reuse was detected).
    assert_ok(&w.cli.run(&["status"]).await);
}
