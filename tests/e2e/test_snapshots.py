# SPDX-License-Identifier: MIT
"""Snapshots, revert, clones and resize with real QEMU guests: one kumod and
one qemu agent in a network namespace of its own (a flat network on a veth
link, with DHCP), four guest boots in all.

The guest's user_data writes a counter to its root disk (at 512 MiB) and to
its data volume (vdc) every second, prints `KUMO-MARK <n>` after each write
has been flushed, prints what it finds at boot (`KUMO-READ vda=<n> vdc=<n>`)
and the disks' sizes (`KUMO-SIZE`), so every check reads the guest's own
view through the console API."""
import os
import re
import subprocess
import uuid

import pytest

from conftest import AGENT, Agent, Cloud, wait_for
from netns import Forwarder, Netns, netns_list, veth
from test_qemu import BOOT, upload

SCRIPT = r"""#!/bin/sh
rd() { dd if=/dev/$1 bs=512 skip=$2 count=1 2>/dev/null | tr -dc '0-9' | head -c 12; }
wr() { printf '%-511s\n' "$3" | dd of=/dev/$1 bs=512 seek=$2 count=1 conv=notrunc,fsync 2>/dev/null; }
a=$(rd vda 1048576); b=""
[ -b /dev/vdc ] && b=$(rd vdc 0)
echo "KUMO-READ vda=${a:-none} vdc=${b:-none}"
echo "KUMO-CPUS $(grep -c ^processor /proc/cpuinfo)"
n=${a:-0}
while :; do
  n=$((n+1))
  wr vda 1048576 $n
  [ -b /dev/vdc ] && wr vdc 0 $n
  echo "KUMO-MARK $n"
  echo "KUMO-SIZE vda=$(cat /sys/block/vda/size) vdc=$(cat /sys/block/vdc/size 2>/dev/null)"
  sleep 1
done
"""

GB_SECTORS = 2 * 1024 * 1024


class NsAgent(Agent):
    """The qemu agent inside the test host's namespace."""

    def __init__(self, kumod, tmp, name, ns):
        super().__init__(kumod, tmp, name, 1, ["--driver", "qemu"])
        self.ns = ns

    def start(self):
        sp = subprocess
        args = ["nsenter", "--net=/run/netns/" + self.ns.name, "--", AGENT, "--server",
                self.kumod.url, "--join-token-file", self.kumod.join_token_file,
                "--data-dir", self.dir, "--name", self.name] + self.extra
        self.proc = sp.Popen(args, stdout=open(self.log, "ab"), stderr=sp.STDOUT)
        return self


