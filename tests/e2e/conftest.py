# SPDX-License-Identifier: MIT
"""Fixtures for Kumo's end-to-end tests.

Every test here talks to the real daemons: a fresh kumod on a free loopback
port with its own data directory, and real kumo-agent processes (the sim
driver for the management-node tests). Nothing is mocked; everything the
tests start is stopped (and its files removed) when they end, also on
failure.
"""
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time

import pytest
import requests

BUILD = os.environ.get("KUMO_BUILD") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", "build"))
KUMOD = os.path.join(BUILD, "kumod")
AGENT = os.path.join(BUILD, "kumo-agent")
CLI = os.path.join(BUILD, "kumo")
SANITIZED = "build-san" in BUILD
# Everything is slower under ASan; scale the waits.
SLOW = 3.0 if SANITIZED else 1.0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(pred, timeout=10.0, interval=0.05, what="condition"):
    deadline = time.time() + timeout * SLOW
    last = None
    while time.time() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


def image_file(tmp, name, fmt="qcow2"):
    """A small image file of that format (docs/API.md, images); its path.
    qcow2: an empty 16 MiB disk; raw: 64 KiB of a pattern; kernel: a tar
    holding a fake bzImage ("HdrS" at 0x202), an initrd and a cmdline."""
    path = os.path.join(tmp, "%s.%s" % (name, {"kernel": "tar"}.get(fmt, fmt)))
    if fmt == "qcow2":
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", path, "16M"], check=True)
    elif fmt == "raw":
        with open(path, "wb") as f:
            f.write(bytes(range(256)) * 256)
    elif fmt == "kernel":
        members = {"kernel": b"\0" * 0x202 + b"HdrS" + b"\1" * 2000,
                   "initrd": b"initrd-bytes" * 100, "cmdline": b"console=ttyS0 quiet\n"}
        tar_file(path, members)
    else:
        raise ValueError(fmt)
    return path


def tar_file(path, members):
    """A POSIX tar archive of {name: bytes}."""
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as t:
        for n, data in members.items():
            ti = tarfile.TarInfo(n)
            ti.size = len(data)
            ti.mtime = 1700000000
            t.addfile(ti, io.BytesIO(data))
    return path


