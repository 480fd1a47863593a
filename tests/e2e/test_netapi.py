# SPDX-License-Identifier: MIT
"""The network API of issue 4 end to end, at the API level: public L3
networks and uplinks, security groups and their rules, attaching them to
NICs, EIPs, port forwardings and NIC bandwidth, with the errors of issue 4
part 4. Real kumod and a sim agent; every change that must reach the hosts
answers 202 with a net.update job, which must finish succeeded (the sim
driver acknowledges net.apply as a no-op)."""
import shutil
import tempfile
import uuid
from types import SimpleNamespace

import pytest

from conftest import Cloud
from test_api import err, items, snapshot

PW = "correct-horse-9"
FAST = ["--sim-delay-ms", "30"]


# --- helpers -------------------------------------------------------------------

def job_ok(api, r):
    """A host-affecting change: 202 + Location + a net.update job that
    finishes succeeded. Returns the finished job."""
    assert r.status_code == 202, "%d %s" % (r.status_code, r.text)
    job = r.json()
    assert r.headers["Location"] == "/v1/jobs/" + job["id"], r.headers
    assert job["type"] == "net.update", job
    done = api.job(job)
    assert done["state"] == "succeeded", done
    return done


def vm_create(api, ids, name, l3s, **kw):
    body = {"name": name, "image_id": ids["image"], "instance_offering_id": ids["offering"],
            "l3_network_ids": l3s}
    body.update(kw)
    r = api.post("/v1/vms", body)
    assert r.status_code == 202, r.text
    j = api.job(r.json())
    assert j["state"] == "succeeded", j
    return api.ok("GET", "/v1/vms/" + j["resource_id"])


def vm_get(api, vm_id):
    return api.ok("GET", "/v1/vms/" + vm_id)


def ip_used(api, l3_id):
    return api.ok("GET", "/v1/l3-networks/" + l3_id)["ip_used"]


ALL_SERVICES = ["dhcp", "dns", "snat", "eip", "port_forwarding", "security_group", "metadata"]


@pytest.fixture(scope="module")
def n():
    """kumod with a 2-host sim agent; a public network "pub" (shared,
    203.0.113.10-50); accounts a and b with a member and a viewer each
    (n.a_member, n.a_viewer, ...); account a's private network with every
    service (uplink pub) and a plain one (dhcp, dns), account b's private
    network; VMs a-vm1 (private), a-vm2 (private + plain) and b-vm1."""
    d = tempfile.mkdtemp(prefix="kumo-e2e-net-")
    c = Cloud(d)
    try:
        c.start()
        c.add_agent("n", hosts=2, extra=FAST)
        ids = c.basics()
        admin = c.admin
        ns = SimpleNamespace(cloud=c, admin=admin, ids=ids)
        ns.pub_l2 = admin.ok("POST", "/v1/l2-networks", {"name": "pub-l2", "zone_id": ids["zone"],
                                                         "type": "flat"}, status=201)
        ns.pub = admin.ok("POST", "/v1/l3-networks", {
            "name": "pub", "l2_network_id": ns.pub_l2["id"], "cidr": "203.0.113.0/24",
            "public": True, "shared": True,
            "ip_ranges": [{"start": "203.0.113.10", "end": "203.0.113.50"}]}, status=201)
        for acct in ("a", "b"):
            doc = admin.ok("POST", "/v1/accounts", {"name": "net-" + acct})
            setattr(ns, acct + "_id", doc["id"])
            for role in ("member", "viewer"):
                admin.ok("POST", "/v1/users", {"name": role, "password": PW, "role": role,
                                               "account_id": doc["id"]})
                setattr(ns, "%s_%s" % (acct, role), c.kumod.login("net-" + acct, role, PW))
        am, bm = ns.a_member, ns.b_member
        ns.a_priv = am.ok("POST", "/v1/l3-networks", {
            "name": "a-priv", "l2_network_id": ids["l2"], "cidr": "192.168.10.0/24",
            "services": ALL_SERVICES, "uplink_l3_network_id": ns.pub["id"]}, status=201)
        ns.a_plain = am.ok("POST", "/v1/l3-networks", {
            "name": "a-plain", "l2_network_id": ids["l2"], "cidr": "192.168.20.0/24"},
            status=201)
        ns.b_priv = bm.ok("POST", "/v1/l3-networks", {
            "name": "b-priv", "l2_network_id": ids["l2"], "cidr": "192.168.30.0/24",
            "services": ALL_SERVICES, "uplink_l3_network_id": ns.pub["id"]}, status=201)
        ns.a_vm1 = vm_create(am, ids, "a-vm1", [ns.a_priv["id"]])
        ns.a_vm2 = vm_create(am, ids, "a-vm2", [ns.a_priv["id"], ns.a_plain["id"]])
        ns.b_vm1 = vm_create(bm, ids, "b-vm1", [ns.b_priv["id"]])
        ns.a_nic1 = ns.a_vm1["nics"][0]["id"]
        ns.a_nic2 = ns.a_vm2["nics"][0]["id"]
        ns.a_plain_nic = ns.a_vm2["nics"][1]["id"]
        ns.b_nic = ns.b_vm1["nics"][0]["id"]
        yield ns
    finally:
        c.stop()
        shutil.rmtree(d, ignore_errors=True)


# --- L3 networks: public, uplink, and the errors of issue 4 part 4 ---------------

