#!/usr/bin/env bash
# Makes sure a Redis server answers on 127.0.0.1:6379 for the rate-limiter tests, and that the
# `redis-server` binary is there (the fallback tests start throwaway servers of their own):
# installs Redis from Debian's packages if it is missing, starts an ephemeral server (no
# persistence) if none answers, and fails loudly if it still cannot reach it.
set -euo pipefail

host=127.0.0.1
port=6379

ready() { redis-cli -h "$host" -p "$port" ping 2>/dev/null | grep -q PONG; }

if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  echo "ensure-redis: Redis is not installed; installing it from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq redis-server >/dev/null
fi

if ! ready; then
  echo "ensure-redis: starting redis-server on $host:$port"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind "$host" -::1 --port "$port" --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi

for _ in $(seq 1 30); do
  ready && break
  sleep 1
done

if ! ready; then
  echo "ensure-redis: Redis does not answer on $host:$port" >&2
  exit 1
fi
echo "ensure-redis: Redis answers on $host:$port"
