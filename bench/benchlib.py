# SPDX-License-Identifier: MIT
"""Shared helpers for the benchmarks: start a real kumod and sim agents
(the same classes as the end-to-end tests), run wrk, start nginx."""
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
os.environ.setdefault("KUMO_BUILD", os.path.join(HERE, "..", "build"))

from conftest import Cloud, free_port, wait_for  # noqa: E402,F401


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return int(parts[11]) + int(parts[12])  # utime + stime


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def wrk(url, seconds=10, conns=64, threads=2, headers=None):
    args = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % seconds, "--latency"]
    for k, v in (headers or {}).items():
        args += ["-H", "%s: %s" % (k, v)]
    out = subprocess.run(args + [url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(\w+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p99": (p99.group(1) + p99.group(2)) if p99 else "?",
            "errors": int(non2xx.group(1)) if non2xx else 0}


class Nginx:
    """nginx serving one static file on loopback, as the API reference."""

    def __init__(self, body, name="doc.json"):
        self.dir = tempfile.mkdtemp(prefix="kumo-nginx-")
        self.port = free_port()
        os.makedirs(os.path.join(self.dir, "www"))
        with open(os.path.join(self.dir, "www", name), "wb") as f:
            f.write(body)
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write("""
worker_processes 2;
daemon off;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  default_type application/json;
  client_body_temp_path %(d)s;
  proxy_temp_path %(d)s;
  fastcgi_temp_path %(d)s;
  uwsgi_temp_path %(d)s;
  scgi_temp_path %(d)s;
  server { listen 127.0.0.1:%(p)d; root %(d)s/www; }
}
""" % {"d": self.dir, "p": self.port})
        self.proc = subprocess.Popen(["nginx", "-c", conf, "-p", self.dir],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = "http://127.0.0.1:%d/%s" % (self.port, name)
        wait_for(self._up, what="nginx")

    def _up(self):
        import requests
        try:
            return requests.get(self.url, timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        subprocess.run(["rm", "-rf", self.dir])


def new_cloud(config=None):
    tmp = tempfile.mkdtemp(prefix="kumo-bench-")
    return Cloud(tmp, config).start(), tmp


def create_vms(cloud, basics, total, batch=1000, name="vm"):
    """Creates total VMs in batches; returns seconds from first request to all running."""
    api = cloud.admin
    t0 = time.time()
    jobs = []
    for i in range(0, total, batch):
        n = min(batch, total - i)
        j = api.ok("POST", "/v1/vms", {"name": "%s%d" % (name, i // batch), "count": n,
                                       "image_id": basics["image"],
                                       "instance_offering_id": basics["offering"]})
        jobs.append(j)
    for j in jobs:
        j = api.job(j, timeout=600)
        assert j["state"] == "succeeded", j
    running = api.ok("GET", "/v1/vms?limit=1&q=state=running")["total"]
    return time.time() - t0, running
