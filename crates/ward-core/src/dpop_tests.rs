//! Each refusal of [`verify_proof`], one at a time, from an otherwise valid proof.

use super::*;
use jsonwebtoken::{EncodingKey, Header};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::EncodePrivateKey;

const NOW: Timestamp = Timestamp(1_800_000_000);
const ORIGIN: &str = "https://ward.example";

struct Key {
    encoding: EncodingKey,
    jwk: serde_json::Value,
}

fn key(seed: u8) -> Key {
    let secret = p256::SecretKey::from_slice(&[seed; 32]).unwrap();
    let der = secret.to_pkcs8_der().unwrap();
    let point = secret.public_key().to_encoded_point(false);
    let jwk = serde_json::json!({
        "kty": "EC", "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()),
        "y": URL_SAFE_NO_PAD.encode(point.y().unwrap()),
    });
    Key {
        encoding: EncodingKey::from_ec_der(der.as_bytes()),
        jwk,
    }
}

fn proof_with(key: &Key, edit_header: impl Fn(&mut Header), claims: serde_json::Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some(PROOF_TYP.into());
    header.jwk = Some(serde_json::from_value(key.jwk.clone()).unwrap());
    edit_header(&mut header);
    jsonwebtoken::encode(&header, &claims, &key.encoding).unwrap()
}

fn claims() -> serde_json::Value {
    serde_json::json!({
        "jti": "j1", "htm": "GET", "htu": "https://ward.example/api/profile",
        "iat": NOW.0, "ath": access_token_hash("tok"),
    })
}

fn with(field: &str, value: serde_json::Value) -> serde_json::Value {
    let mut c = claims();
    c[field] = value;
    c
}

fn verify(proof: &str) -> Result<VerifiedProof, DpopError> {
    let origins = [ORIGIN.to_string()];
    let expected = ExpectedRequest {
        method: "GET",
        origins: &origins,
        path: "/api/profile",
    };
    verify_proof(proof, &expected, NOW, Some("tok"), None)
}

#[test]
fn a_valid_proof_gives_the_rfc_7638_thumbprint() {
    let k = key(7);
    let verified = verify(&proof_with(&k, |_| {}, claims())).unwrap();
    let expected = URL_SAFE_NO_PAD.encode(Sha256::digest(
        format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            k.jwk["x"].as_str().unwrap(),
            k.jwk["y"].as_str().unwrap()
        )
        .as_bytes(),
    ));
    assert_eq!(verified.jkt, expected);
    assert_eq!(verified.jti, "j1");
}

#[test]
fn rfc_7638_example_thumbprint() {
    // RFC 7638 §3.1 uses an RSA key; RFC 9449 §6.1's EC example gives this jkt.
    let jwk: Jwk = serde_json::from_value(serde_json::json!({
        "kty": "EC", "crv": "P-256",
        "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
        "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
    }))
    .unwrap();
    assert_eq!(
        thumbprint(&jwk).unwrap(),
        "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
    );
}

#[test]
fn query_fragment_and_unnormalised_path_still_match() {
    let k = key(7);
    let htu = "https://WARD.example/api/./x/../%70rofile?q=1#f";
    assert!(verify(&proof_with(&k, |_| {}, with("htu", htu.into()))).is_ok());
}

#[test]
fn refusals_each_name_their_check() {
    let k = key(7);
    let cases: Vec<(String, DpopError)> = vec![
        (
            proof_with(&k, |h| h.typ = Some("JWT".into()), claims()),
            DpopError::Type,
        ),
        (
            proof_with(&k, |h| h.jwk = None, claims()),
            DpopError::Key("missing"),
        ),
        (
            proof_with(&k, |_| {}, with("htm", "POST".into())),
            DpopError::Method,
        ),
        (
            proof_with(
                &k,
                |_| {},
                with("htu", "https://evil.example/api/profile".into()),
            ),
            DpopError::Url,
        ),
        (
            proof_with(
                &k,
                |_| {},
                with("htu", "https://ward.example/api/tokens".into()),
            ),
            DpopError::Url,
        ),
        (
            proof_with(&k, |_| {}, with("iat", (NOW.0 - 61).into())),
            DpopError::IssuedAt,
        ),
        (
            proof_with(&k, |_| {}, with("iat", (NOW.0 + 61).into())),
            DpopError::IssuedAt,
        ),
        (
            proof_with(&k, |_| {}, with("ath", access_token_hash("other").into())),
            DpopError::AccessTokenHash,
        ),
        (
            proof_with(&k, |_| {}, with("ath", serde_json::Value::Null)),
            DpopError::MissingAccessTokenHash,
        ),
        (
            proof_with(&k, |_| {}, serde_json::json!({"htm": "GET"})),
            DpopError::Malformed("claims (jti, htm, htu and iat are required)"),
        ),
    ];
    for (proof, want) in cases {
        assert_eq!(verify(&proof), Err(want.clone()), "expected {want}");
    }
}

