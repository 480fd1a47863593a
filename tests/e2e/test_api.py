# SPDX-License-Identifier: MIT
"""The REST conventions of docs/API.md, against the real kumod (and sim agents
where host work is needed): error statuses and bodies, lists (filters, sort,
projection, pages), creates (201/202 + Location, ?wait), Idempotency-Key,
X-Request-Id, the OpenAPI document, /metrics, events (list and SSE), and the
create/read/update/delete path of every resource type.

Every bad request is followed by a check that nothing changed.
"""
import json
import queue
import re
import shutil
import socket
import tempfile
import threading
import time
import uuid

import pytest
import requests

from conftest import SLOW, Api, Cloud, upload_image

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


# ---- helpers ----------------------------------------------------------------

def err(r, status, code, field=None, msg=None):
    """Asserts an error answer: status, the documented body shape, the code,
    and (when given) the field it names and a piece of its message."""
    assert r.status_code == status, "want %d, got %d %s" % (status, r.status_code, r.text)
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    assert r.headers.get("X-Request-Id"), r.headers
    body = r.json()
    assert list(body) == ["error"], body
    e = body["error"]
    assert set(e) <= {"code", "message", "field"}, e
    assert e["code"] == code, e
    assert isinstance(e["message"], str) and e["message"], e
    if field is not None:
        assert e.get("field") == field, e
    if msg is not None:
        assert msg in e["message"], e
    return e


def items(api, path, **params):
    params.setdefault("limit", 1000)
    return api.ok("GET", path, params=params)["items"]


def snapshot(api, path):
    """Every document of a collection, to compare before and after a refused
    request: a refusal must change nothing (not even updated_at)."""
    return sorted(items(api, path), key=lambda d: d["id"])


def post_raw(api, path, data, ctype="application/json", **kw):
    return api.req("POST", path, raw=data, headers={"Content-Type": ctype}, **kw)


def names(docs):
    return sorted(d["name"] for d in docs)


def make_vm(api, ids, name, wait=True, **extra):
    body = {"name": name, "image_id": ids["image"], "instance_offering_id": ids["offering"],
            "l3_network_ids": [ids["l3"]]}
    body.update(extra)
    job = api.ok("POST", "/v1/vms", body, status=202)
    if not wait:
        return job
    job = api.job(job)
    assert job["state"] == "succeeded", job
    return api.ok("GET", "/v1/vms/" + job["resource_id"])


def destroy_vm(api, vm_id):
    j = api.job(api.ok("DELETE", "/v1/vms/" + vm_id, status=202))
    assert j["state"] == "succeeded", j


def metrics(url):
    r = requests.get(url + "/metrics", timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain"), r.headers
    out = {}
    for line in r.text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})?) (\S+)$", line)
        assert m, "not a Prometheus sample line: %r" % line
        out[m.group(1)] = float(m.group(3))
    return out


class Sse:
    """A server-sent events stream read in a thread; events land in a queue."""

    def __init__(self, api, last_event_id=None, query="follow=1"):
        h = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            h["Last-Event-ID"] = str(last_event_id)
        self.r = api.get("/v1/events?" + query, headers=h, stream=True, timeout=(5, 60 * SLOW))
        assert self.r.status_code == 200, self.r.text
        assert self.r.headers["Content-Type"].startswith("text/event-stream"), self.r.headers
        self.q = queue.Queue()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        ev = {}
        try:
            for line in self.r.iter_lines(chunk_size=1, decode_unicode=True):
                if line == "":
                    if ev:
                        self.q.put(ev)
                    ev = {}
                elif not line.startswith(":"):
                    k, _, v = line.partition(":")
                    ev[k] = v[1:] if v.startswith(" ") else v
        except Exception:  # the stream was closed under us
            pass

    def next(self, pred=lambda ev: True, timeout=10):
        """The first event matching pred; the others are returned in skipped."""
        deadline = time.time() + timeout * SLOW
        self.skipped = []
        while True:
            left = deadline - time.time()
            assert left > 0, "no matching event within %ss (saw %r)" % (timeout, self.skipped)
            try:
                ev = self.q.get(timeout=left)
            except queue.Empty:
                continue
            ev["json"] = json.loads(ev["data"])
            if pred(ev):
                return ev
            self.skipped.append(ev)

    def close(self):
        # Shut the socket down first: a plain close() would wait for the
        # reader thread, blocked in recv() until the next keepalive.
        try:
            self.r.raw._fp.fp.raw._sock.shutdown(socket.SHUT_RDWR)
        except (AttributeError, OSError):
            pass
        self.r.close()
        self.t.join(5)


@pytest.fixture(scope="module")
def vmc():
    """One kumod with a 2-host sim agent and the basic resources, shared by the
    tests that need VMs (each test uses its own names)."""
    d = tempfile.mkdtemp(prefix="kumo-e2e-api-")
    c = Cloud(d)
    try:
        c.start()
        c.add_agent("h", hosts=2)
        c.ids = c.basics()
        yield c
    finally:
        c.stop()
        shutil.rmtree(d, ignore_errors=True)


# ---- errors ---------------------------------------------------------------------

def test_malformed_json_is_400_and_creates_nothing(cloud):
    a = cloud.admin
    before = snapshot(a, "/v1/zones")
    for bad in ['{"name": "z1"', '{name: "z1"}', '{"name":"z1"} trailing', "\x00",
                b'{"name":"z\xff"}', '{"name":"z1","name":"z2"}']:
        e = err(post_raw(a, "/v1/zones", bad), 400, "InvalidArgument")
        assert "JSON" in e["message"], e
    for not_object in ["[1,2]", '"zone"', "42", "null"]:
        err(post_raw(a, "/v1/zones", not_object), 400, "InvalidArgument")
    assert snapshot(a, "/v1/zones") == before


def test_wrong_types_are_400_naming_the_field(cloud):
    a = cloud.admin
    zone = a.ok("POST", "/v1/zones", {"name": "tz"})
    before = snapshot(a, "/v1/instance-offerings")
    cases = [
        ("/v1/instance-offerings", {"name": "o", "vcpus": "2", "memory_mb": 512}, "vcpus"),
        ("/v1/instance-offerings", {"name": "o", "vcpus": 2.5, "memory_mb": 512}, "vcpus"),
        ("/v1/instance-offerings", {"name": "o", "vcpus": 2, "memory_mb": True}, "memory_mb"),
        ("/v1/instance-offerings", {"name": 7, "vcpus": 2, "memory_mb": 512}, "name"),
        ("/v1/instance-offerings", {"name": None, "vcpus": 2, "memory_mb": 512}, "name"),
        ("/v1/zones", {"name": "z", "description": ["x"]}, "description"),
        ("/v1/l2-networks", {"name": "l", "zone_id": "not-a-uuid", "type": "flat"}, "zone_id"),
        ("/v1/l2-networks", {"name": "l", "zone_id": zone["id"], "type": "flat",
                             "vni": "100"}, "vni"),
        ("/v1/vms", {"name": "v", "image_id": str(uuid.uuid4()), "vcpus": 1,
                     "memory_mb": 64, "l3_network_ids": "x"}, "l3_network_ids"),
        ("/v1/vms", {"name": "v", "image_id": str(uuid.uuid4()), "vcpus": 1,
                     "memory_mb": 64, "ssh_keys": [1]}, "ssh_keys[0]"),
    ]
    for path, body, field in cases:
        err(a.post(path, body), 400, "InvalidArgument", field=field)
    # the same on PATCH
    zone_path = "/v1/zones/" + zone["id"]
    err(a.patch(zone_path, {"state": 1}), 400, "InvalidArgument", field="state")
    assert snapshot(a, "/v1/instance-offerings") == before
    assert items(a, "/v1/l2-networks") == [] and items(a, "/v1/vms") == []
    assert a.ok("GET", zone_path) == zone


def test_unknown_and_read_only_fields_are_400_naming_the_field(cloud):
    a = cloud.admin
    zone = a.ok("POST", "/v1/zones", {"name": "uz"})
    before = snapshot(a, "/v1/zones")
    e = err(a.post("/v1/zones", {"name": "z2", "colour": "red"}), 400, "InvalidArgument",
            field="colour")
    assert "unknown" in e["message"]
    err(a.post("/v1/zones", {"name": "z2", "id": str(uuid.uuid4())}), 400, "InvalidArgument",
        field="id")
    err(a.post("/v1/zones", {"name": "z2", "created_at": "2026-01-01T00:00:00Z"}), 400,
        "InvalidArgument", field="created_at")
    err(a.patch("/v1/zones/" + zone["id"], {"colour": "red"}), 400, "InvalidArgument",
        field="colour")
    err(a.patch("/v1/zones/" + zone["id"], {"id": str(uuid.uuid4())}), 400,
        "InvalidArgument", field="id")
    # a body on a route that takes none
    err(a.req("DELETE", "/v1/zones/" + zone["id"], body={"force": True}), 400,
        "InvalidArgument")
    # an unknown field inside a nested object
    l2 = a.ok("POST", "/v1/l2-networks", {"name": "l2", "zone_id": zone["id"], "type": "flat"})
    e = err(a.post("/v1/l3-networks", {"name": "n", "l2_network_id": l2["id"],
                                       "cidr": "10.0.0.0/24",
                                       "ip_ranges": [{"start": "10.0.0.5", "end": "10.0.0.9",
                                                      "step": 1}]}),
            400, "InvalidArgument")
    assert "step" in e.get("field", "") + e["message"], e
    assert snapshot(a, "/v1/zones") == before
    assert items(a, "/v1/l3-networks") == []