def test_l3_public_and_uplink_fields_and_rules(n):
    a, am = n.admin, n.a_member
    assert n.pub["public"] is True and n.pub["services"] == [] and \
        n.pub["uplink_l3_network_id"] is None
    assert n.a_priv["public"] is False and n.a_priv["uplink_l3_network_id"] == n.pub["id"]
    assert n.a_plain["public"] is False and n.a_plain["uplink_l3_network_id"] is None
    assert [x["name"] for x in items(am, "/v1/l3-networks", q="public=true")] == ["pub"]

    def bad(api, body, status, code, field):
        before = snapshot(a, "/v1/l3-networks")
        body = dict({"name": "bad", "l2_network_id": n.ids["l2"], "cidr": "172.16.0.0/24"},
                    **body)
        err(api.post("/v1/l3-networks", body), status, code, field=field)
        assert snapshot(a, "/v1/l3-networks") == before

    bad(am, {"public": True}, 403, "PermissionDenied", "public")
    bad(a, {"public": True, "services": ["dhcp"]}, 400, "InvalidArgument", "services")
    bad(a, {"public": True, "uplink_l3_network_id": n.pub["id"]}, 400, "InvalidArgument",
        "uplink_l3_network_id")
    for svc in ("snat", "eip", "port_forwarding"):
        bad(am, {"services": ["dhcp", svc]}, 400, "InvalidArgument", "uplink_l3_network_id")
    bad(am, {"services": ["snat"], "uplink_l3_network_id": n.a_plain["id"]}, 400,
        "InvalidArgument", "uplink_l3_network_id")
    bad(am, {"services": ["snat"], "uplink_l3_network_id": str(uuid.uuid4())}, 400,
        "InvalidArgument", "uplink_l3_network_id")
    bad(am, {"services": ["dhcp"], "uplink_l3_network_id": n.pub["id"]}, 400,
        "InvalidArgument", "uplink_l3_network_id")
    bad(am, {"uplink_l3_network_id": "nope"}, 400, "InvalidArgument", "uplink_l3_network_id")
    bad(am, {"public": "yes"}, 400, "InvalidArgument", "public")
    # a public network the caller cannot see is no uplink
    hidden = a.ok("POST", "/v1/l3-networks", {
        "name": "pub-hidden", "l2_network_id": n.pub_l2["id"], "cidr": "198.51.100.0/24",
        "public": True}, status=201)
    assert hidden["shared"] is False
    bad(am, {"services": ["snat"], "uplink_l3_network_id": hidden["id"]}, 400,
        "InvalidArgument", "uplink_l3_network_id")
    # public / uplink are fixed at create
    err(a.patch("/v1/l3-networks/" + n.a_plain["id"], {"public": True}), 400,
        "InvalidArgument", field="public")
    err(a.patch("/v1/l3-networks/" + n.a_plain["id"],
                {"uplink_l3_network_id": n.pub["id"]}), 400, "InvalidArgument",
        field="uplink_l3_network_id")
    # a public network used as an uplink stays, and the message names its users
    e = err(a.delete("/v1/l3-networks/" + n.pub["id"]), 409, "Conflict")
    assert "uplink" in e["message"] and "a-priv" in e["message"] and "b-priv" in e["message"]
    a.ok("DELETE", "/v1/l3-networks/" + hidden["id"], status=204)


def test_issue4_network_errors(n):
    """Issue 4 part 4: overlapping CIDRs in one L2, gateway or ranges outside
    the CIDR, a network in use, a VNI already used."""
    a, am = n.admin, n.a_member
    base = {"name": "x", "l2_network_id": n.ids["l2"]}
    e = err(am.post("/v1/l3-networks", dict(base, cidr="192.168.10.128/25")), 409, "Conflict",
            field="cidr")
    assert "192.168.10.0/24" in e["message"]
    err(am.post("/v1/l3-networks", dict(base, cidr="172.17.0.0/24", gateway="172.18.0.1")),
        400, "InvalidArgument", field="gateway")
    e = err(am.post("/v1/l3-networks", dict(base, cidr="172.17.0.0/24", ip_ranges=[
        {"start": "172.17.1.10", "end": "172.17.1.20"}])), 400, "InvalidArgument")
    assert e["field"].startswith("ip_ranges"), e
    e = err(am.delete("/v1/l3-networks/" + n.a_priv["id"]), 409, "Conflict")
    assert "in use" in e["message"]
    err(a.post("/v1/l2-networks", {"name": "dup", "zone_id": n.ids["zone"], "type": "vxlan",
                                   "vni": 100}), 409, "Conflict", field="vni")
    e = err(a.delete("/v1/l2-networks/" + n.ids["l2"]), 409, "Conflict")
    assert "L3" in e["message"]


# --- security groups -------------------------------------------------------------

