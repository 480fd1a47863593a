# SPDX-License-Identifier: MIT
"""Authentication and tenancy, against the real kumod and a sim agent:
logins (and their rate limit), logout, session expiry, roles, API keys,
tenant isolation on every resource type that has an owner, quotas, and
that passwords never come back out.
"""
import calendar
import json
import os
import shutil
import stat
import tempfile
import time
import uuid
from types import SimpleNamespace

import pytest
import requests

from conftest import SLOW, Api, Cloud, upload_image
from test_api import Sse, err, items, snapshot

PW = "correct-horse-9"


def login(cloud, account, user, password):
    return requests.post(cloud.kumod.url + "/v1/sessions",
                         json={"account": account, "user": user, "password": password})


@pytest.fixture(scope="module")
def t():
    """Two tenant accounts, a and b, each with an owner, two members and a
    viewer (logged in as t.a_owner, t.a_member, t.a_member2, t.a_viewer ...),
    and account a's resources: a private image, a private L3 network, a VM
    on it (with its job), a data volume and an API key. Account b has a VM
    on the shared network from the public image."""
    d = tempfile.mkdtemp(prefix="kumo-e2e-auth-")
    c = Cloud(d)
    try:
        c.start()
        c.add_agent("t", hosts=2)
        ids = c.basics()
        admin = c.admin
        ns = SimpleNamespace(cloud=c, admin=admin, ids=ids, url=c.kumod.url)
        for acct in ("a", "b"):
            doc = admin.ok("POST", "/v1/accounts", {"name": "acct-" + acct})
            setattr(ns, acct + "_id", doc["id"])
            for role, user in [("owner", "owner"), ("member", "member"),
                               ("member", "member2"), ("viewer", "viewer")]:
                u = admin.ok("POST", "/v1/users", {"name": user, "password": PW, "role": role,
                                                   "account_id": doc["id"]})
                setattr(ns, "%s_%s_user" % (acct, user), u)
                setattr(ns, "%s_%s" % (acct, user), c.kumod.login("acct-" + acct, user, PW))
        am = ns.a_member
        ns.a_image = upload_image(am, d, "a-img")
        ns.a_l3 = am.ok("POST", "/v1/l3-networks", {"name": "a-net", "cidr": "10.50.0.0/24",
                                                    "l2_network_id": ids["l2"]})
        job = am.job(am.ok("POST", "/v1/vms", {
            "name": "a-vm", "image_id": ns.a_image["id"],
            "instance_offering_id": ids["offering"], "l3_network_ids": [ns.a_l3["id"]]},
            status=202))
        assert job["state"] == "succeeded", job
        ns.a_job = job
        ns.a_vm = am.ok("GET", "/v1/vms/" + job["resource_id"])
        ns.a_volume = am.ok("POST", "/v1/volumes", {"name": "a-vol", "size_gb": 1})
        ns.a_key = am.ok("POST", "/v1/api-keys", {"name": "a-key"})
        bm = ns.b_member
        job = bm.job(bm.ok("POST", "/v1/vms", {
            "name": "b-vm", "image_id": ids["image"], "instance_offering_id": ids["offering"],
            "l3_network_ids": [ids["l3"]]}, status=202))
        assert job["state"] == "succeeded", job
        ns.b_vm = bm.ok("GET", "/v1/vms/" + job["resource_id"])
        yield ns
    finally:
        c.stop()
        shutil.rmtree(d, ignore_errors=True)


# ---- logins, logout, expiry -----------------------------------------------------

def test_login_success_answers_a_bearer_token(cloud):
    r = login(cloud, "admin", "admin", cloud.kumod.password)
    assert r.status_code == 201, r.text
    s = r.json()
    assert set(s) == {"token", "expires_at", "account_id", "user_id", "role"}
    assert s["token"].startswith("kst_") and s["role"] == "admin"
    me = Api(cloud.kumod.url, s["token"]).ok("GET", "/v1/whoami")
    assert (me["account"], me["user"], me["role"], me["auth"]) == \
        ("admin", "admin", "admin", "session")
    assert (me["account_id"], me["user_id"]) == (s["account_id"], s["user_id"])
    # default lifetime: a day
    exp = calendar.timegm(time.strptime(s["expires_at"][:19], "%Y-%m-%dT%H:%M:%S"))
    assert 86000 < exp - time.time() < 86500, s["expires_at"]


