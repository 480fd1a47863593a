# SPDX-License-Identifier: MIT
"""The datapath of kumo_l2 and kumo_sg (src/agent/net_nft.c), for real.

Everything happens in network namespaces this test creates (kt<pid>-*) and
deletes in a finalizer, also on failure; the root namespace is not touched
(except that br_netfilter is loaded, as the agent does). A "host"
namespace holds a bridge kbr-<l2> with three veth "NIC" ports ktp-<nic>,
whose other ends are eth0 in three "VM" namespaces, attached exactly as a
VM's tap is. The host script comes from the real generator: the test
compiles a small driver (DRIVER below) against the objects of the build
under test ($KUMO_BUILD/obj: agent/net_nft.o and common/*.o), because the
Makefile builds no binary that prints the scripts. Then it checks, with
Python sockets inside the VM namespaces: a forged source address is
dropped; a port that no rule opens is unreachable from outside the group
and opens when a rule is added (script regenerated and reloaded); replies
of established connections pass; members of one group reach each other;
1,000 rules load and lookups still decide right; open TCP and UDP flows
outlive the rules that let them in, and open nothing beyond themselves.
"""
import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

BUILD = os.environ.get("KUMO_BUILD") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", "build"))
PY = "/usr/bin/python3"

DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <jansson.h>
#include "agent/net_nft.h"
int main(int argc, char **argv)
{
	char err[512] = "";
	json_error_t je;
	json_t *spec = argc == 2 ? json_load_file(argv[1], 0, &je) : NULL;
	char *s = spec ? nft_host_script(spec, err, sizeof(err)) : NULL;

	if (!s) {
		fprintf(stderr, "%s\n", spec ? err : "usage: nft_dump SPEC.json");
		return 1;
	}
	fputs(s, stdout);
	free(s);
	json_decref(spec);
	return 0;
}
"""

PKGS = ["libmicrohttpd", "jansson", "sqlite3", "libsodium", "inih", "uuid", "libcurl", "gnutls"]

L2 = "2a2b3c4d-0000-4000-8000-000000000001"
L3 = "3a2b3c4d-0000-4000-8000-000000000001"
SG_WEB = "5a2b3c4d-0000-4000-8000-000000000001"
SG_OTHER = "5b2b3c4d-0000-4000-8000-000000000001"
BRIDGE = "kbr-" + L2[:8]
# name: (nic id, mac, ip, groups)
VMS = {
    "a": ("4a000000-0000-4000-8000-000000000001", "52:54:00:aa:00:05", "10.0.0.5", [SG_WEB]),
    "b": ("4b000000-0000-4000-8000-000000000001", "52:54:00:aa:00:06", "10.0.0.6", [SG_WEB]),
    "c": ("4c000000-0000-4000-8000-000000000001", "52:54:00:aa:00:07", "10.0.0.7", [SG_OTHER]),
}


def sh(*args, check=True, timeout=30, **kw):
    return subprocess.run(list(args), check=check, timeout=timeout, capture_output=True,
                          text=True, **kw)


def need_root():
    if os.geteuid() != 0:
        pytest.skip("the datapath test needs root (network namespaces)")
    for tool in ("ip", "nft", "cc", "pkg-config"):
        if not shutil.which(tool):
            pytest.skip("%s is not installed" % tool)


@pytest.fixture(scope="module")
def dump(tmp_path_factory):
    """The driver binary that prints nft_host_script(SPEC)."""
    need_root()
    objs = [os.path.join(BUILD, "obj", "agent", "net_nft.o")]
    common = os.path.join(BUILD, "obj", "common")
    if not os.path.exists(objs[0]) or not os.path.isdir(common):
        pytest.fail("%s is missing: build first (make all)" % objs[0])
    objs += sorted(os.path.join(common, f) for f in os.listdir(common) if f.endswith(".o"))
    d = tmp_path_factory.mktemp("nftdump")
    src, out = str(d / "nft_dump.c"), str(d / "nft_dump")
    with open(src, "w") as f:
        f.write(DRIVER)
    libs = sh("pkg-config", "--libs", *PKGS).stdout.split()
    src_dir = os.path.join(os.path.dirname(__file__), "..", "..", "src")
    # objects of a SANITIZE=1 build need the sanitizers' runtimes
    san = ["-fsanitize=address,undefined"] if "build-san" in BUILD else []
    sh("cc", "-std=gnu11", "-D_GNU_SOURCE", *san, "-I" + src_dir, "-o", out, src, *objs,
       *libs, "-lpthread", "-lm", timeout=120)
    return out


def sg(sid, rules):
    return {"id": sid, "rules": rules}


def rule(direction, proto, cidr=None, members=None, ports=None):
    r = {"direction": direction, "protocol": proto, "cidr": cidr,
         "remote_group_members": members}
    if ports:
        r["port_start"], r["port_end"] = ports
    return r


def default_rules(members):
    """What kumod gives a new group: ingress from its members, egress all."""
    return [rule("ingress", "all", members=members), rule("egress", "all", cidr="0.0.0.0/0")]


def spec(extra_web_rules=(), other_rules=None):
    members = [VMS["a"][2], VMS["b"][2]]
    groups = [sg(SG_WEB, default_rules(members) + list(extra_web_rules)),
              sg(SG_OTHER, other_rules if other_rules is not None
                 else default_rules([VMS["c"][2]]))]
    return {
        "generation": int(time.time() * 1e6), "host_id": "11111111-0000-4000-8000-000000000001",
        "underlay_ip": "10.99.0.1",
        "l2": [{"id": L2, "type": "vxlan", "vni": 4242, "physical_interface": None, "vlan": None,
                "mtu": None, "peers": []}],
        "l3": [{"id": L3, "l2_id": L2, "name": "t", "cidr": "10.0.0.0/24", "gateway": "10.0.0.1",
                "gateway_mac": "fa:16:3e:00:00:01", "dns": [], "domain": "t.kumo",
                "services": ["dhcp", "dns", "security_group"], "public": False, "hosts": [],
                "uplink": None, "eips": [], "port_forwards": []}],
        "nics": [{"id": nid, "vm_id": nid, "l3_id": L3, "mac": mac, "ip": ip,
                  "security_groups": groups_of, "bandwidth_in_kbps": 0,
                  "bandwidth_out_kbps": 0, "netns": None, "metadata": None}
                 for nid, mac, ip, groups_of in VMS.values()],
        "security_groups": groups,
    }


class Net:
    """The namespaces of one test run."""

    def __init__(self, dump, tmp):
        self.dump, self.tmp = dump, tmp
        p = "kt%d-" % os.getpid()
        self.host = p + "h"
        self.vm = {k: p + k for k in VMS}
        self.created = []
        self.procs = []

    def ns(self, name):
        sh("ip", "netns", "add", name)
        self.created.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")

    def setup(self):
        self.ns(self.host)
        sh("ip", "-n", self.host, "link", "add", BRIDGE, "type", "bridge")
        sh("ip", "-n", self.host, "link", "set", BRIDGE, "up")
        for k, (nid, mac, ip, _) in VMS.items():
            self.ns(self.vm[k])
            port = "ktp-" + nid[:8]
            sh("ip", "-n", self.host, "link", "add", port, "type", "veth", "peer", "name", "eth0",
               "netns", self.vm[k])
            sh("ip", "-n", self.host, "link", "set", port, "master", BRIDGE, "up")
            sh("ip", "-n", self.vm[k], "link", "set", "eth0", "address", mac, "up")
            sh("ip", "-n", self.vm[k], "addr", "add", ip + "/24", "dev", "eth0")
        # br_netfilter: the agent loads it and sets this in the host netns
        sh("modprobe", "br_netfilter", check=False)
        if sh("ip", "netns", "exec", self.host, "sysctl", "-w",
              "net.bridge.bridge-nf-call-iptables=1", check=False).returncode != 0:
            pytest.skip("no br_netfilter in this kernel")

    def load(self, s):
        path = os.path.join(self.tmp, "spec.json")
        with open(path, "w") as f:
            json.dump(s, f)
        script = sh(self.dump, path).stdout
        with open(os.path.join(self.tmp, "host.nft"), "w") as f:
            f.write(script)
        t0 = time.monotonic()
        r = sh("ip", "netns", "exec", self.host, "nft", "-f", os.path.join(self.tmp, "host.nft"),
               check=False, timeout=60)
        assert r.returncode == 0, r.stderr
        return script, time.monotonic() - t0

    def run(self, vm, code, *args, timeout=20):
        return sh("ip", "netns", "exec", self.vm[vm], PY, "-c", code, *map(str, args),
                  check=False, timeout=timeout)

    def serve(self, vm, proto, port):
        """An echo server in vm; stopped at teardown."""
        p = subprocess.Popen(["ip", "netns", "exec", self.vm[vm], PY, "-c", SERVER, proto,
                              str(port)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True)
        self.procs.append(p)
        assert p.stdout.readline().strip() == "ready"
        return p

    def tcp(self, src, dst, port):
        """True when src connects to dst's echo server and gets its echo."""
        r = self.run(src, CLIENT, VMS[dst][2], port)
        return r.returncode == 0

    def close(self):
        for p in self.procs:
            p.kill()
            p.wait()
        for name in reversed(self.created):
            sh("ip", "netns", "del", name, check=False)


