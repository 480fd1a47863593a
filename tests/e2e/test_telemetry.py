# SPDX-License-Identifier: MIT
"""Node telemetry in kumod end to end: a real kumod, and hosts that register
through the real agent channel with the join token and post heartbeats
carrying the telemetry member (docs/API.md) the way kumo-agent does, with
the readings, thermal states and events each test needs. Checked: the
host's thermal summary and sensors, the history (raw, downsampled, pruned),
thermal events stored once per seq (also across a kumod restart), the
scheduler keeping new VMs off hot hosts, malformed telemetry dropped
without breaking the heartbeat, tenants kept out, and `kumo host sensors`.
"""
import json
import os
import sqlite3
import subprocess
import threading
import time
from datetime import datetime

import requests

from conftest import CLI, SLOW, Api, wait_for
from test_api import err

# History written every second, so that tests see it at once.
FAST = """
[telemetry]
history_interval_s = 1
flush_interval_s = 1
prune_interval_s = 1
"""


# --- helpers -------------------------------------------------------------------

def register(cloud, name, cpus=64, memory_mb=262144):
    """A host registered through /agent/v1 with the join token: (id, Api with its secret)."""
    with open(cloud.kumod.join_token_file) as f:
        tok = f.read().strip()
    r = requests.post(cloud.kumod.url + "/agent/v1/register", json={
        "join_token": tok, "name": name,
        "facts": {"cpus": cpus, "memory_mb": memory_mb, "disk_gb": 1000, "driver": "sim"}})
    assert r.status_code == 201, r.text
    return r.json()["host_id"], Api(cloud.kumod.url, r.json()["secret"])


def now_ms():
    return int(time.time() * 1000)


def sensors(coolant=31.0, power=250.0, extra=None):
    s = [{"id": "CoolantTemp", "type": "Temperature", "unit": "Cel", "value": coolant,
          "status": "ok", "context": "LiquidInlet"},
         {"id": "BoardPower", "type": "Power", "unit": "W", "value": power, "status": "ok",
          "context": "SystemBoard"},
         {"id": "CpuPower", "type": "Power", "unit": "W", "value": 90.0, "status": "ok",
          "context": "CPU"},
         {"id": "HeaterPower", "type": "Power", "unit": "W", "value": 0.0, "status": "stuck",
          "context": "Heater"},
         {"id": "Fan2", "type": "Fan", "unit": "RPM", "value": None, "status": "missing",
          "context": "Fan"}]
    return s + (extra or [])


def telemetry(state="ok", headroom=12.5, coolant=31.0, events=None, alarms=None, **kw):
    t = {"ts": now_ms(),
         "thermal": {"state": state, "headroom_c": headroom, "cpu_cap_pct": 100,
                     "alarms": alarms or []},
         "sensors": kw.pop("sensor_list", None) or sensors(coolant)}
    if events is not None:
        t["events"] = events
    t.update(kw)
    return t


def event(seq, sev="Warning", msg="coolant above 55 C"):
    return {"ts": now_ms(), "severity": sev, "message_id": "Environmental.1.0.0.TempHigh",
            "message": "%s (%d)" % (msg, seq), "seq": seq}


def beat(agent, host_id, t=None, **body):
    """One heartbeat; asserts 200 and returns the answer."""
    if t is not None:
        body["telemetry"] = t
    body.setdefault("vms", [])
    r = agent.post("/agent/v1/hosts/%s/heartbeat" % host_id, body)
    assert r.status_code == 200, r.text
    return r.json()


def thermal_events(api, host_id):
    evs = api.ok("GET", "/v1/events?limit=1000")["items"]
    return [e for e in evs if e["type"] == "host.thermal" and e["resource_id"] == host_id]


def history(api, host_id, sensor="CoolantTemp", **params):
    return api.ok("GET", "/v1/hosts/%s/sensors/%s/history" % (host_id, sensor), params=params)


def db_count(cloud, table):
    """Rows of a table in kumod's store, read beside the running kumod."""
    db = sqlite3.connect("file:%s/kumo.db?mode=ro" % cloud.kumod.dir, uri=True)
    try:
        return db.execute("SELECT COUNT(*) FROM %s" % table).fetchone()[0]
    finally:
        db.close()


