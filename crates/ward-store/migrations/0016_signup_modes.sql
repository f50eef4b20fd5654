-- Sign-up by invitation or approval, and email change (SPEC §2.14). Same SQL on SQLite and
-- PostgreSQL. Invitations are `account_links` rows with purpose 'invite', no user yet, the
-- pinned email and optional role (the columns 0011 made for them).
-- 1 while a sign-up waits for an admin's approval (`signup = "approval"`); such an account is
-- also disabled, so every sign-in path refuses it until it is approved.
ALTER TABLE users ADD COLUMN pending_approval BIGINT NOT NULL DEFAULT 0;
CREATE INDEX account_links_email ON account_links (email);
