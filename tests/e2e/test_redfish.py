# SPDX-License-Identifier: MIT
"""The agent's Redfish service, started alone (`kumo-agent redfish`), driven
by real clients: requests, redfishtool and python3-sushy.

Every body the walk meets is validated against the DMTF JSON schemas in
../shared/redfish/json-schema (redfish_schema.py), and $metadata must
cover every type served. Then the rules of DSP0266 one by one: open fixed
URIs, 401 with WWW-Authenticate, Basic auth and sessions, accounts and
roles with their privileges, ETags and If-Match, PATCH of bad properties,
malformed and oversized bodies, query parameters, 404/405/HEAD, and HTTPS
with the certificate generated at first start.

KUMO_REDFISH_CMD may name another command for the service (a test build);
by default it is `$KUMO_BUILD/kumo-agent redfish`.
"""
import hashlib
import json
import os
import shlex
import shutil
import signal
import ssl
import socket
import stat
import subprocess
import tempfile

import pytest
import requests

from conftest import BUILD, SLOW, free_port, wait_for
from redfish_schema import Validator, check_metadata, walk

V1 = "/redfish/v1"
SESSIONS = V1 + "/SessionService/Sessions"
ACCOUNTS = V1 + "/AccountService/Accounts"
VALIDATOR = Validator()


def service_cmd():
    cmd = os.environ.get("KUMO_REDFISH_CMD")
    if cmd:
        return shlex.split(cmd)
    return [os.path.join(BUILD, "kumo-agent"), "redfish"]


class Service:
    """One `kumo-agent redfish` process on loopback, with its data dir."""

    def __init__(self, tmp, tls=False, listen=None):
        self.dir = os.path.join(tmp, "data")
        self.tls = tls
        self.port = free_port()
        self.listen = listen or "127.0.0.1:%d" % self.port
        self.base = "%s://127.0.0.1:%d" % ("https" if tls else "http", self.port)
        self.log = os.path.join(tmp, "redfish.log")
        self.proc = None

    def start(self, wait=True):
        args = service_cmd() + ["--data-dir", self.dir, "--listen", self.listen]
        if not self.tls:
            args.append("--no-tls")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE,
                                     stderr=open(self.log, "ab"), text=True)
        if wait:
            line = self.proc.stdout.readline()
            assert line.startswith("url "), "no URL printed: %r\n%s" % (line, self.tail())
            assert line.split()[1] == self.base + V1, line
            line = self.proc.stdout.readline()
            assert line.startswith("password-file "), line
            self.password_file = line.split(None, 1)[1].strip()
        return self

    @property
    def rf_dir(self):
        return os.path.join(self.dir, "redfish")

    @property
    def password(self):
        with open(self.password_file) as f:
            return f.read().strip()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10 * SLOW)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            assert self.proc.returncode == 0, self.tail()

    def tail(self):
        with open(self.log, errors="replace") as f:
            return f.read()[-3000:]

    def client(self, user="admin", password=None, **kw):
        s = requests.Session()
        s.auth = (user, password if password is not None else self.password)
        s.headers["Accept"] = "application/json"
        return Client(self.base, s, **kw)


class Client:
    def __init__(self, base, session, verify=None):
        self.base = base
        self.s = session
        if verify is not None:
            self.s.verify = verify

    def req(self, method, path, body=None, raw=None, headers=None):
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        h = dict(headers or {})
        if data is not None:
            h.setdefault("Content-Type", "application/json")
        return self.s.request(method, self.base + path, data=data, headers=h, timeout=30)

    def get(self, path, **kw):
        return self.req("GET", path, **kw)

    def ok(self, method, path, body=None, status=200, **kw):
        r = self.req(method, path, body=body, **kw)
        assert r.status_code == status, "%s %s -> %d %s" % (method, path, r.status_code, r.text)
        if r.content and r.headers.get("Content-Type", "").startswith("application/json"):
            VALIDATOR.check(r.json(), path)
            return r.json()
        return None


