# SPDX-License-Identifier: MIT
"""VMs end to end: create (one and batches), placement, IPAM, the action
state table, destroy and what it releases, volumes, host failures and job
filters. Real kumod, real kumo-agent with the sim driver."""
import ipaddress
import time

from conftest import SLOW

FAST = ["--sim-delay-ms", "30"]
# docs/API.md's VM fields: nothing else (kumod's own bookkeeping) is shown
VM_FIELDS = {"id", "created_at", "updated_at", "account_id", "name", "description", "state",
             "state_reason", "host_id", "zone_id", "cluster_id", "image_id",
             "instance_offering_id", "vcpus", "memory_mb", "root_disk_gb", "nics", "volumes",
             "user_data", "ssh_keys", "ha", "priority", "job_id", "accel", "pool_id"}


# --- helpers -------------------------------------------------------------------

def boot(cloud, hosts=1, extra=None, name="a"):
    cloud.add_agent(name, hosts=hosts, extra=extra if extra is not None else FAST)
    return cloud.basics()


def host_map(api, prefix=""):
    items = api.ok("GET", "/v1/hosts?limit=1000")["items"]
    return {h["name"]: h for h in items if h["name"].startswith(prefix)}


def host_by_id(api, host_id):
    return api.ok("GET", "/v1/hosts/%s" % host_id)


def vm_body(b, name, **kw):
    body = {"name": name, "image_id": b["image"], "instance_offering_id": b["offering"],
            "l3_network_ids": [b["l3"]]}
    body.update(kw)
    return body


def create(api, b, name, **kw):
    """POSTs a create; asserts 202 and returns the job."""
    r = api.post("/v1/vms", vm_body(b, name, **kw))
    assert r.status_code == 202, r.text
    return r.json()


def create_wait(api, b, name, **kw):
    """Creates one VM and waits for its job; returns (job, vm)."""
    job = api.job(create(api, b, name, **kw))
    vm = api.ok("GET", "/v1/vms/%s" % job["resource_id"])
    return job, vm


def vms(api, q=None):
    path = "/v1/vms?limit=1000" + "".join("&q=" + x for x in (q or []))
    return api.ok("GET", path)["items"]


def act(api, vm_id, verb, body=None):
    r = api.post("/v1/vms/%s/actions/%s" % (vm_id, verb), body if body is not None else {})
    assert r.status_code == 202, "%s: %d %s" % (verb, r.status_code, r.text)
    return r.json()


def state(api, vm_id):
    return api.ok("GET", "/v1/vms/%s" % vm_id)["state"]


def l3_used(api, l3_id):
    return api.ok("GET", "/v1/l3-networks/%s" % l3_id)["ip_used"]


def conflict(r, *words):
    assert r.status_code == 409, "%d %s" % (r.status_code, r.text)
    err = r.json()["error"]
    assert err["code"] == "Conflict", err
    for w in words:
        assert w in err["message"], "%r not in %r" % (w, err["message"])
    return err


def small_l3(cloud, b, name, cidr, ranges=None):
    body = {"name": name, "l2_network_id": b["l2"], "cidr": cidr, "shared": True}
    if ranges:
        body["ip_ranges"] = [{"start": s, "end": e} for s, e in ranges]
    return cloud.admin.ok("POST", "/v1/l3-networks", body, status=201)


# --- create --------------------------------------------------------------------

