# SPDX-License-Identifier: MIT
"""The thermal controller on a real node: kumod, a kumo-agent with the qemu
driver, and two real VMs booted from the demo guest under TCG, created
through kumod with priorities 10 ("low") and 90 ("high"). The agent plays
the desert-noon scenario on its box model (55 C air, full load, full sun
for 3 h, then an evening that cools to 30 C: 8 simulated hours) and does
to the real VMs what it decides: CPU caps on their QEMU processes (cgroups),
graceful shutdowns, restarts. Everything asserted is read where a user
would read it: kumod's API (VM states, host.thermal events, the host's
thermal summary), the agent's Redfish service, and the kernel's cgroup
files of the QEMU processes.

Time. The scenario's clock starts with the agent's thermal runtime, and a
TCG boot takes tens of real seconds, so the VMs are booted first under a
mild, scenario-less config; then the agent is restarted (kill -9: QEMU
keeps running and the agent reattaches) with `scenario = desert-noon` and
`time_scale = 300`: the warning comes ~5 s later, the critical line ~16 s,
and the coolant is back under 50 C ~65 s after the restart, so the whole
sequence takes ~70 s of real time (tick_ms = 100: 30 simulated seconds a
tick). Two controller delays are real-time ones in nature and are scaled
with it: `ctl.shutdown_timeout_s = 27000` (90 real seconds: a guest under
TCG capped at 20% of a vCPU takes several seconds to power off, and the
default 180 simulated seconds would be 0.6 real ones, forcing it) and
`ctl.shed_delay_s = 4500` (15 real seconds between two shutdowns, so the
low-priority VM is seen stopped while the high one still runs). The
restart hold and delay keep their defaults (600 and 300 simulated seconds:
2 and 1 real seconds).
"""
import os
import re
import signal
import time

import requests

from conftest import Cloud, wait_for
from test_qemu import BOOT, upload

SCALE = 300
MILD = "[thermal]\nenabled = true\nambient_c = 20\n"
DESERT = """[thermal]
enabled = true
scenario = desert-noon
time_scale = %d
tick_ms = 100
ctl.shutdown_timeout_s = %d
ctl.shed_delay_s = %d
""" % (SCALE, 90 * SCALE, 15 * SCALE)
UNIT_ENV = "/ThermalEquipment/ImmersionUnits/1/EnvironmentMetrics"


def qemu_pid(host_dir, vm):
    try:
        pid = int(open(os.path.join(host_dir, "vms", vm["id"], "qemu.pid")).read().strip())
        with open("/proc/%d/stat" % pid) as f:
            if f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                return None
        return pid
    except (OSError, ValueError):
        return None


def cpu_quota(pid):
    """(group, fraction of one CPU) of the cgroup CPU limit on pid's group,
    cgroup v1 (cpu.cfs_quota_us) or v2 (cpu.max); fraction None: no limit."""
    try:
        lines = open("/proc/%d/cgroup" % pid).read().splitlines()
    except OSError:
        return None, None
    for ln in lines:
        _, ctrls, path = ln.split(":", 2)
        if "cpu" in ctrls.split(","):  # v1
            for d in ("/sys/fs/cgroup/" + ctrls, "/sys/fs/cgroup/cpu,cpuacct",
                      "/sys/fs/cgroup/cpu"):
                q = os.path.join(d + path, "cpu.cfs_quota_us")
                if os.path.exists(q):
                    quota = int(open(q).read())
                    period = int(open(os.path.join(d + path, "cpu.cfs_period_us")).read())
                    return path, None if quota < 0 else quota / period
    for ln in lines:
        if ln.startswith("0::"):  # v2
            f = "/sys/fs/cgroup" + ln[3:] + "/cpu.max"
            if os.path.exists(f):
                quota, period = open(f).read().split()
                return ln[3:], None if quota == "max" else int(quota) / int(period)
    return None, None


