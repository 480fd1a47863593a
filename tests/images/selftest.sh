#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Boots the demo guest from tests/images/build.sh under QEMU (TCG) and checks
# every behaviour Kumo relies on, from the serial log and over QMP:
#   a: kernel form, vfat cidata seed with a "#!" user-data script, a data
#      disk, user-mode NIC: hostname in the marker, KUMO-SEED, meta-data
#      public-keys, the script's output and KUMO-USERDATA exit=0, KUMO-NET (slirp DHCP), KUMO-DISKS on
#      virtio-blk hot-add and hot-remove, KUMO-UPTIME, system_powerdown.
#   b: disk form (demo.qcow2 under SeaBIOS), #cloud-config seed: hostname:
#      overrides local-hostname, KUMO-SSH-KEYS count=2, system_reset boots
#      again, system_powerdown sent right after that second marker.
#   c: kernel form on -machine q35, iso9660 cidata seed with JSON
#      meta-data, a #!/bin/bash user-data exiting 3, no NIC, hot-add and
#      hot-remove through a pcie-root-port, system_powerdown.
#
#   tests/images/selftest.sh [OUTDIR]     (OUTDIR as for build.sh)
#
# SELFTEST_KEEP=1 keeps the serial logs and seeds; QEMU= picks the binary.
# Prints one "ok:" line per check and the boot-to-marker times; exits 1 on
# the first failure, with the serial log of the VM that failed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
QEMU=${QEMU:-qemu-system-x86_64}
BOOT_TIMEOUT=${BOOT_TIMEOUT:-90} # seconds to the marker; TCG on a busy host
POWERDOWN_LIMIT=15               # seconds from system_powerdown to exit

img=$("$here/build.sh" "$@")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kumo-image-selftest.XXXXXX")
declare -A PID T0

