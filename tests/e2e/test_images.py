# SPDX-License-Identifier: MIT
"""Images on the management node (docs/API.md, images): records, streamed
uploads checked against their sha256 and format, registration from a file
on the management node, the agents' download with a host secret, deletes,
and the CLI's `kumo image upload`.

Every refusal is followed by a look at DATA/images: nothing half-made may
stay there.
"""
import hashlib
import json
import os
import socket
import stat
import subprocess
import time
import uuid

import pytest
import requests

from conftest import CLI, SLOW, image_file, tar_file, upload_image, wait_for

OCTET = {"Content-Type": "application/octet-stream"}


# ---- helpers ----------------------------------------------------------------

def err(r, status, code, field=None, msg=None):
    assert r.status_code == status, "want %d, got %d %s" % (status, r.status_code, r.text)
    e = r.json()["error"]
    assert e["code"] == code, e
    if field is not None:
        assert e.get("field") == field, e
    if msg is not None:
        for m in ([msg] if isinstance(msg, str) else msg):
            assert m in e["message"], e
    return e


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def store_dir(cloud):
    return os.path.join(cloud.kumod.dir, "images")


def store_files(cloud):
    d = store_dir(cloud)
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def active_ids(cloud):
    return sorted(i["id"] for i in cloud.admin.ok("GET", "/v1/images?limit=1000")["items"]
                  if i["status"] == "active")


def assert_store_clean(cloud):
    """DATA/images holds exactly the bytes of the active images."""
    wait_for(lambda: store_files(cloud) == active_ids(cloud), timeout=5,
             what="DATA/images to hold only active images")


def create(api, name, fmt, **fields):
    return api.ok("POST", "/v1/images", dict({"name": name, "format": fmt}, **fields),
                  status=201)


def upload(api, img_id, path_or_bytes, headers=OCTET, **kw):
    """Uploads a file (a path), bytes, or an iterator of chunks (chunked)."""
    if not isinstance(path_or_bytes, str):
        return api.req("POST", "/v1/images/%s/upload" % img_id, raw=path_or_bytes,
                       headers=headers, **kw)
    with open(path_or_bytes, "rb") as f:
        return api.req("POST", "/v1/images/%s/upload" % img_id, raw=f, headers=headers, **kw)


def raw_request_start(cloud, token, img_id, content_length, body):
    """Starts an upload on a raw socket: headers and the first bytes of the
    body; the caller closes the socket (cutting the upload short)."""
    s = socket.create_connection(("127.0.0.1", cloud.kumod.port), timeout=10)
    head = ("POST /v1/images/%s/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Authorization: Bearer %s\r\nContent-Type: application/octet-stream\r\n"
            "Content-Length: %d\r\n\r\n" % (img_id, token, content_length)).encode()
    s.sendall(head + body)
    return s


def register_host(cloud, name="img-host"):
    """A host registered with the join token: (host id, host secret)."""
    with open(cloud.kumod.join_token_file) as f:
        jt = f.read().strip()
    r = requests.post(cloud.kumod.url + "/agent/v1/register", json={
        "join_token": jt, "name": name,
        "facts": {"cpus": 2, "memory_mb": 1024, "disk_gb": 10, "driver": "sim"}})
    assert r.status_code == 201, r.text
    return r.json()["host_id"], r.json()["secret"]


def member_of_new_account(cloud, acct, role="member"):
    a = cloud.admin
    doc = a.ok("POST", "/v1/accounts", {"name": acct})
    a.ok("POST", "/v1/users", {"name": "u", "password": "password-123", "role": role,
                               "account_id": doc["id"]})
    return cloud.kumod.login(acct, "u", "password-123"), doc["id"]


