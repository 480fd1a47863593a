# SPDX-License-Identifier: MIT
"""The HTTP layer and the credential cache, against the real kumod.

kumod serves connections from a small pool of epoll threads and runs every
request that may wait (long-polls, ?wait, writes) on a worker thread while
its connection is suspended; event streams run their producer on a worker
too. These tests check that waiting requests never hold up the others, that
a client that leaves ends its long-poll or stream, and that kumod stops
cleanly with requests waiting.

Sessions and API keys that were checked once are cached in memory; these
tests check that every revocation (logout, key deletion, a user disabled,
given another role or password, or deleted) is refused on the very next
request, also while other requests are using the credential.
"""
import re
import select
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import SLOW, Api, wait_for
from test_api import Sse, err

PW = "correct-horse-9"
UUID4_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


# ---- helpers ----------------------------------------------------------------------

def register_host(cloud, name):
    """Registers a host the way an agent does; returns (host id, Api with its secret)."""
    with open(cloud.kumod.join_token_file) as f:
        tok = f.read().strip()
    r = requests.post(cloud.kumod.url + "/agent/v1/register", json={
        "join_token": tok, "name": name,
        "facts": {"cpus": 64, "memory_mb": 262144, "disk_gb": 1000, "driver": "sim"}})
    assert r.status_code == 201, r.text
    body = r.json()
    return body["host_id"], Api(cloud.kumod.url, body["secret"])


def raw_get(url, path, headers=None):
    """Sends a GET on a raw socket and returns the socket without reading."""
    host, port = url.split("//")[1].split(":")
    s = socket.create_connection((host, int(port)), timeout=10)
    lines = ["GET %s HTTP/1.1" % path, "Host: %s:%s" % (host, port)]
    lines += ["%s: %s" % kv for kv in (headers or {}).items()]
    s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    return s


CLOSE_WAIT = 8  # the peer closed; this side has not yet


def server_waiting(port, client_ports):
    """The connections of the server on port from these client ports whose
    client has closed and the server not yet (TCP state CLOSE_WAIT)."""
    out = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            lport = int(parts[1].split(":")[1], 16)
            rport = int(parts[2].split(":")[1], 16)
            if lport == port and rport in client_ports and int(parts[3], 16) == CLOSE_WAIT:
                out.add(rport)
    return out


def drain(s):
    """Reads what the server sent so far, so that close() sends a FIN, not a reset."""
    s.setblocking(False)
    try:
        while s.recv(65536):
            pass
    except BlockingIOError:
        pass


def new_user(cloud, role="member"):
    """An account with one user; returns (account, user, the user's session, its API key)."""
    a = cloud.admin
    acct = a.ok("POST", "/v1/accounts", {"name": "acct-" + uuid.uuid4().hex[:8]})
    user = a.ok("POST", "/v1/users", {"name": "u", "password": PW, "role": role,
                                      "account_id": acct["id"]})
    session = cloud.kumod.login(acct["name"], "u", PW)
    key = Api(cloud.kumod.url, session.ok("POST", "/v1/api-keys", {"name": "k"})["key"])
    return acct, user, session, key


def warm(*apis, n=5):
    """Uses each credential a few times, so that it is cached."""
    for api in apis:
        for _ in range(n):
            api.ok("GET", "/v1/whoami")
            api.ok("GET", "/v1/zones")


# ---- the credential cache ------------------------------------------------------------

def test_logout_is_refused_at_once_though_the_token_was_just_used(cloud):
    s1 = cloud.kumod.login()
    s2 = cloud.kumod.login()
    warm(s1, s2)
    s1.ok("DELETE", "/v1/sessions/current", status=204)
    # the same keep-alive connection, and a new one
    err(s1.get("/v1/whoami"), 401, "Unauthenticated", msg="revoked")
    err(Api(s1.url, s1.token).get("/v1/zones"), 401, "Unauthenticated")
    err(s1.delete("/v1/sessions/current"), 401, "Unauthenticated")
    # the other session of the same user is untouched
    assert s2.ok("GET", "/v1/whoami")["auth"] == "session"


