#!/usr/bin/env bash
# Schemathesis against a real `ward server`'s /api/openapi.json (issue 16): as an admin, a normal
# user and an API token, with the checks not_a_server_error, status_code_conformance and
# response_schema_conformance, and a fixed example budget. Zero failures, or this fails.
#
# Needs the debug binary (`cargo build -p ward`, or the tests' build) in $CARGO_TARGET_DIR.
# Run locally: `bash .ci/schemathesis.sh` (WARD_BIN=path/to/ward to use another binary).
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
# 50 examples per operation and caller, seeded: about 2 minutes on 2 cores, install included.
EXAMPLES="${SCHEMATHESIS_EXAMPLES:-50}"
TARGET="${CARGO_TARGET_DIR:-target}"
WARD_BIN="${WARD_BIN:-$TARGET/debug/ward}"
VENV="$(realpath -m "${SCHEMATHESIS_VENV:-$TARGET/schemathesis-venv-$SCHEMATHESIS_VERSION}")"

die() {
    echo "schemathesis.sh: $*" >&2
    exit 1
}

[ -x "$WARD_BIN" ] || die "no ward binary at $WARD_BIN (build it with: cargo build -p ward)"
command -v python3 >/dev/null || die "python3 is not installed (.ci/packages.sh installs it)"

if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    rm -rf "$VENV"
    python3 -m venv "$VENV" || die "cannot create a Python venv at $VENV (python3-venv missing?)"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" ||
        die "cannot install schemathesis==$SCHEMATHESIS_VERSION from PyPI"
fi

WORK="$(mktemp -d)"
SERVER_PID=""
stop_server() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}
cleanup() {
    stop_server
    rm -rf "$WORK"
}
trap cleanup EXIT

ADMIN_EMAIL=admin@example.com
ADMIN_PASSWORD="$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')"

# A fresh server per caller, so that what one run changes (an admin disabling users or revoking
# sessions) cannot end another's credential: on a free port from the kernel, with its own SQLite
# data dir, and a host name in its public URL so that WebAuthn is on.
start_server() {
    local dir="$1"
    PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    BASE="http://localhost:$PORT"
    env -u WARD_DATABASE_URL -u DATABASE_URL \
        WARD_BOOTSTRAP_ADMIN_EMAIL="$ADMIN_EMAIL" WARD_BOOTSTRAP_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
        WARD_PUBLIC_URL="$BASE" \
        "$WARD_BIN" server --listen "127.0.0.1:$PORT" --data-dir "$dir/data" >"$dir/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 100); do
        curl -sf "$BASE/readyz" >/dev/null 2>&1 && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$dir/server.log" >&2; die "ward server exited"; }
        sleep 0.2
    done
    cat "$dir/server.log" >&2
    die "ward server not ready"
}

# Signing out would end the caller's own credential mid-run, and the run would go on as
# anonymous: that operation is left out. The event stream (GET /api/admin/events) answers with a
# body that never ends, which a request/response fuzzer would wait on forever; its answers are
# tested in crates/ward-server/tests/it/events_stream.rs.
# The operations that can end the caller's own credential (its session, its API token, its
# admin role): revoking sessions or tokens, changing or removing a user, resetting a user's MFA
# or sending a recovery link (both end the user's sessions).
ENDING_OPERATIONS="sessions_revoke admin_revoke_session admin_patch_user admin_delete_user admin_deny_user
admin_user_mfa_reset admin_user_recovery_link tokens_revoke"
ENDING_EXCLUDE=""
ENDING_INCLUDE=""
for op in $ENDING_OPERATIONS; do
    ENDING_EXCLUDE="$ENDING_EXCLUDE --exclude-operation-id $op"
    ENDING_INCLUDE="$ENDING_INCLUDE --include-operation-id $op"
done

# run_schemathesis WHO DIR LABEL FILTER...: one Schemathesis run against the running server.
run_schemathesis() {
    local who="$1" dir="$2" label="$3"
    shift 3
    # From the caller's scratch dir, so that Schemathesis' and Hypothesis' caches of earlier
    # failures neither land in the clone nor change what a later run tries.
    if ! (cd "$dir" && "$VENV/bin/schemathesis" run "$BASE/api/openapi.json" \
        --checks not_a_server_error,status_code_conformance,response_schema_conformance \
        --max-examples "$EXAMPLES" --seed 16 --workers 2 \
        --phases examples,coverage,fuzzing,stateful \
        --exclude-path /api/auth/logout \
        --exclude-path /api/admin/events \
        "$@" \
        --header "Authorization: Bearer $(cat "$dir/creds/$who")" \
        --suppress-health-check all \
        --output-truncate true --no-color); then
        echo "schemathesis.sh: failures above as $who ($label run); the server's log ends:" >&2
        tail -n 30 "$dir/server.log" >&2
        return 1
    fi
}

status=0
for who in ${SCHEMATHESIS_AS:-admin user api_token}; do
    dir="$WORK/$who"
    mkdir -p "$dir"
    start_server "$dir"
    python3 .ci/schemathesis_auth.py "$BASE" "$ADMIN_EMAIL" "$ADMIN_PASSWORD" "$dir/creds" ||
        { cat "$dir/server.log" >&2; die "could not obtain the credentials"; }
    echo "-- schemathesis as $who ($EXAMPLES examples per operation)"
    # First everything but the operations that can end the caller's own credential, then those
    # alone: Schemathesis reuses identifiers it has seen in responses, so it revokes the caller's
    # own session or token early on, and every later request of the run would test only the 401.
    # The stateful phase chains operations through links inferred from the schema and from
    # `Location` headers (create a token, then read and revoke it).
    run_schemathesis "$who" "$dir" main $ENDING_EXCLUDE || status=1
    run_schemathesis "$who" "$dir" ending $ENDING_INCLUDE || status=1
    if [ -n "${SCHEMATHESIS_KEEP_LOG:-}" ]; then cp "$dir/server.log" "$SCHEMATHESIS_KEEP_LOG.$who"; fi
    stop_server
done
[ "$status" -eq 0 ] || exit 1
echo "schemathesis: admin, user and API token runs, 0 failures (${SECONDS}s)"
