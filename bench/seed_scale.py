#!/usr/bin/env python3
"""Seeds a ward database at scale with bulk SQL (standard library only, plus `psql` for
PostgreSQL): N users, 10 N sessions (each with a refresh token), N API tokens and 10 N audit
events. See docs/benchmarks.md, "Scale: 1k vs 1M".

    bench/seed_scale.py --ward BIN --db sqlite:///tmp/x/ward.db --users 1000000
    bench/seed_scale.py --ward BIN --db postgres://postgres@127.0.0.1:5432/ward_scale --users 1000

The schema and the bootstrap admin come from ward itself: the script starts `ward server` on the
database once (it runs the migrations and creates the admin with a real Argon2id hash), stops it,
then inserts the rows with `INSERT … SELECT` over a recursive CTE (SQLite, one transaction,
`journal_mode = WAL`, `synchronous = OFF`) or `generate_series` (PostgreSQL), with the secondary
indexes of the four big tables dropped during the insert and created again after. Every seeded
user has the admin's password hash (one Argon2id hash for all rows), so any of them can sign in
with the admin's password. Seeded sessions are live (no sweep deletes them during a benchmark);
seeded API tokens and refresh tokens have unique hashes that no client holds.

Prints one line per step with its time, then the database size.
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

BIG = ("users", "sessions", "refresh_tokens", "api_tokens", "audit_events")


def log(msg):
    print(f"seed: {msg}", file=sys.stderr, flush=True)


def make_schema(ward, db, port, email, password):
    """Runs ward once on `db`: migrations and the bootstrap admin."""
    work = tempfile.mkdtemp(prefix="ward-seed.")
    try:
        with open(f"{work}/ward.toml", "w") as f:
            f.write(f'listen = "127.0.0.1:{port}"\ndata_dir = "{work}/data"\n'
                    f'database_url = "{db}"\nbootstrap_admin_email = "{email}"\n'
                    f'bootstrap_admin_password = "{password}"\n')
        with open(f"{work}/ward.log", "w") as out:
            proc = subprocess.Popen([ward, "server", "--config", f"{work}/ward.toml"],
                                    stdout=out, stderr=subprocess.STDOUT)
        try:
            for _ in range(600):
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1):
                        return
                except OSError:
                    if proc.poll() is not None:
                        sys.exit(f"seed: ward exited: {open(f'{work}/ward.log').read()[-2000:]}")
                    time.sleep(0.05)
            sys.exit("seed: ward did not become ready")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def rows_sql(n, now, admin_hash, series):
    """The INSERT statements; `series(count)` is a FROM clause yielding `i` = 1..count."""
    n10 = n * 10
    h = admin_hash.replace("'", "''")
    year = 365 * 86400
    return [
        ("users", n, f"""
INSERT INTO users (id, email, name, password_hash, role, disabled, created_at, email_verified)
SELECT {hex32('i')}, 'user' || i || '@scale.example', 'User ' || i, '{h}', 'user', 0,
       {now - year} + i, 1
FROM {series(n)}"""),
        ("sessions", n10, f"""
INSERT INTO sessions (id, user_id, client_id, channel, scope, device_id, device_name, ip,
    user_agent, created_at, last_seen_at, expires_at, idle_timeout, mfa_verified, amr,
    revoked_at, cookie_hash, verified_at)
SELECT {hex32('i')}, {hex32(f'(i % {n}) + 1')}, 'ward-cli', 'cli', 'openid', NULL,
       'seeded', '10.0.0.1', 'seed/1', {now - 30 * 86400} + (i / 10), {now - 60},
       {now + 30 * 86400}, {90 * 86400}, 0, 'pwd', NULL, NULL, {now - 30 * 86400} + (i / 10)
FROM {series(n10)}"""),
        ("refresh_tokens", n10, f"""
INSERT INTO refresh_tokens (token_hash, session_id, created_at, rotated_at)
SELECT {hex64('i')}, {hex32('i')}, {now - 30 * 86400} + (i / 10), NULL
FROM {series(n10)}"""),
        ("api_tokens", n, f"""
INSERT INTO api_tokens (id, user_id, name, token_hash, scopes, created_at, expires_at,
    last_used_at, revoked_at)
SELECT {hex32('i')}, {hex32('i')}, 'seeded', {hex64('i')}, 'containers:read',
       {now - year} + i, NULL, NULL, NULL
FROM {series(n)}"""),
        ("audit_events", n10, f"""
INSERT INTO audit_events (id, seq, at, event_type, outcome, actor_user_id, actor_ip, target,
    detail)
SELECT {hex32('i')}, i, {now - 30 * 86400} + (i / 10),
       CASE i % 4 WHEN 0 THEN 'signin' WHEN 1 THEN 'token.created'
                  WHEN 2 THEN 'session.revoked' ELSE 'role.changed' END,
       'success', {hex32(f'(i % {n}) + 1')}, '10.0.0.1',
       CASE WHEN i % 4 = 3 THEN {hex32(f'((i + 7) % {n}) + 1')} ELSE NULL END, '{{}}'
