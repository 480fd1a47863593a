# SPDX-License-Identifier: MIT
"""Migration (issue 6), end to end: kumod and two kumo-agents with the qemu
driver, each in a network namespace of this test (m1 10.251.0.1, m2
10.251.0.2 on one bridge); migration traffic (NBD disk copies, the memory
stream, cold copies) runs between those addresses. The guests run under
TCG and print a counter every 100 ms; at boot they write a marker file to
their root disk and every 2 s read it back from the disk (page cache
dropped, filesystem mounted afresh), so a console line "DISK <marker>"
printed on the destination proves the disk arrived intact.

Capacity: kumod's memory overcommit is set so that each host holds about
400 MiB of VMs (a 192 and a 256 MiB VM do not fit together)."""
import os
import re
import subprocess
import time

import pytest

from conftest import Cloud, wait_for
from netns import Forwarder, Netns, netns_list, veth
from test_net import NsAgent
from test_qemu import BOOT, upload

SCRIPT = r"""#!/bin/sh
# 32 MiB of guest memory that is not zero: a capped migration takes a while
head -c 33554432 /dev/urandom >/tmp/ballast
mkdir -p /mnt/d
if mount -t vfat /dev/vda /mnt/d 2>/dev/null; then
  [ -f /mnt/d/mig.txt ] || echo "MARK-%(tok)s" >/mnt/d/mig.txt
  sync; umount /mnt/d
fi
( while :; do
    sync; echo 3 >/proc/sys/vm/drop_caches
    if mount -t vfat -o ro /dev/vda /mnt/d 2>/dev/null; then
      echo "DISK $(cat /mnt/d/mig.txt)"; umount /mnt/d
    fi
    if [ -b /dev/vdc ]; then
      v=$(head -c 24 /dev/vdc | tr -dc 'A-Za-z0-9-')
      case "$v" in
      VOL-*) ;;
      *) echo "VOL-$(head -c 8 /dev/urandom | od -An -tx1 | tr -dc 0-9a-f)" >/tmp/v
         dd if=/tmp/v of=/dev/vdc conv=notrunc 2>/dev/null; sync
         v=$(head -c 24 /dev/vdc | tr -dc 'A-Za-z0-9-') ;;
      esac
      echo "VDC $v"
    fi
    sleep 2
  done ) &
%(net)s
i=0
while :; do echo "COUNT $i"; i=$((i+1)); sleep 0.1; done
"""
NET = r"""( while :; do
    if ping -c 1 -W 1 %s >/dev/null 2>&1; then echo PING-OK; else echo PING-FAIL; fi
    sleep 1
  done ) &"""

CAPACITY_MB = 400


def mem_total_mb():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    raise AssertionError("no MemTotal")