def test_deleted_api_key_is_refused_at_once_though_it_was_just_used(cloud):
    _, _, session, key = new_user(cloud)
    other = Api(cloud.kumod.url, session.ok("POST", "/v1/api-keys", {"name": "k2"})["key"])
    warm(key, other)
    kid = key.ok("GET", "/v1/whoami")
    keys = session.ok("GET", "/v1/api-keys")["items"]
    mine = [k for k in keys if key.token.startswith(k["prefix"]) and k["name"] == "k"]
    assert len(mine) == 1, (kid, keys)
    session.ok("DELETE", "/v1/api-keys/" + mine[0]["id"], status=204)
    err(key.get("/v1/whoami"), 401, "Unauthenticated", msg="invalid API key")
    err(Api(key.url, key.token).post("/v1/volumes", {"name": "v", "size_gb": 1}), 401,
        "Unauthenticated")
    assert other.ok("GET", "/v1/whoami")["auth"] == "api_key"


def test_a_cached_key_does_not_vouch_for_a_wrong_secret(cloud):
    _, _, _, key = new_user(cloud)
    warm(key)
    last = key.token[-1]
    forged = key.token[:-1] + ("0" if last != "0" else "1")
    err(Api(key.url, forged).get("/v1/whoami"), 401, "Unauthenticated", msg="invalid API key")
    assert key.ok("GET", "/v1/whoami")["auth"] == "api_key"


@pytest.mark.parametrize("change", ["disable", "role", "password", "delete"])
def test_user_changes_revoke_cached_sessions_and_keys_at_once(cloud, change):
    a = cloud.admin
    acct, user, session, key = new_user(cloud, role="owner")
    warm(session, key)
    path = "/v1/users/" + user["id"]
    if change == "disable":
        a.ok("PATCH", path, {"state": "disabled"})
    elif change == "role":
        a.ok("PATCH", path, {"role": "viewer"})
    elif change == "password":
        a.ok("PATCH", path, {"password": PW + "-new"})
    else:
        a.ok("DELETE", path, status=204)
    for api in (session, key, Api(session.url, session.token), Api(key.url, key.token)):
        err(api.get("/v1/whoami"), 401, "Unauthenticated")
    if change == "role":  # a new login carries the new role
        me = cloud.kumod.login(acct["name"], "u", PW).ok("GET", "/v1/whoami")
        assert me["role"] == "viewer", me
    if change == "password":
        cloud.kumod.login(acct["name"], "u", PW + "-new")


def test_account_deletion_leaves_no_cached_credentials(cloud):
    a = cloud.admin
    acct, user, session, key = new_user(cloud)
    warm(session, key)
    a.ok("DELETE", "/v1/api-keys/" + session.ok("GET", "/v1/api-keys")["items"][0]["id"],
         status=204)
    a.ok("DELETE", "/v1/users/" + user["id"], status=204)
    a.ok("DELETE", "/v1/accounts/" + acct["id"], status=204)
    for api in (session, key):
        err(api.get("/v1/whoami"), 401, "Unauthenticated")
    err(a.get("/v1/accounts/" + acct["id"]), 404, "NotFound")


def test_revocation_while_the_key_is_in_use_by_many_clients(cloud):
    """Clients hammer with one key while it is deleted: every request sent
    after the DELETE answered is refused, none fails otherwise."""
    _, _, session, key = new_user(cloud)
    kid = [k for k in session.ok("GET", "/v1/api-keys")["items"]][0]["id"]
    warm(key)
    stop = threading.Event()
    seen = []  # (sent_at, status)
    lock = threading.Lock()

    def hammer():
        api = Api(key.url, key.token)
        while not stop.is_set():
            t = time.monotonic()
            st = api.get("/v1/whoami").status_code
            with lock:
                seen.append((t, st))

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        session.ok("DELETE", "/v1/api-keys/" + kid, status=204)
        revoked_at = time.monotonic()
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    before = [st for t, st in seen if t < revoked_at]
    after = [st for t, st in seen if t > revoked_at]
    assert before and after, (len(before), len(after))
    assert set(before) <= {200, 401}, set(before)
    assert set(after) == {401}, sorted(set(after))


