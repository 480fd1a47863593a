# SPDX-License-Identifier: MIT
"""The agent's EventService and TelemetryService end to end, on a real kumod
and a real kumo-agent with the box model in accelerated time (rfnode.py).

Push subscriptions POST to small HTTP servers this test runs on loopback
(http.server in a thread), which record every Event and can answer errors.
Checked: the walk of both services against the DMTF schemas (every Event
and MetricReport received too); SubmitTestEvent delivered with its
MessageId and the subscription's Context, in order; a real thermal event
(FanFailed of the fan-failure scenario) after an agent restart, on a
subscription that survived it; retries (500 twice, then 200: delivered
once); a dead destination suspended (SuspendRetries) or deleted
(TerminateAfterRetries); SSE with Last-Event-ID; 401, 403 and 400 on bad
requests; metric reports that follow the coolant and are sent as events;
redfishtool and sushy against the EventService.
"""
import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time

import pytest
import requests

from conftest import SLOW, free_port, wait_for
from redfish_schema import Validator, check_metadata, walk
from rfnode import RfNode

V1 = "/redfish/v1"
ES = V1 + "/EventService"
SUBS = ES + "/Subscriptions"
SSE = ES + "/SSE"
SUBMIT = ES + "/Actions/EventService.SubmitTestEvent"
TS = V1 + "/TelemetryService"
DEFS = TS + "/MetricReportDefinitions"
REPORTS = TS + "/MetricReports"
SENSORS = V1 + "/Chassis/box/Sensors"
VALIDATOR = Validator()
# The coolant warms quickly from 25 C at 45 C ambient (600 s a second).
WARMING = "ambient_c = 45\ncoolant0_c = 25\ntime_scale = 600\ntick_ms = 100\n"
# Fan 2 stops at 1 h of model time; 400 W of idle heat keeps the fans on.
FAN_FAILURE = ("scenario = fan-failure\ntime_scale = 600\ntick_ms = 100\n"
               "model.server_idle_w = 400\n")


class Sink:
    """A loopback HTTP server that records the JSON bodies POSTed to it and
    answers them with statuses (in order, then 200)."""

    def __init__(self, statuses=()):
        self.posts = []  # (status answered, body)
        self.statuses = list(statuses)
        self.lock = threading.Lock()
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with sink.lock:
                    status = sink.statuses.pop(0) if sink.statuses else 200
                    sink.posts.append((status, json.loads(data), dict(self.headers)))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d/events" % self.srv.server_port

    def bodies(self, status=200):
        with self.lock:
            return [b for s, b, _ in self.posts if s == status]

    def events(self, message_id=None, message=None):
        """The EventRecords delivered (answered 200), with their Event."""
        out = []
        for body in self.bodies():
            for rec in body.get("Events", []):
                if (message_id is None or rec["MessageId"] == message_id) and \
                        (message is None or rec.get("Message") == message):
                    out.append((body, rec))
        return out

    def wait_events(self, timeout=15, **kw):
        wait_for(lambda: self.events(**kw), timeout=timeout, interval=0.1,
                 what="an event %r at %s" % (kw, self.url))
        return self.events(**kw)

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture(scope="module")
def node():
    tmp = tempfile.mkdtemp(prefix="kumo-rfevents-")
    n = RfNode(tmp, thermal=WARMING)
    try:
        yield n.start()
    finally:
        n.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def s(node):
    return node.session()


@pytest.fixture(scope="module")
def fast(node, s):
    """Retries one second apart, three of them."""
    ok(s, node, "PATCH", ES, {"DeliveryRetryIntervalSeconds": 1, "DeliveryRetryAttempts": 2})


def ok(s, node, method, path, body=None, status=200):
    r = s.request(method, node.base + path, json=body, timeout=10)
    assert r.status_code == status, "%s %s -> %d %s" % (method, path, r.status_code, r.text)
    if r.content and r.headers.get("Content-Type", "").startswith("application/json"):
        body = r.json()
        if "@odata.type" in body:
            VALIDATOR.check(body, path)
        else:  # an action's answer: its messages
            for m in body["@Message.ExtendedInfo"]:
                VALIDATOR.check(m, path)
        return body
    return None