class MWorld:
    def __init__(self, tmp, image_dir):
        self.ns, self.fwd, self.cloud, self.agents = {}, [], None, {}
        self.vdc = {}  # VM name: the value its guest wrote to its data volume
        try:
            self._build(tmp, image_dir)
        except BaseException:
            self.stop()
            raise

    def _build(self, tmp, image_dir):
        for n in ("mul", "m1", "m2"):
            self.ns[n] = Netns(n)
        ul = self.ns["mul"]
        ul.ip("link", "add", "br0", "type", "bridge")
        ul.ip("link", "set", "br0", "up")
        for i in (1, 2):
            h = self.ns["m%d" % i]
            veth(h, "eth0", ul, "u%d" % i, mtu=1550)
            ul.ip("link", "set", "u%d" % i, "master", "br0")
            h.ip("addr", "add", "10.251.0.%d/24" % i, "dev", "eth0")
        over = CAPACITY_MB / mem_total_mb()
        self.cloud = Cloud(tmp, config="[scheduler]\nmem_overcommit = %.6f\n" % over).start()
        api = self.api = self.cloud.admin
        for i in (1, 2):
            self.fwd.append(Forwarder(self.ns["m%d" % i].name, self.cloud.kumod.port))
            a = NsAgent(self.cloud.kumod, tmp, "mig%d" % i, self.ns["m%d" % i],
                        "10.251.0.%d" % i).start()
            self.cloud.agents.append(a)
            self.agents["m%d" % i] = a
        wait_for(lambda: self.cloud.connected_hosts("mig") >= 2, timeout=30,
                 what="both test hosts to connect")
        self.hosts = {}
        for h in api.ok("GET", "/v1/hosts")["items"]:
            for i in (1, 2):
                if h["name"].startswith("mig%d" % i):
                    self.hosts["m%d" % i] = h
        img, r = upload(api, os.path.join(image_dir, "demo.qcow2"), "demo", "qcow2")
        assert r.status_code in (200, 201), r.text
        self.image = img["id"]
        self.vms = {}
        zone = api.ok("GET", "/v1/zones")["items"]
        zone_id = zone[0]["id"] if zone else api.ok("POST", "/v1/zones", {"name": "z"})["id"]
        self.l2 = api.ok("POST", "/v1/l2-networks", {
            "name": "movl", "zone_id": zone_id, "type": "vxlan", "vni": 4343})
        self.l3 = api.ok("POST", "/v1/l3-networks", {
            "name": "mnet", "l2_network_id": self.l2["id"], "cidr": "10.62.0.0/24",
            "services": ["dhcp", "dns"]})

    def create(self, name, host, memory_mb, nic=False):
        body = {
            "name": name, "image_id": self.image, "vcpus": 1, "memory_mb": memory_mb,
            "root_disk_gb": 1, "host_id": self.hosts[host]["id"],
            "user_data": SCRIPT % {"tok": name + "-" + str(os.getpid()),
                                   "net": NET % self.l3["gateway"] if nic else ""}}
        if nic:
            body["l3_network_ids"] = [self.l3["id"]]
        job = self.api.ok("POST", "/v1/vms", body)
        job = self.api.job(job, timeout=BOOT)
        assert job["state"] == "succeeded", job
        self.vms[name] = self.api.ok("GET", "/v1/vms/" + job["resource_id"])
        return self.vms[name]

    def vm(self, name):
        return self.api.ok("GET", "/v1/vms/" + self.vms[name]["id"])

    def console(self, name, tail=3000):
        return self.api.ok("GET", "/v1/vms/%s/console?tail=%d" % (
            self.vms[name]["id"], tail))["output"].replace("\r", "")

    def counts(self, name):
        return [int(m) for m in re.findall(r"^COUNT (\d+)$", self.console(name), re.M)]

    def vm_dir(self, host, name):
        return os.path.join(self.agents[host].dir, "hosts", "0", "vms", self.vms[name]["id"])

    def migrate(self, name, host=None, **extra):
        body = dict(extra)
        if host:
            body["host_id"] = self.hosts[host]["id"]
        return self.api.req("POST", "/v1/vms/%s/actions/migrate" % self.vms[name]["id"], body)

    def stop(self):
        if self.cloud:
            try:
                for vm in self.api.ok("GET", "/v1/vms?limit=1000")["items"]:
                    self.api.req("DELETE", "/v1/vms/%s?wait=30" % vm["id"])
            except Exception:  # noqa: BLE001 - best effort, the kill below is sure
                pass
            self.cloud.stop()
        for f in self.fwd:
            f.close()
        for a in self.agents.values():
            vmdir = os.path.join(a.dir, "hosts", "0", "vms")
            for d in os.listdir(vmdir) if os.path.isdir(vmdir) else []:
                kill_qemu(os.path.join(vmdir, d))
        ids = [h["id"][:8] for h in getattr(self, "hosts", {}).values()]
        for n in netns_list():
            if any(n.startswith("kumo-" + i) for i in ids):
                for p in subprocess.run(["ip", "netns", "pids", n], capture_output=True,
                                        text=True).stdout.split():
                    try:
                        os.kill(int(p), 9)
                    except (OSError, ValueError):
                        pass
                subprocess.run(["ip", "netns", "del", n], capture_output=True)
        for ns in self.ns.values():
            ns.remove()


def tap_of(mw, host):
    nic = mw.vms["mig"]["nics"][0]["id"]
    tap = "ktp-" + nic.replace("-", "")[:8]
    return tap in mw.ns[host].ip("link", "show", check=False).stdout


def kill_qemu(vmdir):
    try:
        pid = int(open(os.path.join(vmdir, "qemu.pid")).read().strip())
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            if os.path.basename(vmdir).encode() in f.read():
                os.kill(pid, 9)
    except (OSError, ValueError):
        pass


@pytest.fixture(scope="module")
def mw(guest_image, tmp_path_factory):
    w = MWorld(str(tmp_path_factory.mktemp("mig")), guest_image)
    try:
        w.create("mig", "m1", 192, nic=True)
        yield w
    finally:
        w.stop()
    leftovers = [n for n in netns_list() if n.startswith("kt%d-m" % os.getpid())]
    assert not leftovers, leftovers


def wait_running_on(mw, name, host, timeout=30):
    def ok():
        vm = mw.vm(name)
        return vm["state"] == "running" and vm["host_id"] == mw.hosts[host]["id"]
    wait_for(ok, timeout=timeout, interval=0.5, what="%s running on %s" % (name, host))