def test_create_one_vm_202_job_running_address_in_range_root_volume(cloud):
    # Slow enough that the VM is seen in "creating" right after the POST.
    b = boot(cloud, extra=["--sim-delay-ms", "600"])
    api = cloud.admin
    l3 = small_l3(cloud, b, "ranged", "10.20.0.0/24", [("10.20.0.100", "10.20.0.199")])
    host = list(host_map(api, "a").values())[0]

    r = api.post("/v1/vms", vm_body(b, "one", l3_network_ids=[l3["id"]]))
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["Location"] == "/v1/jobs/%s" % job["id"]
    assert job["type"] == "vm.create"
    assert job["resource_kind"] == "vms"
    assert job["state"] in ("pending", "running")
    vm_id = job["resource_id"]
    vm = api.ok("GET", "/v1/vms/%s" % vm_id)
    assert vm["name"] == "one"
    assert vm["state"] == "creating"
    assert vm["host_id"] == host["id"]

    job = api.job(job)
    assert job["state"] == "succeeded", job
    assert job["progress"] == 100
    assert job["result"]["id"] == vm_id
    vm = api.ok("GET", "/v1/vms/%s" % vm_id)
    assert vm["state"] == "running"
    assert vm["state_reason"] is None
    assert vm["accel"] == "sim"  # its host's
    assert set(vm) <= VM_FIELDS, set(vm) - VM_FIELDS
    assert set(job["result"]) <= VM_FIELDS, set(job["result"]) - VM_FIELDS
    assert (vm["vcpus"], vm["memory_mb"], vm["root_disk_gb"]) == (1, 512, 1)

    # one NIC, with an address from the L3's range, counted as used
    assert len(vm["nics"]) == 1
    nic = vm["nics"][0]
    assert nic["l3_network_id"] == l3["id"]
    ip = ipaddress.ip_address(nic["ip"])
    assert ipaddress.ip_address("10.20.0.100") <= ip <= ipaddress.ip_address("10.20.0.199")
    assert nic["mac"].startswith("52:54:00:")
    assert l3_used(api, l3["id"]) == 1

    # the root volume exists, on the VM's host, in use by the VM
    assert len(vm["volumes"]) == 1
    vol = api.ok("GET", "/v1/volumes/%s" % vm["volumes"][0])
    assert vol["kind"] == "root"
    assert vol["vm_id"] == vm_id
    assert vol["host_id"] == host["id"]
    assert vol["size_gb"] == 1
    assert vol["state"] == "in_use"

    # the host holds the VM's resources
    h = host_by_id(api, host["id"])
    assert (h["cpu_allocated"], h["memory_mb_allocated"], h["disk_gb_allocated"],
            h["vm_count"]) == (1, 512, 1, 1)


def test_batch_create_names_running_distinct_addresses_job_progress_and_result(cloud):
    b = boot(cloud, hosts=3, extra=["--sim-delay-ms", "600"])
    api = cloud.admin
    r = api.post("/v1/vms", vm_body(b, "web", count=6))
    assert r.status_code == 202, r.text
    batch = r.json()
    assert batch["type"] == "vm.create_batch"
    assert r.headers["Location"] == "/v1/jobs/%s" % batch["id"]
    assert batch["children_total"] == 6
    ids = batch["result"]["vm_ids"]
    assert len(ids) == 6 and len(set(ids)) == 6

    # progress only grows while the children finish, and ends at 100
    seen = []
    deadline = time.time() + 30 * SLOW
    while True:
        j = api.ok("GET", "/v1/jobs/%s" % batch["id"])
        seen.append(j["progress"])
        if j["state"] in ("succeeded", "failed", "cancelled"):
            break
        assert time.time() < deadline, "batch still %s" % j["state"]
        time.sleep(0.02)
    assert j["state"] == "succeeded", j
    assert seen == sorted(seen), seen
    assert seen[-1] == 100
    assert any(0 < p < 100 for p in seen), "no intermediate progress seen: %r" % seen
    assert j["children_done"] == 6 and j["children_failed"] == 0
    assert j["result"]["vm_ids"] == ids

    # the children: one vm.create job per VM, all succeeded
    children = api.ok("GET", "/v1/jobs?limit=1000&q=parent_id=%s" % batch["id"])["items"]
    assert sorted(c["resource_id"] for c in children) == sorted(ids)
    assert all(c["type"] == "vm.create" and c["state"] == "succeeded" for c in children)

    got = {vm["id"]: vm for vm in vms(api, ["name~=web-%"])}
    assert sorted(got) == sorted(ids)
    assert sorted(vm["name"] for vm in got.values()) == ["web-%d" % i for i in range(1, 7)]
    assert all(vm["state"] == "running" for vm in got.values())
    ips = [vm["nics"][0]["ip"] for vm in got.values()]
    assert len(set(ips)) == 6, ips
    assert l3_used(api, b["l3"]) == 6


# --- placement -----------------------------------------------------------------

def test_placement_spread_uses_every_host_pack_fills_one(cloud):
    b = boot(cloud, hosts=3)
    api = cloud.admin
    spread = api.job(create(api, b, "s", count=3, strategy="spread"))
    assert spread["state"] == "succeeded", spread
    spread_hosts = [vm["host_id"] for vm in vms(api, ["name~=s-%"])]
    assert len(spread_hosts) == 3 and len(set(spread_hosts)) == 3

    # one at a time, the default strategy spreads too
    for i in range(3):
        create_wait(api, b, "one%d" % i)
    singles = [vm["host_id"] for vm in vms(api, ["name~=one%"])]
    assert len(set(singles)) == 3

    pack = api.job(create(api, b, "p", count=4, strategy="pack"))
    assert pack["state"] == "succeeded", pack
    pack_hosts = [vm["host_id"] for vm in vms(api, ["name~=p-%"])]
    assert len(pack_hosts) == 4 and len(set(pack_hosts)) == 1
    counts = {h["id"]: h["vm_count"] for h in host_map(api, "a").values()}
    assert counts[pack_hosts[0]] == 2 + 4
    assert sorted(counts.values()) == [2, 2, 6]