cleanup() {
	local p
	for p in "${PID[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PID[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ -n "${SELFTEST_KEEP:-}" ]; then
		echo "selftest: logs kept in $tmp" >&2
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ms() { echo $(($(date +%s%N) / 1000000)); }
ok() { echo "selftest: ok: $*"; }
fail() {
	echo "selftest: FAIL: $*" >&2
	if [ -n "${cur:-}" ] && [ -f "$tmp/$cur.log" ]; then
		echo "---- serial log of vm $cur ----" >&2
		tr -d '\r' <"$tmp/$cur.log" >&2
		echo "----" >&2
	fi
	exit 1
}

# vm_start NAME QEMU-ARGS...: starts a VM with its serial console in
# $tmp/NAME.log and QMP on $tmp/NAME.qmp; NAME becomes the current VM.
vm_start() {
	cur=$1
	shift
	T0[$cur]=$(now_ms)
	"$QEMU" -accel tcg -nodefaults -display none -m 256 -smp 1 \
		-serial "file:$tmp/$cur.log" -qmp "unix:$tmp/$cur.qmp,server=on,wait=off" \
		"$@" </dev/null >"$tmp/$cur.out" 2>&1 &
	PID[$cur]=$!
}

running() {
	local st
	st=$(awk '{ print $3 }' "/proc/${PID[$cur]}/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

# log_count REGEX: how many lines of the current VM's log match.
log_count() { tr -d '\r' 2>/dev/null <"$tmp/$cur.log" | grep -cE "$1" || true; }

# wait_log REGEX [TIMEOUT [COUNT]]: waits until COUNT (default 1) lines of
# the current VM's serial log match REGEX.
wait_log() {
	local re=$1 limit=$(($(now_ms) + ${2:-30} * 1000)) want=${3:-1}
	while [ "$(log_count "$re")" -lt "$want" ]; do
		running || fail "vm $cur exited while waiting for /$re/: $(cat "$tmp/$cur.out")"
		[ "$(now_ms)" -lt "$limit" ] || fail "vm $cur: no /$re/ (x$want) within ${2:-30} s"
		sleep 0.05
	done
}

# wait_ready HOSTNAME FORM: waits for the marker, records the time.
wait_ready() {
	wait_log "KUMO-GUEST-READY hostname=" "$BOOT_TIMEOUT"
	local ms=$(($(now_ms) - ${T0[$cur]}))
	local line
	line=$(tr -d '\r' <"$tmp/$cur.log" | grep -m1 -o 'KUMO-GUEST-READY.*')
	[ "$line" = "KUMO-GUEST-READY hostname=$1" ] ||
		fail "vm $cur: marker is '$line', want 'KUMO-GUEST-READY hostname=$1'"
	ok "vm $cur ($2 form): '$line' after $ms ms"
	echo "$2 $ms" >>"$tmp/times"
}

qmp() { python3 "$here/qmp.py" "$tmp/$cur.qmp" "$@" >/dev/null || fail "vm $cur: qmp $*"; }

# powerdown: ACPI power button; the VM must power off by itself.
powerdown() {
	local t=$(now_ms) limit
	limit=$((t + POWERDOWN_LIMIT * 1000))
	qmp system_powerdown
	while running; do
		[ "$(now_ms)" -lt "$limit" ] ||
			fail "vm $cur still running ${POWERDOWN_LIMIT} s after system_powerdown"
		sleep 0.05
	done
	wait "${PID[$cur]}" || fail "vm $cur: qemu exited with $?: $(cat "$tmp/$cur.out")"
	unset "PID[$cur]"
	[ "$(log_count '^KUMO-SHUTDOWN$')" -eq 1 ] || fail "vm $cur: no KUMO-SHUTDOWN before power-off"
	ok "vm $cur: system_powerdown -> clean power-off in $(($(now_ms) - t)) ms"
}

# hotplug QCOW2 BEFORE NEW [BUS]: hot-adds QCOW2 as a virtio-blk-pci disk
# (on BUS, e.g. a pcie-root-port on q35), waits for "KUMO-DISKS BEFORE NEW",
# removes it again and waits for "KUMO-DISKS BEFORE" once more.
hotplug() {
	local bus= n
	[ -z "${4:-}" ] || bus=", \"bus\": \"$4\""
	n=$(log_count "^KUMO-DISKS $2\$")
	qmp blockdev-add "{\"driver\": \"qcow2\", \"node-name\": \"hot0\",
		\"file\": {\"driver\": \"file\", \"filename\": \"$1\"}}" \
		device_add "{\"driver\": \"virtio-blk-pci\", \"drive\": \"hot0\", \"id\": \"hot0\"$bus}"
	wait_log "^KUMO-DISKS $2 $3\$" 30
	ok "vm $cur: hot-added virtio-blk disk seen (KUMO-DISKS $2 $3)"
	qmp device_del '{"id": "hot0"}'
	wait_log "^KUMO-DISKS $2\$" 30 $((n + 1))
	ok "vm $cur: hot-removed disk seen (KUMO-DISKS $2)"
}

# seed_vfat DIR IMAGE: a NoCloud seed as Kumo's agent makes it.
seed_vfat() {
	mkfs.vfat -n cidata -C "$2" 1024 >/dev/null 2>&1 || fail "mkfs.vfat $2"
	(cd "$1" && MTOOLS_SKIP_CHECK=1 mcopy -i "$2" ./* ::) || fail "mcopy into $2"
}

key1="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKumoKumoKumoKumoKumoKumoKumoKumoKumoKumo0 alice@kumo"
key2="ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQKumoKumo bob@kumo"

# ---- a: kernel form, script user-data, data disk, NIC, hotplug ----
mkdir "$tmp/seed-a"
printf 'instance-id: i-aaaa\nlocal-hostname: kumo-a\npublic-keys:\n  - %s\n' "$key1" \
	>"$tmp/seed-a/meta-data"
cat >"$tmp/seed-a/user-data" <<'EOF'
#!/bin/sh
echo "hello from user-data on $(hostname)"
echo "authorized_keys $(stat -c %a /root/.ssh/authorized_keys): $(cat /root/.ssh/authorized_keys)"
exit 0
EOF
printf 'version: 2\nethernets: {}\n' >"$tmp/seed-a/network-config"
seed_vfat "$tmp/seed-a" "$tmp/seed-a.img"
qemu-img create -q -f qcow2 "$tmp/data-a.qcow2" 64M
qemu-img create -q -f qcow2 "$tmp/hot-a.qcow2" 32M

vm_start a -kernel "$img/vmlinuz" -initrd "$img/initrd.img" -append "$(cat "$img/cmdline")" \
	-drive "file=$tmp/data-a.qcow2,if=virtio" \
	-drive "file=$tmp/seed-a.img,if=virtio,format=raw,readonly=on" \
	-netdev user,id=n0 -device virtio-net-pci,netdev=n0
wait_ready kumo-a kernel
[ "$(log_count 'KUMO-GUEST-READY')" -eq 1 ] || fail "vm a: more than one marker"
wait_log '^KUMO-SEED vdb$' 1
ok "vm a: vfat cidata seed found on vdb"
wait_log '^hello from user-data on kumo-a$' 30
wait_log '^KUMO-USERDATA exit=0$' 5
ok "vm a: user-data script ran, KUMO-USERDATA exit=0"
[ "$(log_count '^KUMO-SSH-KEYS count=1$')" -eq 1 ] || fail "vm a: no KUMO-SSH-KEYS count=1"
[ "$(log_count "^authorized_keys 600: $key1\$")" -eq 1 ] ||
	fail "vm a: /root/.ssh/authorized_keys is not the meta-data key with mode 600"
ok "vm a: meta-data public-keys in /root/.ssh/authorized_keys (0600), KUMO-SSH-KEYS count=1"
wait_log '^KUMO-DISKS vda vdb$' 10
ok "vm a: KUMO-DISKS vda vdb"
wait_log '^KUMO-NET eth0 10\.0\.2\.15/24$' 30
ok "vm a: DHCP lease, KUMO-NET eth0 10.0.2.15/24"
hotplug "$tmp/hot-a.qcow2" "vda vdb" vdc
wait_log '^KUMO-UPTIME [0-9]+$' 15
ok "vm a: KUMO-UPTIME lines"
powerdown

# ---- b: disk form, cloud-config, reset ----
mkdir "$tmp/seed-b"
printf 'instance-id: i-bbbb\nlocal-hostname: not-this-one\n' >"$tmp/seed-b/meta-data"
printf '#cloud-config\nhostname: kumo-b\nssh_authorized_keys:\n  - %s\n  - "%s"\n' \
	"$key1" "$key2" >"$tmp/seed-b/user-data"
seed_vfat "$tmp/seed-b" "$tmp/seed-b.img"
vm_start b -drive "file=$img/demo.qcow2,if=virtio,snapshot=on" \
	-drive "file=$tmp/seed-b.img,if=virtio,format=raw,readonly=on"
wait_ready kumo-b disk
wait_log '^KUMO-SSH-KEYS count=2$' 1
ok "vm b: cloud-config hostname and KUMO-SSH-KEYS count=2"
[ "$(log_count '^KUMO-SSH-KEYS')" -eq 1 ] || fail "vm b: more than one KUMO-SSH-KEYS"
wait_log '^KUMO-DISKS vda vdb$' 10
[ "$(log_count '^KUMO-USERDATA')" -eq 0 ] || fail "vm b: KUMO-USERDATA for a cloud-config"
qmp system_reset
wait_log 'KUMO-GUEST-READY hostname=kumo-b$' "$BOOT_TIMEOUT" 2
ok "vm b: system_reset boots the disk again"
powerdown # at once: the button must work as soon as the marker is out

# ---- c: iso9660 seed, failing user-data, powerdown at once ----
mkdir "$tmp/seed-c"
printf '{"instance-id": "i-cccc", "local-hostname": "kumo-c"}\n' >"$tmp/seed-c/meta-data"
printf '#!/bin/bash\necho "user-data fails on purpose"\nexit 3\n' >"$tmp/seed-c/user-data"
genisoimage -quiet -V cidata -J -r -o "$tmp/seed-c.iso" "$tmp/seed-c" || fail "genisoimage"
qemu-img create -q -f qcow2 "$tmp/hot-c.qcow2" 32M
vm_start c -machine q35 -kernel "$img/vmlinuz" -initrd "$img/initrd.img" \
	-append "$(cat "$img/cmdline")" -device pcie-root-port,id=rp1,chassis=1 \
	-drive "file=$tmp/seed-c.iso,if=virtio,format=raw,readonly=on"
wait_ready kumo-c kernel
wait_log '^user-data fails on purpose$' 30
wait_log '^KUMO-USERDATA exit=3$' 5
ok "vm c: iso9660 seed, JSON meta-data, #!/bin/bash script run by sh, KUMO-USERDATA exit=3"
wait_log '^KUMO-DISKS vda$' 10
[ "$(log_count '^KUMO-NET')" -eq 0 ] || fail "vm c: KUMO-NET without a NIC"
hotplug "$tmp/hot-c.qcow2" vda vdb rp1
powerdown

cur=
awk '{ n[$1]++; s[$1] += $2 } END { for (f in n)
	printf "selftest: boot to KUMO-GUEST-READY, %s form: %d ms (mean of %d)\n", f, s[f] / n[f], n[f] }' \
	"$tmp/times" | sort
echo "selftest: all checks passed"
