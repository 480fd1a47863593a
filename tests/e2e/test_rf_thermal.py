# SPDX-License-Identifier: MIT
"""The immersion unit, its heater and the controller's setpoints over
Redfish, on a real kumod and a real kumo-agent whose thermal controller runs
the box model at 600x (rfnode.py): ThermalEquipment/ImmersionUnits/1,
Chassis/box/ThermalSubsystem/Heaters/1 (+ Metrics), Chassis/box/Controls.

Every body met is validated against the DMTF JSON schemas (Validator), and
every error against the error schema with its Base MessageId. The faults
are injected through the unit's OEM action KumoImmersionUnit.InjectFault,
and what the tests assert comes back through Redfish (Status, Conditions,
readings) and kumod's host.thermal events (the node log). redfishtool and
python3-sushy read and patch the same resources.
"""
import hashlib
import json
import os
import shutil
import stat
import subprocess
import tempfile

import pytest
import requests

from conftest import wait_for
from redfish_schema import Validator, check_metadata, links
from rfnode import RfNode

V1 = "/redfish/v1"
TE = V1 + "/ThermalEquipment"
UNITS = TE + "/ImmersionUnits"
UNIT = UNITS + "/1"
UNIT_ENV = UNIT + "/EnvironmentMetrics"
INFO = UNIT + "/InjectFaultActionInfo"
INJECT = UNIT + "/Actions/Oem/KumoImmersionUnit.InjectFault"
BOX = V1 + "/Chassis/box"
HEATERS = BOX + "/ThermalSubsystem/Heaters"
HEATER = HEATERS + "/1"
CONTROLS = BOX + "/Controls"
MINE = (TE, HEATERS, CONTROLS)
# the controller's order, coldest first, and its defaults (thermal_config.c)
CHAIN = ["CoolantBandLow", "HeaterOn", "HeaterOff", "FanStop", "FanTarget", "FanStart",
         "CoolantBandHigh"]
VALIDATOR = Validator()
FAST = "time_scale = 600\ntick_ms = 50\n"


@pytest.fixture
def make_node():
    made = []

    def make(thermal=""):
        tmp = tempfile.mkdtemp(prefix="kumo-rf-thermal-")
        n = RfNode(tmp, thermal=FAST + thermal)
        made.append((n, tmp))
        n.start()
        n.s = n.session()
        return n
    yield make
    for n, tmp in made:
        n.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def get(node, path, session=None, status=200, **kw):
    r = (session or node.s).get(node.base + path, **kw)
    assert r.status_code == status, "GET %s -> %d %s" % (path, r.status_code, r.text[:400])
    if status == 200:
        VALIDATOR.check(r.json(), path)
        return r.json()
    return r


def err(r, status, key):
    """r is an error answer with that status whose first message is Base's key."""
    assert r.status_code == status, "%d %s" % (r.status_code, r.text[:600])
    body = r.json()
    VALIDATOR.check(body, "error")
    ids = [m["MessageId"] for m in body["error"]["@Message.ExtendedInfo"]]
    assert ids[0].startswith("Base.") and ids[0].endswith("." + key), ids
    return body["error"]["@Message.ExtendedInfo"]


def account(node, user, role):
    r = node.s.post(node.base + V1 + "/AccountService/Accounts",
                    json={"UserName": user, "Password": user + "-pass-1", "RoleId": role})
    assert r.status_code == 201, r.text
    return node.session(user, user + "-pass-1")


def coolant(node):
    return get(node, UNIT_ENV)["TemperatureCelsius"]["Reading"]


def conditions(body):
    return {c["MessageId"].split(".")[-1]: c for c in body["Status"].get("Conditions", [])}


def inject(node, session=None, **params):
    return (session or node.s).post(node.base + INJECT, json=params)


def thermal_events(node):
    evs = node.cloud.admin.ok("GET", "/v1/events", params={"limit": 1000})["items"]
    return [e["data"] for e in evs if e["type"] == "host.thermal"]


def data_sources(body):
    """Every DataSourceUri in body (the excerpts' links to their sensors)."""
    out = []
    if isinstance(body, dict):
        for k, v in body.items():
            if k == "DataSourceUri" and isinstance(v, str):
                out.append(v)
            else:
                out += data_sources(v)
    elif isinstance(body, list):
        for v in body:
            out += data_sources(v)
    return out


