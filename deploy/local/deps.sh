#!/usr/bin/env bash
# Installs exactly the Debian bookworm packages Tern needs to build, test and run locally.
# Idempotent and fast when everything is present: apt is only called for what is missing.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git
  # libraries (see the dependency table in README.md)
  libgrpc++-dev protobuf-compiler-grpc protobuf-compiler libprotobuf-dev libabsl-dev
  libssl-dev libpqxx-dev libhiredis-dev prometheus-cpp-dev libgtest-dev libgmock-dev
  libargon2-dev libasio-dev nlohmann-json3-dev
  # servers and tools the local cluster and the tests start
  postgresql redis-server openssl curl ca-certificates python3 util-linux procps hostname
  # the TCP load balancer in front of the front-end replicas (make run REPLICAS=N); the
  # system service the package starts listens on nothing with Debian's configuration
  haproxy
  # real IMAP, POP3 and SMTP/LMTP clients and MTAs the integration tests drive (swaks speaks
  # TLS only with Net::SSLeay, a recommendation apt would skip here)
  isync offlineimap3 fetchmail getmail6 mpop postfix swaks libnet-ssleay-perl
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
  [ "${status:0:2}" = "ii" ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
# Postfix is only run by the tests, each instance with its own configuration directory. Its
# package would otherwise ask for a mail configuration type and, non-interactively, take
# "Internet Site": a system MTA listening on port 25. "No configuration" writes no
# /etc/postfix/main.cf, so neither the init script nor the systemd unit starts one.
if [[ " ${missing[*]} " == *" postfix "* ]]; then
  echo "postfix postfix/main_mailer_type select No configuration" | $sudo debconf-set-selections
fi
if ! $sudo apt-get install -y --no-install-recommends -o Dpkg::Options::=--force-confold "${missing[@]}"; then
  $sudo apt-get update
  $sudo apt-get install -y --no-install-recommends -o Dpkg::Options::=--force-confold "${missing[@]}"
fi
