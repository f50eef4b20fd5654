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

# Handlers (api/, pages/, proxy/) adapt HTTP to the service layer (ops/) and never import each
# other; ops/ imports no handler. oauth/ (the OAuth endpoints) is a handler too: it imports none
# of api/, pages/, proxy/, and none of them (nor ops/, nor html/) imports it; the rules it shares
# with them (client authentication, audiences, refresh) live in ops/. html/ (the page kit, which
# pages/ and oauth/ both draw with) imports no handler. `proxy::config` is configuration (the
# `[[routes]]` schema), not a handler. KNOWN lists the imports that predate this check, to be
# moved into ops/; the list may only shrink: a new cross import fails, and so does a listed one
# that is gone.
src=crates/ward-server/src
KNOWN=""
found=""
for from in api pages proxy ops oauth html; do
  for to in api pages proxy oauth; do
    [ "$from" = "$to" ] && continue
    for f in $(grep -rlE "crate::$to::|use crate::$to\b" "$src/$from" --include='*.rs' || true); do
      if grep -E "crate::$to::|use crate::$to\b" "$f" | grep -vE "^\s*//" | grep -qvE "crate::proxy::config"; then
        found="$found ${f#"$src/"}:$to"
      fi
    done
  done
done
for hit in $found; do
  if printf '%s\n' $KNOWN | grep -qxF "$hit"; then
    echo "known (to move into ops/): $hit"
  else
    echo "invariant broken: $hit (a handler or ops/ imports another handler; move the rule into ops/)"; fail=1
  fi
done
for k in $KNOWN; do
  if ! printf '%s\n' $found | grep -qxF "$k"; then
    echo "invariant list stale: $k no longer imports it; remove it from KNOWN in .ci/invariants.sh"; fail=1
  fi
done
[ $fail = 0 ] && echo "ok: handlers do not import each other"

# The CLI reads the API through ward-proto's types (cli::decode), never by JSON field lookup.
# (cli/credential/ speaks git's, kubectl's and docker's formats, not the ward API.)
lookups=$(grep -rnE '[]A-Za-z_)]\["[A-Za-z_]+"\]' crates/ward/src --include='*.rs' | grep -v 'cli/credential/' || true)
if [ -n "$lookups" ]; then
  echo "invariant broken: the CLI reads JSON fields by name; decode into a ward-proto type:"; echo "$lookups"; fail=1
else
  echo "ok: the CLI reads answers through ward-proto types"
fi
exit $fail
