#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Builds Kumo's demo guest image from Debian packages only: the kernel of
# linux-image-cloud-amd64, busybox-static, and the guest userspace in
# tests/images/guest/ (busybox init + /sbin/kumo-guest) as the initramfs.
#
#   tests/images/build.sh [OUTDIR]
#
# OUTDIR (default ${KUMO_IMAGE_CACHE:-$HOME/.cache/kumo/images}) receives
# vmlinuz, initrd.img, cmdline, demo.qcow2 (the same kernel and initrd behind
# syslinux on a partitionless FAT disk, bootable by SeaBIOS) and
# manifest.json. The result is cached: a stamp holds a hash of this script,
# the guest/ tree and the package versions, and a run that finds it current
# only prints OUTDIR. Progress goes to stderr; the one line on stdout is
# OUTDIR, so `dir=$(tests/images/build.sh)` works.
#
# Needs no root, no loop devices and no mounts; the tools come from
# scripts/deps.sh (cpio, kmod, mtools, dosfstools, syslinux, qemu-utils).
set -euo pipefail

KERNEL_META=linux-image-cloud-amd64
BUSYBOX_PKG=busybox-static
# Modules the guest loads, in this order, with their dependencies: virtio
# disks and NIC, vfat (with its code pages) and iso9660 for the NoCloud
# seed, the ACPI power button and evdev so busybox acpid can see it.
MODULES=(virtio_pci virtio_blk virtio_net nls_cp437 nls_ascii nls_utf8 vfat isofs
	button evdev)
# quiet: serial output is slow under TCG; mitigations=off and
# cryptomgr.notests save a few hundred ms of boot there (it is a test guest).
# Not acpi=noirq: it saves ~0.2 s per PCI device on -machine pc (no AML run
# for the IRQ links), but breaks interrupts and hot-unplug on q35.
CMDLINE="console=ttyS0 quiet panic=-1 mitigations=off cryptomgr.notests"
FILES=(vmlinuz initrd.img cmdline demo.qcow2 manifest.json)

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec 3>&1 1>&2 # stdout is for the result only

log() { echo "images: $*"; }
die() {
	echo "images: error: $*"
	exit 1
}

out=${1:-${KUMO_IMAGE_CACHE:-$HOME/.cache/kumo/images}}
mkdir -p "$out" || die "cannot create $out"
out=$(cd "$out" && pwd)

# ---- what would be built: the cache key ----
# The stamp holds two keys. "inputs" hashes this script, guest/ and the
# state of apt's package lists and sources: it is cheap, and when it matches
# nothing can have changed. apt-cache is slow (often ~1 s: containers tend to
# run without its binary cache), so it is asked only when "inputs" differs;
# "build" then adds the package versions it resolves, and a rebuild happens
# only when that differs too.

src=$({
	sha256sum "$here/build.sh"
	cd "$here"
	find guest \( -type f -o -type l \) -printf '%p %m\n' | LC_ALL=C sort
	find guest -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
} | sha256sum | cut -d' ' -f1)
inputs=$({
	echo "$src"
	find /var/lib/apt/lists /etc/apt/sources.list /etc/apt/sources.list.d \
		/etc/apt/preferences /etc/apt/preferences.d -maxdepth 1 -type f \
		-printf '%p %s %T@\n' 2>/dev/null | LC_ALL=C sort || true
} | sha256sum | cut -d' ' -f1)

stamp_get() { sed -n "s/^$1=//p" "$out/.stamp" 2>/dev/null; }

files_present() {
	local f
	for f in "${FILES[@]}"; do [ -s "$out/$f" ] || return 1; done
}

if [ "$(stamp_get inputs)" = "$inputs" ] && files_present; then
	echo "$out" >&3
	exit 0
fi

kpkg=$(apt-cache depends "$KERNEL_META" 2>/dev/null |
	awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }') || true
[ -n "$kpkg" ] || die "apt-cache cannot resolve $KERNEL_META to a kernel package" \
	"(is the apt cache filled? try: apt-get update)"
pkginfo=$(apt-cache show --no-all-versions "$kpkg" "$BUSYBOX_PKG" 2>/dev/null |
	awk '/^Package:/ { p = $2 } /^Version:/ { print p, $2 }') || true
kver=$(awk -v p="$kpkg" '$1 == p { print $2 }' <<<"$pkginfo")
bbver=$(awk -v p="$BUSYBOX_PKG" '$1 == p { print $2 }' <<<"$pkginfo")
[ -n "$kver" ] && [ -n "$bbver" ] || die "apt-cache has no version of $kpkg or $BUSYBOX_PKG"
key=$(echo "$src $kpkg=$kver $BUSYBOX_PKG=$bbver" | sha256sum | cut -d' ' -f1)

write_stamp() {
	printf 'inputs=%s\nbuild=%s\n' "$inputs" "$key" >"$out/.stamp.$$"
	mv -f "$out/.stamp.$$" "$out/.stamp"
}

# cached: the files are there and were built from the same script, guest/
# and package versions; the stamp is brought up to date.
cached() {
	[ "$(stamp_get build)" = "$key" ] && files_present || return 1
	[ "$(stamp_get inputs)" = "$inputs" ] || write_stamp
}

if cached; then
	echo "$out" >&3
	exit 0
fi

# ---- build, one builder at a time per OUTDIR ----

missing=
for tool in apt-get dpkg-deb depmod modprobe cpio gzip mkfs.vfat mcopy syslinux qemu-img \
	flock sha256sum; do
	command -v "$tool" >/dev/null || missing+=" $tool"
done
[ -z "$missing" ] || die "missing tools:$missing (run: bash scripts/deps.sh)"

