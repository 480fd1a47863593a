# SPDX-License-Identifier: MIT
"""The datapath kumo-agent builds from a network spec (src/agent/net.h),
without kumod: `kumo-agent net-apply` run inside a network namespace the
test made (a "host"), with namespaces standing in for VMs (nic.netns: a
veth pair whose far end is the VM's eth0). Checked from inside the VM
namespaces: DHCP offers from dnsmasq, DNS answers, pings to the gateway,
to each other and over a VXLAN overlay between two host namespaces; and
from outside: idempotence, removal, --clear, repair of damage, stale
generations, bandwidth limits, VLAN refusal, the time to apply 100 NICs.

net-apply runs under `ip netns exec`, which gives it a private mount
namespace; it goes back to init's so that the service namespaces it makes
(bind mounts under /run/netns) outlive it, which every test relies on.
Nothing here touches the root namespace's interfaces, routes or firewall;
every namespace a test makes (its own, and the kumo-<host x8>-* ones of its
hosts) is deleted when it ends, also on failure.
"""
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import uuid

import pytest

from conftest import AGENT, SLOW, wait_for

PY = "/usr/bin/python3"
PFX = "kt%d" % os.getpid()

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def run(argv, check=True, timeout=60, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise AssertionError("%s: rc %d: %s%s" % (" ".join(argv), r.returncode, r.stdout,
                                                  r.stderr))
    return r


def in_ns(ns, *argv, **kw):
    return run(["ip", "netns", "exec", ns] + list(argv), **kw)


def ns_pids(ns):
    r = run(["ip", "netns", "pids", ns], check=False)
    return [int(p) for p in r.stdout.split()]


def ns_delete(ns):
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in ns_pids(ns):
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        if sig == signal.SIGTERM and ns_pids(ns):
            time.sleep(0.3)
    run(["ip", "netns", "del", ns], check=False)


def netns_list(prefix):
    return sorted(n for n in os.listdir("/run/netns") if n.startswith(prefix)) \
        if os.path.isdir("/run/netns") else []


def links(ns):
    out = run(["ip", "-n", ns, "-d", "-j", "link", "show"]).stdout
    return {l["ifname"]: l for l in json.loads(out or "[]")}


def x8(id_):
    return id_.replace("-", "")[:8]


class Host:
    """A host: a namespace of the test's, an id, a state directory."""

    def __init__(self, lab, name):
        self.lab = lab
        self.ns = lab.ns(name)
        self.id = str(uuid.uuid4())
        self.dir = os.path.join(lab.tmp, name)
        self.gen = 0

    def net_apply(self, *args, check=True):
        argv = ["ip", "netns", "exec", self.ns, AGENT, "net-apply", "--host-id", self.id,
                "--dir", self.dir] + list(args)
        return run(argv, check=check, timeout=120)

    def apply(self, spec, check=True):
        path = os.path.join(self.lab.tmp, "spec-%s.json" % self.ns)
        with open(path, "w") as f:
            json.dump(spec, f)
        return self.net_apply(path, check=check)

    def spec(self, l2=(), l3=(), nics=(), gen=None, underlay=None, sgs=()):
        if gen is None:
            self.gen += 1
            gen = self.gen
        return {"generation": gen, "host_id": self.id, "underlay_ip": underlay,
                "l2": list(l2), "l3": list(l3), "nics": list(nics),
                "security_groups": list(sgs)}

    def svc_ns(self, l3):
        return "kumo-%s-%s" % (x8(self.id), x8(l3["id"]))

    def l3_dir(self, l3):
        return os.path.join(self.dir, "l3-" + l3["id"])

    def dnsmasq_pid(self, l3):
        try:
            pid = int(open(os.path.join(self.l3_dir(l3), "dnsmasq.pid")).read())
            cmd = open("/proc/%d/cmdline" % pid, "rb").read()
            state = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[0]
        except (OSError, ValueError):
            return None
        return pid if b"dnsmasq" in cmd and state not in ("Z", "X") else None


class Lab:
    def __init__(self, tmp):
        self.tmp = tmp
        self.made = []
        self.hosts = []

    def ns(self, name):
        ns = "%s-%s" % (PFX, name)
        ns_delete(ns)
        run(["ip", "netns", "add", ns])
        self.made.append(ns)
        run(["ip", "-n", ns, "link", "set", "lo", "up"])
        return ns

    def host(self, name):
        h = Host(self, name)
        self.hosts.append(h)
        return h

    def cleanup(self):
        for h in self.hosts:
            h.net_apply("--clear", check=False)
        for h in self.hosts:
            for ns in netns_list("kumo-%s-" % x8(h.id)):
                ns_delete(ns)
        for ns in reversed(self.made):
            ns_delete(ns)


@pytest.fixture
def lab():
    tmp = tempfile.mkdtemp(prefix="kumo-netdp-")
    lb = Lab(tmp)
    try:
        yield lb
    finally:
        lb.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
        left = [h for h in lb.hosts if netns_list("kumo-%s-" % x8(h.id))]
        assert not left, "service namespaces left: %r" % left
        assert not netns_list(PFX + "-")


# --- specs ------------------------------------------------------------------

def mk_l2(type_="flat", **kw):
    d = {"id": str(uuid.uuid4()), "type": type_, "physical_interface": None, "vni": None,
         "vlan": None, "mtu": None, "peers": []}
    d.update(kw)
    return d


def mk_l3(l2, cidr, services=("dhcp", "dns"), **kw):
    net = cidr.rsplit(".", 1)[0]
    d = {"id": str(uuid.uuid4()), "l2_id": l2["id"], "name": "n" + x8(l2["id"]),
         "cidr": cidr, "gateway": net + ".1", "gateway_mac": "fa:16:3e:00:00:01",
         "dns": [], "domain": "net%s.kumo" % x8(l2["id"]), "services": list(services),
         "public": False, "hosts": [], "uplink": None, "eips": [], "port_forwards": []}
    d.update(kw)
    return d


def mk_nic(l3, n, netns, **kw):
    net = l3["cidr"].rsplit(".", 1)[0]
    vm = str(uuid.uuid4())
    ip = "%s.%d" % (net, 10 + n)
    d = {"id": str(uuid.uuid4()), "vm_id": vm, "l3_id": l3["id"],
         "mac": "52:54:00:%02x:%02x:%02x" % (n >> 16 & 255, n >> 8 & 255, n & 255),
         "ip": ip, "security_groups": [], "bandwidth_in_kbps": 0, "bandwidth_out_kbps": 0,
         "netns": netns,
         "metadata": {"instance_id": vm, "hostname": "vm%d" % n, "local_ipv4": ip,
                      "public_ipv4": None, "public_keys": [], "user_data": None}}
    d.update(kw)
    return d


def with_hosts(l3, nics):
    l3["hosts"] = [{"name": n["metadata"]["hostname"], "ip": n["ip"]} for n in nics]
    return l3


def tap(nic):
    return "ktp-" + x8(nic["id"])


# --- probes run inside a VM namespace ----------------------------------------

DHCP_CLIENT = r"""
import json, random, socket, struct, sys
mac = bytes.fromhex(sys.argv[1].replace(":", ""))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
s.bind(("0.0.0.0", 68))
s.settimeout(1.0)
xid = random.getrandbits(32)
pkt = struct.pack("!BBBBIHHIIII", 1, 1, 6, 0, xid, 0, 0x8000, 0, 0, 0, 0) + mac \
    + b"\0" * 10 + b"\0" * 192 + b"\x63\x82\x53\x63" + bytes([53, 1, 1, 255])
for _ in range(8):
    s.sendto(pkt, ("255.255.255.255", 67))
    try:
        while True:
            data = s.recv(4096)
            if len(data) > 240 and data[0] == 2 and struct.unpack("!I", data[4:8])[0] == xid:
                raise StopIteration
    except socket.timeout:
        continue
    except StopIteration:
        break
else:
    sys.exit("no DHCP offer")
opts, i = {}, 240
while i < len(data) and data[i] != 255:
    if data[i] == 0:
        i += 1
        continue
    code, ln = data[i], data[i + 1]
    opts[code] = data[i + 2:i + 2 + ln]
    i += 2 + ln
ips = lambda b: [socket.inet_ntoa(b[k:k + 4]) for k in range(0, len(b), 4)]
print(json.dumps({"yiaddr": socket.inet_ntoa(data[16:20]), "type": opts[53][0],
                  "router": ips(opts.get(3, b"")), "dns": ips(opts.get(6, b"")),
                  "mask": ips(opts.get(1, b"")), "domain": opts.get(15, b"").decode()}))
"""

DNS_CLIENT = r"""
import socket, struct, sys
server, name = sys.argv[1], sys.argv[2]
q = struct.pack("!HHHHHH", 0x4b4d, 0x0100, 1, 0, 0, 0) + b"".join(
    bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack("!HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1.0)
for _ in range(5):
    s.sendto(q, (server, 53))
    try:
        r = s.recv(4096)
        break
    except socket.timeout:
        pass
else:
    sys.exit("no DNS answer")
an = struct.unpack("!H", r[6:8])[0]
i = 12
while r[i]:
    i += r[i] + 1
i += 5
out = []
for _ in range(an):
    i += 2 if r[i] & 0xC0 == 0xC0 else len(r[i:].split(b"\0", 1)[0]) + 1
    t, c, ttl, ln = struct.unpack("!HHIH", r[i:i + 10])
    i += 10
    if t == 1:
        out.append(socket.inet_ntoa(r[i:i + 4]))
    i += ln
print(" ".join(out) if out else "NXDOMAIN" if r[3] & 15 == 3 else "none")
"""


GARP_LISTENER = r"""
import socket, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
s.settimeout(0.5)
want, end = socket.inet_aton(sys.argv[1]), time.time() + 8
while time.time() < end:
    try:
        f = s.recv(100)
    except socket.timeout:
        continue
    arp = f[14:]
    if arp[7] == 1 and arp[14:18] == want and arp[24:28] == want:
        print(":".join("%02x" % b for b in arp[8:14]))
        break
"""


def dhcp_offer(vm_ns, mac):
    r = in_ns(vm_ns, PY, "-c", DHCP_CLIENT, mac)
    return json.loads(r.stdout)


def dns_query(vm_ns, server, name):
    return in_ns(vm_ns, PY, "-c", DNS_CLIENT, server, name).stdout.strip()


def ping(ns, ip, count=2):
    return in_ns(ns, "ping", "-c", str(count), "-i", "0.2", "-W", "2", ip,
                 check=False).returncode == 0


def vm_addr(vm_ns, nic, prefix=24):
    run(["ip", "-n", vm_ns, "addr", "add", "%s/%d" % (nic["ip"], prefix), "dev", "eth0"])


# --- tests ------------------------------------------------------------------

def flat_setup(lab, n=2, services=("dhcp", "dns")):
    h = lab.host("h1")
    vms = [lab.ns("vm%d" % (i + 1)) for i in range(n)]
    l2 = mk_l2()
    l3 = mk_l3(l2, "10.77.0.0/24", services)
    nics = [mk_nic(l3, i + 1, vms[i]) for i in range(n)]
    with_hosts(l3, nics)
    return h, vms, l2, l3, nics


def test_flat_l3_dhcp_dns_and_ping(lab):
    h, vms, l2, l3, nics = flat_setup(lab)
    h.apply(h.spec([l2], [l3], nics))

    ls = links(h.ns)
    br = "kbr-" + x8(l2["id"])
    assert ls[br]["linkinfo"]["info_kind"] == "bridge"
    assert ls[br]["linkinfo"]["info_data"]["stp_state"] == 0
    for nic in nics:
        assert ls[tap(nic)]["master"] == br and "UP" in ls[tap(nic)]["flags"]
    assert ls["kns-" + x8(l3["id"])]["master"] == br
    svc = h.svc_ns(l3)
    assert svc in netns_list("kumo-")
    gw = links(svc)["kgw0"]
    assert gw["address"] == l3["gateway_mac"]
    addrs = run(["ip", "-n", svc, "-br", "-4", "addr", "show", "kgw0"]).stdout
    assert "10.77.0.1/24" in addrs
    assert h.dnsmasq_pid(l3)
    dhcp_hosts = open(os.path.join(h.l3_dir(l3), "dhcp-hosts")).read()
    for nic in nics:
        assert "%s,%s,%s" % (nic["mac"], nic["ip"], nic["metadata"]["hostname"]) in dhcp_hosts
    assert oct(os.stat(os.path.join(h.dir, "spec.json")).st_mode & 0o777) == "0o600"

    # each VM is offered its IPAM address, the gateway as router and DNS server
    for vm, nic in zip(vms, nics):
        offer = dhcp_offer(vm, nic["mac"])
        assert offer["type"] == 2, offer
        assert offer["yiaddr"] == nic["ip"], offer
        assert offer["router"] == ["10.77.0.1"] and offer["dns"] == ["10.77.0.1"], offer
        assert offer["mask"] == ["255.255.255.0"] and offer["domain"] == l3["domain"], offer
        vm_addr(vm, nic)

    assert ping(vms[0], "10.77.0.1")
    assert ping(vms[0], nics[1]["ip"])
    assert ping(vms[1], nics[0]["ip"])
    # names of the L3's VMs resolve at the gateway, short and qualified
    assert dns_query(vms[0], "10.77.0.1", "vm2." + l3["domain"]) == nics[1]["ip"]
    assert dns_query(vms[1], "10.77.0.1", "vm1") == nics[0]["ip"]


def test_reapply_is_idempotent_and_removal_removes(lab):
    h, vms, l2, l3, nics = flat_setup(lab, n=3)
    spec = h.spec([l2], [l3], nics)
    h.apply(spec)
    pid = h.dnsmasq_pid(l3)
    svc = h.svc_ns(l3)
    # let the kernel's own late notices of the first apply (a bridge's
    # carrier coming up once its ports are) pass before listening
    time.sleep(1.0 * SLOW)

    mons = [subprocess.Popen(["ip", "-n", ns, "monitor", "link", "address", "route"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            for ns in (h.ns, svc)]
    try:
        time.sleep(0.3)
        t = time.time()
        h.apply(spec)
        took = time.time() - t
        time.sleep(0.3)
    finally:
        for m in mons:
            m.terminate()
    changes = "".join(m.communicate()[0] for m in mons)
    # the kernel's IPv6 link-local addresses of the first apply's links
    # appear once their duplicate address detection ends, late under load:
    # not a change of the re-apply
    kept, skip = [], False
    for line in changes.splitlines():
        if line.startswith((" ", "\t")) and skip:
            continue
        skip = "fe80::" in line
        if not skip:
            kept.append(line)
    changes = "\n".join(kept)
    assert changes == "", "re-applying the same spec changed:\n" + changes
    assert took < 1.0 * SLOW, took
    assert h.dnsmasq_pid(l3) == pid

    # the third NIC goes: its link, its DHCP host line and its name
    gone = nics.pop()
    with_hosts(l3, nics)
    h.apply(h.spec([l2], [l3], nics))
    ls = links(h.ns)
    assert tap(gone) not in ls
    assert all(tap(n) in ls for n in nics)
    assert gone["mac"] not in open(os.path.join(h.l3_dir(l3), "dhcp-hosts")).read()
    # restarted, not reloaded: its in-memory lease of the gone NIC must go too,
    # or the address would not be leased to the next NIC that gets it
    assert h.dnsmasq_pid(l3) not in (None, 0, pid)
    vm_addr(vms[0], nics[0])
    wait_for(lambda: dns_query(vms[0], "10.77.0.1", "vm3." + l3["domain"]) == "NXDOMAIN",
             timeout=5,
             what="vm3's name removed")
    assert dns_query(vms[0], "10.77.0.1", "vm2") == nics[1]["ip"]

    # the L3 goes: its namespace and dnsmasq too
    h.apply(h.spec([l2], [], []))
    assert svc not in netns_list("kumo-")
    assert not any(n.startswith(("ktp-", "kns-")) for n in links(h.ns))
    assert not os.path.exists(h.l3_dir(l3))
    assert not h.dnsmasq_pid(l3)


def test_clear_leaves_nothing(lab):
    h, vms, l2, l3, nics = flat_setup(lab, services=("dhcp", "dns", "metadata"))
    h.apply(h.spec([l2], [l3], nics))
    pid = h.dnsmasq_pid(l3)
    assert pid and netns_list("kumo-%s-" % x8(h.id))
    h.net_apply("--clear")
    assert not [n for n in links(h.ns) if re.match(r"k(br|vx|vl|tp|ns|up)-", n)]
    assert not netns_list("kumo-%s-" % x8(h.id))
    tables = in_ns(h.ns, "nft", "list", "tables").stdout
    assert "kumo_" not in tables, tables
    assert not os.path.exists("/proc/%d/cmdline" % pid) or not h.dnsmasq_pid(l3)
    assert not os.path.exists(os.path.join(h.dir, "spec.json"))
    # the VMs' ends went with their pairs
    for vm in vms:
        assert "eth0" not in links(vm)


def test_restore_repairs_damage(lab):
    h, vms, l2, l3, nics = flat_setup(lab)
    h.apply(h.spec([l2], [l3], nics))
    for vm, nic in zip(vms, nics):
        vm_addr(vm, nic)
    assert ping(vms[0], nics[1]["ip"])
    br = "kbr-" + x8(l2["id"])

    # damage: the bridge, a tap's MTU, dnsmasq, the namespace's address
    run(["ip", "-n", h.ns, "link", "del", br])
    run(["ip", "-n", h.ns, "link", "set", tap(nics[0]), "mtu", "1280"])
    os.kill(h.dnsmasq_pid(l3), signal.SIGKILL)
    run(["ip", "-n", h.svc_ns(l3), "addr", "flush", "dev", "kgw0"])
    run(["ip", "-n", h.ns, "link", "add", "ktp-deadbeef", "type", "bridge"])  # a leftover

    t = time.time()
    h.net_apply("--restore")
    assert time.time() - t < 2 * SLOW
    ls = links(h.ns)
    assert br in ls and "ktp-deadbeef" not in ls
    for nic in nics:
        assert ls[tap(nic)]["master"] == br and ls[tap(nic)]["mtu"] == 1500
    wait_for(lambda: h.dnsmasq_pid(l3), timeout=5, what="dnsmasq again")
    assert ping(vms[0], nics[1]["ip"])
    assert ping(vms[1], "10.77.0.1")
    assert dns_query(vms[0], "10.77.0.1", "vm2") == nics[1]["ip"]


def test_stale_generation_is_ignored(lab):
    h, vms, l2, l3, nics = flat_setup(lab)
    h.apply(h.spec([l2], [l3], nics, gen=50))
    r = h.apply(h.spec([l2], [l3], nics[:1], gen=49))
    assert r.returncode == 0
    assert tap(nics[1]) in links(h.ns)
    h.apply(h.spec([l2], [l3], nics[:1], gen=51))
    assert tap(nics[1]) not in links(h.ns)


def test_bad_spec_is_refused_and_changes_nothing(lab):
    h, vms, l2, l3, nics = flat_setup(lab)
    h.apply(h.spec([l2], [l3], nics))
    before = sorted(links(h.ns))
    bad = h.spec([l2], [l3], nics)
    bad["nics"][0]["netns"] = "x; rm -rf /"
    r = h.apply(bad, check=False)
    assert r.returncode == 1 and "InvalidArgument" in r.stderr and "netns" in r.stderr
    other = h.spec([l2], [l3], nics)
    other["host_id"] = str(uuid.uuid4())
    r = h.apply(other, check=False)
    assert r.returncode == 1 and "is for host" in r.stderr
    assert sorted(links(h.ns)) == before


def test_taps_and_bandwidth(lab):
    h = lab.host("h1")
    l2 = mk_l2()
    l3 = mk_l3(l2, "10.78.0.0/24", services=())
    nic = mk_nic(l3, 1, None, bandwidth_in_kbps=8000)
    h.apply(h.spec([l2], [l3], [nic]))
    t = links(h.ns)[tap(nic)]
    assert t["linkinfo"]["info_kind"] == "tun" and t["linkinfo"]["info_data"]["type"] == "tap"
    assert t["master"] == "kbr-" + x8(l2["id"])
    assert not netns_list("kumo-%s-" % x8(h.id))  # no services: no namespace

    def qdisc():
        out = run(["ip", "netns", "exec", h.ns, "tc", "-j", "qdisc", "show", "dev", tap(nic),
                   "root"]).stdout
        q = json.loads(out or "[]")
        return q[0] if q else {}
    assert qdisc()["kind"] == "tbf" and qdisc()["options"]["rate"] == 1000000
    nic["bandwidth_in_kbps"] = 16000
    h.apply(h.spec([l2], [l3], [nic]))
    assert qdisc()["kind"] == "tbf" and qdisc()["options"]["rate"] == 2000000
    nic["bandwidth_in_kbps"] = 0
    h.apply(h.spec([l2], [l3], [nic]))
    assert qdisc().get("kind") != "tbf"


def test_vlan_without_8021q_is_refused_clearly(lab):
    if os.path.exists("/proc/net/vlan/config") or os.path.exists("/sys/module/8021q"):
        pytest.skip("this kernel has 802.1Q")
    h = lab.host("h1")
    run(["ip", "-n", h.ns, "link", "add", "eth1", "type", "veth", "peer", "name", "eth1p"])
    l2 = mk_l2("vlan", vlan=5, physical_interface="eth1")
    flat = mk_l2()
    l3 = mk_l3(flat, "10.79.0.0/24", services=())
    nic = mk_nic(l3, 1, None)
    r = h.apply(h.spec([l2, flat], [l3], [nic]), check=False)
    assert r.returncode == 1
    assert "NotSupported" in r.stderr and "802.1Q" in r.stderr and l2["id"] in r.stderr
    ls = links(h.ns)
    assert "kvl-" + x8(l2["id"]) not in ls
    assert tap(nic) in ls  # what could be applied was


def test_vxlan_between_two_hosts(lab):
    h1, h2 = lab.host("h1"), lab.host("h2")
    run(["ip", "-n", h1.ns, "link", "add", "ul0", "type", "veth", "peer", "name", "ul0",
         "netns", h2.ns])
    for h, ip in ((h1, "10.201.0.1"), (h2, "10.201.0.2")):
        run(["ip", "-n", h.ns, "addr", "add", ip + "/24", "dev", "ul0"])
        run(["ip", "-n", h.ns, "link", "set", "ul0", "up"])
    vm1, vm2 = lab.ns("vm1"), lab.ns("vm2")
    l2 = mk_l2("vxlan", vni=4242)
    l3 = mk_l3(l2, "10.80.0.0/24", services=("dhcp", "dns"))
    n1, n2 = mk_nic(l3, 1, vm1), mk_nic(l3, 2, vm2)
    with_hosts(l3, [n1, n2])
    h1.apply(h1.spec([dict(l2, peers=["10.201.0.1", "10.201.0.2"])], [l3], [n1],
                     underlay="10.201.0.1"))
    h2.apply(h2.spec([dict(l2, peers=["10.201.0.1", "10.201.0.2"])], [l3], [n2],
                     underlay="10.201.0.2"))

    vx = links(h1.ns)["kvx-" + x8(l2["id"])]
    assert vx["linkinfo"]["info_data"]["id"] == 4242
    assert vx["linkinfo"]["info_data"]["learning"] is False
    assert vx["mtu"] == 1450 and links(vm1)["eth0"]["mtu"] == 1450
    fdb = run(["bridge", "-n", h1.ns, "fdb", "show", "dev", vx["ifname"]]).stdout
    assert "00:00:00:00:00:00 dst 10.201.0.2" in fdb and "dst 10.201.0.1" not in fdb

    # each host serves its own VM (same gateway address on both)
    assert dhcp_offer(vm1, n1["mac"])["yiaddr"] == n1["ip"]
    assert dhcp_offer(vm2, n2["mac"])["yiaddr"] == n2["ip"]
    vm_addr(vm1, n1)
    vm_addr(vm2, n2)
    assert ping(vm1, n2["ip"], count=3)
    assert ping(vm2, n1["ip"])
    assert ping(vm1, "10.80.0.1") and ping(vm2, "10.80.0.1")
    assert dns_query(vm2, "10.80.0.1", "vm1") == n1["ip"]

    # h2 leaves the L2: h1 drops the peer
    h1.apply(h1.spec([dict(l2, peers=["10.201.0.1"])], [l3], [n1], underlay="10.201.0.1"))
    fdb = run(["bridge", "-n", h1.ns, "fdb", "show", "dev", vx["ifname"]]).stdout
    assert "10.201.0.2" not in fdb
    assert not ping(vm1, n2["ip"], count=1)


def test_uplink_leg_of_a_service_namespace(lab):
    h = lab.host("h1")
    out = lab.ns("out")
    pub2 = mk_l2()
    pub = mk_l3(pub2, "203.0.113.0/24", services=(), public=True)
    priv2 = mk_l2()
    priv = mk_l3(priv2, "10.81.0.0/24", services=("dhcp", "snat", "eip"))
    priv["uplink"] = {"l3_id": pub["id"], "l2_id": pub2["id"], "ip": "203.0.113.10",
                      "prefix": 24, "gateway": "203.0.113.1"}
    priv["eips"] = [{"ip": "203.0.113.50", "private_ip": "10.81.0.11"}]
    outside = mk_nic(pub, 1, out, ip="203.0.113.1")
    h.apply(h.spec([pub2, priv2], [pub, priv], [outside]))
    svc = h.svc_ns(priv)
    assert h.svc_ns(pub) not in netns_list("kumo-")  # public: no namespace
    assert links(h.ns)["kup-" + x8(priv["id"])]["master"] == "kbr-" + x8(pub2["id"])
    addrs = run(["ip", "-n", svc, "-br", "-4", "addr", "show", "kup0"]).stdout
    assert "203.0.113.10/24" in addrs and "203.0.113.50/32" in addrs
    route = run(["ip", "-n", svc, "route", "show", "default"]).stdout
    assert "via 203.0.113.1 dev kup0" in route
    vm_addr(out, outside)
    assert ping(svc, "203.0.113.1")

    # a new EIP is announced with a gratuitous ARP (it may have moved here)
    listener = subprocess.Popen(["ip", "netns", "exec", out, PY, "-c", GARP_LISTENER,
                                 "203.0.113.60"], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        priv["eips"] = [{"ip": "203.0.113.60", "private_ip": "10.81.0.12"}]
        h.apply(h.spec([pub2, priv2], [pub, priv], [outside]))
        seen = listener.communicate(timeout=10)[0].strip()
    finally:
        listener.kill()
    assert seen == links(svc)["kup0"]["address"], seen

    # the EIP goes: its address too
    priv["eips"] = []
    h.apply(h.spec([pub2, priv2], [pub, priv], [outside]))
    addrs = run(["ip", "-n", svc, "-br", "-4", "addr", "show", "kup0"]).stdout
    assert "203.0.113.50" not in addrs and "203.0.113.10/24" in addrs


def test_apply_100_nics_under_2s(lab):
    n = 100
    h = lab.host("h1")
    names = ["%s-b%d" % (PFX, i) for i in range(n)]
    run(["ip", "-batch", "-"], input="".join("netns add %s\n" % v for v in names))
    lab.made.extend(names)
    l2 = mk_l2()
    l3 = mk_l3(l2, "10.90.0.0/23", services=("dhcp", "dns", "metadata"))
    nics = [mk_nic(l3, i + 1, names[i]) for i in range(n // 2)]
    nics += [mk_nic(l3, i + 1, None) for i in range(n // 2, n)]  # and taps
    with_hosts(l3, nics)
    spec = h.spec([l2], [l3], nics)
    t = time.time()
    h.apply(spec)
    first = time.time() - t
    t = time.time()
    h.apply(spec)
    again = time.time() - t
    print("apply 100 NICs: %.3f s, again: %.3f s" % (first, again))
    ls = links(h.ns)
    assert sum(1 for v in ls if v.startswith("ktp-")) == n
    assert first < 2.0 * SLOW, first
    assert again < 1.0 * SLOW, again


def test_snat_eip_and_port_forward(lab):
    """The uplink leg carries the L3's NAT (net_nft.c's kumo_nat): a VM
    reaches the outside through SNAT, the outside reaches it through its
    EIP and a port forward."""
    h = lab.host("h1")
    out, vm, vm2 = lab.ns("out"), lab.ns("vm1"), lab.ns("vm2")
    pub2, priv2 = mk_l2(), mk_l2()
    pub = mk_l3(pub2, "203.0.113.0/24", services=(), public=True)
    priv = mk_l3(priv2, "10.82.0.0/24", services=("dhcp", "snat", "eip", "port_forwarding"))
    priv["uplink"] = {"l3_id": pub["id"], "l2_id": pub2["id"], "ip": "203.0.113.10",
                      "prefix": 24, "gateway": "203.0.113.1"}
    nic, nic2 = mk_nic(priv, 1, vm), mk_nic(priv, 2, vm2)
    priv["eips"] = [{"ip": "203.0.113.50", "private_ip": nic["ip"]}]
    priv["port_forwards"] = [{
        "id": str(uuid.uuid4()), "public_ip": "203.0.113.51", "protocol": "tcp",
        "public_port_start": 8080, "public_port_end": 8080, "private_ip": nic2["ip"],
        "private_port_start": 80, "allowed_cidr": "0.0.0.0/0"}]
    outside = mk_nic(pub, 1, out, ip="203.0.113.1")
    h.apply(h.spec([pub2, priv2], [pub, priv], [outside, nic, nic2]))
    vm_addr(out, outside)
    for v, n in ((vm, nic), (vm2, nic2)):
        vm_addr(v, n)
        run(["ip", "-n", v, "route", "add", "default", "via", "10.82.0.1"])
    assert ping(vm2, "203.0.113.1")  # SNAT
    assert ping(out, "203.0.113.50")  # EIP
    server = subprocess.Popen(["ip", "netns", "exec", vm2, PY, "-c",
                               "import socket\n"
                               "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, "
                               "socket.SO_REUSEADDR, 1)\n"
                               "s.bind(('0.0.0.0', 80)); s.listen(1)\n"
                               "c, a = s.accept(); c.sendall(('hi ' + a[0]).encode())\n"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def fetch():
            r = in_ns(out, PY, "-c",
                      "import socket\n"
                      "c = socket.create_connection(('203.0.113.51', 8080), timeout=2)\n"
                      "print(c.recv(100).decode())", check=False)
            return r.stdout.strip()
        assert wait_for(fetch, timeout=10, what="the port forward") == "hi 203.0.113.1"
    finally:
        server.kill()
        server.wait()