def error(r, status, key):
    assert r.status_code == status, "want %d, got %d %s" % (status, r.status_code, r.text)
    body = r.json()
    VALIDATOR.check(body, "error")
    keys = [m["MessageId"].rsplit(".", 1)[1] for m in body["error"]["@Message.ExtendedInfo"]]
    assert key in keys, (key, r.text)
    return body


def subscribe(s, node, dest, **extra):
    body = dict({"Destination": dest, "Protocol": "Redfish", "Context": "kumo-test"}, **extra)
    r = s.post(node.base + SUBS, json=body, timeout=10)
    assert r.status_code == 201, r.text
    VALIDATOR.check(r.json(), "new subscription")
    assert r.headers["Location"] == r.json()["@odata.id"]
    return r.headers["Location"]


def submit(s, node, message_id="ResourceEvent.1.4.3.ResourceCreated", **extra):
    body = dict({"MessageId": message_id, "MessageSeverity": "OK"}, **extra)
    ok(s, node, "POST", SUBMIT, body)


def check_event(body, rec, context="kumo-test"):
    VALIDATOR.check(body, "event")
    assert body["@odata.type"] == "#Event.v1_13_0.Event"
    assert body["Context"] == context
    assert rec["EventId"] and rec["EventTimestamp"] and rec["MemberId"] == "0"


# ---- the resources -------------------------------------------------------------------

def test_walk_validates_event_and_telemetry_services(node, s):
    # a report exists a few seconds after the start
    wait_for(lambda: ok(s, node, "GET", REPORTS)["Members"], timeout=10, what="a report")
    bodies = {}
    for start in (ES, TS):
        bodies.update(walk(lambda p: s.get(node.base + p, timeout=10), VALIDATOR, start=start,
                           skip=(SSE, V1 + "/Chassis", V1 + "/Managers", V1 + "/Systems")))
    es = bodies[ES]
    assert es["ServerSentEventUri"] == SSE
    assert es["ServiceEnabled"] is True
    assert "Environmental" in es["RegistryPrefixes"] and "Event" in es["EventFormatTypes"]
    assert "#EventService.SubmitTestEvent" in es["Actions"]
    assert bodies[DEFS + "/NodeSensors"]["Schedule"]["RecurrenceInterval"] == "PT1M"
    assert REPORTS + "/NodeSensors" in bodies
    root = ok(s, node, "GET", V1)
    assert root["EventService"]["@odata.id"] == ES and root["TelemetryService"]["@odata.id"] == TS
    meta = s.get(node.base + V1 + "/$metadata", timeout=10).text
    ns = check_metadata(meta, bodies)
    assert "Event.v1_13_0" in ns and "EventDestination.v1_16_0" in ns


def test_401_without_credentials(node):
    for method, path in (("GET", SSE), ("GET", SUBS), ("POST", SUBS), ("GET", ES),
                         ("POST", SUBMIT), ("GET", REPORTS)):
        r = requests.request(method, node.base + path, json={}, timeout=10)
        error(r, 401, "AccessUnauthorized")
        assert r.headers["WWW-Authenticate"].startswith("Basic")


def test_read_only_cannot_create_or_submit(node, s):
    ok(s, node, "POST", V1 + "/AccountService/Accounts",
       {"UserName": "watcher", "Password": "watcher-pw-1", "RoleId": "ReadOnly"}, status=201)
    ro = node.session("watcher", "watcher-pw-1")
    ok(ro, node, "GET", SUBS)
    error(ro.post(node.base + SUBS, json={"Destination": "http://127.0.0.1:9/x",
                                          "Protocol": "Redfish"}, timeout=10),
          403, "InsufficientPrivilege")
    error(ro.post(node.base + SUBMIT, json={"MessageId": "ResourceEvent.1.4.3.TestMessage"},
                  timeout=10), 403, "InsufficientPrivilege")
    error(ro.patch(node.base + ES, json={"ServiceEnabled": False}, timeout=10),
          403, "InsufficientPrivilege")
    error(ro.post(node.base + DEFS, json={}, timeout=10), 403, "InsufficientPrivilege")