# ---- uploads ----------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["qcow2", "raw", "kernel"])
def test_upload_makes_the_image_active_with_its_sha_and_size(cloud, fmt):
    a = cloud.admin
    path = image_file(cloud.tmp, "up-" + fmt, fmt)
    size = os.path.getsize(path)
    img = create(a, "up-" + fmt, fmt, sha256=sha(path).upper(), size=size)
    assert (img["status"], img["sha256"], img["size"]) == ("uploading", sha(path), size)
    assert img["virtual_size"] is None and img["status_reason"] is None
    r = upload(a, img["id"], path)
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["status"], got["sha256"], got["size"]) == ("active", sha(path), size)
    assert got["virtual_size"] == {"qcow2": 16 << 20, "raw": size, "kernel": None}[fmt]
    assert a.ok("GET", "/v1/images/" + img["id"]) == got
    # the bytes are in DATA/images/<id>, private to kumod, and nothing else is
    f = os.path.join(store_dir(cloud), img["id"])
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o600
    assert sha(f) == sha(path)
    assert store_files(cloud) == [img["id"]]
    # the change is an event
    evs = a.ok("GET", "/v1/events?limit=1000")["items"]
    assert any(e["type"] == "image.updated" and e["resource_id"] == img["id"] and
               (e.get("data") or {}).get("status") == "active" for e in evs), evs


def test_upload_without_a_promised_sha_computes_it(cloud):
    a = cloud.admin
    path = image_file(cloud.tmp, "nosha", "raw")
    img = create(a, "nosha", "raw")
    assert img["sha256"] is None
    got = a.ok("POST", "/v1/images/%s/upload" % img["id"], raw=open(path, "rb").read(),
               headers=OCTET)
    assert (got["sha256"], got["size"], got["status"]) == (sha(path), 65536, "active")


def test_sha_mismatch_is_400_naming_both_sums_and_leaves_nothing(cloud):
    a = cloud.admin
    path = image_file(cloud.tmp, "bad-sha", "raw")
    img = create(a, "bad-sha", "raw", sha256="0" * 64)
    e = err(upload(a, img["id"], path), 400, "InvalidArgument", field="sha256",
            msg=["0" * 64, sha(path)])
    got = a.ok("GET", "/v1/images/" + img["id"])
    assert got["status"] == "error" and got["status_reason"] == e["message"], got
    assert got["sha256"] == "0" * 64
    assert_store_clean(cloud)
    # a VM cannot use it; the promise can be corrected and the upload retried
    a.ok("PATCH", "/v1/images/" + img["id"], {"sha256": sha(path)})
    r = upload(a, img["id"], path)
    assert r.status_code == 200 and r.json()["status"] == "active", r.text
    assert r.json()["status_reason"] is None
    # an active image's sha256 is its bytes'
    err(a.patch("/v1/images/" + img["id"], {"sha256": "1" * 64}), 409, "Conflict",
        field="sha256")
    assert_store_clean(cloud)


def test_size_mismatch_is_400_before_the_body(cloud):
    a = cloud.admin
    path = image_file(cloud.tmp, "bad-size", "raw")
    img = create(a, "bad-size", "raw", size=1000)
    err(upload(a, img["id"], path), 400, "InvalidArgument", field="size",
        msg=["1000", "65536"])
    assert a.ok("GET", "/v1/images/" + img["id"])["status"] == "uploading"
    assert_store_clean(cloud)


def test_truncated_upload_leaves_nothing_and_can_be_retried(cloud):
    a = cloud.admin
    path = image_file(cloud.tmp, "cut", "raw")
    img = create(a, "cut", "raw", sha256=sha(path))
    s = raw_request_start(cloud, a.token, img["id"], 65536, open(path, "rb").read()[:5000])
    part = os.path.join(store_dir(cloud), img["id"] + ".part")
    wait_for(lambda: os.path.exists(part), timeout=5, what="the upload to start")
    s.close()
    wait_for(lambda: not os.path.exists(part), timeout=10, what="the part file to go")
    got = a.ok("GET", "/v1/images/" + img["id"])
    assert (got["status"], got["size"]) == ("uploading", 0), got
    assert_store_clean(cloud)
    r = upload(a, img["id"], path)
    assert r.status_code == 200 and r.json()["status"] == "active", r.text


