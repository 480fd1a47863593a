# SPDX-License-Identifier: MIT
"""VM start-up overhead and footprint (issue 3).

Start-up: from the create call to the guest's marker line on its serial
console (KUMO-GUEST-READY), for 1 VM and for N VMs created together, beside
plain qemu-system-x86_64 started directly with the same image (a qcow2
overlay on it), the same devices (root disk, cidata seed), memory and vCPUs
in the same run. Runs alternate Kumo and plain QEMU; medians are printed.
Target: Kumo at most 1.15x plain QEMU.

Footprint: the agent's RSS with N VMs running (target < 20 MB) and QEMU's
RSS per VM, under Kumo and plain.

usage: vmstart.py [N=10] [ROUNDS=3]
"""
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import requests

from benchlib import new_cloud, rss_mb

N = int(sys.argv[1]) if len(sys.argv) > 1 else 10
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
MEM = 192
MARK = b"KUMO-GUEST-READY"
HERE = os.path.dirname(os.path.abspath(__file__))


def wait_markers(paths, t0, timeout=600):
    """Seconds from t0 until each file holds the marker."""
    left = dict((p, None) for p in paths)
    deadline = time.time() + timeout
    while any(v is None for v in left.values()):
        assert time.time() < deadline, "no marker in %s" % [p for p, v in left.items() if v is None]
        for p, v in left.items():
            if v is None:
                try:
                    with open(p, "rb") as f:
                        if MARK in f.read():
                            left[p] = time.time() - t0
                except OSError:
                    pass
        time.sleep(0.01)
    return [left[p] for p in paths]