def test_login_failure_says_the_same_for_wrong_user_account_or_password(cloud):
    a = cloud.admin
    acct = a.ok("POST", "/v1/accounts", {"name": "acme"})
    a.ok("POST", "/v1/users", {"name": "alice", "password": PW, "account_id": acct["id"]})
    a.ok("POST", "/v1/users", {"name": "off", "password": PW, "account_id": acct["id"],
                               "state": "disabled"})
    msgs = set()
    for account, user, pw in [("acme", "alice", PW + "x"), ("acme", "bob", PW),
                              ("nope", "alice", PW), ("acme", "off", PW),
                              ("admin", "alice", PW)]:
        r = login(cloud, account, user, pw)
        e = err(r, 401, "Unauthenticated")
        assert "token" not in r.json() and "field" not in e
        msgs.add(e["message"])
    assert len(msgs) == 1, msgs
    assert login(cloud, "acme", "alice", PW).status_code == 201
    err(requests.post(cloud.kumod.url + "/v1/sessions", json={"account": "acme",
                                                              "user": "alice"}),
        400, "InvalidArgument", field="password")


def test_failed_logins_are_rate_limited_with_429(cloud_factory):
    c = cloud_factory("[kumod]\nlogin_max_failures=3\n")
    good = c.kumod.password
    acct = c.admin.ok("POST", "/v1/accounts", {"name": "other"})
    c.admin.ok("POST", "/v1/users", {"name": "u", "password": PW, "account_id": acct["id"]})
    for _ in range(3):
        err(login(c, "admin", "admin", "wrong-password"), 401, "Unauthenticated")
    r = login(c, "admin", "admin", good)  # the right password no longer helps
    err(r, 429, "TooManyRequests")
    assert int(r.headers["Retry-After"]) > 0
    # per source address too: other accounts from here wait as well
    err(login(c, "other", "u", PW), 429, "TooManyRequests")
    # sessions already given keep working
    assert c.admin.ok("GET", "/v1/whoami")["user"] == "admin"


def test_logout_revokes_the_token(cloud):
    s1 = cloud.kumod.login()
    s2 = cloud.kumod.login()
    assert s1.ok("GET", "/v1/whoami")["user"] == "admin"
    r = s1.delete("/v1/sessions/current")
    assert r.status_code == 204 and r.content == b""
    err(s1.get("/v1/whoami"), 401, "Unauthenticated")
    err(s1.delete("/v1/sessions/current"), 401, "Unauthenticated")
    err(s1.post("/v1/zones", {"name": "z"}), 401, "Unauthenticated")
    assert s2.ok("GET", "/v1/whoami")["user"] == "admin"
    assert items(s2, "/v1/zones") == []


def test_expired_session_is_401(cloud_factory):
    c = cloud_factory("[kumod]\nsession_ttl_s=2\n")
    s = c.kumod.login()
    assert s.ok("GET", "/v1/whoami")["user"] == "admin"
    time.sleep(2.3)
    e = err(s.get("/v1/whoami"), 401, "Unauthenticated")
    assert "expired" in e["message"]
    err(s.post("/v1/zones", {"name": "late"}), 401, "Unauthenticated")
    assert items(c.kumod.login(), "/v1/zones") == []


# ---- roles ------------------------------------------------------------------------

