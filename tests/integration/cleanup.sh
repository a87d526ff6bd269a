#!/usr/bin/env bash
# Stops any PostgreSQL, Redis or Postfix that an integration test started under a tern-test-*
# temporary directory and failed to stop (a crash, a kill -9 of the test binary).
tmp=${TMPDIR:-/tmp}
for pid_file in "$tmp"/tern-test-*/pg/data/postmaster.pid "$tmp"/tern-test-*/var/pg/data/postmaster.pid; do
  [ -f "$pid_file" ] || continue
  pid=$(head -n 1 "$pid_file")
  echo "cleanup: stopping leftover postgres $pid ($pid_file)"
  kill -INT "$pid" 2>/dev/null || true
done
for pid_file in "$tmp"/tern-test-*/redis.pid "$tmp"/tern-test-*/var/redis/redis.pid; do
  [ -f "$pid_file" ] || continue
  pid=$(cat "$pid_file")
  echo "cleanup: stopping leftover redis $pid ($pid_file)"
  kill -TERM "$pid" 2>/dev/null || true
done
for config in "$tmp"/tern-test-postfix.*/postfix/etc; do
  [ -d "$config" ] || continue
  echo "cleanup: stopping leftover postfix ($config)"
  postfix -c "$config" abort >/dev/null 2>&1 || true
done
exit 0
