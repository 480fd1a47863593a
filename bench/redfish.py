# SPDX-License-Identifier: MIT
"""Redfish throughput on the agent: GET of one sensor
(/redfish/v1/Chassis/box/Sensors/CoolantTemp) and of the Sensors collection
with $expand=.($levels=1), with wrk (64 connections, 2 threads), each with
HTTP Basic auth and with a session token (X-Auth-Token), beside nginx
serving a copy of the same body from a temp dir on loopback in the same
run. The agent is a real kumo-agent (sim driver, the box model on, its
host's own sensors discovered) registered with a real kumod, its Redfish
service on a loopback port over plain HTTP (tests/e2e/rfnode.py).
Target (issue 5): >= 10,000 requests/s on 2 cores (bmcweb published 144
requests/s on BMC hardware).

usage: redfish.py [SECONDS [ROUNDS]]   (defaults 10, 1)

With ROUNDS > 1 the agent and nginx are measured alternately that many
times and the median of each is reported (see bench/api.py). The CPU the
agent spent per request (user + system, from /proc) is printed too."""
import base64
import json
import os
import shutil
import sys
import tempfile

import requests

from benchlib import Nginx, cpu_ticks, wrk
from rfnode import RfNode

SECONDS = int(sys.argv[1]) if len(sys.argv) > 1 else 10
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 1
HZ = os.sysconf("SC_CLK_TCK")
SENSOR = "/redfish/v1/Chassis/box/Sensors/CoolantTemp"
EXPAND = "/redfish/v1/Chassis/box/Sensors?$expand=.($levels=1)"


def measure(pid, url, hdr):
    t0 = cpu_ticks(pid)
    k = wrk(url, SECONDS, headers=hdr)
    k["cpu_us"] = (cpu_ticks(pid) - t0) / HZ * 1e6 / max(1.0, k["rps"] * SECONDS)
    return k


def median_run(runs):
    runs = sorted(runs, key=lambda r: r["rps"])
    m = runs[len(runs) // 2]
    m["all"] = [round(r["rps"]) for r in runs]
    return m


tmp = tempfile.mkdtemp(prefix="kumo-bench-redfish-")
node = RfNode(tmp, thermal="ambient_c = 25\n")
try:
    node.start()
    pid = node.agent.proc.pid
    basic = {"Authorization": "Basic " + base64.b64encode(
        ("admin:" + node.password).encode()).decode()}
    r = requests.post(node.base + "/redfish/v1/SessionService/Sessions",
                      json={"UserName": "admin", "Password": node.password}, timeout=10)
    r.raise_for_status()
    token = {"X-Auth-Token": r.headers["X-Auth-Token"]}
    results = []
    for label, path in (("GET sensor", SENSOR), ("GET Sensors $expand", EXPAND)):
        body = requests.get(node.base + path, headers=basic, timeout=10)
        body.raise_for_status()
        members = len(body.json().get("Members", [])) or 1
        ng = Nginx(body.content, name="body.json")
        try:
            for auth, hdr in (("Basic", basic), ("session", token)):
                ks, ns = [], []
                for _ in range(ROUNDS):
                    ks.append(measure(pid, node.base + path, hdr))
                    ns.append(wrk(ng.url, SECONDS))
                results.append((label, auth, len(body.content), members, median_run(ks),
                                median_run(ns)))
        finally:
            ng.stop()
    print()
    print("| request | auth | body bytes | agent req/s | agent p99 | agent CPU/req | "
          "nginx req/s (same body) | agent/nginx |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for label, auth, size, members, k, n in results:
        print("| %s | %s | %d | %.0f | %s | %.0f us | %.0f | %.0f%% |" % (
            label, auth, size, k["rps"], k["p99"], k["cpu_us"], n["rps"],
            100.0 * k["rps"] / n["rps"]))
        if k["errors"]:
            print("  (the agent answered %d non-2xx)" % k["errors"])
        if ROUNDS > 1:
            print("  (%d rounds, req/s: agent %s, nginx %s)" % (ROUNDS, k["all"], n["all"]))
    print("cores: %d; target >= 10,000 req/s (bmcweb: 144 req/s on BMC hardware)"
          % os.cpu_count())
    print(json.dumps({"results": [{"request": r[0], "auth": r[1], "members": r[3],
                                   "agent_rps": r[4]["rps"],
                                   "agent_cpu_us_per_req": round(r[4]["cpu_us"], 1),
                                   "nginx_rps": r[5]["rps"]} for r in results]}))
finally:
    node.stop()
    shutil.rmtree(tmp, ignore_errors=True)