# ---- requests that wait ---------------------------------------------------------

def test_waiting_requests_do_not_hold_up_the_others(cloud):
    """Far more long-polls and event streams than kumod has pool threads:
    short requests, reads and writes, are still answered at once."""
    a = cloud.admin
    host_id, agent = register_host(cloud, "waiter")
    polls = 32
    path = "/agent/v1/hosts/%s/commands?wait=4" % host_id

    def poll():
        t = time.monotonic()
        r = Api(agent.url, agent.token).get(path)
        return r.status_code, r.json(), time.monotonic() - t

    streams = [Sse(Api(a.url, a.token)) for _ in range(8)]
    try:
        with ThreadPoolExecutor(polls) as ex:
            futs = [ex.submit(poll) for _ in range(polls)]
            time.sleep(0.5)
            for i in range(20):
                t = time.monotonic()
                assert requests.get(a.url + "/healthz", timeout=5).status_code == 200
                a.ok("GET", "/v1/zones")
                assert time.monotonic() - t < 1.0 * SLOW, "a short request waited"
            t = time.monotonic()
            zone = a.ok("POST", "/v1/zones", {"name": "not-held-up"}, status=201)
            assert time.monotonic() - t < 2.0 * SLOW, "a write waited"
            for s in streams:
                ev = s.next(lambda e: e.get("event") == "zone.created")
                assert ev["json"]["resource_id"] == zone["id"]
            results = [f.result(timeout=30 * SLOW) for f in futs]
    finally:
        for s in streams:
            s.close()
    for status, body, secs in results:
        assert status == 200 and body == {"commands": []}, body
        assert 3.0 < secs < 10 * SLOW, secs


def test_long_poll_whose_client_left_takes_no_command(cloud):
    """A long-poll abandoned by its client must leave commands queued for
    the next one: the handler sees the client gone on its worker thread."""
    a = cloud.admin
    ids = cloud.basics()
    host_id, agent = register_host(cloud, "leaver")
    path = "/agent/v1/hosts/%s/commands?wait=20" % host_id
    s = raw_get(a.url, path, {"Authorization": "Bearer " + agent.token})
    time.sleep(0.5)
    s.close()
    time.sleep(0.3)
    job = a.ok("POST", "/v1/vms", {"name": "for-leaver", "image_id": ids["image"],
                                   "instance_offering_id": ids["offering"],
                                   "l3_network_ids": [ids["l3"]]}, status=202)
    t = time.monotonic()
    r = agent.get("/agent/v1/hosts/%s/commands?wait=5" % host_id)
    assert r.status_code == 200, r.text
    cmds = r.json()["commands"]
    assert time.monotonic() - t < 3 * SLOW, "the command was taken by the abandoned poll"
    assert [c["type"] for c in cmds] == ["vm.create"], cmds
    assert a.ok("GET", "/v1/jobs/" + job["id"])["state"] in ("pending", "running")


def test_clients_that_leave_free_their_connections(cloud):
    """Event streams and long-polls whose clients hang up are ended by kumod
    (their connections closed) without waiting for an event or a command."""
    a = cloud.admin
    host_id, agent = register_host(cloud, "gone")
    streams = [raw_get(a.url, "/v1/events?follow=1", {"Authorization": "Bearer " + a.token})
               for _ in range(6)]
    for s in streams:  # the stream is running
        s.settimeout(10 * SLOW)
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
    polls = [raw_get(a.url, "/agent/v1/hosts/%s/commands?wait=25" % host_id,
                     {"Authorization": "Bearer " + agent.token}) for _ in range(6)]
    time.sleep(1.0 * SLOW)  # the long-polls are waiting
    assert select.select(polls, [], [], 0)[0] == [], "a long-poll was answered"
    sports = {s.getsockname()[1] for s in streams}
    pports = {s.getsockname()[1] for s in polls}
    for s in streams + polls:
        drain(s)
        s.close()
    port = cloud.kumod.port
    # streams notice within ~20 ms, long-polls at their next check (<= 5 s)
    wait_for(lambda: not server_waiting(port, sports), timeout=3, what="streams to be closed")
    wait_for(lambda: not server_waiting(port, pports), timeout=8, what="long-polls to be closed")
    assert a.ok("GET", "/v1/whoami")["user"] == "admin"