def test_viewer_cannot_create_or_change(t):
    v = t.a_viewer
    vms = snapshot(t.admin, "/v1/vms")
    for path, body in [
        ("/v1/vms", {"name": "vv", "image_id": t.ids["image"],
                     "instance_offering_id": t.ids["offering"]}),
        ("/v1/images", {"name": "vi", "format": "raw"}),
        ("/v1/l3-networks", {"name": "vn", "l2_network_id": t.ids["l2"],
                             "cidr": "10.60.0.0/24"}),
        ("/v1/volumes", {"name": "vd", "size_gb": 1}),
        ("/v1/users", {"name": "vu", "password": PW}),
        ("/v1/vms/%s/actions/stop" % t.a_vm["id"], {}),
    ]:
        e = err(v.post(path, body), 403, "PermissionDenied")
        assert "viewer" in e["message"]
    err(v.patch("/v1/vms/" + t.a_vm["id"], {"description": "x"}), 403, "PermissionDenied")
    err(v.delete("/v1/vms/" + t.a_vm["id"]), 403, "PermissionDenied")
    err(v.delete("/v1/volumes/" + t.a_volume["id"]), 403, "PermissionDenied")
    assert snapshot(t.admin, "/v1/vms") == vms
    assert items(t.admin, "/v1/images", q="name=vi") == []
    assert items(t.admin, "/v1/volumes", q="name=vd") == []
    # but it reads its account's resources
    assert t.a_vm["id"] in [x["id"] for x in items(v, "/v1/vms")]
    assert v.ok("GET", "/v1/volumes/" + t.a_volume["id"])["name"] == "a-vol"


def test_member_creates_vms_but_not_users(t):
    m = t.a_member
    users = snapshot(t.admin, "/v1/users")
    r = m.post("/v1/vms?wait=%d" % int(20 * SLOW), {
        "name": "mv", "image_id": t.ids["image"], "instance_offering_id": t.ids["offering"]})
    assert r.status_code == 200 and r.json()["state"] == "succeeded", r.text
    vm = m.ok("GET", "/v1/vms/" + r.json()["resource_id"])
    assert vm["account_id"] == t.a_id
    err(m.post("/v1/users", {"name": "mu", "password": PW}), 403, "PermissionDenied")
    err(m.patch("/v1/users/" + t.a_member2_user["id"], {"role": "viewer"}), 403,
        "PermissionDenied")
    err(m.delete("/v1/users/" + t.a_member2_user["id"]), 403, "PermissionDenied")
    assert snapshot(t.admin, "/v1/users") == users
    # nor what only admins may do with their own resources
    err(m.post("/v1/images", {"name": "pub", "format": "raw", "visibility": "public"}), 403,
        "PermissionDenied", field="visibility")
    err(m.post("/v1/l3-networks", {"name": "sh", "l2_network_id": t.ids["l2"],
                                   "cidr": "10.61.0.0/24", "shared": True}), 403,
        "PermissionDenied", field="shared")
    err(m.patch("/v1/l3-networks/" + t.a_l3["id"], {"shared": True}), 403, "PermissionDenied",
        field="shared")
    err(m.post("/v1/vms", {"name": "pin", "image_id": t.ids["image"],
                           "instance_offering_id": t.ids["offering"],
                           "host_id": t.a_vm["host_id"]}), 403, "PermissionDenied",
        field="host_id")
    assert items(t.admin, "/v1/images", q="name=pub") == []
    assert t.admin.ok("GET", "/v1/l3-networks/" + t.a_l3["id"])["shared"] is False
    j = m.job(m.ok("DELETE", "/v1/vms/" + vm["id"], status=202))
    assert j["state"] == "succeeded"


