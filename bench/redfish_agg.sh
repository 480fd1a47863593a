#!/usr/bin/env bash
# See bench/redfish_agg.py for what this measures and its target.
set -euo pipefail
cd "$(dirname "$0")"
exec /usr/bin/python3 redfish_agg.py "$@"