SERVER = r"""
import socket, sys, threading
proto, port = sys.argv[1], int(sys.argv[2])
if proto in ("tcp", "tcpkeep"):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(16)
    print("ready", flush=True)

    def keep(c):
        while True:
            data = c.recv(100)
            if not data:
                break
            c.sendall(data)
    while True:
        c, _ = s.accept()
        if proto == "tcp":
            c.sendall(c.recv(100)); c.close()
        else:
            threading.Thread(target=keep, args=(c,), daemon=True).start()
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", port))
    print("ready", flush=True)
    while True:
        data, peer = s.recvfrom(100)
        if proto == "udpecho":
            s.sendto(data, peer)
        else:
            print(data.decode(), peer[0], flush=True)
"""

CLIENT = r"""
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1.5)
s.sendall(b"kumo"); assert s.recv(100) == b"kumo"
"""

UDP_SEND = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[5]) if len(sys.argv) > 5 else 0))
s.sendto(sys.argv[4].encode(), (sys.argv[2], int(sys.argv[3])))
"""

UDP_ASK = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[4]))); s.settimeout(1.5)
s.sendto(b"ask", (sys.argv[2], int(sys.argv[3]))); assert s.recv(100) == b"ask"
"""

# one connection, kept open: each line on stdin is sent and its echo checked
KEEP = r"""
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1.5)
for line in sys.stdin:
    try:
        s.sendall(line.strip().encode()); print(s.recv(100).decode() == line.strip(), flush=True)
    except OSError:
        print(False, flush=True)
"""


