#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the Debian packages that Kumo's build, `make run` and `make test`
# need. Idempotent and quick when everything is present: it asks dpkg first
# and only calls apt-get for what is missing.
set -euo pipefail

PKGS=(
	build-essential pkg-config clang clang-format libclang-rt-14-dev
	libmicrohttpd-dev libjansson-dev libsqlite3-dev libsodium-dev
	libinih-dev uuid-dev libcurl4-openssl-dev libcmocka-dev
	python3 python3-pytest python3-requests
	sqlite3 curl wrk nginx-light
	qemu-system-x86 qemu-utils dnsmasq-base nftables iproute2 iputils-ping iperf3
	cpio kmod mtools dosfstools syslinux syslinux-common genisoimage
	libgnutls28-dev redfishtool python3-sushy python3-jsonschema openipmi ipmitool
)

missing=()
for p in "${PKGS[@]}"; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$st" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; then
	$SUDO apt-get update -qq
	$SUDO apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
fi