def msg_ids(r):
    """The message keys in an answer's @Message.ExtendedInfo."""
    body = r.json()
    info = body.get("error", {}).get("@Message.ExtendedInfo") or body.get(
        "@Message.ExtendedInfo", [])
    return [m["MessageId"].rsplit(".", 1)[1] for m in info]


def error(r, status, key):
    """Asserts a Redfish error answer: status, schema, code and message."""
    assert r.status_code == status, "want %d, got %d %s" % (status, r.status_code, r.text)
    body = r.json()
    VALIDATOR.check(body, "error")
    assert key in msg_ids(r), (key, r.text)
    assert body["error"]["code"] == body["error"]["@Message.ExtendedInfo"][0]["MessageId"]
    assert body["error"]["code"].startswith("Base.1.")
    return body


@pytest.fixture(scope="module")
def svc():
    tmp = tempfile.mkdtemp(prefix="kumo-redfish-")
    s = Service(tmp)
    try:
        yield s.start()
    finally:
        s.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def admin(svc):
    return svc.client()


# ---- the tree ----------------------------------------------------------------------

def test_fixed_uris_are_open(svc):
    anon = requests.Session()
    r = anon.get(svc.base + "/redfish")
    assert r.status_code == 200 and r.json() == {"v1": "/redfish/v1/"}
    r1 = anon.get(svc.base + V1)
    r2 = anon.get(svc.base + V1 + "/")
    assert r1.status_code == r2.status_code == 200
    assert r1.json() == r2.json()
    root = r1.json()
    VALIDATOR.check(root)
    assert root["@odata.id"] == "/redfish/v1/"
    assert root["Links"]["Sessions"]["@odata.id"] == SESSIONS
    for h, v in (("OData-Version", "4.0"), ("Cache-Control", "no-cache")):
        assert r1.headers[h] == v
    assert r1.headers["Content-Type"] == "application/json; charset=utf-8"
    assert r1.headers["Link"] == \
        "<http://redfish.dmtf.org/schemas/v1/ServiceRoot.v1_20_0.json>; rel=describedby"
    assert r1.headers["ETag"] == root["@odata.etag"]
    assert "GET" in r1.headers["Allow"]
    # ProtocolFeaturesSupported says what the query tests below exercise.
    pf = root["ProtocolFeaturesSupported"]
    assert pf["SelectQuery"] and pf["OnlyMemberQuery"] and pf["TopSkipQuery"]
    assert pf["ExpandQuery"]["ExpandAll"] and not pf["FilterQuery"]

    md = anon.get(svc.base + V1 + "/$metadata")
    assert md.status_code == 200
    assert md.headers["Content-Type"].startswith("application/xml")
    od = anon.get(svc.base + V1 + "/odata")
    assert od.status_code == 200
    names = {v["name"]: v["url"] for v in od.json()["value"]}
    assert names["Service"] == "/redfish/v1/"
    assert names["SessionService"] == V1 + "/SessionService"
    assert names["AccountService"] == V1 + "/AccountService"


def test_walk_every_resource_against_the_schemas(svc, admin):
    # A session, so that the Sessions collection has a member to walk to.
    admin.ok("POST", SESSIONS, {"UserName": "admin", "Password": svc.password}, status=201)
    bodies = walk(admin.get, VALIDATOR)
    for p in (V1, V1 + "/SessionService", SESSIONS, V1 + "/AccountService", ACCOUNTS,
              ACCOUNTS + "/1", V1 + "/AccountService/Roles/ReadOnly"):
        assert p in bodies, sorted(bodies)
    assert any(p.startswith(SESSIONS + "/") for p in bodies)
    md = requests.get(svc.base + V1 + "/$metadata").text
    ns = check_metadata(md, bodies)
    assert "RedfishExtensions.v1_0_0" in ns
    roles = bodies[V1 + "/AccountService/Roles/Operator"]
    assert set(roles["AssignedPrivileges"]) == {"Login", "ConfigureComponents", "ConfigureSelf"}


# ---- authentication ----------------------------------------------------------------