def plain_qemu(image, n, work):
    """n plain QEMUs, the driver's devices; returns (seconds, rss list)."""
    procs, logs = [], []
    for i in range(n):
        d = os.path.join(work, "p%d" % i)
        os.makedirs(d)
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", image,
                        os.path.join(d, "disk.qcow2"), "1G"], check=True)
        with open(os.path.join(d, "meta-data"), "w") as f:
            f.write("instance-id: p%d\nlocal-hostname: p%d\n" % (i, i))
        with open(os.path.join(d, "user-data"), "w") as f:
            f.write("#cloud-config\nhostname: p%d\n" % i)
        subprocess.run(["mkfs.vfat", "-C", "-n", "cidata", os.path.join(d, "seed.img"), "1024"],
                       check=True, capture_output=True)
        subprocess.run(["mcopy", "-o", "-i", os.path.join(d, "seed.img"),
                        os.path.join(d, "meta-data"), os.path.join(d, "user-data"), "::"],
                       check=True)
        logs.append(os.path.join(d, "console.log"))
    t0 = time.time()
    for i in range(n):
        d = os.path.join(work, "p%d" % i)
        procs.append(subprocess.Popen([
            "qemu-system-x86_64", "-nodefaults", "-no-user-config", "-machine", "pc,accel=tcg",
            "-cpu", "max", "-smp", "1", "-m", str(MEM), "-display", "none",
            "-chardev", "file,id=console,path=console.log,append=on",
            "-serial", "chardev:console",
            "-blockdev", "driver=qcow2,node-name=root,file.driver=file,file.filename=disk.qcow2",
            "-device", "virtio-blk-pci,drive=root,id=root,bootindex=0",
            "-blockdev", "driver=raw,node-name=seed,read-only=on,file.driver=file,"
            "file.filename=seed.img",
            "-device", "virtio-blk-pci,drive=seed,id=seed"], cwd=d,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    secs = wait_markers(logs, t0)
    rss = [rss_mb(p.pid) for p in procs]
    for p in procs:
        p.kill()
        p.wait()
    return secs, rss


def kumo_run(cloud, api, image_id, offering, n, tag):
    """n VMs through the API; returns (seconds, qemu rss list, agent rss)."""
    agent = cloud.agents[0]
    host_dir = os.path.join(agent.dir, "hosts", "0", "vms")
    body = {"name": tag, "image_id": image_id, "instance_offering_id": offering}
    if n > 1:
        body["count"] = n
    t0 = time.time()
    job = api.ok("POST", "/v1/vms", body)
    names = [tag] if n == 1 else ["%s-%d" % (tag, i + 1) for i in range(n)]
    ids = []
    deadline = time.time() + 120
    while len(ids) < n:
        assert time.time() < deadline, "vms not created"
        items = api.ok("GET", "/v1/vms?limit=1000&fields=id,name")["items"]
        ids = [v["id"] for v in items if v["name"] in names]
        time.sleep(0.01)
    secs = wait_markers([os.path.join(host_dir, i, "console.log") for i in ids], t0)
    api.job(job, timeout=600)
    rss = []
    for i in ids:
        with open(os.path.join(host_dir, i, "qemu.pid")) as f:
            rss.append(rss_mb(int(f.read().strip())))
    agent_rss = rss_mb(agent.proc.pid)
    for i in ids:
        api.job(api.ok("DELETE", "/v1/vms/" + i), timeout=120)
    return secs, rss, agent_rss


def main():
    image_dir = subprocess.run(["bash", os.path.join(HERE, "..", "tests", "images", "build.sh")],
                               capture_output=True, text=True, check=True).stdout.strip()
    image = os.path.join(image_dir, "demo.qcow2")
    cloud, tmp = new_cloud("[scheduler]\ncpu_overcommit = 16\n")
    work = tempfile.mkdtemp(prefix="kumo-bench-plain-")
    try:
        api = cloud.admin
        cloud.add_agent("q", extra=["--driver", "qemu"])
        data = open(image, "rb").read()
        img = api.ok("POST", "/v1/images", {"name": "demo", "format": "qcow2",
                                            "visibility": "public",
                                            "sha256": hashlib.sha256(data).hexdigest()})
        r = requests.post(api.url + "/v1/images/%s/upload" % img["id"], data=data,
                          headers={"Authorization": "Bearer " + api.token,
                                   "Content-Type": "application/octet-stream"})
        assert r.status_code in (200, 201), r.text
        off = api.ok("POST", "/v1/instance-offerings", {"name": "b", "vcpus": 1,
                                                        "memory_mb": MEM, "root_disk_gb": 1})
        # warm-up: the image is fetched into the host's cache once
        kumo_run(cloud, api, img["id"], off["id"], 1, "warm")

        print("| VMs together | plain QEMU: s to marker (median, all VMs) | Kumo: s to marker "
              "| Kumo / plain | target |")
        print("| --- | --- | --- | --- | --- |")
        foot = {}
        for n in (1, N):
            plain, kumo = [], []
            for rnd in range(ROUNDS):
                d = os.path.join(work, "n%d-r%d" % (n, rnd))
                os.makedirs(d)
                p_secs, p_rss = plain_qemu(image, n, d)
                k_secs, k_rss, a_rss = kumo_run(cloud, api, img["id"], off["id"], n,
                                                "b%dr%d" % (n, rnd))
                plain.append(max(p_secs))
                kumo.append(max(k_secs))
                foot[n] = (statistics.mean(p_rss), statistics.mean(k_rss), a_rss)
                shutil.rmtree(d, ignore_errors=True)
            pm, km = statistics.median(plain), statistics.median(kumo)
            print("| %d | %.2f (runs %s) | %.2f (runs %s) | %.2fx | <= 1.15x |" % (
                n, pm, ", ".join("%.2f" % x for x in plain), km,
                ", ".join("%.2f" % x for x in kumo), km / pm), flush=True)
        print()
        print("| VMs running | agent RSS | QEMU RSS per VM, Kumo | QEMU RSS per VM, plain | "
              "guest memory |")
        print("| --- | --- | --- | --- | --- |")
        for n, (p, k, a) in sorted(foot.items()):
            print("| %d | %.1f MB | %.1f MB | %.1f MB | %d MB |" % (n, a, k, p, MEM))
    finally:
        cloud.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
