//! The storage traits ward's domain needs, implemented once per backend by `ward-store`.
//!
//! Every "use this once" operation (authorization code, device code, refresh token rotation) is a
//! single store method that is atomic in the database, so "exactly once" holds however many
//! requests race for it.

use async_trait::async_trait;

use crate::account::{AccountLink, OutboxMail};
use crate::clock::Timestamp;
use crate::events::{AttemptOutcome, WebhookAttempt, WebhookMessage};
use crate::ids::{SessionId, UserId};
use crate::machine::ServiceAccount;
use crate::model::{
    ApiToken, AuditEvent, AuditQuery, AuthCode, DeviceGrant, IdpPending, LockTicket, MfaChallenge,
    Session, SigningKeyRecord, TotpEnrolment, User, WebauthnCeremony, WebauthnCredential,
};
use crate::registration::{RegisteredClient, RegistrationToken};
use crate::stepup::{SshCaKey, VerifyRequest};
use crate::StoreError;

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Fails with [`StoreError::Conflict`] when the email is taken.
    async fn insert_user(&self, user: &User) -> StoreResult<()>;
    async fn user_by_id(&self, id: &UserId) -> StoreResult<Option<User>>;
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    /// Every user counted: a read of the whole table, for tests and tools. A page shown on every
    /// view uses [`UserStore::count_users_up_to`].
    async fn count_users(&self) -> StoreResult<i64>;
    /// The number of users, counted no further than `cap` (`min(count, cap)`): a bounded read
    /// however many users there are. Ask for one more than you will show to tell "exactly
    /// `cap`" from "more".
    async fn count_users_up_to(&self, cap: i64) -> StoreResult<i64>;
    /// Every user. Unbounded: for tests and small tools only; lists that people or clients page
    /// through use [`UserStore::users_page`].
    async fn list_users(&self) -> StoreResult<Vec<User>>;
    /// Up to `limit` users in `(created_at, email)` order, after the cursor `after` (keyset
    /// paging: the cost of a page does not grow with how far into the list it is).
    async fn users_page(&self, after: Option<&UserCursor>, limit: i64) -> StoreResult<Vec<User>>;
    /// The users among `ids` (unknown ids are left out), in no particular order.
    async fn users_by_ids(&self, ids: &[UserId]) -> StoreResult<Vec<User>>;
    /// Returns false when there is no such user.
    async fn set_user_role(&self, id: &UserId, role: &str) -> StoreResult<bool>;
    /// The emails of every account at `domain` (normalised, without `@`): the candidates a new
    /// address could be confused with.
    async fn user_emails_at_domain(&self, domain: &str) -> StoreResult<Vec<String>>;
    /// Whether an admin allowed this account to sign in with a password or passkey although its
    /// email domain is routed to an identity provider (break-glass). False for no such user.
    async fn user_local_login(&self, id: &UserId) -> StoreResult<bool>;
    /// Returns false when there is no such user.
    async fn set_user_local_login(&self, id: &UserId, local_login: bool) -> StoreResult<bool>;
    /// Disabling also revokes every session and API token of the user, in one transaction.
    async fn set_user_disabled(
        &self,
        id: &UserId,
        disabled: bool,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Deletes the users of `role` whose email ends with `email_suffix`, created before
    /// `created_before`, that have no session and no API token left (guests whose session was
    /// swept), with everything else that names them (MFA enrolment, backup codes, sign-in
    /// challenges, security keys, upstream identity links), in one transaction. Returns how
    /// many users were deleted.
    async fn delete_users_without_sessions(
        &self,
        role: &str,
        email_suffix: &str,
        created_before: Timestamp,
    ) -> StoreResult<u64>;
}

#[async_trait]
pub trait ApiTokenStore: Send + Sync {
    async fn insert_api_token(&self, token: &ApiToken) -> StoreResult<()>;
    async fn api_token_by_hash(&self, hash: &str) -> StoreResult<Option<ApiToken>>;
    async fn api_tokens_of_user(&self, user_id: &str) -> StoreResult<Vec<ApiToken>>;
    /// Revokes the user's token `id`; false when there is no such live token of theirs.
    async fn revoke_api_token(&self, user_id: &str, id: &str, now: Timestamp) -> StoreResult<bool>;
    async fn touch_api_token(&self, id: &str, now: Timestamp) -> StoreResult<()>;
}

