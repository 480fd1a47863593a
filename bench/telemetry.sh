#!/usr/bin/env bash
# See bench/telemetry.py for what this measures.
# usage: bench/telemetry.sh [HOSTS [SAMPLES [N]]]   (defaults 20 60 2000)
set -euo pipefail
cd "$(dirname "$0")"
exec /usr/bin/python3 telemetry.py "$@"
