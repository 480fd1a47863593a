# SPDX-License-Identifier: MIT
"""Faults end to end: kumod killed in the middle of a big batch, agents that
vanish and come back, commands delivered twice, kumod restarts under running
VMs, and hosts on which every operation fails. Real kumod, real kumo-agent
(sim driver), real SIGKILLs."""
import json
import os
import re
import time

from conftest import SLOW, wait_for

FINAL = ("succeeded", "failed", "cancelled")


# --- helpers -------------------------------------------------------------------

def basics(cloud):
    return cloud.basics()


def vm_body(b, name, **kw):
    body = {"name": name, "image_id": b["image"], "instance_offering_id": b["offering"],
            "l3_network_ids": [b["l3"]]}
    body.update(kw)
    return body


def all_vms(api):
    out, offset = [], 0
    while True:
        page = api.ok("GET", "/v1/vms?limit=1000&offset=%d" % offset)
        out += page["items"]
        offset += len(page["items"])
        if not page["items"] or offset >= page["total"]:
            return out


def all_events(api, after=0):
    out = []
    while True:
        items = api.ok("GET", "/v1/events?limit=1000&after=%d" % after)["items"]
        if not items:
            return out
        out += items
        after = items[-1]["id"]


def last_event_id(api):
    evs = all_events(api)
    return evs[-1]["id"] if evs else 0


def hosts(api, prefix=""):
    return [h for h in api.ok("GET", "/v1/hosts?limit=1000")["items"]
            if h["name"].startswith(prefix)]


def act(api, vm_id, verb, body=None):
    r = api.post("/v1/vms/%s/actions/%s" % (vm_id, verb), body if body is not None else {})
    assert r.status_code == 202, "%s: %d %s" % (verb, r.status_code, r.text)
    return r.json()


def get_vm(api, vm_id):
    return api.ok("GET", "/v1/vms/%s" % vm_id)


def journal_vms(agent):
    """The VMs in the agent's journals (read while it is stopped): a list of
    ids over all its hosts, with repeats if any."""
    ids = []
    root = os.path.join(agent.dir, "hosts")
    for d in sorted(os.listdir(root)):
        path = os.path.join(root, d, "journal.json")
        if os.path.exists(path):
            with open(path) as f:
                ids += [v["id"] for v in json.load(f)["vms"]]
    return ids


def journal_backlog(agent, offset):
    """(queued commands, results to send) that the agent found in its
    journals at the start logged past offset; None until it has started."""
    with open(agent.log) as f:
        f.seek(offset)
        text = f.read()
    if " sim host" not in text:  # "kumo-agent V: N sim hosts, ...": started
        return None
    queued = unsent = 0
    for m in re.finditer(r"journal has \d+ VMs, (\d+) queued commands, (\d+) results", text):
        queued += int(m.group(1))
        unsent += int(m.group(2))
    return (queued, unsent)


def job_final_events(api, job_id):
    return [e for e in all_events(api) if e["type"] == "job.state"
            and e["resource_id"] == job_id and e["data"] and e["data"].get("state") in FINAL]


# --- (1) kumod killed during a batch create -----------------------------------------