def test_security_group_default_rules_crud_and_rule_validation(n):
    am, bm = n.a_member, n.b_member
    r = am.post("/v1/security-groups", {"name": "web", "description": "front"})
    assert r.status_code == 201, r.text
    sg = r.json()
    assert r.headers["Location"] == "/v1/security-groups/" + sg["id"]
    assert sg["account_id"] == n.a_id and sg["description"] == "front"
    rules = sg["rules"]
    assert len(rules) == 2
    ing = [x for x in rules if x["direction"] == "ingress"][0]
    egr = [x for x in rules if x["direction"] == "egress"][0]
    assert (ing["protocol"], ing["remote_group_id"], ing["cidr"]) == ("all", sg["id"], None)
    assert (egr["protocol"], egr["cidr"], egr["remote_group_id"]) == ("all", "0.0.0.0/0", None)
    assert ing["port_start"] is None and ing["port_end"] is None
    assert ing["id"] != egr["id"]
    assert am.ok("GET", "/v1/security-groups/" + sg["id"]) == sg
    err(am.post("/v1/security-groups", {"name": "web"}), 409, "Conflict", field="name")
    # rules given at create replace the defaults; ports default per protocol
    sg2 = am.ok("POST", "/v1/security-groups", {"name": "ssh", "rules": [
        {"direction": "ingress", "protocol": "tcp", "port_start": 22, "cidr": "10.0.0.0/8"},
        {"direction": "ingress", "protocol": "udp", "cidr": "0.0.0.0/0"},
        {"direction": "egress", "protocol": "icmp", "remote_group_id": sg["id"],
         "description": "ping the web tier"}]}, status=201)
    r0, r1, r2 = sg2["rules"]
    assert (r0["port_start"], r0["port_end"], r0["cidr"]) == (22, 22, "10.0.0.0/8")
    assert (r1["port_start"], r1["port_end"]) == (1, 65535)
    assert (r2["port_start"], r2["remote_group_id"], r2["description"]) == \
        (None, sg["id"], "ping the web tier")
    empty = am.ok("POST", "/v1/security-groups", {"name": "empty", "rules": []}, status=201)
    assert empty["rules"] == []

    def bad(rule, field, status=400, code="InvalidArgument", api=am):
        before = snapshot(n.admin, "/v1/security-groups")
        err(api.post("/v1/security-groups", {"name": "bad", "rules": [rule]}), status, code,
            field="rules[0]." + field if field else "rules[0]")
        assert snapshot(n.admin, "/v1/security-groups") == before

    ok = {"direction": "ingress", "cidr": "0.0.0.0/0"}
    bad(dict(ok, direction="sideways"), "direction")
    bad(dict(ok, protocol="sctp"), "protocol")
    bad(dict(ok, protocol="icmp", port_start=1), "port_start")
    bad(dict(ok, port_end=80), "port_end")  # protocol all
    bad(dict(ok, protocol="tcp", port_start=90, port_end=80), "port_end")
    bad(dict(ok, protocol="tcp", port_end=80), "port_start")
    bad(dict(ok, protocol="tcp", port_start=0), "port_start")
    bad(dict(ok, protocol="tcp", port_start=1, port_end=65536), "port_end")
    bad(dict(ok, protocol="tcp", port_start="22"), "port_start")
    bad(dict(ok, cidr="10.0.0.1/24"), "cidr")
    bad(dict(ok, cidr="10.0.0.0/33"), "cidr")
    bad(dict(ok, cidr="banana/8"), "cidr")
    bad({"direction": "ingress"}, "cidr")
    bad(dict(ok, remote_group_id=sg["id"]), "remote_group_id")
    bad(dict(ok, id=str(uuid.uuid4())), "id")
    bad(dict(ok, colour="red"), "colour")
    # another account's group is no remote group: 404 naming the field
    bad({"direction": "ingress", "remote_group_id": sg["id"]}, "remote_group_id", 404,
        "NotFound", api=bm)
    # two identical rules
    err(am.post("/v1/security-groups", {"name": "dup", "rules": [ok, ok]}), 409, "Conflict",
        field="rules[1]")
    err(am.post("/v1/security-groups", {"name": "x", "rulez": []}), 400, "InvalidArgument",
        field="rulez")
    # rename, then delete what nothing uses
    p = am.ok("PATCH", "/v1/security-groups/" + empty["id"], {"name": "empty2",
                                                              "description": "d"})
    assert p["name"] == "empty2" and p["rules"] == []
    err(am.patch("/v1/security-groups/" + empty["id"], {"rules": []}), 400, "InvalidArgument",
        field="rules")
    am.ok("DELETE", "/v1/security-groups/" + empty["id"], status=204)
    err(am.get("/v1/security-groups/" + empty["id"]), 404, "NotFound")
    # a group named by another group's rule stays
    e = err(am.delete("/v1/security-groups/" + sg["id"]), 409, "Conflict")
    assert "ssh" in e["message"], e
    am.ok("DELETE", "/v1/security-groups/" + sg2["id"], status=204)
    am.ok("DELETE", "/v1/security-groups/" + sg["id"], status=204)


def test_rule_add_and_delete_are_jobs_and_groups_hold_1000_rules(n):
    am = n.a_member
    sg = am.ok("POST", "/v1/security-groups", {"name": "rules"}, status=201)
    path = "/v1/security-groups/%s/rules" % sg["id"]
    rule = {"direction": "ingress", "protocol": "tcp", "port_start": 80, "port_end": 443,
            "cidr": "192.0.2.0/24", "description": "web"}
    r = am.post(path, rule)
    job = job_ok(am, r)
    assert job["resource_kind"] == "security-groups" and job["resource_id"] == sg["id"]
    got = am.ok("GET", "/v1/security-groups/" + sg["id"])
    assert len(got["rules"]) == 3
    # rules are unique by content: the new one is found by it
    new = [x for x in got["rules"] if x["cidr"] == "192.0.2.0/24"][0]
    assert dict(new, id=None) == dict(rule, id=None, remote_group_id=None)
    rule_id = new["id"]
    # the same rule again, and bad ones, change nothing
    err(am.post(path, rule), 409, "Conflict")
    err(am.post(path, dict(rule, port_start=500)), 400, "InvalidArgument", field="port_end")
    err(am.post(path, dict(rule, cidr=None, remote_group_id=str(uuid.uuid4()))), 404,
        "NotFound", field="remote_group_id")
    err(am.post(path, {"protocol": "tcp", "cidr": "0.0.0.0/0"}), 400, "InvalidArgument",
        field="direction")
    # a rule naming the group itself
    job_ok(am, am.post(path, {"direction": "egress", "remote_group_id": sg["id"]}))
    assert am.ok("GET", "/v1/security-groups/" + sg["id"]) != got
    # ?wait answers 200 with the finished job
    r = am.post(path + "?wait=10", {"direction": "ingress", "protocol": "icmp",
                                      "cidr": "0.0.0.0/0"})
    assert r.status_code == 200 and r.json()["state"] == "succeeded", r.text
    # delete a rule
    job_ok(am, am.delete("%s/%s" % (path, rule_id)))
    assert rule_id not in [x["id"] for x in am.ok("GET", "/v1/security-groups/" +
                                                   sg["id"])["rules"]]
    err(am.delete("%s/%s" % (path, rule_id)), 404, "NotFound")
    err(am.delete("%s/%s" % (path, "not-an-id")), 404, "NotFound")
    # 1,000 rules per group
    many = [{"direction": "ingress", "protocol": "tcp", "port_start": p, "cidr": "0.0.0.0/0"}
            for p in range(1, 1001)]
    big = am.ok("POST", "/v1/security-groups", {"name": "big", "rules": many}, status=201)
    assert len(big["rules"]) == 1000
    e = err(am.post("/v1/security-groups/%s/rules" % big["id"],
                    {"direction": "egress", "cidr": "0.0.0.0/0"}), 409, "Conflict")
    assert "1000" in e["message"]
    err(am.post("/v1/security-groups", {"name": "huge", "rules": many + [
        {"direction": "egress", "cidr": "0.0.0.0/0"}]}), 400, "InvalidArgument", field="rules")
    job_ok(am, am.delete("/v1/security-groups/%s/rules/%s" % (big["id"],
                                                             big["rules"][0]["id"])))
    job_ok(am, am.post("/v1/security-groups/%s/rules" % big["id"],
                       {"direction": "egress", "cidr": "0.0.0.0/0"}))
    for g in (sg, big):
        am.ok("DELETE", "/v1/security-groups/" + g["id"], status=204)