FROM {series(n10)}"""),
    ]


HEX = {"fn": None}


def hex32(expr):
    return HEX["fn"](expr, 32)


def hex64(expr):
    return HEX["fn"](expr, 64)


# Sealed under the master key of the data directory of ward's one start, which is thrown away:
# ward makes new ones at its next start, whatever its data directory.
SEALED = ("signing_keys", "ssh_ca_keys")


def seed_sqlite(path, n, email):
    import sqlite3
    HEX["fn"] = lambda e, w: f"printf('%0{w}x', {e})"
    db = sqlite3.connect(path, isolation_level=None)
    for table in SEALED:
        db.execute(f"DELETE FROM {table}")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA cache_size = -1048576")  # 1 GiB of page cache during the seed
    admin_hash = db.execute("SELECT password_hash FROM users WHERE email = ?", (email,)).fetchone()[0]
    marks = ",".join("?" * len(BIG))
    indexes = db.execute(
        f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        f"AND tbl_name IN ({marks})", BIG).fetchall()
    series = lambda count: (f"(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s "
                            f"WHERE i < {count}) SELECT i FROM s)")
    db.execute("BEGIN")
    for name, _ in indexes:
        db.execute(f"DROP INDEX {name}")
    for table, count, sql in rows_sql(n, int(time.time()), admin_hash, series):
        t = time.time()
        db.execute(sql)
        log(f"{table}: {count} rows in {time.time() - t:.1f} s")
    for name, sql in indexes:
        t = time.time()
        db.execute(sql)
        log(f"index {name} in {time.time() - t:.1f} s")
    db.execute("COMMIT")
    t = time.time()
    db.execute("ANALYZE")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    log(f"analyze and checkpoint in {time.time() - t:.1f} s")
    db.close()
    size = sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))
    return size


def psql(url, sql):
    subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql], check=True,
                   stdout=subprocess.PIPE, text=True)


def psql_out(url, sql):
    return subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql], check=True,
                          stdout=subprocess.PIPE, text=True).stdout.strip()


def seed_postgres(url, n, email):
    HEX["fn"] = lambda e, w: f"lpad(to_hex(({e})::bigint), {w}, '0')"
    for table in SEALED:
        psql(url, f"DELETE FROM {table}")
    admin_hash = psql_out(url, f"SELECT password_hash FROM users WHERE email = '{email}'")
    tables = ",".join(f"'{t}'" for t in BIG)
    # Secondary indexes only: those behind a primary key or UNIQUE constraint stay.
    indexes = [line.split("|", 1) for line in psql_out(url, f"""
        SELECT i.indexname || '|' || i.indexdef FROM pg_indexes i
        WHERE i.tablename IN ({tables}) AND i.schemaname = current_schema()
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
    """).splitlines() if line]
    for name, _ in indexes:
        psql(url, f"DROP INDEX {name}")
    series = lambda count: f"generate_series(1, {count}) AS s(i)"
    for table, count, sql in rows_sql(n, int(time.time()), admin_hash, series):
        t = time.time()
        psql(url, "SET synchronous_commit = off; " + sql)
        log(f"{table}: {count} rows in {time.time() - t:.1f} s")
    for name, sql in indexes:
        t = time.time()
        psql(url, "SET maintenance_work_mem = '1GB'; " + sql)
        log(f"index {name} in {time.time() - t:.1f} s")
    t = time.time()
    psql(url, "VACUUM ANALYZE")
    log(f"vacuum analyze in {time.time() - t:.1f} s")
    return int(psql_out(url, "SELECT pg_database_size(current_database())"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ward", required=True, help="the ward binary")
    ap.add_argument("--db", required=True, help="sqlite://PATH or postgres://… (an empty database)")
    ap.add_argument("--users", type=int, default=1000, help="N: users (sessions = 10 N, ...)")
    ap.add_argument("--port", type=int, default=18099, help="for ward's one start")
    ap.add_argument("--admin-email", default="admin@bench.local")
    ap.add_argument("--admin-password", default="bench-admin-password")
    a = ap.parse_args()
    started = time.time()
    make_schema(a.ward, a.db, a.port, a.admin_email, a.admin_password)
    log(f"schema and admin in {time.time() - started:.1f} s")
    if a.db.startswith("sqlite:"):
        size = seed_sqlite(a.db.split("://", 1)[1].split("?")[0], a.users, a.admin_email)
    else:
        size = seed_postgres(a.db, a.users, a.admin_email)
    took = time.time() - started
    # One machine-readable line on stdout for bench/scale.sh.
    print(f"users={a.users} sessions={a.users * 10} api_tokens={a.users} "
          f"audit_events={a.users * 10} seconds={took:.1f} bytes={size}")


if __name__ == "__main__":
    main()