def test_desert_noon_caps_sheds_low_priority_first_and_restarts(guest_image, tmp_path):
    tmp = str(tmp_path)
    ini = os.path.join(tmp, "agent-q.ini")
    open(ini, "w").write(MILD)
    cloud = Cloud(tmp).start()
    api = cloud.admin
    agent = None
    try:
        agent = cloud.add_agent("q", extra=["--driver", "qemu", "--config", ini])
        host_dir = os.path.join(agent.dir, "hosts", "0")
        host = api.ok("GET", "/v1/hosts?q=name=q")["items"][0]
        img, r = upload(api, os.path.join(guest_image, "demo.qcow2"), "demo", "qcow2")
        assert r.status_code in (200, 201), r.text
        off = api.ok("POST", "/v1/instance-offerings", {
            "name": "tiny", "vcpus": 1, "memory_mb": 192, "root_disk_gb": 1})["id"]
        jobs = {name: api.ok("POST", "/v1/vms", {"name": name, "image_id": img["id"],
                                                 "instance_offering_id": off,
                                                 "priority": prio})
                for name, prio in (("low", 10), ("high", 90))}
        vms = {}
        for name, job in jobs.items():
            assert api.job(job, timeout=BOOT)["state"] == "succeeded"
            vms[name] = api.ok("GET", "/v1/vms/" + job["resource_id"])
        for name, vm in vms.items():
            wait_for(lambda: "KUMO-GUEST-READY" in api.ok(
                "GET", "/v1/vms/%s/console?tail=1000" % vm["id"])["output"],
                timeout=BOOT, interval=0.5, what="%s booted" % name)
        assert vms["low"]["priority"] == 10 and vms["high"]["priority"] == 90
        pids = {n: qemu_pid(host_dir, vm) for n, vm in vms.items()}
        assert all(pids.values())

        def state(n):
            return api.ok("GET", "/v1/vms/" + vms[n]["id"])["state"]

        def events():
            evs = api.ok("GET", "/v1/events", params={"limit": 1000})["items"]
            return [e["data"] for e in evs if e["type"] == "host.thermal"]

        def logged(key, vm_id=None):
            return [e for e in events() if e["message_id"].endswith("." + key)
                    and (vm_id is None or "'%s'" % vm_id in e["message"])]

        # the desert noon begins: the agent restarts with the scenario, the VMs run on
        agent.kill9()
        open(ini, "w").write(DESERT)
        agent.start()
        t0 = time.time()
        wait_for(lambda: cloud.connected_hosts("q") == 1, timeout=30, what="the agent back")
        assert {n: qemu_pid(host_dir, vm) for n, vm in vms.items()} == pids
        rf = requests.Session()
        pw = open(os.path.join(agent.dir, "redfish", "admin-password")).read().strip()
        rf.auth = ("admin", pw)

        def coolant():
            r = rf.get(agent.redfish_url + UNIT_ENV, timeout=10)
            return r.json()["TemperatureCelsius"]["Reading"] if r.status_code == 200 else None

        # 1. above 55 C: the warning, and VM CPU capped on the real QEMU processes
        wait_for(lambda: logged("TemperatureAboveUpperCautionThreshold"), timeout=40,
                 interval=0.5, what="the warning line")
        caps = {}

        def capped():
            for n, pid in pids.items():
                group, frac = cpu_quota(pid)
                if frac is None or "kumo" not in (group or ""):
                    return False
                caps[n] = (group, frac)
            return True
        wait_for(capped, timeout=30, interval=0.2, what="both QEMUs in capped cgroups")
        for n, (group, frac) in caps.items():
            assert frac < 0.95, (n, group, frac)  # 1 vCPU, capped under its full CPU
        assert logged("PowerBrake")
        th = api.ok("GET", "/v1/hosts/" + host["id"])["thermal"]
        assert th["state"] in ("warning", "critical") and th["cpu_cap_pct"] < 100, th

        # 2. at 60 C: the low-priority VM is shut down first, gracefully
        wait_for(lambda: logged("ResourcePoweringOff", vms["low"]["id"]), timeout=60,
                 interval=0.5, what="the low-priority VM's shutdown")
        assert logged("TemperatureAboveUpperCriticalThreshold")
        assert not logged("ResourcePoweringOff", vms["high"]["id"]), "high went first"
        wait_for(lambda: state("low") == "stopped", timeout=90, interval=0.5,
                 what="low stopped in kumod")
        assert qemu_pid(host_dir, vms["low"]) is None
        assert state("high") != "stopped", "the high-priority VM must outlive the low one"
        shed = logged("ResourcePoweringOff", vms["low"]["id"])[0]
        assert "critical line" in shed["message"] and "priority 10" in shed["message"]
        assert "powering it off" not in " ".join(
            e["message"] for e in logged("ResourcePoweringOff")), "a shutdown was forced"

        # 3. the evening: below 50 C again, both start, the high one first
        wait_for(lambda: state("low") == "running" and state("high") == "running",
                 timeout=150, interval=1, what="both VMs running again")
        took = time.time() - t0
        starts = logged("ResourcePoweringOn")
        ids = [vm_id for e in starts for vm_id in re.findall(r"'([0-9a-f-]{36})'", e["message"])]
        if vms["high"]["id"] in ids:  # it was shut down too (the coolant stayed at 60 C)
            assert ids.index(vms["high"]["id"]) < ids.index(vms["low"]["id"])
        for e in starts:
            c = float(re.search(r"Coolant ([\d.]+) C has stayed below 50 C", e["message"])
                      .group(1))
            assert c < 50, e
        assert coolant() < 50
        new = {n: qemu_pid(host_dir, vm) for n, vm in vms.items()}
        assert all(new.values()) and new["low"] != pids["low"]
        # by then the cap is lifted: the restarted QEMU runs unlimited
        assert cpu_quota(new["low"])[1] is None
        th = api.ok("GET", "/v1/hosts/" + host["id"])["thermal"]
        assert th["cpu_cap_pct"] == 100, th
        print("desert-noon on a real node: both VMs back %.0f s after the agent restart" % took)
    finally:
        for vm in api.ok("GET", "/v1/vms?limit=100")["items"]:
            api.req("DELETE", "/v1/vms/%s?wait=30" % vm["id"])
        cloud.stop()
        vdir = os.path.join(tmp, "agent-q", "hosts", "0", "vms")
        for d in os.listdir(vdir) if os.path.isdir(vdir) else []:
            try:
                os.kill(int(open(os.path.join(vdir, d, "qemu.pid")).read()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