def nic_sgs(api, vm_id, nic_id):
    return [x for x in vm_get(api, vm_id)["nics"] if x["id"] == nic_id][0]["security_group_ids"]


def test_attach_and_detach_round_trip_in_the_vm_nics(n):
    am = n.a_member
    sg = am.ok("POST", "/v1/security-groups", {"name": "att"}, status=201)
    other = am.ok("POST", "/v1/security-groups", {"name": "att2"}, status=201)
    act = "/v1/security-groups/%s/actions/" % sg["id"]
    assert nic_sgs(am, n.a_vm1["id"], n.a_nic1) == []
    job = job_ok(am, am.post(act + "attach", {"nic_ids": [n.a_nic1, n.a_nic2]}))
    assert job["resource_id"] == sg["id"]
    assert nic_sgs(am, n.a_vm1["id"], n.a_nic1) == [sg["id"]]
    assert nic_sgs(am, n.a_vm2["id"], n.a_nic2) == [sg["id"]]
    assert nic_sgs(am, n.a_vm2["id"], n.a_plain_nic) == []
    job_ok(am, am.post("/v1/security-groups/%s/actions/attach" % other["id"],
                       {"nic_ids": [n.a_nic1]}))
    assert nic_sgs(am, n.a_vm1["id"], n.a_nic1) == [sg["id"], other["id"]]
    vms_before = snapshot(am, "/v1/vms")
    # refusals change nothing
    e = err(am.post(act + "attach", {"nic_ids": [n.a_nic1]}), 409, "Conflict",
            field="nic_ids[0]")
    assert "already" in e["message"]
    e = err(am.post(act + "attach", {"nic_ids": [n.a_plain_nic]}), 409, "Conflict",
            field="nic_ids[0]")
    assert "a-plain" in e["message"] and "security_group" in e["message"]
    err(am.post(act + "attach", {"nic_ids": [n.b_nic]}), 404, "NotFound", field="nic_ids[0]")
    err(am.post(act + "attach", {"nic_ids": [str(uuid.uuid4())]}), 404, "NotFound",
        field="nic_ids[0]")
    err(am.post(act + "attach", {"nic_ids": []}), 400, "InvalidArgument", field="nic_ids")
    err(am.post(act + "attach", {"nic_ids": ["x"]}), 400, "InvalidArgument")
    err(am.post(act + "attach", {}), 400, "InvalidArgument", field="nic_ids")
    err(am.post(act + "detach", {"nic_ids": [n.a_plain_nic]}), 409, "Conflict",
        field="nic_ids[0]")
    # the second NIC fails: the first is not attached either
    sg3 = am.ok("POST", "/v1/security-groups", {"name": "att3"}, status=201)
    err(am.post("/v1/security-groups/%s/actions/attach" % sg3["id"],
                {"nic_ids": [n.a_nic1, n.a_plain_nic]}), 409, "Conflict", field="nic_ids[1]")
    err(am.post("/v1/security-groups/%s/actions/attach" % sg3["id"],
                {"nic_ids": [n.a_nic1, n.a_nic1]}), 400, "InvalidArgument", field="nic_ids[1]")
    assert snapshot(am, "/v1/vms") == vms_before
    # an attached group stays, naming the VMs
    e = err(am.delete("/v1/security-groups/" + sg["id"]), 409, "Conflict")
    assert "a-vm1" in e["message"] and "a-vm2" in e["message"], e
    # detach
    job_ok(am, am.post(act + "detach", {"nic_ids": [n.a_nic1, n.a_nic2]}))
    assert nic_sgs(am, n.a_vm1["id"], n.a_nic1) == [other["id"]]
    assert nic_sgs(am, n.a_vm2["id"], n.a_nic2) == []
    err(am.post(act + "detach", {"nic_ids": [n.a_nic1]}), 409, "Conflict", field="nic_ids[0]")
    job_ok(am, am.post("/v1/security-groups/%s/actions/detach" % other["id"],
                       {"nic_ids": [n.a_nic1]}))
    assert nic_sgs(am, n.a_vm1["id"], n.a_nic1) == []
    for g in (sg, other, sg3):
        am.ok("DELETE", "/v1/security-groups/" + g["id"], status=204)


