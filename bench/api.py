# SPDX-License-Identifier: MIT
"""API throughput: authenticated GET /v1/vms/{id} and GET /v1/vms?limit=100
with 10,000 VMs in the store, with wrk (64 connections), beside nginx serving
a static file of the same size in the same run.
Targets (issue 2): >= 30,000 req/s for the single VM, >= 40% of nginx.

usage: api.py [SECONDS [VMS [ROUNDS]]]   (defaults 10, 10000, 1)

With ROUNDS > 1, kumod and nginx are measured alternately that many times
and the median of each is reported: on a shared machine the load of others
changes from one run to the next, and alternating exposes both servers to
it alike. The CPU kumod spent per request (user + system, from /proc) is
printed too: it depends much less on that load than requests per second."""
import json
import os
import sys

import requests

from benchlib import Nginx, cpu_ticks, create_vms, new_cloud, wrk

SECONDS = int(sys.argv[1]) if len(sys.argv) > 1 else 10
VMS = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
ROUNDS = int(sys.argv[3]) if len(sys.argv) > 3 else 1
HZ = os.sysconf("SC_CLK_TCK")


def measure_kumod(pid, url, hdr):
    t0 = cpu_ticks(pid)
    k = wrk(url, SECONDS, headers=hdr)
    k["cpu_us"] = (cpu_ticks(pid) - t0) / HZ * 1e6 / max(1.0, k["rps"] * SECONDS)
    return k


def median_run(runs):
    """The run with the median req/s (its p99 and CPU go with it)."""
    runs = sorted(runs, key=lambda r: r["rps"])
    m = runs[len(runs) // 2]
    m["all"] = [round(r["rps"]) for r in runs]
    return m


cloud, tmp = new_cloud()
try:
    cloud.add_agent("bench", hosts=100, extra=["--sim-delay-ms", "20", "--sim-cpus", "256",
                                                "--sim-memory-mb", "1048576"])
    b = cloud.basics()
    secs, running = create_vms(cloud, b, VMS)
    print("setup: %d VMs running in %.1f s" % (running, secs))
    pid = cloud.kumod.proc.pid
    vm = cloud.admin.ok("GET", "/v1/vms?limit=1")["items"][0]
    hdr = {"Authorization": "Bearer " + cloud.admin.token}
    one_url = "%s/v1/vms/%s" % (cloud.kumod.url, vm["id"])
    list_url = "%s/v1/vms?limit=100" % cloud.kumod.url
    one_body = requests.get(one_url, headers=hdr).content
    list_body = requests.get(list_url, headers=hdr).content
    results = []
    for label, url, body in (("GET /v1/vms/{id}", one_url, one_body),
                             ("GET /v1/vms?limit=100", list_url, list_body)):
        ng = Nginx(body)
        try:
            ks, ns = [], []
            for _ in range(ROUNDS):
                ks.append(measure_kumod(pid, url, hdr))
                ns.append(wrk(ng.url, SECONDS))
        finally:
            ng.stop()
        results.append((label, len(body), median_run(ks), median_run(ns)))
    print()
    print("| request | body bytes | kumod req/s | kumod p99 | kumod CPU/req | "
          "nginx req/s (same body) | kumod/nginx |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for label, size, k, n in results:
        print("| %s | %d | %.0f | %s | %.0f us | %.0f | %.0f%% |" % (
            label, size, k["rps"], k["p99"], k["cpu_us"], n["rps"],
            100.0 * k["rps"] / n["rps"]))
        if k["errors"]:
            print("  (kumod answered %d non-2xx)" % k["errors"])
        if ROUNDS > 1:
            print("  (%d rounds, req/s: kumod %s, nginx %s)" % (ROUNDS, k["all"], n["all"]))
    print(json.dumps({"results": [{"request": r[0], "kumod_rps": r[2]["rps"],
                                   "kumod_cpu_us_per_req": round(r[2]["cpu_us"], 1),
                                   "nginx_rps": r[3]["rps"]} for r in results]}))
finally:
    cloud.stop()
