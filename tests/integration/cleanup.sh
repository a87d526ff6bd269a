#!/usr/bin/env bash
# Stops any PostgreSQL, Redis, HAProxy, Tern service or Postfix that an integration test
# started under a tern-test-* temporary directory and failed to stop (a crash, a kill -9 of
# the test binary).
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
# HAProxy and the Tern services of a with_cluster.sh cluster (deploy/local/run.sh writes
# their pids); the command line is checked so that a pid used again by now is left alone.
for pid_file in "$tmp"/tern-test-*/var/run/*.pid; do
  [ -f "$pid_file" ] || continue
  pid=$(cat "$pid_file")
  case "$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline")" in
    haproxy\ *|*/tern-[a-z]*d\ *) ;;
    *) continue ;;
  esac
  echo "cleanup: stopping leftover $(basename "$pid_file" .pid) $pid ($pid_file)"
  kill -TERM "$pid" 2>/dev/null || true
done
for config in "$tmp"/tern-test-postfix.*/postfix/etc; do
  [ -d "$config" ] || continue
  echo "cleanup: stopping leftover postfix ($config)"
  postfix -c "$config" abort >/dev/null 2>&1 || true
done
exit 0
