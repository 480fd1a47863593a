#!/usr/bin/env bash
# The DMTF Redfish-Service-Validator against an agent and kumod's aggregator:
# see bench/redfish_validate.py. usage: bench/redfish_validate.sh VALIDATOR_DIR
#   BUILD=dir  the build directory to make and use (default build)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -ne 1 ] || [ ! -f "$1/RedfishServiceValidator.py" ]; then
	echo "usage: bench/redfish_validate.sh /path/to/Redfish-Service-Validator" >&2
	exit 2
fi
BUILD="${BUILD:-build}"
make -j2 BUILD="$BUILD" all >/dev/null
KUMO_BUILD="$PWD/$BUILD" /usr/bin/python3 bench/redfish_validate.py "$1"