def crawl(node):
    """Every resource of this module's subtrees (followed from MINE and the
    action's ActionInfo); their bodies, and the links that leave them."""
    seen, queue, bodies, outside = set(), list(MINE) + [INFO], {}, set()
    while queue:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        body = get(node, path)
        assert body["@odata.id"] == path
        if "Members" in body:
            assert body["Members@odata.count"] == len(body["Members"]), path
        bodies[path] = body
        for p in links(body) + data_sources(body):
            if any(p == m or p.startswith(m + "/") for m in MINE):
                queue.append(p)
            elif p.startswith(V1):
                outside.add(p)
    return bodies, outside


# ---- the tree ---------------------------------------------------------------------------

def test_walk_validates_every_resource_and_metadata(make_node):
    node = make_node("ambient_c = 30\ncoolant0_c = 30\n")
    root = get(node, V1 + "/", session=node.session())
    assert root["ThermalEquipment"] == {"@odata.id": TE}
    bodies, outside = crawl(node)
    assert set(bodies) >= {TE, UNITS, UNIT, UNIT_ENV, INFO, HEATERS, HEATER, HEATER + "/Metrics",
                           CONTROLS} | {CONTROLS + "/" + c for c in CHAIN}
    # links out of the subtree go to the chassis, its sensors and fans, the manager
    for p in outside:
        assert p == BOX or p.startswith(BOX + "/Sensors/") or \
            p.startswith(BOX + "/ThermalSubsystem/Fans/") or p == V1 + "/Managers/agent", p
    assert BOX + "/Sensors/CoolantTemp" in outside
    xml = node.s.get(node.base + V1 + "/$metadata")
    assert xml.status_code == 200
    ns = check_metadata(xml.text, bodies)
    for n in ("ThermalEquipment.v1_2_0", "CoolingUnit.v1_5_0", "Heater.v1_0_2",
              "HeaterMetrics.v1_0_2", "Control.v1_7_0", "ControlCollection", "ActionInfo.v1_5_0"):
        assert n in ns, n
    # methods a resource does not have: 405 with Allow
    r = node.s.patch(node.base + UNIT, json={"Name": "x"})
    err(r, 405, "OperationNotAllowed")
    assert "PATCH" not in r.headers["Allow"] and "GET" in r.headers["Allow"]
    err(node.s.get(node.base + CONTROLS + "/Nope"), 404, "ResourceMissingAtURI")
    err(node.s.get(node.base + UNITS + "/2"), 404, "ResourceMissingAtURI")
    err(node.session(password="wrong-password-1").get(node.base + UNIT), 401,
        "AccessUnauthorized")


def test_links_out_of_the_subtree_resolve(make_node):
    node = make_node()
    if node.s.get(node.base + BOX).status_code == 404:
        pytest.skip("this build serves no Chassis/box (rf_chassis.c) to link to")
    _, outside = crawl(node)
    for p in sorted(outside):
        get(node, p)
    # the unit's coolant is the chassis sensor's reading
    sensor = get(node, BOX + "/Sensors/CoolantTemp")
    assert abs(sensor["Reading"] - coolant(node)) < 1.0