def test_only_one_upload_at_a_time_and_never_to_an_active_image(cloud):
    a = cloud.admin
    path = image_file(cloud.tmp, "one", "raw")
    img = create(a, "one", "raw")
    s = raw_request_start(cloud, a.token, img["id"], 65536, b"x" * 100)
    part = os.path.join(store_dir(cloud), img["id"] + ".part")
    wait_for(lambda: os.path.exists(part), timeout=5, what="the first upload to start")
    err(upload(a, img["id"], path), 409, "Conflict", msg="already under way")
    s.close()
    wait_for(lambda: not os.path.exists(part), timeout=10, what="the part file to go")
    assert upload(a, img["id"], path).status_code == 200
    e = err(upload(a, img["id"], path), 409, "Conflict", msg="already active")
    assert "one" in e["message"]
    assert sha(os.path.join(store_dir(cloud), img["id"])) == sha(path)
    assert_store_clean(cloud)


def test_wrong_format_bytes_are_refused_and_leave_nothing(cloud):
    a = cloud.admin
    tmp = cloud.tmp
    qcow = image_file(tmp, "q", "qcow2")
    raw = image_file(tmp, "r", "raw")
    kern = image_file(tmp, "k", "kernel")
    base = os.path.join(tmp, "base.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", base, "16M"], check=True)
    backed = os.path.join(tmp, "backed.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base,
                    backed], check=True)
    fake_kernel = {"kernel": b"MZ" + b"\0" * 4000, "cmdline": b"console=ttyS0"}
    no_kernel = {"initrd": b"i" * 3000, "cmdline": b"console=ttyS0"}
    long_cmdline = {"kernel": b"\0" * 0x202 + b"HdrS" + b"\0" * 100,
                    "cmdline": b"x" * 5000}
    cases = [
        ("qcow2", raw, "not a valid qcow2 image"),
        ("qcow2", kern, "not a valid qcow2 image"),
        ("qcow2", backed, "backing file"),
        ("raw", qcow, "declared raw but its bytes are a qcow2 image"),
        ("kernel", qcow, "not a POSIX tar archive"),
        ("kernel", raw, "not a POSIX tar archive"),
        ("kernel", tar_file(os.path.join(tmp, "nk.tar"), no_kernel), "no member named kernel"),
        ("kernel", tar_file(os.path.join(tmp, "fk.tar"), fake_kernel), "not a Linux kernel"),
        ("kernel", tar_file(os.path.join(tmp, "lc.tar"), long_cmdline), "cmdline is over"),
    ]
    for i, (fmt, path, msg) in enumerate(cases):
        img = create(a, "bad-%d" % i, fmt)
        e = err(upload(a, img["id"], path), 400, "InvalidArgument", field="format", msg=msg)
        assert cloud.kumod.dir not in e["message"], e  # kumod's paths are not told
        got = a.ok("GET", "/v1/images/" + img["id"])
        assert (got["status"], got["status_reason"]) == ("error", e["message"]), got
        assert_store_clean(cloud)
    # a kernel image cut inside a member is refused too
    with open(kern, "rb") as f:
        data = f.read()
    img = create(a, "bad-cut", "kernel")
    err(upload(a, img["id"], data[:1500]), 400, "InvalidArgument", msg="truncated")
    # an empty body and an unknown format
    img = create(a, "bad-empty", "raw")
    err(upload(a, img["id"], b""), 400, "InvalidArgument", msg="empty")
    err(a.post("/v1/images", {"name": "bad-fmt", "format": "vmdk"}), 400, "InvalidArgument",
        field="format")
    assert_store_clean(cloud)


def test_upload_needs_octet_stream(cloud):
    a = cloud.admin
    img = create(a, "ct", "raw")
    err(upload(a, img["id"], b"x" * 100, headers={"Content-Type": "application/json"}), 400,
        "InvalidArgument", msg="application/octet-stream")
    assert_store_clean(cloud)


def test_upload_over_the_limit_is_413(cloud_factory):
    c = cloud_factory("[kumod]\nimage_max_bytes = 100000\n")
    a = c.admin
    img = create(a, "big", "raw")
    err(upload(a, img["id"], b"x" * 200000), 413, "PayloadTooLarge", msg="100000")
    assert_store_clean(c)

    def chunks():  # no Content-Length: found out while streaming
        for _ in range(15):
            yield b"y" * 10000
    err(upload(a, img["id"], chunks()), 413, "PayloadTooLarge")
    assert_store_clean(c)
    assert a.ok("GET", "/v1/images/" + img["id"])["status"] in ("uploading", "error")
    # a chunked upload under the limit is fine
    path = image_file(c.tmp, "small", "raw")

    def file_chunks():
        with open(path, "rb") as f:
            while True:
                b = f.read(7000)
                if not b:
                    return
                yield b
    r = upload(a, img["id"], file_chunks())
    assert r.status_code == 200 and r.json()["sha256"] == sha(path), r.text


