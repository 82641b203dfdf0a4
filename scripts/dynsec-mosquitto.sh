#!/usr/bin/env bash
# Runs a Mosquitto 2 with the dynamic-security plugin in the foreground, for tests and CI:
#   scripts/dynsec-mosquitto.sh <port> <work-dir> <admin-user> <admin-password>
# Creates <work-dir>/dynamic-security.json with one admin client (mosquitto_ctrl dynsec init) and
# <work-dir>/mosquitto.conf listening on 127.0.0.1:<port>, anonymous access off. Then:
#   DOPPEL_TEST_DYNSEC_URL=mqtt://127.0.0.1:<port> DOPPEL_TEST_DYNSEC_ADMIN_USER=<admin-user> \
#   DOPPEL_TEST_DYNSEC_ADMIN_PASSWORD=<admin-password> npx vitest run test/e2e/dynsec.test.ts
set -euo pipefail
PORT="$1"; DIR="$2"; ADMIN="$3"; PASSWORD="$4"
MOSQUITTO_BIN="$(command -v mosquitto || echo /usr/sbin/mosquitto)"
PLUGIN="${DYNSEC_PLUGIN:-$(ls /usr/lib/*/mosquitto_dynamic_security.so /usr/lib/mosquitto_dynamic_security.so 2>/dev/null | head -1 || true)}"
if [ -z "$PLUGIN" ]; then echo "mosquitto_dynamic_security.so not found (set DYNSEC_PLUGIN)" >&2; exit 1; fi
mkdir -p "$DIR"
rm -f "$DIR/dynamic-security.json"
mosquitto_ctrl dynsec init "$DIR/dynamic-security.json" "$ADMIN" "$PASSWORD" >/dev/null
cat > "$DIR/mosquitto.conf" <<CONF
listener $PORT 127.0.0.1
allow_anonymous false
persistence false
# Started as root, Mosquitto drops to the "mosquitto" user, which cannot read a private (mktemp -d)
# directory: keep running as whoever started it.
user $(id -un)
# The default (1000) silently drops QoS 1 messages queued for a slow subscriber: never here.
max_queued_messages 0
max_inflight_messages 0
max_packet_size 1048576
plugin $PLUGIN
plugin_opt_config_file $DIR/dynamic-security.json
CONF
exec "$MOSQUITTO_BIN" -c "$DIR/mosquitto.conf"