def test_401_without_or_with_wrong_credentials(svc):
    for auth in (None, ("admin", "not-the-password")):
        r = requests.get(svc.base + V1 + "/SessionService", auth=auth)
        error(r, 401, "AccessUnauthorized")
        assert r.headers["WWW-Authenticate"].startswith("Basic realm=")
    # Unknown resources are not told from known ones without credentials.
    error(requests.get(svc.base + V1 + "/NoSuchThing"), 401, "AccessUnauthorized")
    r = requests.get(svc.base + V1 + "/SessionService", headers={"X-Auth-Token": "0" * 64})
    error(r, 401, "AccessUnauthorized")


def test_bootstrap_files_are_private(svc):
    for name in ("admin-password", "accounts.json"):
        mode = stat.S_IMODE(os.stat(os.path.join(svc.rf_dir, name)).st_mode)
        assert mode == 0o600, (name, oct(mode))
    with open(os.path.join(svc.rf_dir, "accounts.json")) as f:
        text = f.read()
    assert svc.password not in text and "$argon2id$" in text


def test_basic_auth(svc, admin):
    body = admin.ok("GET", V1 + "/SessionService")
    assert body["SessionTimeout"] >= 30


def test_sessions_login_use_logout(svc):
    anon = requests.Session()
    r = anon.post(svc.base + SESSIONS, json={"UserName": "admin", "Password": svc.password})
    assert r.status_code == 201, r.text
    VALIDATOR.check(r.json())
    token, loc = r.headers["X-Auth-Token"], r.headers["Location"]
    assert loc.startswith(SESSIONS + "/") and r.json()["@odata.id"] == loc
    assert r.json()["UserName"] == "admin"
    h = {"X-Auth-Token": token}
    r = anon.get(svc.base + SESSIONS, headers=h)
    assert r.status_code == 200
    assert {"@odata.id": loc} in r.json()["Members"]
    assert anon.get(svc.base + loc, headers=h).status_code == 200
    r = anon.delete(svc.base + loc, headers=h)
    assert r.status_code in (200, 204), r.text
    error(anon.get(svc.base + V1 + "/SessionService", headers=h), 401, "AccessUnauthorized")
    # Bad logins: wrong password, missing property, unknown property.
    r = anon.post(svc.base + SESSIONS, json={"UserName": "admin", "Password": "nope-nope"})
    error(r, 401, "AccessUnauthorized")
    assert "X-Auth-Token" not in r.headers
    error(anon.post(svc.base + SESSIONS, json={"UserName": "admin"}), 400, "PropertyMissing")


def test_sessions_survive_a_restart(svc, admin):
    anon = requests.Session()

    def login(user, password):
        r = anon.post(svc.base + SESSIONS, json={"UserName": user, "Password": password})
        assert r.status_code == 201, r.text
        return r.headers["X-Auth-Token"], r.headers["Location"]
    kept, kept_loc = login("admin", svc.password)
    gone, gone_loc = login("admin", svc.password)
    assert anon.delete(svc.base + gone_loc, headers={"X-Auth-Token": gone}).status_code == 204
    acct = admin.ok("POST", ACCOUNTS, {"UserName": "rosa", "Password": "rosa-pass-1",
                                       "RoleId": "ReadOnly"}, status=201)
    rosa, _ = login("rosa", "rosa-pass-1")
    path = os.path.join(svc.rf_dir, "sessions.json")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path) as f:
        text = f.read()
    for token in (kept, gone, rosa):
        assert token not in text
    assert hashlib.sha256(kept.encode()).hexdigest() in text
    assert hashlib.sha256(gone.encode()).hexdigest() not in text
    svc.stop()
    # rosa is disabled while the service is down: her session must not come back
    accounts = os.path.join(svc.rf_dir, "accounts.json")
    with open(accounts) as f:
        doc = json.load(f)
    for a in doc["accounts"]:
        if a["user"] == "rosa":
            a["enabled"] = False
    with open(accounts, "w") as f:
        json.dump(doc, f)
    svc.start()
    h = {"X-Auth-Token": kept}
    r = anon.get(svc.base + kept_loc, headers=h)
    assert r.status_code == 200 and r.json()["UserName"] == "admin", r.text
    members = anon.get(svc.base + SESSIONS, headers=h).json()["Members"]
    assert {"@odata.id": kept_loc} in members and {"@odata.id": gone_loc} not in members
    for token in (gone, rosa):
        error(anon.get(svc.base + V1 + "/SessionService", headers={"X-Auth-Token": token}),
              401, "AccessUnauthorized")
    admin.ok("DELETE", acct["@odata.id"], status=204)
    assert anon.delete(svc.base + kept_loc, headers=h).status_code == 204


