# SPDX-License-Identifier: MIT
"""The kumo CLI end to end: build/kumo run as a subprocess against a real
kumod (and a sim agent where VMs are needed), with its saved login in a
private KUMO_CONFIG_DIR."""
import ipaddress
import json
import os
import stat
import subprocess

import pytest

from conftest import CLI, SLOW, image_file


class Kumo:
    """Runs build/kumo with its own config dir and a clean environment."""

    def __init__(self, cloud):
        self.cloud = cloud
        self.url = cloud.kumod.url
        self.dir = os.path.join(cloud.tmp, "kumo-config")  # login makes it
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("KUMO_")}
        self.env["KUMO_CONFIG_DIR"] = self.dir
        self.pwfile = os.path.join(cloud.tmp, "admin.pw")
        fd = os.open(self.pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(cloud.kumod.password + "\n")

    def run(self, *args, stdin=None):
        return subprocess.run([CLI] + list(args), env=self.env, input=stdin,
                              capture_output=True, text=True, timeout=120 * SLOW)

    def ok(self, *args):
        p = self.run(*args)
        assert p.returncode == 0, "kumo %s -> %d\n%s%s" % (" ".join(args), p.returncode,
                                                          p.stdout, p.stderr)
        return p.stdout

    def json(self, *args):
        return json.loads(self.ok("-o", "json", *args))

    def login(self):
        return self.run("login", "--url", self.url, "--account", "admin", "--user", "admin",
                        "--password-file", self.pwfile)


@pytest.fixture
def kumo(cloud):
    k = Kumo(cloud)
    p = k.login()
    assert p.returncode == 0, p.stderr
    return k


def table(text):
    """A table printed by kumo: (header words, rows as lists of cells)."""
    lines = [l for l in text.splitlines() if l.strip()]
    return lines[0].split(), [l.split() for l in lines[1:]]


# --- login --------------------------------------------------------------------------

def test_login_saves_credentials_0600_used_by_later_commands(cloud):
    k = Kumo(cloud)
    p = k.login()
    assert p.returncode == 0, p.stderr
    assert "admin" in p.stdout + p.stderr
    creds = os.path.join(k.dir, "credentials")
    assert stat.S_IMODE(os.stat(k.dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(creds).st_mode) == 0o600
    with open(creds) as f:
        saved = f.read()
    assert cloud.kumod.password not in saved
    assert k.url in saved
    # later commands need neither --url nor a password
    me = k.json("whoami")
    assert (me["account"], me["user"], me["role"]) == ("admin", "admin", "admin")

    # a wrong password: exit 1, the API's error code on stderr, nothing saved over
    bad = os.path.join(cloud.tmp, "bad.pw")
    fd = os.open(bad, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("not-the-password\n")
    p = k.run("login", "--url", k.url, "--account", "admin", "--user", "admin",
              "--password-file", bad)
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert "Unauthenticated" in p.stderr
    assert k.json("whoami")["user"] == "admin"

    # logout forgets the session: the token is revoked
    k.ok("logout")
    p = k.run("--url", k.url, "whoami")
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    assert "Unauthenticated" in p.stderr


# --- tables and JSON -------------------------------------------------------------------

def test_zone_create_list_table_and_raw_json(kumo):
    out = kumo.ok("zone", "create", "--name", "z", "--description", "first")
    assert "z" in out.split()
    head, rows = table(kumo.ok("zone", "list"))
    assert head[:3] == ["ID", "NAME", "STATE"]
    names = [r[1] for r in rows]
    assert "z" in names
    z = rows[names.index("z")]
    assert z[2] == "enabled"

    # -o json prints the API's answer as it is, before or after the command
    for args in (("-o", "json", "zone", "list"), ("zone", "list", "-o", "json"),
                 ("zone", "list", "--output", "json")):
        doc = json.loads(kumo.ok(*args))
        assert set(doc) == {"items", "total"}
        assert doc["total"] == len(doc["items"])
        zones = {i["name"]: i for i in doc["items"]}
        assert zones["z"]["description"] == "first"
        assert zones["z"]["id"] == z[0]
    one = kumo.json("zone", "get", "z")
    assert (one["id"], one["name"]) == (z[0], "z")


# --- building blocks and VMs, by name ----------------------------------------------------

def test_vm_lifecycle_with_names_resolved(kumo, cloud):
    cloud.add_agent("cli", hosts=2, extra=["--sim-delay-ms", "30"])
    api = cloud.admin
    kumo.ok("zone", "create", "--name", "z")
    off = kumo.json("offering", "create", "--name", "small", "--vcpus", "2",
                    "--memory-mb", "256", "--root-disk-gb", "3")
    img = kumo.json("image", "upload", image_file(cloud.tmp, "tiny", "qcow2"), "--name", "tiny",
                    "--visibility", "public")
    # the hosts registered into zone "default": the network goes there, so
    # that VMs on it are placed on those hosts
    l2 = kumo.json("l2", "create", "--name", "lan", "--zone", "default", "--type", "vlan",
                   "--vlan", "42", "--physical-interface", "eth1")
    assert l2["zone_id"] == api.ok("GET", "/v1/zones?q=name=default")["items"][0]["id"]
    l3 = kumo.json("l3", "create", "--name", "net", "--l2", "lan", "--cidr", "192.168.50.0/24",
                   "--ip-range", "192.168.50.10-192.168.50.20")
    assert l3["l2_network_id"] == l2["id"]
    assert l3["ip_ranges"] == [{"start": "192.168.50.10", "end": "192.168.50.20"}]

    # -o json with --wait: the finished job as the API gives it, the VM in its result
    job = kumo.json("vm", "create", "--name", "v", "--image", "tiny", "--offering", "small",
                    "--l3", "net", "--wait")
    assert (job["type"], job["state"]) == ("vm.create", "succeeded")
    vm = job["result"]
    assert vm["state"] == "running"
    got = api.ok("GET", "/v1/vms/%s" % vm["id"])
    assert got["state"] == "running"
    assert got["image_id"] == img["id"]
    assert got["instance_offering_id"] == off["id"]
    assert (got["vcpus"], got["memory_mb"], got["root_disk_gb"]) == (2, 256, 3)
    assert [n["l3_network_id"] for n in got["nics"]] == [l3["id"]]
    ip = ipaddress.ip_address(got["nics"][0]["ip"])
    assert ipaddress.ip_address("192.168.50.10") <= ip <= ipaddress.ip_address("192.168.50.20")

    kumo.ok("vm", "create", "--name", "b", "--count", "5", "--image", "tiny", "--offering",
            "small", "--l3", "net", "--wait")
    made = api.ok("GET", "/v1/vms?q=name~=b-%")["items"]
    assert sorted(v["name"] for v in made) == ["b-%d" % i for i in range(1, 6)]
    assert {v["state"] for v in made} == {"running"}

    head, rows = table(kumo.ok("vm", "list", "--q", "state=running", "--fields", "id,name"))
    assert head == ["ID", "NAME"]
    assert all(len(r) == 2 for r in rows)
    assert sorted(r[1] for r in rows) == ["b-1", "b-2", "b-3", "b-4", "b-5", "v"]
    assert {r[0] for r in rows} == {v["id"] for v in made} | {vm["id"]}

    kumo.ok("vm", "stop", "v", "--wait")
    assert api.ok("GET", "/v1/vms/%s" % vm["id"])["state"] == "stopped"
    head, rows = table(kumo.ok("vm", "list", "--q", "state=running", "--fields", "id,name"))
    assert sorted(r[1] for r in rows) == ["b-1", "b-2", "b-3", "b-4", "b-5"]

    head, rows = table(kumo.ok("job", "list", "--limit", "1000"))
    assert head[:3] == ["ID", "TYPE", "STATE"]
    kinds = [(r[1], r[2]) for r in rows]
    assert ("vm.stop", "succeeded") in kinds
    assert ("vm.create_batch", "succeeded") in kinds
    assert kinds.count(("vm.create", "succeeded")) == 6
    jobs = kumo.json("job", "list", "--q", "type=vm.stop")
    assert [j["resource_id"] for j in jobs["items"]] == [vm["id"]]

    head, rows = table(kumo.ok("event", "list", "--limit", "1000"))
    assert "TYPE" in head
    col = head.index("TYPE")
    types = [r[col] for r in rows]
    assert "vm.state" in types and "zone.created" in types
    evs = kumo.json("event", "list", "--limit", "1000")["items"]
    stopped = [e for e in evs if e["type"] == "vm.state" and e["resource_id"] == vm["id"]
               and (e["data"] or {}).get("state") == "stopped"]
    assert len(stopped) == 1

    kumo.ok("vm", "delete", "v", "--wait")
    assert api.get("/v1/vms/%s" % vm["id"]).status_code == 404
    assert api.ok("GET", "/v1/l3-networks/%s" % l3["id"])["ip_used"] == 5


# --- exit codes -------------------------------------------------------------------------

def test_exit_codes_api_errors_1_with_code_usage_2_unreachable_3(kumo, cloud):
    # 1: the API answered an error; its code is on stderr
    p = kumo.run("vm", "get", "nope")
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert "NotFound" in p.stderr
    kumo.ok("zone", "create", "--name", "dup")
    p = kumo.run("zone", "create", "--name", "dup")
    assert p.returncode == 1 and "Conflict" in p.stderr, (p.returncode, p.stderr)
    p = kumo.run("offering", "create", "--name", "zero", "--vcpus", "0", "--memory-mb", "64")
    assert p.returncode == 1 and "InvalidArgument" in p.stderr, (p.returncode, p.stderr)
    assert cloud.admin.ok("GET", "/v1/instance-offerings?q=name=zero")["total"] == 0

    # 1: a job that failed on the host
    cloud.add_agent("doom", extra=["--sim-delay-ms", "20", "--sim-fail-match", "doomed"])
    cloud.basics()
    p = kumo.run("vm", "create", "--name", "doomed", "--image", "demo", "--offering", "small",
                 "--l3", "net", "--wait")
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    assert "SimulatedFailure" in p.stderr
    assert cloud.admin.ok("GET", "/v1/vms?q=name=doomed")["items"][0]["state"] == "error"

    # 2: usage errors, nothing sent
    for args in (("vm", "create", "--bogus"), ("nosuchcommand",), ("vm", "frobnicate"),
                 ("vm", "create", "--count", "many", "--name", "x", "--image", "demo"),
                 ("vm", "get")):
        p = kumo.run(*args)
        assert p.returncode == 2, (args, p.returncode, p.stderr)
        assert p.stderr.strip(), args
    assert cloud.admin.ok("GET", "/v1/vms?q=name=x")["total"] == 0

    # 3: nobody listens there
    p = kumo.run("--url", "http://127.0.0.1:1", "zone", "list")
    assert p.returncode == 3, (p.returncode, p.stderr)


# --- completion -------------------------------------------------------------------------

def test_completion_bash_is_valid_bash(kumo, cloud):
    out = kumo.ok("completion", "bash")
    assert "complete" in out and "kumo" in out
    path = os.path.join(cloud.tmp, "kumo.bash")
    with open(path, "w") as f:
        f.write(out)
    p = subprocess.run(["bash", "-n", path], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    # and, sourced, it completes the commands and a verb's flags
    script = ('source %s; COMP_WORDS=(kumo vm cr); COMP_CWORD=2; COMP_LINE="kumo vm cr"; '
              'COMP_POINT=${#COMP_LINE}; _kumo 2>/dev/null || __kumo 2>/dev/null; '
              'printf "%%s\\n" "${COMPREPLY[@]}"' % path)
    fn = [l for l in out.splitlines() if l.startswith("complete ")]
    assert fn, "no complete -F line"
    func = fn[-1].split("-F")[1].split()[0]
    script = script.replace("_kumo 2>/dev/null || __kumo 2>/dev/null", func)
    p = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["create"], p.stdout
    p = subprocess.run(["bash", "-c", script.replace("(kumo vm cr)", "(kumo vm create --ima)")
                        .replace('"kumo vm cr"', '"kumo vm create --ima"')
                        .replace("COMP_CWORD=2", "COMP_CWORD=3")],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "--image" in p.stdout.split(), p.stdout