/// Service accounts and their tokens (SPEC §2.15). Their tokens are [`ApiToken`] records whose
/// `user_id` is the service account's id, kept apart from users' API tokens.
#[async_trait]
pub trait ServiceAccountStore: Send + Sync {
    /// Adds a service account; [`StoreError::Conflict`] when the name is taken.
    async fn insert_service_account(&self, account: &ServiceAccount) -> StoreResult<()>;
    /// Every service account, by name.
    async fn service_accounts(&self) -> StoreResult<Vec<ServiceAccount>>;
    async fn service_account_by_id(&self, id: &str) -> StoreResult<Option<ServiceAccount>>;
    /// Deletes the service account and every token of it in one transaction; false when there
    /// was no such account.
    async fn delete_service_account(&self, id: &str) -> StoreResult<bool>;
    async fn insert_service_account_token(&self, token: &ApiToken) -> StoreResult<()>;
    /// The service account's tokens, newest first.
    async fn service_account_tokens(&self, account_id: &str) -> StoreResult<Vec<ApiToken>>;
    /// The token with this hash and its (existing) service account. Never cached: deleting
    /// the account or revoking the token takes effect at the very next request.
    async fn service_account_token_by_hash(
        &self,
        hash: &str,
    ) -> StoreResult<Option<(ApiToken, ServiceAccount)>>;
    /// Revokes token `id` of the account; false when there is no such live token.
    async fn revoke_service_account_token(
        &self,
        account_id: &str,
        id: &str,
        now: Timestamp,
    ) -> StoreResult<bool>;
    async fn touch_service_account_token(&self, id: &str, now: Timestamp) -> StoreResult<()>;
}

