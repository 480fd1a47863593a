# SPDX-License-Identifier: MIT
"""The agent's Chassis in Redfish: Chassis/box, its Sensors,
ThermalSubsystem (Fans, ThermalMetrics), PowerSubsystem,
EnvironmentMetrics and the deprecated Thermal and Power, on a real kumod
and a real kumo-agent running the box model (rfnode.RfNode).

Every body served under /redfish/v1/Chassis (also through $expand) is
validated against the DMTF JSON schemas. Then: the coolant reading follows
the model and agrees with what kumod keeps for the host; a host sensor
whose source does not exist is reported missing; the stuck coolant sensor
of the stuck-sensor scenario, once the controller flags it, is reported
stuck; a failed fan is Critical; fans and the deprecated resources agree
with the new ones; 401 without credentials; sensors are read-only.
"""
import shutil
import tempfile
import time

import pytest
import requests

from conftest import wait_for
from redfish_schema import Validator, check_metadata, links
from rfnode import RfNode

V1 = "/redfish/v1"
BOX = V1 + "/Chassis/box"
SENSORS = BOX + "/Sensors"
FANS = BOX + "/ThermalSubsystem/Fans"
VALIDATOR = Validator()
# Served by other modules (rf_thermaleq.c, rf_system.c, rf_manager.c):
# linked from here, walked by their own suites.
ELSEWHERE = (V1 + "/Systems", V1 + "/Managers", V1 + "/ThermalEquipment", BOX + "/Controls",
             BOX + "/ThermalSubsystem/Heaters")
GHOST_INI = """
[sensor Ghost]
source = hwmon:nonexistent/temp1_input
context = SystemBoard

[sensor CPUUtil]
source = proc:cpu_util
"""


def get(s, node, path, status=200):
    r = s.get(node.base + path, timeout=10)
    assert r.status_code == status, "GET %s -> %d %s" % (path, r.status_code, r.text[:800])
    body = r.json()
    VALIDATOR.check(body, path)
    return body


def error_keys(r):
    return [m["MessageId"].rsplit(".", 1)[1] for m in r.json()["error"]["@Message.ExtendedInfo"]]


@pytest.fixture(scope="module")
def node():
    tmp = tempfile.mkdtemp(prefix="kumo-rfchassis-")
    n = RfNode(tmp, thermal="ambient_c = 30\ncoolant0_c = 30\n", ini=GHOST_INI)
    try:
        yield n.start()
    finally:
        n.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def s(node):
    return node.session()


def scenario_node(name, extra=""):
    tmp = tempfile.mkdtemp(prefix="kumo-rfchassis-%s-" % name)
    thermal = "scenario = %s\ntime_scale = 600\ntick_ms = 100\n%s" % (name, extra)
    return RfNode(tmp, thermal=thermal, name="node-" + name), tmp


# ---- the tree -------------------------------------------------------------------------

