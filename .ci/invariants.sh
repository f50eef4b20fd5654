#!/usr/bin/env bash
# The architecture's invariants, stated as absences (see ARCHITECTURE.md). `cargo tree -i X`
# fails when X is not in the package's dependency graph: that failure is what we want.
set -euo pipefail
fail=0
absent() { # package, dependency, reason
  if cargo tree -p "$1" -e normal -i "$2" --locked >/dev/null 2>&1; then
    echo "invariant broken: $1 depends on $2 ($3)"; fail=1
  else
    echo "ok: $1 does not depend on $2"
  fi
}
absent ward-core axum "the domain does no HTTP"
absent ward-core sqlx "the domain does no SQL"
absent ward-core tokio "the domain does no IO"
absent ward-proto tokio "wire types only"
absent ward-store axum "only ward-server knows HTTP"
absent ward-client ward-server "ward-client never depends on ward-server"
absent ward-client sqlx "ward-client never touches the database"
exit $fail
