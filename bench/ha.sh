#!/usr/bin/env bash
# See bench/ha.py for what this measures and its target.
# usage: bench/ha.sh [ROUNDS]   (default 3)
set -euo pipefail
cd "$(dirname "$0")"
export KUMO_BUILD="${KUMO_BUILD:-$(cd .. && pwd)/${BUILD:-build}}"
exec /usr/bin/python3 ha.py "$@"
