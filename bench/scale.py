# SPDX-License-Identifier: MIT
"""Scale: 1,000 sim hosts connected with 5 s heartbeats; kumod's CPU and RSS
in steady state. Target (issue 2): < 10% of one core, < 200 MB RSS."""
import os
import sys
import time

from benchlib import cpu_ticks, new_cloud, rss_mb

HOSTS = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
WINDOW = int(sys.argv[2]) if len(sys.argv) > 2 else 60
HZ = os.sysconf("SC_CLK_TCK")

cloud, tmp = new_cloud()
try:
    cloud.add_agent("s", hosts=HOSTS, extra=["--heartbeat-interval", "5"])
    time.sleep(10)  # let registration and first reconciliations settle
    pid = cloud.kumod.proc.pid
    t0, c0 = time.time(), cpu_ticks(pid)
    time.sleep(WINDOW)
    t1, c1 = time.time(), cpu_ticks(pid)
    cpu = 100.0 * (c1 - c0) / HZ / (t1 - t0)
    connected = cloud.connected_hosts()
    print("| hosts connected | window | kumod CPU (% of one core) | kumod RSS |")
    print("| --- | --- | --- | --- |")
    print("| %d | %d s | %.1f%% | %.0f MB |" % (connected, WINDOW, cpu, rss_mb(pid)))
finally:
    cloud.stop()
