-- RFC 8707 §2.2: the resource a session's grant was given for (a route's URL, the audience of
-- every access token the session issues); NULL for ward itself, whose tokens may be narrowed
-- per refresh. A refresh keeps it, and naming another resource is `invalid_target`. Same SQL
-- on SQLite and PostgreSQL.
ALTER TABLE sessions ADD COLUMN resource TEXT;
