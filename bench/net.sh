#!/usr/bin/env bash
# See bench/net.py for what this measures and its targets.
# usage: bench/net.sh [SECONDS [ROUNDS]]   (defaults 1 30)
#   BUILD=dir  the build directory to make and use (default build)
# Needs root: everything happens in network namespaces it creates (kb<pid>-*)
# and deletes at exit; the machine's own namespace is not touched.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
	echo "bench/net.sh: needs root (network namespaces, bridges, nftables)" >&2
	exit 1
fi
missing=
for t in ip bridge nft tc iperf3 ping ss dnsmasq nsenter timeout; do
	command -v "$t" >/dev/null 2>&1 || missing="$missing $t"
done
if [ -n "$missing" ]; then
	echo "bench/net.sh: missing tools:$missing (make deps)" >&2
	exit 1
fi
BUILD="${BUILD:-build}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! make -j2 BUILD="$BUILD" all >"$log" 2>&1; then
	tail -n 30 "$log" >&2
	echo "bench/net.sh: the build failed" >&2
	exit 1
fi
KUMO_BUILD="$PWD/$BUILD" /usr/bin/python3 bench/net.py "$@"