def test_vm_create_with_security_groups_and_bandwidth(n):
    am, bm = n.a_member, n.b_member
    sg = am.ok("POST", "/v1/security-groups", {"name": "boot"}, status=201)
    bsg = bm.ok("POST", "/v1/security-groups", {"name": "b-boot"}, status=201)
    vm = vm_create(am, n.ids, "a-sg-vm", [n.a_priv["id"]], security_group_ids=[sg["id"]],
                   bandwidth_in_kbps=1000, bandwidth_out_kbps=2000)
    nic = vm["nics"][0]
    assert nic["security_group_ids"] == [sg["id"]]
    assert (nic["bandwidth_in_kbps"], nic["bandwidth_out_kbps"]) == (1000, 2000)
    assert n.a_vm1["nics"][0]["bandwidth_in_kbps"] == 0
    body = {"name": "a-bad", "image_id": n.ids["image"], "instance_offering_id": n.ids["offering"],
            "l3_network_ids": [n.a_priv["id"]]}
    before = snapshot(am, "/v1/vms")
    err(am.post("/v1/vms", dict(body, security_group_ids=[bsg["id"]])), 404, "NotFound",
        field="security_group_ids[0]")
    err(am.post("/v1/vms", dict(body, security_group_ids=[sg["id"], sg["id"]])), 400,
        "InvalidArgument", field="security_group_ids[1]")
    e = err(am.post("/v1/vms", dict(body, security_group_ids=[sg["id"]],
                                    l3_network_ids=[n.a_plain["id"]])), 409, "Conflict",
            field="security_group_ids")
    assert "a-plain" in e["message"]
    err(am.post("/v1/vms", dict(body, bandwidth_in_kbps=100000001)), 400, "InvalidArgument",
        field="bandwidth_in_kbps")
    err(am.post("/v1/vms", dict(body, bandwidth_out_kbps=-1)), 400, "InvalidArgument",
        field="bandwidth_out_kbps")
    assert snapshot(am, "/v1/vms") == before
    # set_bandwidth
    path = "/v1/vms/%s/actions/set_bandwidth" % vm["id"]
    job = job_ok(am, am.post(path, {"nic_id": nic["id"], "in_kbps": 0, "out_kbps": 100000000}))
    assert job["resource_kind"] == "vms" and job["resource_id"] == vm["id"]
    got = vm_get(am, vm["id"])["nics"][0]
    assert (got["bandwidth_in_kbps"], got["bandwidth_out_kbps"]) == (0, 100000000)
    job_ok(am, am.post(path, {"nic_id": nic["id"], "in_kbps": 512}))  # out stays
    got = vm_get(am, vm["id"])["nics"][0]
    assert (got["bandwidth_in_kbps"], got["bandwidth_out_kbps"]) == (512, 100000000)
    err(am.post(path, {"nic_id": n.a_nic1, "in_kbps": 1}), 404, "NotFound", field="nic_id")
    err(am.post(path, {"nic_id": nic["id"], "in_kbps": -1}), 400, "InvalidArgument",
        field="in_kbps")
    err(am.post(path, {"nic_id": nic["id"], "in_kbps": 100000001}), 400, "InvalidArgument",
        field="in_kbps")
    err(am.post(path, {"in_kbps": 1}), 400, "InvalidArgument", field="nic_id")
    err(am.post(path, {"nic_id": nic["id"], "speed": 1}), 400, "InvalidArgument", field="speed")
    err(n.a_viewer.post(path, {"nic_id": nic["id"], "in_kbps": 1}), 403, "PermissionDenied")
    err(bm.post(path, {"nic_id": nic["id"], "in_kbps": 1}), 404, "NotFound")
    assert vm_get(am, vm["id"])["nics"][0] == got
    j = am.job(am.ok("DELETE", "/v1/vms/" + vm["id"], status=202))
    assert j["state"] == "succeeded", j
    am.ok("DELETE", "/v1/security-groups/" + sg["id"], status=204)
    bm.ok("DELETE", "/v1/security-groups/" + bsg["id"], status=204)


# --- EIPs --------------------------------------------------------------------------