def test_walk_validates_everything_under_chassis(node, s):
    seen, queue, bodies = set(), [V1 + "/Chassis"], {}
    while queue:
        path = queue.pop(0).rstrip("/")
        if path in seen or path.startswith(ELSEWHERE) or not path.startswith(V1 + "/Chassis"):
            continue
        seen.add(path)
        r = s.get(node.base + path, timeout=10)
        assert r.status_code == 200, (path, r.status_code, r.text[:500])
        assert r.headers["OData-Version"] == "4.0"
        body = r.json()
        VALIDATOR.check(body, path)
        assert body["@odata.id"] == path
        assert r.headers["ETag"] == body["@odata.etag"], path
        if "Members" in body:
            assert body["Members@odata.count"] == len(body["Members"]), path
        bodies[path] = body
        queue.extend(links(body))
        # the same resource with its subordinate references expanded
        r = s.get(node.base + path + "?$expand=.", timeout=10)
        assert r.status_code == 200, (path, r.status_code, r.text[:500])
        VALIDATOR.check(r.json(), path + "?$expand=.")
    want = {V1 + "/Chassis", BOX, SENSORS, BOX + "/ThermalSubsystem", FANS,
            BOX + "/ThermalSubsystem/ThermalMetrics", BOX + "/PowerSubsystem",
            BOX + "/EnvironmentMetrics", BOX + "/Thermal", BOX + "/Power"}
    want |= {FANS + "/Fan%d" % i for i in range(1, 5)}
    want |= {SENSORS + "/" + i for i in (
        "CoolantTemp", "CPUPackageTemp", "AmbientTemp", "HeaterPower", "ServerPower",
        "TotalPower", "CoolingPower", "TotalEnergy", "CoolingEnergy", "Ghost", "CPUUtil")}
    want |= {SENSORS + "/Fan%d%s" % (i, p) for i in range(1, 5) for p in ("", "Percent")}
    assert want <= set(bodies), sorted(want - set(bodies))
    assert bodies[SENSORS]["Members@odata.count"] == 19
    assert bodies[V1 + "/Chassis"]["Members"] == [{"@odata.id": BOX}]
    # every type served is in $metadata and defined in the CSDL files
    md = requests.get(node.base + V1 + "/$metadata", timeout=10)
    check_metadata(md.text, bodies)

    box = bodies[BOX]
    assert box["ChassisType"] == "ImmersionTank"
    assert box["PowerState"] == "On"
    assert box["Status"]["State"] == "Enabled" and box["Status"]["Health"] == "OK"
    # the missing Ghost sensor rolls up
    assert box["Status"]["HealthRollup"] == "Warning"
    assert box["Links"]["ComputerSystems"] == [{"@odata.id": V1 + "/Systems/host"}]
    assert box["Links"]["ManagedBy"] == [{"@odata.id": V1 + "/Managers/agent"}]
    assert box["Links"]["CoolingUnits"] == [
        {"@odata.id": V1 + "/ThermalEquipment/ImmersionUnits/1"}]
    assert box["Controls"]["@odata.id"] == BOX + "/Controls"
    assert bodies[BOX + "/ThermalSubsystem"]["Heaters"]["@odata.id"] == \
        BOX + "/ThermalSubsystem/Heaters"


def test_expand_validates_members(node, s):
    for path, n in ((SENSORS, 19), (FANS, 4), (V1 + "/Chassis", 1)):
        body = get(s, node, path + "?$expand=.($levels=1)")
        assert body["Members@odata.count"] == n
        assert len(body["Members"]) == n
        for m in body["Members"]:
            assert "@odata.type" in m and "Id" in m, m
            VALIDATOR.check(m, m["@odata.id"])
    body = get(s, node, BOX + "?$expand=.($levels=2)")
    assert body["Sensors"]["Members@odata.count"] == 19
    for m in body["Sensors"]["Members"] + [body["ThermalSubsystem"], body["Power"],
                                           body["ThermalSubsystem"]["Fans"]]:
        assert "@odata.type" in m, m
        VALIDATOR.check(m, m["@odata.id"])


# ---- readings -------------------------------------------------------------------------

def test_coolant_follows_model_and_kumod(node, s):
    c = get(s, node, SENSORS + "/CoolantTemp")
    assert (c["ReadingType"], c["ReadingUnits"], c["PhysicalContext"]) == \
        ("Temperature", "Cel", "LiquidInlet")
    # started at 30 C with the air at 30 C: idle heat warms it by ~0.001 K/s
    assert 29.9 <= c["Reading"] < 31, c
    assert c["Status"] == {"State": "Enabled", "Health": "OK"}
    assert c["Thresholds"]["UpperCaution"]["Reading"] == 55
    assert c["Thresholds"]["UpperCritical"]["Reading"] == 60
    assert c["Oem"]["Kumo"]["ReadingStatus"] == "ok"
    assert get(s, node, SENSORS + "/AmbientTemp")["Reading"] == 30

    def kumod_coolant():
        items = node.cloud.admin.ok("GET", "/v1/hosts/%s/sensors" % node.host_id)["items"]
        return next((i for i in items if i["id"] == "CoolantTemp"), None)
    wait_for(lambda: kumod_coolant() is not None, timeout=15, what="telemetry in kumod")
    k = kumod_coolant()
    c = get(s, node, SENSORS + "/CoolantTemp")
    assert abs(k["value"] - c["Reading"]) < 0.2, (k, c)
    # EnvironmentMetrics and ThermalMetrics point at the same sensor
    env = get(s, node, BOX + "/EnvironmentMetrics")
    assert env["TemperatureCelsius"]["DataSourceUri"] == SENSORS + "/CoolantTemp"
    assert abs(env["TemperatureCelsius"]["Reading"] - c["Reading"]) < 0.2
    tm = get(s, node, BOX + "/ThermalSubsystem/ThermalMetrics")
    assert tm["TemperatureSummaryCelsius"]["Internal"]["DataSourceUri"] == \
        SENSORS + "/CoolantTemp"
    uris = [t["DataSourceUri"] for t in tm["TemperatureReadingsCelsius"]]
    assert uris[:3] == [SENSORS + "/CoolantTemp", SENSORS + "/CPUPackageTemp",
                        SENSORS + "/AmbientTemp"]
    assert SENSORS + "/Ghost" in uris