def test_owner_creates_users_in_its_own_account(t):
    o = t.a_owner
    u = o.ok("POST", "/v1/users", {"name": "newbie", "password": PW, "role": "member"},
             status=201)
    assert u["account_id"] == t.a_id and u["role"] == "member"
    s = t.cloud.kumod.login("acct-a", "newbie", PW)
    assert s.ok("GET", "/v1/whoami")["account_id"] == t.a_id
    # an owner may make owners, not admins
    err(o.post("/v1/users", {"name": "boss", "password": PW, "role": "admin"}), 400,
        "InvalidArgument", field="role")
    # not in another account (which it cannot even name)
    b_users = snapshot(t.admin, "/v1/users")
    e = err(o.post("/v1/users", {"name": "spy", "password": PW, "account_id": t.b_id}), 400,
            "InvalidArgument", field="account_id")
    assert "no account" in e["message"]  # as for an account that does not exist
    assert snapshot(t.admin, "/v1/users") == b_users
    # it manages its users
    p = o.ok("PATCH", "/v1/users/" + u["id"], {"role": "viewer"})
    assert p["role"] == "viewer"
    err(s.get("/v1/whoami"), 401, "Unauthenticated")  # a role change logs the user out
    assert {x["account_id"] for x in items(o, "/v1/users")} == {t.a_id}
    o.ok("DELETE", "/v1/users/" + u["id"], status=204)
    err(login(t.cloud, "acct-a", "newbie", PW), 401, "Unauthenticated")


def test_only_admins_create_zones_accounts_offerings(t):
    bodies = [("/v1/zones", {"name": "rz"}), ("/v1/accounts", {"name": "racct"}),
              ("/v1/instance-offerings", {"name": "ro", "vcpus": 1, "memory_mb": 64}),
              ("/v1/clusters", {"name": "rc", "zone_id": t.ids["zone"], "hypervisor": "sim"}),
              ("/v1/l2-networks", {"name": "rl", "zone_id": t.ids["zone"], "type": "flat"})]
    before = {p: snapshot(t.admin, p) for p, _ in bodies}
    zone_path = "/v1/zones/" + t.ids["zone"]
    for who in (t.a_owner, t.a_member, t.a_viewer):
        for path, body in bodies:
            e = err(who.post(path, body), 403, "PermissionDenied")
            assert "admin" in e["message"]
        err(who.patch(zone_path, {"description": "x"}), 403, "PermissionDenied")
        err(who.delete(zone_path), 403, "PermissionDenied")
        err(who.patch("/v1/quotas/" + t.a_id, {"vm_count": 1000}), 403, "PermissionDenied")
        err(who.get("/v1/hosts"), 403, "PermissionDenied")
    for path, _ in bodies:
        assert snapshot(t.admin, path) == before[path]
    # everyone reads the shared catalogue
    assert t.ids["offering"] in [o["id"] for o in items(t.a_viewer, "/v1/instance-offerings")]
    assert t.ids["zone"] in [z["id"] for z in items(t.a_viewer, "/v1/zones")]
    # admins can
    for path, body in bodies:
        doc = t.admin.ok("POST", path, body, status=201)
        t.admin.ok("DELETE", "%s/%s" % (path, doc["id"]), status=204)


# ---- API keys -----------------------------------------------------------------------