def test_vm_that_fits_nowhere_409_names_vcpus_memory_disk_and_creates_nothing(cloud):
    b = boot(cloud, hosts=2, extra=FAST + ["--sim-cpus", "4", "--sim-memory-mb", "4096",
                                            "--sim-disk-gb", "20"])
    api = cloud.admin
    before = {n: (h["cpu_allocated"], h["vm_count"]) for n, h in host_map(api, "a").items()}
    base = {"name": "huge", "image_id": b["image"], "l3_network_ids": [b["l3"]]}

    r = api.post("/v1/vms", dict(base, vcpus=17, memory_mb=512, root_disk_gb=1))
    err = conflict(r, "17 vCPUs", "the most free vCPUs is 16")
    assert "memory" not in err["message"].split(";")[1]
    r = api.post("/v1/vms", dict(base, vcpus=1, memory_mb=8192, root_disk_gb=1))
    conflict(r, "8192 MB memory", "the most free memory is 4096 MB")
    r = api.post("/v1/vms", dict(base, vcpus=1, memory_mb=512, root_disk_gb=50))
    conflict(r, "50 GB disk", "the most free disk is 20 GB")
    # a batch that fits only in part is refused whole
    r = api.post("/v1/vms", dict(base, vcpus=1, memory_mb=1024, root_disk_gb=1, count=9))
    conflict(r, "only 8 of 9 VMs fit")

    assert vms(api) == []
    assert api.ok("GET", "/v1/jobs")["total"] == 0
    assert l3_used(api, b["l3"]) == 0
    after = {n: (h["cpu_allocated"], h["vm_count"]) for n, h in host_map(api, "a").items()}
    assert after == before


def test_disabled_host_takes_no_new_vms(cloud):
    b = boot(cloud, hosts=2)
    api = cloud.admin
    hosts = host_map(api, "a")
    off, on = hosts["a-1"], hosts["a-2"]
    h = api.ok("POST", "/v1/hosts/%s/actions/disable" % off["id"], {})
    assert h["state"] == "disabled"

    job = api.job(create(api, b, "d", count=4))
    assert job["state"] == "succeeded", job
    assert {vm["host_id"] for vm in vms(api)} == {on["id"]}
    assert host_by_id(api, off["id"])["vm_count"] == 0
    # naming the disabled host is refused, and says why
    r = api.post("/v1/vms", vm_body(b, "there", host_id=off["id"]))
    conflict(r, "disabled")

    api.ok("POST", "/v1/hosts/%s/actions/enable" % off["id"], {})
    _, vm = create_wait(api, b, "back")
    assert vm["host_id"] == off["id"]  # spread: the empty host


def test_host_id_only_for_admins(cloud):
    b = boot(cloud, hosts=2)
    api = cloud.admin
    hosts = host_map(api, "a")
    acct = api.ok("POST", "/v1/accounts", {"name": "tenant"})
    api.ok("POST", "/v1/users", {"name": "bob", "password": "secret-pass-1",
                                 "role": "member", "account_id": acct["id"]})
    bob = cloud.kumod.login("tenant", "bob", "secret-pass-1")

    r = bob.post("/v1/vms", vm_body(b, "mine", host_id=hosts["a-2"]["id"]))
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "PermissionDenied"
    assert r.json()["error"]["field"] == "host_id"
    assert bob.ok("GET", "/v1/vms")["total"] == 0

    # without host_id the member may create
    job = bob.job(bob.ok("POST", "/v1/vms", vm_body(b, "mine")))
    assert job["state"] == "succeeded", job
    # the admin may pick the host, both of them in turn
    for name in ("a-1", "a-2"):
        _, vm = create_wait(api, b, "pin-" + name, host_id=hosts[name]["id"])
        assert vm["host_id"] == hosts[name]["id"]


# --- IPAM ----------------------------------------------------------------------

