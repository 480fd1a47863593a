# SPDX-License-Identifier: MIT
"""VM networking datapath and apply time (issue 4).

Guests under TCG are too slow to measure a datapath, so network namespaces
stand in for VMs, attached exactly as a VM's tap is: each NIC of the spec
has "netns", and `kumo-agent net-apply` makes it a veth pair whose far end
(eth0, with the NIC's MAC) sits in that namespace, on the Kumo bridge, with
the anti-spoofing, security group and flow chains of a tap. Each Kumo
"host" is a namespace too (the agent runs in it through `nsenter --net`),
so nothing of the machine's own namespace is touched.

Scenarios, measured in the same run (iperf3 TCP, one stream; ping):
  plain veth     two namespaces joined by one veth pair: the reference
  bridge, no SG  a flat L2, the NICs in no security group (anti-spoofing
                 only): what the bridge and the second veth hop cost
  bridge+SG 10   a flat L2, one L3 (service security_group only: no service
                 namespace), client and server VM in one security group of
                 10 rules (egress all, ingress tcp/5201 and icmp from the
                 L3, 7 unrelated ones); the server's ingress is filtered
  bridge+SG 1000 the same with 1,000 rules
  VXLAN+SG 10    two hosts joined by a veth underlay (MTU 1550, so the
                 overlay keeps 1500), a VXLAN L2, one VM on each host
Throughput: this machine's speed drifts by 10-20% within minutes, more than
the differences measured, so every scenario run is paired with a run of the
reference right beside it (reference first in odd rounds, second in even
ones), and runs are short and many (1 s x 30 by default) so that both sides
of a pair see the same machine. The "% of plain veth" printed is the sum
of a scenario's Gbit/s over all rounds divided by the sum of the reference
runs paired with them; the mean of the paired ratios and its standard
error are printed beside it. iperf3's client and server are pinned to
CPUs 0 and 1 in every scenario and the reference alike (NET_PIN=C,S
chooses others, NET_PIN=none pins nothing): unpinned, the plain pair makes
tens of thousands of spurious fast retransmits a second whenever the
client moves between CPUs, and its own throughput swings with them.
Ping: 200 echoes at 10 ms in every fifth round, those rounds pooled.
That the group really filters is checked (a port outside its rules must
time out) before the datapath is measured.

Apply time: a spec with 100 NICs (veth into 100 VM namespaces, created
beforehand and not measured) on one L3 with dhcp, dns, metadata and
security_group, one security group; `net-apply` timed from nothing (cold),
then with one rule changed (warm), five times (clearing in between).

Targets: >= 90% of the plain pair's throughput with 10 rules, >= 85% with
1,000 rules, applying 100 VMs' network in < 2 s.

usage: net.py [SECONDS [ROUNDS]]   (defaults 1, 30; KUMO_BUILD: the build dir;
       NET_PIN=C,S: iperf3's client on CPU C, its server on CPU S; default
       0,1 on a machine with two CPUs or more; NET_PIN=none: not pinned)
Exit status 1 if a scenario could not run (not when a target is missed).
"""
import atexit
import json
import math
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("KUMO_BUILD", os.path.join(HERE, "..", "build"))
AGENT = os.path.abspath(os.path.join(BUILD, "kumo-agent"))
SECONDS = int(sys.argv[1]) if len(sys.argv) > 1 else 1
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 30
PFX = "kb%d-" % os.getpid()
PORT = 5201
CLOSED_PORT = 5299  # in no rule: must be dropped
PINGS = 200
# NET_PIN=C,S pins the iperf3 client to CPU C and its server to CPU S in
# every scenario, the reference included (iperf3 -A); "none": not pinned
PIN = os.environ.get("NET_PIN", "0,1" if (os.cpu_count() or 1) >= 2 else "none")
PIN = "" if PIN == "none" else PIN
PING_EVERY = 5  # rounds
APPLY_VMS = 100
APPLY_ROUNDS = 5

created_ns = []     # our namespaces, deleted at exit
hosts = []          # (host ns, host id, state dir): cleared at exit
servers = []        # iperf3 server processes


# ---- helpers --------------------------------------------------------------

def run(args, ns=None, check=True, timeout=120, input=None):
    argv = (["ip", "netns", "exec", ns] if ns else []) + [str(a) for a in args]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input)
    if check and p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(argv), p.returncode,
                                                (p.stderr or p.stdout).strip()[-800:]))
    return p


