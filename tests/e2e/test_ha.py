# SPDX-License-Identifier: MIT
"""Storage pools and VM HA (issue 6), end to end: kumod and two kumo-agents
with the qemu driver, each in a network namespace this test made (they
reach kumod through a forwarder on their loopback, which the test can cut
to take a host away from kumod), one directory used by both as the shared
pool, and demo guests under TCG.

  - pools: the cluster's local pool, a shared pool, their errors and
    capacity;
  - a host's agent and its QEMUs killed: its HA VM is started on the other
    host, once, only after the lost host's heartbeat on the pool is older
    than the deadline, and the lost host forgets it when it comes back;
  - a host cut off from kumod whose pool heartbeat cannot be written either
    kills its own HA VM (self-fencing) before kumod starts it elsewhere."""
import calendar
import re
import os
import signal
import subprocess
import time

import pytest

from conftest import Cloud, wait_for
from netns import Forwarder, Netns, assert_no_test_netns, remove_kumo_netns, veth
from test_net import NsAgent
from test_qemu import BOOT, upload

COUNTER = r"""#!/bin/sh
i=0
while :; do echo "TICK $i"; i=$((i+1)); sleep 0.1; done
"""


def qemu_pid(agent, vm_id):
    try:
        with open(os.path.join(agent.dir, "hosts", "0", "vms", vm_id, "qemu.pid")) as f:
            pid = int(f.read().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return 0


def alive(pid):
    """pid runs (a zombie, exited but not yet reaped by its agent, does not)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


class HaWorld:
    def __init__(self, tmp, image_dir):
        self.tmp = tmp
        self.ns = {}
        self.fwd = {}
        self.cloud = None
        self.agents = {}
        try:
            self._build(image_dir)
        except BaseException:
            self.stop()
            raise

    def _build(self, image_dir):
        for h in ("h1", "h2"):
            self.ns[h] = Netns(h)
        # the hosts' network, for migration traffic: a bridge in a namespace
        ul = self.ns["ul"] = Netns("ul")
        ul.ip("link", "add", "br0", "type", "bridge")
        ul.ip("link", "set", "br0", "up")
        for i, h in ((1, "h1"), (2, "h2")):
            veth(self.ns[h], "eth0", ul, "u%d" % i)
            ul.ip("link", "set", "u%d" % i, "master", "br0")
            self.ns[h].ip("addr", "add", "10.251.0.%d/24" % i, "dev", "eth0")
        self.cloud = Cloud(self.tmp).start()
        api = self.api = self.cloud.admin
        for i, h in ((1, "h1"), (2, "h2")):
            self.fwd[h] = Forwarder(self.ns[h].name, self.cloud.kumod.port)
            self.start_agent(h)
        wait_for(lambda: self.cloud.connected_hosts("ha") >= 2, timeout=30,
                 what="both test hosts to connect")
        self.hosts = {}
        for host in api.ok("GET", "/v1/hosts")["items"]:
            for h in ("h1", "h2"):
                if host["name"] == "ha" + h:
                    self.hosts[h] = host
        assert self.hosts["h1"]["cluster_id"] == self.hosts["h2"]["cluster_id"]
        self.cluster = self.hosts["h1"]["cluster_id"]
        img, r = upload(api, os.path.join(image_dir, "demo.qcow2"), "demo", "qcow2")
        assert r.status_code in (200, 201), r.text
        self.image = img["id"]
        self.offering = api.ok("POST", "/v1/instance-offerings", {
            "name": "tiny", "vcpus": 1, "memory_mb": 192, "root_disk_gb": 1})["id"]
        self.shared_dir = os.path.join(self.tmp, "shared")
        os.makedirs(self.shared_dir)
        self.pool = api.ok("POST", "/v1/storage-pools", {
            "name": "nfs1", "cluster_id": self.cluster, "type": "shared",
            "path": self.shared_dir, "capacity_gb": 20})

    def start_agent(self, h):
        a = NsAgent(self.cloud.kumod, self.tmp, "ha" + h, self.ns[h],
                    "10.251.0.%s" % h[1:])
        a.start()
        old = self.agents.get(h)
        if old in self.cloud.agents:
            self.cloud.agents.remove(old)
        self.cloud.agents.append(a)
        self.agents[h] = a
        return a

    def vm(self, vm_id):
        return self.api.ok("GET", "/v1/vms/" + vm_id)

    def host_of(self, vm_id):
        hid = self.vm(vm_id)["host_id"]
        return [h for h, doc in self.hosts.items() if doc["id"] == hid][0]

    def console(self, vm_id):
        r = self.api.get("/v1/vms/%s/console?tail=400" % vm_id)
        return r.json().get("output", "") if r.status_code == 200 else ""

    def stop(self):
        if self.cloud:
            try:
                for vm in self.api.ok("GET", "/v1/vms?limit=1000")["items"]:
                    self.api.req("DELETE", "/v1/vms/%s?wait=30" % vm["id"])
            except Exception:  # noqa: BLE001 - best effort, the kills below are sure
                pass
            self.cloud.stop()
        for f in self.fwd.values():
            f.close()
        for a in self.agents.values():
            vmdir = os.path.join(a.dir, "hosts", "0", "vms")
            for d in os.listdir(vmdir) if os.path.isdir(vmdir) else []:
                pid = qemu_pid(a, d)
                if pid:
                    os.kill(pid, signal.SIGKILL)
        remove_kumo_netns([h["id"] for h in getattr(self, "hosts", {}).values()])
        for ns in self.ns.values():
            ns.remove()


@pytest.fixture(scope="module")
def world(guest_image, tmp_path_factory):
    w = HaWorld(str(tmp_path_factory.mktemp("ha")), guest_image)
    try:
        yield w
    finally:
        w.stop()
    assert_no_test_netns()


def test_pools_api(world):
    api = world.api
    pools = api.ok("GET", "/v1/storage-pools?q=cluster_id=%s" % world.cluster)["items"]
    assert world.pool["id"] in [p["id"] for p in pools]
    assert world.pool["allocated_gb"] == 0 and world.pool["available_gb"] == 20
    # bad input
    for body, field in (
            ({"name": "p1", "cluster_id": world.cluster, "type": "shared"}, "path"),
            ({"name": "p2", "cluster_id": world.cluster, "type": "shared",
              "path": "relative/dir"}, "path"),
            ({"name": "p3", "cluster_id": world.cluster, "type": "shared",
              "path": "/a/../etc"}, "path"),
            ({"name": "p4", "cluster_id": world.cluster, "type": "local",
              "path": "/srv"}, "path"),
            ({"name": "p5", "cluster_id": world.cluster, "type": "ceph"}, "type")):
        r = api.post("/v1/storage-pools", body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"]["field"] == field, r.text
    r = api.post("/v1/storage-pools", {"name": "p6", "cluster_id": "0" * 8 + "-0000-4000-8000-"
                                       + "0" * 12, "type": "shared", "path": "/srv/x"})
    assert r.status_code in (400, 404), r.text
    # a tenant reads pools but cannot make them
    acct = api.ok("POST", "/v1/accounts", {"name": "pooltenant"})
    api.ok("POST", "/v1/users", {"account_id": acct["id"], "name": "u", "password": "pw-12345678",
                                 "role": "owner"})
    r = api.post("/v1/sessions", {"account": "pooltenant", "user": "u",
                                  "password": "pw-12345678"})
    assert r.status_code == 201, r.text
    from conftest import Api
    tenant = Api(api.url, r.json()["token"])
    assert tenant.get("/v1/storage-pools/" + world.pool["id"]).status_code == 200
    assert tenant.post("/v1/storage-pools", {"name": "t", "cluster_id": world.cluster,
                                             "type": "shared", "path": "/t"}).status_code == 403
    # capacity: three 10 GB roots do not fit in 20 GB; nothing is made
    before = len(api.ok("GET", "/v1/vms?limit=1000")["items"])
    r = api.post("/v1/vms", {"name": "big", "image_id": world.image, "vcpus": 1,
                             "memory_mb": 64, "root_disk_gb": 10, "count": 3,
                             "pool_id": world.pool["id"]})
    assert r.status_code == 409, r.text
    assert "lacks capacity" in r.json()["error"]["message"]
    assert len(api.ok("GET", "/v1/vms?limit=1000")["items"]) == before
    # a pool of another cluster than the one asked for
    other = api.ok("POST", "/v1/clusters", {"name": "other", "zone_id": world.hosts["h1"][
        "zone_id"], "hypervisor": "qemu"})
    r = api.post("/v1/vms", {"name": "wrong", "image_id": world.image, "vcpus": 1,
                             "memory_mb": 64, "cluster_id": other["id"],
                             "pool_id": world.pool["id"]})
    assert r.status_code == 400 and r.json()["error"]["field"] == "pool_id", r.text
    api.ok("DELETE", "/v1/clusters/" + other["id"], status=204)
    # a shared data volume takes room in its pool and gives it back
    vol = api.ok("POST", "/v1/volumes", {"name": "sv", "size_gb": 3,
                                         "pool_id": world.pool["id"]})
    assert vol["pool_id"] == world.pool["id"]
    assert api.ok("GET", "/v1/storage-pools/" + world.pool["id"])["allocated_gb"] == 3
    # grown (on no host yet: at once), it takes the new size; a pool
    # without the room refuses
    api.ok("POST", "/v1/volumes/%s/actions/resize" % vol["id"], {"size_gb": 5}, status=200)
    assert api.ok("GET", "/v1/storage-pools/" + world.pool["id"])["allocated_gb"] == 5
    r = api.post("/v1/volumes/%s/actions/resize" % vol["id"], {"size_gb": 100})
    assert r.status_code == 409 and "lacks capacity" in r.text, r.text
    assert api.ok("GET", "/v1/volumes/" + vol["id"])["size_gb"] == 5
    api.ok("DELETE", "/v1/volumes/" + vol["id"], status=204)
    assert api.ok("GET", "/v1/storage-pools/" + world.pool["id"])["allocated_gb"] == 0


def test_vm_on_local_and_shared_pools(world):
    api = world.api
    job = api.ok("POST", "/v1/vms", {"name": "loc", "image_id": world.image,
                                     "instance_offering_id": world.offering,
                                     "host_id": world.hosts["h1"]["id"]})
    job = api.job(job, timeout=BOOT)
    assert job["state"] == "succeeded", job
    vm = world.vm(job["resource_id"])
    local = api.ok("GET", "/v1/storage-pools?q=cluster_id=%s&q=type=local" % world.cluster)
    assert vm["pool_id"] == local["items"][0]["id"]
    assert os.path.exists(os.path.join(world.agents["h1"].dir, "hosts", "0", "vms", vm["id"],
                                       "disk.qcow2"))
    r = api.delete("/v1/storage-pools/" + local["items"][0]["id"])
    assert r.status_code == 409, r.text
    api.ok("DELETE", "/v1/vms/%s?wait=60" % vm["id"], status=200)


def boot_ha_vm(world, name, host):
    api = world.api
    job = api.ok("POST", "/v1/vms", {"name": name, "image_id": world.image,
                                     "instance_offering_id": world.offering,
                                     "host_id": world.hosts[host]["id"], "ha": "restart",
                                     "pool_id": world.pool["id"], "user_data": COUNTER})
    job = api.job(job, timeout=BOOT)
    assert job["state"] == "succeeded", job
    vm_id = job["resource_id"]
    wait_for(lambda: "TICK 1" in world.console(vm_id), timeout=BOOT, interval=1,
             what="the counter of %s" % name)
    return vm_id


def ha_events(world, vm_id):
    evs = world.api.ok("GET", "/v1/events?limit=1000")["items"]
    return [e for e in evs if e["type"] == "vm.ha_restart" and e["resource_id"] == vm_id]


def wait_booted_on(world, vm_id, host, timeout):
    def ok():
        vm = world.vm(vm_id)
        return (vm["state"] == "running" and vm["host_id"] == world.hosts[host]["id"]
                and "KUMO-GUEST-READY" in world.console(vm_id))
    wait_for(ok, timeout=timeout, interval=0.5, what="vm %s to run on %s" % (vm_id, host))


def test_lost_host_ha_vm_restarts_elsewhere_once(world):
    api = world.api
    vm_id = boot_ha_vm(world, "ha1", "h1")
    vm = world.vm(vm_id)
    disk = os.path.join(world.shared_dir, "vms", vm_id, "disk.qcow2")
    assert os.path.exists(disk), "the root disk is on the shared pool"
    assert os.listdir(os.path.join(world.shared_dir, "images"))
    assert api.ok("GET", "/v1/storage-pools/" + world.pool["id"])["allocated_gb"] == 1
    beat = os.path.join(world.shared_dir, "heartbeat", world.hosts["h1"]["id"])
    wait_for(lambda: os.path.exists(beat), timeout=10, what="h1's heartbeat on the pool")
    assert vm["state"] == "running"

    # the host dies: its agent and its QEMU
    a1 = world.agents["h1"]
    pid = qemu_pid(a1, vm_id)
    assert pid
    t0 = time.time()
    a1.kill9()
    os.kill(pid, signal.SIGKILL)
    last_beat = os.stat(beat).st_mtime
    wait_booted_on(world, vm_id, "h2", timeout=60 + BOOT)
    t1 = time.time()
    evs = ha_events(world, vm_id)
    assert len(evs) == 1, evs
    # kumod waited for the heartbeat to be older than its deadline (12 s)
    restarted_at = calendar.timegm(time.strptime(evs[0]["time"][:19], "%Y-%m-%dT%H:%M:%S"))
    assert restarted_at >= last_beat + 12 - 1, (restarted_at, last_beat)
    print("HA: killed -> booted on the other host in %.1f s" % (t1 - t0))
    wait_for(lambda: "TICK" in world.console(vm_id), timeout=30, interval=0.5,
             what="the counter after the restart")

    # the lost host comes back: it does not start the VM, it forgets it
    world.start_agent("h1")
    wait_for(lambda: not os.path.exists(os.path.join(world.agents["h1"].dir, "hosts", "0",
                                                     "vms", vm_id)),
             timeout=60, what="h1 to forget the vm")
    assert qemu_pid(world.agents["h1"], vm_id) == 0
    assert os.path.exists(disk), "the disk on the pool stays"
    time.sleep(3)
    assert len(ha_events(world, vm_id)) == 1, "restarted once"
    vm = world.vm(vm_id)
    assert vm["state"] == "running" and vm["host_id"] == world.hosts["h2"]["id"]
    wait_for(lambda: world.cloud.connected_hosts("hah1") == 1, timeout=30,
             what="h1 back")


def test_cut_off_host_fences_itself_before_restart(world):
    vm_id = [v["id"] for v in world.api.ok("GET", "/v1/vms?q=name=ha1")["items"]][0]
    assert world.host_of(vm_id) == "h2"
    a2 = world.agents["h2"]
    pid = qemu_pid(a2, vm_id)
    assert pid
    beat = os.path.join(world.shared_dir, "heartbeat", world.hosts["h2"]["id"])
    # h2 loses kumod and its heartbeat on the pool
    world.fwd["h2"].close()
    os.unlink(beat)
    os.mkdir(beat)  # the heartbeat cannot be renamed into place any more
    t_cut = time.time()
    try:
        wait_for(lambda: not alive(pid), timeout=30, interval=0.2,
                 what="h2 to kill its HA vm")
        t_fenced = time.time()
        assert t_fenced - t_cut >= 6, "fenced only after fence_after_ms (8 s)"
        assert ha_events(world, vm_id)[1:] == [], "not restarted before the fence"
        wait_booted_on(world, vm_id, "h1", timeout=60 + BOOT)
        evs = ha_events(world, vm_id)
        assert len(evs) == 2, evs
        print("fenced %.1f s after the cut; restarted on h1" % (t_fenced - t_cut))
    finally:
        os.rmdir(beat)
        world.fwd["h2"] = Forwarder(world.ns["h2"].name, world.cloud.kumod.port)
    # h2 returns and forgets it; the VM keeps running on h1
    wait_for(lambda: not os.path.exists(os.path.join(a2.dir, "hosts", "0", "vms", vm_id)),
             timeout=60, what="h2 to forget the vm")
    vm = world.vm(vm_id)
    assert vm["state"] == "running" and vm["host_id"] == world.hosts["h1"]["id"]


def counts(world, vm_id):
    return [int(m) for m in re.findall(r"^TICK (\d+)\r?$", world.console(vm_id), re.M)]


def test_live_migration_on_the_shared_pool_moves_memory_only(world):
    """After the HA tests ha1 runs on h1; its disk is on the pool: a live
    migration to h2 copies no disk, the counter goes on, no new boot."""
    api = world.api
    vm_id = [v["id"] for v in api.ok("GET", "/v1/vms?q=name=ha1")["items"]][0]
    assert world.host_of(vm_id) == "h1"
    disk = os.path.join(world.shared_dir, "vms", vm_id, "disk.qcow2")
    ino = os.stat(disk).st_ino
    wait_for(lambda: counts(world, vm_id), timeout=30, interval=0.5, what="the counter")
    before = counts(world, vm_id)
    r = api.post("/v1/vms/%s/actions/migrate" % vm_id, {"host_id": world.hosts["h2"]["id"]})
    assert r.status_code == 202, r.text
    job = api.job(r.json(), timeout=180)
    assert job["state"] == "succeeded", job
    vm = world.vm(vm_id)
    assert vm["state"] == "running" and vm["host_id"] == world.hosts["h2"]["id"], vm
    wait_for(lambda: counts(world, vm_id) and counts(world, vm_id)[-1] > before[-1] + 5,
             timeout=60, interval=0.5, what="the counter on the destination")
    after = counts(world, vm_id)
    out = world.console(vm_id)
    assert "KUMO-GUEST-READY" not in out, "the guest booted again"
    assert after[0] >= before[-1] - 20, (before[-3:], after[:3])
    assert after == list(range(after[0], after[0] + len(after))), "the counter jumped"
    assert os.stat(disk).st_ino == ino, "the disk on the pool was not copied"
    assert not os.path.exists(os.path.join(world.shared_dir, "vms", vm_id + ".migrating"))
    # the source forgot it but the disk stays
    wait_for(lambda: not os.path.exists(os.path.join(world.agents["h1"].dir, "hosts", "0",
                                                     "vms", vm_id)),
             timeout=30, interval=0.5, what="the source's files to go")
    assert os.path.exists(disk)
    assert len(ha_events(world, vm_id)) == 2, "a migration is no HA restart"


def test_migration_to_a_host_without_the_pool_fails_cleanly(world):
    """A destination that does not see the shared pool (here the pool's
    directory is swapped for an empty one, as a mount point without its
    mount looks, while the migration is asked) refuses to prepare: the job
    fails naming the pool, the VM runs on where it was, the destination
    keeps nothing of it and gives its memory back."""
    api = world.api
    vm_id = [v["id"] for v in api.ok("GET", "/v1/vms?q=name=ha1")["items"]][0]
    src = world.host_of(vm_id)
    dst = "h1" if src == "h2" else "h2"
    mem = api.ok("GET", "/v1/hosts/" + world.hosts[dst]["id"])["memory_mb_allocated"]
    away = world.shared_dir + ".away"
    os.rename(world.shared_dir, away)
    os.mkdir(world.shared_dir)
    try:
        r = api.post("/v1/vms/%s/actions/migrate" % vm_id, {"host_id": world.hosts[dst]["id"]})
        assert r.status_code == 202, r.text
        job = api.job(r.json(), timeout=120)
    finally:
        subprocess.run(["rm", "-rf", "--one-file-system", world.shared_dir], check=True)
        os.rename(away, world.shared_dir)
    assert job["state"] == "failed", job
    assert job["error"]["code"] == "PoolUnavailable", job
    assert world.shared_dir in job["error"]["message"], job
    assert "mounted" in job["error"]["message"], job
    vm = world.vm(vm_id)
    assert vm["state"] == "running" and vm["host_id"] == world.hosts[src]["id"], vm
    assert not os.path.exists(os.path.join(world.agents[dst].dir, "hosts", "0", "vms", vm_id))
    h = api.ok("GET", "/v1/hosts/" + world.hosts[dst]["id"])
    assert h["memory_mb_allocated"] == mem, h
    before = counts(world, vm_id)[-1]
    wait_for(lambda: counts(world, vm_id)[-1] > before + 5, timeout=60, interval=0.5,
             what="the counter on the source")


def test_maintenance_drains_a_host(world):
    """h2 goes into maintenance: ha1 (shared pool) live-migrates to h1; a VM
    with a local root disk and a volume on the shared pool cannot migrate
    (mixed storage) and is stopped, the job says why; h2 takes no new VMs
    until it is enabled again."""
    api = world.api
    ha1 = [v["id"] for v in api.ok("GET", "/v1/vms?q=name=ha1")["items"]][0]
    assert world.host_of(ha1) == "h2"
    job = api.job(api.ok("POST", "/v1/vms", {
        "name": "mixed", "image_id": world.image, "instance_offering_id": world.offering,
        "host_id": world.hosts["h2"]["id"]}), timeout=BOOT)
    assert job["state"] == "succeeded", job
    mixed = job["resource_id"]
    vol = api.ok("POST", "/v1/volumes", {"name": "mixvol", "size_gb": 1, "vm_id": mixed,
                                         "pool_id": world.pool["id"]})
    vol = api.job(vol, timeout=60)
    assert vol["state"] == "succeeded", vol
    before = counts(world, ha1)
    r = api.post("/v1/hosts/%s/actions/maintenance" % world.hosts["h2"]["id"], {})
    assert r.status_code == 202, r.text
    assert api.get("/v1/hosts/" + world.hosts["h2"]["id"]).json()["state"] == "maintenance"
    # a second drain of the same host while this one runs: 409
    r2 = api.post("/v1/hosts/%s/actions/maintenance" % world.hosts["h2"]["id"], {})
    assert r2.status_code == 409, r2.text
    # kumod restarted in the middle of the drain: it carries on
    time.sleep(1)
    world.cloud.kumod.kill9()
    world.cloud.kumod.start()
    job = api.job(r.json(), timeout=240)
    assert job["state"] == "succeeded", job
    rows = {row["name"]: row for row in job["result"]["vms"]}
    assert rows["ha1"]["outcome"] == "migrated", rows
    assert rows["ha1"]["to_host_id"] == world.hosts["h1"]["id"]
    assert rows["mixed"]["outcome"] == "stopped", rows
    assert "shared pool" in rows["mixed"]["reason"], rows
    assert job["result"]["migrated"] == 1 and job["result"]["stopped"] == 1
    vm = world.vm(ha1)
    assert vm["host_id"] == world.hosts["h1"]["id"] and vm["state"] == "running"
    wait_for(lambda: counts(world, ha1) and counts(world, ha1)[-1] > before[-1],
             timeout=60, interval=0.5, what="ha1 counting on h1")
    wait_for(lambda: world.vm(mixed)["state"] == "stopped", timeout=120, interval=1,
             what="the mixed vm to stop")
    # no new VMs on a host in maintenance
    r = api.post("/v1/vms", {"name": "nope", "image_id": world.image, "vcpus": 1,
                             "memory_mb": 64, "host_id": world.hosts["h2"]["id"]})
    assert r.status_code >= 400, r.text
    api.ok("POST", "/v1/hosts/%s/actions/enable" % world.hosts["h2"]["id"], {})
    assert api.get("/v1/hosts/" + world.hosts["h2"]["id"]).json()["state"] == "enabled"


def test_snapshot_of_a_vm_on_the_shared_pool(world):
    """Snapshots live inside the disk on the pool: taken while it runs,
    listed by qemu-img there, deleted."""
    api = world.api
    vm_id = [v["id"] for v in api.ok("GET", "/v1/vms?q=name=ha1")["items"]][0]
    job = api.job(api.ok("POST", "/v1/snapshots", {"name": "s1", "vm_id": vm_id}), timeout=120)
    assert job["state"] == "succeeded", job
    snap = job["result"]
    disk = os.path.join(world.shared_dir, "vms", vm_id, "disk.qcow2")
    out = subprocess.run(["qemu-img", "snapshot", "-U", "-l", disk], capture_output=True,
                         text=True).stdout
    assert snap["id"] in out, out
    job = api.job(api.ok("DELETE", "/v1/snapshots/" + snap["id"]), timeout=120)
    assert job["state"] == "succeeded", job
    out = subprocess.run(["qemu-img", "snapshot", "-U", "-l", disk], capture_output=True,
                         text=True).stdout
    assert snap["id"] not in out, out
