-- The users at one email domain (issue 25): the look-alike check of every sign-up reads them
-- (`UserStore::user_emails_at_domain`), which was a scan of every user. An index on the
-- expression "what follows the last @ of the email", written with functions SQLite and
-- PostgreSQL share (`rtrim` strips from the right every character of the email but `@`, so the
-- length of what stays is the position of the last `@`). Same SQL on both; the store's lookup
-- repeats the expression exactly (ward_store::EMAIL_DOMAIN), which is what lets both planners
-- use the index. Nothing to keep in step on writes, nothing to backfill.
CREATE INDEX users_email_domain ON users ((substr(email, length(rtrim(email, replace(email, '@', ''))) + 1)));