def upload_image(api, tmp, name, fmt="qcow2", path=None, **fields):
    """Creates an image and uploads a small file of its format (or path)
    to it; returns the active image."""
    path = path or image_file(tmp, name, fmt)
    img = api.ok("POST", "/v1/images", dict({"name": name, "format": fmt}, **fields),
                 status=201)
    with open(path, "rb") as f:
        r = api.req("POST", "/v1/images/%s/upload" % img["id"], raw=f,
                    headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "active", r.text
    return r.json()


class Api:
    """A tiny client: base URL + token, JSON in and out."""

    def __init__(self, url, token=None):
        self.url = url
        self.token = token
        self.s = requests.Session()

    def req(self, method, path, body=None, headers=None, raw=None, **kw):
        h = {}
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        if headers:
            h.update(headers)
        data = raw
        if body is not None:
            data = json.dumps(body)
            h["Content-Type"] = "application/json"
        return self.s.request(method, self.url + path, data=data, headers=h,
                              timeout=kw.pop("timeout", 60), **kw)

    def get(self, path, **kw):
        return self.req("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.req("POST", path, body=body, **kw)

    def patch(self, path, body=None, **kw):
        return self.req("PATCH", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.req("DELETE", path, **kw)

    def ok(self, method, path, body=None, status=None, **kw):
        r = self.req(method, path, body=body, **kw)
        want = status if status is not None else (200, 201, 202, 204)
        if isinstance(want, int):
            want = (want,)
        assert r.status_code in want, "%s %s -> %d %s" % (method, path, r.status_code, r.text)
        return r.json() if r.content else None

    def job(self, job, timeout=30):
        """Waits for a job (a job document or id) to finish; returns it."""
        jid = job["id"] if isinstance(job, dict) else job
        deadline = time.time() + timeout * SLOW
        while True:
            j = self.ok("GET", "/v1/jobs/%s?wait=5" % jid)
            if j["state"] in ("succeeded", "failed", "cancelled"):
                return j
            assert time.time() < deadline, "job %s still %s" % (jid, j["state"])


class Kumod:
    def __init__(self, tmp, config=None):
        self.dir = os.path.join(tmp, "kumod")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.config = None
        if config:
            self.config = os.path.join(tmp, "kumod.ini")
            with open(self.config, "w") as f:
                f.write(config)
        self.log = os.path.join(tmp, "kumod.log")
        self.proc = None

    def start(self):
        args = [KUMOD, "--listen", "127.0.0.1:%d" % self.port, "--data-dir", self.dir]
        if self.config:
            args += ["--config", self.config]
        self.proc = subprocess.Popen(args, stdout=open(self.log, "ab"),
                                     stderr=subprocess.STDOUT)
        wait_for(self._healthy, timeout=15, what="kumod to answer /healthz")
        return self

    def _healthy(self):
        if self.proc.poll() is not None:
            raise AssertionError("kumod exited with %s:\n%s" % (self.proc.returncode,
                                                                 self.tail()))
        try:
            return requests.get(self.url + "/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10 * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and SANITIZED and self.proc.returncode not in (0, -9, -15):
            raise AssertionError("kumod exited with %s:\n%s" % (self.proc.returncode,
                                                                 self.tail()))

    def tail(self, n=40):
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    @property
    def password(self):
        with open(os.path.join(self.dir, "admin.password")) as f:
            return f.read().strip()

    @property
    def join_token_file(self):
        return os.path.join(self.dir, "join.token")

    def login(self, account="admin", user="admin", password=None):
        r = requests.post(self.url + "/v1/sessions", json={
            "account": account, "user": user,
            "password": password if password is not None else self.password})
        assert r.status_code == 201, r.text
        return Api(self.url, r.json()["token"])


class Agent:
    def __init__(self, kumod, tmp, name, hosts=1, extra=None):
        self.kumod = kumod
        self.dir = os.path.join(tmp, "agent-" + name)
        self.name = name
        self.hosts = hosts
        self.extra = list(extra or [])
        self.redfish_url = None
        if "qemu" in self.extra and "--redfish-listen" not in self.extra:
            # the node's Redfish service: plain HTTP on loopback, a port of its own
            port = free_port()
            self.extra += ["--redfish-listen", "127.0.0.1:%d" % port, "--redfish-tls", "false"]
            self.redfish_url = "http://127.0.0.1:%d/redfish/v1" % port
        self.log = os.path.join(tmp, "agent-%s.log" % name)
        self.proc = None

    def start(self):
        args = [AGENT, "--server", self.kumod.url, "--join-token-file",
                self.kumod.join_token_file, "--data-dir", self.dir, "--driver", "sim",
                "--hosts", str(self.hosts), "--name", self.name] + self.extra
        self.proc = subprocess.Popen(args, stdout=open(self.log, "ab"),
                                     stderr=subprocess.STDOUT)
        return self

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10 * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def tail(self, n=40):
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


class Cloud:
    """A kumod plus agents, with helpers to build the usual resources."""

    def __init__(self, tmp, config=None):
        self.tmp = tmp
        self.kumod = Kumod(tmp, config)
        self.agents = []
        self.admin = None

    def start(self):
        self.kumod.start()
        self.admin = self.kumod.login()
        return self

    def add_agent(self, name, hosts=1, extra=None, wait=True):
        a = Agent(self.kumod, self.tmp, name, hosts, extra).start()
        self.agents.append(a)
        if wait:
            wait_for(lambda: self.connected_hosts(name) >= hosts, timeout=20,
                     what="%d hosts of agent %s to connect" % (hosts, name))
        return a

    def connected_hosts(self, prefix=""):
        items = self.admin.ok("GET", "/v1/hosts?limit=1000&q=status=connected")["items"]
        return len([h for h in items if h["name"].startswith(prefix)])

    def stop(self):
        for a in self.agents:
            a.stop()
        self.kumod.stop()

    # Building blocks most tests need.
    def basics(self, api=None, image_path=None):
        """An image (public, active: a small empty qcow2 unless image_path
        names a qcow2 file), an offering and a shared network; returns
        their ids."""
        api = api or self.admin
        zone = self.admin.ok("GET", "/v1/zones?q=name=default")["items"]
        if zone:
            zone_id = zone[0]["id"]
        else:
            zone_id = self.admin.ok("POST", "/v1/zones", {"name": "default"})["id"]
        img = upload_image(self.admin, self.tmp, "demo", "qcow2", path=image_path,
                           visibility="public")
        off = self.admin.ok("POST", "/v1/instance-offerings", {
            "name": "small", "vcpus": 1, "memory_mb": 512, "root_disk_gb": 1})
        l2 = self.admin.ok("POST", "/v1/l2-networks", {
            "name": "l2", "zone_id": zone_id, "type": "vxlan", "vni": 100})
        l3 = self.admin.ok("POST", "/v1/l3-networks", {
            "name": "net", "l2_network_id": l2["id"], "cidr": "10.10.0.0/16",
            "shared": True})
        return {"zone": zone_id, "image": img["id"], "offering": off["id"],
                "l2": l2["id"], "l3": l3["id"]}


@pytest.fixture
def tmpdir_kumo():
    d = tempfile.mkdtemp(prefix="kumo-e2e-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def cloud(tmpdir_kumo):
    """kumod alone (no agents), admin logged in."""
    c = Cloud(tmpdir_kumo).start()
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture
def cloud_factory(tmpdir_kumo):
    """For tests that need their own kumod settings: cloud_factory(config_ini)."""
    made = []

    def make(config=None):
        c = Cloud(tmpdir_kumo, config).start()
        made.append(c)
        return c
    yield make
    for c in made:
        c.stop()


@pytest.fixture(scope="session")
def guest_image():
    """The demo guest (built once, then cached by build.sh)."""
    build = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "images", "build.sh")
    out = subprocess.run(["bash", build], capture_output=True, text=True, timeout=1800)
    assert out.returncode == 0, out.stderr[-2000:]
    d = out.stdout.strip().splitlines()[-1]
    for f in ("demo.qcow2", "vmlinuz", "initrd.img", "cmdline"):
        assert os.path.exists(os.path.join(d, f)), f
    return d
