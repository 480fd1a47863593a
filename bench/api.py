# SPDX-License-Identifier: MIT
"""API throughput: authenticated GET /v1/vms/{id} and GET /v1/vms?limit=100
with 10,000 VMs in the store, with wrk (64 connections), beside nginx serving
a static file of the same size in the same run.
Targets (issue 2): >= 30,000 req/s for the single VM, >= 40% of nginx."""
import json
import sys

import requests

from benchlib import Nginx, create_vms, new_cloud, wrk

SECONDS = int(sys.argv[1]) if len(sys.argv) > 1 else 10
VMS = int(sys.argv[2]) if len(sys.argv) > 2 else 10000

cloud, tmp = new_cloud()
try:
    cloud.add_agent("bench", hosts=100, extra=["--sim-delay-ms", "20", "--sim-cpus", "256",
                                                "--sim-memory-mb", "1048576"])
    b = cloud.basics()
    secs, running = create_vms(cloud, b, VMS)
    print("setup: %d VMs running in %.1f s" % (running, secs))
    vm = cloud.admin.ok("GET", "/v1/vms?limit=1")["items"][0]
    hdr = {"Authorization": "Bearer " + cloud.admin.token}
    one_url = "%s/v1/vms/%s" % (cloud.kumod.url, vm["id"])
    list_url = "%s/v1/vms?limit=100" % cloud.kumod.url
    one_body = requests.get(one_url, headers=hdr).content
    list_body = requests.get(list_url, headers=hdr).content
    results = []
    for label, url, body in (("GET /v1/vms/{id}", one_url, one_body),
                             ("GET /v1/vms?limit=100", list_url, list_body)):
        k = wrk(url, SECONDS, headers=hdr)
        ng = Nginx(body)
        try:
            n = wrk(ng.url, SECONDS)
        finally:
            ng.stop()
        results.append((label, len(body), k, n))
    print()
    print("| request | body bytes | kumod req/s | kumod p99 | nginx req/s (same body) | kumod/nginx |")
    print("| --- | --- | --- | --- | --- | --- |")
    for label, size, k, n in results:
        print("| %s | %d | %.0f | %s | %.0f | %.0f%% |" % (
            label, size, k["rps"], k["p99"], n["rps"], 100.0 * k["rps"] / n["rps"]))
        if k["errors"]:
            print("  (kumod answered %d non-2xx)" % k["errors"])
    print(json.dumps({"results": [{"request": r[0], "kumod_rps": r[2]["rps"],
                                   "nginx_rps": r[3]["rps"]} for r in results]}))
finally:
    cloud.stop()