def test_out_of_range_and_over_long_values_are_400(cloud):
    a = cloud.admin
    before = snapshot(a, "/v1/instance-offerings")
    ok = {"name": "o", "vcpus": 1, "memory_mb": 64}
    for field, value in [("name", "n" * 64), ("name", ""), ("name", "-dash-first"),
                         ("name", "has space"), ("description", "d" * 1025),
                         ("vcpus", 0), ("vcpus", 257), ("memory_mb", 63),
                         ("memory_mb", 4194305), ("root_disk_gb", 0),
                         ("root_disk_gb", 65537)]:
        body = dict(ok)
        body[field] = value
        r = a.post("/v1/instance-offerings", body)
        err(r, 400, "InvalidArgument", field=field)
    # past int64: refused by the JSON parser
    err(a.post("/v1/instance-offerings", dict(ok, vcpus=2 ** 70)), 400, "InvalidArgument")
    # the limits themselves are fine
    a.ok("POST", "/v1/instance-offerings", {"name": "n" * 63, "vcpus": 256,
                                            "memory_mb": 4194304, "root_disk_gb": 65536,
                                            "description": "d" * 1024}, status=201)
    assert len(snapshot(a, "/v1/instance-offerings")) == len(before) + 1


def test_body_over_1mib_is_413(cloud):
    a = cloud.admin
    before = snapshot(a, "/v1/zones")
    big = json.dumps({"name": "big", "description": "x" * (1 << 20)})
    err(post_raw(a, "/v1/zones", big), 413, "PayloadTooLarge")

    def chunks():  # no Content-Length: the limit applies while reading
        yield b'{"name":"big","description":"'
        for _ in range(11):
            yield b"x" * 100000
        yield b'"}'
    err(a.req("POST", "/v1/zones", raw=chunks(), headers={"Content-Type": "application/json"}),
        413, "PayloadTooLarge")
    assert snapshot(a, "/v1/zones") == before
    # just under the limit is not refused for its size (but for its content)
    under = json.dumps({"name": "big", "description": "x" * ((1 << 20) - 64)})
    err(post_raw(a, "/v1/zones", under), 400, "InvalidArgument", field="description")
    assert snapshot(a, "/v1/zones") == before


def test_unknown_route_is_404(cloud):
    a = cloud.admin
    for path in ["/v1/nope", "/v1/zones/%s/nope" % uuid.uuid4(), "/v2/zones", "/",
                 "/v1/vms/%s/actions/explode" % uuid.uuid4()]:
        e = err(a.get(path), 404, "NotFound")
        assert "field" not in e
    before = snapshot(a, "/v1/zones")
    err(a.post("/v1/nope", {"name": "x"}), 404, "NotFound")
    err(a.post("/v1/zones/nope/x", {"name": "x"}), 404, "NotFound")
    assert snapshot(a, "/v1/zones") == before
    # an unknown id on a real route is a 404 too
    err(a.get("/v1/zones/%s" % uuid.uuid4()), 404, "NotFound")
    err(a.get("/v1/zones/not-a-uuid"), 404, "NotFound")


def test_wrong_method_is_405_with_allow(cloud):
    a = cloud.admin
    zone = a.ok("POST", "/v1/zones", {"name": "mz"})
    before = snapshot(a, "/v1/zones")

    def allow(r):
        return sorted(m.strip() for m in r.headers["Allow"].split(","))
    r = a.req("PUT", "/v1/zones", body={"name": "x"})
    err(r, 405, "MethodNotAllowed")
    assert allow(r) == ["GET", "POST"]
    r = a.delete("/v1/zones")
    err(r, 405, "MethodNotAllowed")
    assert allow(r) == ["GET", "POST"]
    r = a.post("/v1/zones/" + zone["id"], {"name": "x"})
    err(r, 405, "MethodNotAllowed")
    assert allow(r) == ["DELETE", "GET", "PATCH"]
    r = a.get("/v1/vms/%s/actions/start" % uuid.uuid4())
    err(r, 405, "MethodNotAllowed")
    assert allow(r) == ["POST"]
    assert snapshot(a, "/v1/zones") == before


def test_bad_filter_expressions_and_unknown_filter_fields_are_400(cloud):
    a = cloud.admin
    a.ok("POST", "/v1/instance-offerings", {"name": "o1", "vcpus": 1, "memory_mb": 64})
    a.ok("POST", "/v1/users", {"name": "u1", "password": "secret-pass-1"})
    for q in ["colour=red", "vcpus", "=1", "vcpus=two", "vcpus>1.5", "vcpus~=1",
              "vcpus?=1,x", "vcpus=<1", "description=x", ""]:
        err(a.get("/v1/instance-offerings", params={"q": q}), 400, "InvalidArgument",
            field="q")
    # one bad q among good ones still fails the whole request
    err(a.get("/v1/instance-offerings", params=[("q", "vcpus=1"), ("q", "nope=1")]), 400,
        "InvalidArgument", field="q")
    # write-only and internal fields cannot be probed through filters
    err(a.get("/v1/users", params={"q": "password=secret-pass-1"}), 400, "InvalidArgument",
        field="q")
    err(a.get("/v1/users", params={"q": "password_hash~=%"}), 400, "InvalidArgument",
        field="q")
    err(a.get("/v1/hosts", params={"q": "secret_hash~=%"}), 400, "InvalidArgument", field="q")
    # booleans are true or false
    err(a.get("/v1/l3-networks", params={"q": "shared=yes"}), 400, "InvalidArgument",
        field="q")
    assert len(items(a, "/v1/instance-offerings")) == 1


def test_bad_limit_offset_sort_fields_are_400(cloud):
    a = cloud.admin
    a.ok("POST", "/v1/instance-offerings", {"name": "o1", "vcpus": 1, "memory_mb": 64})
    for param, values in [("limit", ["0", "-1", "1001", "ten", "", "1.5"]),
                          ("offset", ["-1", "x", ""]),
                          ("sort", ["colour", "-", "", "--vcpus", "password"]),
                          ("fields", ["colour", "id,,name", "", "id,colour"])]:
        for v in values:
            err(a.get("/v1/instance-offerings", params={param: v}), 400, "InvalidArgument",
                field=param)
    err(a.get("/v1/users", params={"fields": "id,password"}), 400, "InvalidArgument",
        field="fields")
    err(a.get("/v1/users", params={"sort": "password_hash"}), 400, "InvalidArgument",
        field="sort")
    # the bounds themselves are fine
    assert a.ok("GET", "/v1/instance-offerings", params={"limit": 1000, "offset": 0})["total"] == 1


def test_wrong_state_is_409_naming_the_state(vmc):
    a = vmc.admin
    vm = make_vm(a, vmc.ids, "ws-1")
    assert vm["state"] == "running"
    jobs_before = a.ok("GET", "/v1/jobs?limit=1")["total"]
    e = err(a.post("/v1/vms/%s/actions/start" % vm["id"], {}), 409, "Conflict")
    assert "running" in e["message"]
    e = err(a.post("/v1/vms/%s/actions/resume" % vm["id"], {}), 409, "Conflict")
    assert "running" in e["message"]
    assert a.ok("GET", "/v1/vms/" + vm["id"]) == vm
    j = a.job(a.ok("POST", "/v1/vms/%s/actions/stop" % vm["id"], {}, status=202))
    assert j["state"] == "succeeded"
    vm = a.ok("GET", "/v1/vms/" + vm["id"])
    assert vm["state"] == "stopped"
    jobs_before += 1
    for verb in ["stop", "pause", "reboot", "resume"]:
        e = err(a.post("/v1/vms/%s/actions/%s" % (vm["id"], verb), {}), 409, "Conflict")
        assert "stopped" in e["message"], e
    assert a.ok("GET", "/v1/vms/" + vm["id"]) == vm
    assert a.ok("GET", "/v1/jobs?limit=1")["total"] == jobs_before
    destroy_vm(a, vm["id"])


def test_missing_token_is_401_with_www_authenticate(cloud):
    url = cloud.kumod.url
    before = snapshot(cloud.admin, "/v1/zones")
    anon = Api(url)
    for method, path, body in [("GET", "/v1/zones", None), ("POST", "/v1/zones", {"name": "x"}),
                               ("GET", "/v1/whoami", None), ("GET", "/v1/events", None),
                               ("DELETE", "/v1/sessions/current", None)]:
        r = anon.req(method, path, body=body)
        e = err(r, 401, "Unauthenticated")
        assert r.headers.get("WWW-Authenticate", "").startswith("Bearer"), r.headers
        assert "token" in e["message"]
    # a header that is not a bearer token is no token
    r = anon.get("/v1/zones", headers={"Authorization": "Basic YWRtaW46YWRtaW4="})
    err(r, 401, "Unauthenticated")
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert snapshot(cloud.admin, "/v1/zones") == before
    # the open endpoints stay open
    assert requests.get(url + "/healthz").json()["status"] == "ok"
    assert requests.get(url + "/v1/openapi.json").status_code == 200