def test_eip_address_allocation_attach_detach_and_release(n):
    a, am, bm = n.admin, n.a_member, n.b_member
    used0 = ip_used(am, n.pub["id"])
    r = am.post("/v1/eips", {"name": "e1", "l3_network_id": n.pub["id"]})
    assert r.status_code == 201, r.text
    e1 = r.json()
    assert r.headers["Location"] == "/v1/eips/" + e1["id"]
    assert e1["ip"].startswith("203.0.113.") and 10 <= int(e1["ip"].split(".")[3]) <= 50
    assert (e1["nic_id"], e1["vm_id"], e1["private_ip"]) == (None, None, None)
    assert e1["account_id"] == n.a_id
    assert ip_used(am, n.pub["id"]) == used0 + 1
    e2 = am.ok("POST", "/v1/eips", {"name": "e2", "l3_network_id": n.pub["id"],
                                    "ip": "203.0.113.42"}, status=201)
    assert e2["ip"] == "203.0.113.42"
    assert ip_used(am, n.pub["id"]) == used0 + 2
    before = snapshot(a, "/v1/eips")
    err(bm.post("/v1/eips", {"name": "e3", "l3_network_id": n.pub["id"],
                             "ip": "203.0.113.42"}), 409, "Conflict", field="ip")
    err(am.post("/v1/eips", {"name": "e3", "l3_network_id": n.pub["id"], "ip": "203.0.113.99"}),
        400, "InvalidArgument", field="ip")
    err(am.post("/v1/eips", {"name": "e3", "l3_network_id": n.pub["id"], "ip": "ten"}),
        400, "InvalidArgument", field="ip")
    err(am.post("/v1/eips", {"name": "e3", "l3_network_id": n.a_priv["id"]}), 400,
        "InvalidArgument", field="l3_network_id")
    err(am.post("/v1/eips", {"name": "e3", "l3_network_id": str(uuid.uuid4())}), 400,
        "InvalidArgument", field="l3_network_id")
    err(am.post("/v1/eips", {"name": "e1", "l3_network_id": n.pub["id"]}), 409, "Conflict",
        field="name")
    err(am.post("/v1/eips", {"name": "e3"}), 400, "InvalidArgument", field="l3_network_id")
    err(am.post("/v1/eips", {"name": "e3", "l3_network_id": n.pub["id"], "vm_id": n.a_vm1["id"]}),
        400, "InvalidArgument", field="vm_id")
    err(n.a_viewer.post("/v1/eips", {"name": "e3", "l3_network_id": n.pub["id"]}), 403,
        "PermissionDenied")
    assert snapshot(a, "/v1/eips") == before
    assert ip_used(am, n.pub["id"]) == used0 + 2
    # attach: 202 + job, then vm_id and private_ip show
    act = "/v1/eips/%s/actions/" % e1["id"]
    job = job_ok(am, am.post(act + "attach", {"nic_id": n.a_nic1}))
    assert job["resource_kind"] == "eips" and job["resource_id"] == e1["id"]
    got = am.ok("GET", "/v1/eips/" + e1["id"])
    assert (got["nic_id"], got["vm_id"], got["private_ip"]) == \
        (n.a_nic1, n.a_vm1["id"], n.a_vm1["nics"][0]["ip"])
    assert [x["id"] for x in items(am, "/v1/eips", q="vm_id=" + n.a_vm1["id"])] == [e1["id"]]
    # one EIP per NIC; NICs without the eip service; attached twice; others' NICs
    before = snapshot(a, "/v1/eips")
    e = err(am.post("/v1/eips/%s/actions/attach" % e2["id"], {"nic_id": n.a_nic1}), 409,
            "Conflict", field="nic_id")
    assert "e1" in e["message"]
    e = err(am.post("/v1/eips/%s/actions/attach" % e2["id"], {"nic_id": n.a_plain_nic}), 409,
            "Conflict", field="nic_id")
    assert "a-plain" in e["message"] and "eip" in e["message"]
    err(am.post(act + "attach", {"nic_id": n.a_nic2}), 409, "Conflict")
    err(am.post("/v1/eips/%s/actions/attach" % e2["id"], {"nic_id": n.b_nic}), 404,
        "NotFound", field="nic_id")
    err(am.post("/v1/eips/%s/actions/attach" % e2["id"], {}), 400, "InvalidArgument",
        field="nic_id")
    e = err(am.delete("/v1/eips/" + e1["id"]), 409, "Conflict")
    assert "detach it first" in e["message"]
    assert snapshot(a, "/v1/eips") == before
    # detach, delete: the address goes back
    job_ok(am, am.post(act + "detach", {}))
    got = am.ok("GET", "/v1/eips/" + e1["id"])
    assert (got["nic_id"], got["vm_id"], got["private_ip"]) == (None, None, None)
    err(am.post(act + "detach", {}), 409, "Conflict")
    am.ok("DELETE", "/v1/eips/" + e1["id"], status=204)
    err(am.get("/v1/eips/" + e1["id"]), 404, "NotFound")
    assert ip_used(am, n.pub["id"]) == used0 + 1
    # create with nic_id: 202 + job, attached when it is done
    r = am.post("/v1/eips", {"name": "e4", "l3_network_id": n.pub["id"], "nic_id": n.a_nic2})
    job = job_ok(am, r)
    e4 = am.ok("GET", "/v1/eips/" + job["resource_id"])
    assert (e4["name"], e4["nic_id"], e4["vm_id"]) == ("e4", n.a_nic2, n.a_vm2["id"])
    assert ip_used(am, n.pub["id"]) == used0 + 2
    # a public network holding EIPs stays, naming them (and the uplink users)
    e = err(a.delete("/v1/l3-networks/" + n.pub["id"]), 409, "Conflict")
    job_ok(am, am.post("/v1/eips/%s/actions/detach" % e4["id"], {}))
    for x in (e2, e4):
        am.ok("DELETE", "/v1/eips/" + x["id"], status=204)
    assert ip_used(am, n.pub["id"]) == used0


def test_eip_needs_the_nic_uplink_to_be_its_network(n):
    a, am = n.admin, n.a_member
    l2 = a.ok("POST", "/v1/l2-networks", {"name": "pub2-l2", "zone_id": n.ids["zone"],
                                          "type": "flat"}, status=201)
    pub2 = a.ok("POST", "/v1/l3-networks", {"name": "pub2", "l2_network_id": l2["id"],
                                            "cidr": "198.18.0.0/24", "public": True,
                                            "shared": True}, status=201)
    e = am.ok("POST", "/v1/eips", {"name": "far", "l3_network_id": pub2["id"]}, status=201)
    assert ip_used(am, pub2["id"]) == 1
    r = err(am.post("/v1/eips/%s/actions/attach" % e["id"], {"nic_id": n.a_nic1}), 409,
            "Conflict", field="nic_id")
    assert "uplink" in r["message"]
    err(am.post("/v1/eips", {"name": "far2", "l3_network_id": pub2["id"], "nic_id": n.a_nic1}),
        409, "Conflict", field="nic_id")
    assert ip_used(am, pub2["id"]) == 1  # the refused create took no address
    e2 = err(a.delete("/v1/l3-networks/" + pub2["id"]), 409, "Conflict")
    assert "far" in e2["message"], e2
    am.ok("DELETE", "/v1/eips/" + e["id"], status=204)
    a.ok("DELETE", "/v1/l3-networks/" + pub2["id"], status=204)


# --- port forwardings ---------------------------------------------------------------

