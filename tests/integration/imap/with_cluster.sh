#!/usr/bin/env bash
# Runs client test scripts against a fresh local cluster (deploy/local/run.sh: PostgreSQL,
# Redis, authd, metad, blobd, imapd) on ports shifted by an offset, then stops it.
#
#   with_cluster.sh BUILD_DIR SCRIPT [SCRIPT...]
#
# Each script runs with the cluster's coordinates in its environment:
#   IMAP_PORT IMAPS_PORT TERN_CA (CA bundle for the IMAPS certificate) TERN_VAR
#   TERNCTL (ternctl with the admin environment) NEW_USER (a script that creates a fresh
#   user and prints "address password").
set -euo pipefail
build=$(cd "$1" && pwd)
shift
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tern-test-imap.XXXXXX")
chmod 755 "$tmp"  # PostgreSQL runs as its own user
# Ports away from the defaults, below the ephemeral range, distinct per run.
off=$((12000 + ($$ % 400) * 10))
log="$tmp/run.log"
# OAUTHBEARER: an issuer whose RSA key the tests hold, so they can sign tokens (RFC 7628).
openssl genrsa -out "$tmp/oauth.key" 2048 2>/dev/null
{ echo "kid: test1"; openssl rsa -in "$tmp/oauth.key" -pubout 2>/dev/null; } >"$tmp/oauth.pub"
export TERN_OAUTH_ISSUER=https://issuer.tern.test TERN_OAUTH_KEYS_FILE="$tmp/oauth.pub"
export TEST_OAUTH_KEY="$tmp/oauth.key" TEST_OAUTH_KID=test1
# Short pre-login autologout so a test can watch it; front-ends on every interface so a test
# can connect from a non-loopback address (where plaintext login is refused).
export TERN_IMAP_LOGIN_TIMEOUT=${TERN_IMAP_LOGIN_TIMEOUT:-5s}
export TERN_LOCAL_LISTEN=${TERN_LOCAL_LISTEN:-0.0.0.0}
TERN_VAR="$tmp/var" TERN_PORT_OFFSET=$off "$root/deploy/local/run.sh" "$build" >"$log" 2>&1 &
run_pid=$!
cleanup() {
  kill -TERM "$run_pid" 2>/dev/null || true
  wait "$run_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

for _ in $(seq 600); do
  grep -q 'tern-local: ready' "$log" && break
  if ! kill -0 "$run_pid" 2>/dev/null; then
    echo "the local cluster did not start:"; cat "$log"; exit 1
  fi
  sleep 0.2
done
grep -q 'tern-local: ready' "$log" || { echo "timeout starting the cluster"; cat "$log"; exit 1; }

v="$tmp/var"
export IMAP_PORT=$((1143 + off)) IMAPS_PORT=$((1993 + off)) TERN_CA="$v/tls/ca.pem" TERN_VAR="$v"
export IMAPD_HTTP=$((9104 + off))
# What a test needs to start another tern-imapd against the same cluster.
export IMAPD_BIN="$build/services/imap/server/tern-imapd"
export TEST_AUTHD_ADDR=127.0.0.1:$((7001 + off)) TEST_METAD_ADDR=127.0.0.1:$((7002 + off))
export TEST_BLOBD_ADDR=127.0.0.1:$((7003 + off)) TEST_REDIS_ADDR=127.0.0.1:$((16379 + off))
ctl_env="TERN_AUTHD_ADDR=127.0.0.1:$((7001 + off)) TERN_METAD_ADDR=127.0.0.1:$((7002 + off))"
ctl_env+=" TERN_BLOBD_ADDR=127.0.0.1:$((7003 + off)) TERN_ADMIN_TOKEN_FILE=$v/secrets/admin.token"
ctl_env+=" TERN_TOKEN_KEY_FILE=$v/secrets/token.key TERN_SERVICE_TOKEN_FILE=$v/secrets/service.token"
ctl_env+=" TERN_GRPC_TLS_CERT=$v/tls/tern.pem TERN_GRPC_TLS_KEY=$v/tls/tern.key TERN_GRPC_TLS_CA=$v/tls/ca.pem"
cat >"$tmp/ternctl" <<SH
#!/usr/bin/env bash
exec env $ctl_env "$build/services/ctl/ternctl" "\$@"
SH
cat >"$tmp/new_user" <<'SH'
#!/usr/bin/env bash
# Creates a fresh user; prints "address password".
set -euo pipefail
addr="u$(date +%s%N)$RANDOM@example.test"
pass="pw-$RANDOM$RANDOM"
echo "$pass" | "$TERNCTL" user add "$addr" --password-stdin >/dev/null
echo "$addr $pass"
SH
chmod +x "$tmp/ternctl" "$tmp/new_user"
export TERNCTL="$tmp/ternctl" NEW_USER="$tmp/new_user"

status=0
for script in "$@"; do
  echo "=== $script"
  if ! "$script"; then
    echo "=== FAILED: $script"
    status=1
  fi
done
if [ $status -ne 0 ]; then
  echo "--- tern-imapd log (last 80 lines)"
  tail -n 80 "$v/log/tern-imapd.log" || true
fi
exit $status