def test_garbage_token_is_401(cloud):
    url = cloud.kumod.url
    before = snapshot(cloud.admin, "/v1/zones")
    real = cloud.admin.token
    for tok in ["garbage", "kst_" + "0" * 64, real[:-1] + ("0" if real[-1] != "0" else "1"),
                real + "x", "kak_" + "0" * 32 + "_" + "0" * 64, "kak_short", "x" * 5000,
                "khs_" + "0" * 64]:
        r = Api(url, tok).post("/v1/zones", {"name": "g"})
        err(r, 401, "Unauthenticated")
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert snapshot(cloud.admin, "/v1/zones") == before


# ---- lists ------------------------------------------------------------------------

OFFERINGS = [("o-a", 1, 512), ("o-b", 2, 1024), ("o-c", 4, 2048), ("o-d", 8, 4096),
             ("x-e", 2, 4096)]


def make_offerings(a):
    for name, cpus, mem in OFFERINGS:
        a.ok("POST", "/v1/instance-offerings", {"name": name, "vcpus": cpus,
                                                "memory_mb": mem}, status=201)


def test_list_filters_with_every_operator(cloud):
    a = cloud.admin
    make_offerings(a)
    cases = [
        (["vcpus=2"], ["o-b", "x-e"]),
        (["vcpus!=2"], ["o-a", "o-c", "o-d"]),
        (["vcpus>2"], ["o-c", "o-d"]),
        (["vcpus<2"], ["o-a"]),
        (["vcpus>=4"], ["o-c", "o-d"]),
        (["vcpus<=2"], ["o-a", "o-b", "x-e"]),
        (["name~=o-%"], ["o-a", "o-b", "o-c", "o-d"]),
        (["name~=_-e"], ["x-e"]),
        (["vcpus?=1,8"], ["o-a", "o-d"]),
        (["name?=o-a,x-e,nothing"], ["o-a", "x-e"]),
        (["name=o-c"], ["o-c"]),
        (["name=nothing"], []),
        # repeated q's are ANDed
        (["vcpus=2", "memory_mb=4096"], ["x-e"]),
        (["memory_mb>=2048", "vcpus<8"], ["o-c", "x-e"]),
        (["name~=o-%", "vcpus>1", "memory_mb<=2048"], ["o-b", "o-c"]),
    ]
    for qs, want in cases:
        page = a.ok("GET", "/v1/instance-offerings", params=[("q", q) for q in qs])
        assert names(page["items"]) == want, (qs, page)
        assert page["total"] == len(want), (qs, page)


def test_list_filters_vms_by_state(vmc):
    a = vmc.admin
    v1 = make_vm(a, vmc.ids, "fs-1")
    v2 = make_vm(a, vmc.ids, "fs-2")
    a.job(a.ok("POST", "/v1/vms/%s/actions/stop" % v2["id"], {}, status=202))

    def got(*qs):
        return names(items(a, "/v1/vms", q=list(qs) + ["name~=fs-%"]))
    assert got("state=running") == ["fs-1"]
    assert got("state=stopped") == ["fs-2"]
    assert got("state?=running,stopped") == ["fs-1", "fs-2"]
    assert got("state!=running") == ["fs-2"]
    assert got("host_id=" + v1["host_id"], "state=running") == ["fs-1"]
    destroy_vm(a, v1["id"])
    destroy_vm(a, v2["id"])


def test_list_sort_ascending_and_descending(cloud):
    a = cloud.admin
    make_offerings(a)
    created = [d["name"] for d in items(a, "/v1/instance-offerings")]
    assert created == [o[0] for o in OFFERINGS]  # default: created_at ascending
    by_cpu = items(a, "/v1/instance-offerings", sort="vcpus")
    assert [d["vcpus"] for d in by_cpu] == [1, 2, 2, 4, 8]
    by_cpu_desc = items(a, "/v1/instance-offerings", sort="-vcpus")
    assert [d["vcpus"] for d in by_cpu_desc] == [8, 4, 2, 2, 1]
    assert [d["name"] for d in items(a, "/v1/instance-offerings", sort="-name")] == \
        ["x-e", "o-d", "o-c", "o-b", "o-a"]
    assert [d["name"] for d in items(a, "/v1/instance-offerings", sort="-created_at")] == \
        list(reversed(created))
    # numbers sort as numbers, not as text ("512" < "4096" as text would be wrong)
    assert [d["memory_mb"] for d in items(a, "/v1/instance-offerings", sort="memory_mb")] == \
        [512, 1024, 2048, 4096, 4096]


def test_list_fields_projection(cloud):
    a = cloud.admin
    make_offerings(a)
    page = a.ok("GET", "/v1/instance-offerings", params={"fields": "id,name"})
    assert page["total"] == len(OFFERINGS)
    for d in page["items"]:
        assert set(d) == {"id", "name"}, d
    page = a.ok("GET", "/v1/instance-offerings",
                params={"fields": "vcpus", "q": "name=o-c"})
    assert page["items"] == [{"vcpus": 4}]
    one = items(a, "/v1/instance-offerings", q="name=o-d")[0]
    got = a.ok("GET", "/v1/instance-offerings/" + one["id"], params={"fields": "name,memory_mb"})
    assert got == {"name": "o-d", "memory_mb": 4096}
    # unknown (or write-only) fields are refused on a single GET as on lists
    err(a.get("/v1/instance-offerings/" + one["id"], params={"fields": "name,colour"}), 400,
        "InvalidArgument", field="fields")
    me = a.ok("GET", "/v1/whoami")
    err(a.get("/v1/users/" + me["user_id"], params={"fields": "password"}), 400,
        "InvalidArgument", field="fields")


def test_list_limit_offset_pages_and_total(cloud):
    a = cloud.admin
    for i in range(7):
        a.ok("POST", "/v1/zones", {"name": "pz-%d" % i})
    seen = []
    for off, n in [(0, 3), (3, 3), (6, 1), (7, 0), (50, 0)]:
        page = a.ok("GET", "/v1/zones", params={"limit": 3, "offset": off})
        assert page["total"] == 7, page
        assert len(page["items"]) == n, (off, page)
        seen += [z["name"] for z in page["items"]]
    assert seen == ["pz-%d" % i for i in range(7)]
    page = a.ok("GET", "/v1/zones", params={"limit": 2, "offset": 1, "sort": "-name"})
    assert [z["name"] for z in page["items"]] == ["pz-5", "pz-4"] and page["total"] == 7
    # total counts what the filters match, not what the page holds
    page = a.ok("GET", "/v1/zones", params={"limit": 1, "q": "name?=pz-1,pz-2,pz-3"})
    assert page["total"] == 3 and len(page["items"]) == 1
    # the default page is 100 items
    for i in range(7, 102):
        a.ok("POST", "/v1/zones", {"name": "pz-%d" % i})
    page = a.ok("GET", "/v1/zones")
    assert len(page["items"]) == 100 and page["total"] == 102
    assert len(a.ok("GET", "/v1/zones?limit=1000")["items"]) == 102


# ---- creates, jobs, ?wait ----------------------------------------------------

def test_creates_answer_201_location_and_get_returns_the_same(cloud):
    a = cloud.admin
    made = {}

    def create(plural, body):
        r = a.post("/v1/" + plural, body)
        assert r.status_code == 201, r.text
        doc = r.json()
        assert UUID_RE.match(doc["id"]), doc
        assert r.headers["Location"] == "/v1/%s/%s" % (plural, doc["id"])
        for k, v in body.items():
            if k != "password":
                assert doc[k] == v, (plural, k, doc)
        for k in ("created_at", "updated_at"):
            assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$", doc[k]), doc
        got = a.ok("GET", r.headers["Location"])
        if plural == "api-keys":
            assert got == {k: v for k, v in doc.items() if k != "key"}
        else:
            assert got == doc, plural
        made[plural] = doc
        return doc
    z = create("zones", {"name": "cz", "description": "a zone"})
    create("clusters", {"name": "cc", "zone_id": z["id"], "hypervisor": "sim"})
    create("images", {"name": "ci", "format": "raw", "size": 4096, "sha256": "ab" * 32})
    create("instance-offerings", {"name": "co", "vcpus": 2, "memory_mb": 256})
    l2 = create("l2-networks", {"name": "cl2", "zone_id": z["id"], "type": "vxlan", "vni": 7})
    create("l3-networks", {"name": "cl3", "l2_network_id": l2["id"], "cidr": "10.9.0.0/24"})
    acct = create("accounts", {"name": "cacct"})
    create("users", {"name": "cu", "password": "password-1", "role": "owner",
                     "account_id": acct["id"]})
    create("api-keys", {"name": "ck"})
    create("volumes", {"name": "cv", "size_gb": 3})
    # a create that needs no host work is never a job
    assert items(a, "/v1/jobs") == []