# ---- accounts and roles --------------------------------------------------------------

def test_accounts_crud_and_roles(svc, admin):
    r = admin.req("POST", ACCOUNTS, {"UserName": "olive", "Password": "olive-pass-1",
                                     "RoleId": "Operator"})
    assert r.status_code == 201, r.text
    olive_path = r.headers["Location"]
    VALIDATOR.check(r.json())
    assert r.json()["RoleId"] == "Operator" and r.json()["Password"] is None
    admin.ok("POST", ACCOUNTS, {"UserName": "rory", "Password": "rory-pass-1",
                                "RoleId": "ReadOnly"}, status=201)
    error(admin.req("POST", ACCOUNTS, {"UserName": "rory", "Password": "rory-pass-2",
                                       "RoleId": "ReadOnly"}), 409, "ResourceAlreadyExists")
    error(admin.req("POST", ACCOUNTS, {"UserName": "x", "Password": "short",
                                       "RoleId": "ReadOnly"}), 400, "PasswordIncorrectLength")
    error(admin.req("POST", ACCOUNTS, {"UserName": "y", "Password": "long-enough",
                                       "RoleId": "Emperor"}), 400, "PropertyValueNotInList")
    ids = [m["@odata.id"] for m in admin.ok("GET", ACCOUNTS)["Members"]]
    assert olive_path in ids

    rory = svc.client("rory", "rory-pass-1")
    rory.ok("GET", V1 + "/SessionService")
    # ReadOnly may not change the service, nor other accounts.
    error(rory.req("PATCH", V1 + "/SessionService", {"SessionTimeout": 300}), 403,
          "InsufficientPrivilege")
    error(rory.req("PATCH", olive_path, {"Password": "hacked-pass"}), 403,
          "InsufficientPrivilege")
    error(rory.req("POST", ACCOUNTS, {"UserName": "z", "Password": "zzzzzzzz",
                                      "RoleId": "Administrator"}), 403, "InsufficientPrivilege")
    error(rory.get(olive_path), 403, "InsufficientPrivilege")
    # ... but may change their own password (ConfigureSelf), not their role.
    me = [p for p in ids if admin.ok("GET", p)["UserName"] == "rory"][0]
    error(rory.req("PATCH", me, {"RoleId": "Administrator"}), 403, "InsufficientPrivilege")
    rory.ok("PATCH", me, {"Password": "rory-pass-2"})
    error(svc.client("rory", "rory-pass-1").get(V1 + "/SessionService"), 401,
          "AccessUnauthorized")
    svc.client("rory", "rory-pass-2").ok("GET", V1 + "/SessionService")

    # The administrator changes roles; the change holds at once.
    body = admin.ok("PATCH", me, {"RoleId": "Operator", "Enabled": True})
    assert body["RoleId"] == "Operator"
    admin.ok("DELETE", olive_path, status=204)
    error(admin.get(olive_path), 404, "ResourceMissingAtURI")
    error(svc.client("olive", "olive-pass-1").get(V1 + "/SessionService"), 401,
          "AccessUnauthorized")
    # The last Administrator stays one.
    error(admin.req("PATCH", ACCOUNTS + "/1", {"RoleId": "ReadOnly"}), 409, "ResourceInUse")
    error(admin.req("DELETE", ACCOUNTS + "/1"), 409, "ResourceCannotBeDeleted")
    # Roles are read-only.
    r = admin.req("PATCH", V1 + "/AccountService/Roles/ReadOnly", {"Description": "x"})
    error(r, 405, "OperationNotAllowed")
    assert "PATCH" not in r.headers["Allow"] and "GET" in r.headers["Allow"]