def test_missing_host_sensor_is_reported_missing(node, s):
    g = get(s, node, SENSORS + "/Ghost")
    assert g["Reading"] is None
    assert g["Status"]["State"] == "UnavailableOffline"
    assert g["Status"]["Health"] == "Warning"
    cond = g["Status"]["Conditions"]
    assert [c["MessageId"] for c in cond] == ["SensorEvent.1.1.0.SensorDisconnected"]
    assert cond[0]["MessageArgs"] == ["Ghost"]
    assert "nonexistent" in cond[0]["Message"]
    assert g["Oem"]["Kumo"]["ReadingStatus"] == "missing"
    assert g["Oem"]["Kumo"]["Source"] == "hwmon:nonexistent/temp1_input"
    # a working host sensor beside it
    u = get(s, node, SENSORS + "/CPUUtil")
    assert u["ReadingType"] == "Percent" and u["Status"]["State"] == "Enabled"
    assert u["Implementation"] == "Synthesized"


def test_fans_and_deprecated_resources_agree(node, s):
    box = get(s, node, BOX)
    fans = get(s, node, FANS + "?$expand=.($levels=1)")["Members"]
    thermal = get(s, node, BOX + "/Thermal")
    power = get(s, node, BOX + "/Power")
    env = get(s, node, BOX + "/EnvironmentMetrics")
    sensors = {m["Id"]: m for m in get(s, node, SENSORS + "?$expand=.($levels=1)")["Members"]}
    assert box["Id"] == "box"
    assert len(fans) == len(thermal["Fans"]) == len(env["FanSpeedsPercent"]) == 4
    for i, fan in enumerate(fans):
        n = i + 1
        rpm, pct = sensors["Fan%d" % n], sensors["Fan%dPercent" % n]
        assert fan["SpeedPercent"]["DataSourceUri"] == SENSORS + "/Fan%dPercent" % n
        assert pct["ReadingType"] == "Percent" and rpm["ReadingType"] == "Rotational"
        assert rpm["ReadingUnits"] == "{rev}/min" and pct["ReadingUnits"] == "%"
        # at 30 C the fans are off: every view says 0
        assert fan["SpeedPercent"]["Reading"] == pct["Reading"] == 0
        assert fan["SpeedPercent"]["SpeedRPM"] == rpm["Reading"] == 0
        assert thermal["Fans"][i]["Reading"] == 0
        assert thermal["Fans"][i]["ReadingUnits"] == "RPM"
        assert thermal["Fans"][i]["MaxReadingRange"] == fan["RatedSpeedRPM"] == \
            rpm["ReadingRangeMax"]
        assert thermal["Fans"][i]["Status"]["Health"] == fan["Status"]["Health"] == "OK"
        assert env["FanSpeedsPercent"][i]["DataSourceUri"] == SENSORS + "/Fan%dPercent" % n
    assert "Redundancy" not in thermal
    temps = {t["Name"]: t for t in thermal["Temperatures"]}
    assert temps["Coolant temperature"]["ReadingCelsius"] == \
        pytest.approx(sensors["CoolantTemp"]["Reading"], abs=0.2)
    assert temps["Coolant temperature"]["UpperThresholdCritical"] == 60
    assert temps["Ghost"]["ReadingCelsius"] is None
    pc = power["PowerControl"]
    assert len(pc) == 1 and power["PowerControl@odata.count"] == 1
    # idle server (120 W), fans and heater off
    total = sensors["TotalPower"]["Reading"]
    assert total == pytest.approx(120, abs=1)
    assert pc[0]["PowerConsumedWatts"] == pytest.approx(total, abs=0.5)
    assert env["PowerWatts"]["Reading"] == pytest.approx(total, abs=0.5)
    assert env["PowerWatts"]["DataSourceUri"] == SENSORS + "/TotalPower"
    assert env["EnergykWh"]["DataSourceUri"] == SENSORS + "/TotalEnergy"
    assert sensors["TotalEnergy"]["ReadingUnits"] == "kW.h"
    # the model's first tick (1 s) counts the first energy
    wait_for(lambda: get(s, node, SENSORS + "/TotalEnergy")["Reading"] > 0, timeout=5,
             what="energy counted")
    ps = get(s, node, BOX + "/PowerSubsystem")
    # the design maximum: 600 W server, 4 x 12 W fans, 400 W heater
    assert ps["Allocation"]["AllocatedWatts"] == 1048
    assert "PowerSupplies" not in ps


