#!/usr/bin/env bash
# See bench/migrate.py for what this measures and its targets.
set -euo pipefail
cd "$(dirname "$0")"
exec /usr/bin/python3 migrate.py "$@"