def test_tiny_range_exhausts_with_409_and_nothing_half_created(cloud):
    b = boot(cloud, hosts=2)
    api = cloud.admin
    # a /29 holds .1-.6; the gateway takes .1: five addresses
    tiny = small_l3(cloud, b, "tiny", "10.99.0.0/29")
    assert tiny["ip_total"] == 5
    before = {n: (h["cpu_allocated"], h["memory_mb_allocated"], h["vm_count"])
              for n, h in host_map(api, "a").items()}

    # six do not fit: refused whole, before anything is made
    r = api.post("/v1/vms", vm_body(b, "t", count=6, l3_network_ids=[tiny["id"]]))
    err = conflict(r, "tiny", "no free address")
    assert err.get("field") == "l3_network_ids"
    assert vms(api) == []
    assert api.ok("GET", "/v1/volumes")["total"] == 0
    assert api.ok("GET", "/v1/jobs")["total"] == 0
    assert l3_used(api, tiny["id"]) == 0
    assert {n: (h["cpu_allocated"], h["memory_mb_allocated"], h["vm_count"])
            for n, h in host_map(api, "a").items()} == before

    # five fit, with the five addresses
    job = api.job(create(api, b, "t", count=5, l3_network_ids=[tiny["id"]]))
    assert job["state"] == "succeeded", job
    ips = sorted(vm["nics"][0]["ip"] for vm in vms(api))
    assert ips == ["10.99.0.%d" % i for i in range(2, 7)]
    assert l3_used(api, tiny["id"]) == 5

    # and a sixth is refused, changing nothing
    alloc = sum(h["cpu_allocated"] for h in host_map(api, "a").values())
    r = api.post("/v1/vms", vm_body(b, "late", l3_network_ids=[tiny["id"]]))
    conflict(r, "no free address")
    assert len(vms(api)) == 5
    assert vms(api, ["name=late"]) == []
    assert l3_used(api, tiny["id"]) == 5
    assert sum(h["cpu_allocated"] for h in host_map(api, "a").values()) == alloc


def test_addresses_released_on_destroy_and_reused(cloud):
    b = boot(cloud)
    api = cloud.admin
    tiny = small_l3(cloud, b, "tiny", "10.98.0.0/29", [("10.98.0.2", "10.98.0.4")])
    made = {}
    for i in range(3):
        _, vm = create_wait(api, b, "r%d" % i, l3_network_ids=[tiny["id"]])
        made[vm["nics"][0]["ip"]] = vm["id"]
    assert sorted(made) == ["10.98.0.2", "10.98.0.3", "10.98.0.4"]
    conflict(api.post("/v1/vms", vm_body(b, "r9", l3_network_ids=[tiny["id"]])),
             "no free address")

    r = api.delete("/v1/vms/%s" % made["10.98.0.3"])
    assert r.status_code == 202, r.text
    job = api.job(r.json())
    assert job["state"] == "succeeded", job
    assert api.get("/v1/vms/%s" % made["10.98.0.3"]).status_code == 404
    assert l3_used(api, tiny["id"]) == 2

    _, vm = create_wait(api, b, "r9", l3_network_ids=[tiny["id"]])
    assert vm["state"] == "running"
    assert vm["nics"][0]["ip"] == "10.98.0.3"
    assert l3_used(api, tiny["id"]) == 3


# --- actions -------------------------------------------------------------------

def test_actions_stop_start_reboot_pause_resume_follow_state_table(cloud):
    b = boot(cloud, extra=["--sim-delay-ms", "300"])
    api = cloud.admin
    _, vm = create_wait(api, b, "act")
    assert vm["state"] == "running"
    steps = [("stop", "stopping", "stopped"), ("start", "starting", "running"),
             ("reboot", "rebooting", "running"), ("pause", "pausing", "paused"),
             ("resume", "starting", "running")]
    for verb, via, end in steps:
        job = act(api, vm["id"], verb)
        assert job["type"] == "vm." + verb
        assert job["resource_id"] == vm["id"]
        assert state(api, vm["id"]) == via, verb
        job = api.job(job)
        assert job["state"] == "succeeded", job
        assert state(api, vm["id"]) == end, verb
    # the events tell the same story
    evs = api.ok("GET", "/v1/events?limit=1000")["items"]
    states = [e["data"]["state"] for e in evs
              if e["type"] == "vm.state" and e["resource_id"] == vm["id"]]
    assert states == ["creating", "running", "stopping", "stopped", "starting", "running",
                      "rebooting", "running", "pausing", "paused", "starting", "running"]