def test_thermal_data(make_node):
    # 30 C air, idle (no VMs): the coolant rises from 30 C toward 30 + 120/15 = 38 C
    node = make_node("ambient_c = 30\ncoolant0_c = 30\n")
    te = get(node, TE)
    assert te["Status"] == {"State": "Enabled", "HealthRollup": "OK"}
    assert get(node, UNITS)["Members"] == [{"@odata.id": UNIT}]
    unit = get(node, UNIT)
    assert unit["EquipmentType"] == "ImmersionUnit"
    assert unit["Coolant"] == {"CoolantType": "Dielectric"}
    assert unit["Status"] == {"State": "Enabled", "Health": "OK", "HealthRollup": "OK",
                              "Conditions": []}
    assert unit["Links"]["Chassis"] == [{"@odata.id": BOX}]
    assert unit["EnvironmentMetrics"] == {"@odata.id": UNIT_ENV}
    action = unit["Actions"]["Oem"]["#KumoImmersionUnit.InjectFault"]
    assert action == {"target": INJECT, "@Redfish.ActionInfo": INFO}
    assert unit["Oem"]["Kumo"]["TimeScale"] == 600
    env = get(node, UNIT_ENV)
    assert env["AmbientTemperatureCelsius"]["Reading"] == 30
    assert 30 <= env["TemperatureCelsius"]["Reading"] <= 38.1
    assert env["TemperatureCelsius"]["DataSourceUri"] == BOX + "/Sensors/CoolantTemp"
    assert [f["Reading"] for f in env["FanSpeedsPercent"]] == [0, 0, 0, 0]
    assert env["PowerWatts"]["Reading"] == 0 and env["EnergykWh"]["Reading"] == 0
    heater = get(node, HEATER)
    assert heater["Status"]["Health"] == "OK" and heater["Oem"]["Kumo"]["On"] is False
    hm = get(node, HEATER + "/Metrics")
    assert hm["PowerWatts"]["Reading"] == 0 and hm["RuntimeHeatingTimeSeconds"] == 0
    assert hm["TemperatureReadingsCelsius"][0]["DataSourceUri"] == BOX + "/Sensors/CoolantTemp"
    # the controls, in the controller's order, at its defaults
    members = [m["@odata.id"] for m in get(node, CONTROLS)["Members"]]
    assert members == [CONTROLS + "/" + c for c in CHAIN]
    points = []
    for c in CHAIN:
        ctl = get(node, CONTROLS + "/" + c)
        assert ctl["ControlType"] == "Temperature" and ctl["SetPointUnits"] == "Cel"
        assert ctl["ControlMode"] == "Automatic" and ctl["SetPointType"] == "Single"
        assert ctl["SetPoint"] == ctl["DefaultSetPoint"]
        assert ctl["AllowableMin"] <= ctl["SetPoint"] <= ctl["AllowableMax"]
        assert ctl["Sensor"]["DataSourceUri"] == BOX + "/Sensors/CoolantTemp"
        points.append(ctl["SetPoint"])
    assert points == sorted(points) and points[0] == 5 and points[-1] == 50
    # readings carry a version ETag that moves; the unit's stays while nothing happens
    e1 = node.s.get(node.base + UNIT_ENV).headers["ETag"]
    u1 = node.s.get(node.base + UNIT).headers["ETag"]
    wait_for(lambda: node.s.get(node.base + UNIT_ENV).headers["ETag"] != e1, timeout=5,
             what="the readings to move")
    assert node.s.get(node.base + UNIT).headers["ETag"] == u1
    assert node.s.get(node.base + UNIT, headers={"If-None-Match": u1}).status_code == 304


# ---- setpoints ---------------------------------------------------------------------------

