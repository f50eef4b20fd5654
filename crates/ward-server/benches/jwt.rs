//! Micro-benchmarks of ES256 access tokens: signing (every token response) and verification
//! (every bearer request and introspection).

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use ward_core::clock::Timestamp;
use ward_core::random::OsRandom;
use ward_server::jwt::{self, AccessClaims};
use ward_server::keys::KeyRing;

#[allow(clippy::expect_used)]
fn bench(c: &mut Criterion) {
    let now = Timestamp(1_800_000_000);
    let keys = KeyRing::ephemeral(&OsRandom, now).expect("a key");
    let issuer = "https://id.example.com";
    let claims = AccessClaims {
        iss: issuer.into(),
        sub: "0123456789abcdef0123456789abcdef".into(),
        aud: issuer.into(),
        exp: now.0 + 3600,
        iat: now.0,
        jti: "fedcba9876543210fedcba9876543210".into(),
        client_id: "ward-cli".into(),
        sid: Some("00112233445566778899aabbccddeeff".into()),
        scope: "openid containers:read containers:write".into(),
        roles: vec!["user".into()],
        email: Some("ada@example.com".into()),
        amr: vec!["pwd".into()],
        cnf: None,
        act: None,
    };
    let token = jwt::sign_access_token(&keys, &claims).expect("signed");
    c.bench_function("jwt::sign_access_token (ES256)", |b| {
        b.iter(|| jwt::sign_access_token(&keys, black_box(&claims)))
    });
    c.bench_function("jwt::verify_access_token (remembered)", |b| {
        b.iter(|| jwt::verify_access_token(&keys, black_box(&token), issuer, now))
    });
    // Twice as many distinct tokens as the ring remembers: every verification is a first one.
    let fresh: Vec<String> = (0..20_000)
        .map(|i| {
            let claims = AccessClaims {
                jti: format!("{i:032x}"),
                ..claims.clone()
            };
            jwt::sign_access_token(&keys, &claims).expect("signed")
        })
        .collect();
    let mut i = 0;
    c.bench_function("jwt::verify_access_token (ES256, first time)", |b| {
        b.iter(|| {
            i = (i + 1) % fresh.len();
            jwt::verify_access_token(&keys, black_box(&fresh[i]), issuer, now)
        })
    });
}

/// One DPoP proof verified through the per-process header cache (a remembered header, as on
/// the hot path: signature and claims, no header parsing), ES256 against EdDSA (decision 180).
#[allow(clippy::expect_used)]
fn dpop(c: &mut Criterion) {
    use ward_client::dpop::DpopKey;
    use ward_core::dpop::{ExpectedRequest, HeaderCache};
    let now = Timestamp(1_800_000_000);
    let url = url::Url::parse("https://id.example.com/api/profile").expect("url");
    let origins = ["https://id.example.com".to_string()];
    let expected = ExpectedRequest {
        method: "GET",
        origins: &origins,
        path: "/api/profile",
    };
    for key in [DpopKey::generate(), DpopKey::generate_ed25519()] {
        let cache = HeaderCache::default();
        let when = u64::try_from(now.0).expect("positive");
        let proof = key
            .proof("GET", &url, Some("token"), None, when)
            .expect("proof");
        cache
            .verify(&proof, &expected, now, Some("token"), None)
            .expect("valid");
        c.bench_function(&format!("dpop proof verify ({})", key.alg()), |b| {
            b.iter(|| cache.verify(black_box(&proof), &expected, now, Some("token"), None))
        });
    }
}

criterion_group!(benches, bench, dpop);
criterion_main!(benches);