def test_vm_create_answers_202_location_and_the_job(vmc):
    a = vmc.admin
    ev_before = a.ok("GET", "/v1/events?limit=1000")["items"]
    after = ev_before[-1]["id"] if ev_before else 0
    r = a.post("/v1/vms", {"name": "j-1", "image_id": vmc.ids["image"],
                           "instance_offering_id": vmc.ids["offering"]})
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["Location"] == "/v1/jobs/" + job["id"]
    assert job["type"] == "vm.create" and job["resource_kind"] == "vms"
    assert job["state"] in ("pending", "running"), job
    assert 0 <= job["progress"] <= 100
    # the VM exists at once, and the answer is the job resource itself
    vm = a.ok("GET", "/v1/vms/" + job["resource_id"])
    assert vm["name"] == "j-1" and vm["job_id"] == job["id"]
    got = a.ok("GET", r.headers["Location"])
    assert got["id"] == job["id"] and set(got) == set(job), (got, job)
    # it was created in state creating
    evs = a.ok("GET", "/v1/events", params={"after": after, "limit": 1000})["items"]
    first = [e for e in evs if e["resource_id"] == vm["id"]][0]
    assert first["type"] == "vm.state" and first["data"]["state"] == "creating"
    done = a.job(job)
    assert done["state"] == "succeeded" and done["progress"] == 100
    assert done["error"] is None and done["finished_at"] >= done["started_at"]
    assert done["result"]["id"] == vm["id"] and done["result"]["state"] == "running"
    destroy_vm(a, vm["id"])


def test_wait_answers_200_with_the_finished_job(vmc):
    a = vmc.admin
    body = {"name": "w-1", "image_id": vmc.ids["image"],
            "instance_offering_id": vmc.ids["offering"]}
    r = a.post("/v1/vms?wait=%d" % int(20 * SLOW), body)
    assert r.status_code == 200, r.text
    job = r.json()
    assert r.headers["Location"] == "/v1/jobs/" + job["id"]
    assert job["state"] == "succeeded" and job["finished_at"], job
    assert job["result"]["state"] == "running" and job["result"]["id"] == job["resource_id"]
    vm_id = job["resource_id"]
    # actions too
    r = a.post("/v1/vms/%s/actions/stop?wait=%d" % (vm_id, int(20 * SLOW)), {"force": True})
    assert r.status_code == 200 and r.json()["state"] == "succeeded", r.text
    assert a.ok("GET", "/v1/vms/" + vm_id)["state"] == "stopped"
    # wait=0 does not wait: the job just made is answered, 202
    r = a.post("/v1/vms/%s/actions/start?wait=0" % vm_id, {})
    assert r.status_code == 202 and r.json()["state"] in ("pending", "running"), r.text
    # GET /v1/jobs/{id}?wait=S answers once the job is final
    got = a.ok("GET", "/v1/jobs/%s?wait=%d" % (r.json()["id"], int(20 * SLOW)))
    assert got["state"] == "succeeded", got
    r = a.delete("/v1/vms/%s?wait=%d" % (vm_id, int(20 * SLOW)))
    assert r.status_code == 200 and r.json()["state"] == "succeeded", r.text
    err(a.get("/v1/vms/" + vm_id), 404, "NotFound")


def test_bad_wait_is_400(vmc):
    a = vmc.admin
    vm = make_vm(a, vmc.ids, "bw-1")
    job_id = items(a, "/v1/jobs", q="resource_id=" + vm["id"])[0]["id"]
    vms_before = snapshot(a, "/v1/vms")
    jobs_before = a.ok("GET", "/v1/jobs?limit=1")["total"]
    body = {"name": "bw-2", "image_id": vmc.ids["image"],
            "instance_offering_id": vmc.ids["offering"]}
    for w in ["-1", "301", "abc", "1.5", "", "5s"]:
        err(a.post("/v1/vms", body, params={"wait": w}), 400, "InvalidArgument", field="wait")
        err(a.post("/v1/vms/%s/actions/stop" % vm["id"], {}, params={"wait": w}), 400,
            "InvalidArgument", field="wait")
        err(a.delete("/v1/vms/" + vm["id"], params={"wait": w}), 400, "InvalidArgument",
            field="wait")
        err(a.get("/v1/jobs/" + job_id, params={"wait": w}), 400, "InvalidArgument",
            field="wait")
    assert snapshot(a, "/v1/vms") == vms_before
    assert a.ok("GET", "/v1/jobs?limit=1")["total"] == jobs_before
    destroy_vm(a, vm["id"])


# ---- Idempotency-Key, X-Request-Id ---------------------------------------------

def test_idempotency_key_replays_the_first_response_and_creates_once(vmc):
    a = vmc.admin
    key = {"Idempotency-Key": "zone-" + uuid.uuid4().hex}
    r1 = a.post("/v1/zones", {"name": "iz"}, headers=key)
    r2 = a.post("/v1/zones", {"name": "iz"}, headers=key)
    assert r1.status_code == r2.status_code == 201, (r1.text, r2.text)
    assert r1.json() == r2.json()
    assert r1.headers["Location"] == r2.headers["Location"]
    assert len(items(a, "/v1/zones", q="name=iz")) == 1
    # a VM create is a 202 job: the retry answers the same job, one VM is made
    key = {"Idempotency-Key": "vm-" + uuid.uuid4().hex}
    body = {"name": "iv", "image_id": vmc.ids["image"],
            "instance_offering_id": vmc.ids["offering"]}
    r1 = a.post("/v1/vms", body, headers=key)
    r2 = a.post("/v1/vms", body, headers=key)
    assert r1.status_code == r2.status_code == 202, (r1.text, r2.text)
    assert r1.json() == r2.json()
    assert r1.headers["Location"] == r2.headers["Location"]
    vms = items(a, "/v1/vms", q="name=iv")
    assert len(vms) == 1
    assert len(items(a, "/v1/jobs", q="resource_id=" + vms[0]["id"])) == 1
    a.job(r1.json())
    # without a key the same create is a new request (and a duplicate name)
    err(a.post("/v1/vms", body), 409, "Conflict", field="name")
    destroy_vm(a, vms[0]["id"])


def test_idempotency_key_on_another_path_is_409(cloud):
    a = cloud.admin
    key = {"Idempotency-Key": "k-" + uuid.uuid4().hex}
    a.ok("POST", "/v1/zones", {"name": "kz"}, headers=key, status=201)
    before_img = snapshot(a, "/v1/images")
    e = err(a.post("/v1/images", {"name": "ki", "format": "raw"}, headers=key), 409,
            "Conflict", field="Idempotency-Key")
    assert "Idempotency-Key" in e["message"]
    assert snapshot(a, "/v1/images") == before_img
    # and on the same path it still replays the zone
    r = a.post("/v1/zones", {"name": "other"}, headers=key)
    assert r.status_code == 201 and r.json()["name"] == "kz"
    assert items(a, "/v1/zones", q="name=other") == []


def test_idempotency_key_over_128_characters_is_400(cloud):
    a = cloud.admin
    before = snapshot(a, "/v1/zones")
    err(a.post("/v1/zones", {"name": "long"}, headers={"Idempotency-Key": "k" * 129}), 400,
        "InvalidArgument", field="Idempotency-Key")
    assert snapshot(a, "/v1/zones") == before
    key = {"Idempotency-Key": "k" * 128}
    z1 = a.ok("POST", "/v1/zones", {"name": "long"}, headers=key, status=201)
    assert a.ok("POST", "/v1/zones", {"name": "long"}, headers=key, status=201) == z1
    assert len(items(a, "/v1/zones")) == len(before) + 1


def test_x_request_id_is_echoed_when_sane(cloud):
    a = cloud.admin
    for rid in ["abc", "req-1.2_X", "A" * 64]:
        h = {"X-Request-Id": rid}
        assert a.get("/v1/zones", headers=h).headers["X-Request-Id"] == rid
        assert a.get("/v1/nope", headers=h).headers["X-Request-Id"] == rid
        assert Api(cloud.kumod.url).get("/v1/zones", headers=h).headers["X-Request-Id"] == rid
        assert a.post("/v1/zones", {"bad": 1}, headers=h).headers["X-Request-Id"] == rid


def test_x_request_id_is_generated_otherwise(cloud):
    a = cloud.admin
    seen = set()
    for h in [None, {"X-Request-Id": ""}, {"X-Request-Id": "has space"},
              {"X-Request-Id": "A" * 65}, {"X-Request-Id": "semi;colon"},
              {"X-Request-Id": "ünï"}]:
        for path in ["/v1/zones", "/v1/nope"]:
            r = a.get(path, headers=h)
            rid = r.headers.get("X-Request-Id")
            assert rid and UUID_RE.match(rid), (h, rid)
            seen.add(rid)
    assert len(seen) == 12  # a new one every time


# ---- OpenAPI, metrics, events ----------------------------------------------------

def _crud(plural, ops="lcgpd"):
    out = []
    for op in ops:
        out.append({"l": ("get", "/v1/" + plural), "c": ("post", "/v1/" + plural),
                    "g": ("get", "/v1/%s/{id}" % plural), "p": ("patch", "/v1/%s/{id}" % plural),
                    "d": ("delete", "/v1/%s/{id}" % plural)}[op])
    return out