def test_patch_setpoint_with_etag_roles_and_bad_values(make_node):
    node = make_node("ambient_c = 30\n")
    path = node.base + CONTROLS + "/FanTarget"
    r0 = node.s.get(path)
    e0 = r0.headers["ETag"]
    assert r0.json()["SetPoint"] == 49
    # a fresh ETag: applied, and the ETag moves with the set point
    r = node.s.patch(path, json={"SetPoint": 47}, headers={"If-Match": e0})
    assert r.status_code == 200, r.text
    VALIDATOR.check(r.json(), "patched")
    assert r.json()["SetPoint"] == 47 and r.headers["ETag"] != e0
    assert get(node, CONTROLS + "/FanTarget")["SetPoint"] == 47
    # a stale one: 412, nothing changed
    err(node.s.patch(path, json={"SetPoint": 46}, headers={"If-Match": e0}), 412,
        "PreconditionFailed")
    assert get(node, CONTROLS + "/FanTarget")["SetPoint"] == 47
    # roles: ReadOnly may not, Operator may (ConfigureComponents)
    ro = account(node, "watcher", "ReadOnly")
    err(ro.patch(path, json={"SetPoint": 48}), 403, "InsufficientPrivilege")
    op = account(node, "oper", "Operator")
    r = op.patch(path, json={"SetPoint": 48})
    assert r.status_code == 200 and r.json()["SetPoint"] == 48, r.text
    # bad values, each a 400 with its Base message, none applied
    msgs = err(node.s.patch(path, json={"SetPoint": 99}), 400, "PropertyValueOutOfRange")
    assert msgs[0]["MessageArgs"] == ["99", "SetPoint"]
    msgs = err(node.s.patch(path, json={"SetPoint": 44}), 400, "PropertyValueResourceConflict")
    assert msgs[0]["MessageArgs"] == ["SetPoint", "44", CONTROLS + "/FanStop"]
    msgs = err(node.s.patch(path, json={"SetPoint": 49.5}), 400,
               "PropertyValueResourceConflict")
    assert msgs[0]["MessageArgs"][2] == CONTROLS + "/FanStart"
    err(node.s.patch(node.base + CONTROLS + "/CoolantBandHigh", json={"SetPoint": 55}), 400,
        "PropertyValueOutOfRange")  # it stays under the 55 C warning line
    err(node.s.patch(path, json={"ControlMode": "Manual"}), 400, "PropertyNotWritable")
    err(node.s.patch(path, json={"Bogus": 1}), 400, "PropertyUnknown")
    err(node.s.patch(path, json={"SetPoint": "warm"}), 400, "PropertyValueTypeError")
    err(node.s.patch(path, json={}), 400, "EmptyJSON")
    assert get(node, CONTROLS + "/FanTarget")["SetPoint"] == 48
    # good and bad together: the good one applied, the bad one reported
    r = node.s.patch(path, json={"SetPoint": 47.5, "ControlMode": "Manual"})
    assert r.status_code == 200, r.text
    assert r.json()["SetPoint"] == 47.5 and r.json()["ControlMode"] == "Automatic"
    assert [m["MessageId"].split(".")[-1] for m in r.json()["@Message.ExtendedInfo"]] == \
        ["PropertyNotWritable"]
    # every change is in the node log, and so in kumod's host.thermal events
    wanted = ["Setpoint FanTarget (fan_target_c) changed from 49.00 C to 47.00 C by admin",
              "Setpoint FanTarget (fan_target_c) changed from 47.00 C to 48.00 C by oper",
              "Setpoint FanTarget (fan_target_c) changed from 48.00 C to 47.50 C by admin"]

    got = []

    def logged():
        got[:] = [e["message"] for e in thermal_events(node)]
        return all(any(w in m for m in got) for w in wanted)
    wait_for(logged, timeout=30, what="the setpoint changes in kumod's events (%s)" % got)


def test_setpoints_and_sessions_survive_an_agent_restart(make_node):
    node = make_node()
    rf_dir = os.path.join(node.agent.dir, "redfish")
    points = os.path.join(rf_dir, "setpoints.json")
    target = node.base + CONTROLS + "/FanTarget"
    r = node.s.patch(target, json={"SetPoint": 47.25})
    assert r.status_code == 200, r.text
    etag = node.s.get(target).headers["ETag"]
    assert etag == '"sp-47.250"'
    # PATCHed back to its DefaultSetPoint (the config's value), FanStop follows the config again
    stop = get(node, CONTROLS + "/FanStop")
    for v in (44, stop["DefaultSetPoint"]):
        r = node.s.patch(node.base + CONTROLS + "/FanStop", json={"SetPoint": v})
        assert r.status_code == 200, r.text
    assert stat.S_IMODE(os.stat(points).st_mode) == 0o600
    with open(points) as f:
        assert json.load(f) == {"version": 1, "setpoints": {"fan_target_c": 47.25}}
    # sessions: one kept, one logged out before the restart
    anon = requests.Session()
    tokens = {}
    for name in ("kept", "gone"):
        r = anon.post(node.base + V1 + "/SessionService/Sessions",
                      json={"UserName": "admin", "Password": node.password})
        assert r.status_code == 201, r.text
        tokens[name] = (r.headers["X-Auth-Token"], r.headers["Location"])
    gone, gone_loc = tokens["gone"]
    assert anon.delete(node.base + gone_loc, headers={"X-Auth-Token": gone}).status_code == 204
    sessions = os.path.join(rf_dir, "sessions.json")
    assert stat.S_IMODE(os.stat(sessions).st_mode) == 0o600
    with open(sessions) as f:
        text = f.read()
    kept, kept_loc = tokens["kept"]
    assert kept not in text and gone not in text
    assert hashlib.sha256(kept.encode()).hexdigest() in text
    assert hashlib.sha256(gone.encode()).hexdigest() not in text

    # a crash: whatever was answered is on disk
    node.agent.kill9()
    node.agent.start()
    wait_for(node._up, timeout=20, what="the agent's Redfish service again")
    r = node.s.get(target)
    assert r.status_code == 200 and r.headers["ETag"] == etag
    ctl = r.json()
    assert ctl["SetPoint"] == 47.25 and ctl["DefaultSetPoint"] == 49
    assert get(node, CONTROLS + "/FanStop")["SetPoint"] == stop["DefaultSetPoint"]
    kept_s = requests.Session()
    kept_s.headers["X-Auth-Token"] = kept
    assert get(node, kept_loc, session=kept_s)["UserName"] == "admin"
    members = get(node, V1 + "/SessionService/Sessions", session=kept_s)["Members"]
    assert {"@odata.id": kept_loc} in members and {"@odata.id": gone_loc} not in members
    err(anon.get(node.base + UNIT, headers={"X-Auth-Token": gone}), 401, "AccessUnauthorized")
    # the ETag of before the restart still guards the set point
    r = node.s.patch(target, json={"SetPoint": 48}, headers={"If-Match": etag})
    assert r.status_code == 200, r.text

    # a file that no longer fits (FanStop above FanTarget) is ignored: the config's values
    node.agent.stop()
    with open(points, "w") as f:
        json.dump({"version": 1, "setpoints": {"fan_off_c": 49.5}}, f)
    node.agent.start()
    wait_for(node._up, timeout=20, what="the agent's Redfish service with a bad set point file")
    assert get(node, CONTROLS + "/FanTarget")["SetPoint"] == 49
    assert get(node, CONTROLS + "/FanStop")["SetPoint"] == 45
    assert "setpoints.json ignored" in node.agent.tail(200)