def test_api_key_is_shown_once_and_works_as_a_bearer_token(t):
    m = t.a_member
    r = m.post("/v1/api-keys", {"name": "script"})
    assert r.status_code == 201, r.text
    k = r.json()
    assert k["key"].startswith("kak_") and k["prefix"] == k["key"][:12]
    assert k["user_id"] == t.a_member_user["id"] and k["account_id"] == t.a_id
    assert "secret_hash" not in k and "role_level" not in k
    got = m.ok("GET", r.headers["Location"])
    assert "key" not in got and got == {x: y for x, y in k.items() if x != "key"}
    listed = [x for x in items(m, "/v1/api-keys") if x["id"] == k["id"]]
    assert listed == [got]
    assert k["key"] not in json.dumps(items(t.admin, "/v1/api-keys"))
    assert k["key"] not in json.dumps(items(t.admin, "/v1/events"))
    # it acts as its user
    ka = Api(t.url, k["key"])
    me = ka.ok("GET", "/v1/whoami")
    assert (me["user_id"], me["role"], me["auth"]) == (t.a_member_user["id"], "member",
                                                        "api_key")
    vol = ka.ok("POST", "/v1/volumes", {"name": "by-key", "size_gb": 1}, status=201)
    assert vol["account_id"] == t.a_id
    err(ka.delete("/v1/sessions/current"), 400, "InvalidArgument")
    # revoked: 401
    m.ok("DELETE", "/v1/api-keys/" + k["id"], status=204)
    err(ka.get("/v1/whoami"), 401, "Unauthenticated")
    err(ka.delete("/v1/volumes/" + vol["id"]), 401, "Unauthenticated")
    err(m.get("/v1/api-keys/" + k["id"]), 404, "NotFound")
    m.ok("DELETE", "/v1/volumes/" + vol["id"], status=204)
    # an expiry in the past is refused; one in the future is honoured
    err(m.post("/v1/api-keys", {"name": "old", "expires_at": "2020-01-01T00:00:00Z"}), 400,
        "InvalidArgument", field="expires_at")
    expiry = time.time() + 2.5
    soon = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(expiry)) + \
        ".%03dZ" % int((expiry % 1) * 1000)
    short = m.ok("POST", "/v1/api-keys", {"name": "short", "expires_at": soon}, status=201)
    assert short["expires_at"] == soon
    ks = Api(t.url, short["key"])
    assert ks.ok("GET", "/v1/whoami")["auth"] == "api_key"
    time.sleep(max(0.0, expiry - time.time()) + 0.3)
    e = err(ks.get("/v1/whoami"), 401, "Unauthenticated")
    assert "expired" in e["message"]


def test_members_see_only_their_own_api_keys(t):
    mine = t.a_member2.ok("POST", "/v1/api-keys", {"name": "m2-key"})
    other = t.a_key  # a_member's
    keys = [k["id"] for k in items(t.a_member2, "/v1/api-keys")]
    assert mine["id"] in keys and other["id"] not in keys
    err(t.a_member2.get("/v1/api-keys/" + other["id"]), 404, "NotFound")
    err(t.a_member2.delete("/v1/api-keys/" + other["id"]), 404, "NotFound")
    assert Api(t.url, other["key"]).ok("GET", "/v1/whoami")["auth"] == "api_key"
    # the owner sees the account's keys
    keys = [k["id"] for k in items(t.a_owner, "/v1/api-keys")]
    assert mine["id"] in keys and other["id"] in keys
    t.a_member2.ok("DELETE", "/v1/api-keys/" + mine["id"], status=204)


# ---- tenant isolation ---------------------------------------------------------------

def a_resources(t):
    """(plural, id, patch body, actions) for each kind account a owns."""
    return {
        "vms": (t.a_vm["id"], {"description": "x"},
                [("start", {}), ("stop", {}), ("reboot", {}), ("pause", {}), ("resume", {})]),
        "volumes": (t.a_volume["id"], {"name": "x"},
                    [("attach", {"vm_id": t.b_vm["id"]}), ("detach", {})]),
        "images": (t.a_image["id"], {"description": "x"}, []),
        "l3-networks": (t.a_l3["id"], {"description": "x"}, []),
        "users": (t.a_member_user["id"], {"state": "disabled"}, []),
        "api-keys": (t.a_key["id"], None, []),
        "jobs": (t.a_job["id"], None, []),
        "quotas": (t.a_id, None, []),
        "accounts": (t.a_id, None, []),
    }


KINDS = ["vms", "volumes", "images", "l3-networks", "users", "api-keys", "jobs", "quotas",
         "accounts"]


