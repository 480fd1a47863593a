# SPDX-License-Identifier: MIT
"""Batch create: VMs through the API onto sim hosts, from the first request to
all running. Targets (issue 2): 1,000 VMs on 100 hosts < 10 s (ZStack
publishes 103 s); 10,000 VMs on 1,000 hosts < 100 s (ZStack: 11 min)."""
import sys

from benchlib import create_vms, new_cloud

CASES = [(1000, 100), (10000, 1000)]
if len(sys.argv) > 1:
    CASES = [tuple(int(x) for x in a.split("/")) for a in sys.argv[1:]]

print("| VMs | sim hosts | seconds to all running | VMs/s |")
print("| --- | --- | --- | --- |")
for vms, hosts in CASES:
    cloud, tmp = new_cloud()
    try:
        cloud.add_agent("b", hosts=hosts, extra=["--sim-delay-ms", "200", "--sim-cpus", "64",
                                                  "--sim-memory-mb", "262144"])
        b = cloud.basics()
        secs, running = create_vms(cloud, b, vms)
        assert running == vms, (running, vms)
        print("| %d | %d | %.1f | %.0f |" % (vms, hosts, secs, vms / secs), flush=True)
    finally:
        cloud.stop()
