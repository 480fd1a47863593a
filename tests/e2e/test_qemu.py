# SPDX-License-Identifier: MIT
"""Real VMs: kumod and a kumo-agent with the qemu driver booting the demo
guest from tests/images/ under TCG. The guest prints marker lines on its
serial console (tests/images/README.md); every check here reads them
through the API (GET /v1/vms/{id}/console), as a user would."""
import hashlib
import io
import os
import signal
import subprocess
import tarfile
import time

import pytest
import requests

from conftest import CLI, SLOW, Cloud, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
BOOT = 90  # seconds a TCG boot may take on a loaded 2-core machine


def upload(api, path, name, fmt, sha=None):
    data = open(path, "rb").read()
    img = api.ok("POST", "/v1/images", {
        "name": name, "format": fmt, "visibility": "public",
        "sha256": sha or hashlib.sha256(data).hexdigest()})
    r = requests.post(api.url + "/v1/images/%s/upload" % img["id"], data=data,
                      headers={"Authorization": "Bearer " + api.token,
                               "Content-Type": "application/octet-stream"}, timeout=120)
    return img, r


def kernel_tar(image_dir):
    """The demo guest as a kernel image: a tar of kernel, initrd, cmdline."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        t.add(os.path.join(image_dir, "vmlinuz"), arcname="kernel")
        t.add(os.path.join(image_dir, "initrd.img"), arcname="initrd")
        t.add(os.path.join(image_dir, "cmdline"), arcname="cmdline")
    return buf.getvalue()


class QemuCloud:
    def __init__(self, tmp, image_dir):
        self.tmp = tmp
        self.cloud = Cloud(tmp).start()
        self.api = self.cloud.admin
        self.agent = self.cloud.add_agent("q", extra=["--driver", "qemu"])
        img, r = upload(self.api, os.path.join(image_dir, "demo.qcow2"), "demo", "qcow2")
        assert r.status_code in (200, 201), r.text
        self.image = img["id"]
        self.offering = self.api.ok("POST", "/v1/instance-offerings", {
            "name": "tiny", "vcpus": 1, "memory_mb": 192, "root_disk_gb": 1})["id"]
        self.host_dir = os.path.join(self.agent.dir, "hosts", "0")

    def create(self, name, wait=True, **extra):
        body = {"name": name, "image_id": self.image, "instance_offering_id": self.offering}
        body.update(extra)
        job = self.api.ok("POST", "/v1/vms", body)
        job = self.api.job(job, timeout=BOOT)
        vm = self.api.ok("GET", "/v1/vms?q=name=%s" % name)["items"][0]
        if wait:
            assert job["state"] == "succeeded", job
            self.wait_console(vm, "KUMO-GUEST-READY")
        return vm, job

    def console(self, vm, tail=1000):
        return self.api.ok("GET", "/v1/vms/%s/console?tail=%d" % (vm["id"], tail))["output"]

    def wait_console(self, vm, text, count=1, timeout=BOOT):
        wait_for(lambda: self.console(vm).count(text) >= count, timeout=timeout,
                 interval=0.5, what="%r x%d on the console of %s" % (text, count, vm["name"]))

    def state(self, vm):
        return self.api.ok("GET", "/v1/vms/" + vm["id"])["state"]

    def action(self, vm, action, body=None):
        job = self.api.ok("POST", "/v1/vms/%s/actions/%s" % (vm["id"], action), body or {})
        return self.api.job(job, timeout=BOOT)

    def qemu_pid(self, vm):
        p = os.path.join(self.host_dir, "vms", vm["id"], "qemu.pid")
        try:
            pid = int(open(p).read().strip())
        except (OSError, ValueError):
            return None
        try:
            with open("/proc/%d/stat" % pid) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            return None
        return None if state in ("Z", "X") else pid

    def uptime(self, vm):
        lines = [ln for ln in self.console(vm).splitlines() if ln.startswith("KUMO-UPTIME")]
        return int(lines[-1].split()[1]) if lines else -1

    def stop(self):
        # destroy what is left so no QEMU outlives the test
        try:
            for vm in self.api.ok("GET", "/v1/vms?limit=1000")["items"]:
                self.api.req("DELETE", "/v1/vms/%s?wait=30" % vm["id"])
        except Exception:  # noqa: BLE001 - best effort before the kill below
            pass
        self.cloud.stop()
        for d in os.listdir(os.path.join(self.host_dir, "vms")) if os.path.isdir(
                os.path.join(self.host_dir, "vms")) else []:
            p = os.path.join(self.host_dir, "vms", d, "qemu.pid")
            try:
                os.kill(int(open(p).read().strip()), signal.SIGKILL)
            except (OSError, ValueError):
                pass


@pytest.fixture(scope="module")
def qc(guest_image, tmp_path_factory):
    c = QemuCloud(str(tmp_path_factory.mktemp("qemu")), guest_image)
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture(autouse=True)
def destroy_vms_after(request):
    """Each test starts with no VMs: the host has 2 cores, 8 vCPUs placed."""
    yield
    if "qc" not in request.fixturenames:
        return
    qc = request.getfixturevalue("qc")
    for vm in qc.api.ok("GET", "/v1/vms?limit=1000")["items"]:
        r = qc.api.req("DELETE", "/v1/vms/" + vm["id"])
        if r.status_code == 202:
            qc.api.job(r.json(), timeout=60)


def test_vm_boots_and_its_console_shows_the_marker(qc):
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKumoTestKey test@kumo"
    vm, job = qc.create("boot1", ssh_keys=[key],
                        user_data="#!/bin/sh\necho user-data-ran-$(hostname)\n")
    assert "KUMO-GUEST-READY hostname=boot1" in qc.console(vm)
    # the user_data script runs in the background after the marker
    qc.wait_console(vm, "KUMO-USERDATA exit=0")
    assert "user-data-ran-boot1" in qc.console(vm)
    assert qc.state(vm) == "running"
    host = qc.api.ok("GET", "/v1/hosts/" + vm["host_id"])
    assert host["accel"] in ("tcg", "kvm")
    assert qc.api.ok("GET", "/v1/vms/" + vm["id"])["accel"] == host["accel"]


def test_cloud_config_ssh_keys_reach_the_guest(qc):
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKumoOtherKey other@kumo"
    vm, _ = qc.create("keys1", ssh_keys=[key])
    qc.wait_console(vm, "KUMO-SSH-KEYS count=1")


def test_stop_start_reboot_pause_resume(qc):
    vm, _ = qc.create("life1")
    pid = qc.qemu_pid(vm)
    assert pid

    j = qc.action(vm, "pause")
    assert j["state"] == "succeeded", j
    assert qc.state(vm) == "paused"
    u = qc.uptime(vm)
    time.sleep(6)
    assert qc.uptime(vm) == u, "a paused guest kept printing"
    j = qc.action(vm, "resume")
    assert j["state"] == "succeeded" and qc.state(vm) == "running"
    wait_for(lambda: qc.uptime(vm) > u, timeout=30, what="uptime to move after resume")

    boots = qc.console(vm).count("KUMO-GUEST-READY")
    j = qc.action(vm, "reboot")
    assert j["state"] == "succeeded", j
    qc.wait_console(vm, "KUMO-GUEST-READY", count=boots + 1)
    assert qc.qemu_pid(vm) == pid, "reboot must not restart QEMU"

    t0 = time.time()
    j = qc.action(vm, "stop")  # graceful: ACPI power button, the guest powers off
    assert j["state"] == "succeeded", j
    assert qc.state(vm) == "stopped"
    assert time.time() - t0 < 50, "the guest should shut down well before the timeout"
    assert qc.qemu_pid(vm) is None

    boots = qc.console(vm).count("KUMO-GUEST-READY")
    j = qc.action(vm, "start")
    assert j["state"] == "succeeded", j
    qc.wait_console(vm, "KUMO-GUEST-READY", count=boots + 1)

    t0 = time.time()
    j = qc.action(vm, "stop", {"force": True})
    assert j["state"] == "succeeded" and qc.state(vm) == "stopped"
    assert time.time() - t0 < 15
    assert qc.qemu_pid(vm) is None


def test_volume_hot_attach_and_detach(qc):
    vm, _ = qc.create("vol1")
    qc.wait_console(vm, "KUMO-DISKS vda vdb")
    job = qc.api.ok("POST", "/v1/volumes", {"name": "data1", "size_gb": 1, "vm_id": vm["id"]})
    job = qc.api.job(job, timeout=60)
    assert job["state"] == "succeeded", job
    vol = qc.api.ok("GET", "/v1/volumes?q=name=data1")["items"][0]
    assert vol["state"] == "in_use"
    qc.wait_console(vm, "KUMO-DISKS vda vdb vdc", timeout=30)
    j = qc.api.job(qc.api.ok("POST", "/v1/volumes/%s/actions/detach" % vol["id"], {}), 60)
    assert j["state"] == "succeeded", j
    qc.wait_console(vm, "KUMO-DISKS vda vdb", count=2, timeout=30)
    j = qc.api.job(qc.api.ok("DELETE", "/v1/volumes/" + vol["id"]), 60)
    assert j["state"] == "succeeded", j
    assert not os.path.exists(os.path.join(qc.host_dir, "volumes", vol["id"] + ".qcow2"))


def test_guest_shutdown_leaves_the_vm_stopped(qc):
    vm, _ = qc.create("bye1", user_data="#!/bin/sh\n(sleep 1; poweroff) &\n")
    wait_for(lambda: qc.state(vm) == "stopped", timeout=60, interval=0.5,
             what="the vm to be stopped after its guest powered off")
    assert qc.qemu_pid(vm) is None


def test_qemu_that_dies_puts_the_vm_in_error(qc):
    vm, _ = qc.create("die1")
    os.kill(qc.qemu_pid(vm), signal.SIGKILL)
    wait_for(lambda: qc.state(vm) == "error", timeout=30, interval=0.5,
             what="error state after QEMU was killed")
    v = qc.api.ok("GET", "/v1/vms/" + vm["id"])
    assert "QEMU" in (v.get("state_reason") or ""), v


def test_agent_restart_keeps_the_guest_running(qc):
    vm, _ = qc.create("keep1")
    pid = qc.qemu_pid(vm)
    qc.wait_console(vm, "KUMO-UPTIME")
    boots = qc.console(vm).count("KUMO-GUEST-READY")
    qc.agent.kill9()
    time.sleep(1)
    qc.agent.start()
    wait_for(lambda: qc.cloud.connected_hosts("q") == 1, timeout=30, what="agent back")
    u1 = qc.uptime(vm)
    assert qc.qemu_pid(vm) == pid, "the agent restart must not restart QEMU"
    assert qc.state(vm) == "running"
    wait_for(lambda: qc.uptime(vm) > u1, timeout=30, interval=0.5, what="uptime to go on")
    assert qc.console(vm).count("KUMO-GUEST-READY") == boots, "the guest rebooted"
    # and it is still under control
    j = qc.action(vm, "pause")
    assert j["state"] == "succeeded" and qc.state(vm) == "paused"
    j = qc.action(vm, "resume")
    assert j["state"] == "succeeded" and qc.state(vm) == "running"


def test_power_loss_starts_running_vms_and_keeps_stopped_ones_stopped(qc):
    run, _ = qc.create("pl-run")
    off, _ = qc.create("pl-off")
    assert qc.action(off, "stop", {"force": True})["state"] == "succeeded"
    boots = qc.console(run).count("KUMO-GUEST-READY")
    # the power goes: the agent and every QEMU die at once
    qc.agent.kill9()
    for vm in qc.api.ok("GET", "/v1/vms?limit=100")["items"]:
        pid = qc.qemu_pid(vm)
        if pid:
            os.kill(pid, signal.SIGKILL)
    time.sleep(1)
    qc.agent.start()
    wait_for(lambda: qc.cloud.connected_hosts("q") == 1, timeout=30, what="agent back")
    qc.wait_console(run, "KUMO-GUEST-READY", count=boots + 1)
    assert qc.state(run) == "running"
    assert qc.qemu_pid(run)
    assert qc.state(off) == "stopped"
    assert qc.qemu_pid(off) is None


def test_a_cached_image_that_went_missing_is_fetched_again(qc, guest_image):
    img, r = upload(qc.api, os.path.join(guest_image, "demo.qcow2"), "demo-lost", "qcow2")
    assert r.status_code in (200, 201), r.text
    qc.create("lost1", image_id=img["id"])  # caches the image on the host
    os.unlink(os.path.join(qc.host_dir, "images", img["id"], "data"))
    qc.create("lost2", image_id=img["id"])


def test_qemu_that_cannot_start_fails_clearly_and_leaves_nothing(guest_image, tmp_path):
    # kumod may place it (memory overcommit), but QEMU cannot allocate 4 TiB
    cloud = Cloud(str(tmp_path), "[scheduler]\nmem_overcommit = 1000\n").start()
    try:
        api = cloud.admin
        agent = cloud.add_agent("q", extra=["--driver", "qemu"])
        img, r = upload(api, os.path.join(guest_image, "demo.qcow2"), "demo", "qcow2")
        assert r.status_code in (200, 201), r.text
        job = api.ok("POST", "/v1/vms", {"name": "big", "image_id": img["id"], "vcpus": 1,
                                         "memory_mb": 4194304})
        job = api.job(job, timeout=BOOT)
        assert job["state"] == "failed", job
        assert "QEMU did not start" in job["error"]["message"], job
        assert "memory" in job["error"]["message"], job
        vm = api.ok("GET", "/v1/vms?q=name=big")["items"][0]
        assert vm["state"] == "error"
        vms_dir = os.path.join(agent.dir, "hosts", "0", "vms")
        assert os.listdir(vms_dir) == []
    finally:
        cloud.stop()


def test_capacity_is_the_real_host_and_too_big_is_refused(qc):
    host = qc.api.ok("GET", "/v1/hosts?q=name=q")["items"][0]
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    assert abs(host["memory_mb_total"] - mem_kb // 1024) <= 1
    assert host["cpu_total"] == os.cpu_count()
    r = qc.api.post("/v1/vms", {"name": "huge", "image_id": qc.image, "vcpus": 1,
                                "memory_mb": host["memory_mb_total"] * 4})
    assert r.status_code == 409, r.text
    assert "memory" in r.json()["error"]["message"].lower()


def test_kernel_image_boots_directly(qc, guest_image):
    data = kernel_tar(guest_image)
    path = os.path.join(qc.tmp, "kernel.tar")
    with open(path, "wb") as f:
        f.write(data)
    img, r = upload(qc.api, path, "demo-kernel", "kernel")
    assert r.status_code in (200, 201), r.text
    body = {"name": "kern1", "image_id": img["id"], "instance_offering_id": qc.offering}
    job = qc.api.job(qc.api.ok("POST", "/v1/vms", body), timeout=BOOT)
    assert job["state"] == "succeeded", job
    vm = qc.api.ok("GET", "/v1/vms?q=name=kern1")["items"][0]
    qc.wait_console(vm, "KUMO-GUEST-READY hostname=kern1")


def test_tampered_image_bytes_are_caught_by_the_agent(qc, guest_image):
    img, r = upload(qc.api, os.path.join(guest_image, "demo.qcow2"), "demo-tampered", "qcow2")
    assert r.status_code in (200, 201), r.text
    stored = os.path.join(qc.cloud.kumod.dir, "images", img["id"])
    assert os.path.exists(stored), os.listdir(os.path.dirname(stored))
    with open(stored, "r+b") as f:
        f.seek(4096)
        f.write(b"\xff" * 16)
    body = {"name": "tamper1", "image_id": img["id"], "instance_offering_id": qc.offering}
    job = qc.api.job(qc.api.ok("POST", "/v1/vms", body), timeout=BOOT)
    assert job["state"] == "failed", job
    assert "sha256" in job["error"]["message"], job
    cache = os.path.join(qc.host_dir, "images", img["id"])
    assert not os.path.exists(os.path.join(cache, "ok"))
    assert not os.path.exists(os.path.join(cache, "data"))


def test_cli_vm_console(qc):
    vm, _ = qc.create("cli1")
    env = dict(os.environ, KUMO_URL=qc.cloud.kumod.url, KUMO_TOKEN=qc.api.token)
    out = subprocess.run([CLI, "vm", "console", "cli1", "--tail", "50"], env=env,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "KUMO-GUEST-READY hostname=cli1" in out.stdout
    p = subprocess.Popen([CLI, "vm", "console", "cli1", "--follow", "--tail", "1"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 30 * SLOW
        seen = b""
        while time.time() < deadline and seen.count(b"KUMO-UPTIME") < 2:
            seen += p.stdout.read1(4096)
        assert seen.count(b"KUMO-UPTIME") >= 2, seen
    finally:
        p.kill()
        p.wait()


def test_bad_qemu_settings_are_refused_at_start(tmp_path):
    from conftest import AGENT
    ini = tmp_path / "agent.ini"
    for text, why in (("[qemu]\naccel = fast\n", "qemu accel"),
                      ("[qemu]\nstop_timeout_s = soon\n", "stop_timeout_s"),
                      ("[qemu]\nmigration_channels = 0\n", "migration_channels"),
                      ("[qemu]\nmigration_channels = 2x\n", "migration_channels"),
                      ("[qemu]\nmigration_downtime_ms = 5\n", "migration_downtime_ms"),
                      ("[qemu]\nmigration_downtime_ms = 300ms\n", "migration_downtime_ms")):
        ini.write_text(text)
        out = subprocess.run([AGENT, "--server", "http://127.0.0.1:1", "--join-token-file",
                              "/dev/null", "--data-dir", str(tmp_path / "d"), "--driver", "qemu",
                              "--config", str(ini)], capture_output=True, text=True, timeout=30)
        assert out.returncode == 2, out
        assert why in out.stderr, out.stderr