def test_kumod_kill9_during_batch_of_500_every_vm_ends_once_running_or_error(cloud_factory):
    # Commands lost with the process are re-sent after command_resend_s.
    cloud = cloud_factory("[kumod]\ncommand_resend_s=3\n")
    agent = cloud.add_agent("big", hosts=20, extra=["--sim-delay-ms", "300"])
    b = basics(cloud)
    api = cloud.admin

    r = api.post("/v1/vms", vm_body(b, "b", count=500))
    assert r.status_code == 202, r.text
    batch = r.json()
    accepted = set(batch["result"]["vm_ids"])
    assert len(accepted) == 500
    time.sleep(0.25 * SLOW)
    # still in flight when the axe falls
    j = api.ok("GET", "/v1/jobs/%s" % batch["id"])
    running = api.ok("GET", "/v1/vms?q=state=running&limit=1")["total"]
    cloud.kumod.kill9()
    assert j["state"] == "running" and running < 500, (j["state"], running)

    cloud.kumod.start()
    # the session survives the crash
    assert api.ok("GET", "/v1/whoami")["user"] == "admin"
    done = api.job(batch, timeout=60)
    assert done["state"] in ("succeeded", "failed"), done
    assert done["children_done"] == 500

    vms = all_vms(api)
    assert len(vms) == 500
    assert {v["id"] for v in vms} == accepted
    names = [v["name"] for v in vms]
    assert sorted(names) == sorted("b-%d" % i for i in range(1, 501))
    bad = [v for v in vms if v["state"] not in ("running", "error")]
    assert bad == [], bad[:3]
    errors = [v for v in vms if v["state"] == "error"]
    assert all(v["state_reason"] for v in errors), errors[:3]
    assert done["children_failed"] == len(errors)
    running = [v for v in vms if v["state"] == "running"]
    assert len(running) >= 1
    # every child job finished, none is left pending or running
    children = api.ok("GET", "/v1/jobs?limit=1000&q=parent_id=%s" % batch["id"])["items"]
    assert len(children) == 500
    assert all(c["state"] in ("succeeded", "failed") for c in children)
    # kumod's books match: allocations for the running VMs only
    hs = hosts(api, "big")
    assert sum(h["vm_count"] for h in hs) == len(running)
    assert sum(h["cpu_allocated"] for h in hs) == len(running)
    assert api.ok("GET", "/v1/l3-networks/%s" % b["l3"])["ip_used"] == len(running)

    # and the hosts hold each running VM exactly once
    agent.stop()
    on_hosts = journal_vms(agent)
    assert len(on_hosts) == len(set(on_hosts))
    assert set(on_hosts) == {v["id"] for v in running}


# --- (2) an agent that disappears and comes back ---------------------------------------

def test_agent_kill9_hosts_disconnected_vms_unknown_then_reconciled_and_queued_action_delivered(
        cloud_factory):
    cloud = cloud_factory("[kumod]\nhost_timeout_s=3\n")
    agent = cloud.add_agent("edge", hosts=2, extra=["--sim-delay-ms", "30",
                                                    "--heartbeat-interval", "1"])
    b = basics(cloud)
    api = cloud.admin
    batch = api.job(api.ok("POST", "/v1/vms", vm_body(b, "e", count=4)))
    assert batch["state"] == "succeeded", batch
    vms = sorted(all_vms(api), key=lambda v: v["name"])
    assert {v["state"] for v in vms} == {"running"}
    stay, pushed = vms[0], vms[1]

    agent.kill9()
    t0 = time.time()
    wait_for(lambda: all(h["status"] == "disconnected" for h in hosts(api, "edge")),
             timeout=6, what="the hosts to be disconnected")
    wait_for(lambda: all(v["state"] == "unknown" for v in all_vms(api)), timeout=2,
             what="the VMs to be unknown")
    assert time.time() - t0 < 6 * SLOW
    assert all(v["state_reason"] == "host disconnected" for v in all_vms(api))
    # what the state was before is kumod's business, not shown
    assert not any("state_before_lost" in v for v in all_vms(api))

    # plain actions are refused while the host is away, naming the state...
    r = api.post("/v1/vms/%s/actions/stop" % pushed["id"], {})
    assert r.status_code == 409 and "unknown" in r.json()["error"]["message"], r.text
    # ...a forced stop is queued for when it returns
    job = act(api, pushed["id"], "stop", {"force": True})
    time.sleep(1.5)
    assert api.ok("GET", "/v1/jobs/%s" % job["id"])["state"] in ("pending", "running")

    agent.start()
    wait_for(lambda: all(h["status"] == "connected" for h in hosts(api, "edge")),
             timeout=10, what="the hosts to be connected again")
    job = api.job(job, timeout=15)
    assert job["state"] == "succeeded", job
    assert get_vm(api, pushed["id"])["state"] == "stopped"
    wait_for(lambda: all(v["state"] == "running" for v in all_vms(api)
                         if v["id"] != pushed["id"]),
             timeout=5, what="the other VMs to be running again")
    assert get_vm(api, stay["id"])["state"] == "running"
    # delivered once: one stop, no repeat later
    time.sleep(1.5)
    assert len(job_final_events(api, job["id"])) == 1
    assert get_vm(api, pushed["id"])["state"] == "stopped"


# --- (3) a command delivered twice runs once ---------------------------------------------