exec 9>"$out/.lock"
flock 9
if cached; then # another builder finished while we waited
	echo "$out" >&3
	exit 0
fi

rm -rf "$out"/.build.* # left by a builder that was killed; we hold the lock
tmp=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
cd "$tmp"

log "downloading $kpkg $kver and $BUSYBOX_PKG $bbver with apt-get"
sandbox=()
[ "$(id -u)" -ne 0 ] || sandbox=(-o APT::Sandbox::User=root)
apt-get -q=2 "${sandbox[@]}" download "$kpkg=$kver" "$BUSYBOX_PKG=$bbver" ||
	die "apt-get download failed (try: apt-get update)"
dpkg-deb -x "$kpkg"_*.deb kernel
dpkg-deb -x "$BUSYBOX_PKG"_*.deb busybox

kv=$(ls kernel/lib/modules)
[ "$(wc -w <<<"$kv")" -eq 1 ] || die "$kpkg has no single /lib/modules/<version>"
[ -f "kernel/boot/vmlinuz-$kv" ] || die "$kpkg has no /boot/vmlinuz-$kv"
bb=busybox/bin/busybox
[ -x "$bb" ] || die "$BUSYBOX_PKG has no /bin/busybox"

log "assembling the initramfs for $kv"
root=$tmp/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,run,tmp,mnt,root/.ssh,etc/kumo}
chmod 0700 "$root/root" "$root/root/.ssh"
chmod 1777 "$root/tmp"
cp "$bb" "$root/bin/busybox"
"$bb" --list-full | while read -r applet; do
	[ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done
cp -R "$here/guest/." "$root/"
chmod 0600 "$root/etc/shadow"
chmod 0755 "$root/init" "$root/sbin/kumo-guest" "$root/etc/acpi/PWRF/00000080" \
	"$root/etc/udhcpc/default.script"

depmod -b "$tmp/kernel" "$kv"
mdir=lib/modules/$kv
mkdir -p "$root/$mdir"
for m in "${MODULES[@]}"; do
	modprobe -d "$tmp/kernel" -S "$kv" --show-depends "$m" ||
		die "module $m not found in $kpkg"
done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }' >modules.paths
: >"$root/etc/kumo/modules"
while read -r path; do
	rel=${path#"$tmp/kernel/$mdir/"}
	mkdir -p "$root/$mdir/$(dirname "$rel")"
	cp "$path" "$root/$mdir/$rel"
	echo "$rel" >>"$root/etc/kumo/modules"
done <modules.paths
cp "kernel/$mdir"/modules.{order,builtin,builtin.modinfo} "$root/$mdir/"
depmod -b "$root" "$kv"
log "modules: $(sed 's|.*/||; s|\.ko$||' "$root/etc/kumo/modules" | tr '\n' ' ')"

mkdir -p img
cp "kernel/boot/vmlinuz-$kv" img/vmlinuz
find "$root" -exec touch -h -d @0 {} +
(cd "$root" && find . -print0 | LC_ALL=C sort -z |
	cpio --null --create --format=newc --owner=0:0 --reproducible --quiet) |
	gzip -9n >img/initrd.img
echo "$CMDLINE" >img/cmdline

log "making demo.qcow2 (syslinux on FAT)"
cat >syslinux.cfg <<EOF
DEFAULT kumo
PROMPT 0
TIMEOUT 0
LABEL kumo
  LINUX /vmlinuz
  INITRD /initrd.img
  APPEND $CMDLINE
EOF
kib=$((($(stat -c %s img/vmlinuz) + $(stat -c %s img/initrd.img)) / 1024 + 2048))
kib=$(((kib + 1023) / 1024 * 1024))
# --invariant and SOURCE_DATE_EPOCH (mtools) make the disk reproducible.
mkfs.vfat -C -n KUMODEMO --invariant disk.raw "$kib" >/dev/null
export SOURCE_DATE_EPOCH=946684800 MTOOLS_SKIP_CHECK=1
mcopy -i disk.raw img/vmlinuz img/initrd.img syslinux.cfg ::/
syslinux --install disk.raw
qemu-img convert -f raw -O qcow2 disk.raw img/demo.qcow2

file_json() { # name format
	printf '    {"name": "%s", "format": "%s", "size": %s, "sha256": "%s"}' "$1" "$2" \
		"$(stat -c %s "img/$1")" "$(sha256sum "img/$1" | cut -d' ' -f1)"
}
case "$CMDLINE" in *[\"\\]*) die "CMDLINE must not hold quotes or backslashes" ;; esac
{
	echo '{'
	echo '  "name": "kumo-demo",'
	echo '  "arch": "x86_64",'
	echo "  \"kernel_version\": \"$kv\","
	echo "  \"packages\": {\"$kpkg\": \"$kver\", \"$BUSYBOX_PKG\": \"$bbver\"},"
	echo "  \"cmdline\": \"$CMDLINE\","
	echo "  \"disk_virtual_size\": $((kib * 1024)),"
	echo '  "files": ['
	file_json vmlinuz kernel
	echo ','
	file_json initrd.img initrd
	echo ','
	file_json cmdline text
	echo ','
	file_json demo.qcow2 qcow2
	echo
	echo '  ],'
	echo "  \"build_key\": \"$key\""
	echo '}'
} >img/manifest.json

# Publish: each file appears whole (rename), and the stamp only after all
# of them, so an interrupted run leaves no stamp and the next one rebuilds.
rm -f "$out/.stamp"
for f in "${FILES[@]}"; do mv -f "img/$f" "$out/$f"; done
write_stamp
log "built in $out: $(cd "$out" && du -h "${FILES[@]}" | awk '{ printf "%s %s  ", $2, $1 }')"
echo "$out" >&3
