# SPDX-License-Identifier: MIT
"""Real VM networks (issue 4), end to end: kumod, two kumo-agents with the
qemu driver, each in a network namespace this test made ("test hosts"),
and demo guests under TCG.

Topology, all inside namespaces of this test:
  ul   the underlay: a bridge joining eth0 of h1 (10.250.0.1) and h2
       (10.250.0.2); VXLAN runs over it
  out  the outside world: bridge with 203.0.113.1 (the public L3's
       gateway) and a web server; pub0 of h1 and h2 is its port on
       each host (the public flat L2's physical interface)
The VMs: neta on h1, netb on h2, on a VXLAN L3 with every service. Their
user-data scripts serve HTTP on 8080 and report, every two seconds, what
they can reach (marker lines on the serial console, read through the
API as a user would)."""
import os
import re
import subprocess
import time

import pytest

from conftest import AGENT, Agent, Cloud, wait_for
from netns import (Forwarder, Netns, assert_no_test_netns, links, netns_list, nft_tables,
                   remove_kumo_netns, veth)
from test_qemu import BOOT, upload

SCRIPT = r"""#!/bin/sh
# secret: SECRET-%(me)s
me=%(me)s peer=%(peer)s
# busybox wget -T crashes (1.35): bound it with timeout instead
get() { timeout "$1" wget -q -O- "$2" 2>/dev/null; }
while ! ip -4 addr show eth0 | grep -q inet; do sleep 1; done
mkdir -p /tmp/www && echo "hello-from-$me" >/tmp/www/index.html
httpd -p 8080 -h /tmp/www
md=http://169.254.169.254
echo "META-ID $(get 5 $md/latest/meta-data/instance-id)"
echo "META-IP $(get 5 $md/latest/meta-data/local-ipv4)"
ud=$(get 5 $md/latest/user-data)
case "$ud" in *SECRET-$me*) echo "META-UD-OWN" ;; esac
case "$ud" in *SECRET-$peer*) echo "META-UD-LEAK" ;; esac
echo "META-OS $(get 5 $md/openstack/latest/meta_data.json | grep -o '"uuid": *"[^"]*"')"
while :; do
  a=$(nslookup $peer 2>/dev/null | awk '/^Address/ { a = $NF } END { print a }')
  a=${a%%#*}
  echo "NS $peer ${a:-none}"
  if [ -n "$a" ] && ping -c 1 -W 2 $a >/dev/null 2>&1; then echo "PING-OK $peer"; else echo "PING-FAIL $peer"; fi
  if [ -n "$a" ] && get 3 http://$a:8080/ | grep -q hello-from-$peer; then
    echo "HTTP-OK $peer"; else echo "HTTP-FAIL $peer"; fi
  if get 4 http://203.0.113.1:8000/outside.txt | grep -q OUTSIDE; then
    echo "OUTSIDE-OK"; else echo "OUTSIDE-FAIL"; fi
  sleep 2
done
"""


class NsAgent(Agent):
    """An agent with the qemu driver inside a test host's namespace."""

    def __init__(self, kumod, tmp, name, ns, address):
        super().__init__(kumod, tmp, name, 1, ["--driver", "qemu", "--address", address])
        self.ns = ns

    def start(self):
        # nsenter, not `ip netns exec`: that one gives its command a private
        # mount namespace, where the namespaces the agent adds would vanish
        args = ["nsenter", "--net=/run/netns/" + self.ns.name, "--", AGENT, "--server",
                self.kumod.url,
                "--join-token-file", self.kumod.join_token_file, "--data-dir", self.dir,
                "--name", self.name] + self.extra
        self.proc = subprocess.Popen(args, stdout=open(self.log, "ab"),
                                     stderr=subprocess.STDOUT)
        return self