def wait_counting(mw, name, past, timeout=30):
    """The counter goes on past `past` (on whatever host runs it now). When
    it does not, says what the VM, its console and the agents' logs show."""
    try:
        wait_for(lambda: mw.counts(name) and mw.counts(name)[-1] > past + 10,
                 timeout=timeout, interval=0.5,
                 what="the counter of %s to go on past %d" % (name, past))
    except AssertionError as e:
        vid = mw.vms[name]["id"]
        logs = []
        for host, a in sorted(mw.agents.items()):
            with open(a.log, errors="replace") as f:
                logs += ["%s: %s" % (host, line.rstrip()) for line in f if vid in line]
        raise AssertionError("%s\nvm: %r\nconsole:\n%s\nagent logs:\n%s" % (
            e, mw.vm(name), console_excerpt(mw.console(name, 300)),
            "\n".join(logs[-25:]))) from None


def console_excerpt(text):
    """The end of a console, or where a guest kernel crashed: from a few
    lines before its first report on (the end alone shows only the trace's
    registers, not what went wrong)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if re.search(r"cut here|BUG:|Oops|Kernel panic|general protection", line):
            return "\n".join(lines[max(0, i - 5):i + 60])
    return "\n".join(lines[-15:])


def migrate_ok(mw, name, host, state="running"):
    """Migrates VM name to host through the API: the job succeeds and the
    VM is there in state."""
    r = mw.migrate(name, host)
    assert r.status_code == 202, r.text
    job = mw.api.job(r.json(), timeout=180)
    assert job["state"] == "succeeded", job
    vm = mw.vm(name)
    assert vm["state"] == state and vm["host_id"] == mw.hosts[host]["id"], vm
    return vm


def job_when_sending(mw, job):
    """Waits until a migration job is in its send step (progress 10)."""
    box = {}

    def sending():
        box["j"] = mw.api.ok("GET", "/v1/jobs/" + job["id"])
        assert box["j"]["state"] in ("pending", "running"), box["j"]
        return box["j"]["progress"] >= 10
    wait_for(sending, timeout=120, interval=0.2, what="the migration to start sending")
    return box["j"]


def test_bad_destinations_are_refused_and_nothing_starts(mw):
    wait_for(lambda: "DISK MARK-mig" in mw.console("mig"), timeout=BOOT, interval=1,
             what="the guest's marker on its disk")
    r = mw.migrate("mig", "m1")
    assert r.status_code == 400 and "already" in r.json()["error"]["message"], r.text
    r = mw.api.req("POST", "/v1/vms/%s/actions/migrate" % mw.vms["mig"]["id"],
                   {"host_id": "00000000-0000-4000-8000-000000000000"})
    assert r.status_code == 400 and "no host" in r.json()["error"]["message"], r.text
    mw.api.ok("POST", "/v1/hosts/%s/actions/disable" % mw.hosts["m2"]["id"], {})
    try:
        r = mw.migrate("mig", "m2")
        assert r.status_code == 409 and "disabled" in r.json()["error"]["message"], r.text
        r = mw.migrate("mig")  # the scheduler finds no other host
        assert r.status_code == 409, r.text
    finally:
        mw.api.ok("POST", "/v1/hosts/%s/actions/enable" % mw.hosts["m2"]["id"], {})
    r = mw.migrate("mig", "m2", bogus=1)
    assert r.status_code == 400, r.text
    for bad in (5, 60001, "50"):
        r = mw.migrate("mig", "m2", max_downtime_ms=bad)
        assert r.status_code == 400 and "max_downtime_ms" in r.text, r.text
    # a job whose type cannot be cancelled
    create_job = mw.api.ok("GET", "/v1/jobs?q=type=vm.create")["items"][0]
    r = mw.api.req("POST", "/v1/jobs/%s/actions/cancel" % create_job["id"], {})
    assert r.status_code == 409, r.text
    vm = mw.vm("mig")
    assert vm["state"] == "running" and vm["host_id"] == mw.hosts["m1"]["id"], vm


def vdc_values(mw, name, since=0):
    """The values the guest read from its data volume (vdc), in order."""
    return re.findall(r"^VDC (VOL-[0-9a-f]+)$", mw.console(name)[since:], re.M)


def attach_volume(mw, name, vol_name):
    """A 1 GiB data volume hot-attached to VM name; waits until the guest
    has written its random value there and read it back. Returns (volume,
    value)."""
    job = mw.api.ok("POST", "/v1/volumes", {"name": vol_name, "size_gb": 1,
                                            "vm_id": mw.vms[name]["id"]})
    job = mw.api.job(job, timeout=60)
    assert job["state"] == "succeeded", job
    wait_for(lambda: vdc_values(mw, name), timeout=60, interval=1,
             what="%s's guest to write its data volume" % name)
    mw.vdc[name] = vdc_values(mw, name)[0]
    return mw.api.ok("GET", "/v1/volumes/" + job["resource_id"]), mw.vdc[name]


def volume_file(mw, host, vol):
    return os.path.join(mw.agents[host].dir, "hosts", "0", "volumes", vol["id"] + ".qcow2")


def test_live_migration_keeps_the_guest_running_and_its_disk(mw):
    wait_for(lambda: "PING-OK" in mw.console("mig"), timeout=BOOT, interval=1,
             what="the guest to reach its gateway")
    assert tap_of(mw, "m1") and not tap_of(mw, "m2")
    vol, value = attach_volume(mw, "mig", "migdata")
    assert os.path.exists(volume_file(mw, "m1", vol))
    before = mw.counts("mig")
    assert before, "the guest does not count"

    def disk(h):
        return mw.api.ok("GET", "/v1/hosts/" + mw.hosts[h]["id"])["disk_gb_allocated"]
    # its root disk and its data volume are counted on the host they are on
    disks = (disk("m1"), disk("m2"))
    moved = mw.vm("mig")["root_disk_gb"] + vol["size_gb"]
    t0 = time.monotonic()
    r = mw.migrate("mig", "m2")
    assert r.status_code == 202, r.text
    job = mw.api.job(r.json(), timeout=180)
    took = time.monotonic() - t0
    assert job["state"] == "succeeded", job
    stats = job["result"]["stats"]
    assert stats["downtime_ms"] >= 0 and stats["total_time_ms"] > 0, stats
    # the memory went in QEMU's one stream ([qemu] migration_channels is 1
    # unless set)
    assert stats["channels"] == 1, stats
    # an idle guest converges at the first downtime limit, 50 ms (QEMU's
    # own default would let it pause up to 300 ms)
    assert stats["downtime_limit_ms"] == 50, stats
    assert (disk("m1"), disk("m2")) == (disks[0] - moved, disks[1] + moved), (disks, moved)
    wait_running_on(mw, "mig", "m2")
    root = mw.api.ok("GET", "/v1/volumes/" + mw.vm("mig")["volumes"][0])
    assert root["host_id"] == mw.hosts["m2"]["id"], root
    # the console is the destination's now: the counter goes on, no new boot
    wait_counting(mw, "mig", before[-1])
    after = mw.counts("mig")
    out = mw.console("mig")
    assert "KUMO-GUEST-READY" not in out, "the guest booted again:\n" + out[-2000:]
    assert after[0] >= before[-1] - 50, (before[-5:], after[:5])
    assert after == list(range(after[0], after[0] + len(after))), "the counter jumped"
    # read back from the destination's disk (page cache dropped, remounted)
    wait_for(lambda: "DISK MARK-mig" in mw.console("mig"), timeout=30, interval=1,
             what="the marker read from the destination's disk")
    # the data volume came along: on m2 now, the value the guest wrote before
    vol = mw.api.ok("GET", "/v1/volumes/" + vol["id"])
    assert vol["host_id"] == mw.hosts["m2"]["id"] and vol["vm_id"] == mw.vms["mig"]["id"], vol
    wait_for(lambda: len(vdc_values(mw, "mig")) >= 2, timeout=30, interval=1,
             what="the guest to read its data volume on the destination")
    assert set(vdc_values(mw, "mig")) == {value}, vdc_values(mw, "mig")
    # the source's copy is gone, the destination has one
    wait_for(lambda: not os.path.exists(mw.vm_dir("m1", "mig")), timeout=30, interval=0.5,
             what="the source's files to go")
    assert os.path.exists(os.path.join(mw.vm_dir("m2", "mig"), "disk.qcow2"))
    assert os.path.exists(volume_file(mw, "m2", vol))
    assert not os.path.exists(volume_file(mw, "m1", vol))
    # its NIC followed it: the tap moved, the guest reaches its gateway from here
    assert tap_of(mw, "m2")
    wait_for(lambda: not tap_of(mw, "m1"), timeout=30, interval=0.5,
             what="the tap to leave the source")
    mark = len(mw.console("mig"))
    wait_for(lambda: "PING-OK" in mw.console("mig")[mark:], timeout=30, interval=1,
             what="the guest to reach its gateway from the destination")
    assert stats["ram_transferred"] > 32 << 20, stats  # the ballast went too
    print("live migration: %.1f s through the API, QEMU total %d ms, downtime %d ms, "
          "%d MiB" % (took, stats["total_time_ms"], stats["downtime_ms"],
                      stats["ram_transferred"] >> 20))


def test_cancel_leaves_the_vm_running_on_its_source(mw):
    r = mw.migrate("mig", "m1", max_bandwidth_mbps=1)
    assert r.status_code == 202, r.text
    job = job_when_sending(mw, r.json())
    # the source reports how far the memory is (the job's progress: 40..79)
    wait_for(lambda: 40 < mw.api.ok("GET", "/v1/jobs/" + job["id"])["progress"] < 80,
             timeout=30, interval=0.2, what="progress of the memory transfer")
    r = mw.api.req("POST", "/v1/jobs/%s/actions/cancel" % job["id"], {})
    assert r.status_code == 202, r.text
    job = mw.api.job(job, timeout=60)
    assert job["state"] == "cancelled", job
    wait_running_on(mw, "mig", "m2")
    wait_counting(mw, "mig", mw.counts("mig")[-1])
    assert "KUMO-GUEST-READY" not in mw.console("mig")
    wait_for(lambda: not os.path.exists(mw.vm_dir("m1", "mig")), timeout=30, interval=0.5,
             what="the destination's half-made copy to go")
    r = mw.api.req("POST", "/v1/jobs/%s/actions/cancel" % job["id"], {})
    assert r.status_code == 409, r.text


def test_destination_dying_midway_fails_and_keeps_the_vm_on_its_source(mw):
    r = mw.migrate("mig", "m1", max_bandwidth_mbps=1)
    assert r.status_code == 202, r.text
    job = job_when_sending(mw, r.json())
    time.sleep(1)
    a = mw.agents["m1"]
    a.kill9()
    kill_qemu(mw.vm_dir("m1", "mig"))  # the host is gone, its QEMU with it
    try:
        job = mw.api.job(job, timeout=90)
        assert job["state"] == "failed", job
        wait_running_on(mw, "mig", "m2")
        wait_counting(mw, "mig", mw.counts("mig")[-1])
        assert "KUMO-GUEST-READY" not in mw.console("mig")
    finally:
        a.start()
    # back, the agent removes the half-made copy (its abort was waiting)
    wait_for(lambda: not os.path.exists(mw.vm_dir("m1", "mig")), timeout=60, interval=0.5,
             what="the dead destination's copy to go after its restart")
    wait_for(lambda: mw.cloud.connected_hosts("mig1") == 1, timeout=30,
             what="the destination to reconnect")


def test_kumod_restarted_midway_carries_the_migration_through(mw):
    r = mw.migrate("mig", "m1", max_bandwidth_mbps=10)
    assert r.status_code == 202, r.text
    job = job_when_sending(mw, r.json())
    before = mw.counts("mig")[-1]
    mw.cloud.kumod.kill9()
    mw.cloud.kumod.start()
    job = mw.api.job(job, timeout=180)
    assert job["state"] == "succeeded", job
    wait_running_on(mw, "mig", "m1")
    wait_counting(mw, "mig", before)
    assert "KUMO-GUEST-READY" not in mw.console("mig")
    wait_for(lambda: not os.path.exists(mw.vm_dir("m2", "mig")), timeout=30, interval=0.5,
             what="the source's files to go")


def test_source_agent_restarted_midway_undoes_the_migration(mw):
    """The source's agent dies while the memory goes out (QEMU goes on);
    back, it finds the migration cut off, undoes it and the job fails: the
    guest never stopped running on its source."""
    r = mw.migrate("mig", "m2", max_bandwidth_mbps=1)
    assert r.status_code == 202, r.text
    job = job_when_sending(mw, r.json())
    wait_for(lambda: 40 < mw.api.ok("GET", "/v1/jobs/" + job["id"])["progress"] < 80,
             timeout=30, interval=0.2, what="the memory transfer to start")
    a = mw.agents["m1"]
    a.kill9()
    a.start()
    job = mw.api.job(job, timeout=120)
    assert job["state"] == "failed", job
    assert "cut off" in job["error"]["message"], job
    wait_running_on(mw, "mig", "m1")
    wait_counting(mw, "mig", mw.counts("mig")[-1])
    assert "KUMO-GUEST-READY" not in mw.console("mig")
    wait_for(lambda: not os.path.exists(mw.vm_dir("m2", "mig")), timeout=30, interval=0.5,
             what="the destination's half-made copy to go")


def test_source_host_lost_midway_settles_without_waiting_for_timeouts(mw):
    """The source host dies (its agent and QEMU) while the memory goes out:
    once kumod declares it lost, the destination is asked whether the guest
    arrived; it did not, so its half-made copy goes and the job fails then,
    not after command_timeout_s (600 s); the VM stays on its lost host,
    unknown. Back, the host starts it again (it was running)."""
    r = mw.migrate("mig", "m2", max_bandwidth_mbps=1)
    assert r.status_code == 202, r.text
    job = job_when_sending(mw, r.json())
    wait_for(lambda: 40 < mw.api.ok("GET", "/v1/jobs/" + job["id"])["progress"] < 80,
             timeout=30, interval=0.2, what="the memory transfer to start")
    a = mw.agents["m1"]
    a.kill9()
    kill_qemu(mw.vm_dir("m1", "mig"))
    t0 = time.time()
    try:
        job = mw.api.job(job, timeout=120)
        took = time.time() - t0
        assert job["state"] == "failed", job
        assert job["error"]["code"] == "HostLost", job
        assert took < 90, took
        vm = mw.vm("mig")
        assert vm["host_id"] == mw.hosts["m1"]["id"], vm
        assert vm["state"] == "unknown", vm
        wait_for(lambda: not os.path.exists(mw.vm_dir("m2", "mig")), timeout=60,
                 interval=0.5, what="the destination's half-made copy to go")
        h = {x["id"]: x for x in mw.api.ok("GET", "/v1/hosts")["items"]}
        assert h[mw.hosts["m2"]["id"]]["memory_mb_allocated"] == 0  # given back
        print("source lost: the job settled %.1f s after the kill" % took)
    finally:
        a.start()
    wait_for(lambda: mw.cloud.connected_hosts("mig1") == 1, timeout=30,
             what="the source to reconnect")
    wait_running_on(mw, "mig", "m1", timeout=BOOT)


def test_migration_to_a_host_without_capacity_is_refused(mw):
    mw.create("cold", "m2", 256)  # m2: 256 of ~400 MiB; mig needs 192
    r = mw.migrate("mig", "m2")
    assert r.status_code == 409, r.text
    assert "cannot take the vm" in r.json()["error"]["message"], r.text
    r = mw.migrate("mig")
    assert r.status_code == 409, r.text
    vm = mw.vm("mig")
    assert vm["state"] == "running" and vm["host_id"] == mw.hosts["m1"]["id"], vm
    r = mw.migrate("cold", "m1")  # mig is there
    assert r.status_code == 409, r.text


def test_cold_migration_of_a_stopped_vm(mw):
    api = mw.api
    wait_for(lambda: "DISK MARK-cold" in mw.console("cold"), timeout=BOOT, interval=1,
             what="the marker on the cold vm's disk")
    vol, value = attach_volume(mw, "cold", "colddata")
    # the live-migrated VM's data volume went through every migration above
    if "mig" in mw.vdc:
        assert set(vdc_values(mw, "mig")) == {mw.vdc["mig"]}, vdc_values(mw, "mig")
    job = api.ok("DELETE", "/v1/vms/%s?wait=60" % mw.vms["mig"]["id"])
    assert job["state"] == "succeeded", job
    job = api.ok("POST", "/v1/vms/%s/actions/stop?wait=90" % mw.vms["cold"]["id"],
                 {"force": True})
    assert job["state"] == "succeeded", job
    vm = migrate_ok(mw, "cold", "m1", state="stopped")
    wait_for(lambda: not os.path.exists(mw.vm_dir("m2", "cold")), timeout=30, interval=0.5,
             what="the source's files to go")
    job = api.ok("POST", "/v1/vms/%s/actions/start?wait=%d" % (vm["id"], BOOT), {})
    assert job["state"] == "succeeded", job
    wait_for(lambda: "DISK MARK-cold" in mw.console("cold"), timeout=BOOT, interval=1,
             what="the marker read on the destination after a fresh boot")
    assert "KUMO-GUEST-READY" in mw.console("cold")
    # its data volume came along, with what the guest wrote before
    assert mw.api.ok("GET", "/v1/volumes/" + vol["id"])["host_id"] == mw.hosts["m1"]["id"]
    assert os.path.exists(volume_file(mw, "m1", vol))
    assert not os.path.exists(volume_file(mw, "m2", vol))
    mark = mw.console("cold").rfind("KUMO-GUEST-READY")
    wait_for(lambda: vdc_values(mw, "cold", mark), timeout=60, interval=1,
             what="the guest to read its data volume after the cold migration")
    assert set(vdc_values(mw, "cold", mark)) == {value}, vdc_values(mw, "cold", mark)
    h = {x["id"]: x for x in api.ok("GET", "/v1/hosts")["items"]}
    assert h[mw.hosts["m2"]["id"]]["memory_mb_allocated"] == 0
    assert h[mw.hosts["m1"]["id"]]["memory_mb_allocated"] == 256


def host_doc(mw, host):
    return mw.api.ok("GET", "/v1/hosts/" + mw.hosts[host]["id"])


def add_interface(mw, host, name):
    """One end of a veth pair in host's namespace, up; waits for the host's
    facts in kumod to list it."""
    mw.ns[host].ip("link", "add", name, "type", "veth", "peer", "name", name + "p")
    mw.ns[host].ip("link", "set", name, "up")
    wait_for(lambda: name in host_doc(mw, host)["interfaces"], timeout=20, interval=0.5,
             what="%s's facts to list %s" % (host, name))


def test_destination_without_the_network_interface_is_refused(mw):
    """A VM on a flat network over a host interface (here one end of a veth
    pair) goes only to hosts that have that interface (the agents report
    theirs; Kumo's own links are not listed): to one without it the
    request is refused with nothing started, the scheduler does not pick it
    either; once the interface is there the VM migrates."""
    api = mw.api
    for host in ("m2", "m1"):
        assert "eth0" in host_doc(mw, host)["interfaces"], host_doc(mw, host)
    add_interface(mw, "m2", "mphy0")
    assert "mphy0" not in host_doc(mw, "m1")["interfaces"]
    zone_id = mw.l2["zone_id"]
    l2 = api.ok("POST", "/v1/l2-networks", {"name": "mphy", "zone_id": zone_id, "type": "flat",
                                            "physical_interface": "mphy0"})
    l3 = api.ok("POST", "/v1/l3-networks", {"name": "mphynet", "l2_network_id": l2["id"],
                                            "cidr": "10.64.0.0/24", "services": ["dhcp"]})
    job = api.ok("POST", "/v1/vms", {
        "name": "phy", "image_id": mw.image, "vcpus": 1, "memory_mb": 128, "root_disk_gb": 1,
        "host_id": mw.hosts["m2"]["id"], "l3_network_ids": [l3["id"]]})
    job = api.job(job, timeout=BOOT)
    assert job["state"] == "succeeded", job
    mw.vms["phy"] = api.ok("GET", "/v1/vms/" + job["resource_id"])
    jobs_before = api.ok("GET", "/v1/jobs?limit=1")["total"]
    r = mw.migrate("phy", "m1")
    assert r.status_code == 400, r.text
    msg = r.json()["error"]["message"]
    assert "no interface mphy0, which network mphy of the vm" in msg, msg
    r = mw.migrate("phy")  # the scheduler's pick: m1 is the only other host
    assert r.status_code == 409, r.text
    assert api.ok("GET", "/v1/jobs?limit=1")["total"] == jobs_before
    v = mw.vm("phy")
    assert v["state"] == "running" and v["host_id"] == mw.hosts["m2"]["id"], v
    add_interface(mw, "m1", "mphy0")
    migrate_ok(mw, "phy", "m1")


def restart_agent(mw, host, extra):
    """Restarts host's agent with extra arguments beside its usual ones."""
    a = mw.agents[host]
    a.stop()
    if not hasattr(a, "base_extra"):
        a.base_extra = list(a.extra)
    a.extra = a.base_extra + list(extra)
    a.start()
    wait_for(lambda: host_doc(mw, host)["status"] == "connected", timeout=30, interval=0.5,
             what="%s's agent to reconnect" % host)


def test_running_vm_goes_only_to_a_host_with_its_cpu_model(mw, tmp_path):
    """The agents report the CPU their VMs get (QEMU's -cpu: max under TCG
    unless [qemu] cpu_model names one); a running VM is not sent to a host
    whose VMs get another CPU, by request or by the scheduler, and nothing
    starts; with the same model again it migrates."""
    api = mw.api
    assert host_doc(mw, "m1")["cpu_model"] == "max (tcg)", host_doc(mw, "m1")
    assert mw.vm("phy")["cpu_model"] == "max (tcg)", mw.vm("phy")
    conf = tmp_path / "agent.conf"
    conf.write_text("[qemu]\ncpu_model = qemu64\n")
    restart_agent(mw, "m2", ["--config", str(conf)])
    try:
        wait_for(lambda: host_doc(mw, "m2")["cpu_model"] == "qemu64", timeout=20,
                 interval=0.5, what="m2's facts to say qemu64")
        jobs_before = api.ok("GET", "/v1/jobs?limit=1")["total"]
        r = mw.migrate("phy", "m2")
        assert r.status_code == 400, r.text
        msg = r.json()["error"]["message"]
        assert "cpu model qemu64, the vm runs with max (tcg)" in msg, msg
        r = mw.migrate("phy")
        assert r.status_code == 409, r.text
        assert api.ok("GET", "/v1/jobs?limit=1")["total"] == jobs_before
        v = mw.vm("phy")
        assert v["state"] == "running" and v["host_id"] == mw.hosts["m1"]["id"], v
    finally:
        restart_agent(mw, "m2", [])
    wait_for(lambda: host_doc(mw, "m2")["cpu_model"] == "max (tcg)", timeout=20,
             interval=0.5, what="m2's facts to say max again")
    migrate_ok(mw, "phy", "m2")


def test_a_destination_with_more_streams_gets_the_memory_in_parallel(mw, tmp_path):
    """A destination with [qemu] migration_channels = 2 takes the memory in
    two parallel streams (QEMU's multifd); back to a host with the default
    (one stream) the source, whose QEMU came in with multifd and still has
    it set, sends in one stream. The guest runs on each side without
    booting again."""
    assert mw.vm("phy")["host_id"] == mw.hosts["m2"]["id"]
    conf = tmp_path / "agent.conf"
    conf.write_text("[qemu]\nmigration_channels = 2\n")
    restart_agent(mw, "m1", ["--config", str(conf)])
    try:
        job = mw.api.job(mw.migrate("phy", "m1").json(), timeout=180)
        assert job["state"] == "succeeded", job
        assert job["result"]["stats"]["channels"] == 2, job["result"]["stats"]
        wait_running_on(mw, "phy", "m1")
        out = mw.console("phy")  # the destination's: no new boot there
        assert "KUMO-GUEST-READY" not in out, "the guest booted again:\n" + out[-2000:]
    finally:
        restart_agent(mw, "m1", [])
    # and with the request's own cap on the guest's pause, under the first
    # limit: QEMU is given that
    job = mw.api.job(mw.migrate("phy", "m2", max_downtime_ms=20).json(), timeout=180)
    assert job["state"] == "succeeded", job
    assert job["result"]["stats"]["channels"] == 1, job["result"]["stats"]
    assert job["result"]["stats"]["downtime_limit_ms"] == 20, job["result"]["stats"]
    wait_running_on(mw, "phy", "m2")
    out = mw.console("phy")
    assert "KUMO-GUEST-READY" not in out, "the guest booted again:\n" + out[-2000:]


def test_snapshots_and_linked_clones_keep_a_vm_where_its_files_are(mw):
    """qcow2 internal snapshots live inside the disk files and a linked
    clone's disk sits on an export in its source's directory: neither
    travels, so such VMs are refused (409, nothing started) until the
    snapshots or clones are gone; then the VM migrates."""
    api = mw.api
    phy = mw.vm("phy")
    assert phy["host_id"] == mw.hosts["m2"]["id"], phy
    job = api.job(api.ok("POST", "/v1/snapshots", {"vm_id": phy["id"], "name": "s1"}),
                  timeout=60)
    assert job["state"] == "succeeded", job
    snap = job["result"]
    job = api.job(api.ok("POST", "/v1/vms/%s/actions/clone" % phy["id"],
                         {"name": "lnk", "snapshot_id": snap["id"], "linked": True}),
                  timeout=BOOT)
    assert job["state"] == "succeeded", job
    mw.vms["lnk"] = api.ok("GET", "/v1/vms/" + job["resource_id"])
    jobs_before = api.ok("GET", "/v1/jobs?limit=1")["total"]
    r = mw.migrate("lnk", "m1")
    assert r.status_code == 409 and "is a linked clone" in r.text, r.text
    r = mw.migrate("phy", "m1")
    assert r.status_code == 409 and "lnk" in r.json()["error"]["message"], r.text
    assert api.ok("GET", "/v1/jobs?limit=1")["total"] == jobs_before
    job = api.job(api.ok("DELETE", "/v1/vms/" + mw.vms["lnk"]["id"]), timeout=60)
    assert job["state"] == "succeeded", job
    r = mw.migrate("phy", "m1")
    assert r.status_code == 409, r.text
    assert "has 1 snapshot, which a migration on local storage does not carry" in r.text, r.text
    job = api.job(api.ok("DELETE", "/v1/snapshots/" + snap["id"]), timeout=60)
    assert job["state"] == "succeeded", job
    migrate_ok(mw, "phy", "m1")