/// A user's TOTP second factor: its enrolment, the steps it accepted, and its backup codes.
#[async_trait]
pub trait TotpStore: Send + Sync {
    async fn totp_enrolment(&self, user_id: &UserId) -> StoreResult<Option<TotpEnrolment>>;
    /// Stores a new, unconfirmed secret, replacing an earlier unconfirmed one. False when the
    /// user already has confirmed TOTP.
    async fn begin_totp_enrolment(
        &self,
        user_id: &UserId,
        secret_enc: &str,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Confirms the pending enrolment (recording `step` as used) and stores the backup codes,
    /// replacing any earlier set, in one transaction. False when nothing was pending.
    async fn confirm_totp_enrolment(
        &self,
        user_id: &UserId,
        step: i64,
        backup_code_hashes: &[String],
    ) -> StoreResult<bool>;
    /// Accepts a TOTP step once: false when `step` is not newer than the last accepted one.
    async fn accept_totp_step(&self, user_id: &UserId, step: i64) -> StoreResult<bool>;
    /// Removes TOTP and backup codes.
    async fn remove_mfa(&self, user_id: &UserId) -> StoreResult<()>;
    async fn replace_backup_codes(&self, user_id: &UserId, hashes: &[String]) -> StoreResult<()>;
    /// Marks a backup code used, exactly once; false when unknown or used.
    async fn use_backup_code(
        &self,
        user_id: &UserId,
        hash: &str,
        now: Timestamp,
    ) -> StoreResult<bool>;
    async fn backup_codes_remaining(&self, user_id: &UserId) -> StoreResult<i64>;
}

/// Second-factor challenges pending between a password and a second factor, and the mark a
/// session gets once it passed one.
#[async_trait]
pub trait MfaChallengeStore: Send + Sync {
    async fn insert_mfa_challenge(&self, challenge: &MfaChallenge) -> StoreResult<()>;
    async fn mfa_challenge(&self, token_hash: &str) -> StoreResult<Option<MfaChallenge>>;
    /// Consumes a live challenge exactly once.
    async fn consume_mfa_challenge(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<MfaChallenge>>;
    /// Step-up: records that the session passed a second factor.
    /// Also records `now` as the session's last verification (`verified_at`).
    async fn mark_session_mfa(
        &self,
        session_id: &SessionId,
        amr: &[String],
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Deletes the sign-in challenges that expired at or before `cutoff` (consumed or not).
    /// Returns how many were deleted.
    async fn delete_expired_mfa_challenges(&self, cutoff: Timestamp) -> StoreResult<u64>;
}

/// Resource locks, and the single-use tickets that let one session through a lock.
#[async_trait]
pub trait LockStore: Send + Sync {
    /// Locks a resource; false when it is locked already.
    async fn lock_resource(
        &self,
        kind: &str,
        id: &str,
        user_id: &str,
        now: Timestamp,
    ) -> StoreResult<bool>;
    async fn unlock_resource(&self, kind: &str, id: &str) -> StoreResult<bool>;
    /// Who locked it, if it is locked.
    async fn resource_lock(&self, kind: &str, id: &str) -> StoreResult<Option<String>>;
    async fn insert_lock_ticket(&self, ticket: &LockTicket) -> StoreResult<()>;
    /// Uses a ticket exactly once, only for the session and resource it was issued for.
    async fn use_lock_ticket(
        &self,
        ticket_hash: &str,
        session_id: &str,
        kind: &str,
        id: &str,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Deletes the lock tickets that expired at or before `cutoff` (used or not). Returns how
    /// many were deleted.
    async fn delete_expired_lock_tickets(&self, cutoff: Timestamp) -> StoreResult<u64>;
}

#[async_trait]
pub trait WebauthnStore: Send + Sync {
    async fn insert_webauthn_credential(&self, credential: &WebauthnCredential) -> StoreResult<()>;
    async fn webauthn_credentials_of_user(
        &self,
        user_id: &UserId,
    ) -> StoreResult<Vec<WebauthnCredential>>;
    async fn webauthn_credential(
        &self,
        credential_id: &str,
    ) -> StoreResult<Option<WebauthnCredential>>;
    /// Stores the updated record (signature counter) after a use.
    async fn update_webauthn_credential(
        &self,
        credential_id: &str,
        passkey: &str,
        now: Timestamp,
    ) -> StoreResult<()>;
    async fn delete_webauthn_credential(
        &self,
        user_id: &UserId,
        credential_id: &str,
    ) -> StoreResult<bool>;
    async fn insert_webauthn_ceremony(&self, ceremony: &WebauthnCeremony) -> StoreResult<()>;
    /// Takes a live ceremony exactly once.
    async fn take_webauthn_ceremony(
        &self,
        id: &str,
        now: Timestamp,
    ) -> StoreResult<Option<WebauthnCeremony>>;
    /// Deletes the ceremonies that expired at or before `cutoff` (taken or not). Returns how
    /// many were deleted.
    async fn delete_expired_webauthn_ceremonies(&self, cutoff: Timestamp) -> StoreResult<u64>;
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn insert_audit_event(&self, event: &AuditEvent) -> StoreResult<()>;
    /// Newest first; each row with its `(at, seq)` cursor.
    async fn audit_events(&self, query: &AuditQuery) -> StoreResult<Vec<(AuditEvent, (i64, i64))>>;
}

/// Events (SPEC §2.18): the webhook outbox, and the audit log read in order for the event
/// stream.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Writes the audit event and its outbox messages (one per webhook that wants it) in one
    /// transaction: an event is in the log exactly when its webhooks will hear of it. Returns
    /// the event's `seq` (its cursor is `(at, seq)`).
    async fn insert_audit_event_with_outbox(
        &self,
        event: &AuditEvent,
        outbox: &[WebhookMessage],
    ) -> StoreResult<i64>;
    /// The `(at, seq)` position of the audit event `id`.
    async fn audit_cursor(&self, id: &str) -> StoreResult<Option<(i64, i64)>>;
    /// Audit events after `after` in log order (oldest first), at most `limit`.
    async fn audit_events_after(
        &self,
        after: (i64, i64),
        limit: i64,
    ) -> StoreResult<Vec<(AuditEvent, (i64, i64))>>;
    /// Claims up to `limit` pending messages due at `now` whose lease (if any) ran out: each
    /// gets `claim` and a lease until `lease_until`, and its attempt count goes up by one. Two
    /// replicas never claim the same message at once (PostgreSQL: `FOR UPDATE SKIP LOCKED`;
    /// SQLite: one writer).
    async fn claim_webhook_messages(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        claim: &str,
        limit: i64,
    ) -> StoreResult<Vec<WebhookMessage>>;
    /// Records an attempt and its outcome, releasing the lease, if `claim` still holds the
    /// message; false (and nothing written) when it does not (the lease ran out and another
    /// worker took it).
    async fn finish_webhook_attempt(
        &self,
        claim: &str,
        attempt: &WebhookAttempt,
        outcome: AttemptOutcome,
    ) -> StoreResult<bool>;
    /// Messages newest first, at most `limit`, older than the `before` cursor
    /// `(created_at, seq)`; each with its cursor.
    async fn webhook_messages(
        &self,
        before: Option<(i64, i64)>,
        limit: i64,
    ) -> StoreResult<Vec<(WebhookMessage, (i64, i64))>>;
    async fn webhook_message(&self, id: &str) -> StoreResult<Option<WebhookMessage>>;
    /// The attempts of these messages, in attempt order.
    async fn webhook_attempts(&self, message_ids: &[String]) -> StoreResult<Vec<WebhookAttempt>>;
    /// "Send again": the message is pending, due at `now`, retried until `give_up_at`, with the
    /// same id and body. False when there is no such message.
    async fn resend_webhook_message(
        &self,
        id: &str,
        now: Timestamp,
        give_up_at: Timestamp,
    ) -> StoreResult<bool>;
    /// Deletes delivered and failed messages (with their attempts) created at or before
    /// `cutoff`; returns how many messages.
    async fn delete_old_webhook_messages(&self, cutoff: Timestamp) -> StoreResult<u64>;
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshRotation {
    /// The token was current; it is now rotated and the new one stored. Carries the session id.
    Rotated { session_id: SessionId },
    /// The token had already been rotated: a replay. The whole session is now revoked.
    Reused { session_id: SessionId },
    /// No such token.
    Unknown,
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores a session and, when given, the hash of its first refresh token or its cookie.
    async fn insert_session(
        &self,
        session: &Session,
        refresh_token_hash: Option<&str>,
        cookie_hash: Option<&str>,
    ) -> StoreResult<()>;
    async fn session_by_id(&self, id: &SessionId) -> StoreResult<Option<Session>>;
    async fn session_by_cookie_hash(&self, cookie_hash: &str) -> StoreResult<Option<Session>>;
    /// The session a refresh token belongs to, and whether the token is still current (not
    /// yet rotated).
    async fn session_by_refresh_token_hash(
        &self,
        hash: &str,
    ) -> StoreResult<Option<(Session, bool)>>;
    /// Records activity, extending the idle deadline.
    async fn touch_session(&self, id: &SessionId, now: Timestamp) -> StoreResult<()>;
    /// Re-authentication (password, or a second factor): the session's `verified_at` is `now`.
    async fn mark_session_reauthenticated(&self, id: &SessionId, now: Timestamp)
        -> StoreResult<()>;
    /// Revokes a session (idempotent). Returns whether it was live before.
    async fn revoke_session(&self, id: &SessionId, now: Timestamp) -> StoreResult<bool>;
    /// Atomically marks `old_hash` rotated and stores `new_hash` for the same session; on a
    /// replay of an already-rotated token, revokes the session (RFC 9700 §4.14.2).
    async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new_hash: &str,
        now: Timestamp,
    ) -> StoreResult<RefreshRotation>;
    async fn sessions_of_user(&self, user_id: &UserId) -> StoreResult<Vec<Session>>;
    /// Sessions neither revoked nor past their absolute expiry at `now`, newest first, at most
    /// `limit`; only `user_id`'s when given. (Idle ones are left to the caller's
    /// [`Session::is_usable`] check: the idle deadline moves with every use.)
    async fn live_sessions(
        &self,
        user_id: Option<&UserId>,
        now: Timestamp,
        limit: i64,
    ) -> StoreResult<Vec<Session>>;
    /// [`SessionStore::live_sessions`] older than `before` (`(created_at, id)`, newest first:
    /// keyset paging for the admin list).
    async fn live_sessions_before(
        &self,
        user_id: Option<&UserId>,
        now: Timestamp,
        before: Option<(i64, String)>,
        limit: i64,
    ) -> StoreResult<Vec<Session>>;
    /// Deletes sessions (and their refresh tokens) that stopped working, by expiry, idle
    /// timeout or revocation, at or before `cutoff` (`guest_cutoff` for `guest` sessions).
    /// Returns how many sessions were deleted.
    async fn delete_dead_sessions(
        &self,
        cutoff: Timestamp,
        guest_cutoff: Timestamp,
    ) -> StoreResult<u64>;
}

/// What presenting an authorization code did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeRedemption {
    /// First use: the code is now consumed.
    Redeemed(AuthCode),
    /// Already consumed before: a replay. Carries what the first use issued.
    AlreadyUsed(AuthCode),
    Unknown,
}

#[async_trait]
pub trait GrantStore: Send + Sync {
    async fn insert_auth_code(&self, code: &AuthCode) -> StoreResult<()>;
    /// Consumes the code exactly once.
    async fn redeem_auth_code(
        &self,
        code_hash: &str,
        now: Timestamp,
    ) -> StoreResult<CodeRedemption>;
    /// Links the session created by a redeemed code, so a replay can revoke it.
    async fn set_auth_code_session(
        &self,
        code_hash: &str,
        session_id: &SessionId,
    ) -> StoreResult<()>;
    /// The scopes `user_id` consented to give `client_id`, if ever asked.
    async fn consented_scope(
        &self,
        user_id: &UserId,
        client_id: &str,
    ) -> StoreResult<Option<String>>;
    /// Records (replaces) what `user_id` consented to give `client_id`.
    async fn record_consent(
        &self,
        user_id: &UserId,
        client_id: &str,
        scope: &str,
        now: Timestamp,
    ) -> StoreResult<()>;

