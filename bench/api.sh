#!/usr/bin/env bash
# See bench/api.py for what this measures and its targets.
# usage: bench/api.sh [SECONDS [VMS [ROUNDS]]]   (defaults 10 10000 1)
set -euo pipefail
cd "$(dirname "$0")"
exec /usr/bin/python3 api.py "$@"
