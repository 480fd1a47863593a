# SPDX-License-Identifier: MIT
"""kumod's Redfish aggregator at fleet scale: GET /redfish/v1/Systems on a
kumod with 1,000 sim hosts (one agent, --hosts 1000) and their VMs.
Target (issue 5): under 200 ms.

Prints the median and p99 of N sequential requests (one keep-alive
connection) for:
  - GET /redfish/v1/Systems with HTTP Basic (the admin user: Argon2id is
    paid once, then the aggregator's 30 s cache answers),
  - the same with a Redfish session (X-Auth-Token from POST
    /redfish/v1/SessionService/Sessions),
  - GET /redfish/v1/Chassis (hosts only, no VMs),
  - and, as the same-run reference, kumod's own GET /v1/hosts?limit=1000
    (all hosts, bearer token).
Also the first Basic request (a cold cache: one Argon2id check) and one
relayed member GET (a round trip over the agent channel).

usage: redfish_agg.sh [HOSTS [VMS [N]]]   (defaults 1000 2000 200)
"""
import shutil
import statistics
import sys
import time

import requests

from benchlib import create_vms, new_cloud

HOSTS = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
VMS = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
N = int(sys.argv[3]) if len(sys.argv) > 3 else 200


def timed(session, url, n, **kw):
    """Milliseconds of n sequential GETs; every answer must be a 200."""
    out = []
    for _ in range(n):
        t = time.perf_counter()
        r = session.get(url, timeout=60, **kw)
        out.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200, r.text[:300]
    return out


def p99(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.99 * (len(xs) - 1))))]


def row(what, xs, size=""):
    print("| %s | %d | %.1f ms | %.1f ms | %s |" % (what, len(xs), statistics.median(xs),
                                                    p99(xs), size))


cloud, tmp = new_cloud()
try:
    t0 = time.time()
    cloud.add_agent("s", hosts=HOSTS)
    t_hosts = time.time() - t0
    vm_s = 0.0
    if VMS:
        b = cloud.basics()
        vm_s, running = create_vms(cloud, b, VMS)
    base = cloud.kumod.url
    pw = cloud.kumod.password

    basic = requests.Session()
    basic.auth = ("admin", pw)
    t = time.perf_counter()
    r = basic.get(base + "/redfish/v1/Systems", timeout=60)
    cold = (time.perf_counter() - t) * 1000
    assert r.status_code == 200, r.text[:300]
    members = r.json()["Members@odata.count"]
    size = len(r.content)
    assert members == HOSTS + VMS, (members, HOSTS, VMS)

    r = requests.post(base + "/redfish/v1/SessionService/Sessions",
                      json={"UserName": "admin", "Password": pw}, timeout=60)
    assert r.status_code == 201, r.text
    tok = requests.Session()
    tok.headers["X-Auth-Token"] = r.headers["X-Auth-Token"]
    api = requests.Session()
    api.headers["Authorization"] = "Bearer " + cloud.admin.token

    systems_basic = timed(basic, base + "/redfish/v1/Systems", N)
    systems_tok = timed(tok, base + "/redfish/v1/Systems", N)
    chassis_tok = timed(tok, base + "/redfish/v1/Chassis", N)
    hosts_ref = timed(api, base + "/v1/hosts?limit=1000", N)
    hosts_size = len(api.get(base + "/v1/hosts?limit=1000", timeout=60).content)
    first = tok.get(base + "/redfish/v1/Systems", timeout=60).json()["Members"][0]
    member = timed(tok, base + first["@odata.id"], 20)

    print("%d sim hosts connected in %.0f s; %d VMs created in %.0f s" %
          (HOSTS, t_hosts, VMS, vm_s))
    print("")
    print("| request | n | median | p99 | body |")
    print("| --- | --- | --- | --- | --- |")
    row("GET /redfish/v1/Systems, Basic (cached)", systems_basic,
        "%d members, %d KB" % (members, size // 1024))
    row("GET /redfish/v1/Systems, X-Auth-Token", systems_tok)
    row("GET /redfish/v1/Chassis, X-Auth-Token", chassis_tok, "%d members" % HOSTS)
    row("reference: GET /v1/hosts?limit=1000, bearer", hosts_ref,
        "%d hosts, %d KB" % (HOSTS, hosts_size // 1024))
    row("GET %s (relayed to its agent)" % first["@odata.id"], member)
    print("| GET /redfish/v1/Systems, Basic, first (one Argon2id check) | 1 | %.1f ms | | |" %
          cold)
    print("")
    print("target: GET /redfish/v1/Systems under 200 ms: %s (median %.1f ms, p99 %.1f ms)" %
          ("met" if p99(systems_tok) < 200 and p99(systems_basic) < 200 else "NOT met",
           statistics.median(systems_tok), p99(systems_tok)))
finally:
    cloud.stop()
    shutil.rmtree(tmp, ignore_errors=True)
