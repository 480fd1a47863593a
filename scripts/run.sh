#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `make run`: starts an all-in-one Kumo cloud on this machine — kumod with
# its embedded SQLite store and one local kumo-agent with the qemu driver —
# registers the demo image (built by tests/images/build.sh, cached) and an
# offering, and prints where to find it. State lives in .run/
# (KUMO_RUN_DIR) and survives restarts. KUMO_DRIVER=sim runs simulated
# hosts instead.
set -euo pipefail
cd "$(dirname "$0")/.."

RUN=${KUMO_RUN_DIR:-$PWD/.run}
LISTEN=${KUMO_LISTEN:-127.0.0.1:8080}
DRIVER=${KUMO_DRIVER:-qemu}
URL="http://$LISTEN"
mkdir -p "$RUN"
chmod 700 "$RUN"

stop_pid() {
	local f=$1
	if [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; then
		kill "$(cat "$f")" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$(cat "$f")" 2>/dev/null || break; sleep 0.1; done
	fi
	rm -f "$f"
}

if [ "${1:-}" = "stop" ]; then
	stop_pid "$RUN/agent.pid"
	stop_pid "$RUN/kumod.pid"
	echo "Kumo stopped. VMs keep running (the agent reattaches to them when it starts"
	echo "again); to end them first: kumo vm delete NAME, before the stop."
	exit 0
fi

if [ "$DRIVER" = qemu ]; then
	echo "building the demo guest image (cached after the first time)..." >&2
	IMAGE_DIR=$(bash tests/images/build.sh)
fi

stop_pid "$RUN/agent.pid"
stop_pid "$RUN/kumod.pid"

./build/kumod --listen "$LISTEN" --data-dir "$RUN/kumod" >>"$RUN/kumod.log" 2>&1 &
echo $! >"$RUN/kumod.pid"
for _ in $(seq 100); do
	curl -sf "$URL/healthz" >/dev/null 2>&1 && break
	if ! kill -0 "$(cat "$RUN/kumod.pid")" 2>/dev/null; then
		echo "kumod failed to start; see $RUN/kumod.log:" >&2
		tail -n 20 "$RUN/kumod.log" >&2
		exit 1
	fi
	sleep 0.1
done

./build/kumo-agent --server "$URL" --join-token-file "$RUN/kumod/join.token" \
	--data-dir "$RUN/agent" --driver "$DRIVER" --name "$(hostname)" \
	--redfish-listen "127.0.0.1:${KUMO_REDFISH_PORT:-8443}" >>"$RUN/agent.log" 2>&1 &
echo $! >"$RUN/agent.pid"
sleep 1
if ! kill -0 "$(cat "$RUN/agent.pid")" 2>/dev/null; then
	echo "kumo-agent failed to start; see $RUN/agent.log:" >&2
	tail -n 20 "$RUN/agent.log" >&2
	exit 1
fi

KUMO="./build/kumo"
export KUMO_CONFIG_DIR="$RUN/cli"
export KUMO_URL="$URL"
if ! "$KUMO" whoami >/dev/null 2>&1; then
	"$KUMO" login --account admin --user admin \
		--password-file "$RUN/kumod/admin.password" >/dev/null
fi
for _ in $(seq 100); do
	"$KUMO" host list -o json 2>/dev/null | grep -q '"status": *"connected"' && break
	sleep 0.1
done
if [ "$DRIVER" = qemu ] && ! "$KUMO" image get demo >/dev/null 2>&1; then
	"$KUMO" image upload "$IMAGE_DIR/demo.qcow2" --name demo --format qcow2 \
		--visibility public >/dev/null
fi
if [ "$DRIVER" = sim ] && ! "$KUMO" image get demo >/dev/null 2>&1; then
	qemu-img create -q -f qcow2 "$RUN/empty.qcow2" 16M
	"$KUMO" image upload "$RUN/empty.qcow2" --name demo --format qcow2 \
		--visibility public >/dev/null
fi
if ! "$KUMO" offering get small >/dev/null 2>&1; then
	"$KUMO" offering create --name small --vcpus 1 --memory-mb 256 \
		--root-disk-gb 1 >/dev/null
fi
unset KUMO_CONFIG_DIR KUMO_URL

cat <<MSG

Kumo is running.

  API:             $URL/v1   (OpenAPI: $URL/v1/openapi.json)
  admin password:  $RUN/kumod/admin.password   (mode 0600)
  logs:            $RUN/kumod.log, $RUN/agent.log
  agent driver:    $DRIVER$( [ "$DRIVER" = sim ] && echo " (simulated hosts: VMs here are not real)")
  image, offering: demo, small
  Redfish (node):  https://127.0.0.1:${KUMO_REDFISH_PORT:-8443}/redfish/v1   user admin, password in
                   $RUN/agent/redfish/admin-password; certificate $RUN/agent/redfish/tls-cert.pem
  Redfish (fleet): $URL/redfish/v1   (kumod's admin user and password)

Try:
  ./build/kumo login --url $URL --account admin --user admin --password-file $RUN/kumod/admin.password
  ./build/kumo vm create --name demo1 --image demo --offering small --wait
  ./build/kumo vm console demo1
  ./build/kumo host sensors $(hostname)
  curl --cacert $RUN/agent/redfish/tls-cert.pem -u admin:\$(cat $RUN/agent/redfish/admin-password) \\
       https://127.0.0.1:${KUMO_REDFISH_PORT:-8443}/redfish/v1/Chassis/box/Sensors/CoolantTemp

Stop it with: bash scripts/run.sh stop
MSG