#[test]
fn a_signature_by_another_key_is_refused() {
    let signer = key(7);
    let other = key(9);
    let proof = proof_with(
        &signer,
        |h| h.jwk = Some(serde_json::from_value(other.jwk.clone()).unwrap()),
        claims(),
    );
    assert_eq!(verify(&proof), Err(DpopError::Signature));
}

#[test]
fn a_private_key_in_the_header_is_refused() {
    let k = key(7);
    let mut parts: Vec<String> = proof_with(&k, |_| {}, claims())
        .split('.')
        .map(str::to_owned)
        .collect();
    let mut header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[0]).unwrap()).unwrap();
    header["jwk"]["d"] = URL_SAFE_NO_PAD.encode([7u8; 32]).into();
    parts[0] = URL_SAFE_NO_PAD.encode(header.to_string());
    assert_eq!(
        verify(&parts.join(".")),
        Err(DpopError::Key("it holds a private key"))
    );
}

#[test]
fn symmetric_and_unsupported_algorithms_are_refused() {
    let k = key(7);
    let hs = jsonwebtoken::encode(
        &Header {
            typ: Some(PROOF_TYP.into()),
            jwk: Some(serde_json::from_value(k.jwk.clone()).unwrap()),
            ..Header::new(Algorithm::HS256)
        },
        &claims(),
        &EncodingKey::from_secret(b"s"),
    )
    .unwrap();
    assert_eq!(verify(&hs), Err(DpopError::Algorithm));
}

#[test]
fn nonce_required_missing_wrong_and_right() {
    let k = key(7);
    let nonces = NonceKey::new(b"secret");
    let origins = [ORIGIN.to_string()];
    let expected = ExpectedRequest {
        method: "GET",
        origins: &origins,
        path: "/api/profile",
    };
    let accept = |n: &str| nonces.accepts(n, NOW);
    let check = |c| {
        verify_proof(
            &proof_with(&k, |_| {}, c),
            &expected,
            NOW,
            None,
            Some(&accept),
        )
    };
    assert_eq!(check(claims()), Err(DpopError::UseNonce));
    assert_eq!(
        check(with("nonce", "made-up".into())),
        Err(DpopError::UseNonce)
    );
    assert!(check(with("nonce", nonces.current(NOW).into())).is_ok());
    assert_eq!(DpopError::UseNonce.code(), "use_dpop_nonce");
    assert_eq!(DpopError::Replayed.code(), "invalid_dpop_proof");
}

#[test]
fn nonces_live_two_windows_and_differ_by_secret() {
    let a = NonceKey::new(b"a");
    let n = a.current(NOW);
    assert!(a.accepts(&n, NOW.plus_secs(NONCE_WINDOW_SECS)));
    assert!(!a.accepts(&n, NOW.plus_secs(2 * NONCE_WINDOW_SECS)));
    assert!(!NonceKey::new(b"b").accepts(&n, NOW));
}

#[test]
fn binding_needs_the_same_key() {
    let k = key(7);
    let proof = verify(&proof_with(&k, |_| {}, claims())).unwrap();
    assert!(check_binding(&proof.jkt, &proof).is_ok());
    assert_eq!(
        check_binding("another-thumbprint", &proof),
        Err(DpopError::KeyMismatch)
    );
}

#[test]
fn a_remembered_header_still_needs_a_valid_signature() {
    let cache = HeaderCache::default();
    let origins = [ORIGIN.to_string()];
    let expected = ExpectedRequest {
        method: "GET",
        origins: &origins,
        path: "/api/profile",
    };
    let check = |proof: &str| cache.verify(proof, &expected, NOW, Some("tok"), None);
    let k = key(7);
    let first = check(&proof_with(&k, |_| {}, claims())).unwrap();
    let again = check(&proof_with(&k, |_| {}, with("jti", "j2".into()))).unwrap();
    assert_eq!(
        (first.jkt.as_str(), again.jti.as_str()),
        (again.jkt.as_str(), "j2")
    );
    // The same header text, signed by another key: the remembered header does not vouch for it.
    let forged = proof_with(
        &key(9),
        |h| h.jwk = Some(serde_json::from_value(k.jwk.clone()).unwrap()),
        claims(),
    );
    assert_eq!(forged.split('.').next(), first_header(&k).as_deref());
    assert_eq!(check(&forged), Err(DpopError::Signature));
    // Every claim is still checked for a remembered header.
    assert_eq!(
        check(&proof_with(&k, |_| {}, with("htm", "POST".into()))),
        Err(DpopError::Method)
    );
}