def test_port_forwardings_ranges_overlaps_and_eip_rules(n):
    am, bm = n.a_member, n.b_member
    eip = am.ok("POST", "/v1/eips", {"name": "pf-eip", "l3_network_id": n.pub["id"]},
                status=201)
    base = {"name": "web", "eip_id": eip["id"], "protocol": "tcp", "public_port_start": 8000,
            "public_port_end": 8010, "nic_id": n.a_nic1}
    r = am.post("/v1/port-forwardings", base)
    job = job_ok(am, r)
    assert job["resource_kind"] == "port-forwardings"
    pf = am.ok("GET", "/v1/port-forwardings/" + job["resource_id"])
    assert (pf["public_ip"], pf["private_ip"], pf["vm_id"]) == \
        (eip["ip"], n.a_vm1["nics"][0]["ip"], n.a_vm1["id"])
    assert (pf["private_port_start"], pf["private_port_end"], pf["allowed_cidr"]) == \
        (8000, 8010, "0.0.0.0/0")
    # udp on the same ports, another range, a mapped range
    job_ok(am, am.post("/v1/port-forwardings", dict(base, name="dns", protocol="udp")))
    b2 = dict(base, name="ssh", public_port_start=2222, private_port_start=22,
              allowed_cidr="192.0.2.0/24")
    del b2["public_port_end"]
    r = am.post("/v1/port-forwardings", b2)
    ssh = am.ok("GET", "/v1/port-forwardings/" + job_ok(am, r)["resource_id"])
    assert (ssh["public_port_end"], ssh["private_port_start"], ssh["private_port_end"],
            ssh["allowed_cidr"]) == (2222, 22, 22, "192.0.2.0/24")
    before = snapshot(n.admin, "/v1/port-forwardings")

    def bad(body, status, code, field=None):
        err(am.post("/v1/port-forwardings", dict(base, name="bad", **body)), status, code,
            field=field)

    e = err(am.post("/v1/port-forwardings", dict(base, name="bad", public_port_start=8010,
                                                 public_port_end=8020)), 409, "Conflict",
            field="public_port_start")
    assert "web" in e["message"]
    bad({"public_port_start": 7990, "public_port_end": 8000}, 409, "Conflict",
        "public_port_start")
    bad({"public_port_start": 9000, "public_port_end": 8999}, 400, "InvalidArgument",
        "public_port_end")
    bad({"public_port_start": 10000, "public_port_end": 11024}, 400, "InvalidArgument",
        "public_port_end")
    bad({"public_port_start": 10000, "public_port_end": 10010, "private_port_start": 65530},
        400, "InvalidArgument", "private_port_start")
    bad({"public_port_start": 0}, 400, "InvalidArgument", "public_port_start")
    bad({"protocol": "icmp", "public_port_start": 9000}, 400, "InvalidArgument", "protocol")
    bad({"public_port_start": 9000, "public_port_end": 9000, "allowed_cidr": "1.2.3.4/8"}, 400,
        "InvalidArgument", "allowed_cidr")
    bad({"public_port_start": 9000, "public_port_end": 9000, "nic_id": n.a_plain_nic}, 409,
        "Conflict", "nic_id")
    bad({"public_port_start": 9000, "public_port_end": 9000, "nic_id": n.b_nic}, 404,
        "NotFound", "nic_id")
    bad({"public_port_start": 9000, "public_port_end": 9000, "public_ip": "1.2.3.4"}, 400,
        "InvalidArgument", "public_ip")
    # another account's EIP, an attached EIP
    beip = bm.ok("POST", "/v1/eips", {"name": "b-eip", "l3_network_id": n.pub["id"]},
                 status=201)
    bad({"public_port_start": 9000, "public_port_end": 9000, "eip_id": beip["id"]}, 404,
        "NotFound", "eip_id")
    att = am.ok("POST", "/v1/eips", {"name": "pf-att", "l3_network_id": n.pub["id"]},
                status=201)
    job_ok(am, am.post("/v1/eips/%s/actions/attach" % att["id"], {"nic_id": n.a_nic2}))
    bad({"public_port_start": 9000, "public_port_end": 9000, "eip_id": att["id"]}, 409,
        "Conflict", "eip_id")
    err(n.a_viewer.post("/v1/port-forwardings", dict(base, name="v", public_port_start=9000,
                                                     public_port_end=9000)),
        403, "PermissionDenied")
    assert snapshot(n.admin, "/v1/port-forwardings") == before
    # an EIP with forwardings is neither attached nor deleted
    e = err(am.post("/v1/eips/%s/actions/attach" % eip["id"], {"nic_id": n.a_nic2}), 409,
            "Conflict")
    assert "port forwardings" in e["message"]
    err(am.delete("/v1/eips/" + eip["id"]), 409, "Conflict")
    # the other account sees none of it
    err(bm.get("/v1/port-forwardings/" + pf["id"]), 404, "NotFound")
    err(bm.delete("/v1/port-forwardings/" + pf["id"]), 404, "NotFound")
    assert items(bm, "/v1/port-forwardings") == []
    # rename, delete (202 + job each)
    p = am.ok("PATCH", "/v1/port-forwardings/" + pf["id"], {"name": "web2"})
    assert p["name"] == "web2" and p["public_port_start"] == 8000
    err(am.patch("/v1/port-forwardings/" + pf["id"], {"public_port_start": 1}), 400,
        "InvalidArgument", field="public_port_start")
    for x in items(am, "/v1/port-forwardings"):
        job_ok(am, am.delete("/v1/port-forwardings/" + x["id"]))
    err(am.get("/v1/port-forwardings/" + pf["id"]), 404, "NotFound")
    am.ok("DELETE", "/v1/eips/" + eip["id"], status=204)
    job_ok(am, am.post("/v1/eips/%s/actions/detach" % att["id"], {}))
    am.ok("DELETE", "/v1/eips/" + att["id"], status=204)
    bm.ok("DELETE", "/v1/eips/" + beip["id"], status=204)


# --- tenancy, roles, the OpenAPI document ---------------------------------------------

