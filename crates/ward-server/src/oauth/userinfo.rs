//! The OIDC UserInfo endpoint.

use axum::Json;
use serde_json::{json, Value};

use crate::auth::Caller;

pub async fn userinfo(caller: Caller) -> Json<Value> {
    Json(json!({
        "sub": caller.user.id,
        "email": caller.user.email,
        "email_verified": true,
        "name": caller.user.name,
    }))
}