def test_repeated_bad_logins_lock_the_account(svc, admin):
    admin.ok("POST", ACCOUNTS, {"UserName": "lucy", "Password": "lucy-pass-1",
                                "RoleId": "ReadOnly"}, status=201)
    threshold = admin.ok("GET", V1 + "/AccountService")["AccountLockoutThreshold"]
    assert threshold > 0
    for _ in range(threshold):
        svc.client("lucy", "wrong-pass").get(V1 + "/SessionService")
    # Locked: the right password is refused too, until an administrator unlocks.
    error(svc.client("lucy", "lucy-pass-1").get(V1 + "/SessionService"), 401,
          "AccessUnauthorized")
    lucy = [m["@odata.id"] for m in admin.ok("GET", ACCOUNTS + "?$expand=.")["Members"]
            if m["UserName"] == "lucy"][0]
    assert admin.ok("GET", lucy)["Locked"] is True
    error(admin.req("PATCH", lucy, {"Locked": True}), 400, "PropertyValueNotInList")
    assert admin.ok("PATCH", lucy, {"Locked": False})["Locked"] is False
    svc.client("lucy", "lucy-pass-1").ok("GET", V1 + "/SessionService")


# ---- ETags and PATCH -----------------------------------------------------------------

def test_patch_with_etags(svc, admin):
    path = V1 + "/SessionService"
    r = admin.get(path)
    etag = r.headers["ETag"]
    before = r.json()["SessionTimeout"]
    assert r.json()["@odata.etag"] == etag
    error(admin.req("PATCH", path, {"SessionTimeout": before + 60},
                    headers={"If-Match": '"0123456789abcdef"'}), 412, "PreconditionFailed")
    assert admin.ok("GET", path)["SessionTimeout"] == before
    r = admin.req("PATCH", path, {"SessionTimeout": before + 60}, headers={"If-Match": etag})
    assert r.status_code == 200, r.text
    assert r.json()["SessionTimeout"] == before + 60
    assert r.headers["ETag"] != etag
    # The old ETag is stale now.
    error(admin.req("PATCH", path, {"SessionTimeout": before},
                    headers={"If-Match": etag}), 412, "PreconditionFailed")
    # If-None-Match with the current ETag: 304.
    cur = admin.get(path).headers["ETag"]
    assert admin.get(path, headers={"If-None-Match": cur}).status_code == 304
    admin.ok("PATCH", path, {"SessionTimeout": before})


def test_patch_bad_properties(svc, admin):
    path = V1 + "/SessionService"
    before = admin.ok("GET", path)["SessionTimeout"]
    # Only bad properties: 400 with all of them, nothing changes.
    r = admin.req("PATCH", path, {"Bogus": 1, "Id": "x", "SessionTimeout": "long"})
    error(r, 400, "PropertyUnknown")
    assert set(msg_ids(r)) == {"PropertyUnknown", "PropertyNotWritable",
                               "PropertyValueTypeError"}
    error(admin.req("PATCH", path, {"SessionTimeout": 5}), 400, "PropertyValueOutOfRange")
    assert admin.ok("GET", path)["SessionTimeout"] == before
    # Good and bad: the good ones applied, 200 with messages for the others.
    r = admin.req("PATCH", path, {"SessionTimeout": before + 1, "Bogus": 1})
    assert r.status_code == 200, r.text
    VALIDATOR.check(r.json())
    assert r.json()["SessionTimeout"] == before + 1
    assert msg_ids(r) == ["PropertyUnknown"]
    admin.ok("PATCH", path, {"SessionTimeout": before})
    error(admin.req("PATCH", path, raw='{"SessionTimeout": '), 400, "MalformedJSON")
    error(admin.req("PATCH", path, raw="{}"), 400, "EmptyJSON")
    # Oversized: the server's limit, answered as a Redfish error.
    r = admin.req("PATCH", path, raw='{"Bogus": "%s"}' % ("x" * 100000))
    error(r, 413, "PayloadTooLarge")
    assert r.headers["OData-Version"] == "4.0"
    assert admin.ok("GET", path)["SessionTimeout"] == before