class SnapCloud:
    def __init__(self, tmp, image_dir):
        self.ns = self.peer = None
        self.fwd = None
        self.cloud = None
        self.agent = None
        try:
            self._build(tmp, image_dir)
        except BaseException:
            self.stop()
            raise

    def _build(self, tmp, image_dir):
        self.ns = Netns("snap")
        self.peer = Netns("snapp")  # the other end of the host's physical link
        veth(self.ns, "phy0", self.peer, "p0")
        self.cloud = Cloud(tmp).start()
        api = self.api = self.cloud.admin
        self.fwd = Forwarder(self.ns.name, self.cloud.kumod.port)
        self.agent = NsAgent(self.cloud.kumod, tmp, "snaph", self.ns).start()
        self.cloud.agents.append(self.agent)
        wait_for(lambda: self.cloud.connected_hosts("snaph") >= 1, timeout=30,
                 what="the test host to connect")
        self.host = api.ok("GET", "/v1/hosts")["items"][0]
        self.host_dir = os.path.join(self.agent.dir, "hosts", "0")
        img, r = upload(api, os.path.join(image_dir, "demo.qcow2"), "demo", "qcow2")
        assert r.status_code in (200, 201), r.text
        self.image = img["id"]
        zones = api.ok("GET", "/v1/zones")["items"]
        zone_id = zones[0]["id"] if zones else api.ok("POST", "/v1/zones", {"name": "z"})["id"]
        l2 = api.ok("POST", "/v1/l2-networks", {"name": "snapflat", "zone_id": zone_id,
                                                 "type": "flat", "physical_interface": "phy0"})
        self.l3 = api.ok("POST", "/v1/l3-networks", {
            "name": "snapnet", "l2_network_id": l2["id"], "cidr": "10.61.0.0/24",
            "services": ["dhcp"]})

    def create(self, name, image_id=None):
        job = self.api.ok("POST", "/v1/vms", {
            "name": name, "image_id": image_id or self.image, "vcpus": 1, "memory_mb": 192,
            "root_disk_gb": 1, "l3_network_ids": [self.l3["id"]], "user_data": SCRIPT})
        return self.booted(job)

    def booted(self, job):
        job = self.api.job(job, timeout=BOOT)
        assert job["state"] == "succeeded", job
        return self.api.ok("GET", "/v1/vms/" + job["resource_id"])

    def console(self, vm):
        return self.api.ok("GET", "/v1/vms/%s/console?tail=3000" % vm["id"])["output"].replace(
            "\r", "")

    def lines(self, vm, prefix, after=0):
        out = self.console(vm)
        return [ln for ln in out[after:].splitlines() if ln.startswith(prefix)]

    def wait_line(self, vm, pattern, after=0, timeout=BOOT):
        box = {}

        def seen():
            m = re.search(pattern, self.console(vm)[after:], re.M)
            box["m"] = m
            return m is not None
        wait_for(seen, timeout=timeout, interval=1,
                 what="%r on the console of %s" % (pattern, vm["name"]))
        return box["m"]

    def last_mark(self, vm):
        marks = self.lines(vm, "KUMO-MARK ")
        return int(marks[-1].split()[1]) if marks else 0

    def wait_mark(self, vm, above):
        wait_for(lambda: self.last_mark(vm) > above, timeout=BOOT, interval=1,
                 what="the counter of %s past %d" % (vm["name"], above))
        return self.last_mark(vm)

    def action(self, vm, verb, body=None):
        job = self.api.ok("POST", "/v1/vms/%s/actions/%s" % (vm["id"], verb), body or {})
        job = self.api.job(job, timeout=BOOT)
        assert job["state"] == "succeeded", job
        return job

    def job(self, method, path, body=None):
        job = self.api.ok(method, path, body)
        job = self.api.job(job, timeout=BOOT)
        assert job["state"] == "succeeded", job
        return job

    def qemu_cmdline(self, vm):
        pid = int(open(os.path.join(self.host_dir, "vms", vm["id"], "qemu.pid")).read())
        return open("/proc/%d/cmdline" % pid, "rb").read().split(b"\0")

    def stop(self):
        if self.cloud:
            try:
                for vm in self.api.ok("GET", "/v1/vms?limit=1000")["items"]:
                    self.api.req("DELETE", "/v1/vms/%s?wait=30" % vm["id"])
            except Exception:  # noqa: BLE001 - best effort, the kills below are sure
                pass
            self.cloud.stop()
        if self.fwd:
            self.fwd.close()
        if self.agent:
            vmdir = os.path.join(self.agent.dir, "hosts", "0", "vms")
            for d in os.listdir(vmdir) if os.path.isdir(vmdir) else []:
                try:
                    os.kill(int(open(os.path.join(vmdir, d, "qemu.pid")).read()), 9)
                except (OSError, ValueError):
                    pass
        if getattr(self, "host", None):
            for n in netns_list():
                if n.startswith("kumo-" + self.host["id"][:8]):
                    for p in subprocess.run(["ip", "netns", "pids", n], capture_output=True,
                                            text=True).stdout.split():
                        try:
                            os.kill(int(p), 9)
                        except (OSError, ValueError):
                            pass
                    subprocess.run(["ip", "netns", "del", n], capture_output=True)
        for ns in (self.ns, self.peer):
            if ns:
                ns.remove()


@pytest.fixture(scope="module")
def sc(guest_image, tmp_path_factory):
    s = SnapCloud(str(tmp_path_factory.mktemp("snap")), guest_image)
    try:
        yield s
    finally:
        s.stop()
    leftovers = [n for n in netns_list() if n.startswith("kt%d-" % os.getpid())]
    assert not leftovers, leftovers