def test_etag_follows_the_readings(node, s):
    r1 = s.get(node.base + SENSORS + "/CoolantTemp", timeout=10)
    tag = r1.headers["ETag"]
    assert tag == r1.json()["@odata.etag"]
    # the same readings: 304 (retried: a new tick may come in between)
    for _ in range(5):
        r = s.get(node.base + SENSORS + "/CoolantTemp", timeout=10)
        r2 = s.get(node.base + SENSORS + "/CoolantTemp",
                   headers={"If-None-Match": r.headers["ETag"]}, timeout=10)
        if r2.status_code == 304:
            break
    assert r2.status_code == 304
    # a tick (1 s) later: a new reading time, a new ETag
    time.sleep(1.5)
    r3 = s.get(node.base + SENSORS + "/CoolantTemp", headers={"If-None-Match": tag}, timeout=10)
    assert r3.status_code == 200
    assert r3.headers["ETag"] != tag
    assert r3.json()["ReadingTime"] != r1.json()["ReadingTime"]


# ---- errors ---------------------------------------------------------------------------

def test_401_without_credentials(node):
    for path in (BOX, SENSORS + "/CoolantTemp", BOX + "/Thermal"):
        r = requests.get(node.base + path, timeout=10)
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"].startswith("Basic")
        VALIDATOR.check(r.json(), "401")
        assert error_keys(r) == ["AccessUnauthorized"]
    r = requests.get(node.base + BOX, auth=("admin", "wrong-password"), timeout=10)
    assert r.status_code == 401


def test_session_token_reads_sensors(node):
    r = requests.post(node.base + V1 + "/SessionService/Sessions",
                      json={"UserName": "admin", "Password": node.password}, timeout=10)
    assert r.status_code == 201
    h = {"X-Auth-Token": r.headers["X-Auth-Token"]}
    body = requests.get(node.base + SENSORS + "/CoolantTemp", headers=h, timeout=10).json()
    assert body["Id"] == "CoolantTemp"
    requests.delete(node.base + r.headers["Location"], headers=h, timeout=10)


def test_sensors_are_read_only(node, s):
    before = get(s, node, SENSORS + "/AmbientTemp")
    r = s.patch(node.base + SENSORS + "/AmbientTemp", json={"Reading": 99}, timeout=10)
    assert r.status_code == 405
    VALIDATOR.check(r.json(), "405")
    assert error_keys(r) == ["OperationNotAllowed"]
    assert r.headers["Allow"] == "GET, HEAD"
    for method, path in (("POST", SENSORS), ("DELETE", BOX), ("PUT", FANS + "/Fan1"),
                         ("PATCH", BOX + "/Thermal")):
        r = s.request(method, node.base + path, json={}, timeout=10)
        assert r.status_code == 405, (method, path, r.status_code)
    assert get(s, node, SENSORS + "/AmbientTemp")["Reading"] == before["Reading"] == 30