def test_uploads_follow_tenancy_and_roles(cloud):
    a = cloud.admin
    path = image_file(cloud.tmp, "ten", "raw")
    mine = create(a, "ten", "raw")
    b, _ = member_of_new_account(cloud, "acct-b")
    err(upload(b, mine["id"], path), 404, "NotFound")
    err(upload(b, str(uuid.uuid4()), path), 404, "NotFound")
    err(b.get("/v1/images/" + mine["id"]), 404, "NotFound")
    # a member uploads to the account's own image; a viewer may not
    own = upload_image(b, cloud.tmp, "b-img", "raw")
    assert own["status"] == "active"
    v, _ = member_of_new_account(cloud, "acct-v", role="viewer")
    vi = a.ok("POST", "/v1/images", {"name": "v-img", "format": "raw",
                                     "account_id": v_account(cloud, "acct-v")})
    err(upload(v, vi["id"], path), 403, "PermissionDenied")
    # a public image of another account is readable, not writable
    pub = create(a, "pub", "raw", visibility="public")
    assert b.ok("GET", "/v1/images/" + pub["id"])["id"] == pub["id"]
    err(upload(b, pub["id"], path), 404, "NotFound")
    # no token at all
    r = requests.post(cloud.kumod.url + "/v1/images/%s/upload" % mine["id"], data=b"x",
                      headers=OCTET)
    err(r, 401, "Unauthenticated")
    assert a.ok("GET", "/v1/images/" + mine["id"])["status"] == "uploading"
    assert_store_clean(cloud)


def v_account(cloud, name):
    return cloud.admin.ok("GET", "/v1/accounts?q=name=" + name)["items"][0]["id"]


# ---- agents' download -------------------------------------------------------

def test_agents_download_with_their_host_secret(cloud):
    a = cloud.admin
    _, secret = register_host(cloud)
    path = image_file(cloud.tmp, "dl", "qcow2")
    img = upload_image(a, cloud.tmp, "dl", "qcow2", path=path)
    url = cloud.kumod.url + "/agent/v1/images/%s/data" % img["id"]
    r = requests.get(url, headers={"Authorization": "Bearer " + secret})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert int(r.headers["Content-Length"]) == os.path.getsize(path)
    assert r.headers["X-Image-Sha256"] == img["sha256"]
    with open(path, "rb") as f:
        assert r.content == f.read()
    # a user's token, no token, a wrong secret: refused
    err(requests.get(url, headers={"Authorization": "Bearer " + a.token}), 401,
        "Unauthenticated", msg="host secret")
    err(requests.get(url), 401, "Unauthenticated")
    err(requests.get(url, headers={"Authorization": "Bearer khs_" + "0" * 64}), 401,
        "Unauthenticated")
    auth = {"Authorization": "Bearer " + secret}
    # unknown images are 404, images without bytes 409
    err(requests.get(cloud.kumod.url + "/agent/v1/images/%s/data" % uuid.uuid4(),
                     headers=auth), 404, "NotFound")
    up = create(a, "dl-up", "raw")
    err(requests.get(cloud.kumod.url + "/agent/v1/images/%s/data" % up["id"], headers=auth),
        409, "Conflict", msg="uploading")
    # private images of any account are served to hosts (they run every account's VMs)
    b, _ = member_of_new_account(cloud, "acct-dl")
    bi = upload_image(b, cloud.tmp, "b-dl", "raw")
    r = requests.get(cloud.kumod.url + "/agent/v1/images/%s/data" % bi["id"], headers=auth)
    assert r.status_code == 200 and hashlib.sha256(r.content).hexdigest() == bi["sha256"]


# ---- VMs and deletes --------------------------------------------------------