def test_setpoints_take_effect_and_a_fan_failure_raises_the_alarm(make_node):
    # 33 C air and full sun, idle: natural convection alone would settle at
    # 33 + 270/15 = 51 C, so the fans hold the coolant at FanTarget (49 C)
    node = make_node("ambient_c = 33\nsolar = 1\ncoolant0_c = 50\n")

    def fans():
        return [f["Reading"] for f in get(node, UNIT_ENV)["FanSpeedsPercent"]]
    # 270 W at 49 C need 1.9 W/K of fans: one fan at its 20% minimum (2.4 W/K)
    # does it, and holds the coolant a little under the target (48.5 C)
    wait_for(lambda: [f > 0 for f in fans()] == [True, False, False, False] and
             48 < coolant(node) < 49.3, timeout=20, what="one slow fan near 49 C")
    # move the fan lines down, in an order that keeps them in order
    for c, v in (("FanStop", 36), ("FanTarget", 40), ("FanStart", 40)):
        r = node.s.patch(node.base + CONTROLS + "/" + c, json={"SetPoint": v})
        assert r.status_code == 200, (c, r.text)
    wait_for(lambda: coolant(node) < 40.5, timeout=40, what="the coolant to follow to 40 C")
    wait_for(lambda: abs(coolant(node) - 40) < 0.3, timeout=30, what="40 C held")
    # 270 W at 40 C need 23.6 W/K: four fans at about 49%
    wait_for(lambda: all(35 < f < 65 for f in fans()), timeout=20,
             what="four fans at part speed (%s)" % fans())
    unit = get(node, UNIT)
    assert unit["Status"]["Health"] == "OK" and not unit["Status"]["Conditions"], unit["Status"]

    # fan 2 stops: the others make up for it, and the unit shows the alarm
    assert inject(node, Fault="Fan", Index=2, Value=0).status_code == 200

    def failed():
        return "FanFailed" in conditions(get(node, UNIT))
    wait_for(failed, timeout=15, what="the FanFailed condition")
    unit = get(node, UNIT)
    cond = conditions(unit)["FanFailed"]
    assert cond["MessageId"] == "Environmental.1.4.0.FanFailed"
    assert cond["MessageArgs"] == ["Fan2"] and cond["Severity"] == "Critical"
    assert cond["OriginOfCondition"] == {"@odata.id": BOX + "/ThermalSubsystem/Fans/Fan2"}
    if node.s.get(node.base + BOX).status_code == 200:  # rf_chassis.c serves the fan
        assert get(node, BOX + "/ThermalSubsystem/Fans/Fan2")["Status"]["Health"] != "OK"
    assert unit["Status"]["Health"] == "Critical" and unit["Status"]["HealthRollup"] == "Critical"
    assert unit["Oem"]["Kumo"]["FansFailed"] == 1
    assert get(node, TE)["Status"]["HealthRollup"] == "Critical"
    assert fans()[1] == 0
    wait_for(lambda: abs(coolant(node) - 40) < 0.5, timeout=30, what="40 C held on three fans")
    # it turns again: the alarm clears
    assert inject(node, Fault="Fan", Index=2, Value=-1).status_code == 200
    wait_for(lambda: not failed(), timeout=15, what="FanRestored")
    assert get(node, UNIT)["Status"]["Health"] == "OK"
    wait_for(lambda: {"FanFailed", "FanRestored"} <= {
        e["message_id"].split(".")[-1] for e in thermal_events(node)}, timeout=30,
        what="FanFailed and FanRestored in kumod's events")