def err(r, status, code):
    assert r.status_code == status, "%d %s" % (r.status_code, r.text)
    assert r.json()["error"]["code"] == code, r.text
    return r.json()["error"]["message"]


def nic_ip(vm):
    return vm["nics"][0]["ip"]


def test_snapshot_revert_resize_and_clones(sc):
    api = sc.api
    src = sc.create("src")
    sc.wait_line(src, r"^KUMO-NET eth0 %s/24$" % re.escape(nic_ip(src)))
    sc.wait_line(src, r"^KUMO-READ vda=none vdc=none$")
    # a data volume, hot-attached: the guest writes the counter there too
    job = sc.job("POST", "/v1/volumes", {"name": "data1", "size_gb": 1, "vm_id": src["id"]})
    vol = api.ok("GET", "/v1/volumes/" + job["resource_id"])
    sc.wait_line(src, r"^KUMO-SIZE vda=\d+ vdc=%d$" % GB_SECTORS)

    # online resize of the data volume: the guest sees the new size
    r = api.post("/v1/volumes/%s/actions/resize" % vol["id"], {"size_gb": 0})
    assert r.status_code == 400, r.text
    job = sc.job("POST", "/v1/volumes/%s/actions/resize" % vol["id"], {"size_gb": 2})
    assert job["result"]["size_gb"] == 2 and job["result"]["online"] is True, job
    sc.wait_line(src, r"^KUMO-SIZE vda=\d+ vdc=%d$" % (2 * GB_SECTORS))
    assert api.ok("GET", "/v1/volumes/" + vol["id"])["size_gb"] == 2
    # smaller is refused, clearly
    msg = err(api.post("/v1/volumes/%s/actions/resize" % vol["id"], {"size_gb": 1}), 400,
              "InvalidArgument")
    assert "smaller" in msg, msg

    # a VM snapshot while it runs: every volume at one instant
    sc.wait_mark(src, 2)
    before = sc.last_mark(src)
    job = sc.job("POST", "/v1/snapshots", {"vm_id": src["id"], "name": "snap1"})
    snap1 = job["result"]
    assert snap1["state"] == "ready" and snap1["online"] is True, snap1
    group = api.ok("GET", "/v1/snapshots?q=group_id=%s" % snap1["id"])["items"]
    assert sorted(s["volume_kind"] for s in group) == ["data", "root"], group
    assert {s["volume_id"] for s in group} == set(api.ok("GET", "/v1/vms/" + src["id"])["volumes"])
    after = sc.wait_mark(src, sc.last_mark(src) + 2)

    # reverting a running VM is refused
    err(api.post("/v1/snapshots/%s/actions/revert" % snap1["id"], {}), 409, "Conflict")

    # another account sees none of it
    acct = api.ok("POST", "/v1/accounts", {"name": "other"})
    api.ok("POST", "/v1/users", {"name": "o", "password": "password-1", "role": "owner",
                                 "account_id": acct["id"]})
    other = sc.cloud.kumod.login("other", "o", "password-1")
    err(other.get("/v1/snapshots/" + snap1["id"]), 404, "NotFound")
    assert other.ok("GET", "/v1/snapshots")["items"] == []
    err(other.delete("/v1/snapshots/" + snap1["id"]), 404, "NotFound")
    err(other.post("/v1/snapshots/%s/actions/revert" % snap1["id"], {}), 404, "NotFound")
    err(other.post("/v1/snapshots", {"vm_id": src["id"], "name": "x"}), 404, "NotFound")

    # resizing vCPUs and memory of a running VM is refused
    err(api.post("/v1/vms/%s/actions/resize" % src["id"], {"vcpus": 2}), 409, "Conflict")

    # stop, revert, grow the root disk offline, more vCPUs and memory, start
    sc.action(src, "stop")
    last = sc.last_mark(src)
    assert last >= after >= before + 2
    job = sc.job("POST", "/v1/snapshots/%s/actions/revert" % snap1["id"], {})
    job = sc.job("POST", "/v1/volumes/%s/actions/resize" % src["volumes"][0], {"size_gb": 2})
    assert job["result"]["online"] is False, job
    assert api.ok("GET", "/v1/vms/" + src["id"])["root_disk_gb"] == 2
    job = sc.job("POST", "/v1/vms/%s/actions/resize" % src["id"], {"vcpus": 2, "memory_mb": 256})
    assert (job["result"]["vcpus"], job["result"]["memory_mb"]) == (2, 256)
    mark = len(sc.console(src))
    sc.action(src, "start")
    m = sc.wait_line(src, r"^KUMO-READ vda=(\d+) vdc=(\d+)$", after=mark)
    vda, vdc = int(m.group(1)), int(m.group(2))
    # the counter went back to what it was when the snapshot was taken
    assert before <= vda <= before + 1 < last, (before, vda, last)
    assert before <= vdc <= before + 1, (before, vdc)
    sc.wait_line(src, r"^KUMO-CPUS 2$", after=mark)
    sc.wait_line(src, r"^KUMO-SIZE vda=%d vdc=%d$" % (2 * GB_SECTORS, 2 * GB_SECTORS),
                 after=mark)
    argv = sc.qemu_cmdline(src)
    # (under TCG 8 KiB more: driver_qemu.c keeps QEMU's RAM off a length
    # whose migrations lose writes)
    mem = b"256" if sc.host["accel"] == "kvm" else b"%dk" % (256 * 1024 + 8)
    assert argv[argv.index(b"-smp") + 1] == b"2" and argv[argv.index(b"-m") + 1] == mem

    # a linked clone of a new snapshot boots with its own address
    sc.wait_mark(src, vda + 2)
    before2 = sc.last_mark(src)
    snap2 = sc.job("POST", "/v1/snapshots", {"vm_id": src["id"], "name": "snap2"})["result"]
    job = api.ok("POST", "/v1/vms/%s/actions/clone" % src["id"],
                 {"name": "lnk", "snapshot_id": snap2["id"], "linked": True})
    lnk = sc.booted(job)
    assert lnk["linked_clone"] is True and lnk["source_snapshot_id"] == snap2["id"]
    assert lnk["host_id"] == src["host_id"] and nic_ip(lnk) != nic_ip(src)
    export = os.path.join(sc.host_dir, "vms", src["id"], "export-%s.qcow2" % snap2["id"])
    assert os.path.exists(export)
    sc.wait_line(lnk, r"^KUMO-NET eth0 %s/24$" % re.escape(nic_ip(lnk)))
    # its data volume is a full copy of the data volume's part of snap2
    m = sc.wait_line(lnk, r"^KUMO-READ vda=(\d+) vdc=(\d+)$")
    assert before2 <= int(m.group(1)) <= before2 + 1, (before2, m.group(1))
    assert before2 <= int(m.group(2)) <= before2 + 1, (before2, m.group(2))
    data_snap = [x for x in api.ok("GET", "/v1/snapshots?q=group_id=%s" % snap2["id"])["items"]
                 if x["volume_kind"] == "data"][0]
    lvol = api.ok("GET", "/v1/volumes/" + lnk["volumes"][1])
    assert (lvol["kind"], lvol["vm_id"], lvol["name"]) == ("data", lnk["id"], "lnk-data1"), lvol
    assert (lvol["source_volume_id"], lvol["source_snapshot_id"]) == (
        vol["id"], data_snap["id"]), lvol
    assert lvol["state"] == "in_use" and lvol["size_gb"] == 2, lvol
    # its snapshot cannot go while it depends on it
    msg = err(api.delete("/v1/snapshots/" + snap2["id"]), 409, "Conflict")
    assert "lnk" in msg and lnk["id"] in msg, msg
    # nor can its source go
    msg = err(api.delete("/v1/vms/" + src["id"]), 409, "Conflict")
    assert "lnk" in msg, msg

    # an image made from the snapshot boots with the snapshot's disk
    job = sc.job("POST", "/v1/snapshots/%s/actions/create_image" % snap2["id"],
                 {"name": "from-snap2"})
    img = job["result"]
    assert img["status"] == "active" and img["format"] == "qcow2", img
    assert img["virtual_size"] == 2 * 1024 ** 3, img
    fromimg = sc.create("fromimg", image_id=img["id"])
    m = sc.wait_line(fromimg, r"^KUMO-READ vda=(\d+) vdc=none$")
    assert before2 <= int(m.group(1)) <= before2 + 1, (before2, m.group(1))
    # (stopped, not destroyed: its address must not go to the next VM while
    # the DHCP server still holds a lease of it for its MAC)
    sc.action(fromimg, "stop", {"force": True})
    # a volume attached to a running VM is exported only through a snapshot
    err(api.post("/v1/volumes/%s/actions/create_image" % vol["id"], {"name": "v"}), 409,
        "Conflict")

    # deleting a snapshot (online) keeps the data written after it
    sc.job("DELETE", "/v1/snapshots/" + snap1["id"])
    err(api.get("/v1/snapshots/" + snap1["id"]), 404, "NotFound")
    assert api.ok("GET", "/v1/snapshots?q=group_id=%s" % snap1["id"])["items"] == []
    first = sc.wait_mark(src, sc.last_mark(src) + 2)
    # a full clone of the running VM has its disk as it is now (through a
    # temporary internal snapshot that is gone afterwards)
    job = api.ok("POST", "/v1/vms/%s/actions/clone" % src["id"], {"name": "full"})
    full = sc.booted(job)
    last = sc.last_mark(src)
    assert full["linked_clone"] is False and full["source_vm_id"] == src["id"]
    assert full["source_snapshot_id"] is None
    assert nic_ip(full) not in (nic_ip(src), nic_ip(lnk))
    listing = subprocess.run(["qemu-img", "snapshot", "-U", "-l", os.path.join(
        sc.host_dir, "vms", src["id"], "disk.qcow2")], capture_output=True, text=True).stdout
    assert full["id"] not in listing and snap2["id"] in listing, listing
    listing = subprocess.run(["qemu-img", "snapshot", "-U", "-l", os.path.join(
        sc.host_dir, "volumes", vol["id"] + ".qcow2")], capture_output=True, text=True).stdout
    assert full["id"] not in listing and data_snap["id"] in listing, listing
    sc.wait_line(full, r"^KUMO-NET eth0 %s/24$" % re.escape(nic_ip(full)))
    # both disks as they were at one instant: the guest writes them together
    m = sc.wait_line(full, r"^KUMO-READ vda=(\d+) vdc=(\d+)$")
    assert before + 1 < first <= int(m.group(1)) <= last + 1, (first, m.group(1), last)
    assert abs(int(m.group(2)) - int(m.group(1))) <= 1, m.group(0)
    fvol = api.ok("GET", "/v1/volumes/" + full["volumes"][1])
    assert (fvol["source_volume_id"], fvol["source_snapshot_id"]) == (vol["id"], None), fvol
    sc.action(src, "stop")

    # with the linked clone gone its snapshot can be deleted (src is
    # stopped: qemu-img this time)
    sc.job("DELETE", "/v1/vms/" + lnk["id"])
    sc.job("DELETE", "/v1/snapshots/" + snap2["id"])
    assert api.ok("GET", "/v1/snapshots?q=vm_id=%s" % src["id"])["items"] == []
    assert not os.path.exists(export)

    # a snapshot of one volume of a stopped VM, and images of a volume
    job = sc.job("POST", "/v1/snapshots", {"volume_id": vol["id"], "name": "vsnap"})
    vsnap = job["result"]
    assert vsnap["online"] is False and vsnap["volume_id"] == vol["id"], vsnap
    assert vsnap["group_id"] is None and vsnap["size_gb"] == 2, vsnap
    img = sc.job("POST", "/v1/volumes/%s/actions/create_image" % vol["id"],
                 {"name": "from-vol"})["result"]
    assert img["status"] == "active" and img["virtual_size"] == 2 * 1024 ** 3, img
    assert img["source_volume_id"] == vol["id"], img
    sc.job("DELETE", "/v1/snapshots/" + vsnap["id"])
    err(api.get("/v1/snapshots/" + vsnap["id"]), 404, "NotFound")