def ns_add(name):
    run(["ip", "netns", "add", name])
    created_ns.append(name)
    run(["ip", "link", "set", "lo", "up"], ns=name)
    return name


def ns_kill_all(name):
    p = run(["ip", "netns", "pids", name], check=False, timeout=20)
    for pid in p.stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (OSError, ValueError):
            pass


def ns_del(name):
    ns_kill_all(name)
    run(["ip", "netns", "del", name], check=False, timeout=20)
    if os.path.exists("/run/netns/" + name):  # a name whose mount was lost
        try:
            os.unlink("/run/netns/" + name)
        except OSError:
            pass


def veth(a_ns, a_dev, a_cidr, b_ns, b_dev, b_cidr, mtu=1500):
    """A veth pair between two namespaces, addressed and up."""
    tmp_a, tmp_b = "kbt%da" % os.getpid(), "kbt%db" % os.getpid()
    # made inside a_ns, so that the root namespace never holds it
    run(["ip", "link", "add", tmp_a, "mtu", mtu, "type", "veth", "peer", "name", tmp_b,
         "mtu", mtu, "netns", b_ns], ns=a_ns)
    run(["ip", "link", "set", tmp_a, "name", a_dev], ns=a_ns)
    run(["ip", "link", "set", tmp_b, "name", b_dev], ns=b_ns)
    for ns, dev, cidr in ((a_ns, a_dev, a_cidr), (b_ns, b_dev, b_cidr)):
        if cidr:
            run(["ip", "addr", "add", cidr, "dev", dev], ns=ns)
        run(["ip", "link", "set", dev, "up"], ns=ns)


def link_mtu(ns, dev):
    out = run(["ip", "-j", "link", "show", dev], ns=ns).stdout
    return json.loads(out)[0]["mtu"]


def rand_mac():
    return "fa:16:3e:%02x:%02x:%02x" % tuple(random.randrange(256) for _ in range(3))


def new_id():
    return str(uuid.uuid4())


