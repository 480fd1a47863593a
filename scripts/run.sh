#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `make run`: starts an all-in-one Kumo cloud on this machine — kumod with
# its embedded SQLite store and one local kumo-agent — and prints where to
# find it. State lives in .run/ (KUMO_RUN_DIR) and survives restarts.
set -euo pipefail
cd "$(dirname "$0")/.."

RUN=${KUMO_RUN_DIR:-$PWD/.run}
LISTEN=${KUMO_LISTEN:-127.0.0.1:8080}
DRIVER=${KUMO_DRIVER:-sim}
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
	echo "Kumo stopped."
	exit 0
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
	--data-dir "$RUN/agent" --driver "$DRIVER" --name "$(hostname)" >>"$RUN/agent.log" 2>&1 &
echo $! >"$RUN/agent.pid"
sleep 1
if ! kill -0 "$(cat "$RUN/agent.pid")" 2>/dev/null; then
	echo "kumo-agent failed to start; see $RUN/agent.log:" >&2
	tail -n 20 "$RUN/agent.log" >&2
	exit 1
fi

cat <<MSG

Kumo is running.

  API:             $URL/v1   (OpenAPI: $URL/v1/openapi.json)
  admin password:  $RUN/kumod/admin.password   (mode 0600)
  logs:            $RUN/kumod.log, $RUN/agent.log
  agent driver:    $DRIVER$( [ "$DRIVER" = sim ] && echo " — simulated hosts: the qemu driver is not built yet, so VMs here are simulated")

Try:
  ./build/kumo login --url $URL --account admin --user admin --password-file $RUN/kumod/admin.password
  ./build/kumo host list

Stop it with: bash scripts/run.sh stop
MSG
