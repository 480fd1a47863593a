# SPDX-License-Identifier: MIT
"""The agent's Redfish Systems and Managers, end to end: a real kumod and a
real kumo-agent (rfnode.py), VMs created through kumod's API and powered
through Redfish ComputerSystem.Reset, the host's reset command, the
Manager's reset (the agent restarts) and its LogService (the node log of
thermal decisions). One real QEMU VM is shut down with redfishtool and
powered on with python3-sushy. Every body is validated against the DMTF
JSON schemas (redfish_schema.py).
"""
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid

import pytest
import requests

from conftest import SLOW, wait_for
from redfish_schema import Validator, check_metadata, walk
from rfnode import RfNode

V1 = "/redfish/v1"
SYSTEMS = V1 + "/Systems"
HOST = SYSTEMS + "/host"
MANAGER = V1 + "/Managers/agent"
LOG = MANAGER + "/LogServices/Log"
ENTRIES = LOG + "/Entries"
VM_RESETS = ["On", "ForceOff", "GracefulShutdown", "GracefulRestart", "ForceRestart", "Pause",
             "Resume"]
VALIDATOR = Validator()
# Resources of other parts of the service (their own suites walk them).
OTHERS = (V1 + "/Chassis", V1 + "/ThermalEquipment", V1 + "/TelemetryService",
          V1 + "/EventService")


# --- helpers --------------------------------------------------------------------

def msg_keys(r):
    body = r.json()
    info = body.get("error", {}).get("@Message.ExtendedInfo") or body.get(
        "@Message.ExtendedInfo", [])
    return [m["MessageId"].rsplit(".", 1)[1] for m in info]


def error(r, status, key):
    assert r.status_code == status, "want %d %s, got %d %s" % (status, key, r.status_code,
                                                                r.text)
    VALIDATOR.check(r.json(), "error")
    assert key in msg_keys(r), (key, r.text)
    assert r.json()["error"]["code"].startswith("Base.1.")


def success(r):
    assert r.status_code == 200, "%d %s" % (r.status_code, r.text)
    assert msg_keys(r) == ["Success"], r.text


def get(s, base, path):
    r = s.get(base + path, timeout=30)
    assert r.status_code == 200, "GET %s -> %d %s" % (path, r.status_code, r.text)
    VALIDATOR.check(r.json(), path)
    return r.json()


def reset(s, base, path, reset_type=None, body=None):
    if body is None:
        body = {"ResetType": reset_type}
    return s.post(base + path + "/Actions/ComputerSystem.Reset", json=body, timeout=120 * SLOW)


def kumod_state(node, vm_id):
    return node.cloud.admin.ok("GET", "/v1/vms/" + vm_id)["state"]


def create_vm(node, b, name):
    job = node.cloud.admin.ok("POST", "/v1/vms", {
        "name": name, "image_id": b["image"], "instance_offering_id": b["offering"],
        "l3_network_ids": [b["l3"]]})
    job = node.cloud.admin.job(job)
    assert job["state"] == "succeeded", job
    return job["resource_id"]


def agent_log(node):
    with open(node.agent.log, errors="replace") as f:
        return f.read()


def account(s, base, user, role):
    r = s.post(base + V1 + "/AccountService/Accounts", json={
        "UserName": user, "Password": user + "-pass-1", "RoleId": role}, timeout=30)
    assert r.status_code == 201, r.text
    c = requests.Session()
    c.auth = (user, user + "-pass-1")
    return c


# --- fixtures -------------------------------------------------------------------