def test_heater_failure_is_critical(make_node):
    # -20 C air, idle, from 9 C: the heater is needed within the hour (5.2 C)
    node = make_node("ambient_c = -20\ncoolant0_c = 9\n")
    wait_for(lambda: get(node, HEATER)["Oem"]["Kumo"]["On"], timeout=20,
             what="the heater on")
    wait_for(lambda: get(node, HEATER + "/Metrics")["RuntimeHeatingTimeSeconds"] > 60,
             timeout=10, what="heating time")
    assert get(node, HEATER + "/Metrics")["PowerWatts"]["Reading"] == 400
    assert inject(node, Fault="Heater").status_code == 200  # Value 1: failed
    wait_for(lambda: get(node, HEATER)["Status"]["Health"] == "Critical", timeout=15,
             what="the heater's health Critical")
    heater = get(node, HEATER)
    cond = conditions(heater)["ResourceStatusChangedCritical"]
    assert cond["MessageArgs"] == ["Heater", "Critical"] and "OriginOfCondition" not in cond
    assert get(node, HEATER + "/Metrics")["PowerWatts"]["Reading"] == 0
    unit = get(node, UNIT)
    assert conditions(unit)["ResourceStatusChangedCritical"]["OriginOfCondition"] == \
        {"@odata.id": HEATER}
    assert unit["Status"]["HealthRollup"] == "Critical"
    # below the band with no heater: the unit itself is critical
    wait_for(lambda: "TemperatureBelowLowerCriticalThreshold" in conditions(get(node, UNIT)),
             timeout=40, what="below the band with the heater failed")
    assert coolant(node) < 5
    assert get(node, UNIT)["Status"]["Health"] == "Critical"
    # repaired: it draws again, the alarms clear as the coolant comes back
    assert inject(node, Fault="Heater", Value=0).status_code == 200
    wait_for(lambda: get(node, HEATER)["Status"]["Health"] == "OK", timeout=15,
             what="the heater back")
    wait_for(lambda: get(node, UNIT)["Status"]["Health"] == "OK", timeout=60,
             what="the unit back in its band")
    assert coolant(node) >= 5


# ---- the simulation control ------------------------------------------------------------