def ms_of(rfc3339):
    return int(datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp() * 1000)


# --- summary and sensors -------------------------------------------------------

def test_heartbeat_telemetry_shows_in_host_summary_and_sensors(cloud_factory):
    c = cloud_factory(FAST)
    a = c.admin
    hid, agent = register(c, "node1")
    assert a.ok("GET", "/v1/hosts/" + hid)["thermal"] is None  # nothing reported yet
    alarm = {"id": "FanFailed:Fan2", "severity": "Warning", "message": "fan 2 does not turn"}
    ans = beat(agent, hid, telemetry("warning", 3.5, 52.25, alarms=[alarm]))
    assert ans["telemetry_seq"] == 0 and "telemetry_error" not in ans, ans

    th = a.ok("GET", "/v1/hosts/" + hid)["thermal"]
    assert th["state"] == "warning" and th["stale"] is False
    assert th["headroom_c"] == 3.5 and th["cpu_cap_pct"] == 100
    assert th["coolant_c"] == 52.25
    # power: no Total/Chassis sensor, so the sum of the Power sensors not in
    # the CPU context (board 250 + heater 0; the CPU's 90 W is in the board's)
    assert th["power_w"] == 250.0
    assert th["alarms"] == [alarm]
    assert th["sensor_count"] == 5
    assert abs(ms_of(th["telemetry_at"]) - now_ms()) < 10000
    # the list shows it too
    listed = [h for h in a.ok("GET", "/v1/hosts")["items"] if h["id"] == hid][0]
    assert listed["thermal"]["state"] == "warning"

    got = a.ok("GET", "/v1/hosts/%s/sensors" % hid)
    assert got["total"] == 5 and got["thermal"]["state"] == "warning"
    by_id = {s["id"]: s for s in got["items"]}
    assert by_id["CoolantTemp"] == {"id": "CoolantTemp", "type": "Temperature", "unit": "Cel",
                                    "value": 52.25, "status": "ok", "context": "LiquidInlet"}
    assert by_id["HeaterPower"]["status"] == "stuck"
    assert by_id["Fan2"]["status"] == "missing" and by_id["Fan2"]["value"] is None

    # a total sensor wins over the sum; a host without a thermal controller
    # (no "thermal") has state unknown and no alarms
    total = {"id": "NodePower", "type": "Power", "unit": "W", "value": 410.0, "status": "ok",
             "context": "Total"}
    beat(agent, hid, {"ts": now_ms(), "sensors": sensors(40.0, extra=[total])})
    th = a.ok("GET", "/v1/hosts/" + hid)["thermal"]
    assert th["power_w"] == 410.0 and th["coolant_c"] == 40.0
    assert th["state"] == "unknown" and th["alarms"] == [] and th["headroom_c"] is None

    # unknown host: 404
    err(a.get("/v1/hosts/%s/sensors" % "0b0e2f5c-9c59-4bb4-9a7e-000000000000"), 404, "NotFound")


# --- history -------------------------------------------------------------------

