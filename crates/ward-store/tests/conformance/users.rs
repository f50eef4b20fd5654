//! Reads over many users that must stay bounded at a million of them (issue 25): the accounts at
//! one email domain come from an index, and the users page's count stops at its cap.

use sqlx::Row;
use ward_core::store::UserStore;
use ward_store::{SqlStore, EMAIL_DOMAIN};

use crate::conformance;
use crate::fixtures::user;

async fn emails_at_a_domain_are_exactly_that_domains(store: &SqlStore) {
    for email in [
        "ada@example.com",
        "bob@example.com",
        "eve@sub.example.com",
        "mal@xexample.com",
        "u@ex_ample.com",
        "w@exxample.com",
        "example.com@elsewhere.test",
    ] {
        store.insert_user(&user(email)).await.unwrap();
    }
    let at = |domain: &'static str| async move {
        let mut found = store.user_emails_at_domain(domain).await.unwrap();
        found.sort();
        found
    };
    assert_eq!(
        at("example.com").await,
        ["ada@example.com", "bob@example.com"]
    );
    // `_` is an ordinary character here, not LIKE's wildcard.
    assert_eq!(at("ex_ample.com").await, ["u@ex_ample.com"]);
    assert_eq!(at("sub.example.com").await, ["eve@sub.example.com"]);
    assert!(at("nowhere.test").await.is_empty());
    assert!(at("").await.is_empty());
}

/// The lookup's predicate is served by the users_email_domain index (migration 0022) on both
/// backends, not by a scan of every user.
async fn the_domain_lookup_uses_its_index(store: &SqlStore) {
    let sql = format!("SELECT email FROM users WHERE {EMAIL_DOMAIN} = 'example.com'");
    let mut tx = store.pool().begin().await.unwrap();
    let plan: Vec<String> = if store.is_sqlite() {
        let rows = sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}"))
            .fetch_all(&mut *tx)
            .await
            .unwrap();
        rows.iter().map(|r| r.get::<String, _>("detail")).collect()
    } else {
        // An empty table is cheaper to scan: make the planner show what it can use.
        sqlx::query("SET LOCAL enable_seqscan = off")
            .execute(&mut *tx)
            .await
            .unwrap();
        let rows = sqlx::query(&format!("EXPLAIN {sql}"))
            .fetch_all(&mut *tx)
            .await
            .unwrap();
        rows.iter().map(|r| r.get::<String, _>(0)).collect()
    };
    assert!(
        plan.iter().any(|line| line.contains("users_email_domain")),
        "{plan:#?}"
    );
}

async fn the_user_count_stops_at_its_cap(store: &SqlStore) {
    assert_eq!(store.count_users_up_to(5).await.unwrap(), 0);
    for i in 0..3 {
        store
            .insert_user(&user(&format!("u{i}@count.test")))
            .await
            .unwrap();
    }
    assert_eq!(store.count_users_up_to(0).await.unwrap(), 0);
    assert_eq!(store.count_users_up_to(2).await.unwrap(), 2);
    assert_eq!(store.count_users_up_to(3).await.unwrap(), 3);
    assert_eq!(store.count_users_up_to(4).await.unwrap(), 3);
    assert_eq!(store.count_users().await.unwrap(), 3);
}

conformance!(
    emails_at_a_domain_are_exactly_that_domains,
    the_domain_lookup_uses_its_index,
    the_user_count_stops_at_its_cap,
);