def test_bad_requests(sc):
    api = sc.api
    vm = api.ok("GET", "/v1/vms?q=name=src")["items"][0]
    err(api.post("/v1/snapshots", {"name": "x"}), 400, "InvalidArgument")
    err(api.post("/v1/snapshots", {"name": "x", "vm_id": vm["id"],
                                   "volume_id": vm["volumes"][0]}), 400, "InvalidArgument")
    err(api.post("/v1/snapshots", {"name": "x", "vm_id": str(uuid.uuid4())}), 404, "NotFound")
    err(api.post("/v1/vms/%s/actions/clone" % vm["id"], {"name": "y", "linked": True}), 400,
        "InvalidArgument")
    err(api.post("/v1/vms/%s/actions/resize" % vm["id"], {}), 400, "InvalidArgument")
    # growth is checked against the account's quota
    me = api.ok("GET", "/v1/whoami")["account_id"]
    used = api.ok("GET", "/v1/quotas/" + me)["used"]
    api.ok("PATCH", "/v1/quotas/" + me, {"vcpus": used["vcpus"]})
    try:
        assert api.ok("GET", "/v1/vms/" + vm["id"])["state"] == "stopped"
        msg = err(api.post("/v1/vms/%s/actions/resize" % vm["id"], {"vcpus": 3}), 409,
                  "Conflict")
        assert "quota vcpus" in msg, msg
    finally:
        api.ok("PATCH", "/v1/quotas/" + me, {"vcpus": -1})
    # a volume never attached has no data to snapshot; it resizes without a job
    v = api.ok("POST", "/v1/volumes", {"name": "loose", "size_gb": 1})
    err(api.post("/v1/snapshots", {"name": "x", "volume_id": v["id"]}), 409, "Conflict")
    r = api.ok("POST", "/v1/volumes/%s/actions/resize" % v["id"], {"size_gb": 3}, status=200)
    assert r["size_gb"] == 3