# Every route these tests (test_api.py and test_auth.py) call.
ROUTES_USED = (
    _crud("zones") + _crud("clusters") + _crud("images") + _crud("instance-offerings") +
    _crud("l2-networks") + _crud("l3-networks") + _crud("accounts") + _crud("users") +
    _crud("vms") + _crud("volumes") + _crud("hosts", "lgpd") + _crud("api-keys", "lcgd") +
    _crud("quotas", "lgp") + _crud("jobs", "lg") +
    [("post", "/v1/vms/{id}/actions/" + v) for v in ("start", "stop", "reboot", "pause",
                                                     "resume")] +
    [("post", "/v1/volumes/{id}/actions/attach"), ("post", "/v1/volumes/{id}/actions/detach"),
     ("post", "/v1/hosts/{id}/actions/enable"), ("post", "/v1/hosts/{id}/actions/disable"),
     ("get", "/v1/events"), ("post", "/v1/sessions"), ("delete", "/v1/sessions/current"),
     ("get", "/v1/whoami"), ("get", "/v1/openapi.json"), ("get", "/metrics"),
     ("get", "/healthz")])

# docs/API.md, "vms": the fields of a create.
VM_CREATE_FIELDS = {"name", "description", "image_id", "instance_offering_id", "vcpus",
                    "memory_mb", "root_disk_gb", "l3_network_ids", "zone_id", "cluster_id",
                    "host_id", "user_data", "ssh_keys", "ha", "strategy", "count",
                    "security_group_ids", "bandwidth_in_kbps", "bandwidth_out_kbps", "priority",
                    "pool_id"}