@pytest.mark.parametrize("dest", ["not a uri", "ftp://127.0.0.1/x", "http//127.0.0.1/x",
                                  "http://", "/relative/path", "mailto:ops@example.com",
                                  "http://user:secret@127.0.0.1/x"])
def test_bad_destination_is_400(node, s, dest):
    r = s.post(node.base + SUBS, json={"Destination": dest, "Protocol": "Redfish"}, timeout=10)
    error(r, 400, "PropertyValueFormatError")


def test_bad_subscriptions_are_400_and_create_nothing(node, s):
    before = ok(s, node, "GET", SUBS)["Members@odata.count"]
    good = {"Destination": "http://127.0.0.1:9/x", "Protocol": "Redfish"}
    cases = [({"Protocol": "SNMPv2c"}, "PropertyValueNotInList"),
             ({"RegistryPrefixes": ["NoSuchRegistry"]}, "PropertyValueNotInList"),
             ({"MessageIds": ["Environmental"]}, "PropertyValueFormatError"),
             ({"ResourceTypes": ["Spaceship"]}, "PropertyValueNotInList"),
             ({"EventFormatType": "Syslog"}, "PropertyValueNotInList"),
             ({"DeliveryRetryPolicy": "RetryForever"}, "PropertyValueNotInList"),
             ({"OriginResources": ["/redfish/v1/Chassis/box"]}, "PropertyValueFormatError"),
             ({"HttpHeaders": [{"X-Token": "a"}]}, "PropertyUnknown"),
             ({"Context": 5}, "PropertyValueTypeError")]
    for extra, key in cases:
        error(s.post(node.base + SUBS, json=dict(good, **extra), timeout=10), 400, key)
    error(s.post(node.base + SUBS, json={"Protocol": "Redfish"}, timeout=10),
          400, "PropertyMissing")
    assert ok(s, node, "GET", SUBS)["Members@odata.count"] == before
    error(s.post(node.base + SUBMIT, json={"MessageId": "no-dots"}, timeout=10),
          400, "ActionParameterValueFormatError")
    error(s.post(node.base + SUBMIT, json={}, timeout=10), 400, "ActionParameterMissing")


# ---- push delivery -------------------------------------------------------------------

def test_submitted_events_reach_the_subscriber_in_order_with_its_context(node, s, fast):
    sink = Sink()
    try:
        loc = subscribe(s, node, sink.url, RegistryPrefixes=["ResourceEvent"])
        sub = ok(s, node, "GET", loc)
        assert sub["Destination"] == sink.url and sub["Context"] == "kumo-test"
        assert sub["Status"]["State"] == "Enabled"
        for i in range(5):
            submit(s, node, Message="order %d" % i, MessageArgs=[],
                   OriginOfCondition=V1 + "/Chassis/box")
        wait_for(lambda: len(sink.events(message_id="ResourceEvent.1.4.3.ResourceCreated")) >= 5,
                 timeout=15, what="five events")
        got = sink.events(message_id="ResourceEvent.1.4.3.ResourceCreated")
        assert [r["Message"] for _, r in got] == ["order %d" % i for i in range(5)]
        ids = [r["EventId"] for _, r in got]
        assert len(set(ids)) == 5 and ids == sorted(ids, key=int)
        for body, rec in got:
            check_event(body, rec)
            assert rec["OriginOfCondition"] == {"@odata.id": V1 + "/Chassis/box"}
        assert sink.posts[0][2]["Content-Type"].startswith("application/json")
        # a filtered-out registry does not come; a new Context does
        submit(s, node, message_id="Environmental.1.4.0.FanFailed", MessageArgs=["Fan9"])
        ok(s, node, "PATCH", loc, {"Context": "renamed"})
        submit(s, node, Message="after the patch")
        body, rec = sink.wait_events(message="after the patch")[0]
        check_event(body, rec, context="renamed")
        assert not sink.events(message_id="Environmental.1.4.0.FanFailed")
        ok(s, node, "DELETE", loc, status=204)
        assert s.get(node.base + loc, timeout=10).status_code == 404
    finally:
        sink.close()