def test_vm_on_an_image_without_bytes_is_409_and_creates_nothing(cloud):
    a = cloud.admin
    ids = cloud.basics()
    img = create(a, "not-yet", "qcow2")
    before = a.ok("GET", "/v1/vms")["total"], a.ok("GET", "/v1/jobs")["total"]
    e = err(a.post("/v1/vms", {"name": "early", "image_id": img["id"],
                               "instance_offering_id": ids["offering"],
                               "l3_network_ids": [ids["l3"]]}),
            409, "Conflict", field="image_id", msg="not-yet is uploading")
    assert "active" in e["message"]
    assert (a.ok("GET", "/v1/vms")["total"], a.ok("GET", "/v1/jobs")["total"]) == before


def test_delete_refuses_while_vms_use_the_image_then_removes_the_bytes(cloud):
    a = cloud.admin
    cloud.add_agent("del", hosts=1)
    ids = cloud.basics()
    img = upload_image(a, cloud.tmp, "used")
    job = a.job(a.ok("POST", "/v1/vms", {"name": "user-1", "image_id": img["id"],
                                         "instance_offering_id": ids["offering"],
                                         "l3_network_ids": [ids["l3"]]}, status=202))
    assert job["state"] == "succeeded", job
    err(a.delete("/v1/images/" + img["id"]), 409, "Conflict", msg=["used", "1 VM", "user-1"])
    assert os.path.exists(os.path.join(store_dir(cloud), img["id"]))
    assert a.ok("GET", "/v1/images/" + img["id"]) == img
    j = a.job(a.ok("DELETE", "/v1/vms/" + job["resource_id"], status=202))
    assert j["state"] == "succeeded", j
    a.ok("DELETE", "/v1/images/" + img["id"], status=204)
    err(a.get("/v1/images/" + img["id"]), 404, "NotFound")
    assert not os.path.exists(os.path.join(store_dir(cloud), img["id"]))
    assert_store_clean(cloud)
    # an image without bytes is deleted just the same
    up = create(a, "never", "raw")
    a.ok("DELETE", "/v1/images/" + up["id"], status=204)
    assert_store_clean(cloud)


# ---- registration from a file on the management node -------------------------

def test_admins_register_images_from_files_on_the_management_node(cloud):
    a = cloud.admin
    path = image_file(cloud.tmp, "reg", "qcow2")
    img = a.ok("POST", "/v1/images", {"name": "reg", "format": "qcow2", "source_path": path,
                                      "sha256": sha(path), "visibility": "public"},
               status=201)
    assert (img["status"], img["sha256"], img["size"]) == ("active", sha(path),
                                                          os.path.getsize(path))
    assert img["virtual_size"] == 16 << 20 and "source_path" not in img
    assert sha(os.path.join(store_dir(cloud), img["id"])) == sha(path)
    assert os.path.exists(path)  # copied, not moved
    kern = image_file(cloud.tmp, "reg-k", "kernel")
    k = a.ok("POST", "/v1/images", {"name": "reg-k", "format": "kernel", "source_path": kern},
             status=201)
    assert k["status"] == "active" and k["sha256"] == sha(kern)
    before = a.ok("GET", "/v1/images?limit=1000")["items"]
    raw = image_file(cloud.tmp, "reg-r", "raw")
    for body, status, code, field, msg in [
            ({"source_path": "relative/x.raw"}, 400, "InvalidArgument", "source_path",
             "absolute"),
            ({"source_path": cloud.tmp}, 400, "InvalidArgument", "source_path",
             "not a regular file"),
            ({"source_path": cloud.tmp + "/nope.raw"}, 400, "InvalidArgument", "source_path",
             "cannot open"),
            ({"source_path": path}, 400, "InvalidArgument", "format", "are a qcow2 image"),
            ({"source_path": raw, "sha256": "1" * 64}, 400, "InvalidArgument", "sha256",
             "1" * 64),
            ({"source_path": raw, "name": "reg"}, 409, "Conflict", "name", "reg"),
            ({"source_path": raw, "format": "qcow2"}, 400, "InvalidArgument", "format",
             "not a valid qcow2")]:
        b = dict({"name": "reg-bad", "format": "raw"}, **body)
        err(a.post("/v1/images", b), status, code, field=field, msg=msg)
    assert a.ok("GET", "/v1/images?limit=1000")["items"] == before
    assert_store_clean(cloud)
    # members may not read files on the management node
    m, _ = member_of_new_account(cloud, "acct-reg")
    err(m.post("/v1/images", {"name": "x", "format": "raw", "source_path": raw}), 403,
        "PermissionDenied", field="source_path")
    assert_store_clean(cloud)