def test_wrong_state_actions_409_name_the_state(cloud):
    b = boot(cloud, extra=["--sim-delay-ms", "400"])
    api = cloud.admin
    _, vm = create_wait(api, b, "ws")
    vid = vm["id"]
    conflict(api.post("/v1/vms/%s/actions/start" % vid, {}), "running")
    conflict(api.post("/v1/vms/%s/actions/resume" % vid, {}), "running")

    job = act(api, vid, "stop")
    # while stopping, everything else waits its turn
    for verb in ("start", "stop", "reboot", "pause", "resume"):
        conflict(api.post("/v1/vms/%s/actions/%s" % (vid, verb), {}), "stopping")
    conflict(api.delete("/v1/vms/%s" % vid), "stopping")
    assert api.job(job)["state"] == "succeeded"

    assert state(api, vid) == "stopped"
    for verb in ("reboot", "pause", "resume"):
        conflict(api.post("/v1/vms/%s/actions/%s" % (vid, verb), {}), "stopped")
    conflict(api.post("/v1/vms/%s/actions/stop" % vid, {}), "stopped")
    # a refused action changes nothing and makes no job
    assert state(api, vid) == "stopped"
    assert api.ok("GET", "/v1/jobs?q=resource_id=%s" % vid)["total"] == 2


def test_forced_stop_of_running_and_paused_vm(cloud):
    b = boot(cloud)
    api = cloud.admin
    _, vm = create_wait(api, b, "fs")
    job = api.job(act(api, vm["id"], "stop", {"force": True}))
    assert job["state"] == "succeeded", job
    assert state(api, vm["id"]) == "stopped"

    api.job(act(api, vm["id"], "start"))
    api.job(act(api, vm["id"], "pause"))
    assert state(api, vm["id"]) == "paused"
    job = api.job(act(api, vm["id"], "stop", {"force": True}))
    assert job["state"] == "succeeded", job
    assert state(api, vm["id"]) == "stopped"
    r = api.post("/v1/vms/%s/actions/stop" % vm["id"], {"force": "yes"})
    assert r.status_code == 400, r.text


# --- destroy -------------------------------------------------------------------

def test_destroy_releases_host_allocations_and_quota(cloud):
    b = boot(cloud)
    api = cloud.admin
    host = list(host_map(api, "a").values())[0]
    acct = api.ok("POST", "/v1/accounts", {"name": "quoted"})
    api.ok("POST", "/v1/users", {"name": "ann", "password": "secret-pass-2",
                                 "role": "member", "account_id": acct["id"]})
    ann = cloud.kumod.login("quoted", "ann", "secret-pass-2")
    api.ok("PATCH", "/v1/quotas/%s" % acct["id"], {"vm_count": 2, "vcpus": 4})
    before = host_by_id(api, host["id"])

    made = []
    for i in range(2):
        job = ann.job(ann.ok("POST", "/v1/vms", vm_body(b, "q%d" % i)))
        assert job["state"] == "succeeded", job
        made.append(job["resource_id"])
    used = ann.ok("GET", "/v1/quotas/%s" % acct["id"])["used"]
    assert used == {"vm_count": 2, "vcpus": 2, "memory_mb": 1024}
    h = host_by_id(api, host["id"])
    assert h["cpu_allocated"] == before["cpu_allocated"] + 2
    assert h["memory_mb_allocated"] == before["memory_mb_allocated"] + 1024
    assert h["disk_gb_allocated"] == before["disk_gb_allocated"] + 2
    assert h["vm_count"] == before["vm_count"] + 2
    # the quota is full
    r = ann.post("/v1/vms", vm_body(b, "q2"))
    conflict(r, "quota vm_count exceeded")

    for vid in made:
        r = ann.delete("/v1/vms/%s" % vid)
        assert r.status_code == 202, r.text
        assert ann.job(r.json())["state"] == "succeeded"
        assert ann.get("/v1/vms/%s" % vid).status_code == 404
    h = host_by_id(api, host["id"])
    for f in ("cpu_allocated", "memory_mb_allocated", "disk_gb_allocated", "vm_count"):
        assert h[f] == before[f], f
    used = ann.ok("GET", "/v1/quotas/%s" % acct["id"])["used"]
    assert used == {"vm_count": 0, "vcpus": 0, "memory_mb": 0}
    # root volumes went with their VMs
    assert ann.ok("GET", "/v1/volumes")["total"] == 0
    # and the quota has room again
    job = ann.job(ann.ok("POST", "/v1/vms", vm_body(b, "q2")))
    assert job["state"] == "succeeded", job