def test_retries_deliver_once(node, s, fast):
    sink = Sink(statuses=[500, 500])
    try:
        loc = subscribe(s, node, sink.url, MessageIds=["ResourceEvent.ResourceSelfTestCompleted"])
        submit(s, node, "ResourceEvent.1.4.3.ResourceSelfTestCompleted", Message="retry me")
        sink.wait_events(timeout=15, message="retry me")
        time.sleep(1.5)  # no more POSTs of it once it got its 200
        statuses = [st for st, b, _ in sink.posts if b["Events"][0]["Message"] == "retry me"]
        assert statuses == [500, 500, 200]
        ids = {b["Events"][0]["EventId"] for _, b, _ in sink.posts}
        assert len(ids) == 1  # the same event each time
        assert ok(s, node, "GET", loc)["Status"]["State"] == "Enabled"
        ok(s, node, "DELETE", loc, status=204)
    finally:
        sink.close()


def test_dead_destination_is_suspended_or_terminated(node, s, fast):
    dead = "http://127.0.0.1:%d/nobody" % free_port()
    only = ["ResourceEvent.URIForResourceChanged"]
    suspended = subscribe(s, node, dead, MessageIds=only)
    terminated = subscribe(s, node, dead, MessageIds=only,
                           DeliveryRetryPolicy="TerminateAfterRetries")
    submit(s, node, "ResourceEvent.1.4.3.URIForResourceChanged", Message="to nobody")
    # 1 POST + 2 retries, 1 s apart
    wait_for(lambda: ok(s, node, "GET", suspended)["Status"]["State"] == "Disabled",
             timeout=15, what="the subscription suspended")
    wait_for(lambda: s.get(node.base + terminated, timeout=10).status_code == 404,
             timeout=15, what="the subscription terminated")
    sub = ok(s, node, "GET", suspended)
    assert sub["DeliveryRetryPolicy"] == "SuspendRetries"
    # resumed, it delivers what it kept once the destination is there
    sink = Sink()
    try:
        ok(s, node, "DELETE", suspended, status=204)
        loc = subscribe(s, node, sink.url, MessageIds=only)
        ok(s, node, "POST", loc + "/Actions/EventDestination.SuspendSubscription", {})
        assert ok(s, node, "GET", loc)["Status"]["State"] == "Disabled"
        submit(s, node, "ResourceEvent.1.4.3.URIForResourceChanged", Message="kept")
        time.sleep(0.5)
        assert not sink.events(message="kept")
        ok(s, node, "POST", loc + "/Actions/EventDestination.ResumeSubscription", {})
        sink.wait_events(message="kept")
        ok(s, node, "DELETE", loc, status=204)
    finally:
        sink.close()


# ---- SSE -----------------------------------------------------------------------------

def read_sse(resp, want, timeout=10):
    """(id, Event) of the first SSE event whose record's Message is want."""
    deadline = time.time() + timeout * SLOW
    ev_id = None
    for line in resp.iter_lines(decode_unicode=True):
        if time.time() > deadline:
            break
        if line.startswith("id: "):
            ev_id = line[4:]
        elif line.startswith("data: "):
            body = json.loads(line[6:])
            VALIDATOR.check(body, "SSE event")
            if body["Events"][0].get("Message") == want:
                assert body["Events"][0]["EventId"] == ev_id == body["Id"]
                return ev_id, body
    raise AssertionError("no SSE event %r" % want)


def test_sse_stream_and_last_event_id(node, s):
    auth = s.auth
    r = requests.get(node.base + SSE, auth=auth, stream=True, timeout=(5, 10 * SLOW))
    try:
        assert r.status_code == 200
        assert r.headers["Content-Type"].startswith("text/event-stream")
        submit(s, node, Message="over SSE", MessageSeverity="Warning")
        ev_id, body = read_sse(r, "over SSE")
        assert body["Events"][0]["MessageSeverity"] == "Warning"
    finally:
        r.close()
    # reconnecting with Last-Event-ID gets what came after that id
    r = requests.get(node.base + SSE, auth=auth, stream=True, timeout=(5, 10 * SLOW),
                     headers={"Last-Event-ID": str(int(ev_id) - 1)})
    try:
        again, _ = read_sse(r, "over SSE")
        assert again == ev_id
    finally:
        r.close()
    error(s.get(node.base + SSE + "?$filter=MessageId%20eq%20'x'", timeout=10),
          501, "QueryNotSupported")
    assert s.head(node.base + SSE, timeout=10).status_code == 200


