#!/usr/bin/env bash
# Keeps README.md true: every environment variable a binary declares (its --help) is listed.
set -u
build=$1
readme=$2
missing=0
for bin in services/auth/tern-authd services/metadata/tern-metad services/blob/tern-blobd \
           services/imap/server/tern-imapd services/pop3/server/tern-pop3d \
           services/lmtp/server/tern-lmtpd \
           services/ctl/ternctl; do
  for var in $("$build/$bin" --help | grep -oE 'TERN_[A-Z0-9_]+' | sort -u); do
    if ! grep -q "\`$var\`" "$readme"; then
      echo "README.md does not document $var ($bin)"
      missing=1
    fi
  done
done
[ $missing = 0 ] && echo "every setting is documented"
exit $missing