def test_inject_fault_checks_and_privileges(make_node):
    node = make_node("ambient_c = 20\n")
    info = get(node, INFO)
    fault = [p for p in info["Parameters"] if p["Name"] == "Fault"][0]
    assert fault["Required"] and fault["AllowableValues"] == ["Fan", "Heater", "Sensor",
                                                              "Ambient", "Solar", "Load"]
    act = "KumoImmersionUnit.InjectFault"
    # only an Administrator (ConfigureManager)
    err(inject(node, account(node, "oper", "Operator"), Fault="Heater"), 403,
        "InsufficientPrivilege")
    err(inject(node, account(node, "ro", "ReadOnly"), Fault="Heater"), 403,
        "InsufficientPrivilege")
    msgs = err(inject(node, Fault="Pump"), 400, "ActionParameterValueNotInList")
    assert msgs[0]["MessageArgs"] == ["Pump", "Fault", act]
    err(inject(node, Index=1), 400, "ActionParameterMissing")
    msgs = err(inject(node, Fault="Fan"), 400, "ActionParameterMissing")
    assert msgs[0]["MessageArgs"] == [act, "Index"]
    msgs = err(inject(node, Fault="Fan", Index=5), 400, "ActionParameterValueOutOfRange")
    assert msgs[0]["MessageArgs"] == ["5", "Index", act]
    err(inject(node, Fault="Ambient"), 400, "ActionParameterMissing")
    err(inject(node, Fault="Ambient", Value=90), 400, "ActionParameterValueOutOfRange")
    err(inject(node, Fault="Sensor", Index=0, Value=1.5), 400, "ActionParameterValueOutOfRange")
    err(inject(node, Fault="Solar", Value="x"), 400, "ActionParameterValueTypeError")
    err(inject(node, Fault="Solar", Value=1, Colour="red"), 400, "ActionParameterUnknown")
    # If-Match on an action is checked against the unit
    r = node.s.post(node.base + INJECT, json={"Fault": "Ambient", "Value": 25},
                    headers={"If-Match": '"stale"'})
    err(r, 412, "PreconditionFailed")
    assert get(node, UNIT_ENV)["AmbientTemperatureCelsius"]["Reading"] == 20
    # and a good one changes the weather of the model
    etag = node.s.get(node.base + UNIT).headers["ETag"]
    r = node.s.post(node.base + INJECT, json={"Fault": "Ambient", "Value": 25},
                    headers={"If-Match": etag})
    assert r.status_code == 200 and \
        r.json()["@Message.ExtendedInfo"][0]["MessageId"].endswith(".Success")
    wait_for(lambda: get(node, UNIT_ENV)["AmbientTemperatureCelsius"]["Reading"] == 25,
             timeout=5, what="25 C air")
    # a stuck coolant sensor is a fault the controller finds by itself
    assert inject(node, Fault="Sensor", Index=0, Value=2).status_code == 200
    wait_for(lambda: "SensorDisconnected" in conditions(get(node, UNIT)), timeout=15,
             what="SensorDisconnected")
    assert get(node, UNIT_ENV)["TemperatureCelsius"]["Reading"] is None
    assert get(node, UNIT)["Oem"]["Kumo"]["CoolantSource"] == "fallback"


# ---- real clients ---------------------------------------------------------------------

def test_redfishtool_reads_and_patches(make_node):
    node = make_node()

    def tool(*args):
        r = subprocess.run(["redfishtool", "-r", "127.0.0.1:%d" % node.port, "-S", "Never",
                            "-u", "admin", "-p", node.password] + list(args),
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, "%s\n%s\n%s" % (args, r.stdout, r.stderr)
        return r.stdout
    unit = json.loads(tool("raw", "GET", UNIT))
    assert unit["EquipmentType"] == "ImmersionUnit" and unit["Status"]["Health"] == "OK"
    assert json.loads(tool("raw", "GET", CONTROLS))["Members@odata.count"] == len(CHAIN)
    tool("raw", "PATCH", CONTROLS + "/HeaterOff", "-d", '{"SetPoint": 10.5}')
    assert get(node, CONTROLS + "/HeaterOff")["SetPoint"] == 10.5
    assert json.loads(tool("raw", "GET", HEATER))["Status"]["Health"] == "OK"


def test_sushy_reads_and_patches(make_node):
    import sushy
    from sushy.resources import base

    class ImmersionUnit(base.ResourceBase):
        identity = base.Field("Id", required=True)
        equipment_type = base.Field("EquipmentType")
        health = base.Field(["Status", "Health"])
        coolant_type = base.Field(["Coolant", "CoolantType"])

    class Control(base.ResourceBase):
        identity = base.Field("Id", required=True)
        set_point = base.Field("SetPoint", adapter=float)
        units = base.Field("SetPointUnits")

    node = make_node()
    s = sushy.Sushy(node.base + V1, username="admin", password=node.password)
    unit = ImmersionUnit(s._conn, UNIT, redfish_version=s.redfish_version)
    assert (unit.identity, unit.equipment_type, unit.health, unit.coolant_type) == \
        ("1", "ImmersionUnit", "OK", "Dielectric")
    ctl = Control(s._conn, CONTROLS + "/CoolantBandLow", redfish_version=s.redfish_version)
    assert (ctl.set_point, ctl.units) == (5.0, "Cel")
    etag = s._conn.get(CONTROLS + "/CoolantBandLow").headers["ETag"]
    s._conn.patch(CONTROLS + "/CoolantBandLow", data={"SetPoint": 4},
                  headers={"If-Match": etag})
    ctl.refresh()
    assert ctl.set_point == 4.0
    with pytest.raises(sushy.exceptions.BadRequestError):
        s._conn.patch(CONTROLS + "/CoolantBandLow", data={"SetPoint": 8})  # past HeaterOn