# --- volumes -------------------------------------------------------------------

def test_volume_attach_and_detach_on_a_vm(cloud):
    b = boot(cloud)
    api = cloud.admin
    _, vm = create_wait(api, b, "vv")
    vol = api.ok("POST", "/v1/volumes", {"name": "data1", "size_gb": 5}, status=201)
    assert vol["kind"] == "data" and vol["state"] == "available" and vol["vm_id"] is None

    r = api.post("/v1/volumes/%s/actions/attach" % vol["id"], {"vm_id": vm["id"]})
    assert r.status_code == 202, r.text
    job = api.job(r.json())
    assert job["state"] == "succeeded", job
    vol = api.ok("GET", "/v1/volumes/%s" % vol["id"])
    assert (vol["state"], vol["vm_id"], vol["host_id"]) == ("in_use", vm["id"], vm["host_id"])
    got = api.ok("GET", "/v1/vms/%s" % vm["id"])["volumes"]
    assert got == vm["volumes"] + [vol["id"]]
    # attached twice, or deleted while attached: refused
    conflict(api.post("/v1/volumes/%s/actions/attach" % vol["id"], {"vm_id": vm["id"]}),
             "attached")
    conflict(api.delete("/v1/volumes/%s" % vol["id"]), "detach")

    r = api.post("/v1/volumes/%s/actions/detach" % vol["id"], {})
    assert r.status_code == 202, r.text
    assert api.job(r.json())["state"] == "succeeded"
    vol = api.ok("GET", "/v1/volumes/%s" % vol["id"])
    assert (vol["state"], vol["vm_id"]) == ("available", None)
    assert api.ok("GET", "/v1/vms/%s" % vm["id"])["volumes"] == vm["volumes"]
    conflict(api.post("/v1/volumes/%s/actions/detach" % vol["id"], {}), "not attached")

    # a root volume goes with its VM only
    conflict(api.post("/v1/volumes/%s/actions/detach" % vm["volumes"][0], {}), "root")

    r = api.delete("/v1/volumes/%s" % vol["id"])
    assert r.status_code == 202, r.text
    assert api.job(r.json())["state"] == "succeeded"
    assert api.get("/v1/volumes/%s" % vol["id"]).status_code == 404