@pytest.mark.parametrize("plural", KINDS)
def test_other_accounts_resources_are_404(t, plural):
    rid, patch, actions = a_resources(t)[plural]
    path = "/v1/%s/%s" % (plural, rid)
    before = t.admin.ok("GET", path)
    assert t.a_owner.ok("GET", path)["id"] == rid  # its own account sees it
    for b in (t.b_owner, t.b_member, t.b_viewer):
        e = err(b.get(path), 404, "NotFound")
        assert rid in e["message"] or "no " in e["message"]
    b = t.b_owner
    if plural == "jobs":
        err(b.get(path + "?wait=1"), 404, "NotFound")
    if patch is not None:
        err(b.patch(path, patch), 404, "NotFound")
    if plural in ("vms", "volumes", "images", "l3-networks", "users", "api-keys"):
        err(b.delete(path), 404, "NotFound")
    for verb, body in actions:
        err(b.post("%s/actions/%s" % (path, verb), body), 404, "NotFound")
    # quotas and accounts are written by admins only: the role check comes first
    if plural in ("quotas", "accounts"):
        err(b.patch(path, {"vm_count": 1} if plural == "quotas" else {"description": "x"}),
            403, "PermissionDenied")
    after = t.admin.ok("GET", path)
    if plural == "quotas":  # usage may move with other tests; the limits may not
        before.pop("used"), after.pop("used")
    assert after == before


@pytest.mark.parametrize("plural", KINDS)
def test_other_accounts_resources_are_not_listed(t, plural):
    rid = a_resources(t)[plural][0]
    own = [x["id"] for x in items(t.a_owner, "/v1/" + plural)]
    assert rid in own
    for b in (t.b_owner, t.b_member):
        listed = items(b, "/v1/" + plural)
        assert rid not in [x["id"] for x in listed]
        assert all(x.get("account_id") in (t.b_id, None) or x.get("visibility") == "public"
                   or x.get("shared") is True for x in listed), listed
        # filters do not reach past the account either
        assert items(b, "/v1/" + plural, q="id=" + rid) == []
        if plural not in ("accounts",):
            assert items(b, "/v1/" + plural, q="account_id=" + t.a_id) == []


def test_other_accounts_events_are_hidden(t):
    a_ids = {t.a_vm["id"], t.a_volume["id"], t.a_image["id"], t.a_l3["id"], t.a_job["id"],
             t.a_key["id"]}
    own = t.a_owner.ok("GET", "/v1/events", params={"limit": 1000})["items"]
    assert a_ids & {e["resource_id"] for e in own}
    for b in (t.b_owner, t.b_viewer):
        evs = b.ok("GET", "/v1/events", params={"limit": 1000})["items"]
        assert evs, "account b sees its own events"
        assert not a_ids & {e["resource_id"] for e in evs}
        assert {e["account_id"] for e in evs} == {t.b_id}
    # the stream too: a's change comes first, b sees only its own
    stream = Sse(t.b_member)
    try:
        t.a_member.ok("PATCH", "/v1/volumes/" + t.a_volume["id"], {"name": "a-vol"})
        t.b_member.ok("PATCH", "/v1/vms/" + t.b_vm["id"], {"description": "seen"})
        ev = stream.next()
        assert ev["json"]["resource_id"] == t.b_vm["id"], ev
        assert ev["json"]["account_id"] == t.b_id
    finally:
        stream.close()


def test_public_images_and_shared_networks_are_visible_not_writable(t):
    b = t.b_member
    for plural, rid in [("images", t.ids["image"]), ("l3-networks", t.ids["l3"])]:
        assert b.ok("GET", "/v1/%s/%s" % (plural, rid))["id"] == rid
        assert rid in [x["id"] for x in items(b, "/v1/" + plural)]
        before = t.admin.ok("GET", "/v1/%s/%s" % (plural, rid))
        err(b.patch("/v1/%s/%s" % (plural, rid), {"description": "mine"}), 404, "NotFound")
        err(b.delete("/v1/%s/%s" % (plural, rid)), 404, "NotFound")
        assert t.admin.ok("GET", "/v1/%s/%s" % (plural, rid)) == before
    # b's VM is on them
    assert t.b_vm["image_id"] == t.ids["image"]
    assert t.b_vm["nics"][0]["l3_network_id"] == t.ids["l3"]