def test_unknown_resources_are_404(node, s):
    for path in (V1 + "/Chassis/other", SENSORS + "/Nope", SENSORS + "/Fan5",
                 SENSORS + "/Fan01", FANS + "/Fan0", FANS + "/Fan5", FANS + "/1",
                 BOX + "/Sensors/CoolantTemp/x"):
        r = s.get(node.base + path, timeout=10)
        assert r.status_code == 404, (path, r.status_code)
        VALIDATOR.check(r.json(), path)
        assert error_keys(r) == ["ResourceMissingAtURI"]


# ---- faults (accelerated time) --------------------------------------------------------

def test_stuck_coolant_sensor_is_reported_stuck():
    n, tmp = scenario_node("stuck-sensor")
    try:
        n.start()
        s = n.session()

        def stuck():
            c = get(s, n, SENSORS + "/CoolantTemp")
            return c if c["Oem"]["Kumo"]["ReadingStatus"] == "stuck" else None
        # the sensor freezes at 1 h of model time (6 s here) and the controller
        # flags it once the package sensor says the coolant moved
        wait_for(stuck, timeout=40, interval=0.5, what="the stuck coolant sensor flagged")
        c = stuck()
        assert c["Status"]["State"] == "Enabled"
        assert c["Status"]["Health"] == "Warning"
        cond = c["Status"]["Conditions"]
        assert cond[0]["MessageId"] == "SensorEvent.1.1.0.SensorFailure"
        assert cond[0]["MessageArgs"] == ["CoolantTemp"]
        assert "Oem" not in cond[0]  # this sensor itself
        assert "stuck" in c["Oem"]["Kumo"]["Reason"]
        assert isinstance(c["Reading"], (int, float))  # the frozen value is still shown
        box = get(s, n, BOX)
        assert box["Status"]["Health"] == "Critical"  # the controller is in alarm
        origins = [x["Oem"]["Kumo"]["OriginOfCondition"] for x in box["Status"]["Conditions"]]
        assert SENSORS + "/CoolantTemp" in origins
        # a frozen value does not change its ETag by itself: the reading time does
        r1 = s.get(n.base + SENSORS + "/CoolantTemp", timeout=10)
        time.sleep(0.3)
        r2 = s.get(n.base + SENSORS + "/CoolantTemp", timeout=10)
        assert r1.json()["Reading"] == r2.json()["Reading"]
        assert r1.headers["ETag"] != r2.headers["ETag"]
    finally:
        n.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def test_failed_fan_is_critical():
    # 400 W of idle heat at 35 C ambient keeps every fan running; fan 2
    # stops at 1 h of model time (6 s here)
    n, tmp = scenario_node("fan-failure", "model.server_idle_w = 400\n")
    try:
        n.start()
        s = n.session()

        def failed():
            f = get(s, n, FANS + "/Fan2")
            return f if f["Status"]["Health"] == "Critical" else None
        wait_for(failed, timeout=40, interval=0.5, what="fan 2 Critical")
        f = failed()
        cond = f["Status"]["Conditions"]
        assert cond[0]["MessageId"] == "Environmental.1.4.0.FanFailed"
        assert cond[0]["MessageArgs"] == ["Fan2"]
        assert f["SpeedPercent"]["Reading"] == 0
        assert f["Oem"]["Kumo"]["CommandedSpeedPercent"] > 0
        others = [get(s, n, FANS + "/Fan%d" % i) for i in (1, 3, 4)]
        assert all(o["Status"]["Health"] == "OK" for o in others)
        assert all(o["SpeedPercent"]["Reading"] > 0 for o in others)  # they make up for it
        sensor = get(s, n, SENSORS + "/Fan2")
        assert sensor["Status"]["Health"] == "Critical" and sensor["Reading"] == 0
        old = get(s, n, BOX + "/Thermal")["Fans"][1]
        assert old["Status"]["Health"] == "Critical" and old["Reading"] == 0
        ts = get(s, n, BOX + "/ThermalSubsystem")
        assert ts["Status"]["Health"] == "Critical"
        assert FANS + "/Fan2" in [x["Oem"]["Kumo"]["OriginOfCondition"]
                                  for x in ts["Status"]["Conditions"]]
        env = get(s, n, BOX + "/EnvironmentMetrics")
        assert env["FanSpeedsPercent"][1]["Reading"] == 0
        assert env["FanSpeedsPercent"][0]["Reading"] > 0
    finally:
        n.stop()
        shutil.rmtree(tmp, ignore_errors=True)