def test_data_volumes_are_counted_on_their_pool_and_host(cloud):
    """A data volume is counted where it lives, as a root disk is: on its
    pool from the moment it has one (named at create, or the local pool of
    the cluster of the vm it is first attached to), on its host's disk from
    its first attach; an attach the pool has no room for is refused, one
    the host fails gives everything back; detach keeps the count (the file
    stays on the host), delete gives it back."""
    b = boot(cloud, extra=FAST + ["--sim-fail-match", "doomed"])
    api = cloud.admin
    _, vm = create_wait(api, b, "counted")
    pool_url = "/v1/storage-pools/" + vm["pool_id"]

    def counted():
        return (api.ok("GET", pool_url)["allocated_gb"],
                host_by_id(api, vm["host_id"])["disk_gb_allocated"])

    def attach(vol):
        r = api.post("/v1/volumes/%s/actions/attach" % vol["id"], {"vm_id": vm["id"]})
        assert r.status_code == 202, r.text
        return api.job(r.json())

    def detach(vol):
        assert api.job(api.ok("POST", "/v1/volumes/%s/actions/detach" % vol["id"],
                              {}))["state"] == "succeeded"

    p0, h0 = counted()
    assert p0 >= vm["root_disk_gb"] and h0 >= vm["root_disk_gb"], (p0, h0)
    # made without a pool: on none, counted nowhere until attached
    vol = api.ok("POST", "/v1/volumes", {"name": "data-a", "size_gb": 3}, status=201)
    assert vol["pool_id"] is None and vol["host_id"] is None, vol
    assert counted() == (p0, h0)
    # a pool without the room refuses the attach, and nothing changes
    api.ok("PATCH", pool_url, {"capacity_gb": p0 + 2})
    try:
        conflict(api.post("/v1/volumes/%s/actions/attach" % vol["id"], {"vm_id": vm["id"]}),
                 "lacks capacity")
    finally:
        api.ok("PATCH", pool_url, {"capacity_gb": None})
    vol = api.ok("GET", "/v1/volumes/" + vol["id"])
    assert (vol["pool_id"], vol["host_id"], vol["state"]) == (None, None, "available"), vol
    assert counted() == (p0, h0)
    # attached: the local pool of the vm's cluster, and the vm's host
    assert attach(vol)["state"] == "succeeded"
    vol = api.ok("GET", "/v1/volumes/" + vol["id"])
    assert (vol["pool_id"], vol["host_id"]) == (vm["pool_id"], vm["host_id"]), vol
    assert counted() == (p0 + 3, h0 + 3)
    # detached it stays on the host, counted
    detach(vol)
    assert counted() == (p0 + 3, h0 + 3)

    # the local pool named at create: counted on the pool at once, on the
    # host from its first attach
    named = api.ok("POST", "/v1/volumes", {"name": "data-b", "size_gb": 2,
                                           "pool_id": vm["pool_id"]}, status=201)
    assert named["pool_id"] == vm["pool_id"] and named["host_id"] is None, named
    assert counted() == (p0 + 5, h0 + 3)
    assert attach(named)["state"] == "succeeded"
    assert counted() == (p0 + 5, h0 + 5)
    # a clone's copies are counted beside it, on the same pool and host
    job = api.job(api.ok("POST", "/v1/vms/%s/actions/clone" % vm["id"], {"name": "twin"}))
    assert job["state"] == "succeeded", job
    twin = api.ok("GET", "/v1/vms/" + job["resource_id"])
    root = twin["root_disk_gb"]
    copy = api.ok("GET", "/v1/volumes/" + twin["volumes"][1])
    assert (copy["pool_id"], copy["host_id"], copy["size_gb"]) == \
        (vm["pool_id"], vm["host_id"], 2), copy
    assert counted() == (p0 + 5 + root + 2, h0 + 5 + root + 2)
    assert api.job(api.ok("DELETE", "/v1/vms/" + twin["id"]))["state"] == "succeeded"
    assert counted() == (p0 + 5 + 2, h0 + 5 + 2)  # its data volume stays
    assert api.job(api.ok("DELETE", "/v1/volumes/" + copy["id"]))["state"] == "succeeded"
    assert counted() == (p0 + 5, h0 + 5)
    detach(named)

    # an attach the host fails takes nothing: no pool, no host, no count
    doomed = api.ok("POST", "/v1/volumes", {"name": "doomed-c", "size_gb": 4}, status=201)
    job = attach(doomed)
    assert job["state"] == "failed" and "doomed" in job["error"]["message"], job
    doomed = api.ok("GET", "/v1/volumes/" + doomed["id"])
    assert (doomed["pool_id"], doomed["host_id"], doomed["state"]) == \
        (None, None, "available"), doomed
    assert counted() == (p0 + 5, h0 + 5)

    # deletes give it all back: through the host for the two it holds, at
    # once for the one never placed
    for v in (vol, named):
        assert api.job(api.ok("DELETE", "/v1/volumes/%s" % v["id"]))["state"] == "succeeded"
    r = api.delete("/v1/volumes/%s" % doomed["id"])
    assert r.status_code == 204, r.text
    assert counted() == (p0, h0)


# --- failures on the host --------------------------------------------------------

def test_create_failed_by_host_ends_in_error_and_releases_capacity_and_address(cloud):
    b = boot(cloud, extra=FAST + ["--sim-fail-match", "doomed"])
    api = cloud.admin
    tiny = small_l3(cloud, b, "tiny", "10.97.0.0/29", [("10.97.0.2", "10.97.0.2")])
    host = list(host_map(api, "a").values())[0]

    job = api.job(create(api, b, "doomed-1", l3_network_ids=[tiny["id"]]))
    assert job["state"] == "failed", job
    assert job["error"]["code"] == "SimulatedFailure"
    assert "doomed" in job["error"]["message"]
    vm = api.ok("GET", "/v1/vms/%s" % job["resource_id"])
    assert vm["state"] == "error"
    assert "doomed" in (vm["state_reason"] or "")
    assert vm["host_id"] is None
    assert set(vm) <= VM_FIELDS, set(vm) - VM_FIELDS
    h = host_by_id(api, host["id"])
    assert (h["cpu_allocated"], h["memory_mb_allocated"], h["disk_gb_allocated"],
            h["vm_count"]) == (0, 0, 0, 0)
    assert l3_used(api, tiny["id"]) == 0
    vol = api.ok("GET", "/v1/volumes/%s" % vm["volumes"][0])
    assert vol["state"] == "error"

    # its only address is free for the next VM
    _, ok = create_wait(api, b, "fine", l3_network_ids=[tiny["id"]])
    assert ok["state"] == "running"
    assert ok["nics"][0]["ip"] == "10.97.0.2"

    # the broken VM can still be destroyed
    r = api.delete("/v1/vms/%s" % vm["id"])
    assert r.status_code == 202, r.text
    assert api.job(r.json())["state"] == "succeeded"
    assert api.get("/v1/vms/%s" % vm["id"]).status_code == 404
    assert host_by_id(api, host["id"])["vm_count"] == 1