def test_other_accounts_private_resources_cannot_be_used(t):
    b = t.b_member
    vms = snapshot(t.admin, "/v1/vms")
    l3 = t.admin.ok("GET", "/v1/l3-networks/" + t.a_l3["id"])
    base = {"name": "steal", "image_id": t.ids["image"], "instance_offering_id": t.ids["offering"]}
    e = err(b.post("/v1/vms", dict(base, l3_network_ids=[t.ids["l3"], t.a_l3["id"]])), 400,
            "InvalidArgument", field="l3_network_ids[1]")
    assert t.a_l3["id"] in e["message"]
    err(b.post("/v1/vms", dict(base, image_id=t.a_image["id"])), 400, "InvalidArgument",
        field="image_id")
    err(b.post("/v1/volumes", {"name": "steal", "size_gb": 1, "vm_id": t.a_vm["id"]}), 400,
        "InvalidArgument", field="vm_id")
    mine = b.ok("POST", "/v1/volumes", {"name": "b-vol", "size_gb": 1}, status=201)
    err(b.post("/v1/volumes/%s/actions/attach" % mine["id"], {"vm_id": t.a_vm["id"]}), 400,
        "InvalidArgument", field="vm_id")
    assert snapshot(t.admin, "/v1/vms") == vms
    assert t.admin.ok("GET", "/v1/l3-networks/" + t.a_l3["id"]) == l3
    assert items(t.admin, "/v1/volumes", q="name=steal") == []
    b.ok("DELETE", "/v1/volumes/" + mine["id"], status=204)
    # an address clash on a shared L2 is a conflict, without naming a's network
    l3s = snapshot(t.admin, "/v1/l3-networks")
    e = err(b.post("/v1/l3-networks", {"name": "clash", "l2_network_id": t.ids["l2"],
                                       "cidr": "10.50.0.128/25"}), 409, "Conflict", field="cidr")
    assert "a-net" not in e["message"] and "10.50.0.0/24" not in e["message"], e
    assert snapshot(t.admin, "/v1/l3-networks") == l3s
    # names are per account: b may use a's names
    img = b.ok("POST", "/v1/images", {"name": "a-img", "format": "raw"}, status=201)
    b.ok("DELETE", "/v1/images/" + img["id"], status=204)


def test_idempotency_keys_are_per_account(t):
    key = {"Idempotency-Key": "shared-" + uuid.uuid4().hex}
    va = t.a_member.ok("POST", "/v1/volumes", {"name": "ik-a", "size_gb": 1}, headers=key,
                       status=201)
    r = t.b_member.post("/v1/volumes", {"name": "ik-b", "size_gb": 1}, headers=key)
    assert r.status_code == 201, r.text
    vb = r.json()
    assert vb["name"] == "ik-b" and vb["account_id"] == t.b_id and vb["id"] != va["id"]
    t.a_member.ok("DELETE", "/v1/volumes/" + va["id"], status=204)
    t.b_member.ok("DELETE", "/v1/volumes/" + vb["id"], status=204)


# ---- quotas ----------------------------------------------------------------------------