def test_snapshots_take_space_from_their_pool_and_host(sc):
    """A snapshot of a root disk on the local pool holds up to the disk's
    size (its copy-on-write clusters): the pool and the host count it while
    it lives, a pool without the room refuses it, and a delete gives it
    back. Growing the root disk is counted in the same two places."""
    api = sc.api
    vm = api.ok("GET", "/v1/vms?q=name=src")["items"][0]
    root = api.ok("GET", "/v1/volumes/" + vm["volumes"][0])
    gb = root["size_gb"]
    pool_url = "/v1/storage-pools/" + vm["pool_id"]

    def counted():
        return (api.ok("GET", pool_url)["allocated_gb"],
                api.ok("GET", "/v1/hosts/" + vm["host_id"])["disk_gb_allocated"])

    pool0, host0 = counted()
    job = sc.job("POST", "/v1/snapshots", {"volume_id": root["id"], "name": "space"})
    snap = job["result"]
    assert counted() == (pool0 + gb, host0 + gb)

    # a pool without room for another refuses it; nothing is made
    api.ok("PATCH", pool_url, {"capacity_gb": pool0 + gb})
    try:
        msg = err(api.post("/v1/snapshots", {"volume_id": root["id"], "name": "space2"}),
                  409, "Conflict")
        assert "lacks capacity" in msg, msg
        assert api.ok("GET", "/v1/snapshots?q=name=space2")["items"] == []
        assert counted() == (pool0 + gb, host0 + gb)
    finally:
        api.ok("PATCH", pool_url, {"capacity_gb": None})

    sc.job("DELETE", "/v1/snapshots/" + snap["id"])
    assert counted() == (pool0, host0)

    # growing the root disk counts the same way: a pool without the room
    # refuses it (nothing changes), then the pool and the host count 1 GB more
    api.ok("PATCH", pool_url, {"capacity_gb": pool0})
    try:
        msg = err(api.post("/v1/volumes/%s/actions/resize" % root["id"], {"size_gb": gb + 1}),
                  409, "Conflict")
        assert "lacks capacity" in msg, msg
        assert api.ok("GET", "/v1/volumes/" + root["id"])["size_gb"] == gb
        assert counted() == (pool0, host0)
    finally:
        api.ok("PATCH", pool_url, {"capacity_gb": None})
    job = sc.job("POST", "/v1/volumes/%s/actions/resize" % root["id"], {"size_gb": gb + 1})
    assert job["result"]["size_gb"] == gb + 1, job
    assert counted() == (pool0 + 1, host0 + 1)
