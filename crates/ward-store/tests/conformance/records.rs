//! Records and their rules: unique emails, disabling that revokes in one step, the audit log's
//! keyset pages, and the sweeper's deletes.

use ward_core::model::{ApiToken, AuditEvent, AuditQuery};
use ward_core::store::{ApiTokenStore, AuditStore, SessionStore, UserStore};
use ward_core::StoreError;
use ward_store::SqlStore;

use crate::conformance;
use crate::fixtures::{session, unique, user, NOW};

async fn emails_are_unique_and_users_are_found(store: &SqlStore) {
    let ada = user("ada@example.com");
    store.insert_user(&ada).await.unwrap();
    let twin = user("ada@example.com");
    assert!(matches!(
        store.insert_user(&twin).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.user_by_email("ada@example.com").await.unwrap(),
        Some(ada.clone())
    );
    assert_eq!(store.user_by_id(&ada.id).await.unwrap(), Some(ada.clone()));
    assert_eq!(store.user_by_id(&"nobody".into()).await.unwrap(), None);
    assert!(store.set_user_role(&ada.id, "admin").await.unwrap());
    assert!(!store
        .set_user_role(&"nobody".into(), "admin")
        .await
        .unwrap());
    assert_eq!(
        store.user_by_id(&ada.id).await.unwrap().unwrap().role,
        "admin"
    );
    assert_eq!(
        store.user_emails_at_domain("example.com").await.unwrap(),
        vec!["ada@example.com".to_string()]
    );
}

async fn disabling_revokes_sessions_and_tokens_at_once(store: &SqlStore) {
    let ada = user("ada@example.com");
    store.insert_user(&ada).await.unwrap();
    let s = session(&ada.id);
    store.insert_session(&s, Some("rt"), None).await.unwrap();
    let token = ApiToken {
        id: format!("t{}", unique()),
        user_id: ada.id.to_string(),
        name: "ci".into(),
        token_hash: "token-hash".into(),
        scopes: vec!["containers:read".into()],
        created_at: NOW,
        expires_at: None,
        last_used_at: None,
        revoked_at: None,
    };
    store.insert_api_token(&token).await.unwrap();

    assert!(store
        .set_user_disabled(&ada.id, true, NOW.plus_secs(5))
        .await
        .unwrap());
    assert!(store.user_by_id(&ada.id).await.unwrap().unwrap().disabled);
    let s = store.session_by_id(&s.id).await.unwrap().unwrap();
    assert_eq!(s.revoked_at, Some(NOW.plus_secs(5)));
    let t = store
        .api_token_by_hash("token-hash")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        t.unusable_reason(NOW.plus_secs(6)),
        Some("API token revoked")
    );
    assert!(!store
        .set_user_disabled(&"nobody".into(), true, NOW)
        .await
        .unwrap());
}

fn event(i: i64, at: i64) -> AuditEvent {
    AuditEvent {
        id: format!("e{i}-{}", unique()),
        at: ward_core::clock::Timestamp(at),
        event_type: if i % 2 == 0 {
            "signin"
        } else {
            "token.created"
        }
        .into(),
        outcome: "ok".into(),
        actor_user_id: Some("u1".into()),
        actor_ip: None,
        target: Some(format!("target-{i}")),
        detail: "{}".into(),
    }
}

/// Keyset pages (`before` = the last event's cursor) walk the whole log newest first, without
/// a repeat or a gap, also through events written within the same second.
async fn audit_pages_walk_the_log_without_gaps(store: &SqlStore) {
    for i in 0..7 {
        // Three events share one second.
        store
            .insert_audit_event(&event(i, NOW.0 + i.min(3)))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .audit_events(&AuditQuery {
                before,
                limit: 2,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 2);
        before = Some(page.last().unwrap().1);
        seen.extend(page.into_iter().map(|(e, _)| e.target.unwrap()));
    }
    let expected: Vec<String> = (0..7).rev().map(|i| format!("target-{i}")).collect();
    assert_eq!(seen, expected);
    let signins = store
        .audit_events(&AuditQuery {
            event_type: Some("signin".into()),
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(signins.len(), 4);
}

async fn the_sweeper_deletes_only_dead_sessions(store: &SqlStore) {
    let ada = user("ada@example.com");
    store.insert_user(&ada).await.unwrap();
    let live = session(&ada.id);
    let mut expired = session(&ada.id);
    expired.expires_at = NOW.plus_secs(10);
    let revoked = session(&ada.id);
    for s in [&live, &expired, &revoked] {
        store.insert_session(s, None, None).await.unwrap();
    }
    assert!(store.revoke_session(&revoked.id, NOW).await.unwrap());
    assert!(!store.revoke_session(&revoked.id, NOW).await.unwrap());

    let cutoff = NOW.plus_secs(20);
    let listed = store
        .live_sessions(Some(&ada.id), cutoff, 10)
        .await
        .unwrap();
    assert_eq!(
        listed.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        vec![live.id.as_str()]
    );
    assert_eq!(store.delete_dead_sessions(cutoff, cutoff).await.unwrap(), 2);
    assert!(store.session_by_id(&live.id).await.unwrap().is_some());
    assert!(store.session_by_id(&expired.id).await.unwrap().is_none());
    assert!(store.session_by_id(&revoked.id).await.unwrap().is_none());
}

conformance!(
    emails_are_unique_and_users_are_found,
    disabling_revokes_sessions_and_tokens_at_once,
    audit_pages_walk_the_log_without_gaps,
    the_sweeper_deletes_only_dead_sessions,
);
