# SPDX-License-Identifier: MIT
"""kumod's Redfish aggregator (/redfish/v1 on kumod), end to end: a real
kumod and two real kumo-agents (sim driver, one host each, with the thermal
model: the agents' full node services), VMs made through kumod's API, and
real clients (requests, redfishtool, python3-sushy).

What the aggregator serves itself (ServiceRoot, odata, $metadata,
AggregationService and its sources, the merged collections, SessionService,
ThermalEquipment, its errors) is checked strictly; the members' bodies come
from the agents and are validated too; every link the walk finds must
answer. Every body is validated against the DMTF JSON schemas
(redfish_schema.py). The test that stops an agent runs last.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from urllib.parse import urldefrag

import pytest
import requests

from conftest import SLOW, Cloud, wait_for
from redfish_schema import Validator, check_metadata, links

V1 = "/redfish/v1"
SOURCES = V1 + "/AggregationService/AggregationSources"
HOSTS = ("edge-1", "edge_2")  # a '_' in a host name: ids split at the last one
PW = "tenant-pass-42"
AGG_COLLS = (V1 + "/Systems", V1 + "/Chassis", V1 + "/Managers",
             V1 + "/ThermalEquipment/ImmersionUnits")
KUMOD_INI = """[kumod]
heartbeat_interval_s = 1
host_timeout_s = 4
[redfish]
timeout_s = 5
"""
AGENT_INI = "[thermal]\nenabled = true\n"

validator = Validator()


@pytest.fixture(scope="module")
def fleet():
    d = tempfile.mkdtemp(prefix="kumo-e2e-rfagg-")
    c = Cloud(d, KUMOD_INI)
    try:
        c.start()
        ini = os.path.join(d, "agent.ini")
        with open(ini, "w") as f:
            f.write(AGENT_INI)
        for h in HOSTS:
            c.add_agent(h, extra=["--config", ini])
        b = c.basics()
        c.vms = []
        for i in range(3):
            j = c.admin.job(c.admin.ok("POST", "/v1/vms", {
                "name": "vm%d" % i, "image_id": b["image"],
                "instance_offering_id": b["offering"], "l3_network_ids": [b["l3"]]}))
            assert j["state"] == "succeeded", j
            c.vms.append(c.admin.ok("GET", "/v1/vms/" + j["resource_id"]))
        acct = c.admin.ok("POST", "/v1/accounts", {"name": "tenant"})
        c.admin.ok("POST", "/v1/users", {"name": "tina", "password": PW, "role": "owner",
                                         "account_id": acct["id"]})
        c.base = c.kumod.url
        yield c
    finally:
        c.stop()
        shutil.rmtree(d, ignore_errors=True)


def admin(fleet):
    s = requests.Session()
    s.auth = ("admin", fleet.kumod.password)
    return s


def get(fleet, path, session=None, **kw):
    return (session or admin(fleet)).get(fleet.base + path, timeout=30, **kw)


def ok(fleet, path, session=None):
    r = get(fleet, path, session)
    assert r.status_code == 200, "%s -> %d %s" % (path, r.status_code, r.text[:500])
    assert r.headers["OData-Version"] == "4.0"
    body = r.json()
    validator.check(body, path)
    return body


def redfish_error(r, status, message_id):
    """r is a Redfish error of that status whose messages include message_id."""
    assert r.status_code == status, "%d %s" % (r.status_code, r.text[:500])
    body = r.json()
    validator.check(body, "error")
    ids = [m["MessageId"].rsplit(".", 1)[1] for m in body["error"]["@Message.ExtendedInfo"]]
    assert message_id in ids, ids
    assert body["error"]["code"].startswith("Base.")
    return body


def hosts_by_name(fleet):
    return {h["name"]: h for h in fleet.admin.ok("GET", "/v1/hosts?limit=1000")["items"]}


def member_ids(body):
    return [m["@odata.id"].rsplit("/", 1)[1] for m in body["Members"]]


# ---- fixed URIs, open ---------------------------------------------------------------------

def test_fixed_uris_are_open(fleet):
    r = requests.get(fleet.base + "/redfish")
    assert r.status_code == 200 and r.json() == {"v1": "/redfish/v1/"}
    root = None
    for p in (V1, V1 + "/"):
        r = requests.get(fleet.base + p)
        assert r.status_code == 200, r.text
        root = r.json()
        validator.check(root, p)
    assert root["Product"] == "kumod" and root["Links"]["Sessions"]["@odata.id"]
    for k in ("AggregationService", "Systems", "Chassis", "Managers", "SessionService"):
        assert root[k]["@odata.id"] == V1 + "/" + k, k
    assert re.match(r"^[0-9a-f-]{36}$", root["UUID"])
    r = requests.get(fleet.base + V1 + "/odata")
    assert r.status_code == 200
    names = {v["name"] for v in r.json()["value"]}
    assert {"Service", "Systems", "AggregationService", "SessionService"} <= names
    r = requests.get(fleet.base + V1 + "/$metadata")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/xml")
    assert "AggregationService.v1_0_3" in r.text
    # HEAD is GET without the body
    r = requests.head(fleet.base + V1 + "/")
    assert r.status_code == 200 and not r.content and r.headers["ETag"]


def test_kumods_own_paths_keep_their_answers(fleet):
    """Only /redfish goes to the aggregator: kumod's 404 and 405 are kumod's."""
    for p in ("/nothing", "/redfishx", "/v1/nothing"):
        r = requests.get(fleet.base + p)
        assert r.status_code == 404, p
        assert r.json()["error"]["code"] == "NotFound", r.text
        assert "OData-Version" not in r.headers
    r = fleet.admin.req("PUT", "/v1/zones")
    assert r.status_code == 405 and r.json()["error"]["code"] != "" and "Allow" in r.headers
    assert "@Message.ExtendedInfo" not in r.text
    # and Redfish's errors are Redfish's: 404, 405, 413 (the server's own limit)
    redfish_error(get(fleet, V1 + "/nothing"), 404, "ResourceMissingAtURI")
    r = admin(fleet).request("OPTIONS", fleet.base + V1 + "/Systems")
    redfish_error(r, 405, "OperationNotAllowed")
    r = admin(fleet).post(fleet.base + V1 + "/SessionService/Sessions",
                          data=b'{"UserName": "' + b"x" * 100000 + b'"}',
                          headers={"Content-Type": "application/json"})
    redfish_error(r, 413, "PayloadTooLarge")


# ---- authentication and roles ---------------------------------------------------------------

def test_401_without_or_with_wrong_credentials(fleet):
    for p in (V1 + "/Systems", SOURCES, V1 + "/SessionService", V1 + "/Systems/edge-1_host"):
        r = requests.get(fleet.base + p)
        redfish_error(r, 401, "AccessUnauthorized")
        assert r.headers["WWW-Authenticate"].startswith("Basic realm=")
    r = requests.get(fleet.base + V1 + "/Systems", auth=("admin", "wrong-password"))
    redfish_error(r, 401, "AccessUnauthorized")
    r = requests.get(fleet.base + V1 + "/Systems", headers={"X-Auth-Token": "kst_" + "0" * 64})
    redfish_error(r, 401, "AccessUnauthorized")


def test_tenant_users_get_403(fleet):
    tina = requests.Session()
    tina.auth = ("tenant/tina", PW)
    for p in (V1 + "/Systems", V1 + "/Chassis", SOURCES, SOURCES + "/edge-1",
              V1 + "/AggregationService", V1 + "/SessionService",
              V1 + "/Systems/edge-1_host", V1 + "/Managers/edge-1_agent"):
        redfish_error(get(fleet, p, tina), 403, "InsufficientPrivilege")
    r = tina.post(fleet.base + V1 + "/Systems/edge-1_host/Actions/ComputerSystem.Reset",
                  json={"ResetType": "ForceOff"})
    redfish_error(r, 403, "InsufficientPrivilege")
    # the open URIs stay open for them
    assert get(fleet, V1 + "/", tina).status_code == 200
    # no Redfish session for a tenant
    r = requests.post(fleet.base + V1 + "/SessionService/Sessions",
                      json={"UserName": "tenant/tina", "Password": PW})
    redfish_error(r, 403, "InsufficientPrivilege")
    assert "X-Auth-Token" not in r.headers
    # their kumod token is no key either
    tok = fleet.kumod.login("tenant", "tina", PW).token
    r = requests.get(fleet.base + V1 + "/Systems", headers={"X-Auth-Token": tok})
    redfish_error(r, 403, "InsufficientPrivilege")
    # an unknown account is a wrong credential
    r = requests.get(fleet.base + V1 + "/Systems", auth=("nobody/tina", PW))
    redfish_error(r, 401, "AccessUnauthorized")


def test_sessions(fleet):
    base = fleet.base + V1 + "/SessionService/Sessions"
    r = requests.post(base, json={"UserName": "admin", "Password": "nope"})
    redfish_error(r, 401, "AccessUnauthorized")
    r = requests.post(base, json={"UserName": "admin"})
    redfish_error(r, 400, "PropertyMissing")
    r = requests.post(base, json={"UserName": "admin", "Password": fleet.kumod.password})
    assert r.status_code == 201, r.text
    tok, loc = r.headers["X-Auth-Token"], r.headers["Location"]
    body = r.json()
    validator.check(body)
    assert body["@odata.id"] == loc and body["UserName"] == "admin"
    s = requests.Session()
    s.headers["X-Auth-Token"] = tok
    svc = ok(fleet, V1 + "/SessionService", s)
    assert svc["SessionTimeout"] >= 30
    assert loc in [m["@odata.id"] for m in ok(fleet, V1 + "/SessionService/Sessions", s)["Members"]]
    assert ok(fleet, loc, s)["Id"] == loc.rsplit("/", 1)[1]
    assert ok(fleet, V1 + "/Systems", s)["Members@odata.count"] >= 2
    # a Redfish session is a kumod session: a bearer token of the API too
    r = requests.get(fleet.base + "/v1/whoami", headers={"Authorization": "Bearer " + tok})
    assert r.status_code == 200 and r.json()["role"] == "admin"
    # and a kumod token works as X-Auth-Token
    api_tok = fleet.admin.token
    assert get(fleet, V1 + "/Systems", requests.Session(),
               headers={"X-Auth-Token": api_tok}).status_code == 200
    # "admin/admin" is the same user as "admin"
    r = requests.get(fleet.base + V1 + "/Systems", auth=("admin/admin", fleet.kumod.password))
    assert r.status_code == 200
    # logout
    r = s.delete(fleet.base + loc)
    assert r.status_code == 204, r.text
    redfish_error(s.get(fleet.base + V1 + "/Systems"), 401, "AccessUnauthorized")
    redfish_error(get(fleet, loc), 404, "ResourceMissingAtURI")


# ---- the aggregator's own resources --------------------------------------------------------------

def test_aggregation_sources(fleet):
    hosts = hosts_by_name(fleet)
    svc = ok(fleet, V1 + "/AggregationService")
    assert svc["AggregationSources"]["@odata.id"] == SOURCES
    coll = ok(fleet, SOURCES)
    assert sorted(member_ids(coll)) == sorted(HOSTS)
    assert coll["Members@odata.count"] == 2
    for name in HOSTS:
        src = ok(fleet, SOURCES + "/" + name)
        assert src["Id"] == name and src["HostName"] == hosts[name]["address"]
        assert src["Status"]["State"] == "Enabled"
        assert "Password" not in src and "UserName" not in src
        accessed = [x["@odata.id"] for x in src["Links"]["ResourcesAccessed"]]
        assert V1 + "/Systems/%s_host" % name in accessed
        assert src["Links"]["ResourcesAccessed@odata.count"] == len(accessed)
    redfish_error(get(fleet, SOURCES + "/no-such-host"), 404, "ResourceMissingAtURI")
    # hosts come and go through kumod's API, not here
    s = admin(fleet)
    r = s.post(fleet.base + SOURCES, json={"HostName": "10.0.0.9"})
    body = redfish_error(r, 405, "OperationNotAllowed")
    assert "/v1/hosts" in body["error"]["message"] and r.headers["Allow"] == "GET, HEAD"
    r = s.delete(fleet.base + SOURCES + "/edge-1")
    redfish_error(r, 405, "ResourceCannotBeDeleted")
    r = s.patch(fleet.base + SOURCES + "/edge-1", json={"HostName": "x"})
    redfish_error(r, 405, "OperationNotAllowed")
    assert sorted(member_ids(ok(fleet, SOURCES))) == sorted(HOSTS)


def test_merged_collections_come_from_kumods_store(fleet):
    hosts = hosts_by_name(fleet)
    want = set()
    for name in HOSTS:
        want.add("%s_host" % name)
    for vm in fleet.admin.ok("GET", "/v1/vms?limit=1000")["items"]:
        name = [n for n, h in hosts.items() if h["id"] == vm["host_id"]][0]
        want.add("%s_%s" % (name, vm["id"]))
    systems = ok(fleet, V1 + "/Systems")
    assert set(member_ids(systems)) == want and len(want) == 2 + len(fleet.vms)
    assert systems["Members@odata.count"] == len(want)
    assert member_ids(ok(fleet, V1 + "/Chassis")) == ["edge-1_box", "edge_2_box"]
    assert member_ids(ok(fleet, V1 + "/Managers")) == ["edge-1_agent", "edge_2_agent"]
    te = ok(fleet, V1 + "/ThermalEquipment")
    units = ok(fleet, te["ImmersionUnits"]["@odata.id"])
    assert member_ids(units) == ["edge-1_1", "edge_2_1"]
    # the core's query parameters work on them
    page = ok(fleet, V1 + "/Systems?$top=1&$skip=1")
    assert len(page["Members"]) == 1 and page["Members@odata.count"] == len(want)
    redfish_error(get(fleet, V1 + "/Systems?$filter=x"), 501, "QueryNotSupported")
    redfish_error(admin(fleet).post(fleet.base + V1 + "/Systems", json={}), 405,
                  "OperationNotAllowed")


# ---- members, relayed ------------------------------------------------------------------------------

def test_member_get_is_relayed_and_rewritten(fleet):
    r = get(fleet, V1 + "/Systems/edge-1_host")
    assert r.status_code == 200, r.text
    body = r.json()
    validator.check(body)
    # the member's Id is prefixed like its URI (clients find members by Id)
    assert body["@odata.id"] == V1 + "/Systems/edge-1_host" and body["Id"] == "edge-1_host"
    assert r.headers["ETag"] == body["@odata.etag"]
    for p in links(body):
        for c in AGG_COLLS:
            if p.startswith(c + "/"):
                assert p[len(c) + 1:].split("/")[0].startswith("edge-1_"), p
    # If-None-Match with its ETag: 304
    r2 = get(fleet, V1 + "/Systems/edge-1_host", headers={"If-None-Match": r.headers["ETag"]})
    assert r2.status_code == 304 and not r2.content
    # $select is the aggregator's, applied to the agent's body
    sel = ok(fleet, V1 + "/Systems/edge-1_host?$select=Name")
    assert sel["Name"] == body["Name"] and "Links" not in sel
    # an unknown host prefix is the aggregator's 404; an unknown member the agent's, rewritten
    for p in ("/Systems/nohost_host", "/Systems/host", "/Chassis/edge-3_box", "/Systems/_host"):
        redfish_error(get(fleet, V1 + p), 404, "ResourceMissingAtURI")
    e = redfish_error(get(fleet, V1 + "/Systems/edge_2_nothing-here"), 404,
                      "ResourceMissingAtURI")
    assert "/redfish/v1/Systems/nothing-here" not in json.dumps(e), e
    # nothing outside a member can be named through it
    for p in ("/Systems/edge-1_host/%2e%2e/%2e%2e/AccountService",
              "/Systems/edge-1_host/%2E/Actions/ComputerSystem.Reset"):
        redfish_error(get(fleet, V1 + p), 404, "ResourceMissingAtURI")


def test_walk(fleet):
    """From /redfish/v1 through every link: every resource answers and
    validates, the aggregator's own and the agents' relayed ones, and no
    member path is left without its host prefix."""
    s = admin(fleet)
    seen, queue, missing, bodies = set(), [V1], [], {}
    own = (V1, V1 + "/odata", V1 + "/AggregationService", SOURCES, V1 + "/SessionService",
           V1 + "/SessionService/Sessions", V1 + "/ThermalEquipment") + AGG_COLLS
    while queue:
        path = urldefrag(queue.pop(0))[0].rstrip("/") or "/"
        if path in seen:
            continue
        seen.add(path)
        r = s.get(fleet.base + path, timeout=30)
        if r.status_code != 200 and path not in own and not path.startswith(SOURCES):
            missing.append("%s: %d" % (path, r.status_code))
            continue
        assert r.status_code == 200, "%s -> %d %s" % (path, r.status_code, r.text[:300])
        body = r.json()
        validator.check(body, path)
        assert body["@odata.id"].rstrip("/") == path, (path, body["@odata.id"])
        if "Members" in body:
            assert body["Members@odata.count"] == len(body["Members"]), path
        bodies[path] = body
        for p in links(body):
            assert p.startswith(V1), (path, p)
            for c in AGG_COLLS:
                if p.startswith(c + "/"):
                    seg = p[len(c) + 1:].split("/")[0]
                    assert seg.rsplit("_", 1)[0] in HOSTS, (path, p)
            queue.append(p)
    check_metadata(requests.get(fleet.base + V1 + "/$metadata").text, bodies)
    # the agents' part: every link the aggregator hands out answers
    assert any(p.startswith(V1 + "/Systems/edge-1_") for p in bodies), missing
    assert not missing, missing


def test_patch_with_etag_is_relayed(fleet):
    controls = get(fleet, V1 + "/Chassis/edge-1_box/Controls")
    assert controls.status_code == 200 and controls.json().get("Members"), controls.text
    path = controls.json()["Members"][0]["@odata.id"]
    assert path.startswith(V1 + "/Chassis/edge-1_box/Controls/")
    r = get(fleet, path)
    assert r.status_code == 200
    ctl, etag = r.json(), r.headers["ETag"]
    s = admin(fleet)
    r = s.patch(fleet.base + path, json={"SetPoint": ctl.get("SetPoint")},
                headers={"If-Match": '"stale"'})
    redfish_error(r, 412, "PreconditionFailed")
    r = s.patch(fleet.base + path, json={"SetPoint": ctl.get("SetPoint")},
                headers={"If-Match": etag})
    assert r.status_code in (200, 204), r.text
    if r.status_code == 200:
        validator.check(r.json())
        assert r.json()["@odata.id"] == path


def test_reset_of_a_vm_changes_its_state_in_kumod(fleet):
    vm = fleet.vms[0]
    host = [n for n, h in hosts_by_name(fleet).items() if h["id"] == vm["host_id"]][0]
    path = V1 + "/Systems/%s_%s" % (host, vm["id"])
    r = get(fleet, path)
    assert r.status_code == 200, r.text
    body = r.json()
    validator.check(body)
    assert body["@odata.id"] == path
    assert fleet.admin.ok("GET", "/v1/vms/" + vm["id"])["state"] == "running"
    target = body["Actions"]["#ComputerSystem.Reset"]["target"]
    assert target == path + "/Actions/ComputerSystem.Reset"
    s = admin(fleet)
    r = s.post(fleet.base + target, json={"ResetType": "NoSuchType"})
    assert r.status_code == 400, r.text
    r = s.post(fleet.base + target, json={"ResetType": "ForceOff"})
    assert r.status_code in (200, 202, 204), r.text
    wait_for(lambda: fleet.admin.ok("GET", "/v1/vms/" + vm["id"])["state"] == "stopped",
             timeout=20, what="the VM stopped in kumod")
    assert ok(fleet, path)["PowerState"] == "Off"
    r = s.post(fleet.base + target, json={"ResetType": "On"})
    assert r.status_code in (200, 202, 204), r.text
    wait_for(lambda: fleet.admin.ok("GET", "/v1/vms/" + vm["id"])["state"] == "running",
             timeout=20, what="the VM running again in kumod")


# ---- real clients ------------------------------------------------------------------------------

def redfishtool(fleet, *args):
    port = fleet.base.rsplit(":", 1)[1]
    r = subprocess.run(["redfishtool", "-r", "127.0.0.1:" + port, "-S", "Never", "-u", "admin",
                        "-p", fleet.kumod.password] + list(args),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, "%s\n%s\n%s" % (" ".join(args), r.stdout, r.stderr)
    return json.loads(r.stdout)


def test_redfishtool(fleet):
    assert redfishtool(fleet, "root")["Product"] == "kumod"
    systems = redfishtool(fleet, "Systems")
    assert "/redfish/v1/Systems/edge-1_host" in [m["@odata.id"] for m in systems["Members"]]
    one = redfishtool(fleet, "Systems", "-I", "edge-1_host")
    assert one["@odata.id"] == "/redfish/v1/Systems/edge-1_host"
    # with -A Session it logs in through the aggregator's SessionService
    sessions = redfishtool(fleet, "-A", "Session", "SessionService", "Sessions", "list")
    assert sessions["Members@odata.count"] >= 1


def test_sushy(fleet):
    import sushy
    s = sushy.Sushy(fleet.base + V1, username="admin", password=fleet.kumod.password)
    assert s.get_sessions_path() == V1 + "/SessionService/Sessions"
    assert s.uuid == ok(fleet, V1)["UUID"]
    ids = {m.rsplit("/", 1)[1] for m in s.get_system_collection().members_identities}
    assert "edge-1_host" in ids and "edge_2_host" in ids
    sys_ = s.get_system(V1 + "/Systems/edge_2_host")
    assert sys_.identity == "edge_2_host"
    with pytest.raises(sushy.exceptions.AccessError):
        sushy.Sushy(fleet.base + V1, username="admin",
                    password="wrong-password").get_system_collection()


# ---- a host that goes away (last: it stops an agent) --------------------------------------------

def test_zz_host_not_answering_then_gone_then_back(fleet):
    """A host whose agent hangs: 503 after [redfish] timeout_s (5 s here);
    once kumod marks it disconnected: 503 at once, naming the host; when
    it comes back its members answer again."""
    agent = [a for a in fleet.agents if a.name == "edge_2"][0]
    agent.proc.send_signal(signal.SIGSTOP)
    try:
        t0 = time.time()
        r = get(fleet, V1 + "/Systems/edge_2_host")
        body = redfish_error(r, 503, "ServiceTemporarilyUnavailable")
        assert 4 <= time.time() - t0 < 15 * SLOW
        ids = [m["MessageId"].rsplit(".", 1)[1] for m in body["error"]["@Message.ExtendedInfo"]]
        assert "OperationTimeout" in ids and "edge_2" in body["error"]["message"]
        wait_for(lambda: hosts_by_name(fleet)["edge_2"]["status"] == "disconnected",
                 timeout=20, what="edge_2 disconnected")
        t0 = time.time()
        r = get(fleet, V1 + "/Systems/edge_2_host")
        body = redfish_error(r, 503, "ServiceTemporarilyUnavailable")
        assert time.time() - t0 < 3 * SLOW  # no waiting on a host known to be gone
        assert "edge_2" in body["error"]["message"] and r.headers["Retry-After"]
        ids = [m["MessageId"].rsplit(".", 1)[1] for m in body["error"]["@Message.ExtendedInfo"]]
        assert "CouldNotEstablishConnection" in ids
        assert SOURCES + "/edge_2" in json.dumps(body)
        # still listed; its source says it is offline; the other host still answers
        assert "edge_2_host" in member_ids(ok(fleet, V1 + "/Systems"))
        assert ok(fleet, SOURCES + "/edge_2")["Status"]["State"] == "UnavailableOffline"
        assert get(fleet, V1 + "/Systems/edge-1_host").status_code == 200
        redfish_error(admin(fleet).post(
            fleet.base + V1 + "/Systems/edge_2_host/Actions/ComputerSystem.Reset",
            json={"ResetType": "ForceOff"}), 503, "ServiceTemporarilyUnavailable")
    finally:
        agent.proc.send_signal(signal.SIGCONT)
    wait_for(lambda: hosts_by_name(fleet)["edge_2"]["status"] == "connected",
             timeout=30, what="edge_2 connected again")
    wait_for(lambda: get(fleet, V1 + "/Systems/edge_2_host").status_code == 200,
             timeout=20, what="edge_2's members answering again")
    assert ok(fleet, SOURCES + "/edge_2")["Status"]["State"] == "Enabled"
