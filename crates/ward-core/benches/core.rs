//! Micro-benchmarks of ward-core's per-request work: token shape and checksum checks, the
//! SHA-256 that every token lookup starts with, and PKCE verification. TOTP is not benchmarked
//! yet: ward-core has no TOTP module.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use ward_core::pkce;
use ward_core::random::OsRandom;
use ward_core::token;

fn tokens(c: &mut Criterion) {
    let api = token::new_api_token("ward", &OsRandom);
    let refresh = token::new_refresh_token("ward", &OsRandom);
    let mut bad = api.clone();
    bad.pop();
    bad.push(if api.ends_with('A') { 'B' } else { 'A' });
    c.bench_function("api_token_checksum_ok (valid)", |b| {
        b.iter(|| token::api_token_checksum_ok(black_box(&api), "ward"))
    });
    c.bench_function("api_token_checksum_ok (bad checksum)", |b| {
        b.iter(|| token::api_token_checksum_ok(black_box(&bad), "ward"))
    });
    c.bench_function("is_refresh_token_shape", |b| {
        b.iter(|| token::is_refresh_token_shape(black_box(&refresh), "ward"))
    });
    c.bench_function("token_hash (SHA-256 hex)", |b| {
        b.iter(|| token::token_hash(black_box(&api)))
    });
    c.bench_function("new_api_token", |b| {
        b.iter(|| token::new_api_token("ward", &OsRandom))
    });
}

fn pkce_verify(c: &mut Criterion) {
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = pkce::s256_challenge(verifier);
    c.bench_function("pkce::verify_s256", |b| {
        b.iter(|| pkce::verify_s256(black_box(verifier), black_box(&challenge)))
    });
}

criterion_group!(benches, tokens, pkce_verify);
criterion_main!(benches);