fn first_header(k: &Key) -> Option<String> {
    proof_with(k, |_| {}, claims())
        .split('.')
        .next()
        .map(str::to_owned)
}

/// An Ed25519 key (decision 180) from a fixed seed, and its proofs.
fn ed_key(seed: u8) -> Key {
    use ed25519_dalek::pkcs8::EncodePrivateKey as _;
    let signing = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
    let der = signing.to_pkcs8_der().unwrap();
    Key {
        encoding: EncodingKey::from_ed_der(der.as_bytes()),
        jwk: serde_json::json!({
            "kty": "OKP", "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes()),
        }),
    }
}

fn ed_proof(key: &Key, claims: serde_json::Value) -> String {
    proof_with(key, |h| h.alg = Algorithm::EdDSA, claims)
}

#[test]
fn an_eddsa_proof_is_verified_and_gives_the_okp_thumbprint() {
    let k = ed_key(3);
    let verified = verify(&ed_proof(&k, claims())).unwrap();
    let expected = URL_SAFE_NO_PAD.encode(Sha256::digest(
        format!(
            r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
            k.jwk["x"].as_str().unwrap()
        )
        .as_bytes(),
    ));
    assert_eq!(verified.jkt, expected);
    // Each claim is still checked.
    assert_eq!(
        verify(&ed_proof(&k, with("htm", "POST".into()))),
        Err(DpopError::Method)
    );
    assert_eq!(
        verify(&ed_proof(&k, with("ath", "x".into()))),
        Err(DpopError::AccessTokenHash)
    );
}

#[test]
fn eddsa_signatures_by_another_key_tampered_or_cut_are_refused() {
    let k = ed_key(3);
    // Another key's signature under this key's header.
    let forged = proof_with(
        &ed_key(4),
        |h| {
            h.alg = Algorithm::EdDSA;
            h.jwk = Some(serde_json::from_value(k.jwk.clone()).unwrap());
        },
        claims(),
    );
    assert_eq!(verify(&forged), Err(DpopError::Signature));
    let good = ed_proof(&k, claims());
    let (input, sig) = good.rsplit_once('.').unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(sig).unwrap();
    bytes[0] ^= 1;
    let tampered = format!("{input}.{}", URL_SAFE_NO_PAD.encode(&bytes));
    assert_eq!(verify(&tampered), Err(DpopError::Signature));
    let cut = format!("{input}.{}", URL_SAFE_NO_PAD.encode(&bytes[..63]));
    assert_eq!(verify(&cut), Err(DpopError::Signature));
    assert_eq!(verify(&format!("{input}.!!")), Err(DpopError::Signature));
    // A P-256 key under alg EdDSA, and a short or small-order Ed25519 key.
    let p = key(7);
    let mixed = proof_with(
        &k,
        |h| {
            h.alg = Algorithm::EdDSA;
            h.jwk = Some(serde_json::from_value(p.jwk.clone()).unwrap());
        },
        claims(),
    );
    assert!(matches!(verify(&mixed), Err(DpopError::Key(_))));
    for x in [
        URL_SAFE_NO_PAD.encode([1u8; 31]),
        // The identity point: small order, any signature would do for it.
        URL_SAFE_NO_PAD.encode({
            let mut id = [0u8; 32];
            id[0] = 1;
            id
        }),
    ] {
        let weak = proof_with(
            &k,
            |h| {
                h.alg = Algorithm::EdDSA;
                h.jwk = Some(
                    serde_json::from_value(
                        serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": x}),
                    )
                    .unwrap(),
                );
            },
            claims(),
        );
        assert!(matches!(verify(&weak), Err(DpopError::Key(_))), "{x}");
    }
}

#[test]
fn a_remembered_eddsa_header_still_needs_a_valid_signature_and_claims() {
    let cache = HeaderCache::default();
    let origins = [ORIGIN.to_string()];
    let expected = ExpectedRequest {
        method: "GET",
        origins: &origins,
        path: "/api/profile",
    };
    let check = |proof: &str| cache.verify(proof, &expected, NOW, Some("tok"), None);
    let k = ed_key(3);
    let first = check(&ed_proof(&k, claims())).unwrap();
    let again = check(&ed_proof(&k, with("jti", "j2".into()))).unwrap();
    assert_eq!((first.jkt, again.jti.as_str()), (again.jkt.clone(), "j2"));
    let forged = proof_with(
        &ed_key(4),
        |h| {
            h.alg = Algorithm::EdDSA;
            h.jwk = Some(serde_json::from_value(k.jwk.clone()).unwrap());
        },
        claims(),
    );
    assert_eq!(check(&forged), Err(DpopError::Signature));
    assert_eq!(
        check(&ed_proof(&k, with("iat", (NOW.0 - 61).into()))),
        Err(DpopError::IssuedAt)
    );
}
