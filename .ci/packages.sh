#!/usr/bin/env bash
# Installs what the tests drive besides Rust: headless Chromium and ChromeDriver (browser
# tests), Python 3 (an independent TOTP implementation) and its venv (Schemathesis), pg_dump,
# nginx (forward-auth), git, kubectl and hyperfine (credential helpers), and the npm packages
# of the test OpenID provider. Each is installed only when missing.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
command -v python3 >/dev/null 2>&1 || need+=(python3)
# A venv for Schemathesis (.ci/schemathesis.sh); Debian's python3 ships it apart.
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
command -v pg_dump >/dev/null 2>&1 || need+=(postgresql-client)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v node >/dev/null 2>&1 || need+=(nodejs npm)
# The credential helpers' tests drive the real git (http-backend included) and kubectl;
# hyperfine measures `ward credential kube` (docs/cli.md).
command -v git >/dev/null 2>&1 || need+=(git)
command -v kubectl >/dev/null 2>&1 || need+=(kubernetes-client)
command -v hyperfine >/dev/null 2>&1 || need+=(hyperfine)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
(cd crates/ward-server/tests/oidc-provider && npm ci --no-audit --no-fund --loglevel=error)
