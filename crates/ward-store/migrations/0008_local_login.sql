-- Break-glass (SPEC §2.13): an account in an email domain routed to an identity provider signs
-- in only through that IdP, unless an admin set `local_login` (1) on it. Same SQL on SQLite and
-- PostgreSQL; a flag is a BIGINT 0/1 like `disabled`.
ALTER TABLE users ADD COLUMN local_login BIGINT NOT NULL DEFAULT 0;
