#!/usr/bin/env bash
# See bench/thermal.py for what this measures: the thermal controller beside a
# plain on/off thermostat over the three simulated 24-hour profiles.
# usage: bench/thermal.sh [PROFILE...]
set -euo pipefail
cd "$(dirname "$0")"
exec /usr/bin/python3 thermal.py "$@"