def test_openapi_document(cloud):
    r = requests.get(cloud.kumod.url + "/v1/openapi.json")  # no token needed
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    doc = r.json()
    assert re.match(r"^3\.\d+\.\d+$", doc["openapi"]), doc["openapi"]
    assert doc["info"]["title"] and doc["info"]["version"]
    paths = doc["paths"]
    missing = [(m, p) for m, p in ROUTES_USED if m not in paths.get(p, {})]
    assert not missing, missing
    for p, ops in paths.items():
        assert p.startswith("/"), p
        for m, op in ops.items():
            assert m in ("get", "post", "put", "patch", "delete"), (p, m)
            assert op.get("responses"), (p, m)
    # every $ref resolves
    schemas = doc["components"]["schemas"]

    def refs(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "$ref":
                    yield v
                else:
                    yield from refs(v)
        elif isinstance(node, list):
            for v in node:
                yield from refs(v)
    for ref in refs(doc):
        assert ref.startswith("#/components/schemas/") and \
            ref.split("/")[-1] in schemas, ref
    # the VM create body is documented as docs/API.md says
    body = paths["/v1/vms"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    vc = schemas[body["$ref"].split("/")[-1]] if "$ref" in body else body
    assert set(vc["properties"]) == VM_CREATE_FIELDS, set(vc["properties"]) ^ VM_CREATE_FIELDS
    assert set(vc["required"]) == {"name", "image_id"}
    assert vc.get("additionalProperties") is False
    assert vc["properties"]["ha"]["enum"] == ["none", "restart"]
    assert vc["properties"]["strategy"]["enum"] == ["spread", "pack"]
    assert (vc["properties"]["count"]["minimum"], vc["properties"]["count"]["maximum"]) == \
        (1, 1000)
    assert vc["properties"]["l3_network_ids"]["type"] == "array"
    # list routes document their parameters; job routes document ?wait
    params = {p["name"] for p in paths["/v1/vms"]["get"]["parameters"]}
    assert {"limit", "offset", "sort", "fields", "q"} <= params
    assert "wait" in {p["name"] for p in paths["/v1/vms"]["post"]["parameters"]}
    assert {"code", "message", "field"} <= set(schemas["Error"]["properties"]["error"]
                                               ["properties"])
    # and every documented operation is routed: no token gives 401 (or, on the
    # open routes, their answer), never "no such path" or "method not allowed"
    for p, ops in paths.items():
        for m in ops:
            r = requests.request(m.upper(), cloud.kumod.url + p.replace("{id}",
                                                                        str(uuid.uuid4())))
            assert r.status_code != 405 and "no such path" not in r.text, \
                (m, p, r.status_code, r.text)


def test_metrics_prometheus_text_counts_requests_and_vms(vmc):
    a = vmc.admin
    url = vmc.kumod.url
    m0 = metrics(url)
    for name in ["kumo_http_requests_total{class=\"2xx\"}",
                 "kumo_http_requests_total{class=\"4xx\"}",
                 "kumo_vms{state=\"running\"}", "kumo_hosts{status=\"connected\"}"]:
        assert name in m0, name
    assert m0["kumo_hosts{status=\"connected\"}"] == 2
    for i in range(3):
        a.get("/v1/nope-%d" % i)
    vm = make_vm(a, vmc.ids, "m-1")
    m1 = metrics(url)
    assert m1["kumo_http_requests_total{class=\"4xx\"}"] >= \
        m0["kumo_http_requests_total{class=\"4xx\"}"] + 3
    assert m1["kumo_http_requests_total{class=\"2xx\"}"] >= \
        m0["kumo_http_requests_total{class=\"2xx\"}"] + 3
    assert m1["kumo_vms{state=\"running\"}"] == m0["kumo_vms{state=\"running\"}"] + 1
    destroy_vm(a, vm["id"])
    m2 = metrics(url)
    assert m2["kumo_vms{state=\"running\"}"] == m0["kumo_vms{state=\"running\"}"]


def test_metrics_need_an_admin_token_when_not_open(cloud_factory):
    c = cloud_factory("[kumod]\nmetrics_open_on_loopback=false\n")
    r = requests.get(c.kumod.url + "/metrics")
    err(r, 401, "Unauthenticated")
    acct = c.admin.ok("POST", "/v1/accounts", {"name": "m"})
    c.admin.ok("POST", "/v1/users", {"name": "o", "password": "password-1", "role": "owner",
                                     "account_id": acct["id"]})
    owner = c.kumod.login("m", "o", "password-1")
    err(owner.get("/metrics"), 403, "PermissionDenied")
    r = c.admin.get("/metrics")
    assert r.status_code == 200 and "kumo_http_requests_total" in r.text


def test_events_list_and_follow_sse_with_resume(cloud):
    a = cloud.admin
    stream = Sse(a)
    try:
        zone = a.ok("POST", "/v1/zones", {"name": "ez"})
        ev = stream.next(lambda e: e.get("event") == "zone.created")
        assert ev["json"]["resource_id"] == zone["id"]
        assert ev["json"]["type"] == "zone.created"
        assert ev["json"]["resource_kind"] == "zones"
        assert int(ev["id"]) == ev["json"]["id"]
        first_id = int(ev["id"])
        # the same event in the list
        listed = a.ok("GET", "/v1/events", params={"after": first_id - 1})["items"]
        assert listed[0]["id"] == first_id and listed[0]["resource_id"] == zone["id"]
        assert set(listed[0]) >= {"id", "time", "type", "resource_kind", "resource_id",
                                  "account_id", "data"}
        assert all(e["id"] > first_id for e in
                   a.ok("GET", "/v1/events", params={"after": first_id})["items"])
        # updates and deletes are events too, in order
        a.ok("PATCH", "/v1/zones/" + zone["id"], {"description": "x"})
        a.ok("DELETE", "/v1/zones/" + zone["id"], status=204)
        ev2 = stream.next(lambda e: e["json"]["resource_id"] == zone["id"])
        ev3 = stream.next(lambda e: e["json"]["resource_id"] == zone["id"])
        assert (ev2["event"], ev3["event"]) == ("zone.updated", "zone.deleted")
        assert first_id < int(ev2["id"]) < int(ev3["id"])
    finally:
        stream.close()
    # made while nobody listened; Last-Event-ID resumes after the id given
    z2 = a.ok("POST", "/v1/zones", {"name": "ez2"})
    resumed = Sse(a, last_event_id=int(ev3["id"]))
    try:
        ev = resumed.next()
        assert ev["event"] == "zone.created" and ev["json"]["resource_id"] == z2["id"], ev
        assert int(ev["id"]) > int(ev3["id"])
    finally:
        resumed.close()
    resumed = Sse(a, last_event_id=first_id)
    try:
        assert int(resumed.next()["id"]) == int(ev2["id"])
    finally:
        resumed.close()
    # without Last-Event-ID a stream starts with what happens next
    fresh = Sse(a)
    try:
        z3 = a.ok("POST", "/v1/zones", {"name": "ez3"})
        ev = fresh.next()
        assert ev["json"]["resource_id"] == z3["id"], ev
    finally:
        fresh.close()
    err(a.get("/v1/events", params={"after": "x"}), 400, "InvalidArgument", field="after")
    err(a.get("/v1/events", params={"limit": "0"}), 400, "InvalidArgument", field="limit")
    page = a.ok("GET", "/v1/events", params={"limit": 2})
    assert len(page["items"]) == 2


# ---- CRUD of every resource type ------------------------------------------------

def test_zone_crud(cloud):
    a = cloud.admin
    z = a.ok("POST", "/v1/zones", {"name": "zc", "description": "first"}, status=201)
    assert z["state"] == "enabled" and z["account_id"] is None
    assert a.ok("GET", "/v1/zones/" + z["id"]) == z
    assert [x["id"] for x in items(a, "/v1/zones", q="name=zc")] == [z["id"]]
    time.sleep(0.002)
    p = a.ok("PATCH", "/v1/zones/" + z["id"], {"description": "second", "state": "disabled"},
             status=200)
    assert (p["description"], p["state"], p["name"]) == ("second", "disabled", "zc")
    assert p["updated_at"] > z["updated_at"] and p["created_at"] == z["created_at"]
    assert a.ok("GET", "/v1/zones/" + z["id"]) == p
    err(a.patch("/v1/zones/" + z["id"], {"state": "broken"}), 400, "InvalidArgument",
        field="state")
    err(a.post("/v1/zones", {"name": "zc"}), 409, "Conflict", field="name")
    other = a.ok("POST", "/v1/zones", {"name": "zc2"})
    err(a.patch("/v1/zones/" + other["id"], {"name": "zc"}), 409, "Conflict", field="name")
    cl = a.ok("POST", "/v1/clusters", {"name": "c", "zone_id": z["id"], "hypervisor": "sim"})
    e = err(a.delete("/v1/zones/" + z["id"]), 409, "Conflict")
    assert "cluster" in e["message"]
    assert a.ok("GET", "/v1/zones/" + z["id"]) == p
    a.ok("DELETE", "/v1/clusters/" + cl["id"], status=204)
    r = a.delete("/v1/zones/" + z["id"])
    assert r.status_code == 204 and r.content == b""
    err(a.get("/v1/zones/" + z["id"]), 404, "NotFound")
    err(a.delete("/v1/zones/" + z["id"]), 404, "NotFound")
    err(a.patch("/v1/zones/" + z["id"], {"description": "x"}), 404, "NotFound")
    assert names(items(a, "/v1/zones")) == ["zc2"]


def test_cluster_crud(cloud):
    a = cloud.admin
    z = a.ok("POST", "/v1/zones", {"name": "cz"})
    before = snapshot(a, "/v1/clusters")
    err(a.post("/v1/clusters", {"name": "c", "zone_id": str(uuid.uuid4()),
                                "hypervisor": "sim"}), 400, "InvalidArgument", field="zone_id")
    err(a.post("/v1/clusters", {"name": "c", "zone_id": z["id"], "hypervisor": "xen"}), 400,
        "InvalidArgument", field="hypervisor")
    err(a.post("/v1/clusters", {"name": "c", "zone_id": z["id"]}), 400, "InvalidArgument",
        field="hypervisor")
    assert snapshot(a, "/v1/clusters") == before
    c = a.ok("POST", "/v1/clusters", {"name": "c", "zone_id": z["id"], "hypervisor": "qemu"},
             status=201)
    assert (c["arch"], c["state"]) == ("x86_64", "enabled")
    p = a.ok("PATCH", "/v1/clusters/" + c["id"], {"name": "c2", "state": "disabled"})
    assert (p["name"], p["state"], p["zone_id"]) == ("c2", "disabled", z["id"])
    err(a.patch("/v1/clusters/" + c["id"], {"zone_id": z["id"]}), 400, "InvalidArgument",
        field="zone_id")
    assert a.ok("GET", "/v1/clusters/" + c["id"]) == p
    a.ok("DELETE", "/v1/clusters/" + c["id"], status=204)
    err(a.get("/v1/clusters/" + c["id"]), 404, "NotFound")


def test_image_crud(cloud):
    a = cloud.admin
    before = snapshot(a, "/v1/images")
    for body, field in [({"name": "i", "format": "vmdk"}, "format"),
                        ({"name": "i", "format": "raw", "sha256": "g" * 64}, "sha256"),
                        ({"name": "i", "format": "raw", "sha256": "a" * 63}, "sha256"),
                        ({"name": "i", "format": "raw", "size": -1}, "size"),
                        ({"name": "i", "format": "raw", "visibility": "world"}, "visibility"),
                        ({"name": "i"}, "format")]:
        err(a.post("/v1/images", body), 400, "InvalidArgument", field=field)
    assert snapshot(a, "/v1/images") == before
    i = a.ok("POST", "/v1/images", {"name": "i", "format": "qcow2"}, status=201)
    assert (i["visibility"], i["status"], i["arch"], i["size"]) == ("private", "uploading",
                                                                    "x86_64", 0)
    assert i["account_id"] == a.ok("GET", "/v1/whoami")["account_id"]
    p = a.ok("PATCH", "/v1/images/" + i["id"], {"name": "i2", "visibility": "public",
                                                "description": "d"})
    assert (p["name"], p["visibility"], p["description"]) == ("i2", "public", "d")
    err(a.patch("/v1/images/" + i["id"], {"format": "raw"}), 400, "InvalidArgument",
        field="format")
    assert a.ok("GET", "/v1/images/" + i["id"]) == p
    a.ok("DELETE", "/v1/images/" + i["id"], status=204)
    err(a.get("/v1/images/" + i["id"]), 404, "NotFound")


def test_instance_offering_crud(cloud):
    a = cloud.admin
    o = a.ok("POST", "/v1/instance-offerings", {"name": "o", "vcpus": 2, "memory_mb": 2048},
             status=201)
    assert o["root_disk_gb"] == 10
    p = a.ok("PATCH", "/v1/instance-offerings/" + o["id"], {"vcpus": 4, "description": "d"})
    assert (p["vcpus"], p["memory_mb"], p["description"]) == (4, 2048, "d")
    err(a.patch("/v1/instance-offerings/" + o["id"], {"vcpus": 0}), 400, "InvalidArgument",
        field="vcpus")
    assert a.ok("GET", "/v1/instance-offerings/" + o["id"]) == p
    err(a.post("/v1/instance-offerings", {"name": "o", "vcpus": 1, "memory_mb": 64}), 409,
        "Conflict", field="name")
    a.ok("DELETE", "/v1/instance-offerings/" + o["id"], status=204)
    err(a.get("/v1/instance-offerings/" + o["id"]), 404, "NotFound")
    assert items(a, "/v1/instance-offerings") == []


def test_l2_network_rules(cloud):
    a = cloud.admin
    z = a.ok("POST", "/v1/zones", {"name": "lz"})
    zid = z["id"]

    def bad(body, field, status=400, code="InvalidArgument"):
        before = snapshot(a, "/v1/l2-networks")
        body = dict({"name": "bad", "zone_id": zid}, **body)
        err(a.post("/v1/l2-networks", body), status, code, field=field)
        assert snapshot(a, "/v1/l2-networks") == before

    # flat: neither vni nor vlan
    flat = a.ok("POST", "/v1/l2-networks", {"name": "flat", "zone_id": zid, "type": "flat",
                                            "physical_interface": "eth0"}, status=201)
    assert flat["type"] == "flat"
    bad({"type": "flat", "vni": 5}, "vni")
    bad({"type": "flat", "vlan": 5}, "vlan")
    # vxlan: a vni, unique
    bad({"type": "vxlan"}, "vni")
    bad({"type": "vxlan", "vni": 5, "vlan": 5}, "vlan")
    bad({"type": "vxlan", "vni": 0}, "vni")
    bad({"type": "vxlan", "vni": 16777216}, "vni")
    vx = a.ok("POST", "/v1/l2-networks", {"name": "vx", "zone_id": zid, "type": "vxlan",
                                          "vni": 16777215}, status=201)
    assert vx["vni"] == 16777215
    bad({"type": "vxlan", "vni": 16777215}, "vni", 409, "Conflict")
    # vlan: an interface and a vlan id, unique per interface
    bad({"type": "vlan", "vlan": 10}, "physical_interface")
    bad({"type": "vlan", "physical_interface": "eth0"}, "vlan")
    bad({"type": "vlan", "physical_interface": "eth0", "vlan": 4095}, "vlan")
    bad({"type": "vlan", "physical_interface": "eth0", "vlan": 10, "vni": 3}, "vni")
    bad({"type": "vlan", "physical_interface": "eth 0", "vlan": 10}, "physical_interface")
    bad({"type": "vlan", "physical_interface": "e" * 16, "vlan": 10}, "physical_interface")
    a.ok("POST", "/v1/l2-networks", {"name": "v10", "zone_id": zid, "type": "vlan",
                                     "vlan": 10, "physical_interface": "eth0"}, status=201)
    bad({"type": "vlan", "physical_interface": "eth0", "vlan": 10}, "vlan", 409, "Conflict")
    a.ok("POST", "/v1/l2-networks", {"name": "v10b", "zone_id": zid, "type": "vlan",
                                     "vlan": 10, "physical_interface": "eth1"}, status=201)
    # other checks
    bad({"type": "token-ring"}, "type")
    bad({"type": "flat", "zone_id": str(uuid.uuid4())}, "zone_id")
    bad({"type": "flat", "name": "flat"}, "name", 409, "Conflict")
    p = a.ok("PATCH", "/v1/l2-networks/" + vx["id"], {"name": "vx2"})
    assert p["name"] == "vx2" and p["vni"] == 16777215
    err(a.patch("/v1/l2-networks/" + vx["id"], {"vni": 9}), 400, "InvalidArgument", field="vni")
    # in use by an L3 network: stays
    l3 = a.ok("POST", "/v1/l3-networks", {"name": "n", "l2_network_id": vx["id"],
                                          "cidr": "10.3.0.0/24"})
    e = err(a.delete("/v1/l2-networks/" + vx["id"]), 409, "Conflict")
    assert "L3" in e["message"]
    a.ok("DELETE", "/v1/l3-networks/" + l3["id"], status=204)
    a.ok("DELETE", "/v1/l2-networks/" + vx["id"], status=204)
    err(a.get("/v1/l2-networks/" + vx["id"]), 404, "NotFound")
    # the vni is free again
    a.ok("POST", "/v1/l2-networks", {"name": "vx3", "zone_id": zid, "type": "vxlan",
                                     "vni": 16777215}, status=201)


def test_l3_network_rules(cloud):
    a = cloud.admin
    z = a.ok("POST", "/v1/zones", {"name": "nz"})
    l2 = a.ok("POST", "/v1/l2-networks", {"name": "a", "zone_id": z["id"], "type": "flat"})
    l2b = a.ok("POST", "/v1/l2-networks", {"name": "b", "zone_id": z["id"], "type": "vxlan",
                                           "vni": 9})

    def bad(body, field_prefix, status=400, code="InvalidArgument"):
        before = snapshot(a, "/v1/l3-networks")
        body = dict({"name": "bad", "l2_network_id": l2["id"]}, **body)
        e = err(a.post("/v1/l3-networks", body), status, code)
        assert e.get("field", "").startswith(field_prefix), (body, e)
        assert snapshot(a, "/v1/l3-networks") == before
        return e

    n = a.ok("POST", "/v1/l3-networks", {
        "name": "n1", "l2_network_id": l2["id"], "cidr": "10.1.0.0/24",
        "gateway": "10.1.0.1", "dns": ["10.1.0.1"], "services": ["dhcp", "dns"],
        "ip_ranges": [{"start": "10.1.0.10", "end": "10.1.0.20"},
                      {"start": "10.1.0.100", "end": "10.1.0.100"}]}, status=201)
    assert (n["ip_total"], n["ip_used"], n["shared"]) == (12, 0, False)
    assert n["ip_ranges"] == [{"start": "10.1.0.10", "end": "10.1.0.20"},
                              {"start": "10.1.0.100", "end": "10.1.0.100"}]
    # defaults: the first address is the gateway, the rest one range
    d = a.ok("POST", "/v1/l3-networks", {"name": "n2", "l2_network_id": l2["id"],
                                         "cidr": "10.2.0.0/24"}, status=201)
    assert d["gateway"] == "10.2.0.1"
    assert d["ip_ranges"] == [{"start": "10.2.0.2", "end": "10.2.0.254"}]
    assert d["ip_total"] == 253 and d["services"] == ["dhcp", "dns"]
    # ranges inside the CIDR, not overlapping, without the gateway
    bad({"cidr": "10.5.0.0/24", "ip_ranges": [{"start": "10.5.1.1", "end": "10.5.1.9"}]},
        "ip_ranges")
    bad({"cidr": "10.5.0.0/24", "ip_ranges": [{"start": "10.5.0.9", "end": "10.5.0.1"}]},
        "ip_ranges")
    bad({"cidr": "10.5.0.0/24", "ip_ranges": [{"start": "10.5.0.5", "end": "10.5.0.9"},
                                              {"start": "10.5.0.9", "end": "10.5.0.12"}]},
        "ip_ranges")
    bad({"cidr": "10.5.0.0/24", "gateway": "10.5.0.5",
         "ip_ranges": [{"start": "10.5.0.2", "end": "10.5.0.9"}]}, "ip_ranges")
    bad({"cidr": "10.5.0.0/24", "ip_ranges": [{"start": "10.5.0.5", "end": "10.5.0.x"}]},
        "ip_ranges")
    # the gateway inside the CIDR
    bad({"cidr": "10.5.0.0/24", "gateway": "10.6.0.1"}, "gateway")
    bad({"cidr": "10.5.0.0/24", "gateway": "10.5.0.255"}, "gateway")
    # the CIDR itself
    for cidr in ["10.5.0.0/33", "10.5.0.1/24", "banana-0/24", "10.5.0.0"]:
        bad({"cidr": cidr}, "cidr")
    bad({"cidr": "10.5.0.0/24", "services": ["dhcp", "teleport"]}, "services")
    bad({"cidr": "10.5.0.0/24", "l2_network_id": str(uuid.uuid4())}, "l2_network_id")
    # an overlapping CIDR on the same L2 is a conflict; on another L2 it is fine
    bad({"cidr": "10.1.0.0/16"}, "cidr", 409, "Conflict")
    bad({"cidr": "10.1.0.128/25"}, "cidr", 409, "Conflict")
    a.ok("POST", "/v1/l3-networks", {"name": "n3", "l2_network_id": l2b["id"],
                                     "cidr": "10.1.0.0/16"}, status=201)
    # a filter on a boolean field
    assert names(items(a, "/v1/l3-networks", q="shared=false")) == ["n1", "n2", "n3"]
    p = a.ok("PATCH", "/v1/l3-networks/" + n["id"], {"shared": True, "name": "n1s"})
    assert p["shared"] is True and p["cidr"] == "10.1.0.0/24"
    assert names(items(a, "/v1/l3-networks", q="shared=true")) == ["n1s"]
    err(a.patch("/v1/l3-networks/" + n["id"], {"cidr": "10.7.0.0/24"}), 400, "InvalidArgument",
        field="cidr")
    a.ok("DELETE", "/v1/l3-networks/" + n["id"], status=204)
    err(a.get("/v1/l3-networks/" + n["id"]), 404, "NotFound")


def test_l3_network_in_use_cannot_be_deleted(vmc):
    a = vmc.admin
    n = a.ok("POST", "/v1/l3-networks", {"name": "use", "l2_network_id": vmc.ids["l2"],
                                         "cidr": "10.200.0.0/29"})
    assert n["ip_total"] == 5
    ids = dict(vmc.ids, l3=n["id"])
    vm = make_vm(a, ids, "use-1")
    nic = vm["nics"][0]
    assert nic["l3_network_id"] == n["id"] and nic["ip"] == "10.200.0.2"
    assert re.match(r"^52:54:00(:[0-9a-f]{2}){3}$", nic["mac"]), nic
    assert a.ok("GET", "/v1/l3-networks/" + n["id"])["ip_used"] == 1
    e = err(a.delete("/v1/l3-networks/" + n["id"]), 409, "Conflict")
    assert "in use" in e["message"]
    assert a.ok("GET", "/v1/l3-networks/" + n["id"])["ip_used"] == 1
    destroy_vm(a, vm["id"])
    assert a.ok("GET", "/v1/l3-networks/" + n["id"])["ip_used"] == 0
    a.ok("DELETE", "/v1/l3-networks/" + n["id"], status=204)


def test_image_in_use_cannot_be_deleted(vmc):
    a = vmc.admin
    img = upload_image(a, vmc.tmp, "iu")
    vm = make_vm(a, dict(vmc.ids, image=img["id"]), "iu-1")
    err(a.delete("/v1/images/" + img["id"]), 409, "Conflict")
    assert a.ok("GET", "/v1/images/" + img["id"]) == img
    destroy_vm(a, vm["id"])
    a.ok("DELETE", "/v1/images/" + img["id"], status=204)


def test_hosts_list_disable_enable_delete(cloud):
    a = cloud.admin
    cloud.add_agent("hd", hosts=2)
    ids = cloud.basics()
    hosts = items(a, "/v1/hosts", sort="name")
    assert [h["name"] for h in hosts] == ["hd-1", "hd-2"]
    for h in hosts:
        assert (h["status"], h["state"], h["driver"], h["accel"]) == \
            ("connected", "enabled", "sim", "sim")
        assert h["cpu_total"] > 0 and h["memory_mb_total"] > 0 and h["vm_count"] == 0
        assert "secret_hash" not in h and "secret" not in h
        assert a.ok("GET", "/v1/hosts/" + h["id"]) == h
    h1, h2 = hosts
    # disabled: keeps existing VMs, takes no new ones
    d = a.ok("POST", "/v1/hosts/%s/actions/disable" % h1["id"], {}, status=200)
    assert d["state"] == "disabled"
    assert a.ok("GET", "/v1/hosts/" + h1["id"])["state"] == "disabled"
    job = a.job(a.ok("POST", "/v1/vms", {"name": "hv", "count": 4, "image_id": ids["image"],
                                         "instance_offering_id": ids["offering"],
                                         "strategy": "spread"}, status=202))
    assert job["state"] == "succeeded", job
    vms = items(a, "/v1/vms")
    assert len(vms) == 4 and {v["host_id"] for v in vms} == {h2["id"]}
    e = err(a.post("/v1/vms", {"name": "pin", "image_id": ids["image"],
                               "instance_offering_id": ids["offering"],
                               "host_id": h1["id"]}), 409, "Conflict")
    assert "disabled" in e["message"]
    assert len(items(a, "/v1/vms")) == 4
    # a host with VMs cannot be deleted; one without can
    e = err(a.delete("/v1/hosts/" + h2["id"]), 409, "Conflict")
    assert "VM" in e["message"]
    assert a.ok("GET", "/v1/hosts/" + h2["id"])["vm_count"] == 4
    # enabled again: it takes VMs
    assert a.ok("POST", "/v1/hosts/%s/actions/enable" % h1["id"], {})["state"] == "enabled"
    vm = make_vm(a, ids, "pinned", host_id=h1["id"])
    assert vm["host_id"] == h1["id"]
    assert a.ok("GET", "/v1/hosts/" + h1["id"])["vm_count"] == 1
    # rename
    p = a.ok("PATCH", "/v1/hosts/" + h2["id"], {"name": "renamed"})
    assert p["name"] == "renamed"
    err(a.patch("/v1/hosts/" + h2["id"], {"cpu_total": 1}), 400, "InvalidArgument",
        field="cpu_total")
    # a cluster with hosts stays
    err(a.delete("/v1/clusters/" + h1["cluster_id"]), 409, "Conflict")
    destroy_vm(a, vm["id"])
    assert a.ok("GET", "/v1/hosts/" + h1["id"])["vm_count"] == 0
    a.ok("DELETE", "/v1/hosts/" + h1["id"], status=204)
    err(a.get("/v1/hosts/" + h1["id"]), 404, "NotFound")
    err(a.post("/v1/hosts/%s/actions/enable" % uuid.uuid4(), {}), 404, "NotFound")


def test_volume_create_attach_detach_delete(vmc):
    a = vmc.admin
    vm = make_vm(a, vmc.ids, "vol-vm")
    err(a.post("/v1/volumes", {"name": "v", "size_gb": 0}), 400, "InvalidArgument",
        field="size_gb")
    err(a.post("/v1/volumes", {"name": "v"}), 400, "InvalidArgument", field="size_gb")
    r = a.post("/v1/volumes", {"name": "data-1", "size_gb": 5})
    assert r.status_code == 201, r.text
    v = r.json()
    assert r.headers["Location"] == "/v1/volumes/" + v["id"]
    assert (v["state"], v["kind"], v["format"], v["vm_id"], v["host_id"], v["size_gb"]) == \
        ("available", "data", "qcow2", None, None, 5)
    err(a.post("/v1/volumes/%s/actions/attach" % v["id"], {"vm_id": str(uuid.uuid4())}), 400,
        "InvalidArgument", field="vm_id")
    err(a.post("/v1/volumes/%s/actions/attach" % v["id"], {}), 400, "InvalidArgument",
        field="vm_id")
    assert a.ok("GET", "/v1/volumes/" + v["id"]) == dict(v)
    # attach
    j = a.job(a.ok("POST", "/v1/volumes/%s/actions/attach" % v["id"], {"vm_id": vm["id"]},
                   status=202))
    assert j["state"] == "succeeded" and j["type"] == "volume.attach", j
    v = a.ok("GET", "/v1/volumes/" + v["id"])
    assert (v["state"], v["vm_id"], v["host_id"]) == ("in_use", vm["id"], vm["host_id"])
    vmd = a.ok("GET", "/v1/vms/" + vm["id"])
    assert vmd["volumes"] == vm["volumes"] + [v["id"]]
    root = a.ok("GET", "/v1/volumes/" + vm["volumes"][0])
    assert (root["kind"], root["vm_id"]) == ("root", vm["id"])
    # attached: no second attach, no delete
    err(a.post("/v1/volumes/%s/actions/attach" % v["id"], {"vm_id": vm["id"]}), 409, "Conflict")
    err(a.delete("/v1/volumes/" + v["id"]), 409, "Conflict")
    err(a.post("/v1/volumes/%s/actions/detach" % root["id"], {}), 409, "Conflict")
    assert a.ok("GET", "/v1/volumes/" + v["id"]) == v
    # detach
    j = a.job(a.ok("POST", "/v1/volumes/%s/actions/detach" % v["id"], {}, status=202))
    assert j["state"] == "succeeded", j
    v = a.ok("GET", "/v1/volumes/" + v["id"])
    assert (v["state"], v["vm_id"]) == ("available", None)
    assert a.ok("GET", "/v1/vms/" + vm["id"])["volumes"] == vm["volumes"]
    err(a.post("/v1/volumes/%s/actions/detach" % v["id"], {}), 409, "Conflict")
    # rename, then delete (it lives on a host now: a job)
    assert a.ok("PATCH", "/v1/volumes/" + v["id"], {"name": "data-1b"})["name"] == "data-1b"
    j = a.job(a.ok("DELETE", "/v1/volumes/" + v["id"], status=202))
    assert j["state"] == "succeeded", j
    err(a.get("/v1/volumes/" + v["id"]), 404, "NotFound")
    # create-and-attach in one call
    j = a.job(a.ok("POST", "/v1/volumes", {"name": "data-2", "size_gb": 1, "vm_id": vm["id"]},
                   status=202))
    assert j["state"] == "succeeded", j
    v2 = a.ok("GET", "/v1/volumes/" + j["resource_id"])
    assert (v2["state"], v2["vm_id"]) == ("in_use", vm["id"])
    a.job(a.ok("POST", "/v1/volumes/%s/actions/detach" % v2["id"], {}, status=202))
    a.job(a.ok("DELETE", "/v1/volumes/" + v2["id"], status=202))
    # a never-attached volume is deleted at once
    v3 = a.ok("POST", "/v1/volumes", {"name": "data-3", "size_gb": 1}, status=201)
    a.ok("DELETE", "/v1/volumes/" + v3["id"], status=204)
    err(a.get("/v1/volumes/" + v3["id"]), 404, "NotFound")
    destroy_vm(a, vm["id"])
    err(a.get("/v1/volumes/" + root["id"]), 404, "NotFound")


def test_quota_read_and_update(cloud):
    a = cloud.admin
    me = a.ok("GET", "/v1/whoami")
    acct = a.ok("POST", "/v1/accounts", {"name": "qa"})
    qs = items(a, "/v1/quotas")
    assert {q["id"] for q in qs} == {me["account_id"], acct["id"]}
    q = a.ok("GET", "/v1/quotas/" + acct["id"])
    assert (q["vm_count"], q["vcpus"], q["memory_mb"]) == (-1, -1, -1)
    assert q["used"] == {"vm_count": 0, "vcpus": 0, "memory_mb": 0}
    assert q["account_id"] == acct["id"]
    p = a.ok("PATCH", "/v1/quotas/" + acct["id"], {"vm_count": 5, "vcpus": 10})
    assert (p["vm_count"], p["vcpus"], p["memory_mb"]) == (5, 10, -1)
    for body, field in [({"vm_count": -2}, "vm_count"), ({"vcpus": "many"}, "vcpus"),
                        ({"used": {}}, "used"), ({"disk_gb": 5}, "disk_gb")]:
        err(a.patch("/v1/quotas/" + acct["id"], body), 400, "InvalidArgument", field=field)
    assert a.ok("GET", "/v1/quotas/" + acct["id"]) == p
    err(a.get("/v1/quotas/%s" % uuid.uuid4()), 404, "NotFound")
    err(a.post("/v1/quotas", {"vm_count": 1}), 405, "MethodNotAllowed")
    # an account's quota goes with it
    a.ok("DELETE", "/v1/accounts/" + acct["id"], status=204)
    err(a.get("/v1/quotas/" + acct["id"]), 404, "NotFound")


def test_account_and_user_crud(cloud):
    a = cloud.admin
    acct = a.ok("POST", "/v1/accounts", {"name": "ac", "description": "d"}, status=201)
    assert acct["state"] == "enabled" and acct["account_id"] is None
    p = a.ok("PATCH", "/v1/accounts/" + acct["id"], {"description": "e"})
    assert p["description"] == "e" and a.ok("GET", "/v1/accounts/" + acct["id"]) == p
    err(a.post("/v1/accounts", {"name": "ac"}), 409, "Conflict", field="name")
    u = a.ok("POST", "/v1/users", {"name": "u", "password": "password-1",
                                   "account_id": acct["id"]}, status=201)
    assert (u["role"], u["state"], u["account_id"]) == ("member", "enabled", acct["id"])
    err(a.post("/v1/users", {"name": "u2", "password": "short", "account_id": acct["id"]}),
        400, "InvalidArgument", field="password")
    err(a.post("/v1/users", {"name": "u2", "password": "password-1", "role": "god",
                             "account_id": acct["id"]}), 400, "InvalidArgument", field="role")
    err(a.post("/v1/users", {"name": "u2", "password": "password-1", "role": "admin",
                             "account_id": acct["id"]}), 400, "InvalidArgument", field="role")
    err(a.post("/v1/users", {"name": "u2", "password": "password-1",
                             "account_id": str(uuid.uuid4())}), 400, "InvalidArgument",
        field="account_id")
    assert names(items(a, "/v1/users", q="account_id=" + acct["id"])) == ["u"]
    p = a.ok("PATCH", "/v1/users/" + u["id"], {"role": "viewer", "state": "disabled"})
    assert (p["role"], p["state"]) == ("viewer", "disabled")
    err(a.patch("/v1/users/" + u["id"], {"name": "renamed"}), 400, "InvalidArgument",
        field="name")
    # an account that still has users stays; the admin account always stays
    e = err(a.delete("/v1/accounts/" + acct["id"]), 409, "Conflict")
    assert "users" in e["message"]
    me = a.ok("GET", "/v1/whoami")
    err(a.delete("/v1/accounts/" + me["account_id"]), 409, "Conflict")
    err(a.delete("/v1/users/" + me["user_id"]), 409, "Conflict")
    a.ok("DELETE", "/v1/users/" + u["id"], status=204)
    err(a.get("/v1/users/" + u["id"]), 404, "NotFound")
    a.ok("DELETE", "/v1/accounts/" + acct["id"], status=204)
    err(a.get("/v1/accounts/" + acct["id"]), 404, "NotFound")
    assert names(items(a, "/v1/accounts")) == ["admin"]