# ---- restarts ---------------------------------------------------------------

def test_an_upload_cut_by_a_crash_is_cleaned_at_start(cloud):
    a = cloud.admin
    path = image_file(cloud.tmp, "crash", "raw")
    img = create(a, "crash", "raw")
    s = raw_request_start(cloud, a.token, img["id"], 65536, b"z" * 1000)
    part = os.path.join(store_dir(cloud), img["id"] + ".part")
    wait_for(lambda: os.path.exists(part), timeout=5, what="the upload to start")
    cloud.kumod.kill9()
    s.close()
    assert os.path.exists(part)
    cloud.kumod.start()
    a = cloud.admin = cloud.kumod.login()
    r = upload(a, img["id"], path)
    assert r.status_code == 200, r.text
    assert_store_clean(cloud)


# ---- the CLI ----------------------------------------------------------------

def kumo(cloud, *args, token=None):
    env = dict(os.environ, KUMO_URL=cloud.kumod.url, KUMO_TOKEN=token or cloud.admin.token,
               KUMO_CONFIG_DIR=os.path.join(cloud.tmp, "cli-config"))
    return subprocess.run([CLI] + list(args), env=env, capture_output=True, text=True,
                          timeout=60 * SLOW)


def test_cli_upload_end_to_end(cloud):
    a = cloud.admin
    qcow = image_file(cloud.tmp, "cli-disk", "qcow2")
    kern = image_file(cloud.tmp, "cli-kernel", "kernel")
    raw = image_file(cloud.tmp, "cli-raw", "raw")
    # the format comes from the file; the name from its file name or --name
    r = kumo(cloud, "image", "upload", qcow, "-o", "json")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert (got["name"], got["format"], got["status"], got["sha256"]) == \
        ("cli-disk.qcow2", "qcow2", "active", sha(qcow))
    r = kumo(cloud, "image", "upload", kern, "--name", "vmlinuz", "--visibility", "public",
             "-o", "json")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert (got["format"], got["visibility"], got["sha256"]) == ("kernel", "public", sha(kern))
    r = kumo(cloud, "image", "upload", raw, "--name", "plain")
    assert r.returncode == 0, r.stderr
    assert "active" in r.stdout and sha(raw) in r.stdout
    # list, get and delete still work
    r = kumo(cloud, "image", "list")
    assert r.returncode == 0 and "vmlinuz" in r.stdout and "plain" in r.stdout, r.stdout
    r = kumo(cloud, "image", "get", "plain", "-o", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["size"] == 65536, r.stdout
    # a refused upload says why and leaves the record to see and delete
    r = kumo(cloud, "image", "upload", qcow, "--name", "liar", "--format", "raw")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "declared raw" in r.stderr and "kumo image delete" in r.stderr, r.stderr
    liar = a.ok("GET", "/v1/images?q=name=liar")["items"][0]
    assert liar["status"] == "error"
    r = kumo(cloud, "image", "delete", "liar")
    assert r.returncode == 0, r.stderr
    r = kumo(cloud, "image", "delete", "plain")
    assert r.returncode == 0, r.stderr
    assert_store_clean(cloud)
    # an admin registers a file on the management node with image create
    r = kumo(cloud, "image", "create", "--name", "from-file", "--format", "raw",
             "--source-path", raw, "--timeout", "600", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["status"] == "active"
    # a missing file is a usage error, before anything is created
    n = a.ok("GET", "/v1/images")["total"]
    r = kumo(cloud, "image", "upload", os.path.join(cloud.tmp, "missing.qcow2"))
    assert r.returncode == 2 and "cannot open" in r.stderr, r.stderr
    assert a.ok("GET", "/v1/images")["total"] == n
    assert_store_clean(cloud)
