# SPDX-License-Identifier: MIT
"""Runs the DMTF Redfish-Service-Validator against an agent's Redfish service
and against kumod's aggregator, offline (--schema_directory ../shared's
CSDL), and prints the pass/warn/fail counts of each.

The validator is not part of Kumo and is never committed: bring it yourself
(git clone https://github.com/DMTF/Redfish-Service-Validator, with its
Python dependencies: the redfish library, redfish_utilities, colorama,
openpyxl, jsonpatch, jsonpath_ng...) and name its directory:

    bench/redfish_validate.sh /path/to/Redfish-Service-Validator

PYTHONPATH is passed through to it (for dependencies kept outside the
system's site-packages). The node: a real kumod and a real kumo-agent (one
simulated host with the thermal model, two VMs), as tests/e2e/rfnode.py
starts them, started hot (55 C ambient, coolant at 57 C) so that the
node log, the alarms and the conditions have entries to validate;
everything is stopped at the end.
"""
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
from rfnode import RfNode  # noqa: E402

SHARED = os.path.abspath(os.path.join(HERE, "..", "..", "shared", "redfish"))


def validate(validator, url, user, password, logdir):
    p = subprocess.run([sys.executable, "RedfishServiceValidator.py", "-u", user, "-p", password,
                        "-r", url, "--schema_directory", os.path.join(SHARED, "csdl"),
                        "--logdir", logdir], cwd=validator, capture_output=True, text=True,
                       timeout=1800)
    out = p.stdout + p.stderr
    m = re.search(r"\|\s*PASS\s*\|\s*WARN\s*\|\s*FAIL\s*\|\s*NOT TESTED\s*\|\s*\n"
                  r"\+[-+]+\+\s*\n\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|", out)
    fails = [ln.strip() for ln in out.splitlines() if "FAIL" in ln and "Fail: 0" not in ln
             and "PASS" not in ln][:40]
    return (tuple(int(x) for x in m.groups()) if m else None), fails, out


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: redfish_validate.py VALIDATOR_DIR")
    validator = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="kumo-rfval-")
    # started hot, so that the log, alarms and conditions have something in them
    node = RfNode(tmp, thermal="ambient_c = 55\nsolar = 1\ncoolant0_c = 57\n").start()
    rc = 0
    try:
        b = node.cloud.basics()
        for i, prio in ((1, 10), (2, 90)):
            job = node.cloud.admin.ok("POST", "/v1/vms", {
                "name": "v%d" % i, "image_id": b["image"], "instance_offering_id": b["offering"],
                "l3_network_ids": [b["l3"]], "priority": prio})
            node.cloud.admin.job(job, timeout=60)
        kumod_pw = node.cloud.kumod.password
        for name, url, user, pw in (("agent", node.base, "admin", node.password),
                                    ("kumod aggregator", node.cloud.kumod.url, "admin", kumod_pw)):
            counts, fails, out = validate(validator, url, user, pw, os.path.join(tmp, "logs"))
            if counts is None:
                print("%s: the validator gave no summary:\n%s" % (name, out[-3000:]))
                rc = 1
                continue
            print("%s (%s): PASS %d, WARN %d, FAIL %d, NOT TESTED %d" % ((name, url) + counts))
            for f in fails:
                print("   ", f)
            rc |= counts[2] != 0
    finally:
        node.stop()
    return rc


if __name__ == "__main__":
    sys.exit(main())