def test_command_redelivered_while_in_progress_runs_once(cloud_factory):
    cloud = cloud_factory("[kumod]\ncommand_resend_s=1\n")
    # the host takes 2-6 s per operation
    agent = cloud.add_agent("slow", extra=["--sim-delay-ms", "4000", "--log-level", "debug"])
    b = basics(cloud)
    api = cloud.admin
    host = hosts(api, "slow")[0]

    first = api.ok("POST", "/v1/vms", vm_body(b, "first"))
    # dispatched (its command is queued and the host's long-poll takes it at
    # once), then older than command_resend_s
    wait_for(lambda: api.ok("GET", "/v1/jobs/%s" % first["id"])["state"] == "running",
             timeout=5, interval=0.01, what="the first create to be dispatched")
    time.sleep(1.2)
    # a new command for the host wakes its long-poll, which hands out the
    # first command again (sent more than command_resend_s ago, no result)
    second = api.ok("POST", "/v1/vms", vm_body(b, "second"))
    first, second = api.job(first), api.job(second)
    assert (first["state"], second["state"]) == ("succeeded", "succeeded")
    with open(agent.log) as f:
        assert "delivered again while in progress" in f.read()

    time.sleep(1.5)  # let any stray repeat arrive
    for j in (first, second):
        assert len(job_final_events(api, j["id"])) == 1
        evs = [e for e in all_events(api) if e["type"] == "vm.state"
               and e["resource_id"] == j["resource_id"]]
        assert [e["data"]["state"] for e in evs] == ["creating", "running"]
    h = api.ok("GET", "/v1/hosts/%s" % host["id"])
    assert (h["vm_count"], h["cpu_allocated"]) == (2, 2)
    agent.stop()
    assert sorted(journal_vms(agent)) == sorted([first["resource_id"], second["resource_id"]])


def test_agent_kill9_before_results_acknowledged_no_vm_created_twice(cloud_factory):
    cloud = cloud_factory("[kumod]\ncommand_resend_s=1\n")
    agent = cloud.add_agent("crash", hosts=2, extra=["--sim-delay-ms", "400"])
    b = basics(cloud)
    api = cloud.admin
    mark = last_event_id(api)

    batch = api.ok("POST", "/v1/vms", vm_body(b, "c", count=10))
    # the agent has taken the commands; some are done, results may be unsent
    wait_for(lambda: api.ok("GET", "/v1/jobs?q=state=pending&limit=1")["total"] == 0,
             timeout=5, what="the commands to be dispatched")
    time.sleep(0.45)
    agent.kill9()
    offset = os.path.getsize(agent.log)
    agent.start()
    # the restarted agent found work in flight in its journals: commands
    # still queued, or results whose acknowledgement it had not recorded
    in_flight = wait_for(lambda: journal_backlog(agent, offset), timeout=5,
                         what="the restarted agent to read its journals")
    assert in_flight[0] + in_flight[1] > 0, in_flight

    done = api.job(batch, timeout=30)
    assert done["state"] == "succeeded", done
    vms = all_vms(api)
    assert len(vms) == 10
    assert all(v["state"] == "running" for v in vms), [v["state"] for v in vms]
    time.sleep(1.5)  # results re-posted after the restart arrive meanwhile
    evs = all_events(api, mark)
    for v in vms:
        states = [e["data"]["state"] for e in evs
                  if e["type"] == "vm.state" and e["resource_id"] == v["id"]]
        assert states == ["creating", "running"], (v["name"], states)
    for c in api.ok("GET", "/v1/jobs?limit=100&q=parent_id=%s" % batch["id"])["items"]:
        assert c["state"] == "succeeded"
        assert len([e for e in evs if e["type"] == "job.state" and e["resource_id"] == c["id"]
                    and e["data"] and e["data"].get("state") in FINAL]) == 1
    hs = hosts(api, "crash")
    assert sum(h["vm_count"] for h in hs) == 10
    agent.stop()
    on_hosts = journal_vms(agent)
    assert sorted(on_hosts) == sorted(v["id"] for v in vms)


# --- (4) kumod restart under running VMs --------------------------------------------------

