#!/bin/sh
# Makes a ClickHouse server answer on http://127.0.0.1:8123 for the driver tests.
# Idempotent: installs Debian's clickhouse-server only if missing, starts it only
# if /ping does not answer. No systemd in the CI container, so it is started with
# start-stop-daemon as the package's init script does (as user clickhouse).
set -eu

URL=http://127.0.0.1:8123/ping
ping_ok() { curl -fsS -m 2 "$URL" >/dev/null 2>&1; }

# Test users for the driver tests (loopback only): dsb_ro has the readonly=1
# profile (may not send settings), dsb_rw a password. The server re-reads
# users.d by itself within a few seconds, so this works while it runs too.
write_users() {
  mkdir -p /etc/clickhouse-server/users.d
  f=/etc/clickhouse-server/users.d/dsb-test-users.xml
  [ -f "$f" ] && return 0
  cat >"$f" <<'XML'
<?xml version="1.0"?>
<yandex>
  <users>
    <dsb_ro>
      <password>dsb-ro-Pw-1</password>
      <networks><ip>::1</ip><ip>127.0.0.1</ip></networks>
      <profile>readonly</profile>
      <quota>default</quota>
    </dsb_ro>
    <dsb_rw>
      <password>dsb-rw-Pw-1</password>
      <networks><ip>::1</ip><ip>127.0.0.1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </dsb_rw>
  </users>
</yandex>
XML
  chown -R clickhouse:clickhouse /etc/clickhouse-server/users.d 2>/dev/null || true
}

if ping_ok; then write_users; echo "clickhouse: already running"; exit 0; fi

if ! command -v clickhouse-server >/dev/null 2>&1; then
  echo "clickhouse: installing clickhouse-server (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq clickhouse-server clickhouse-client >/dev/null
fi

write_users
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
