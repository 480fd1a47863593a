# SPDX-License-Identifier: MIT
"""Node telemetry in kumod: what the sensor history costs on disk, and what
the telemetry member costs a heartbeat.

1. Storage. HOSTS hosts register through the real agent channel and post
   heartbeats with 30 sensors (the size issue 5 plans for) once a second,
   with kumod writing a history sample per host per second, for SAMPLES
   seconds. Then the raw rows and their bytes are read from the store
   (payload, and pages with SQLite's dbstat, which counts the b-tree
   overhead too). A second kumod folds every raw row into its own
   aggregate (aggregate_interval_s = 1, raw_keep_s = 1) to measure an
   aggregate row. The per-day figures follow from the measured bytes per
   row and the default intervals: one raw row per host per minute (1,440 a
   day, kept a day) and one aggregate per host per 5 minutes (288 a day,
   kept 30 days).
2. Heartbeat cost: N heartbeats of one host in a row, without telemetry and
   with the 30-sensor member (no new events: the usual case), mean latency
   and kumod CPU per heartbeat, in the same run.

usage: telemetry.py [HOSTS [SAMPLES [N]]]   (defaults 20, 60, 2000)"""
import os
import sqlite3
import sys
import time

import requests

from benchlib import cpu_ticks, new_cloud, wait_for

HOSTS = int(sys.argv[1]) if len(sys.argv) > 1 else 20
SAMPLES = int(sys.argv[2]) if len(sys.argv) > 2 else 60
N = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
SENSORS = 30
HZ = os.sysconf("SC_CLK_TCK")
FAST = """
[telemetry]
history_interval_s = 1
flush_interval_s = 1
prune_interval_s = 1
"""


def register(cloud, name):
    with open(cloud.kumod.join_token_file) as f:
        tok = f.read().strip()
    r = requests.post(cloud.kumod.url + "/agent/v1/register", json={
        "join_token": tok, "name": name,
        "facts": {"cpus": 8, "memory_mb": 16384, "disk_gb": 100, "driver": "sim"}})
    r.raise_for_status()
    s = requests.Session()
    s.headers["Authorization"] = "Bearer " + r.json()["secret"]
    return r.json()["host_id"], s


def telemetry(i):
    kinds = [("Temperature", "Cel", "LiquidInlet"), ("Power", "W", "SystemBoard"),
             ("Fan", "RPM", "Fan"), ("Voltage", "V", "SystemBoard")]
    sensors = []
    for k in range(SENSORS):
        t, u, ctx = kinds[k % len(kinds)]
        sensors.append({"id": "%s%d" % (t, k), "type": t, "unit": u, "context": ctx,
                        "value": 20.0 + k + (i % 7) * 0.25, "status": "ok"})
    return {"ts": int(time.time() * 1000), "sensors": sensors,
            "thermal": {"state": "ok", "headroom_c": 12.5, "cpu_cap_pct": 100, "alarms": []}}


def beat(cloud, host, t):
    hid, s = host
    r = s.post(cloud.kumod.url + "/agent/v1/hosts/%s/heartbeat" % hid,
               json={"vms": [], "telemetry": t} if t else {"vms": []})
    r.raise_for_status()


def table_size(cloud, table):
    db = sqlite3.connect("file:%s/kumo.db?mode=ro" % cloud.kumod.dir, uri=True)
    try:
        rows, payload = db.execute("SELECT COUNT(*), COALESCE(SUM(LENGTH(vals)), 0) FROM %s"
                                   % table).fetchone()
        pages = db.execute("SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name = ?",
                           (table,)).fetchone()[0]
    finally:
        db.close()
    return rows, payload, pages


def storage():
    cloud, _ = new_cloud(FAST)
    try:
        hosts = [register(cloud, "h%03d" % i) for i in range(HOSTS)]
        t0 = time.time()
        for i in range(SAMPLES):
            for h in hosts:
                beat(cloud, h, telemetry(i))
            time.sleep(max(0.0, t0 + (i + 1) * 1.02 - time.time()))
        wait_for(lambda: table_size(cloud, "telemetry_raw")[0] >= HOSTS * SAMPLES * 0.9,
                 timeout=30, what="the samples to be written")
        time.sleep(2)
        raw = table_size(cloud, "telemetry_raw")
        # fold every row into its own aggregate
        cloud.kumod.stop()
        with open(cloud.kumod.config, "a") as f:
            f.write("raw_keep_s = 1\naggregate_interval_s = 1\n")
        cloud.kumod.start()
        wait_for(lambda: table_size(cloud, "telemetry_raw")[0] == 0, timeout=60,
                 what="the raw rows to be folded")
        agg = table_size(cloud, "telemetry_agg")
    finally:
        cloud.stop()
    return raw, agg


def heartbeat_cost():
    cloud, _ = new_cloud(FAST)
    try:
        host = register(cloud, "hb")
        pid = cloud.kumod.proc.pid
        t = telemetry(0)
        out = {}
        for name, body in (("without telemetry", None), ("with 30 sensors", t)):
            beat(cloud, host, body)
            c0, w0 = cpu_ticks(pid), time.time()
            for _ in range(N):
                beat(cloud, host, body)
            wall = time.time() - w0
            out[name] = (wall / N * 1e3, (cpu_ticks(pid) - c0) / HZ / N * 1e6)
    finally:
        cloud.stop()
    return out


def main():
    (rrows, rpay, rpages), (arows, apay, apages) = storage()
    per_raw, per_agg = rpages / rrows, apages / arows
    raw_day, agg_day = 1440, 288
    print("telemetry storage: %d hosts x %d sensors, %d samples each" % (HOSTS, SENSORS,
                                                                       SAMPLES))
    print("  raw rows        %6d  payload %4.0f B/row  on disk %4.0f B/row" % (
        rrows, rpay / rrows, per_raw))
    print("  aggregate rows  %6d  payload %4.0f B/row  on disk %4.0f B/row" % (
        arows, apay / arows, per_agg))
    print("  per host per day (defaults): raw %d rows %.0f KiB, aggregates %d rows %.0f KiB"
          % (raw_day, raw_day * per_raw / 1024, agg_day, agg_day * per_agg / 1024))
    kept = raw_day * per_raw + 30 * agg_day * per_agg
    print("  kept per host (1 day raw + 30 days aggregates): %.1f MiB; 1,000 hosts: %.1f GiB"
          % (kept / 2**20, kept * 1000 / 2**30))
    for name, (ms, cpu_us) in heartbeat_cost().items():
        print("heartbeat %-18s %6.3f ms mean, kumod CPU %5.0f us per heartbeat (%d in a row)"
              % (name, ms, cpu_us, N))


if __name__ == "__main__":
    main()
