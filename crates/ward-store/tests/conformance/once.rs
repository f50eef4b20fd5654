//! "Exactly once" (ward-core's store traits): each single-use record raced by 24 concurrent
//! tasks is used by exactly one of them, on both backends.

use std::sync::Arc;

use futures::future::join_all;
use ward_core::model::{
    AuthCode, ChallengePurpose, DeviceGrant, DeviceGrantStatus, LockTicket, MfaChallenge,
    WebauthnCeremony,
};
use ward_core::registration::RegistrationToken;
use ward_core::store::{
    CodeRedemption, DpopStore, GrantStore, LockStore, MfaChallengeStore, RateLimitStore,
    RefreshRotation, RegistrationStore, SessionStore, TotpStore, UserStore, WebauthnStore,
};
use ward_core::UserId;
use ward_store::SqlStore;

use crate::conformance;
use crate::fixtures::{session, unique, user, NOW};

const RACERS: usize = 24;

/// Runs `f(i)` for `RACERS` tasks at once on the runtime's threads; returns every answer.
async fn race<T, F, Fut>(store: &SqlStore, f: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(Arc<SqlStore>, usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let shared = Arc::new(store.clone());
    let tasks = (0..RACERS).map(|i| tokio::spawn(f(shared.clone(), i)));
    join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect()
}

async fn a_user(store: &SqlStore) -> UserId {
    let u = user(&format!("{}@example.com", unique()));
    store.insert_user(&u).await.unwrap();
    u.id
}

async fn authorization_code_is_redeemed_once(store: &SqlStore) {
    let user_id = a_user(store).await;
    let code = AuthCode {
        code_hash: "code-hash".into(),
        client_id: "ward-cli".into(),
        user_id,
        redirect_uri: "http://127.0.0.1:9876/callback".into(),
        scope: "openid".into(),
        code_challenge: Some("challenge".into()),
        nonce: None,
        auth_time: NOW,
        amr: vec!["pwd".into()],
        device_id: None,
        device_name: None,
        created_at: NOW,
        expires_at: NOW.plus_secs(60),
        session_id: None,
        resource: None,
    };
    store.insert_auth_code(&code).await.unwrap();
    let answers = race(store, |s, _| async move {
        s.redeem_auth_code("code-hash", NOW.plus_secs(1))
            .await
            .unwrap()
    })
    .await;
    let redeemed = answers
        .iter()
        .filter(|a| matches!(a, CodeRedemption::Redeemed(_)))
        .count();
    let replays = answers
        .iter()
        .filter(|a| matches!(a, CodeRedemption::AlreadyUsed(_)))
        .count();
    assert_eq!((redeemed, replays), (1, RACERS - 1), "{answers:?}");
    // Expired codes are not redeemable, and an unknown one is unknown.
    assert_eq!(
        store.redeem_auth_code("no-such-code", NOW).await.unwrap(),
        CodeRedemption::Unknown
    );
}

async fn refresh_token_rotates_once_and_a_replay_revokes(store: &SqlStore) {
    let user_id = a_user(store).await;
    let s = session(&user_id);
    store.insert_session(&s, Some("rt-0"), None).await.unwrap();
    let answers = race(store, |st, i| async move {
        st.rotate_refresh_token("rt-0", &format!("rt-{}", i + 1), NOW.plus_secs(1))
            .await
            .unwrap()
    })
    .await;
    let rotated = answers
        .iter()
        .filter(|a| matches!(a, RefreshRotation::Rotated { .. }))
        .count();
    let reused = answers
        .iter()
        .filter(|a| matches!(a, RefreshRotation::Reused { .. }))
        .count();
    assert_eq!((rotated, reused), (1, RACERS - 1), "{answers:?}");
    // The replays revoked the session (RFC 9700 §4.14.2).
    let after = store.session_by_id(&s.id).await.unwrap().unwrap();
    assert!(after.revoked_at.is_some());
    assert_eq!(
        store
            .rotate_refresh_token("rt-unknown", "rt-x", NOW)
            .await
            .unwrap(),
        RefreshRotation::Unknown
    );
}

fn grant(user_code: &str) -> DeviceGrant {
    DeviceGrant {
        device_code_hash: format!("dc-{user_code}"),
        user_code: user_code.into(),
        client_id: "ward-cli".into(),
        scope: "openid".into(),
        device_id: None,
        device_name: None,
        created_at: NOW,
        expires_at: NOW.plus_secs(600),
        interval: 5,
        last_polled_at: None,
        status: DeviceGrantStatus::Pending,
        user_id: None,
        auth_time: None,
        amr: vec![],
        requested_ip: Some("127.0.0.1".into()),
    }
}

async fn device_grant_is_decided_once_and_consumed_once(store: &SqlStore) {
    let user_id = Arc::new(a_user(store).await);
    store.insert_device_grant(&grant("BCDFGHJK")).await.unwrap();
    let decided = race(store, |s, i| {
        let user_id = user_id.clone();
        async move {
            let amr = vec!["pwd".to_string()];
            // Half approve, half deny: only the first decision counts.
            let by = (i % 2 == 0).then_some((&*user_id, NOW, amr.as_slice()));
            s.decide_device_grant("BCDFGHJK", by, NOW.plus_secs(1))
                .await
                .unwrap()
        }
    })
    .await;
    assert_eq!(decided.iter().filter(|d| **d).count(), 1, "{decided:?}");

    store.insert_device_grant(&grant("LMNPQRST")).await.unwrap();
    let amr = vec!["pwd".to_string()];
    assert!(store
        .decide_device_grant("LMNPQRST", Some((&user_id, NOW, &amr)), NOW)
        .await
        .unwrap());
    let consumed = race(store, |s, _| async move {
        s.consume_device_grant("dc-LMNPQRST").await.unwrap()
    })
    .await;
    assert_eq!(consumed.iter().filter(|c| **c).count(), 1, "{consumed:?}");
    // An expired grant cannot be decided.
    let mut old = grant("VWXZBCDF");
    old.expires_at = NOW;
    store.insert_device_grant(&old).await.unwrap();
    assert!(!store
        .decide_device_grant("VWXZBCDF", None, NOW.plus_secs(1))
        .await
        .unwrap());
}

async fn backup_code_and_totp_step_are_accepted_once(store: &SqlStore) {
    let user_id = Arc::new(a_user(store).await);
    assert!(store
        .begin_totp_enrolment(&user_id, "sealed-secret", NOW)
        .await
        .unwrap());
    assert!(store
        .confirm_totp_enrolment(&user_id, 100, &["backup-1".into(), "backup-2".into()])
        .await
        .unwrap());
    let used = race(store, |s, _| {
        let user_id = user_id.clone();
        async move { s.use_backup_code(&user_id, "backup-1", NOW).await.unwrap() }
    })
    .await;
    assert_eq!(used.iter().filter(|u| **u).count(), 1, "{used:?}");
    assert_eq!(store.backup_codes_remaining(&user_id).await.unwrap(), 1);

    let accepted = race(store, |s, _| {
        let user_id = user_id.clone();
        async move { s.accept_totp_step(&user_id, 101).await.unwrap() }
    })
    .await;
    assert_eq!(accepted.iter().filter(|a| **a).count(), 1, "{accepted:?}");
    // Not newer than the last accepted step: refused (the enrolment's step 100 too).
    assert!(!store.accept_totp_step(&user_id, 101).await.unwrap());
    assert!(!store.accept_totp_step(&user_id, 100).await.unwrap());
    assert!(store.accept_totp_step(&user_id, 102).await.unwrap());
}

async fn challenge_ceremony_ticket_and_proof_are_used_once(store: &SqlStore) {
    let user_id = a_user(store).await;
    let s = session(&user_id);
    store
        .insert_session(&s, None, Some("cookie"))
        .await
        .unwrap();
    store
        .insert_mfa_challenge(&MfaChallenge {
            token_hash: "challenge".into(),
            user_id: user_id.clone(),
            purpose: ChallengePurpose::Verify,
            return_to: "/".into(),
            amr: vec!["pwd".into()],
            created_at: NOW,
            expires_at: NOW.plus_secs(300),
        })
        .await
        .unwrap();
    let taken = race(store, |st, _| async move {
        st.consume_mfa_challenge("challenge", NOW.plus_secs(1))
            .await
            .unwrap()
            .is_some()
    })
    .await;
    assert_eq!(
        taken.iter().filter(|t| **t).count(),
        1,
        "challenge {taken:?}"
    );

    store
        .insert_webauthn_ceremony(&WebauthnCeremony {
            id: "ceremony".into(),
            user_id: Some(user_id.clone()),
            kind: "mfa".into(),
            state: "{}".into(),
            created_at: NOW,
            expires_at: NOW.plus_secs(300),
        })
        .await
        .unwrap();
    let taken = race(store, |st, _| async move {
        st.take_webauthn_ceremony("ceremony", NOW.plus_secs(1))
            .await
            .unwrap()
            .is_some()
    })
    .await;
    assert_eq!(
        taken.iter().filter(|t| **t).count(),
        1,
        "ceremony {taken:?}"
    );

    store
        .insert_lock_ticket(&LockTicket {
            ticket_hash: "ticket".into(),
            session_id: s.id.to_string(),
            kind: "terminal".into(),
            resource_id: "t1".into(),
            created_at: NOW,
            expires_at: NOW.plus_secs(60),
        })
        .await
        .unwrap();
    // Another session, or another resource, cannot use it.
    assert!(!store
        .use_lock_ticket("ticket", "another-session", "terminal", "t1", NOW)
        .await
        .unwrap());
    assert!(!store
        .use_lock_ticket("ticket", s.id.as_str(), "terminal", "t2", NOW)
        .await
        .unwrap());
    let session_id = Arc::new(s.id.clone());
    let used = race(store, |st, _| {
        let session_id = session_id.clone();
        async move {
            st.use_lock_ticket(
                "ticket",
                session_id.as_str(),
                "terminal",
                "t1",
                NOW.plus_secs(1),
            )
            .await
            .unwrap()
        }
    })
    .await;
    assert_eq!(used.iter().filter(|u| **u).count(), 1, "ticket {used:?}");

    let recorded = race(store, |st, _| async move {
        st.record_dpop_jti("proof-id", NOW.plus_secs(120))
            .await
            .unwrap()
    })
    .await;
    assert_eq!(
        recorded.iter().filter(|r| **r).count(),
        1,
        "jti {recorded:?}"
    );
}

/// Concurrent increments of one rate-limit window lose none.
async fn rate_limit_hits_are_not_lost(store: &SqlStore) {
    race(store, |s, _| async move {
        s.add_rate_limit_hits("signin:ada", 1000, 1).await.unwrap()
    })
    .await;
    assert_eq!(
        store.rate_limit_hits("signin:ada", 1000).await.unwrap(),
        RACERS as i64
    );
    assert_eq!(store.rate_limit_hits("signin:ada", 2000).await.unwrap(), 0);
}

/// RFC 7591 initial access tokens: a single-use one registers exactly one client; a reusable
/// one serves every racer until it expires.
async fn registration_token_is_spent_once(store: &SqlStore) {
    for (id, single_use) in [("iat-once", true), ("iat-many", false)] {
        store
            .insert_registration_token(&RegistrationToken {
                id: id.into(),
                token_hash: format!("{id}-hash"),
                created_at: NOW,
                expires_at: NOW.plus_secs(60),
                created_by: None,
                single_use,
            })
            .await
            .unwrap();
        let answers = race(store, move |s, _| async move {
            s.use_registration_token(&format!("{id}-hash"), NOW.plus_secs(1))
                .await
                .unwrap()
        })
        .await;
        let used = answers.iter().filter(|a| a.as_deref() == Some(id)).count();
        assert_eq!(used, if single_use { 1 } else { RACERS }, "{id}");
    }
    let expired = store
        .use_registration_token("iat-many-hash", NOW.plus_secs(60))
        .await
        .unwrap();
    assert_eq!(expired, None);
}

conformance!(
    registration_token_is_spent_once,
    authorization_code_is_redeemed_once,
    refresh_token_rotates_once_and_a_replay_revokes,
    device_grant_is_decided_once_and_consumed_once,
    backup_code_and_totp_step_are_accepted_once,
    challenge_ceremony_ticket_and_proof_are_used_once,
    rate_limit_hits_are_not_lost,
);