def test_history_accumulates_and_is_returned_in_time_order(cloud_factory):
    c = cloud_factory(FAST)
    a = c.admin
    hid, agent = register(c, "hist")
    values = [20.5, 22.0, 21.25, 30.75]
    for i, v in enumerate(values):
        if i:
            time.sleep(1.1)  # one history sample per second at most
        beat(agent, hid, telemetry(coolant=v))
    pts = wait_for(lambda: (lambda h: h["items"] if h["total"] == 4 else None)(
        history(a, hid, since="1h")), timeout=10, what="4 history points")
    assert [p["value"] for p in pts] == values
    times = [ms_of(p["time"]) for p in pts]
    assert times == sorted(times) and len(set(times)) == 4
    assert all(set(p) == {"time", "value"} for p in pts)  # raw points
    h = history(a, hid, since="1h")
    assert (h["sensor_id"], h["type"], h["unit"], h["truncated"]) == (
        "CoolantTemp", "Temperature", "Cel", False)

    # a window: since/until are inclusive RFC 3339 times
    mid = history(a, hid, since=pts[1]["time"], until=pts[2]["time"])["items"]
    assert [p["value"] for p in mid] == values[1:3]
    # limit keeps the oldest and says there is more
    lim = history(a, hid, since="1h", limit=2)
    assert [p["value"] for p in lim["items"]] == values[:2] and lim["truncated"] is True
    # the missing sensor has a slot but no values
    assert history(a, hid, "Fan2", since="1h")["items"] == []

    path = "/v1/hosts/%s/sensors/CoolantTemp/history" % hid
    err(a.get(path, params={"since": "yesterday"}), 400, "InvalidArgument", field="since")
    err(a.get(path, params={"until": "5x"}), 400, "InvalidArgument", field="until")
    err(a.get(path, params={"since": "1h", "until": "2h"}), 400, "InvalidArgument",
        field="since")
    err(a.get(path, params={"limit": "0"}), 400, "InvalidArgument", field="limit")
    err(a.get(path, params={"limit": "many"}), 400, "InvalidArgument", field="limit")
    err(a.get("/v1/hosts/%s/sensors/NoSuchSensor/history" % hid), 404, "NotFound")
    other, _ = register(c, "silent")
    err(a.get("/v1/hosts/%s/sensors/CoolantTemp/history" % other), 404, "NotFound")