def test_job_wait_does_not_hold_up_other_requests(cloud):
    a = cloud.admin
    ids = cloud.basics()
    register_host(cloud, "silent")  # takes the VM and never answers
    job = a.ok("POST", "/v1/vms", {"name": "slow", "image_id": ids["image"],
                                   "instance_offering_id": ids["offering"],
                                   "l3_network_ids": [ids["l3"]]}, status=202)

    def wait():
        t = time.monotonic()
        r = Api(a.url, a.token).get("/v1/jobs/%s?wait=3" % job["id"])
        return r.status_code, time.monotonic() - t

    with ThreadPoolExecutor(16) as ex:
        futs = [ex.submit(wait) for _ in range(16)]
        time.sleep(0.3)
        t = time.monotonic()
        for _ in range(10):
            a.ok("GET", "/v1/jobs/" + job["id"])
        assert time.monotonic() - t < 2 * SLOW
        for f in futs:
            status, secs = f.result(timeout=20 * SLOW)
            assert status == 200 and 2.5 < secs < 10 * SLOW, (status, secs)


def test_kumod_stops_promptly_with_requests_waiting(cloud_factory):
    c = cloud_factory()
    a = c.admin
    host_id, agent = register_host(c, "stopper")
    socks = [raw_get(a.url, "/agent/v1/hosts/%s/commands?wait=25" % host_id,
                     {"Authorization": "Bearer " + agent.token}) for _ in range(10)]
    streams = [raw_get(a.url, "/v1/events?follow=1", {"Authorization": "Bearer " + a.token})
               for _ in range(4)]
    time.sleep(0.5)
    t = time.monotonic()
    c.kumod.proc.terminate()
    c.kumod.proc.wait(timeout=15 * SLOW)
    assert c.kumod.proc.returncode == 0, c.kumod.tail()
    assert time.monotonic() - t < 8 * SLOW
    # the long-polls were answered (empty) before the end
    for s in socks:
        s.settimeout(5)
        data = s.recv(65536)
        assert data.startswith(b"HTTP/1.1 200"), data[:200]
        s.close()
    for s in streams:
        s.close()


# ---- the plumbing ------------------------------------------------------------------

def test_many_keep_alive_connections_at_once(cloud):
    a = cloud.admin

    def client(i):
        api = Api(a.url, a.token)
        out = []
        for _ in range(5):
            r = api.get("/v1/whoami")
            out.append((r.status_code, r.headers.get("X-Request-Id")))
        return out

    with ThreadPoolExecutor(100) as ex:
        res = [x for f in [ex.submit(client, i) for i in range(200)] for x in f.result()]
    assert {st for st, _ in res} == {200}
    rids = [rid for _, rid in res]
    assert len(set(rids)) == len(rids), "request ids repeat"
    assert all(UUID4_RE.match(rid) for rid in rids), rids[:5]


def test_write_checks_keep_their_order_on_worker_threads(cloud):
    """Writes run on workers; the checks keep their order: the size limit
    first (by Content-Length), then credentials, then the body."""
    url = cloud.kumod.url
    anon = Api(url)
    big = b"{" + b" " * (1024 * 1024 + 10) + b"}"
    err(anon.req("POST", "/v1/zones", raw=big, headers={"Content-Type": "application/json"}),
        413, "PayloadTooLarge")
    err(anon.req("POST", "/v1/zones", raw=b"{not json",
                 headers={"Content-Type": "application/json"}), 401, "Unauthenticated")
    err(cloud.admin.req("POST", "/v1/zones", raw=b"{not json",
                        headers={"Content-Type": "application/json"}), 400, "InvalidArgument")
    rid = "write-" + uuid.uuid4().hex
    r = cloud.admin.post("/v1/zones", {"name": "ordered"}, headers={"X-Request-Id": rid})
    assert r.status_code == 201 and r.headers["X-Request-Id"] == rid, r.text