def test_disabled_service_refuses_events_and_streams(node, s):
    r = requests.get(node.base + SSE, auth=s.auth, stream=True, timeout=(5, 10 * SLOW))
    try:
        assert r.status_code == 200
        ok(s, node, "PATCH", ES, {"ServiceEnabled": False})
        assert ok(s, node, "GET", ES)["Status"]["State"] == "Disabled"
        # the open stream ends, new ones and test events are refused
        assert all(not line.startswith("data:") for line in r.iter_lines(decode_unicode=True))
        error(s.get(node.base + SSE, timeout=10), 503, "ServiceDisabled")
        error(s.post(node.base + SUBMIT, json={"MessageId": "ResourceEvent.1.4.3.TestMessage"},
                     timeout=10), 503, "ServiceDisabled")
    finally:
        r.close()
        ok(s, node, "PATCH", ES, {"ServiceEnabled": True})
    submit(s, node, Message="enabled again")


# ---- telemetry -----------------------------------------------------------------------

def coolant(report):
    vals = [v for v in report["MetricValues"] if v["MetricId"] == "CoolantTemp"]
    assert vals and vals[0]["MetricProperty"] == SENSORS + "/CoolantTemp#/Reading", report
    return float(vals[-1]["MetricValue"]), vals[-1]["Timestamp"]


def test_metric_reports_follow_the_coolant(node, s):
    ok(s, node, "PATCH", DEFS + "/NodeSensors", {"Schedule": {"RecurrenceInterval": "PT1S"}})
    first = ok(s, node, "GET", REPORTS + "/NodeSensors")
    c1, t1 = coolant(first)

    def changed():
        c2, t2 = coolant(ok(s, node, "GET", REPORTS + "/NodeSensors"))
        return t2 != t1 and abs(c2 - c1) > 0.01
    wait_for(changed, timeout=10, interval=0.3, what="a new report with another coolant value")
    ok(s, node, "PATCH", DEFS + "/NodeSensors", {"Schedule": {"RecurrenceInterval": "PT1M"}})
    error(s.delete(node.base + DEFS + "/NodeSensors", timeout=10), 409,
          "ResourceCannotBeDeleted")


def test_posted_definition_sends_reports_as_events(node, s):
    sink = Sink()
    try:
        loc = subscribe(s, node, sink.url, EventFormatType="MetricReport",
                        MetricReportDefinitions=[{"@odata.id": DEFS + "/Coolant"}])
        error(s.post(node.base + DEFS, json={
            "Id": "Bad", "Schedule": {"RecurrenceInterval": "PT1S"},
            "MetricProperties": [SENSORS + "/NoSuchSensor"]}, timeout=10),
            400, "PropertyValueNotInList")
        error(s.post(node.base + DEFS, json={
            "Id": "Bad", "Schedule": {"RecurrenceInterval": "every second"},
            "MetricProperties": [SENSORS + "/CoolantTemp"]}, timeout=10),
            400, "PropertyValueFormatError")
        r = s.post(node.base + DEFS, json={
            "Id": "Coolant", "Name": "Coolant every second",
            "MetricReportDefinitionType": "Periodic",
            "Schedule": {"RecurrenceInterval": "PT1S"},
            "MetricProperties": [SENSORS + "/CoolantTemp#/Reading", SENSORS + "/Fan1"],
            "ReportActions": ["RedfishEvent", "LogToMetricReportsCollection"],
            "ReportUpdates": "AppendWrapsWhenFull"}, timeout=10)
        assert r.status_code == 201, r.text
        assert r.headers["Location"] == DEFS + "/Coolant"
        VALIDATOR.check(r.json(), "definition")
        wait_for(lambda: len(sink.bodies()) >= 2, timeout=10, what="two metric report events")
        for body in sink.bodies():
            VALIDATOR.check(body, "metric report event")
            assert body["@odata.type"] == "#MetricReport.v1_5_2.MetricReport"
            assert body["Context"] == "kumo-test" and body["Id"] == "Coolant"
            assert [v["MetricId"] for v in body["MetricValues"]] == ["CoolantTemp", "Fan1"]
        rep = ok(s, node, "GET", REPORTS + "/Coolant")
        assert len(rep["MetricValues"]) >= 4  # appended: two a report
        ok(s, node, "DELETE", DEFS + "/Coolant", status=204)
        assert s.get(node.base + REPORTS + "/Coolant", timeout=10).status_code == 404
        ok(s, node, "DELETE", loc, status=204)
    finally:
        sink.close()