# ---- without the box model ------------------------------------------------------------

def test_without_the_model_host_sensors_stand_in(tmp_path):
    # a hwmon chip of our own: 42 C and 95 W that never change
    chip = tmp_path / "sys" / "class" / "hwmon" / "hwmon0"
    chip.mkdir(parents=True)
    (chip / "name").write_text("fakechip\n")
    (chip / "temp1_input").write_text("42000\n")
    (chip / "power1_average").write_text("95000000\n")
    ini = """
[sensors]
sysfs_root = %s

[sensor BoardTemp]
source = hwmon:fakechip/temp1_input
upper_caution = 40

[sensor BoardPower]
source = hwmon:fakechip/power1_average
stuck_after = 1
""" % (tmp_path / "sys")
    n = RfNode(str(tmp_path), thermal="enabled = false\n", ini=ini, name="bare")
    try:
        n.start()
        s = n.session()
        ids = [m["@odata.id"] for m in get(s, n, SENSORS)["Members"]]
        assert ids == [SENSORS + "/BoardTemp", SENSORS + "/BoardPower"]
        t = get(s, n, SENSORS + "/BoardTemp")
        assert t["Reading"] == 42 and t["Status"]["Health"] == "Warning"
        assert t["Status"]["Conditions"][0]["MessageId"] == \
            "SensorEvent.1.1.0.ReadingAboveUpperCautionThreshold"
        assert t["Status"]["Conditions"][0]["MessageArgs"] == ["BoardTemp", "42", "Cel", "40"]

        def stuck():
            p = get(s, n, SENSORS + "/BoardPower")
            return p if p["Oem"]["Kumo"]["ReadingStatus"] == "stuck" else None
        p = wait_for(stuck, timeout=15, interval=0.5, what="BoardPower stuck")
        assert p["Reading"] == 95 and p["Status"]["State"] == "Enabled"
        assert p["Status"]["Health"] == "Warning"
        assert p["Status"]["Conditions"][0]["MessageId"] == "SensorEvent.1.1.0.SensorFailure"
        box = get(s, n, BOX)
        assert box["Status"]["Health"] == "OK" and box["Status"]["HealthRollup"] == "Warning"
        assert "Controls" not in box and "CoolingUnits" not in box["Links"]
        env = get(s, n, BOX + "/EnvironmentMetrics")
        assert env["TemperatureCelsius"]["DataSourceUri"] == SENSORS + "/BoardTemp"
        assert env["PowerWatts"] == {"Reading": 95, "DataSourceUri": SENSORS + "/BoardPower"}
        power = get(s, n, BOX + "/Power")
        assert [c["PowerConsumedWatts"] for c in power["PowerControl"]] == [95]
        assert get(s, n, FANS)["Members"] == []
        assert "Heaters" not in get(s, n, BOX + "/ThermalSubsystem")
        assert "Allocation" not in get(s, n, BOX + "/PowerSubsystem")
        old = get(s, n, BOX + "/Thermal")
        assert [x["ReadingCelsius"] for x in old["Temperatures"]] == [42]
    finally:
        n.stop()


def test_service_alone_serves_an_empty_chassis(tmp_path):
    # `kumo-agent redfish`: no agent, no model, no sensors
    from test_redfish import Service
    svc = Service(str(tmp_path)).start()
    try:
        c = svc.client()
        for path in (V1 + "/Chassis", BOX, SENSORS, BOX + "/ThermalSubsystem", FANS,
                     BOX + "/ThermalSubsystem/ThermalMetrics", BOX + "/PowerSubsystem",
                     BOX + "/EnvironmentMetrics", BOX + "/Thermal", BOX + "/Power"):
            body = c.ok("GET", path)
            assert body["@odata.id"] == path
        assert c.ok("GET", SENSORS)["Members@odata.count"] == 0
        assert c.ok("GET", BOX)["Status"] == {"State": "Enabled", "Health": "OK",
                                              "HealthRollup": "OK"}
    finally:
        svc.stop()