@pytest.fixture
def net(dump):
    tmp = tempfile.mkdtemp(prefix="kumo-nft-")
    n = Net(dump, tmp)
    try:
        n.setup()
        yield n
    finally:
        n.close()
        shutil.rmtree(tmp, ignore_errors=True)


def received(proc, want, timeout=2.0):
    """Lines the UDP server printed until want came (or timeout)."""
    import select
    got = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([proc.stdout], [], [], deadline - time.monotonic())
        if not r:
            break
        line = proc.stdout.readline().strip()
        got.append(line)
        if line.startswith(want):
            break
    return got


def test_anti_spoofing(net):
    # c's group lets everything in: only the anti-spoofing decides
    net.load(spec(other_rules=[rule("ingress", "all", cidr="0.0.0.0/0"),
                               rule("egress", "all", cidr="0.0.0.0/0")]))
    udp = net.serve("c", "udp", 9000)
    # a takes an address that is not its own; its neighbour entry for c is
    # static, so that nothing but the forged source address decides (ARP
    # from a forged address is dropped too)
    sh("ip", "-n", net.vm["a"], "addr", "add", "10.0.0.99/32", "dev", "eth0")
    sh("ip", "-n", net.vm["a"], "neigh", "replace", VMS["c"][2], "lladdr", VMS["c"][1],
       "dev", "eth0")
    assert net.run("a", UDP_SEND, "10.0.0.99", VMS["c"][2], 9000, "forged").returncode == 0
    assert net.run("a", UDP_SEND, VMS["a"][2], VMS["c"][2], 9000, "honest").returncode == 0
    got = received(udp, "honest")
    assert got and got[-1] == "honest " + VMS["a"][2], got
    assert not any(g.startswith("forged") for g in got), got
    # a forged MAC with the right address is dropped too
    sh("ip", "-n", net.vm["a"], "link", "set", "eth0", "address", "52:54:00:aa:00:99")
    net.run("a", UDP_SEND, VMS["a"][2], VMS["c"][2], 9000, "forgedmac")
    sh("ip", "-n", net.vm["a"], "link", "set", "eth0", "address", VMS["a"][1])
    net.run("a", UDP_SEND, VMS["a"][2], VMS["c"][2], 9000, "honest2")
    got = received(udp, "honest2")
    assert got and got[-1].startswith("honest2"), got
    assert not any(g.startswith("forgedmac") for g in got), got
    # IPv6 is not IPv4 or ARP: dropped at the port
    rules = sh("ip", "netns", "exec", net.host, "nft", "list", "chain", "bridge", "kumo_l2",
               "nic_in").stdout
    assert "drop" in rules


