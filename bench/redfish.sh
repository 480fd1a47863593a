#!/usr/bin/env bash
# See bench/redfish.py for what this measures and its target.
# usage: bench/redfish.sh [SECONDS [ROUNDS]]   (defaults 10 1)
set -euo pipefail
cd "$(dirname "$0")"
exec /usr/bin/python3 redfish.py "$@"