def agent(host_ns, host_id, state_dir, spec=None, clear=False, timeout=120):
    """Runs net-apply in host_ns; returns (seconds, CompletedProcess)."""
    args = [AGENT, "net-apply", "--host-id", host_id, "--dir", state_dir]
    path = None
    if clear:
        args.append("--clear")
    else:
        fd, path = tempfile.mkstemp(prefix="kumo-bench-spec-", suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(spec, f)
        args.append(path)
    # nsenter --net, not `ip netns exec`: the latter runs the agent in a
    # mount namespace of its own, so the service namespaces the agent
    # creates there (`ip netns add` bind-mounts /run/netns/NAME) would be
    # empty files for every later process, the next net-apply included.
    argv = ["nsenter", "--net=/run/netns/" + host_ns, "--"] + args
    t0 = time.perf_counter()
    try:
        p = run(argv, check=False, timeout=timeout)
    finally:
        if path:
            os.unlink(path)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError("net-apply%s in %s: exit %d: %s" % (
            " --clear" if clear else "", host_ns, p.returncode,
            (p.stderr or p.stdout).strip()[-800:]))
    return dt, p


def new_host(name):
    h = (ns_add(PFX + name), new_id(), tempfile.mkdtemp(prefix="kumo-bench-net-"))
    hosts.append(h)
    # Kumo's groups filter in the bridge family and need no br_netfilter; a
    # host that runs no other firewalled bridge turns its hooks off
    # (docs/OPERATIONS.md, "Networks"). KUMO_BENCH_BRNF=1 keeps them on.
    if os.environ.get("KUMO_BENCH_BRNF") != "1":
        run(["sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=0"], ns=h[0], check=False)
    return h


def cleanup():
    for s in servers:
        if s.poll() is None:
            s.kill()
            s.wait()
    for ns, hid, d in hosts:
        try:
            agent(ns, hid, d, clear=True, timeout=60)
        except Exception as e:  # noqa: BLE001 - best effort, then the namespaces go
            print("cleanup: %s" % e, file=sys.stderr)
    # what the agent started for us and left (dnsmasq of a service namespace)
    dirs = tuple(d for _, _, d in hosts)
    for pid in (x for x in os.listdir("/proc") if x.isdigit()) if dirs else ():
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().decode(errors="replace")
        except OSError:
            continue
        if any(d + "/" in cmd for d in dirs) and int(pid) != os.getpid():
            print("cleanup: process %s left by the agent: %s" % (pid, cmd.replace("\0", " ")),
                  file=sys.stderr)
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
    leftovers = []
    if os.path.isdir("/run/netns"):
        prefixes = tuple(["kumo-%s-" % hid[:8] for _, hid, _ in hosts])
        leftovers = [n for n in os.listdir("/run/netns") if prefixes and n.startswith(prefixes)]
    for n in leftovers:
        print("cleanup: service namespace %s left by the agent" % n, file=sys.stderr)
    for n in leftovers + list(reversed(created_ns)):
        ns_del(n)
    for _, _, d in hosts:
        shutil.rmtree(d, ignore_errors=True)


def on_signal(sig, frame):
    sys.exit(128 + sig)


# ---- specs ----------------------------------------------------------------

def sg_rules(n, l3_cidr, members=None):
    """n rules: egress anywhere, tcp/PORT and icmp from the L3, the rest
    unrelated (other CIDRs and ports); members: also everything from these
    addresses (what kumod adds for "same group")."""
    r = [{"direction": "egress", "protocol": "all", "port_start": 0, "port_end": 65535,
          "cidr": "0.0.0.0/0", "remote_group_members": None},
         {"direction": "ingress", "protocol": "tcp", "port_start": PORT, "port_end": PORT,
          "cidr": l3_cidr, "remote_group_members": None},
         {"direction": "ingress", "protocol": "icmp", "port_start": 0, "port_end": 65535,
          "cidr": l3_cidr, "remote_group_members": None}]
    if members:
        r.append({"direction": "ingress", "protocol": "all", "port_start": 0,
                  "port_end": 65535, "cidr": None, "remote_group_members": members})
    i = 0
    while len(r) < n:
        proto = "tcp" if i % 2 == 0 else "udp"
        port = 10000 + i
        r.append({"direction": "ingress", "protocol": proto, "port_start": port,
                  "port_end": port + (i % 3), "cidr": "100.%d.%d.0/24" % (64 + i // 256, i % 256),
                  "remote_group_members": None})
        i += 1
    return r


def spec_of(host_id, gen, l2, l3, nics, sgs, underlay=None):
    return {"generation": gen, "host_id": host_id, "underlay_ip": underlay,
            "l2": [l2], "l3": [l3], "nics": nics, "security_groups": sgs}


def l2_flat():
    return {"id": new_id(), "type": "flat", "physical_interface": None, "vni": None,
            "vlan": None, "mtu": None, "peers": []}


def l3_of(l2, cidr, services, host_ips):
    net = cidr.rsplit(".", 1)[0]
    lid = new_id()
    return {"id": lid, "l2_id": l2["id"], "name": "bench", "cidr": cidr,
            "gateway": net + ".1", "gateway_mac": "02:" + ":".join(
                lid.replace("-", "")[2 * i:2 * i + 2] for i in range(5)),
            "dns": ["192.0.2.53"], "domain": "bench.kumo", "services": services,
            "public": False, "hosts": [{"name": n, "ip": ip} for n, ip in host_ips],
            "uplink": None, "eips": [], "port_forwards": []}


def nic_of(l3, ip, netns, sg_ids, name):
    vm = new_id()
    return {"id": new_id(), "vm_id": vm, "l3_id": l3["id"], "mac": rand_mac(), "ip": ip,
            "security_groups": sg_ids, "bandwidth_in_kbps": 0, "bandwidth_out_kbps": 0,
            "netns": netns,
            "metadata": {"instance_id": vm, "hostname": name, "local_ipv4": ip,
                         "public_ipv4": None, "public_keys": [], "user_data": None}}


def vm_up(nic, prefix):
    """What a guest's DHCP client would do: its address on eth0, up."""
    ns = nic["netns"]
    run(["ip", "addr", "replace", "%s/%d" % (nic["ip"], prefix), "dev", "eth0"], ns=ns)
    run(["ip", "link", "set", "eth0", "up"], ns=ns)


# ---- measurements -----------------------------------------------------------

class Pair:
    """A client namespace and a server address to measure."""

    def __init__(self, label, client_ns, server_ns, server_ip, target=None):
        self.label, self.client, self.server, self.ip = label, client_ns, server_ns, server_ip
        self.target = target  # fraction of the reference, or None
        self.gbps, self.pings, self.cpu, self.error, self.note = [], [], [], None, ""
        self.ref_gbps = []  # the reference run right beside each of gbps
        self.mtu = None

    def start_server(self):
        s = subprocess.Popen(["ip", "netns", "exec", self.server, "iperf3", "-s", "-p", str(PORT)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        servers.append(s)
        deadline = time.time() + 10
        while ":%d " % PORT not in run(["ss", "-Hltn"], ns=self.server).stdout:
            if time.time() > deadline or s.poll() is not None:
                raise RuntimeError("iperf3 server did not start in %s" % self.server)
            time.sleep(0.05)

    def check_reachable(self):
        p = run(["ping", "-c", "3", "-i", "0.2", "-W", "1", self.ip], ns=self.client,
                check=False, timeout=20)
        if " 0% packet loss" not in p.stdout and " 0.0% packet loss" not in p.stdout:
            # the first echo may be lost to ARP on a cold path: one more try
            p = run(["ping", "-c", "3", "-i", "0.2", "-W", "1", self.ip], ns=self.client,
                    check=False, timeout=20)
            if p.returncode != 0:
                raise RuntimeError("%s: %s does not answer ping from %s: %s" % (
                    self.label, self.ip, self.client, p.stdout.strip().splitlines()[-1:]))

    def check_filtered(self):
        """A TCP port in no rule must be dropped (timeout), not refused."""
        p = run(["timeout", "2", "bash", "-c", "exec 3<>/dev/tcp/%s/%d" % (self.ip, CLOSED_PORT)],
                ns=self.client, check=False, timeout=20)
        if p.returncode != 124:
            raise RuntimeError("%s: the security group does not filter: tcp/%d to %s was %s" % (
                self.label, CLOSED_PORT, self.ip,
                "refused (it reached the server)" if "refused" in p.stderr else
                "answered (%d: %s)" % (p.returncode, p.stderr.strip())))

    def iperf(self):
        last = None
        for attempt in range(3):
            p = run(["iperf3", "-c", self.ip, "-p", PORT, "-t", SECONDS, "-J"] +
                    (["-O", "1"] if SECONDS >= 3 else []) +
                    (["-A", PIN] if PIN else []), ns=self.client, check=False,
                    timeout=SECONDS + 60)
            try:
                j = json.loads(p.stdout)
            except ValueError:
                j = {"error": (p.stderr or p.stdout).strip()[-300:]}
            if "error" not in j and p.returncode == 0:
                end = j["end"]
                self.gbps.append(end["sum_received"]["bits_per_second"] / 1e9)
                cpu = end.get("cpu_utilization_percent", {})
                self.cpu.append((cpu.get("host_total", 0.0), cpu.get("remote_total", 0.0)))
                return
            last = j["error"]
            time.sleep(1)  # "the server is busy": the previous test is still closing
        raise RuntimeError("%s: iperf3: %s" % (self.label, last))

    def ping(self):
        p = run(["ping", "-c", PINGS, "-i", "0.01", "-W", "1", self.ip], ns=self.client,
                check=False, timeout=PINGS + 30)
        self.pings += [float(t) for t in re.findall(r"time=([\d.]+) ms", p.stdout)]
        lost = PINGS - len(re.findall(r"time=([\d.]+) ms", p.stdout))
        if lost > PINGS // 10:
            raise RuntimeError("%s: %d of %d pings lost" % (self.label, lost, PINGS))

    def ratios(self):
        return [g / r for g, r in zip(self.gbps, self.ref_gbps)]

    def median(self):
        return statistics.median(self.gbps) if self.gbps else None

    def ping_stats(self):
        if not self.pings:
            return None, None
        s = sorted(self.pings)
        return statistics.mean(s), s[max(0, math.ceil(0.99 * len(s)) - 1)]


def build_reference(name, mtu):
    a, b = ns_add(PFX + name + "c"), ns_add(PFX + name + "s")
    veth(a, "eth0", "10.201.%d.1/24" % (mtu % 250), b, "eth0", "10.201.%d.2/24" % (mtu % 250), mtu)
    p = Pair("plain veth" + ("" if mtu == 1500 else " mtu %d" % mtu), a, b,
             "10.201.%d.2" % (mtu % 250))
    p.mtu = mtu
    return p


def build_bridge(nrules, subnet):
    """Scenario 2/3: one host, flat L2, two VMs in one group of nrules rules."""
    hns, hid, d = new_host("h%d" % nrules)
    cidr = "10.%d.0.0/24" % subnet
    net = cidr.rsplit(".", 1)[0]
    c_ns, s_ns = ns_add(PFX + "v%dc" % nrules), ns_add(PFX + "v%ds" % nrules)
    l2 = l2_flat()
    l3 = l3_of(l2, cidr, ["security_group"], [("client", net + ".10"), ("server", net + ".11")])
    sgs = [{"id": new_id(), "rules": sg_rules(nrules, cidr)}] if nrules else []
    ids = [g["id"] for g in sgs]
    nics = [nic_of(l3, net + ".10", c_ns, ids, "client"),
            nic_of(l3, net + ".11", s_ns, ids, "server")]
    dt, _ = agent(hns, hid, d, spec_of(hid, 1, l2, l3, nics, sgs))
    for n in nics:
        vm_up(n, 24)
    if nrules:
        p = Pair("bridge+SG %d rules" % nrules, c_ns, s_ns, net + ".11",
                 target=0.90 if nrules <= 10 else 0.85)
    else:  # NICs in no group: the bridge and anti-spoofing only
        p = Pair("bridge, no SG", c_ns, s_ns, net + ".11")
        p.unfiltered = True
    p.host = hns
    p.mtu = link_mtu(s_ns, "eth0")
    brnf = run(["sysctl", "-n", "net.bridge.bridge-nf-call-iptables"], ns=hns, check=False)
    p.note = "applied in %.2f s; bridge-nf-call-iptables=%s" % (dt, brnf.stdout.strip() or "?")
    return p


def build_vxlan(nrules, subnet):
    """Scenario 4: two hosts, underlay veth at MTU 1550, a VXLAN L2."""
    h1, h2 = new_host("x1"), new_host("x2")
    ul = ("10.203.0.1", "10.203.0.2")
    veth(h1[0], "ul0", ul[0] + "/24", h2[0], "ul0", ul[1] + "/24", 1550)
    cidr = "10.%d.0.0/24" % subnet
    net = cidr.rsplit(".", 1)[0]
    c_ns, s_ns = ns_add(PFX + "vxc"), ns_add(PFX + "vxs")
    l2 = {"id": new_id(), "type": "vxlan", "physical_interface": None,
          "vni": 4000 + os.getpid() % 10000, "vlan": None, "mtu": None, "peers": []}
    l3 = l3_of(l2, cidr, ["security_group"], [("client", net + ".10"), ("server", net + ".11")])
    sg = {"id": new_id(), "rules": sg_rules(nrules, cidr)}
    nc = nic_of(l3, net + ".10", c_ns, [sg["id"]], "client")
    ns_ = nic_of(l3, net + ".11", s_ns, [sg["id"]], "server")
    times = []
    for (hns, hid, d), me, peer, nic in ((h1, ul[0], ul[1], nc), (h2, ul[1], ul[0], ns_)):
        l2h = dict(l2, peers=[peer])
        dt, _ = agent(hns, hid, d, spec_of(hid, 1, l2h, l3, [nic], [sg], underlay=me))
        times.append(dt)
        vm_up(nic, 24)
    p = Pair("VXLAN+SG %d rules" % nrules, c_ns, s_ns, net + ".11")
    p.host = h2[0]
    p.mtu = link_mtu(s_ns, "eth0")
    p.note = "applied in %s s; underlay MTU 1550" % " + ".join("%.2f" % t for t in times)
    return p


def apply_bench():
    """Scenario 5: 100 VMs' network on one host, cold and warm."""
    hns, hid, d = new_host("ap")
    cidr = "10.205.0.0/24"
    net = "10.205.0"
    vms = [ns_add(PFX + "a%d" % i) for i in range(APPLY_VMS)]
    ips = ["%s.%d" % (net, 10 + i) for i in range(APPLY_VMS)]
    l2 = l2_flat()
    l3 = l3_of(l2, cidr, ["dhcp", "dns", "metadata", "security_group"],
               [("vm%d" % i, ip) for i, ip in enumerate(ips)])
    sg = {"id": new_id(), "rules": sg_rules(10, cidr, members=ips)}
    nics = [nic_of(l3, ip, vms[i], [sg["id"]], "vm%d" % i) for i, ip in enumerate(ips)]
    gen = [0]

    def spec(rule_port):
        gen[0] += 1
        s = json.loads(json.dumps(sg))
        s["rules"][-1]["port_start"] = s["rules"][-1]["port_end"] = rule_port
        return spec_of(hid, gen[0], l2, l3, nics, [s])

    cold, warm, noop, clear = [], [], [], []
    for r in range(APPLY_ROUNDS):
        if r:
            clear.append(agent(hns, hid, d, clear=True)[0])
        cold.append(agent(hns, hid, d, spec(20000))[0])
        if r == 0:
            check_apply(hns, nics)
        warm.append(agent(hns, hid, d, spec(20001 + r))[0])
        noop.append(agent(hns, hid, d, spec(20001 + r))[0])
    return {"cold": cold, "warm": warm, "noop": noop, "clear": clear, "host": hns}


def check_apply(hns, nics):
    """What a cold apply of 100 NICs must have made: every VM's eth0 on the
    bridge, a service namespace running dnsmasq."""
    links = json.loads(run(["ip", "-j", "link", "show"], ns=hns).stdout)
    ports = [ln for ln in links if ln["ifname"].startswith("ktp-")]
    if len(ports) != len(nics):
        raise RuntimeError("apply: %d NIC ports in the host namespace, want %d" % (
            len(ports), len(nics)))
    for n in (nics[0], nics[-1]):
        mac = json.loads(run(["ip", "-j", "link", "show", "eth0"], ns=n["netns"]).stdout)[0]
        if mac["address"].lower() != n["mac"]:
            raise RuntimeError("apply: eth0 in %s has MAC %s, want %s" % (
                n["netns"], mac["address"], n["mac"]))


# ---- main -------------------------------------------------------------------

def main():
    if os.geteuid() != 0:
        sys.exit("net.py: needs root (namespaces, bridges, nftables)")
    if not os.access(AGENT, os.X_OK):
        sys.exit("net.py: no %s (make, or KUMO_BUILD)" % AGENT)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    atexit.register(cleanup)
    print("net: %s, kernel %s, %d CPUs, iperf3 TCP 1 stream %d s x %d rounds%s, prefix %s" % (
        AGENT, os.uname().release, os.cpu_count(), SECONDS, ROUNDS,
        ", pinned (client,server CPUs %s)" % PIN if PIN else "", PFX), flush=True)

    failed = []
    ref = build_reference("r", 1500)
    pairs = [ref]
    builders = [("bridge, no SG", lambda: build_bridge(0, 207)),
                ("bridge+SG 10 rules", lambda: build_bridge(10, 202)),
                ("bridge+SG 1000 rules", lambda: build_bridge(1000, 206)),
                ("VXLAN+SG 10 rules", lambda: build_vxlan(10, 204))]
    for label, b in builders:
        try:
            pairs.append(b())
        except Exception as e:  # noqa: BLE001 - reported, the others still run
            print("%s: could not be set up: %s" % (label, e), flush=True)
            failed.append((label, str(e)))
    # a reference at the overlay's MTU when it is not the plain pair's
    for p in list(pairs):
        if p.mtu and p.mtu != 1500 and not any(q.mtu == p.mtu and q is not p and
                                               q.label.startswith("plain") for q in pairs):
            pairs.insert(1, build_reference("m", p.mtu))

    live = []
    for p in pairs:
        try:
            p.start_server()
            p.check_reachable()
            if not p.label.startswith("plain") and not getattr(p, "unfiltered", False):
                p.check_filtered()
            live.append(p)
        except Exception as e:  # noqa: BLE001
            print("%s: %s" % (p.label, e), flush=True)
            p.error = str(e)
            failed.append((p.label, str(e)))
    if ref not in live:
        print("the reference does not work: nothing to compare with")
        return 1

    refs_by_mtu = dict((p.mtu, p) for p in live if p.label.startswith("plain"))
    others = [p for p in live if not p.label.startswith("plain")]
    for r in range(ROUNDS):
        # the order turns each round, so that no scenario always follows another
        order = others[r % len(others):] + others[:r % len(others)] if others else []
        for p in order:
            if p.error:
                continue
            ref_p = refs_by_mtu.get(p.mtu) or ref
            try:
                first, second = (ref_p, p) if r % 2 == 0 else (p, ref_p)
                first.iperf()
                second.iperf()
                if r % PING_EVERY == 0:
                    p.ping()
                p.ref_gbps.append(ref_p.gbps[-1])
                print("round %d: %-22s %6.2f Gbit/s, reference beside it %6.2f: %5.1f%%" % (
                    r + 1, p.label, p.gbps[-1], ref_p.gbps[-1], 100 * p.ratios()[-1]), flush=True)
            except Exception as e:  # noqa: BLE001
                print("%s: %s" % (p.label, e), flush=True)
                p.error = str(e)
                failed.append((p.label, str(e)))
        for q in refs_by_mtu.values() if r % PING_EVERY == 0 else ():
            try:
                q.ping()
            except Exception as e:  # noqa: BLE001
                print("%s: %s" % (q.label, e), flush=True)

    for p in live:
        if p.label.startswith("bridge") and not p.error:
            p.nft = run(["nft", "list", "ruleset"], ns=p.host, check=False).stdout

    apply = None
    try:
        apply = apply_bench()
    except Exception as e:  # noqa: BLE001
        print("apply 100 VMs: %s" % e, flush=True)
        failed.append(("apply 100 VMs", str(e)))

    print()
    print("| scenario | MTU | Gbit/s median (min–max) | % of plain veth: sum over the "
          "paired sums (mean of paired ratios ± standard error) | ping avg ms | ping p99 ms "
          "| target | result |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for p in pairs:
        if p.error or not p.gbps:
            print("| %s | %s | could not run: %s | | | | %s | — |" % (
                p.label, p.mtu or "?", (p.error or "")[:200],
                "≥ %d%%" % round(p.target * 100) if p.target else "—"))
            continue
        m = p.median()
        ratios = p.ratios()
        if ratios:
            pct = 100.0 * sum(p.gbps) / sum(p.ref_gbps)
            se = (100.0 * statistics.stdev(ratios) / math.sqrt(len(ratios))
                  if len(ratios) > 1 else 0.0)
            pcts = "%.1f%% (%.1f%% ± %.1f, %d pairs)" % (
                pct, 100.0 * statistics.mean(ratios), se, len(ratios))
        else:
            pct, pcts = 100.0, "100%"
        avg, p99 = p.ping_stats()
        if p.label.startswith("plain"):
            target, result = "reference", "—"
        elif p.target:
            target = "≥ %d%%" % round(p.target * 100)
            result = "**met**" if pct >= p.target * 100 else "**not met**"
        else:
            target, result = "— (reported)", "—"
        print("| %s | %d | %.2f (%.1f–%.1f) | %s | %.3f | %.3f | %s | %s |" % (
            p.label, p.mtu, m, min(p.gbps), max(p.gbps), pcts, avg, p99, target, result))
    for label, err in failed:
        if not any(p.label == label for p in pairs):
            print("| %s | | could not run: %s | | | | | — |" % (label, err[:200]))
    if apply:
        med = statistics.median
        for k, what in (("cold", "from nothing"), ("warm", "one rule changed"),
                        ("noop", "the same spec again")):
            v = apply[k]
            tgt = "< 2 s" if k == "cold" else ("< 1 s (rule change)" if k == "warm" else "—")
            ok = (med(v) < 2.0) if k == "cold" else (med(v) < 1.0 if k == "warm" else None)
            print("| apply %d VMs, %s | | %.3f s (%s) | | | | %s | %s |" % (
                APPLY_VMS, what, med(v), "/".join("%.3f" % x for x in v), tgt,
                "—" if ok is None else ("**met**" if ok else "**not met**")))
        if apply["clear"]:
            print("(clearing the 100 VMs' network took %s s)" % "/".join(
                "%.3f" % x for x in apply["clear"]))
    print()
    for p in live:
        if p.gbps:
            cpu = p.cpu[len(p.cpu) // 2] if p.cpu else (0, 0)
            print("%s: %s%s" % (p.label, "iperf3 CPU sender/receiver %.0f%%/%.0f%%" % cpu,
                                "; " + p.note if p.note else ""))
    for p in live:
        if getattr(p, "nft", None):
            n = sum(1 for ln in p.nft.splitlines() if ln.strip())
            print("%s: `nft list ruleset` in the host namespace: %d lines" % (p.label, n))
    if failed:
        print("\nnot measured: %s" % "; ".join(label for label, _ in failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