def test_forced_stop_of_vm_in_error_fails_cleanly_without_host(cloud):
    b = boot(cloud, extra=FAST + ["--sim-fail-match", "doomed"])
    api = cloud.admin
    job = api.job(create(api, b, "doomed-2"))
    assert job["state"] == "failed"
    vid = job["resource_id"]
    assert state(api, vid) == "error"
    job = api.job(act(api, vid, "stop", {"force": True}))
    assert job["state"] == "failed", job
    vm = api.ok("GET", "/v1/vms/%s" % vid)
    # the table's failure column for force_stop: back to where it was
    assert vm["state"] == "error", vm
    assert vm.get("job_id") is None


# --- jobs ----------------------------------------------------------------------

def test_job_list_filters_by_state_and_type(cloud):
    b = boot(cloud, extra=FAST + ["--sim-fail-match", "doomed"])
    api = cloud.admin
    bad = api.job(create(api, b, "doomed-x"))
    good = api.job(create(api, b, "fine"))
    stop = api.job(act(api, good["resource_id"], "stop"))
    assert (bad["state"], good["state"], stop["state"]) == ("failed", "succeeded", "succeeded")

    failed = api.ok("GET", "/v1/jobs?q=state=failed")
    assert [j["id"] for j in failed["items"]] == [bad["id"]]
    assert failed["total"] == 1
    ok = api.ok("GET", "/v1/jobs?q=state=succeeded")["items"]
    assert sorted(j["id"] for j in ok) == sorted([good["id"], stop["id"]])
    creates = api.ok("GET", "/v1/jobs?q=type=vm.create&q=state=succeeded")["items"]
    assert [j["id"] for j in creates] == [good["id"]]
    some = api.ok("GET", "/v1/jobs?q=type?=vm.stop,vm.start&fields=id,type")["items"]
    assert some == [{"id": stop["id"], "type": "vm.stop"}]
    r = api.get("/v1/jobs?q=colour=red")
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "InvalidArgument"


def test_vm_goes_to_the_zone_of_its_networks(cloud):
    api = cloud.admin
    b = boot(cloud, hosts=2)
    # A second zone with its own L2/L3 but no hosts: a VM on that network
    # must not land on a host of the default zone.
    z2 = api.ok("POST", "/v1/zones", {"name": "far"})["id"]
    l2 = api.ok("POST", "/v1/l2-networks", {"name": "far-l2", "zone_id": z2, "type": "flat"})
    l3 = api.ok("POST", "/v1/l3-networks", {"name": "far-net", "l2_network_id": l2["id"],
                                            "cidr": "10.99.0.0/24", "shared": True})
    before = len(vms(api))
    r = api.post("/v1/vms", vm_body(b, "far-vm", l3_network_ids=[l3["id"]]))
    conflict(r, z2)
    assert len(vms(api)) == before
    assert l3_used(api, l3["id"]) == 0
    # Networks of two zones, or a zone that contradicts the network: 400.
    r = api.post("/v1/vms", vm_body(b, "split", l3_network_ids=[b["l3"], l3["id"]]))
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == "l3_network_ids[1]"
    r = api.post("/v1/vms", vm_body(b, "contra", zone_id=z2))
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == "l3_network_ids[0]"
    # The network's own zone works, and the VM records it.
    _, vm = create_wait(api, b, "near")
    assert vm["state"] == "running"
    assert vm["zone_id"] == b["zone"]


def test_failed_create_shows_no_address(cloud):
    api = cloud.admin
    b = boot(cloud, extra=FAST + ["--sim-fail-match", "doomed"])
    job = api.job(create(api, b, "doomed-1"))
    assert job["state"] == "failed"
    vm = api.ok("GET", "/v1/vms/%s" % job["resource_id"])
    assert vm["state"] == "error"
    assert [n["ip"] for n in vm["nics"]] == [None]
    _, ok = create_wait(api, b, "fine")
    assert ok["nics"][0]["ip"] is not None