class World:
    def __init__(self, tmp, image_dir):
        self.ns = {}
        self.fwd = []
        self.cloud = None
        self.tmp = tmp
        self.www = None
        try:
            self._build(tmp, image_dir)
        except BaseException:
            self.stop()
            raise

    def _build(self, tmp, image_dir):
        for n in ("ul", "out", "h1", "h2"):
            self.ns[n] = Netns(n)
        ul, out = self.ns["ul"], self.ns["out"]
        ul.ip("link", "add", "br0", "type", "bridge")
        ul.ip("link", "set", "br0", "up")
        out.ip("link", "add", "br0", "type", "bridge")
        out.ip("addr", "add", "203.0.113.1/24", "dev", "br0")
        out.ip("link", "set", "br0", "up")
        for i, h in ((1, "h1"), (2, "h2")):
            host = self.ns[h]
            veth(host, "eth0", ul, "u%d" % i, mtu=1550)
            ul.ip("link", "set", "u%d" % i, "master", "br0")
            host.ip("addr", "add", "10.250.0.%d/24" % i, "dev", "eth0")
            veth(host, "pub0", out, "p%d" % i)
            out.ip("link", "set", "p%d" % i, "master", "br0")
        self.www = os.path.join(tmp, "www")
        os.makedirs(self.www, exist_ok=True)
        with open(os.path.join(self.www, "outside.txt"), "w") as f:
            f.write("OUTSIDE\n")
        self.web = out.popen(["/usr/bin/python3", "-m", "http.server", "--bind",
                              "203.0.113.1", "--directory", self.www, "8000"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        self.cloud = Cloud(tmp).start()
        api = self.api = self.cloud.admin
        for h in ("h1", "h2"):
            self.fwd.append(Forwarder(self.ns[h].name, self.cloud.kumod.port))
        self.agents = {}
        for i, h in ((1, "h1"), (2, "h2")):
            a = NsAgent(self.cloud.kumod, tmp, "net" + h, self.ns[h], "10.250.0.%d" % i).start()
            self.cloud.agents.append(a)
            self.agents[h] = a
        wait_for(lambda: self.cloud.connected_hosts("net") >= 2, timeout=30,
                 what="both test hosts to connect")
        self.hosts = {}
        for h in api.ok("GET", "/v1/hosts")["items"]:
            for want in ("neth1", "neth2"):
                if h["name"].startswith(want):
                    self.hosts[want] = h
        img, r = upload(api, os.path.join(image_dir, "demo.qcow2"), "demo", "qcow2")
        assert r.status_code in (200, 201), r.text
        self.image = img["id"]
        self.offering = api.ok("POST", "/v1/instance-offerings", {
            "name": "tiny", "vcpus": 1, "memory_mb": 192, "root_disk_gb": 1})["id"]
        zone = api.ok("GET", "/v1/zones")["items"]
        zone_id = zone[0]["id"] if zone else api.ok("POST", "/v1/zones", {"name": "z"})["id"]
        self.pub_l2 = api.ok("POST", "/v1/l2-networks", {
            "name": "public", "zone_id": zone_id, "type": "flat",
            "physical_interface": "pub0"})
        self.pub = api.ok("POST", "/v1/l3-networks", {
            "name": "internet", "l2_network_id": self.pub_l2["id"], "cidr": "203.0.113.0/24",
            "gateway": "203.0.113.1", "public": True, "shared": True, "services": [],
            "ip_ranges": [{"start": "203.0.113.10", "end": "203.0.113.99"}]})
        self.l2 = api.ok("POST", "/v1/l2-networks", {
            "name": "overlay", "zone_id": zone_id, "type": "vxlan", "vni": 4242})
        self.l3 = api.ok("POST", "/v1/l3-networks", {
            "name": "private", "l2_network_id": self.l2["id"], "cidr": "10.60.0.0/24",
            "uplink_l3_network_id": self.pub["id"],
            "services": ["dhcp", "dns", "snat", "eip", "port_forwarding", "security_group",
                         "metadata"]})
        self.vms = {}
        for me, peer, h in (("neta", "netb", "neth1"), ("netb", "neta", "neth2")):
            job = api.ok("POST", "/v1/vms", {
                "name": me, "image_id": self.image, "instance_offering_id": self.offering,
                "l3_network_ids": [self.l3["id"]], "host_id": self.hosts[h]["id"],
                "user_data": SCRIPT % {"me": me, "peer": peer}})
            self.vms[me] = job
        for me in list(self.vms):
            job = api.job(self.vms[me], timeout=BOOT)
            assert job["state"] == "succeeded", job
            self.vms[me] = api.ok("GET", "/v1/vms/" + job["resource_id"])

    def console(self, name):
        return self.api.ok("GET", "/v1/vms/%s/console?tail=4000" % self.vms[name]["id"])["output"]

    def wait_line(self, name, pattern, after=0, timeout=BOOT):
        """Waits for a console line of VM name matching pattern, in the
        output past offset `after`; returns the match."""
        box = {}

        def seen():
            out = self.console(name)[after:].replace("\r", "")
            m = re.search(pattern, out, re.M)
            if m:
                box["m"] = m
            return m is not None

        wait_for(seen, timeout=timeout, interval=1,
                 what="%r on the console of %s" % (pattern, name))
        return box["m"]

    def kumo_namespaces(self):
        ids = [h["id"][:8] for h in self.hosts.values()]
        return [n for n in netns_list() if any(n.startswith("kumo-" + i) for i in ids)]

    def stop(self):
        if self.cloud:
            try:
                for vm in self.api.ok("GET", "/v1/vms?limit=1000")["items"]:
                    self.api.req("DELETE", "/v1/vms/%s?wait=30" % vm["id"])
            except Exception:  # noqa: BLE001 - best effort, the kill below is sure
                pass
            self.cloud.stop()
        for f in self.fwd:
            f.close()
        if getattr(self, "web", None):
            self.web.kill()
            self.web.wait()
        # QEMUs of the agents (subreaped by them, killed with their namespace's links)
        for h in ("h1", "h2"):
            a = getattr(self, "agents", {}).get(h)
            if a:
                vmdir = os.path.join(a.dir, "hosts", "0", "vms")
                for d in os.listdir(vmdir) if os.path.isdir(vmdir) else []:
                    try:
                        pid = int(open(os.path.join(vmdir, d, "qemu.pid")).read().strip())
                        os.kill(pid, 9)
                    except (OSError, ValueError):
                        pass
        remove_kumo_netns([h["id"] for h in getattr(self, "hosts", {}).values()])
        for ns in self.ns.values():
            ns.remove()


@pytest.fixture(scope="module")
def world(guest_image, tmp_path_factory):
    w = World(str(tmp_path_factory.mktemp("net")), guest_image)
    try:
        yield w
    finally:
        w.stop()
    assert_no_test_netns()


def nic(vm):
    return vm["nics"][0]


def test_vms_get_their_ipam_address_by_dhcp(world):
    for name in ("neta", "netb"):
        ip = nic(world.vms[name])["ip"]
        world.wait_line(name, r"^KUMO-NET eth0 %s/24$" % re.escape(ip))


def test_overlay_ping_and_names_across_hosts(world):
    a, b = world.vms["neta"], world.vms["netb"]
    assert a["host_id"] != b["host_id"]
    world.wait_line("neta", r"^NS netb %s$" % re.escape(nic(b)["ip"]))
    world.wait_line("neta", r"^PING-OK netb$")
    world.wait_line("netb", r"^PING-OK neta$")
    world.wait_line("neta", r"^HTTP-OK netb$")


def test_metadata_answers_each_vm_about_itself(world):
    for me in ("neta", "netb"):
        vm = world.vms[me]
        world.wait_line(me, r"^META-OS ")
        out = world.console(me)
        assert "META-ID %s" % vm["id"] in out
        assert "META-IP %s" % nic(vm)["ip"] in out
        assert "META-UD-OWN" in out
        assert "META-UD-LEAK" not in out
        assert '"uuid": "%s"' % vm["id"] in out.replace('":"', '": "')


def test_snat_reaches_the_outside(world):
    world.wait_line("neta", r"^OUTSIDE-OK$")
    world.wait_line("netb", r"^OUTSIDE-OK$")


def test_security_group_blocks_then_opens_a_port(world):
    api = world.api
    sg = api.ok("POST", "/v1/security-groups", {"name": "web"})
    job = api.ok("POST", "/v1/security-groups/%s/actions/attach?wait=10" % sg["id"],
                 {"nic_ids": [nic(world.vms["netb"])["id"]]})
    assert job["state"] == "succeeded", job
    mark = len(world.console("neta"))
    # neta is not in the group: its requests to netb:8080 are dropped now
    world.wait_line("neta", r"^HTTP-FAIL netb$", after=mark, timeout=30)
    t0 = time.monotonic()
    job = api.ok("POST", "/v1/security-groups/%s/rules?wait=10" % sg["id"], {
        "direction": "ingress", "protocol": "tcp", "port_start": 8080, "port_end": 8080,
        "cidr": "0.0.0.0/0"})
    applied = time.monotonic() - t0
    assert job["state"] == "succeeded", job
    assert applied < 1.0, "the rule took %.2f s to reach the host" % applied
    mark = len(world.console("neta"))
    world.wait_line("neta", r"^HTTP-OK netb$", after=mark, timeout=30)
    # netb still answers nothing else from outside the group: ping is not allowed
    mark = len(world.console("neta"))
    world.wait_line("neta", r"^PING-FAIL netb$", after=mark, timeout=30)


def curl_out(world, url):
    r = world.ns["out"].run("curl", "-s", "--max-time", "3", url, check=False)
    return r.stdout if r.returncode == 0 else None


def test_eip_reaches_the_vm_and_detaches(world):
    api = world.api
    eip = api.ok("POST", "/v1/eips", {"name": "eip-b", "l3_network_id": world.pub["id"]})
    job = api.ok("POST", "/v1/eips/%s/actions/attach?wait=10" % eip["id"],
                 {"nic_id": nic(world.vms["netb"])["id"]})
    assert job["state"] == "succeeded", job
    url = "http://%s:8080/" % eip["ip"]
    wait_for(lambda: (curl_out(world, url) or "").strip() == "hello-from-netb", timeout=20,
             interval=0.5, what="netb through its EIP")
    job = api.ok("POST", "/v1/eips/%s/actions/detach?wait=10" % eip["id"], {})
    assert job["state"] == "succeeded", job
    wait_for(lambda: curl_out(world, url) is None, timeout=20, interval=0.5,
             what="the detached EIP to stop answering")
    api.ok("DELETE", "/v1/eips/" + eip["id"])


def test_port_forward_with_allowed_sources(world):
    api = world.api
    eip = api.ok("POST", "/v1/eips", {"name": "eip-pf", "l3_network_id": world.pub["id"]})
    pf = api.ok("POST", "/v1/port-forwardings?wait=10", {
        "name": "web-a", "eip_id": eip["id"], "protocol": "tcp", "public_port_start": 9090,
        "public_port_end": 9090, "private_port_start": 8080,
        "nic_id": nic(world.vms["neta"])["id"], "allowed_cidr": "203.0.113.0/24"})
    assert pf["state"] == "succeeded", pf
    url = "http://%s:9090/" % eip["ip"]
    wait_for(lambda: (curl_out(world, url) or "").strip() == "hello-from-neta", timeout=20,
             interval=0.5, what="neta through the port forward")
    assert curl_out(world, "http://%s:9091/" % eip["ip"]) is None
    job = api.ok("DELETE", "/v1/port-forwardings/%s?wait=10" % pf["resource_id"])
    assert job["state"] == "succeeded", job
    wait_for(lambda: curl_out(world, url) is None, timeout=20, interval=0.5,
             what="the deleted port forward to stop answering")
    api.ok("DELETE", "/v1/eips/" + eip["id"])


def test_bandwidth_limits_are_on_the_tap(world):
    api = world.api
    vm = world.vms["neta"]
    job = api.ok("POST", "/v1/vms/%s/actions/set_bandwidth?wait=10" % vm["id"], {
        "nic_id": nic(vm)["id"], "in_kbps": 2000, "out_kbps": 1000})
    assert job["state"] == "succeeded", job
    tap = "ktp-" + nic(vm)["id"].replace("-", "")[:8]
    qd = world.ns["h1"].run("tc", "qdisc", "show", "dev", tap).stdout
    assert "tbf" in qd and "2Mbit" in qd, qd
    rules = world.ns["h1"].run("nft", "list", "table", "netdev", "kumo_qos").stdout
    assert tap in rules and "limit rate over" in rules, rules


def test_stopped_and_started_vm_keeps_its_network(world):
    """The tap outlives QEMU: a VM started again is on its network again,
    with the same address."""
    api, vm = world.api, world.vms["neta"]
    job = api.ok("POST", "/v1/vms/%s/actions/stop?wait=90" % vm["id"], {"force": True})
    assert job["state"] == "succeeded", job
    mark = len(world.console("neta"))
    job = api.ok("POST", "/v1/vms/%s/actions/start?wait=90" % vm["id"], {})
    assert job["state"] == "succeeded", job
    world.wait_line("neta", r"^KUMO-NET eth0 %s/24$" % re.escape(nic(vm)["ip"]), after=mark)
    world.wait_line("neta", r"^HTTP-OK netb$", after=mark)


def test_vlan_without_kernel_support_fails_clearly(world):
    """This kernel has no 802.1Q: a VM on a VLAN network fails to be
    created, with an error naming what is missing, and nothing is left."""
    api = world.api
    zone = world.pub_l2["zone_id"]
    l2 = api.ok("POST", "/v1/l2-networks", {"name": "vl7", "zone_id": zone, "type": "vlan",
                                            "vlan": 7, "physical_interface": "pub0"})
    l3 = api.ok("POST", "/v1/l3-networks", {"name": "vl7net", "l2_network_id": l2["id"],
                                            "cidr": "10.61.0.0/24"})
    job = api.ok("POST", "/v1/vms", {
        "name": "vlvm", "image_id": world.image, "instance_offering_id": world.offering,
        "l3_network_ids": [l3["id"]], "host_id": world.hosts["neth1"]["id"]})
    job = api.job(job, timeout=60)
    assert job["state"] == "failed", job
    assert "802.1Q" in job["error"]["message"], job["error"]
    vm = api.ok("GET", "/v1/vms/" + job["resource_id"])
    assert vm["state"] == "error" and vm["nics"][0]["ip"] is None, vm
    job = api.ok("DELETE", "/v1/vms/%s?wait=30" % vm["id"])
    assert job["state"] == "succeeded", job
    api.ok("DELETE", "/v1/l3-networks/" + l3["id"])
    api.ok("DELETE", "/v1/l2-networks/" + l2["id"])
    vl = "kvl-" + l2["id"].replace("-", "")[:8]
    wait_for(lambda: not [n for n in links(world.ns["h1"].name) if n == vl or
                          n == "kbr-" + l2["id"].replace("-", "")[:8]],
             timeout=20, interval=0.5, what="the VLAN network's links to go")


def test_agent_crash_loses_nothing_and_restart_repairs(world):
    """The agent is killed; the datapath and dnsmasq keep serving; damage
    done meanwhile is repaired when it starts again."""
    a, h1 = world.agents["h1"], world.ns["h1"]
    tap = "ktp-" + nic(world.vms["neta"])["id"].replace("-", "")[:8]
    log = os.path.join(a.dir, "hosts", "0", "vms", world.vms["neta"]["id"], "console.log")
    a.kill9()
    # the console API reads through the agent: read the file while it is down
    mark = os.path.getsize(log)

    def flows():
        with open(log, "rb") as f:
            f.seek(mark)
            return b"HTTP-OK netb" in f.read()

    wait_for(flows, timeout=30, interval=0.5, what="traffic while the agent is down")
    h1.ip("link", "set", tap, "nomaster")  # damage while it is down
    a.start()
    wait_for(lambda: "master kbr-" in h1.ip("link", "show", tap).stdout, timeout=30,
             interval=0.5, what="the agent to put the tap back on its bridge")
    mark = len(world.console("neta"))
    world.wait_line("neta", r"^HTTP-OK netb$", after=mark, timeout=30)


def test_address_of_a_destroyed_vm_goes_to_a_new_vm_by_dhcp(world):
    """The lowest free address goes to the next VM: after netb is destroyed,
    a new VM on its host gets netb's address, and by DHCP (the host's
    dnsmasq forgets the old NIC's lease). netb is gone after."""
    api, old = world.api, world.vms["netb"]
    ip = nic(old)["ip"]
    job = api.ok("DELETE", "/v1/vms/%s?wait=90" % old["id"])
    assert job["state"] == "succeeded", job
    del world.vms["netb"]
    job = api.job(api.ok("POST", "/v1/vms", {
        "name": "netc", "image_id": world.image, "instance_offering_id": world.offering,
        "l3_network_ids": [world.l3["id"]], "host_id": world.hosts["neth2"]["id"]}),
        timeout=BOOT)
    assert job["state"] == "succeeded", job
    vm = api.ok("GET", "/v1/vms/" + job["resource_id"])
    world.vms["netc"] = vm
    assert nic(vm)["ip"] == ip, (nic(vm), ip)
    assert nic(vm)["mac"] != nic(old)["mac"]
    world.wait_line("netc", r"^KUMO-NET eth0 %s/24$" % re.escape(ip))


def test_nothing_is_left_after_everything_is_deleted(world):
    api = world.api
    for vm in world.vms.values():
        job = api.ok("DELETE", "/v1/vms/%s?wait=60" % vm["id"])
        assert job["state"] == "succeeded", job
    for sg in api.ok("GET", "/v1/security-groups")["items"]:
        api.ok("DELETE", "/v1/security-groups/" + sg["id"])
    for l3 in (world.l3, world.pub):
        api.ok("DELETE", "/v1/l3-networks/" + l3["id"])
    for l2 in (world.l2, world.pub_l2):
        api.ok("DELETE", "/v1/l2-networks/" + l2["id"])

    left = {}

    def clean():
        left.clear()
        if world.kumo_namespaces():
            left["namespaces"] = world.kumo_namespaces()
        for h in ("h1", "h2"):
            ns = world.ns[h].name
            ln = [n for n in links(ns) if re.match(r"^k(br|vx|vl|tp|ns|up)-", n)]
            tb = [t for t in nft_tables(ns) if t.split()[1].startswith("kumo_")]
            if ln or tb:
                left[h] = ln + tb
        return not left

    try:
        wait_for(clean, timeout=30, interval=0.5, what="Kumo's namespaces, links, tables to go")
    except AssertionError:
        raise AssertionError("left behind: %r" % left) from None

