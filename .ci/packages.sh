#!/usr/bin/env bash
# Installs what the tests drive besides Rust: headless Chromium and ChromeDriver (browser
# tests), Python 3 (an independent TOTP implementation), aiosmtpd (a real SMTP server for the
# mail tests) and Python's venv (Schemathesis), pg_dump, nginx and Caddy (forward-auth), Apache
# with mod_auth_openidc (a relying party), git, kubectl and hyperfine (credential helpers), and
# the npm packages of the test OpenID provider. Each is installed only when missing; with
# --check (not root) the missing ones are only named, and the script fails.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
command -v python3 >/dev/null 2>&1 || need+=(python3)
# A venv for Schemathesis (.ci/schemathesis.sh); Debian's python3 ships it apart.
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
# A real SMTP server for the mail tests (SPEC §2.14): aiosmtpd, started by the tests.
python3 -c 'import aiosmtpd' >/dev/null 2>&1 || need+=(python3-aiosmtpd)
command -v pg_dump >/dev/null 2>&1 || need+=(postgresql-client)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
command -v caddy >/dev/null 2>&1 || need+=(caddy)
# Apache with mod_auth_openidc: a real relying party of ward's OpenID provider.
[ -x /usr/sbin/apache2 ] || need+=(apache2)
[ -f /usr/lib/apache2/modules/mod_auth_openidc.so ] || need+=(libapache2-mod-auth-openidc)
command -v node >/dev/null 2>&1 || need+=(nodejs npm)
# The credential helpers' tests drive the real git (http-backend included) and kubectl;
# hyperfine measures `ward credential kube` (docs/cli.md).
command -v git >/dev/null 2>&1 || need+=(git)
command -v kubectl >/dev/null 2>&1 || need+=(kubernetes-client)
command -v hyperfine >/dev/null 2>&1 || need+=(hyperfine)
# SSH certificates (SPEC §2.17): a real sshd trusting ward's CA, and the real ssh client.
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
# Faults (issue 25): a private PostgreSQL to stop and start (Debian's server binaries, runuser
# from util-linux), and sqlite3's integrity check after a full disk.
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || need+=(postgresql)
command -v sqlite3 >/dev/null 2>&1 || need+=(sqlite3)
if [ ${#need[@]} -gt 0 ] && [ "${1:-}" = "--check" ]; then
  echo "missing Debian packages the tests drive: ${need[*]}" >&2
  echo "install them with: sudo apt-get install -y ${need[*]}   (or run the tests as root)" >&2
  exit 1
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
(cd crates/ward-server/tests/oidc-provider && npm ci --no-audit --no-fund --loglevel=error)
