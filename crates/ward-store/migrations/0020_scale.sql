-- Scale (issue 25): indexes that keep the admin lists, the audit log and the sweeper off full
-- scans at a million users and ten million sessions and audit events (each was found with
-- EXPLAIN QUERY PLAN / EXPLAIN on the seeded database of bench/seed-scale.sh; docs/benchmarks.md,
-- "Scale: 1k vs 1M"). Same SQL on SQLite and PostgreSQL.

-- `GET /api/admin/users` and /admin/users page by key in (created_at, email) order.
CREATE INDEX users_created ON users (created_at, email);
-- The sweeper's guest clean-up looks for users of one role.
CREATE INDEX users_role ON users (role, created_at);
-- Sign-ups waiting for approval (the users page shows them on every render): a partial index
-- holds only those rows.
CREATE INDEX users_pending ON users (created_at, id) WHERE pending_approval = 1;

-- Everyone's live sessions, newest first (`GET /api/admin/sessions`, /admin/sessions).
CREATE INDEX sessions_created ON sessions (created_at, id);
-- The sweeper finds dead sessions by each way a session dies (expiry, idle deadline,
-- revocation), and guests (a partial index: only their rows), a batch at a time.
CREATE INDEX sessions_expires_at ON sessions (expires_at);
CREATE INDEX sessions_idle_deadline ON sessions ((last_seen_at + idle_timeout));
CREATE INDEX sessions_revoked_at ON sessions (revoked_at);
CREATE INDEX sessions_guest ON sessions (expires_at) WHERE channel = 'guest';

-- The audit log filtered by a user as target, or by an event type, newest first.
CREATE INDEX audit_events_target ON audit_events (target, at);
CREATE INDEX audit_events_type ON audit_events (event_type, at, seq);

-- The sweeper deletes delivered mail by when it was sent.
CREATE INDEX mail_outbox_sent ON mail_outbox (sent_at);