@pytest.fixture(scope="module")
def tmp():
    d = tempfile.mkdtemp(prefix="kumo-rfsys-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def node(tmp):
    """A cool node (VMs are placed on it) whose host reset command is a
    script that records its arguments, and fails while a marker exists."""
    script = os.path.join(tmp, "host-reset.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\n[ -e {0}/fail ] && exit 3\n[ -e {0}/slow ] && sleep 3\n"
                "echo \"$@\" >> {0}/resets\n".format(tmp))
    os.chmod(script, 0o755)
    n = RfNode(tmp, thermal="ambient_c = 20\n",
               ini="[redfish]\nhost_reset_command = %s --why test\n" % script)
    try:
        n.start()
        n.b = n.cloud.basics()
        n.vm = create_vm(n, n.b, "rfvm1")
        yield n
    finally:
        n.stop()


@pytest.fixture(scope="module")
def s(node):
    return node.session()


# --- the tree -------------------------------------------------------------------

def test_walk_systems_and_managers_validates_every_body(node, s):
    get_ = lambda p: s.get(node.base + p, timeout=30)  # noqa: E731
    bodies = walk(get_, VALIDATOR, start=SYSTEMS, skip=OTHERS)
    bodies.update(walk(get_, VALIDATOR, start=V1 + "/Managers", skip=OTHERS))
    vm_path = SYSTEMS + "/" + node.vm
    for p in (SYSTEMS, HOST, vm_path, V1 + "/Managers", MANAGER, MANAGER + "/LogServices",
              LOG, ENTRIES):
        assert p in bodies, sorted(bodies)
    assert bodies[SYSTEMS]["Members@odata.count"] == 2

    host = bodies[HOST]
    assert host["SystemType"] == "Physical" and host["PowerState"] == "On"
    assert host["HostName"] == node.name
    # the sim driver's facts: 32 CPUs, 128 GiB (what kumod schedules on)
    facts = node.cloud.admin.ok("GET", "/v1/hosts/" + node.host_id)
    assert host["ProcessorSummary"]["LogicalProcessorCount"] == facts["cpu_total"] == 32
    assert host["MemorySummary"]["TotalSystemMemoryGiB"] * 1024 == facts["memory_mb_total"]
    assert host["Links"]["ManagedBy"] == [{"@odata.id": MANAGER}]
    assert host["Links"]["VirtualMachines"] == [{"@odata.id": vm_path}]
    assert host["Actions"]["#ComputerSystem.Reset"]["ResetType@Redfish.AllowableValues"] == \
        ["GracefulRestart", "ForceRestart", "PowerCycle"]

    vm = bodies[vm_path]
    assert vm["SystemType"] == "Virtual" and vm["Name"] == "rfvm1" and vm["Id"] == node.vm
    assert vm["UUID"] == node.vm and vm["PowerState"] == "On"
    assert vm["ProcessorSummary"]["Count"] == 1
    assert vm["MemorySummary"]["TotalSystemMemoryGiB"] == 0.5
    assert vm["Links"]["HostingComputerSystem"] == {"@odata.id": HOST}
    act = vm["Actions"]["#ComputerSystem.Reset"]
    assert act["target"] == vm_path + "/Actions/ComputerSystem.Reset"
    assert act["ResetType@Redfish.AllowableValues"] == VM_RESETS

    mgr = bodies[MANAGER]
    root = get(s, node.base, V1)
    assert mgr["ManagerType"] == "Service" and mgr["UUID"] == root["UUID"]
    assert mgr["FirmwareVersion"] == facts["version"]
    assert {"@odata.id": HOST} in mgr["Links"]["ManagerForServers"]
    assert {"@odata.id": vm_path} in mgr["Links"]["ManagerForServers"]
    assert mgr["Actions"]["#Manager.Reset"]["ResetType@Redfish.AllowableValues"] == \
        ["GracefulRestart", "ForceRestart"]
    assert abs(time.mktime(time.strptime(mgr["DateTime"][:19], "%Y-%m-%dT%H:%M:%S")) -
               time.mktime(time.gmtime())) < 60
    # the ETag does not move with DateTime: If-Match works a second later
    time.sleep(1.1)
    r = s.get(node.base + MANAGER)
    assert r.headers["ETag"] == mgr["@odata.etag"] and r.json()["DateTime"] != mgr["DateTime"]

    md = requests.get(node.base + V1 + "/$metadata", timeout=30).text
    ns = check_metadata(md, bodies)
    for name in ("ComputerSystem.v1_27_0", "ComputerSystemCollection", "Manager.v1_24_0",
                 "LogService.v1_9_0", "LogEntryCollection", "LogEntry.v1_21_0"):
        assert name in ns, name


def test_expand_systems_and_managers(node, s):
    body = get(s, node.base, SYSTEMS + "?$expand=.")
    assert {m["Id"] for m in body["Members"]} == {"host", node.vm}
    for m in body["Members"]:
        VALIDATOR.check(m, m["@odata.id"])
    body = get(s, node.base, MANAGER + "?$expand=.($levels=2)")
    assert body["LogServices"]["Members"][0]["Id"] == "Log"
    VALIDATOR.check(body["LogServices"]["Members"][0], "LogService")
    # Systems/host with $select
    body = get(s, node.base, HOST + "?$select=PowerState")
    assert set(body) - {"@odata.id", "@odata.type", "@odata.etag", "Id", "Name"} == \
        {"PowerState"}


# --- VM reset ---------------------------------------------------------------------

def test_every_reset_type_acts_on_the_vm_and_kumod_sees_it(node, s):
    path = SYSTEMS + "/" + node.vm
    # ResetType, what the agent runs, the state after (kumod and PowerState)
    steps = [("GracefulShutdown", ["vm.stop"], "stopped", "Off"),
             ("On", ["vm.start"], "running", "On"),
             ("Pause", ["vm.pause"], "paused", "Paused"),
             ("Resume", ["vm.resume"], "running", "On"),
             ("ForceRestart", ["vm.reboot"], "running", "On"),
             ("GracefulRestart", ["vm.stop", "vm.start"], "running", "On"),
             ("ForceOff", ["vm.stop"], "stopped", "Off"),
             ("On", ["vm.start"], "running", "On")]
    for rtype, actions, state, power in steps:
        before = agent_log(node)
        success(reset(s, node.base, path, rtype))
        assert get(s, node.base, path)["PowerState"] == power, rtype
        wait_for(lambda: kumod_state(node, node.vm) == state, timeout=10,
                 what="kumod to see %s after %s" % (state, rtype))
        new = agent_log(node)[len(before):]
        why = "(Redfish ComputerSystem.Reset %s by admin)" % rtype
        done = [a for a in ("vm.start", "vm.stop", "vm.reboot", "vm.pause", "vm.resume")
                if "vm %s: %s %s" % (node.vm, a, why) in new]
        assert done == sorted(actions), (rtype, new)
    # already there: On and Resume of a running VM do nothing and succeed
    before = agent_log(node)
    success(reset(s, node.base, path, "On"))
    success(reset(s, node.base, path, "Resume"))
    assert "Redfish ComputerSystem.Reset" not in agent_log(node)[len(before):]
    assert kumod_state(node, node.vm) == "running"


def test_reset_bad_missing_wrong_state_and_gone(node, s):
    path = SYSTEMS + "/" + node.vm
    error(reset(s, node.base, path, "Nmi"), 400, "ActionParameterValueNotInList")
    error(reset(s, node.base, path, "Bogus"), 400, "ActionParameterValueNotInList")
    error(reset(s, node.base, path, 3), 400, "ActionParameterValueTypeError")
    error(reset(s, node.base, path, body={}), 400, "ActionParameterMissing")
    error(reset(s, node.base, path, body={"ResetType": "On", "Force": True}), 400,
          "ActionParameterUnknown")
    r = s.post(node.base + path + "/Actions/ComputerSystem.Reset", data="{not json",
               headers={"Content-Type": "application/json"})
    error(r, 400, "MalformedJSON")
    # wrong states: a stopped VM cannot pause; a paused one cannot be turned On
    success(reset(s, node.base, path, "ForceOff"))
    error(reset(s, node.base, path, "Pause"), 409, "ResourceInStandby")
    error(reset(s, node.base, path, "GracefulRestart"), 409, "ResourceInStandby")
    success(reset(s, node.base, path, "On"))
    success(reset(s, node.base, path, "Pause"))
    error(reset(s, node.base, path, "On"), 409, "ActionParameterValueConflict")
    error(reset(s, node.base, path, "ForceRestart"), 409, "ActionParameterValueConflict")
    success(reset(s, node.base, path, "Resume"))
    wait_for(lambda: kumod_state(node, node.vm) == "running", timeout=10, what="running")
    # a ReadOnly user may look but not reset
    ro = account(s, node.base, "rory", "ReadOnly")
    assert ro.get(node.base + path).status_code == 200
    error(reset(ro, node.base, path, "ForceOff"), 403, "InsufficientPrivilege")
    # a VM that does not exist, or no longer does
    missing = SYSTEMS + "/" + str(uuid.uuid4())
    error(s.get(node.base + missing), 404, "ResourceMissingAtURI")
    error(reset(s, node.base, missing, "On"), 404, "ResourceMissingAtURI")
    gone = create_vm(node, node.b, "rfvm2")
    get(s, node.base, SYSTEMS + "/" + gone)
    node.cloud.admin.job(node.cloud.admin.ok("DELETE", "/v1/vms/" + gone))
    wait_for(lambda: s.get(node.base + SYSTEMS + "/" + gone).status_code == 404, timeout=10,
             what="the destroyed VM's system to go")
    error(reset(s, node.base, SYSTEMS + "/" + gone, "On"), 404, "ResourceMissingAtURI")
    assert get(s, node.base, SYSTEMS)["Members@odata.count"] == 2


# --- host reset ---------------------------------------------------------------------

def test_host_reset_runs_the_configured_command_with_the_reset_type(node, s, tmp):
    resets = os.path.join(tmp, "resets")
    success(reset(s, node.base, HOST, "ForceRestart"))
    success(reset(s, node.base, HOST, "PowerCycle"))
    with open(resets) as f:
        assert f.read().splitlines() == ["--why test ForceRestart", "--why test PowerCycle"]
    error(reset(s, node.base, HOST, "On"), 400, "ActionParameterValueNotInList")
    error(reset(s, node.base, HOST, body={}), 400, "ActionParameterMissing")
    # the command fails: 500, and the agent says why
    open(os.path.join(tmp, "fail"), "w").close()
    error(reset(s, node.base, HOST, "GracefulRestart"), 500, "OperationFailed")
    os.unlink(os.path.join(tmp, "fail"))
    with open(resets) as f:
        assert len(f.read().splitlines()) == 2
    assert "host reset GracefulRestart" in agent_log(node)
    # a slow command does not hold up other writes (the action runs unlocked)
    open(os.path.join(tmp, "slow"), "w").close()
    done, n0 = [], agent_log(node).count("host reset PowerCycle")
    t = threading.Thread(target=lambda: done.append(reset(s, node.base, HOST, "PowerCycle")))
    t.start()
    wait_for(lambda: agent_log(node).count("host reset PowerCycle") > n0, timeout=10,
             what="the slow reset to start")
    t0 = time.time()
    r = s.patch(node.base + V1 + "/SessionService", json={"SessionTimeout": 1800}, timeout=30)
    assert r.status_code == 200 and time.time() - t0 < 2 and t.is_alive()
    t.join(30)
    os.unlink(os.path.join(tmp, "slow"))
    success(done[0])
    with open(resets) as f:
        assert f.read().splitlines()[-1] == "--why test PowerCycle"


def test_host_reset_refused_without_a_command_and_the_service_alone(tmp):
    """`kumo-agent redfish` alone: no host_reset_command, no node. It
    answers the host, the Manager without reset or log, and refuses."""
    from test_redfish import Service
    os.makedirs(os.path.join(tmp, "alone"))
    svc = Service(os.path.join(tmp, "alone")).start()
    try:
        s = requests.Session()
        s.auth = ("admin", svc.password)
        bodies = walk(lambda p: s.get(svc.base + p), VALIDATOR, start=SYSTEMS, skip=OTHERS)
        bodies.update(walk(lambda p: s.get(svc.base + p), VALIDATOR, start=V1 + "/Managers",
                           skip=OTHERS))
        assert bodies[SYSTEMS]["Members"] == [{"@odata.id": HOST}]
        host = bodies[HOST]
        # no action offered: sushy and redfishtool say so before trying
        assert host["Actions"] == {}
        assert host["ProcessorSummary"]["LogicalProcessorCount"] == os.cpu_count()
        error(reset(s, svc.base, HOST, "ForceRestart"), 400, "ActionNotSupported")
        mgr = bodies[MANAGER]
        assert mgr["Actions"] == {} and "LogServices" not in mgr
        r = s.post(svc.base + MANAGER + "/Actions/Manager.Reset",
                   json={"ResetType": "GracefulRestart"})
        error(r, 400, "ActionNotSupported")
        error(s.get(svc.base + LOG), 404, "ResourceMissingAtURI")
        assert get(s, svc.base, MANAGER + "/LogServices")["Members"] == []
        out = subprocess.run(["redfishtool", "-r", "127.0.0.1:%d" % svc.port, "-S", "Never",
                              "-u", "admin", "-p", svc.password, "Systems", "-I", "host",
                              "reset", "ForceRestart"], capture_output=True, text=True,
                             timeout=60)
        assert out.returncode != 0 and "ComputerSystem.Reset" in out.stderr + out.stdout
    finally:
        svc.stop()


# --- the node log -----------------------------------------------------------------

def test_log_entries_of_thermal_decisions_paging_and_clear(tmp):
    """A hot node (55 C ambient, coolant at 57 C): the controller logs at
    once. Entries page with $top/$skip; ClearLog empties the log."""
    os.makedirs(os.path.join(tmp, "hot"))
    hot = RfNode(os.path.join(tmp, "hot"), name="hotbox",
                 thermal="ambient_c = 55\ncoolant0_c = 57\n")
    try:
        hot.start()
        s = hot.session()
        coll = wait_for(lambda: (lambda c: c if c["Members@odata.count"] >= 2 else None)(
            get(s, hot.base, ENTRIES)), timeout=20, what="thermal log entries")
        ids = [int(m["@odata.id"].rsplit("/", 1)[1]) for m in coll["Members"]]
        assert ids == sorted(ids), "oldest first"
        # LogEntryCollection's Members are auto-expanded (OData.AutoExpand in
        # its CSDL; the DMTF validator insists): whole entries, without $expand
        entries = coll["Members"]
        assert all("EntryType" in e for e in entries), entries
        for e in entries:
            VALIDATOR.check(e, e["@odata.id"])
            assert e["EntryType"] == "Event" and e["Severity"] in ("OK", "Warning", "Critical")
            assert e["Message"] and e["Created"].endswith("Z")
        warn = [e for e in entries if e["Severity"] != "OK"]
        assert warn and any(e.get("MessageId", "").startswith("Environmental.") for e in warn)
        one = get(s, hot.base, "%s/%d" % (ENTRIES, ids[0]))
        assert one["Id"] == str(ids[0]) and one["Message"] == entries[0]["Message"]
        # paging: $top/$skip, the total stays, a nextLink to the rest
        page = get(s, hot.base, ENTRIES + "?$top=1&$skip=1")
        assert [m["@odata.id"] for m in page["Members"]] == ["%s/%d" % (ENTRIES, ids[1])]
        assert page["Members@odata.count"] >= len(ids)
        assert "$skip=2" in page["Members@odata.nextLink"]
        error(s.get(hot.base + ENTRIES + "/abc"), 404, "ResourceMissingAtURI")
        error(s.get(hot.base + ENTRIES + "/999999999"), 404, "ResourceMissingAtURI")
        # ClearLog: ConfigureManager; a stale LogEntriesETag is refused
        clear = hot.base + LOG + "/Actions/LogService.ClearLog"
        op = account(s, hot.base, "olive", "Operator")
        error(op.post(clear, json={}), 403, "InsufficientPrivilege")
        error(s.post(clear, json={"LogEntriesETag": "\"stale\""}), 428, "PreconditionFailed")
        error(s.post(clear, json={"Bogus": 1}), 400, "ActionParameterUnknown")
        last = get(s, hot.base, ENTRIES)
        before = max(int(m["@odata.id"].rsplit("/", 1)[1]) for m in last["Members"])
        r = s.post(clear, json={"LogEntriesETag": last["@odata.etag"]})
        if r.status_code == 428:  # an entry came in between: clear without the check
            r = s.post(clear, json={})
        success(r)
        after = get(s, hot.base, ENTRIES)
        assert all(int(m["@odata.id"].rsplit("/", 1)[1]) > before for m in after["Members"])
        error(s.get("%s%s/%d" % (hot.base, ENTRIES, ids[0])), 404, "ResourceMissingAtURI")
    finally:
        hot.stop()


# --- Manager reset (last: the agent restarts) ---------------------------------------

def test_manager_reset_restarts_the_agent(node, s):
    anon = requests.Session()
    r = anon.post(node.base + V1 + "/SessionService/Sessions",
                  json={"UserName": "admin", "Password": node.password})
    assert r.status_code == 201, r.text
    token = {"X-Auth-Token": r.headers["X-Auth-Token"]}
    before = get(s, node.base, MANAGER)
    url = node.base + MANAGER + "/Actions/Manager.Reset"
    error(s.post(url, json={"ResetType": "On"}), 400, "ActionParameterValueNotInList")
    error(s.post(url, json={}), 400, "ActionParameterMissing")
    pid = node.agent.proc.pid
    success(anon.post(url, json={"ResetType": "GracefulRestart"}, headers=token))
    wait_for(lambda: "starting again (Manager reset)" in agent_log(node), timeout=30,
             what="the agent's log to say it restarts")

    def back():
        try:
            r = s.get(node.base + MANAGER, timeout=2)
            return r.status_code == 200 and r.json()["LastResetTime"] != before["LastResetTime"]
        except requests.RequestException:
            return False
    wait_for(back, timeout=30, what="the restarted agent's Redfish service")
    assert node.agent.proc.poll() is None and node.agent.proc.pid == pid
    after = get(s, node.base, MANAGER)
    assert after["LastResetTime"] > before["LastResetTime"]
    # sessions outlive the restart (DATA/redfish/sessions.json): the old token still works
    r = anon.get(node.base + MANAGER, headers=token)
    assert r.status_code == 200 and r.json()["Id"] == "agent", r.text
    # kumod still sees the host, and the VM is still there and running
    wait_for(lambda: node.cloud.admin.ok("GET", "/v1/hosts/" + node.host_id)["status"] ==
             "connected", timeout=30, what="kumod to see the host again")
    assert get(s, node.base, SYSTEMS + "/" + node.vm)["PowerState"] == "On"
    assert kumod_state(node, node.vm) == "running"


# --- a real VM: redfishtool and sushy ----------------------------------------------

def test_qemu_vm_graceful_shutdown_with_redfishtool_and_on_with_sushy(guest_image, tmp):
    import sushy
    from test_qemu import QemuCloud
    qc = QemuCloud(os.path.join(tmp, "qemu"), guest_image)
    try:
        vm, _ = qc.create("rfq1")
        url = qc.agent.redfish_url
        port = int(url.split(":")[2].split("/")[0])
        with open(os.path.join(qc.agent.dir, "redfish", "admin-password")) as f:
            pw = f.read().strip()
        boots = qc.console(vm).count("KUMO-GUEST-READY")
        t0 = time.time()
        out = subprocess.run(["redfishtool", "-r", "127.0.0.1:%d" % port, "-S", "Never",
                              "-T", "120", "-u", "admin", "-p", pw, "Systems", "-I", vm["id"],
                              "reset", "GracefulShutdown"], capture_output=True, text=True,
                             timeout=150)
        assert out.returncode == 0, out.stdout + out.stderr
        # answered when the guest is off, and kumod knows at once
        assert qc.qemu_pid(vm) is None
        wait_for(lambda: qc.state(vm) == "stopped", timeout=10, what="kumod: stopped")
        assert time.time() - t0 < 60
        assert "KUMO-GUEST-READY" in qc.console(vm)

        root = sushy.Sushy(url, username="admin", password=pw)
        system = root.get_system(V1 + "/Systems/" + vm["id"])
        assert system.power_state == sushy.POWER_STATE_OFF
        assert system.identity == vm["id"] and system.name == "rfq1"
        assert system.get_allowed_reset_system_values() >= {
            sushy.RESET_ON, sushy.RESET_FORCE_OFF, sushy.RESET_GRACEFUL_SHUTDOWN,
            sushy.RESET_GRACEFUL_RESTART, sushy.RESET_FORCE_RESTART}
        system.reset_system(sushy.RESET_ON)
        system.refresh()
        assert system.power_state == sushy.POWER_STATE_ON
        wait_for(lambda: qc.state(vm) == "running", timeout=10, what="kumod: running")
        qc.wait_console(vm, "KUMO-GUEST-READY", count=boots + 1)
        assert qc.qemu_pid(vm)
    finally:
        qc.stop()