def test_tenancy_viewers_read_others_see_nothing_admins_act_anywhere(n):
    a, am, av, bm = n.admin, n.a_member, n.a_viewer, n.b_member
    sg = am.ok("POST", "/v1/security-groups", {"name": "ten"}, status=201)
    eip = am.ok("POST", "/v1/eips", {"name": "ten-eip", "l3_network_id": n.pub["id"]},
                status=201)
    # another account: 404 everywhere, and lists without them
    for path in ("/v1/security-groups/" + sg["id"], "/v1/eips/" + eip["id"]):
        err(bm.get(path), 404, "NotFound")
        err(bm.delete(path), 404, "NotFound")
        err(bm.patch(path, {"name": "mine"}), 404, "NotFound")
    assert sg["id"] not in [x["id"] for x in items(bm, "/v1/security-groups")]
    assert eip["id"] not in [x["id"] for x in items(bm, "/v1/eips")]
    err(bm.post("/v1/security-groups/%s/rules" % sg["id"],
                {"direction": "ingress", "cidr": "0.0.0.0/0"}), 404, "NotFound")
    err(bm.delete("/v1/security-groups/%s/rules/%s" % (sg["id"], sg["rules"][0]["id"])), 404,
        "NotFound")
    err(bm.post("/v1/security-groups/%s/actions/attach" % sg["id"], {"nic_ids": [n.b_nic]}),
        404, "NotFound")
    err(bm.post("/v1/eips/%s/actions/attach" % eip["id"], {"nic_id": n.b_nic}), 404,
        "NotFound")
    # b's own group cannot take a's NIC; a's EIP cannot go to b's NIC
    bsg = bm.ok("POST", "/v1/security-groups", {"name": "ten"}, status=201)  # names per account
    err(bm.post("/v1/security-groups/%s/actions/attach" % bsg["id"], {"nic_ids": [n.a_nic1]}),
        404, "NotFound", field="nic_ids[0]")
    err(am.post("/v1/eips/%s/actions/attach" % eip["id"], {"nic_id": n.b_nic}), 404,
        "NotFound", field="nic_id")
    # viewers read, never write
    assert av.ok("GET", "/v1/security-groups/" + sg["id"]) == sg
    assert av.ok("GET", "/v1/eips/" + eip["id"]) == eip
    err(av.post("/v1/security-groups", {"name": "v"}), 403, "PermissionDenied")
    err(av.post("/v1/security-groups/%s/rules" % sg["id"],
                {"direction": "ingress", "cidr": "0.0.0.0/0"}), 403, "PermissionDenied")
    err(av.post("/v1/security-groups/%s/actions/attach" % sg["id"], {"nic_ids": [n.a_nic1]}),
        403, "PermissionDenied")
    err(av.delete("/v1/security-groups/" + sg["id"]), 403, "PermissionDenied")
    err(av.post("/v1/eips/%s/actions/attach" % eip["id"], {"nic_id": n.a_nic1}), 403,
        "PermissionDenied")
    # admins act in any account, on that account's NICs
    job_ok(a, a.post("/v1/security-groups/%s/actions/attach" % sg["id"],
                     {"nic_ids": [n.a_nic2]}))
    assert nic_sgs(am, n.a_vm2["id"], n.a_nic2) == [sg["id"]]
    job_ok(a, a.post("/v1/security-groups/%s/actions/detach" % sg["id"],
                     {"nic_ids": [n.a_nic2]}))
    err(a.post("/v1/security-groups/%s/actions/attach" % sg["id"], {"nic_ids": [n.b_nic]}),
        404, "NotFound", field="nic_ids[0]")
    asg = a.ok("POST", "/v1/security-groups", {"name": "by-admin", "account_id": n.a_id},
               status=201)
    assert asg["account_id"] == n.a_id
    assert am.ok("GET", "/v1/security-groups/" + asg["id"])["name"] == "by-admin"
    for x in (sg, asg):
        am.ok("DELETE", "/v1/security-groups/" + x["id"], status=204)
    bm.ok("DELETE", "/v1/security-groups/" + bsg["id"], status=204)
    am.ok("DELETE", "/v1/eips/" + eip["id"], status=204)


def test_idempotency_key_replays_network_changes(n):
    am = n.a_member
    sg = am.ok("POST", "/v1/security-groups", {"name": "idem"}, status=201)
    key = {"Idempotency-Key": "net-" + str(uuid.uuid4())}
    path = "/v1/security-groups/%s/rules" % sg["id"]
    rule = {"direction": "ingress", "protocol": "tcp", "port_start": 5432, "cidr": "0.0.0.0/0"}
    r1 = am.post(path, rule, headers=key)
    r2 = am.post(path, rule, headers=key)
    assert r1.status_code == 202 and r2.status_code == 202, (r1.text, r2.text)
    assert r2.headers.get("Idempotent-Replayed") == "true"
    assert r1.json()["id"] == r2.json()["id"]
    assert len(am.ok("GET", "/v1/security-groups/" + sg["id"])["rules"]) == 3
    key = {"Idempotency-Key": "net-" + str(uuid.uuid4())}
    e1 = am.post("/v1/eips", {"name": "idem-eip", "l3_network_id": n.pub["id"]}, headers=key)
    e2 = am.post("/v1/eips", {"name": "idem-eip", "l3_network_id": n.pub["id"]}, headers=key)
    assert e1.status_code == 201 and e2.status_code == 201 and e1.json() == e2.json()
    am.ok("DELETE", "/v1/eips/" + e1.json()["id"], status=204)
    am.ok("DELETE", "/v1/security-groups/" + sg["id"], status=204)


def test_openapi_documents_the_network_routes(n):
    doc = n.admin.ok("GET", "/v1/openapi.json")
    paths = doc["paths"]
    for method, path in [
            ("get", "/v1/security-groups"), ("post", "/v1/security-groups"),
            ("get", "/v1/security-groups/{id}"), ("patch", "/v1/security-groups/{id}"),
            ("delete", "/v1/security-groups/{id}"), ("post", "/v1/security-groups/{id}/rules"),
            ("delete", "/v1/security-groups/{id}/rules/{rule_id}"),
            ("post", "/v1/security-groups/{id}/actions/attach"),
            ("post", "/v1/security-groups/{id}/actions/detach"),
            ("get", "/v1/eips"), ("post", "/v1/eips"), ("delete", "/v1/eips/{id}"),
            ("post", "/v1/eips/{id}/actions/attach"), ("post", "/v1/eips/{id}/actions/detach"),
            ("get", "/v1/port-forwardings"), ("post", "/v1/port-forwardings"),
            ("delete", "/v1/port-forwardings/{id}"),
            ("post", "/v1/vms/{id}/actions/set_bandwidth")]:
        assert method in paths.get(path, {}), (method, path)
    for path in ("/v1/security-groups/{id}/rules", "/v1/eips/{id}/actions/attach",
                 "/v1/port-forwardings", "/v1/vms/{id}/actions/set_bandwidth"):
        assert "wait" in {p["name"] for p in paths[path]["post"].get("parameters", [])}, path