def test_security_groups(net):
    net.load(spec())
    net.serve("a", "tcp", 8000)
    net.serve("c", "tcp", 7000)
    # same group: members reach each other
    assert net.tcp("b", "a", 8000)
    # c is in another group: nothing opens a's port 8000 to it
    assert not net.tcp("c", "a", 8000)
    # established replies pass: a (egress all) connects to c, whose group
    # lets its own members in only, so c's port 7000 needs a rule for a
    assert not net.tcp("a", "c", 7000)
    other = default_rules([VMS["c"][2]]) + [rule("ingress", "tcp", cidr="10.0.0.5/32",
                                                 ports=(7000, 7000))]
    net.load(spec(other_rules=other))
    assert net.tcp("a", "c", 7000)  # the reply to a is not in a's ingress rules
    # a rule opens the port, after a reload
    web = [rule("ingress", "tcp", cidr="10.0.0.0/24", ports=(8000, 8000))]
    net.load(spec(extra_web_rules=web, other_rules=other))
    assert net.tcp("c", "a", 8000)
    assert net.tcp("b", "a", 8000)
    # ICMP through the protocol . port set (th dport reads ICMP's header)
    ping = ["ip", "netns", "exec", net.vm["c"], "ping", "-c1", "-W1", VMS["a"][2]]
    assert sh(*ping, check=False).returncode != 0
    web.append(rule("ingress", "icmp", cidr="10.0.0.7/32"))
    net.load(spec(extra_web_rules=web, other_rules=other))
    assert sh(*ping, check=False).returncode == 0
    # the rule removed: closed again
    net.load(spec(other_rules=other))
    assert not net.tcp("c", "a", 8000)