def test_kumod_restart_changes_no_vm_state_and_keeps_sessions(cloud):
    cloud.add_agent("keep", hosts=2, extra=["--sim-delay-ms", "30",
                                            "--heartbeat-interval", "1"])
    b = basics(cloud)
    api = cloud.admin
    assert api.job(api.ok("POST", "/v1/vms", vm_body(b, "k", count=4)))["state"] == "succeeded"
    vms = sorted(all_vms(api), key=lambda v: v["name"])
    assert api.job(act(api, vms[1]["id"], "stop"))["state"] == "succeeded"
    assert api.job(act(api, vms[2]["id"], "pause"))["state"] == "succeeded"
    before = {v["id"]: v["state"] for v in all_vms(api)}
    assert sorted(before.values()) == ["paused", "running", "running", "stopped"]
    key = api.ok("POST", "/v1/api-keys", {"name": "script"}, status=201)["key"]

    for how in ("graceful", "kill9"):
        mark = last_event_id(api)
        if how == "graceful":
            cloud.kumod.stop()
        else:
            cloud.kumod.kill9()
        cloud.kumod.start()
        # the old session token and the API key still work
        assert api.ok("GET", "/v1/whoami")["user"] == "admin", how
        keyed = type(api)(api.url, key)
        assert keyed.ok("GET", "/v1/whoami")["auth"] == "api_key"
        # a few heartbeats later nothing has moved
        time.sleep(2.5)
        assert {v["id"]: v["state"] for v in all_vms(api)} == before, how
        assert all(h["status"] == "connected" for h in hosts(api, "keep")), how
        moved = [e for e in all_events(api, mark) if e["type"] == "vm.state"]
        assert moved == [], (how, moved)

    # and the VMs still answer to actions
    job = api.job(act(api, vms[1]["id"], "start"))
    assert job["state"] == "succeeded", job
    assert get_vm(api, vms[1]["id"])["state"] == "running"


# --- (5) every operation fails on the host --------------------------------------------

def test_fail_rate_1_every_action_fails_with_simulated_failure_and_state_table(cloud):
    agent = cloud.add_agent("flaky", extra=["--sim-delay-ms", "20"])
    b = basics(cloud)
    api = cloud.admin
    assert api.job(api.ok("POST", "/v1/vms", vm_body(b, "f", count=3)))["state"] == "succeeded"
    run, stopped, paused = sorted(all_vms(api), key=lambda v: v["name"])
    assert api.job(act(api, stopped["id"], "stop"))["state"] == "succeeded"
    assert api.job(act(api, paused["id"], "pause"))["state"] == "succeeded"
    vol = api.ok("POST", "/v1/volumes", {"name": "d", "size_gb": 1}, status=201)

    # the same host, from now on failing everything
    agent.stop()
    agent.extra = agent.extra + ["--sim-fail-rate", "1.0"]
    agent.start()

    def fails(job, vm_id, end):
        job = api.job(job)
        assert job["state"] == "failed", job
        assert job["error"]["code"] == "SimulatedFailure", job
        assert "simulated failure" in job["error"]["message"]
        vm = get_vm(api, vm_id)
        assert vm["state"] == end, (job["type"], vm["state"])
        return vm

    fails(act(api, stopped["id"], "start"), stopped["id"], "stopped")
    fails(act(api, run["id"], "stop"), run["id"], "running")
    fails(act(api, run["id"], "stop", {"force": True}), run["id"], "running")
    fails(act(api, run["id"], "reboot"), run["id"], "running")
    fails(act(api, run["id"], "pause"), run["id"], "running")
    fails(act(api, paused["id"], "resume"), paused["id"], "paused")
    fails(act(api, paused["id"], "stop"), paused["id"], "paused")

    r = api.post("/v1/volumes/%s/actions/attach" % vol["id"], {"vm_id": run["id"]})
    assert r.status_code == 202, r.text
    job = api.job(r.json())
    assert job["state"] == "failed" and job["error"]["code"] == "SimulatedFailure", job
    v = api.ok("GET", "/v1/volumes/%s" % vol["id"])
    assert (v["state"], v["vm_id"]) == ("available", None)
    assert api.ok("GET", "/v1/vms/%s" % run["id"])["volumes"] == run["volumes"]

    host = hosts(api, "flaky")[0]
    r = api.post("/v1/vms", vm_body(b, "new"))
    assert r.status_code == 202, r.text
    vm = fails(r.json(), r.json()["resource_id"], "error")
    assert "simulated failure" in vm["state_reason"]
    assert api.ok("GET", "/v1/hosts/%s" % host["id"])["vm_count"] == 3

    r = api.delete("/v1/vms/%s" % run["id"])
    assert r.status_code == 202, r.text
    vm = fails(r.json(), run["id"], "error")
    assert "simulated failure" in vm["state_reason"]