# ---- queries, methods, paths -----------------------------------------------------------

def test_query_parameters(svc, admin):
    roles = V1 + "/AccountService/Roles"
    error(admin.get(roles + "?$filter=Id%20eq%20'x'"), 501, "QueryNotSupported")
    error(admin.get(roles + "?$top=abc"), 400, "QueryParameterValueFormatError")
    error(admin.get(roles + "?$top=100000"), 400, "QueryParameterOutOfRange")
    error(admin.get(roles + "?$skip=9"), 400, "QueryParameterOutOfRange")
    error(admin.get(roles + "?$expand=*($levels=9)"), 400, "QueryParameterOutOfRange")
    assert admin.get(roles + "?unknown=1&excerpt").status_code == 200
    page = admin.ok("GET", roles + "?$top=1&$skip=1")
    assert page["Members@odata.count"] == 3 and len(page["Members"]) == 1
    nxt = admin.ok("GET", page["Members@odata.nextLink"])
    assert len(nxt["Members"]) == 1 and "Members@odata.nextLink" not in nxt
    assert nxt["Members"] != page["Members"]
    full = admin.ok("GET", roles + "?$expand=.")
    assert len(full["Members"]) == 3
    for m in full["Members"]:
        VALIDATOR.check(m)
        assert m["IsPredefined"] is True
    sel = admin.ok("GET", V1 + "/SessionService?$select=SessionTimeout")
    assert set(sel) == {"@odata.id", "@odata.type", "@odata.etag", "Id", "Name",
                        "SessionTimeout"}
    assert "SessionTimeout" in sel
    acct = admin.ok("GET", ACCOUNTS + "/1?$expand=~")
    assert acct["Links"]["Role"]["RoleId"] == "Administrator"


def test_405_404_and_head(svc, admin):
    r = admin.req("DELETE", V1 + "/AccountService")
    error(r, 405, "OperationNotAllowed")
    assert r.headers["Allow"] == "GET, HEAD, PATCH"
    error(admin.req("PUT", SESSIONS, {}), 405, "OperationNotAllowed")
    error(admin.get(V1 + "/NoSuchThing"), 404, "ResourceMissingAtURI")
    error(admin.get(ACCOUNTS + "/999"), 404, "ResourceMissingAtURI")
    g = admin.get(V1 + "/AccountService")
    h = admin.req("HEAD", V1 + "/AccountService")
    assert h.status_code == 200 and h.content == b""
    assert h.headers["ETag"] == g.headers["ETag"]
    assert h.headers["Allow"] == g.headers["Allow"]
    assert h.headers["Link"] == g.headers["Link"]


# ---- real clients -----------------------------------------------------------------------

def redfishtool(svc, *args, auth=None, check=True):
    cmd = ["redfishtool", "-r", "127.0.0.1:%d" % svc.port, "-S", "Never", "-u", "admin",
           "-p", svc.password] + (["-A", auth] if auth else []) + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if check:
        assert r.returncode == 0, "%s\n%s\n%s" % (" ".join(args), r.stdout, r.stderr)
    return r


def test_redfishtool(svc, admin):
    root = json.loads(redfishtool(svc, "root").stdout)
    assert root["Id"] == "RootService"
    assert json.loads(redfishtool(svc, "versions").stdout)["v1"] == "/redfish/v1/"
    out = json.loads(redfishtool(svc, "SessionService", "Sessions", "list",
                                 auth="Session").stdout)
    assert out["Members@odata.count"] >= 1
    redfishtool(svc, "AccountService", "adduser", "tina", "tina-pass-1", "ReadOnly")
    users = json.loads(redfishtool(svc, "AccountService", "Accounts", "list").stdout)
    assert "tina" in [m.get("UserName") for m in users["Members"]]
    redfishtool(svc, "AccountService", "setpassword", "tina", "tina-pass-2")
    svc.client("tina", "tina-pass-2").ok("GET", V1 + "/SessionService")
    redfishtool(svc, "AccountService", "deleteuser", "tina")
    users = json.loads(redfishtool(svc, "AccountService", "Accounts", "list").stdout)
    assert "tina" not in [m.get("UserName") for m in users["Members"]]
    # setSessionTimeout reads the ETag and PATCHes with If-Match.
    redfishtool(svc, "SessionService", "setSessionTimeout", "1234")
    assert admin.ok("GET", V1 + "/SessionService")["SessionTimeout"] == 1234
    assert "edmx:Edmx" in redfishtool(svc, "metadata").stdout
    assert json.loads(redfishtool(svc, "odata").stdout)["value"]