def test_history_is_downsampled_to_min_avg_max(cloud_factory):
    # raw points older than 2 s fold into 2-second buckets
    c = cloud_factory(FAST + "raw_keep_s = 2\naggregate_interval_s = 2\n")
    a = c.admin
    hid, agent = register(c, "agg")
    sent = [10.0, 14.0, 11.5, 19.0, 12.0, 16.5]
    seen = {}  # every point seen raw: time -> value

    def look():
        items = history(a, hid, since="1h")["items"]
        seen.update({p["time"]: p["value"] for p in items if "min" not in p})
        return items

    for v in sent:
        beat(agent, hid, telemetry(coolant=v))
        t = time.time()
        while time.time() - t < 1.05:
            look()
            time.sleep(0.1)
    # each sample is raw for a while (at least raw_keep_s) before it folds
    wait_for(lambda: look() is not None and len(seen) == len(sent), timeout=10,
             what="every sample to show as a raw point")
    assert sorted(seen.values()) == sorted(sent)
    aggs = wait_for(lambda: (lambda items: items if items and all("min" in p for p in items)
                             else None)(look()), timeout=15, what="every point to be folded")
    assert [ms_of(p["time"]) for p in aggs] == sorted(ms_of(p["time"]) for p in aggs)
    want = {}
    for t, v in seen.items():
        want.setdefault(ms_of(t) // 2000 * 2000, []).append(v)
    assert sorted(ms_of(p["time"]) for p in aggs) == sorted(want)
    for p in aggs:
        vs = want[ms_of(p["time"])]
        assert p["interval_s"] == 2 and p["count"] == len(vs), (p, vs)
        assert p["min"] == min(vs) and p["max"] == max(vs), (p, vs)
        assert abs(p["value"] - sum(vs) / len(vs)) < 1e-3, (p, vs)
    # nothing was lost or counted twice
    assert sum(p["count"] for p in aggs) == len(sent)


def test_history_older_than_the_aggregate_keep_is_pruned(cloud_factory):
    c = cloud_factory(FAST + "raw_keep_s = 1\naggregate_interval_s = 1\naggregate_keep_s = 3\n")
    a = c.admin
    hid, agent = register(c, "prune")
    for i in range(3):
        if i:
            time.sleep(1.05)
        beat(agent, hid, telemetry(coolant=20.0 + i))
    wait_for(lambda: history(a, hid, since="1h")["total"] >= 1, timeout=10,
             what="history to be written")
    wait_for(lambda: any("min" in p for p in history(a, hid, since="1h")["items"]),
             timeout=10, what="aggregates")
    # no more samples: raw points fold, then aggregates age out
    wait_for(lambda: history(a, hid, since="1h")["total"] == 0, timeout=15,
             what="the whole history to be pruned")
    # deleting the host deletes its history and its telemetry row
    assert db_count(c, "telemetry_hosts") == 1
    a.ok("DELETE", "/v1/hosts/" + hid)
    err(a.get("/v1/hosts/%s/sensors/CoolantTemp/history" % hid), 404, "NotFound")
    assert db_count(c, "telemetry_hosts") == 0


# --- events --------------------------------------------------------------------

def test_thermal_events_appear_once_even_when_resent_and_across_restarts(cloud_factory):
    c = cloud_factory(FAST)
    hid, agent = register(c, "ev")
    ans = beat(agent, hid, telemetry(events=[event(1), event(2, "Critical")]))
    assert ans["telemetry_seq"] == 2
    evs = thermal_events(c.admin, hid)
    assert [(e["data"]["seq"], e["data"]["severity"]) for e in evs] == [(1, "Warning"),
                                                                         (2, "Critical")]
    assert evs[0]["resource_kind"] == "hosts" and evs[0]["account_id"] is None
    assert evs[0]["data"]["message_id"] == "Environmental.1.0.0.TempHigh"

    # kumod unreachable for the agent: it resends what it kept, plus a new one
    ans = beat(agent, hid, telemetry(events=[event(1), event(2, "Critical"), event(3, "OK")]))
    assert ans["telemetry_seq"] == 3
    assert [e["data"]["seq"] for e in thermal_events(c.admin, hid)] == [1, 2, 3]
    # resent out of order and twice in one heartbeat: still once
    assert beat(agent, hid, telemetry(events=[event(3), event(3), event(2)]))[
        "telemetry_seq"] == 3
    # concurrent heartbeats carrying the same new event store it once
    answers = []
    ts = [threading.Thread(target=lambda: answers.append(
        beat(agent, hid, telemetry(events=[event(4)]))["telemetry_seq"])) for _ in range(6)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert answers == [4] * 6
    assert [e["data"]["seq"] for e in thermal_events(c.admin, hid)] == [1, 2, 3, 4]

    # a restarted kumod remembers what it stored
    c.kumod.stop()
    c.kumod.start()
    c.admin = c.kumod.login()
    assert beat(agent, hid)["interval"] > 0  # no telemetry: no telemetry_seq needed
    ans = beat(agent, hid, telemetry(events=[event(3), event(4), event(5)]))
    assert ans["telemetry_seq"] == 5
    assert [e["data"]["seq"] for e in thermal_events(c.admin, hid)] == [1, 2, 3, 4, 5]
    # a heartbeat without events still answers the seq kumod has
    assert beat(agent, hid, telemetry())["telemetry_seq"] == 5


# --- scheduler -----------------------------------------------------------------

def placed_on(api, job):
    return api.ok("GET", "/v1/vms/" + job["resource_id"])["host_id"]


def test_a_host_in_thermal_warning_gets_no_new_vm_while_another_gets_it(cloud_factory):
    c = cloud_factory(FAST + "stale_s = 3\n")
    a = c.admin
    b = c.basics()
    hot, hot_agent = register(c, "hot")
    cool, cool_agent = register(c, "cool")

    def vm(name):
        return a.post("/v1/vms", {"name": name, "image_id": b["image"],
                                  "instance_offering_id": b["offering"],
                                  "l3_network_ids": [b["l3"]]})

    for i in range(3):
        beat(hot_agent, hot, telemetry("warning", headroom=1.0))
        beat(cool_agent, cool, telemetry("ok", headroom=25.0))
        r = vm("v%d" % i)
        assert r.status_code == 202, r.text
        assert placed_on(a, r.json()) == cool

    # both too hot: refused, and the reason says why
    beat(cool_agent, cool, telemetry("alarm", headroom=-2.0))
    e = err(vm("none"), 409, "Conflict")
    assert "thermal" in e["message"], e
    # a named host in critical is refused by name
    beat(hot_agent, hot, telemetry("critical", headroom=-8.0))
    r = a.post("/v1/vms", {"name": "named", "image_id": b["image"],
                           "instance_offering_id": b["offering"],
                           "l3_network_ids": [b["l3"]], "host_id": hot})
    e = err(r, 409, "Conflict")
    assert "thermal state critical" in e["message"], e

    # back to ok: hosts take VMs again, and the one with more headroom is
    # preferred even though it holds more VMs (3 against 0)
    beat(hot_agent, hot, telemetry("ok", headroom=2.0))
    beat(cool_agent, cool, telemetry("ok", headroom=30.0))
    r = vm("back")
    assert r.status_code == 202, r.text
    assert placed_on(a, r.json()) == cool
    # with equal headroom, spread goes to the emptier host
    beat(hot_agent, hot, telemetry("ok", headroom=30.0))
    r = vm("even")
    assert placed_on(a, r.json()) == hot

    # telemetry older than stale_s is unknown (neutral): a host whose last
    # report said critical takes VMs again once that report is stale
    beat(cool_agent, cool, telemetry("critical", headroom=-9.0))
    beat(hot_agent, hot, telemetry("critical", headroom=-9.0))
    err(vm("stuck"), 409, "Conflict")
    time.sleep(3.5)
    beat(hot_agent, hot)  # still connected, no telemetry
    beat(cool_agent, cool)
    assert a.ok("GET", "/v1/hosts/" + hot)["thermal"]["stale"] is True
    r = vm("stale")
    assert r.status_code == 202, r.text


def test_a_real_sim_agent_in_thermal_warning_reports_it_and_takes_no_vm(cloud_factory):
    """A real kumo-agent (sim driver) running its thermal controller on the box
    model, started hot (55 C ambient, full sun and load, coolant at 57 C: past
    the 55 C warning line, short of the 60 C shutdown): its own telemetry
    reaches the summary, the sensors, the history and the events, once."""
    c = cloud_factory("[kumod]\nheartbeat_interval_s = 1\n" + FAST)
    conf = os.path.join(c.tmp, "agent-hot.ini")
    with open(conf, "w") as f:
        f.write("[thermal]\nenabled = true\nambient_c = 55\nsolar = 1\nload = 1\n"
                "coolant0_c = 57\n")
    c.add_agent("hotbox", extra=["--config", conf])
    a = c.admin
    hid = a.ok("GET", "/v1/hosts?q=name=hotbox")["items"][0]["id"]
    th = wait_for(lambda: (lambda t: t if t and t["state"] in ("warning", "alarm", "critical")
                           else None)(a.ok("GET", "/v1/hosts/" + hid)["thermal"]),
                  timeout=20, what="the agent's thermal warning")
    assert 55 < th["coolant_c"] < 62 and th["headroom_c"] < 0, th
    assert th["alarms"] and all(x["severity"] in ("Warning", "Critical") for x in th["alarms"])
    got = a.ok("GET", "/v1/hosts/%s/sensors" % hid)
    sens = {x["id"]: x for x in got["items"]}
    assert sens["CoolantTemp"]["status"] == "ok"
    assert got["thermal"]["coolant_c"] == sens["CoolantTemp"]["value"]
    # power by the documented rule, from the same report
    power = [x for x in got["items"] if x["type"] == "Power" and x["value"] is not None]
    total = [x["value"] for x in power if x["context"] in ("Total", "Chassis")]
    want = total[0] if total else sum(x["value"] for x in power if x["context"] != "CPU")
    assert power and got["thermal"]["power_w"] == want, got
    wait_for(lambda: history(a, hid, since="1h")["total"] >= 2, timeout=10,
             what="the agent's coolant history")
    # the controller's decisions became host events, each seq once, even
    # though the agent resends until it sees kumod's telemetry_seq
    evs = wait_for(lambda: [e for e in thermal_events(a, hid)
                            if e["data"]["severity"] != "OK"], timeout=10,
                   what="a thermal warning event")
    assert any("55" in e["data"]["message"] for e in evs), evs
    time.sleep(3)  # three more heartbeats
    seqs = [e["data"]["seq"] for e in thermal_events(a, hid)]
    assert seqs == sorted(set(seqs)), seqs
    # and the scheduler keeps new VMs off it
    b = c.basics()
    r = a.post("/v1/vms", {"name": "v", "image_id": b["image"],
                           "instance_offering_id": b["offering"],
                           "l3_network_ids": [b["l3"]]})
    e = err(r, 409, "Conflict")
    assert "thermal" in e["message"], e


# --- bad input -----------------------------------------------------------------

def test_malformed_telemetry_is_dropped_without_breaking_the_heartbeat(cloud_factory):
    c = cloud_factory("[kumod]\nhost_timeout_s = 2\n" + FAST)
    a = c.admin
    hid, agent = register(c, "bad")
    beat(agent, hid, telemetry(coolant=33.0, events=[event(1)]))
    good = a.ok("GET", "/v1/hosts/%s/sensors" % hid)
    s0 = sensors()[0]

    def with_sensor(**kw):
        return dict(s0, **kw)
    bad = [
        "not an object",
        {"sensors": []},  # no ts
        {"ts": "yesterday", "sensors": []},
        {"ts": now_ms(), "sensors": {"CoolantTemp": 1}},
        {"ts": now_ms(), "sensors": [with_sensor(value="hot")]},
        {"ts": now_ms(), "sensors": [with_sensor(value=1e300)]},
        {"ts": now_ms(), "sensors": [with_sensor(status="broken")]},
        {"ts": now_ms(), "sensors": [with_sensor(id="has space")]},
        {"ts": now_ms(), "sensors": [with_sensor(id="x" * 65)]},
        {"ts": now_ms(), "sensors": [with_sensor(), with_sensor()]},  # duplicate id
        {"ts": now_ms(), "sensors": [with_sensor(id="S%d" % i) for i in range(129)]},
        {"ts": now_ms(), "sensors": [], "thermal": {"state": "melting"}},
        {"ts": now_ms(), "sensors": [], "thermal": {"state": "ok", "headroom_c": "lots"}},
        {"ts": now_ms(), "sensors": [], "thermal": {"state": "ok", "cpu_cap_pct": 150}},
        {"ts": now_ms(), "sensors": [], "thermal": {"state": "ok", "alarms": [
            {"id": "A%d" % i, "severity": "Warning"} for i in range(65)]}},
        {"ts": now_ms(), "sensors": [], "thermal": {"state": "ok", "alarms": [
            {"id": "A", "severity": "Fatal"}]}},
        {"ts": now_ms(), "sensors": [], "events": [event(i + 2) for i in range(257)]},
        {"ts": now_ms(), "sensors": [], "events": [dict(event(2), seq=-1)]},
        {"ts": now_ms(), "sensors": [], "events": [dict(event(2), severity="Meh")]},
        {"ts": now_ms(), "sensors": [], "events": [dict(event(2), message="x" * 5000)]},
    ]
    # silent past host_timeout_s: disconnected
    wait_for(lambda: a.ok("GET", "/v1/hosts/" + hid)["status"] == "disconnected", timeout=10,
             what="the host to be disconnected")
    for t in bad:
        ans = beat(agent, hid, t)
        assert ans.get("telemetry_error"), (t if len(json.dumps(t)) < 300 else "big", ans)
        assert ans["telemetry_seq"] == 1 and ans["interval"] > 0, ans
    # the last good report stands, no event was added, and the heartbeats
    # did what heartbeats do: the host is connected again
    now = a.ok("GET", "/v1/hosts/%s/sensors" % hid)
    assert now["items"] == good["items"]
    assert [e["data"]["seq"] for e in thermal_events(a, hid)] == [1]
    assert a.ok("GET", "/v1/hosts/" + hid)["status"] == "connected"
    assert "telemetry dropped" in open(c.kumod.log).read()
    # unknown members are ignored (newer agents may send more)
    ans = beat(agent, hid, telemetry(coolant=35.0, firmware="2.1",
                                     sensor_list=[with_sensor(value=35.0, reading_range=[0, 100])]))
    assert "telemetry_error" not in ans, ans
    assert a.ok("GET", "/v1/hosts/" + hid)["thermal"]["coolant_c"] == 35.0


def test_tenant_users_cannot_read_host_sensors(cloud_factory):
    c = cloud_factory(FAST)
    a = c.admin
    hid, agent = register(c, "private")
    beat(agent, hid, telemetry())
    acct = a.ok("POST", "/v1/accounts", {"name": "tenant"})
    a.ok("POST", "/v1/users", {"name": "u", "password": "password-123", "role": "owner",
                               "account_id": acct["id"]})
    t = c.kumod.login("tenant", "u", "password-123")
    for path in ("/v1/hosts/%s/sensors" % hid,
                 "/v1/hosts/%s/sensors/CoolantTemp/history" % hid, "/v1/hosts/%s" % hid):
        r = t.get(path)
        assert r.status_code in (403, 404), (path, r.status_code, r.text)
        assert "CoolantTemp" not in r.text and "coolant" not in r.text
    # nor the thermal events
    assert all(e["type"] != "host.thermal" for e in t.ok("GET", "/v1/events")["items"])
    assert a.ok("GET", "/v1/hosts/%s/sensors" % hid)["total"] == 5


# --- CLI -----------------------------------------------------------------------

def test_cli_prints_the_sensor_table_thermal_summary_and_history(cloud_factory):
    c = cloud_factory(FAST)
    hid, agent = register(c, "clinode")
    alarm = {"id": "FanFailed:Fan2", "severity": "Warning", "message": "fan 2 stuck"}
    beat(agent, hid, telemetry("warning", 4.0, 51.5, alarms=[alarm]))
    time.sleep(1.1)
    beat(agent, hid, telemetry("warning", 4.0, 52.5, alarms=[alarm]))
    wait_for(lambda: history(c.admin, hid, since="1h")["total"] == 2, timeout=10,
             what="two history points")

    def kumo(*args):
        p = subprocess.run([CLI, "--url", c.kumod.url, "--token", c.admin.token] + list(args),
                           capture_output=True, text=True, timeout=60 * SLOW)
        assert p.returncode == 0, (args, p.stdout, p.stderr)
        return p.stdout

    out = kumo("host", "sensors", "clinode")
    lines = out.splitlines()
    assert lines[0].split() == ["SENSOR", "TYPE", "VALUE", "UNIT", "STATUS", "CONTEXT"]
    rows = {l.split()[0]: l.split() for l in lines[1:6]}
    assert rows["CoolantTemp"] == ["CoolantTemp", "Temperature", "52.5", "Cel", "ok",
                                   "LiquidInlet"]
    assert rows["Fan2"][2] == "-" and rows["Fan2"][4] == "missing"
    assert "thermal      warning" in out
    assert "coolant      52.5 Cel" in out and "power        250 W" in out
    assert "Warning FanFailed:Fan2: fan 2 stuck" in out

    # by id as well, and -o json is the API's answer
    j = json.loads(kumo("-o", "json", "host", "sensors", hid))
    assert j["total"] == 5 and j["thermal"]["state"] == "warning"

    out = kumo("host", "sensors", "clinode", "--history", "CoolantTemp", "--since", "1h")
    lines = out.splitlines()
    assert lines[0].split() == ["TIME", "VALUE", "MIN", "MAX", "SAMPLES"]
    assert [l.split()[1] for l in lines[1:]] == ["51.5", "52.5"]
    j = json.loads(kumo("-o", "json", "host", "sensors", "clinode", "--history", "CoolantTemp",
                        "--since", "1h", "--limit", "1"))
    assert [p["value"] for p in j["items"]] == [51.5] and j["truncated"] is True

    p = subprocess.run([CLI, "--url", c.kumod.url, "--token", c.admin.token, "host", "sensors",
                        "clinode", "--history", "Nope"], capture_output=True, text=True)
    assert p.returncode == 1 and "NotFound" in p.stderr
    p = subprocess.run([CLI, "--url", c.kumod.url, "--token", c.admin.token, "host", "sensors",
                        "clinode", "--since", "1h"], capture_output=True, text=True)
    assert p.returncode == 2
