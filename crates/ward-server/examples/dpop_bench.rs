//! DPoP benchmark (not a test): `GET /api/auth/validate` with a bearer access token against the
//! same with a DPoP-bound token and a proof per request (SPEC §2.16), ES256 and EdDSA proofs,
//! and the proxy likewise.
//! wrk's Lua cannot sign, so this is its own small load generator: `CONNECTIONS` keep-alive
//! workers on one reqwest client, for `SECONDS` each scenario, all proofs made before the clock
//! starts (every request still needs a fresh `jti`, so the server's replay insert is measured).
//!
//! ```text
//! cargo run --release -p ward-server --example dpop_bench -- [SECONDS] [CONNECTIONS]
//! ```
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::field_reassign_with_default
)]

/// The allocator the `ward` binary uses, so DPoP is measured as it runs in production (with the
/// system allocator, `malloc`/`free` were 15 % of this bench's samples).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ward_client::dpop::DpopKey;
use ward_core::clock::SystemClock;
use ward_core::model::Channel;
use ward_core::random::OsRandom;
use ward_core::Clock;
use ward_server::config::RawConfig;
use ward_server::issue::{start_token_session, Binding, SessionRequest};
use ward_server::proxy::config::RawRoute;

/// The headers of one request.
type Headers = Vec<(&'static str, String)>;

async fn load(
    http: &reqwest::Client,
    url: &str,
    headers: Arc<Mutex<Vec<Headers>>>,
    reusable: Option<Headers>,
    secs: u64,
    conns: usize,
) -> f64 {
    let done = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    let workers: Vec<_> = (0..conns)
        .map(|_| {
            let (http, url, done) = (http.clone(), url.to_string(), done.clone());
            let (headers, reusable) = (headers.clone(), reusable.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let h = match &reusable {
                        Some(h) => h.clone(),
                        None => match headers.lock().unwrap().pop() {
                            Some(h) => h,
                            None => break,
                        },
                    };
                    let mut r = http.get(&url);
                    for (k, v) in h {
                        r = r.header(k, v);
                    }
                    let resp = r.send().await.unwrap();
                    assert!(resp.status().is_success(), "{}", resp.status());
                    let _ = resp.bytes().await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers"))
        .collect();
    let secs = args.first().copied().unwrap_or(5);
    let conns = usize::try_from(args.get(1).copied().unwrap_or(32)).unwrap();

    let backend_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let backend = backend_rt
        .block_on(ward_example_backend::spawn(
            "127.0.0.1:0",
            ward_example_backend::Counters::default(),
        ))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut raw = RawConfig::default();
        raw.listen = "127.0.0.1:0".into();
        raw.data_dir = dir.path().display().to_string();
        raw.bootstrap_admin_email = Some("bench@example.com".into());
        raw.bootstrap_admin_password = Some("bench password 0123456789".into());
        raw.routes = vec![RawRoute {
            prefix: "/api/containers".into(),
            upstream: format!("http://{backend}"),
            permissions: Default::default(),
            permission: Some("containers:read".into()),
            websocket: false,
            tcp: None,
            lock_kind: None,
            timeout: None,
            ca_file: None,
            cert_file: None,
            key_file: None,
        }];
        let prepared = ward_server::prepare(
            raw.validate().unwrap(),
            Arc::new(SystemClock),
            Arc::new(OsRandom),
        )
        .await
        .unwrap();
        let state = prepared.state.clone();
        let base = state.issuer.clone();
        tokio::spawn(prepared.serve(std::future::pending()));
        let user = state
            .store
            .user_by_email("bench@example.com")
            .await
            .unwrap()
            .unwrap();
        let key = DpopKey::generate();
        let session = |binding: Option<Binding>| {
            let (state, user) = (state.clone(), user.clone());
            async move {
                let request = SessionRequest {
                    client_id: "ward-cli".into(),
                    channel: Channel::Cli,
                    scope: "openid".into(),
                    device_id: None,
                    device_name: Some("bench".into()),
                    ip: None,
                    user_agent: None,
                    amr: vec!["pwd".into()],
                    auth_time: SystemClock.now(),
                    nonce: None,
                };
                start_token_session(&state, &user, &request, false, binding.as_ref(), None)
                    .await
                    .unwrap()
                    .response
                    .access_token
            }
        };
        let bearer = session(None).await;
        let bound = session(Some(Binding {
            jkt: key.thumbprint().to_string(),
            refresh: true,
        }))
        .await;
        // The same with an Ed25519 key (EdDSA proofs, decision 181).
        let ed_key = DpopKey::generate_ed25519();
        let ed_bound = session(Some(Binding {
            jkt: ed_key.thumbprint().to_string(),
            refresh: true,
        }))
        .await;
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(conns)
            .build()
            .unwrap();
        println!("| scenario | bearer req/s | DPoP ES256 req/s | ES256 / bearer | DPoP EdDSA req/s | EdDSA / bearer |");
        println!("|---|---|---|---|---|---|");
        for (name, path) in [
            ("validate", "/api/auth/validate"),
            ("proxy", "/api/containers/c1"),
        ] {
            let url = format!("{base}{path}");
            let target = reqwest::Url::parse(&url).unwrap();
            // Enough proofs for a generous rate; made before the clock starts.
            let count = usize::try_from(secs).unwrap() * 20_000;
            let now = u64::try_from(SystemClock.now().0).unwrap();
            let pool = |key: &DpopKey, token: &str| -> Arc<Mutex<Vec<Headers>>> {
                let proofs = (0..count)
                    .map(|_| {
                        vec![
                            ("authorization", format!("DPoP {token}")),
                            (
                                "dpop",
                                key.proof("GET", &target, Some(token), None, now).unwrap(),
                            ),
                        ]
                    })
                    .collect();
                Arc::new(Mutex::new(proofs))
            };
            let (es_proofs, ed_proofs) = (pool(&key, &bound), pool(&ed_key, &ed_bound));
            let plain = vec![("authorization", format!("Bearer {bearer}"))];
            let none = Arc::new(Mutex::new(Vec::new()));
            // Warm-up, then the three runs.
            load(&http, &url, none.clone(), Some(plain.clone()), 1, conns).await;
            let b = load(&http, &url, none, Some(plain), secs, conns).await;
            let d = load(&http, &url, es_proofs, None, secs, conns).await;
            let e = load(&http, &url, ed_proofs, None, secs, conns).await;
            println!(
                "| {name} | {b:.0} | {d:.0} | {:.0} % | {e:.0} | {:.0} % |",
                100.0 * d / b,
                100.0 * e / b
            );
        }
    });
}
