#!/bin/sh
# Makes a ClickHouse server answer on http://127.0.0.1:8123 for the driver tests.
# Idempotent: installs Debian's clickhouse-server only if missing, starts it only
# if /ping does not answer. No systemd in the CI container, so it is started with
# start-stop-daemon as the package's init script does (as user clickhouse).
set -eu

URL=http://127.0.0.1:8123/ping
ping_ok() { curl -fsS -m 2 "$URL" >/dev/null 2>&1; }

if ping_ok; then echo "clickhouse: already running"; exit 0; fi

if ! command -v clickhouse-server >/dev/null 2>&1; then
  echo "clickhouse: installing clickhouse-server (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq clickhouse-server clickhouse-client >/dev/null
fi

mkdir -p /var/lib/clickhouse /var/log/clickhouse-server
chown -R clickhouse:clickhouse /var/lib/clickhouse /var/log/clickhouse-server 2>/dev/null || true

echo "clickhouse: starting server"
start-stop-daemon --start --quiet --background --chuid clickhouse:clickhouse \
  --exec /usr/sbin/clickhouse-server -- --config=/etc/clickhouse-server/config.xml

i=0
until ping_ok; do
  i=$((i + 1))
  if [ "$i" -ge 150 ]; then
    echo "clickhouse: no answer on $URL after 30 s; see /var/log/clickhouse-server/clickhouse-server.err.log" >&2
    tail -n 20 /var/log/clickhouse-server/clickhouse-server.err.log >&2 || true
    exit 1
  fi
  sleep 0.2
done
echo "clickhouse: ready on 127.0.0.1:8123"