def test_sushy(svc, admin):
    import sushy
    before = len(admin.ok("GET", SESSIONS)["Members"])
    s = sushy.Sushy(svc.base + V1, username="admin", password=svc.password)
    assert s.get_sessions_path() == SESSIONS
    assert s.redfish_version and s.uuid == admin.ok("GET", V1)["UUID"]
    ss = s.get_session_service()
    assert ss.session_timeout == admin.ok("GET", V1 + "/SessionService")["SessionTimeout"]
    # sushy logged in with a session (not Basic): one more session exists.
    members = ss.sessions.get_members()
    assert len(members) == before + 1
    assert "admin" in [m.username for m in members]
    with pytest.raises(sushy.exceptions.AccessError):
        sushy.Sushy(svc.base + V1, username="admin",
                    password="wrong-password").get_session_service()


# ---- HTTPS ------------------------------------------------------------------------------

def cert_fingerprint(path):
    with open(path) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    import hashlib
    return hashlib.sha256(der).hexdigest()


def test_https_with_generated_certificate(monkeypatch):
    # requests lets these override a session's own CA file (sushy's verify=).
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    tmp = tempfile.mkdtemp(prefix="kumo-redfish-tls-")
    started = []
    try:
        s = Service(tmp, tls=True)
        started.append(s)
        s.start()
        cert = os.path.join(s.rf_dir, "tls-cert.pem")
        key = os.path.join(s.rf_dir, "tls-key.pem")
        assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
        r = requests.get(s.base + V1 + "/SessionService", verify=cert,
                         auth=("admin", s.password))
        assert r.status_code == 200, r.text
        VALIDATOR.check(r.json())
        # sushy with the certificate as its CA; redfishtool over HTTPS.
        import sushy
        sy = sushy.Sushy(s.base + V1, username="admin", password=s.password, verify=cert)
        assert sy.get_session_service().session_timeout > 0
        out = subprocess.run(["redfishtool", "-r", "127.0.0.1:%d" % s.port, "-S", "Always",
                              "-u", "admin", "-p", s.password, "AccountService"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["Id"] == "AccountService"
        # Without trusting the certificate, TLS verification fails.
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(s.base + V1, timeout=10)
        # Plain HTTP to the TLS port gets no Redfish answer.
        with pytest.raises(requests.exceptions.RequestException):
            requests.get("http://127.0.0.1:%d%s" % (s.port, V1), timeout=5).json()
        fp = cert_fingerprint(cert)
        s.stop()
        # A restart reuses the certificate.
        s2 = Service(tmp, tls=True)
        s2.port, s2.listen, s2.base = s.port, s.listen, s.base
        started.append(s2)
        s2.start()
        assert cert_fingerprint(cert) == fp
        assert requests.get(s2.base + V1, verify=cert).status_code == 200
    finally:
        for x in started:
            x.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def test_plain_http_only_on_loopback():
    tmp = tempfile.mkdtemp(prefix="kumo-redfish-notls-")
    try:
        port = free_port()
        s = Service(tmp, tls=False, listen="0.0.0.0:%d" % port).start(wait=False)
        try:
            assert s.proc.wait(timeout=10 * SLOW) == 1
        finally:
            if s.proc.poll() is None:
                s.proc.kill()
                s.proc.wait()
        assert "loopback" in s.tail()
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
