-- Federation (SPEC §2.5): sign-ins waiting for an upstream identity provider (single use,
-- keyed by the hash of their `state`; nothing here can finish a sign-in by itself), and the
-- links between an upstream identity (IdP name, subject) and a ward user.

CREATE TABLE idp_pending (
    state_hash   TEXT PRIMARY KEY,
    idp          TEXT NOT NULL,
    binding_hash TEXT NOT NULL,
    return_to    TEXT NOT NULL,
    login_hint   TEXT,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    consumed_at  BIGINT
);

CREATE TABLE idp_links (
    idp        TEXT NOT NULL,
    subject    TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (idp, subject)
);
CREATE INDEX idp_links_user_id ON idp_links (user_id);