def test_quotas_refuse_creates_past_any_limit(t):
    admin = t.admin
    acct = admin.ok("POST", "/v1/accounts", {"name": "acct-q"})
    admin.ok("POST", "/v1/users", {"name": "m", "password": PW, "account_id": acct["id"]})
    m = t.cloud.kumod.login("acct-q", "m", PW)
    qpath = "/v1/quotas/" + acct["id"]

    def vm(name, vcpus=1, mem=128, count=None, status=202):
        body = {"name": name, "image_id": t.ids["image"], "vcpus": vcpus, "memory_mb": mem,
                "l3_network_ids": [t.ids["l3"]]}
        if count:
            body["count"] = count
        r = m.post("/v1/vms", body)
        if status != 202:
            return r
        assert r.status_code == 202, r.text
        j = m.job(r.json())
        assert j["state"] == "succeeded", j
        return j

    def state():
        hosts = items(admin, "/v1/hosts")
        return (snapshot(admin, "/v1/vms"), admin.ok("GET", "/v1/jobs?limit=1")["total"],
                admin.ok("GET", "/v1/l3-networks/" + t.ids["l3"])["ip_used"],
                sum(h["cpu_allocated"] for h in hosts),
                sum(h["memory_mb_allocated"] for h in hosts))

    def refused(field, **kw):
        before = state()
        e = err(vm("over", status=409, **kw), 409, "Conflict")
        assert "quota" in e["message"] and field in e["message"], e
        assert state() == before
        assert items(m, "/v1/vms", q="name~=over%") == []

    admin.ok("PATCH", qpath, {"vm_count": 2})
    vm("q1")
    vm("q2")
    refused("vm_count")
    refused("vm_count", count=2)
    admin.ok("PATCH", qpath, {"vm_count": -1, "vcpus": 4})
    refused("vcpus", vcpus=3)
    refused("vcpus", count=3)  # a batch over the quota creates nothing
    vm("qb", count=2)          # exactly up to the limit is fine
    refused("vcpus")
    admin.ok("PATCH", qpath, {"vcpus": -1, "memory_mb": 1024})
    refused("memory_mb", mem=600)
    refused("memory_mb", mem=256, count=3)
    vm("q5", mem=512)
    q = m.ok("GET", qpath)
    assert (q["vm_count"], q["vcpus"], q["memory_mb"]) == (-1, -1, 1024)
    assert q["used"] == {"vm_count": 5, "vcpus": 5, "memory_mb": 1024}
    err(m.patch(qpath, {"memory_mb": -1}), 403, "PermissionDenied")
    assert [x["id"] for x in items(m, "/v1/quotas")] == [acct["id"]]
    # a destroyed VM gives its share back
    victim = items(m, "/v1/vms", q="name=q5")[0]
    assert m.job(m.ok("DELETE", "/v1/vms/" + victim["id"], status=202))["state"] == "succeeded"
    assert m.ok("GET", qpath)["used"] == {"vm_count": 4, "vcpus": 4, "memory_mb": 512}
    vm("q6", mem=512)
    for x in items(m, "/v1/vms"):
        assert m.job(m.ok("DELETE", "/v1/vms/" + x["id"], status=202))["state"] == "succeeded"


# ---- secrets --------------------------------------------------------------------------

def test_passwords_are_never_returned(cloud):
    a = cloud.admin
    acct = a.ok("POST", "/v1/accounts", {"name": "pw"})
    secret = "very-secret-password-1"
    new_secret = "even-more-secret-2"
    seen = []

    def check(r):
        seen.append(r.text)
        for bad in (secret, new_secret, "password", "$argon2"):
            assert bad not in r.text, (bad, r.text)
        return r.json()
    r = a.post("/v1/users", {"name": "carol", "password": secret, "role": "owner",
                             "account_id": acct["id"]})
    assert r.status_code == 201
    u = check(r)
    check(a.get("/v1/users/" + u["id"]))
    check(a.get("/v1/users", params={"limit": 1000}))
    carol = cloud.kumod.login("pw", "carol", secret)
    check(carol.get("/v1/users/" + u["id"]))
    check(carol.get("/v1/whoami"))
    check(a.patch("/v1/users/" + u["id"], {"password": new_secret}))
    check(a.get("/v1/events", params={"limit": 1000}))
    check(carol.post("/v1/users", {"name": "dave", "password": secret}))
    # a new password logs the user out and replaces the old one
    err(carol.get("/v1/whoami"), 401, "Unauthenticated")
    err(login(cloud, "pw", "carol", secret), 401, "Unauthenticated")
    assert login(cloud, "pw", "carol", new_secret).status_code == 201
    assert all(isinstance(json.loads(s), dict) for s in seen)
    # the secrets kumod writes are for its user alone
    for name in ("admin.password", "join.token"):
        mode = stat.S_IMODE(os.stat(os.path.join(cloud.kumod.dir, name)).st_mode)
        assert mode == 0o600, (name, oct(mode))
