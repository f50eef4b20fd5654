-- The sweeper deletes every short-lived row an hour after it expired
-- (`DELETE FROM … WHERE expires_at <= $1`): an index on the expiry of each such table keeps
-- that a range scan instead of a full scan of the table at every sweep.

CREATE INDEX auth_codes_expires_at ON auth_codes (expires_at);
CREATE INDEX device_grants_expires_at ON device_grants (expires_at);
CREATE INDEX mfa_challenges_expires_at ON mfa_challenges (expires_at);
CREATE INDEX lock_tickets_expires_at ON lock_tickets (expires_at);
CREATE INDEX idp_pending_expires_at ON idp_pending (expires_at);
CREATE INDEX webauthn_ceremonies_expires_at ON webauthn_ceremonies (expires_at);