    async fn insert_device_grant(&self, grant: &DeviceGrant) -> StoreResult<()>;
    async fn device_grant_by_user_code(&self, user_code: &str) -> StoreResult<Option<DeviceGrant>>;
    /// Approves (with the user) or denies a pending, unexpired grant. Returns false when the
    /// grant was not pending any more.
    async fn decide_device_grant(
        &self,
        user_code: &str,
        approved_by: Option<(&UserId, Timestamp, &[String])>,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Records a poll; returns the grant with `last_polled_at` set to the poll *before* this
    /// one, so the caller can tell whether the client polled too fast.
    async fn poll_device_grant(
        &self,
        device_code_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<DeviceGrant>>;
    /// Adds `by` seconds to the grant's polling interval (RFC 8628 `slow_down`).
    async fn slow_down_device_grant(&self, device_code_hash: &str, by: i64) -> StoreResult<()>;
    /// Moves an approved grant to consumed exactly once; false when someone else did.
    async fn consume_device_grant(&self, device_code_hash: &str) -> StoreResult<bool>;
    /// Deletes the authorization codes that expired at or before `cutoff` (redeemed or not).
    /// Returns how many were deleted.
    async fn delete_expired_auth_codes(&self, cutoff: Timestamp) -> StoreResult<u64>;
    /// Deletes the device grants that expired at or before `cutoff`, whatever their status.
    /// Returns how many were deleted.
    async fn delete_expired_device_grants(&self, cutoff: Timestamp) -> StoreResult<u64>;
}

/// Fixed-window rate-limit counters in the database, so that every replica counts against the
/// same budget (SPEC §2.10). Windows are named by their start on ward's clock.
/// RFC 9449 §11.1: DPoP proof ids seen recently, shared by every replica.
#[async_trait]
pub trait DpopStore: Send + Sync {
    /// Records a proof id (its hash) until `expires_at`. `true` exactly once per id while the
    /// row lives, whatever the concurrency and whichever replica asks: one atomic insert.
    async fn record_dpop_jti(&self, jti_hash: &str, expires_at: Timestamp) -> StoreResult<bool>;
    /// Deletes ids expired at `now`; returns how many.
    async fn delete_expired_dpop_jtis(&self, now: Timestamp) -> StoreResult<u64>;
}

#[async_trait]
pub trait RateLimitStore: Send + Sync {
    /// Adds `add` hits to `key` in the window starting at `window_start`, atomically, and returns
    /// the window's count including them.
    async fn add_rate_limit_hits(&self, key: &str, window_start: i64, add: i64)
        -> StoreResult<i64>;
    /// The hits of `key` in the window starting at `window_start` (0 when none).
    async fn rate_limit_hits(&self, key: &str, window_start: i64) -> StoreResult<i64>;
    /// Deletes the windows that started before `window_start`; returns how many.
    async fn delete_rate_limits_before(&self, window_start: i64) -> StoreResult<u64>;
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()>;
    /// Retires every current key but `kid`.
    async fn retire_signing_keys_except(&self, kid: &str, now: Timestamp) -> StoreResult<()>;
}

/// Federation: sign-ins waiting for an upstream identity provider, and the links between an
/// upstream identity (IdP name, subject) and a ward user.
#[async_trait]
pub trait IdpStore: Send + Sync {
    async fn insert_idp_pending(&self, pending: &IdpPending) -> StoreResult<()>;
    /// Consumes a pending sign-in exactly once, expired or not (the caller tells the user which).
    async fn consume_idp_pending(
        &self,
        state_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<IdpPending>>;
    /// The ward user linked to this upstream identity.
    async fn idp_link(&self, idp: &str, subject: &str) -> StoreResult<Option<UserId>>;
    /// Links an upstream identity to an existing user; [`StoreError::Conflict`] when the
    /// identity is linked already.
    async fn insert_idp_link(
        &self,
        idp: &str,
        subject: &str,
        user_id: &UserId,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Creates the user and its link in one transaction; [`StoreError::Conflict`] when the
    /// email is taken or the identity is linked already.
    async fn insert_idp_user(&self, user: &User, idp: &str, subject: &str) -> StoreResult<()>;
    /// Deletes the pending sign-ins that expired at or before `cutoff` (consumed or not).
    /// Returns how many were deleted.
    async fn delete_expired_idp_pending(&self, cutoff: Timestamp) -> StoreResult<u64>;
}

/// The account lifecycle (SPEC §2.14): passwords, single-use account links, an admin's MFA
/// reset and user deletion.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Whether the user must choose a new password before anything else (the generated
    /// bootstrap admin). False for no such user.
    async fn password_change_required(&self, user_id: &UserId) -> StoreResult<bool>;
    /// Returns false when there is no such user.
    async fn set_password_change_required(
        &self,
        user_id: &UserId,
        required: bool,
    ) -> StoreResult<bool>;
    /// Stores a new password hash, clears "must change", and revokes every session of the user
    /// but `keep_session`, in one transaction. Returns false when there is no such user.
    async fn set_password(
        &self,
        user_id: &UserId,
        password_hash: &str,
        keep_session: Option<&SessionId>,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Stores a link, deleting the unused links of the same purpose for the same user (a new
    /// recovery link replaces the last one).
    async fn insert_account_link(&self, link: &AccountLink) -> StoreResult<()>;
    /// A link by the hash of its secret, used or expired included (the caller says which).
    async fn account_link(&self, token_hash: &str) -> StoreResult<Option<AccountLink>>;
    /// Uses a live password link exactly once and, in the same transaction, sets the user's
    /// password (clearing "must change"), revokes every session of the user and, when
    /// `remove_factors`, removes their TOTP, backup codes and security keys. Returns the user
    /// id, or `None` when the link was used, expired or unknown.
    async fn redeem_password_link(
        &self,
        token_hash: &str,
        password_hash: &str,
        remove_factors: bool,
        now: Timestamp,
    ) -> StoreResult<Option<UserId>>;
    /// Removes every second factor of the user (TOTP, backup codes, security keys, pending
    /// sign-in challenges) and revokes all their sessions, in one transaction. False for no
    /// such user.
    async fn reset_mfa(&self, user_id: &UserId, now: Timestamp) -> StoreResult<bool>;
    /// Deletes the user with their sessions, refresh tokens, API tokens, factors, consents,
    /// upstream links and account links, in one transaction. Audit events stay. False for no
    /// such user.
    async fn delete_user(&self, user_id: &UserId) -> StoreResult<bool>;
    /// Deletes the links that expired at or before `cutoff` (used or not); returns how many.
    async fn delete_expired_account_links(&self, cutoff: Timestamp) -> StoreResult<u64>;
    /// Uses a live verification link exactly once and marks the user's address verified, if
    /// it is still the address the link was sent to. Returns the user id, or `None` when the
    /// link was used, expired, unknown or for another address.
    async fn redeem_verify_link(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<UserId>>;
}

/// Sign-up by invitation or approval, and email change (SPEC §2.14).
#[async_trait]
pub trait SignupStore: Send + Sync {
    /// Stores an invitation (a link with no user, its email pinned), deleting the unused
    /// invitations for the same email (a new one replaces the last).
    async fn insert_invitation(&self, link: &AccountLink) -> StoreResult<()>;
    /// Invitations neither used nor expired at `now`, newest first.
    async fn open_invitations(&self, now: Timestamp) -> StoreResult<Vec<AccountLink>>;
    /// Uses a live invitation exactly once and creates `user` in the same transaction.
    /// `Ok(false)` when the link was used, expired or unknown; [`StoreError::Conflict`] (and
    /// the link stays unused) when the email is taken.
    async fn redeem_invitation(
        &self,
        token_hash: &str,
        user: &User,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Inserts a sign-up that waits for an admin (`pending_approval`, and disabled until
    /// approved). [`StoreError::Conflict`] when the email is taken.
    async fn insert_pending_user(&self, user: &User) -> StoreResult<()>;
    /// Whether the account waits for approval. False for no such user.
    async fn pending_approval(&self, user_id: &UserId) -> StoreResult<bool>;
    /// The accounts waiting for approval, oldest first.
    async fn pending_users(&self) -> StoreResult<Vec<User>>;
    /// Approves a waiting account (enables it), exactly once. False when it was not waiting.
    async fn approve_user(&self, user_id: &UserId) -> StoreResult<bool>;
    /// Sets the account's email, unverified until a link proves it. False for no such user;
    /// [`StoreError::Conflict`] when another account has it.
    async fn change_email(&self, user_id: &UserId, email: &str) -> StoreResult<bool>;
}

/// The mail outbox (SPEC §2.14): mail is written here in the request and sent by a background
/// worker, with retries.
#[async_trait]
pub trait MailStore: Send + Sync {
    async fn insert_mail(&self, mail: &OutboxMail) -> StoreResult<()>;
    /// Claims up to `limit` mails due at `now` (not sent, `next_attempt_at <= now`) for
    /// `lease_secs`: each claimed mail's `next_attempt_at` moves to `now + lease_secs`, by a
    /// conditional update, so two replicas never send the same mail at once.
    async fn claim_due_mail(
        &self,
        now: Timestamp,
        lease_secs: i64,
        limit: i64,
    ) -> StoreResult<Vec<OutboxMail>>;
    async fn mark_mail_sent(&self, id: &str, now: Timestamp) -> StoreResult<()>;
    /// Records a failed attempt and when to try again.
    async fn mark_mail_failed(
        &self,
        id: &str,
        error: &str,
        next_attempt_at: Timestamp,
    ) -> StoreResult<()>;
    /// Mail not delivered yet, oldest first, at most `limit`.
    async fn undelivered_mail(&self, limit: i64) -> StoreResult<Vec<OutboxMail>>;
    /// Deletes delivered mail sent at or before `cutoff`; returns how many.
    async fn delete_sent_mail(&self, cutoff: Timestamp) -> StoreResult<u64>;
}

/// Step-up from anywhere (SPEC §2.17): grace windows and approval requests.
#[async_trait]
pub trait StepUpStore: Send + Sync {
    /// Lets `holder` open `kind/id` without a new proof until `until` (a later `until` replaces
    /// an earlier one; an earlier one never shortens a window).
    async fn grant_lock_grace(
        &self,
        holder: &str,
        kind: &str,
        id: &str,
        until: Timestamp,
    ) -> StoreResult<()>;
    /// Until when `holder` may open `kind/id` without a new proof, if a window was granted.
    async fn lock_grace(
        &self,
        holder: &str,
        kind: &str,
        id: &str,
    ) -> StoreResult<Option<Timestamp>>;
    /// Ends every grace window on `kind/id` (an unlock: a new lock starts from nothing).
    async fn delete_lock_graces(&self, kind: &str, id: &str) -> StoreResult<()>;
    async fn delete_expired_lock_graces(&self, cutoff: Timestamp) -> StoreResult<u64>;

    async fn insert_verify_request(&self, request: &VerifyRequest) -> StoreResult<()>;
    async fn verify_request(&self, id: &str) -> StoreResult<Option<VerifyRequest>>;
    /// Records a poll at `now` and the (possibly grown) interval.
    async fn record_verify_poll(&self, id: &str, now: Timestamp, interval: i64) -> StoreResult<()>;
    /// Approves or denies a pending, live request of `user_id`, once; false when it was not
    /// pending any more (decided by a concurrent request), expired, or someone else's.
    async fn decide_verify_request(
        &self,
        id: &str,
        user_id: &str,
        approve: bool,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Hands out the ticket of an approved, live request of `holder` exactly once: marks it
    /// issued and stores `ticket` in one transaction. False (and nothing stored) when it was
    /// not approved, already issued, expired, or asked for by another holder.
    async fn issue_verify_ticket(
        &self,
        id: &str,
        holder: &str,
        ticket: &LockTicket,
        now: Timestamp,
    ) -> StoreResult<bool>;
    async fn delete_expired_verify_requests(&self, cutoff: Timestamp) -> StoreResult<u64>;

    /// Every SSH CA key: unretired ones first, then newest first (a rotation within the same
    /// second still lists the new key first).
    async fn ssh_ca_keys(&self) -> StoreResult<Vec<SshCaKey>>;
    /// Adds a CA key; with `retire_at`, first retires every unretired key at that time (a
    /// rotation), in one transaction.
    async fn insert_ssh_ca_key(
        &self,
        key: &SshCaKey,
        retire_at: Option<Timestamp>,
    ) -> StoreResult<()>;
}

/// Dynamic client registration (RFC 7591): registered clients and initial access tokens.
#[async_trait]
pub trait RegistrationStore: Send + Sync {
    async fn insert_registered_client(&self, client: &RegisteredClient) -> StoreResult<()>;
    async fn registered_client(&self, client_id: &str) -> StoreResult<Option<RegisteredClient>>;
    /// Every registered client, newest first.
    async fn registered_clients(&self) -> StoreResult<Vec<RegisteredClient>>;
    /// Removes the client, revokes every session issued to it (its refresh tokens and access
    /// tokens stop working) and forgets what users consented to give it, in one transaction.
    /// Returns whether it existed.
    async fn delete_registered_client(&self, client_id: &str, now: Timestamp) -> StoreResult<bool>;
    async fn insert_registration_token(&self, token: &RegistrationToken) -> StoreResult<()>;
    /// Spends the initial access token with `token_hash` for one registration, atomically: a
    /// single-use token exactly once, any token only before it expires. Returns its id.
    async fn use_registration_token(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<String>>;
}

/// Everything ward keeps.
#[async_trait]
pub trait Store:
    UserStore
    + SessionStore
    + GrantStore
    + KeyStore
    + ApiTokenStore
    + ServiceAccountStore
    + RegistrationStore
    + AuditStore
    + EventStore
    + TotpStore
    + MfaChallengeStore
    + LockStore
    + WebauthnStore
    + IdpStore
    + RateLimitStore
    + DpopStore
    + AccountStore
    + SignupStore
    + MailStore
    + StepUpStore
{
    /// Whether the database answers (`/readyz`).
    async fn ping(&self) -> StoreResult<()>;
    /// What the sweeper's deletes have done so far in this process (for tests and metrics).
    fn sweep_stats(&self) -> SweepStats {
        SweepStats::default()
    }
    /// The database connections this process holds now (for metrics).
    fn pool_stats(&self) -> PoolStats {
        PoolStats::default()
    }
}

/// The database connection pool at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open (in use and idle).
    pub open: u32,
    /// Of those, idle.
    pub idle: u32,
}

/// The position after a user in the `(created_at, email)` order of [`UserStore::users_page`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCursor {
    pub created_at: i64,
    pub email: String,
}

impl UserCursor {
    /// The cursor of the page after `user`.
    pub fn after(user: &User) -> Self {
        UserCursor {
            created_at: user.created_at.0,
            email: user.email.clone(),
        }
    }

    /// Reads `<created_at>.<email>` (what [`UserCursor::encode`] writes); `None` when malformed.
    pub fn parse(text: &str) -> Option<Self> {
        let (at, email) = text.split_once('.')?;
        Some(UserCursor {
            created_at: at.parse().ok()?,
            email: email.to_string(),
        })
    }

    /// `<created_at>.<email>`: opaque to clients, who pass it back as `after`.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.created_at, self.email)
    }
}

/// The sweeper deletes in batches of at most [`SweepStats::BATCH`] rows, each batch its own short
/// transaction, so that no sweep holds the write lock for long.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepStats {
    /// Delete transactions run.
    pub batches: u64,
    /// The most rows one batch deleted (from one table).
    pub max_rows: u64,
    /// The longest one batch's transaction took, in microseconds.
    pub max_micros: u64,
}

impl SweepStats {
    /// The most rows one delete transaction of the sweeper touches per table.
    pub const BATCH: i64 = 500;
}
