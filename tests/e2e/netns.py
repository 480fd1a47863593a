# SPDX-License-Identifier: MIT
"""Network namespaces that a test makes and removes itself, for test hosts
on one machine. Names start with "kt<pid>-" so that two runs never meet,
and nothing outside them is changed: no address, route or rule of the
machine's own namespace.

A test host is a namespace with its own agent. The agents dial kumod on
127.0.0.1 as usual; inside a namespace that loopback is the namespace's
own, so Forwarder carries those connections to kumod's loopback port in
the test's namespace (the management network of a real cloud)."""
import ctypes
import json
import os
import socket
import subprocess
import threading

CLONE_NEWNET = 0x40000000
PREFIX = "kt%d-" % os.getpid()
_libc = ctypes.CDLL(None, use_errno=True)


def sh(*args, check=True, ns=None, **kw):
    """Runs a command (argv, never a shell), inside ns if given."""
    argv = (["ip", "netns", "exec", ns] if ns else []) + list(args)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60, **kw)
    if check and r.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (" ".join(argv), r.returncode,
                                                     r.stderr.strip() or r.stdout.strip()))
    return r


def ip(*args, check=True):
    return sh("ip", *args, check=check)


def netns_list():
    out = ip("-j", "netns", "list", check=False).stdout.strip()
    return [n["name"] for n in json.loads(out)] if out else []


def links(ns):
    out = ip("-n", ns, "-j", "link", "show").stdout.strip()
    return [ln["ifname"] for ln in json.loads(out)] if out else []


def nft_tables(ns):
    out = sh("nft", "-j", "list", "tables", ns=ns, check=False).stdout.strip()
    if not out:
        return []
    return ["%s %s" % (t["table"]["family"], t["table"]["name"])
            for t in json.loads(out)["nftables"] if "table" in t]


class Netns:
    """A namespace named PREFIX + name, with lo up; remove() deletes it
    (and with it every link inside)."""

    def __init__(self, name):
        self.name = PREFIX + name
        ip("netns", "add", self.name)
        ip("-n", self.name, "link", "set", "lo", "up")

    def run(self, *args, check=True, **kw):
        return sh(*args, ns=self.name, check=check, **kw)

    def popen(self, args, **kw):
        return subprocess.Popen(["ip", "netns", "exec", self.name] + list(args), **kw)

    def ip(self, *args, check=True):
        return ip("-n", self.name, *args, check=check)

    def remove(self):
        ip("netns", "del", self.name, check=False)


def remove_kumo_netns(host_ids):
    """Removes the namespaces agents made for hosts host_ids (kumo-<id8>...),
    their processes (dnsmasq) first."""
    ids = [i[:8] for i in host_ids]
    for n in netns_list():
        if not any(n.startswith("kumo-" + i) for i in ids):
            continue
        pids = subprocess.run(["ip", "netns", "pids", n], capture_output=True,
                              text=True).stdout.split()
        for p in pids:
            try:
                os.kill(int(p), 9)
            except (OSError, ValueError):
                pass
        subprocess.run(["ip", "netns", "del", n], capture_output=True)


def assert_no_test_netns():
    leftovers = [n for n in netns_list() if n.startswith("kt%d-" % os.getpid())]
    assert not leftovers, leftovers


def veth(a, a_name, b, b_name, mtu=1500):
    """A veth pair between namespaces a and b (Netns), both ends up."""
    ip("-n", a.name, "link", "add", a_name, "mtu", str(mtu), "type", "veth", "peer", "name",
       b_name, "netns", b.name, "mtu", str(mtu))
    a.ip("link", "set", a_name, "up")
    b.ip("link", "set", b_name, "up")


def remove_all_ours():
    """Every namespace of this test process, also those its agents made
    (kumo-* namespaces carry their host's id, not our prefix: the caller
    removes those it knows)."""
    for n in netns_list():
        if n.startswith(PREFIX):
            ip("netns", "del", n, check=False)


def listen_in(ns_name, host, port):
    """A listening TCP socket bound inside namespace ns_name: made on a
    thread of its own that enters the namespace and then ends, so the
    caller's namespace is never changed."""
    box = {}

    def work():
        try:
            fd = os.open("/run/netns/" + ns_name, os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns " + ns_name)
            finally:
                os.close(fd)
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
            s.listen(128)
            box["sock"] = s
        except Exception as e:  # noqa: BLE001 - handed to the caller
            box["error"] = e

    t = threading.Thread(target=work)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["sock"]


class Forwarder:
    """Accepts on 127.0.0.1:port inside a namespace and connects each
    client to 127.0.0.1:port here."""

    def __init__(self, ns_name, port):
        self.port = port
        self.sock = listen_in(ns_name, "127.0.0.1", port)
        self.closed = False
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                u.settimeout(None)
            except OSError:
                c.close()
                continue
            self.conns += [c, u]
            if self.closed:
                break
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
            try:
                s.shutdown(how)
            except OSError:
                pass

    def close(self):
        """Stops accepting and cuts the connections it carries."""
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                c.close()
            except OSError:
                pass