def test_thousand_rules(net):
    # 1,000 rules from other networks, overlapping port ranges, then the one for c
    web = [rule("ingress", "tcp" if i % 3 else "udp",
                cidr="172.%d.%d.0/24" % (16 + i % 16, i // 16), ports=(1000 + i, 1000 + i + i % 40))
           for i in range(1000)]
    web.append(rule("ingress", "tcp", cidr="10.0.0.7/32", ports=(8000, 8000)))
    script, took = net.load(spec(extra_web_rules=web))
    assert script.count("@sg_%s_in" % SG_WEB[:8]) == 2  # one lookup in each member's chain
    net.serve("a", "tcp", 8000)
    net.serve("a", "tcp", 8001)
    assert net.tcp("c", "a", 8000)
    assert not net.tcp("c", "a", 8001)
    assert net.tcp("b", "a", 8001)
    assert took < 5, "loading 1,000 rules took %.1f s" % took


def test_open_flows_outlive_rule_changes(net):
    """kumo_flow remembers what the groups allowed: a connection opened
    under a rule goes on after the rule is gone, a UDP reply passes as a
    reply, and neither opens anything beyond its own flow."""
    a, c = VMS["a"][2], VMS["c"][2]
    opened = default_rules([c]) + [rule("ingress", "tcp", cidr=a + "/32", ports=(7000, 7000)),
                                   rule("ingress", "udp", cidr=a + "/32", ports=(9001, 9001))]
    net.load(spec(other_rules=opened))
    net.serve("c", "tcpkeep", 7000)
    net.serve("c", "udpecho", 9001)
    heard = net.serve("a", "udp", 9500)
    keep = subprocess.Popen(["ip", "netns", "exec", net.vm["a"], PY, "-c", KEEP, c, "7000"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    net.procs.append(keep)

    def say(word):
        keep.stdin.write(word + "\n")
        keep.stdin.flush()
        return keep.stdout.readline().strip()

    assert say("one") == "True"
    # c's answer comes back although a's group lets in its members only
    assert net.run("a", UDP_ASK, a, c, 9001, 40001).returncode == 0
    # the reply's entry is that flow only: from 9001 to another port of a, nothing
    net.run("c", UDP_SEND, c, a, 9500, "sneak", 9001)
    net.run("b", UDP_SEND, VMS["b"][2], a, 9500, "member")
    got = received(heard, "member")
    assert got and got[-1].startswith("member"), got
    assert not any(g.startswith("sneak") for g in got), got
    # the rules that opened c are gone: new flows are refused ...
    net.load(spec())
    assert not net.tcp("a", "c", 7000)
    assert net.run("a", UDP_ASK, a, c, 9001, 40002).returncode != 0
    # ... and the open ones go on, both ways
    assert say("two") == "True"
    assert net.run("a", UDP_ASK, a, c, 9001, 40001).returncode == 0


# kumo_flow as agents before 2026-11-22 left it (never replaced, so it is
# still there on a host that upgrades)
OLD_FLOW = """
table bridge kumo_flow {
	set flows {
		typeof iifname . ip daddr . meta l4proto . th sport . th dport
		size 262144
		flags dynamic,timeout
	}
	set echoes {
		typeof iifname . ip daddr . icmp id
		size 65536
		flags dynamic,timeout
	}
	set ports {
		type ifname
		elements = { "ktp-4a000000" }
	}
	chain pre {
		type filter hook forward priority filter - 10; policy accept;
		iifname @ports goto track
	}
	chain track {
		meta l4proto tcp iifname . ip daddr . meta l4proto . tcp sport . tcp dport @flows meta mark set meta mark | 0x01000000
	}
	chain post {
		type filter hook forward priority filter + 10; policy accept;
		meta mark & 0x04000000 == 0x04000000 add @flows { iifname . ip daddr . meta l4proto . tcp sport . tcp dport timeout 1h }
	}
}
"""


def test_upgrade_from_the_old_flow_table(net):
    """The first apply on a host with the old kumo_flow layout replaces it
    (in the same transaction) and the groups work as on a new host."""
    path = os.path.join(net.tmp, "old.nft")
    with open(path, "w") as f:
        f.write(OLD_FLOW)
    sh("ip", "netns", "exec", net.host, "nft", "-f", path)
    net.load(spec())
    flow = sh("ip", "netns", "exec", net.host, "nft", "list", "table", "bridge",
              "kumo_flow").stdout
    for gone in ("set flows {", "set echoes {", "set ports {", "chain track {"):
        assert gone not in flow, flow
    for new in ("set flows_tcp {", "set flows_udp {", "set flows_echo {"):
        assert new in flow, flow
    net.serve("a", "tcp", 8000)
    assert net.tcp("b", "a", 8000)
    assert not net.tcp("c", "a", 8000)
    net.load(spec())  # and again, on the new layout


def test_a_foreign_mark_does_not_pass_for_a_known_flow(net):
    """Bits 24..27 of the mark are Kumo's on bridged frames: a frame that
    someone else marked with them before kumo_flow still meets the groups."""
    net.load(spec())
    net.serve("a", "tcp", 8000)
    assert not net.tcp("c", "a", 8000)
    sh("ip", "netns", "exec", net.host, "nft", "-f", "-", input=(
        "table bridge t_other {\n"
        "\tchain pre {\n"
        "\t\ttype filter hook prerouting priority -300; policy accept;\n"
        "\t\tmeta mark set 0x0f000000\n"
        "\t}\n"
        "}\n"))
    assert not net.tcp("c", "a", 8000)
    assert net.tcp("b", "a", 8000)