# ---- a real thermal event, across a restart --------------------------------------------

def test_subscription_survives_restart_and_gets_a_fan_failure(node, s, fast):
    sink = Sink()
    try:
        loc = subscribe(s, node, sink.url, Context="thermal-watch",
                        RegistryPrefixes=["Environmental"])
        ok(s, node, "POST", DEFS, {"Id": "Survivor", "Schedule": {"RecurrenceInterval": "PT2M"},
                                   "MetricProperties": [SENSORS + "/AmbientTemp"]}, status=201)
        path = os.path.join(node.agent.dir, "redfish", "subscriptions.json")
        assert os.stat(path).st_mode & 0o777 == 0o600
        with open(node.ini_path, "w") as f:
            f.write("[thermal]\nenabled = true\n" + FAN_FAILURE)
        node.restart_agent()
        sub = ok(s, node, "GET", loc)
        assert sub["Context"] == "thermal-watch" and sub["Destination"] == sink.url
        assert ok(s, node, "GET", ES)["DeliveryRetryIntervalSeconds"] == 1  # kept too
        d = ok(s, node, "GET", DEFS + "/Survivor")
        assert d["Schedule"]["RecurrenceInterval"] == "PT2M"
        assert d["MetricProperties"] == [SENSORS + "/AmbientTemp"]
        got = sink.wait_events(timeout=40, message_id="Environmental.1.4.0.FanFailed")
        body, rec = got[0]
        check_event(body, rec, context="thermal-watch")
        assert rec["MessageArgs"] == ["Fan2"] and rec["MessageSeverity"] == "Critical"
        assert rec["OriginOfCondition"]["@odata.id"] == \
            V1 + "/Chassis/box/ThermalSubsystem/Fans/Fan2"
        assert all(r["MessageId"].startswith("Environmental.") for _, r in sink.events())
    finally:
        sink.close()


# ---- real clients --------------------------------------------------------------------

def test_sushy_and_redfishtool(node, s):
    import sushy
    sink = Sink()
    try:
        sy = sushy.Sushy(node.base + V1, username="admin", password=node.password)
        es = sy.get_event_service()
        assert es.service_enabled is True and es.delivery_retry_attempts >= 0
        sub = es.subscriptions.create({"Destination": sink.url, "Protocol": "Redfish",
                                       "Context": "sushy"})
        assert sub.destination == sink.url and sub.context == "sushy"
        es.submit_test_event("1", "2026-01-02T03:04:05Z", "Alert", "from sushy", [],
                             "ResourceEvent.1.4.3.ResourceCreated", V1 + "/Systems", "Warning")
        body, rec = sink.wait_events(message="from sushy")[0]
        check_event(body, rec, context="sushy")
        assert rec["EventTimestamp"] == "2026-01-02T03:04:05Z" and rec["EventType"] == "Alert"
        sub.delete()
    finally:
        sink.close()
    out = subprocess.run(["redfishtool", "-r", "127.0.0.1:%d" % node.port, "-S", "Never",
                          "-u", "admin", "-p", node.password, "raw", "GET", ES],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    VALIDATOR.check(body, ES)
    assert body["ServerSentEventUri"] == SSE
