// SPDX-License-Identifier: MIT
/*
 * kumod's side of the agent channel (DESIGN.md section 5): registration
 * with the join token, the commands long-poll, results and heartbeats.
 * Agents always dial in; everything after registration is authenticated
 * with the host secret (auth.c, ROLE_AGENT routes).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "kumod/api.h"
#include "kumod/events.h"
#include "kumod/host.h"
#include "kumod/jobs.h"
#include "kumod/kumod.h"
#include "kumod/netsync.h"
#include "kumod/rpc.h"
#include "kumod/store.h"
#include "kumod/telemetry.h"
#include "kumod/vm.h"

#define CMD_BATCH 200

static const char *const drivers[] = { "qemu", "sim", NULL };

static const struct field facts_fields[] = {
	{ "cpus", FT_INT, F_REQUIRED, 1, 1 << 20, NULL, NULL, NULL },
	{ "memory_mb", FT_INT, F_REQUIRED, 1, INT64_MAX, NULL, NULL, NULL },
	{ "disk_gb", FT_INT, F_REQUIRED, 0, INT64_MAX, NULL, NULL, NULL },
	{ "arch", FT_STRING, 0, 1, 32, NULL, NULL, NULL },
	{ "accel", FT_STRING, 0, 1, 16, NULL, NULL, NULL },
	{ "driver", FT_STRING, F_REQUIRED, 0, 0, drivers, NULL, NULL },
	{ "version", FT_STRING, 0, 1, 64, NULL, NULL, NULL },
	{ "interfaces", FT_STRING_ARRAY, 0, 0, 64, NULL, NULL, NULL },
	{ "cpu_model", FT_STRING, 0, 1, 199, NULL, NULL, NULL },
	{ NULL },
};
static const struct schema facts_schema = { "HostFacts", facts_fields };

static const struct field register_fields[] = {
	{ "join_token", FT_STRING, F_REQUIRED | F_WRITEONLY, 1, 200, NULL, NULL, NULL },
	{ "name", FT_NAME, F_REQUIRED, 0, 0, NULL, NULL, NULL },
	{ "address", FT_STRING, 0, 1, 255, NULL, NULL, NULL },
	{ "cluster_id", FT_UUID, 0, 0, 0, NULL, NULL, NULL },
	{ "facts", FT_OBJECT, F_REQUIRED, 0, 0, NULL, &facts_schema, NULL },
	{ NULL },
};
static const struct schema register_schema = { "AgentRegister", register_fields };

static const struct field result_error_fields[] = {
	{ "code", FT_STRING, 0, 0, 128, NULL, NULL, NULL },
	{ "message", FT_STRING, 0, 0, 4096, NULL, NULL, NULL },
	{ NULL },
};
static const struct schema result_error_schema = { "AgentResultError", result_error_fields };

static const char *const result_statuses[] = { "succeeded", "failed", "running", NULL };

static const struct field result_fields[] = {
	{ "command_id", FT_UUID, F_REQUIRED, 0, 0, NULL, NULL, NULL },
	{ "status", FT_STRING, F_REQUIRED, 0, 0, result_statuses, NULL, NULL },
	{ "progress", FT_INT, 0, 0, 100, NULL, NULL, NULL },
	{ "error", FT_OBJECT, F_NULLABLE, 0, 0, NULL, &result_error_schema, NULL },
	{ "data", FT_ANY, F_NULLABLE, 0, 0, NULL, NULL, NULL },
	{ NULL },
};
static const struct schema result_schema = { "AgentResult", result_fields };

static const struct field results_fields[] = {
	{ "results", FT_OBJECT_ARRAY, F_REQUIRED, 0, 1000, NULL, &result_schema, NULL },
	{ NULL },
};
static const struct schema results_schema = { "AgentResults", results_fields };

static const struct field vm_report_fields[] = {
	{ "id", FT_UUID, F_REQUIRED, 0, 0, NULL, NULL, NULL },
	{ "state", FT_STRING, F_REQUIRED, 1, 32, NULL, NULL, NULL },
	{ "reason", FT_STRING, 0, 0, 256, NULL, NULL, NULL },
	{ NULL },
};
static const struct schema vm_report_schema = { "AgentVmReport", vm_report_fields };

static const struct field heartbeat_fields[] = {
	{ "vms", FT_OBJECT_ARRAY, 0, 0, 100000, NULL, &vm_report_schema, NULL },
	{ "facts", FT_OBJECT, 0, 0, 0, NULL, &facts_schema, NULL },
	/* validated by telemetry.c: a malformed member is dropped, never a 400 */
	{ "telemetry", FT_ANY, 0, 0, 0, NULL, NULL,
	  "sensor readings, thermal state and events (docs/API.md)" },
	{ NULL },
};
static const struct schema heartbeat_schema = { "AgentHeartbeat", heartbeat_fields };

/* --- register -------------------------------------------------------------- */

/* The cluster a new host joins: the one it names, else the first cluster of
 * its driver, else a "default" zone and cluster made for it. */
static int pick_cluster(const char *want, const char *driver, json_t **ret, struct kerr *e)
{
	struct list_query q;
	json_t *items = NULL, *zone = NULL, *cl;
	char name[32];
	int64_t total = 0;
	int r;

	if (want) {
		if (store_get("clusters", want, NULL, false, ret) < 0)
			return kerr_set(e, -EINVAL, "cluster_id", "no cluster with id %s", want);
		return 0;
	}
	list_query_init(&q);
	query_add_eq(&q, "hypervisor", driver);
	q.limit = 1;
	r = store_list("clusters", &q, &items, &total);
	list_query_free(&q);
	if (r == 0 && json_array_size(items) > 0) {
		*ret = json_incref(json_array_get(items, 0));
		json_decref(items);
		return 0;
	}
	json_decref(items);
	if (store_get_by_name("zones", "default", NULL, &zone) < 0) {
		char id[UUID_LEN + 1];
		char *now = time_now_str();

		uuid_new(id);
		zone = json_pack("{s:s,s:n,s:s,s:s,s:s,s:s,s:s}", "id", id, "account_id", "name",
		                 "default", "description", "made for the first host", "state",
		                 "enabled", "created_at", now, "updated_at", now);
		free(now);
		r = store_insert("zones", zone, true);
		if (r < 0) {
			json_decref(zone);
			return kerr_set(e, r, "", "cannot create the default zone");
		}
		event_emit("zone.created", "zones", id, NULL, NULL);
	}
	{
		char id[UUID_LEN + 1];
		char *now = time_now_str();

		uuid_new(id);
		snprintf(name, sizeof(name), "default-%s", driver);
		cl = json_pack("{s:s,s:n,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "id", id, "account_id",
		               "name", name, "zone_id", jstr(zone, "id"), "hypervisor", driver,
		               "arch", "x86_64", "state", "enabled", "created_at", now,
		               "updated_at", now);
		free(now);
	}
	json_decref(zone);
	r = store_insert("clusters", cl, true);
	if (r < 0) {
		json_decref(cl);
		return kerr_set(e, r, "", "cannot create the default cluster");
	}
	event_emit("cluster.created", "clusters", jstr(cl, "id"), NULL, NULL);
	*ret = cl;
	return 0;
}

static void set_facts(json_t *host, const json_t *facts)
{
	jset_int(host, "cpu_total", jint(facts, "cpus", 1));
	jset_int(host, "memory_mb_total", jint(facts, "memory_mb", 0));
	jset_int(host, "disk_gb_total", jint(facts, "disk_gb", 0));
	jset_str(host, "arch", jstr(facts, "arch") ? jstr(facts, "arch") : "x86_64");
	jset_str(host, "accel", jstr(facts, "accel") ? jstr(facts, "accel") : "tcg");
	jset_str(host, "driver", jstr(facts, "driver"));
	jset_str(host, "version", jstr(facts, "version"));
	if (json_is_array(json_object_get(facts, "interfaces")))
		json_object_set(host, "interfaces", json_object_get(facts, "interfaces"));
	if (jstr(facts, "cpu_model"))
		jset_str(host, "cpu_model", jstr(facts, "cpu_model"));
}

static void agent_register(struct http_request *req, struct http_response *resp)
{
	const json_t *b = req->body;
	const json_t *facts = json_object_get(b, "facts");
	const char *tok = jstr(b, "join_token");
	struct kerr e = { 0 };
	json_t *cl = NULL, *host = NULL;
	char *h = sha256_hex(tok, strlen(tok)), *rnd = NULL, *secret = NULL, *sh = NULL;
	bool created = false;
	int r;

	if (!str_eq_ct(h, kumod_cfg.join_token_hash)) {
		free(h);
		log_warn("registration of host %s from %s refused: wrong join token",
		         jstr(b, "name"), req->client_addr);
		http_reply_error(resp, -EACCES, "join_token", "wrong join token");
		return;
	}
	free(h);
	r = store_begin();
	if (r < 0) {
		http_reply_error(resp, r, "", "store unavailable");
		return;
	}
	r = pick_cluster(jstr(b, "cluster_id"), jstr(facts, "driver"), &cl, &e);
	if (r < 0)
		goto fail;
	rnd = random_hex(32);
	secret = xasprintf("khs_%s", rnd);
	sh = sha256_hex(secret, strlen(secret));
	/* A host that registers again under its name (its identity file was
	 * lost) takes its old record back, with its VMs. */
	if (store_get_by_name("hosts", jstr(b, "name"), NULL, &host) < 0) {
		json_t *nb = json_pack("{s:s}", "name", jstr(b, "name"));

		host = api_new_doc(&kind_host, req, nb);
		json_decref(nb);
		jset_int(host, "cpu_allocated", 0);
		jset_int(host, "memory_mb_allocated", 0);
		jset_int(host, "disk_gb_allocated", 0);
		jset_int(host, "vm_count", 0);
		jset_str(host, "state", "enabled");
		jset_str(host, "status", "connecting");
		created = true;
	}
	jset_str(host, "cluster_id", jstr(cl, "id"));
	jset_str(host, "zone_id", jstr(cl, "zone_id"));
	jset_str(host, "address", jstr(b, "address") ? jstr(b, "address") : req->client_addr);
	jset_str(host, "secret_hash", sh);
	set_facts(host, facts);
	r = created ? store_insert("hosts", host, true) : store_update("hosts", host, true);
	if (r < 0) {
		kerr_set(&e, r, "", "cannot store the host");
		goto fail;
	}
	if (created)
		event_emit("host.created", "hosts", jstr(host, "id"), NULL, NULL);
	host_seen(jstr(host, "id"));
	r = host_set_status(host, "connected");
	if (r == 0)
		r = store_commit();
	if (r < 0) {
		kerr_set(&e, r, "", "cannot store the host");
		goto fail;
	}
	log_info("host %s (%s) registered from %s in cluster %s", jstr(host, "name"),
	         jstr(host, "id"), req->client_addr, jstr(cl, "name"));
	http_reply_json(resp, 201,
	                json_pack("{s:s,s:s,s:I,s:I}", "host_id", jstr(host, "id"), "secret",
	                          secret, "heartbeat_interval",
	                          (json_int_t)kumod_cfg.heartbeat_interval_s, "poll_wait",
	                          (json_int_t)kumod_cfg.poll_wait_s));
	goto out;
fail:
	store_rollback();
	http_reply_kerr(resp, &e);
out:
	free(rnd);
	free(secret);
	free(sh);
	json_decref(cl);
	json_decref(host);
}

/* --- liveness and reconciliation ------------------------------------------ */

static uint64_t fnv_str(uint64_t h, const char *s)
{
	return fnv1a(fnv1a(h, s ? s : "", s ? strlen(s) : 0), ";", 1);
}

/* What a heartbeat says that the store may need: its VMs' states and the
 * host's facts (sizes, interfaces). */
static uint64_t report_digest(const json_t *vms, const json_t *facts)
{
	uint64_t h = FNV1A_INIT;
	char num[64];
	json_t *v;
	size_t i;

	json_array_foreach(vms, i, v)
	{
		h = fnv_str(h, jstr(v, "id"));
		h = fnv_str(h, jstr(v, "state"));
	}
	snprintf(num, sizeof(num), "%lld/%lld/%lld", (long long)jint(facts, "cpus", 0),
	         (long long)jint(facts, "memory_mb", 0), (long long)jint(facts, "disk_gb", 0));
	h = fnv_str(h, num);
	json_array_foreach(json_object_get(facts, "interfaces"), i, v)
	{
		h = fnv_str(h, json_string_value(v));
	}
	h = fnv_str(h, jstr(facts, "cpu_model"));
	return h ? h : 1;
}

static const json_t *reported(const json_t *vms, const char *id)
{
	json_t *v;
	size_t i;

	json_array_foreach(vms, i, v)
	{
		if (!strcmp(jstr(v, "id"), id))
			return v;
	}
	return NULL;
}

/* Makes kumod's view of the host's VMs match what the host reports. Only
 * VMs without an operation in flight are touched: a running job will
 * deliver its own result. With dry set it changes nothing and only says
 * whether anything would change, so that the heartbeats of a thousand
 * hosts whose reports merely caught up with kumod take no write
 * transaction. Returns the number of changes (made or due). */
/* vms may be NULL (none reported). */
static int reconcile(const char *host_id, const json_t *vms, bool dry)
{
	struct list_query q;
	json_t *items = NULL, *vm, *rep;
	int64_t total = 0;
	int n = 0;
	size_t i;

	list_query_init(&q);
	query_add_eq(&q, "host_id", host_id);
	q.limit = 0; /* all */
	if (store_list("vms", &q, &items, &total) < 0) {
		list_query_free(&q);
		return dry ? 1 : 0; /* let the write pass find out */
	}
	list_query_free(&q);
	json_array_foreach(items, i, vm)
	{
		const char *st = jstr(vm, "state");
		const json_t *rep_vm = reported(vms, jstr(vm, "id"));
		const char *rs = jstr(rep_vm, "state");
		const char *why = jstr(rep_vm, "reason");
		int want;

		if (jstr(vm, "job_id")) {
			/* an operation is in flight; a host back from an outage still
			 * owes its result, and an unknown VM waits for it */
			json_t *job = NULL;

			if (job_load(jstr(vm, "job_id"), &job) == 0 &&
			    !job_state_final(jstr(job, "state"))) {
				if (!strcmp(st, "unknown") && jstr(vm, "state_before_lost")) {
					n++;
					if (!dry) {
						jset_str(vm, "state",
						         jstr(vm, "state_before_lost"));
						json_object_del(vm, "state_before_lost");
						vm_set_state(vm, vm_state_parse(jstr(vm, "state")),
						             NULL);
					}
				}
				json_decref(job);
				continue;
			}
			json_decref(job);
		}
		if (!rs) {
			if (!strcmp(st, "error") || !strcmp(st, "creating"))
				continue;
			n++;
			if (!dry)
				vm_set_state(vm, VM_ERROR, "the host does not know this vm");
			continue;
		}
		want = vm_state_parse(rs);
		if (want < 0 || !strcmp(st, rs))
			continue;
		n++;
		if (!dry) {
			json_object_del(vm, "state_before_lost");
			vm_set_state(vm, (enum vm_state)want,
			             why && *why ? why : "reported by the host");
		}
	}
	/* VMs the host runs that kumod has destroyed meanwhile: stop them.
	 * VMs kumod has on another host now (restarted there by HA while
	 * this one was lost): the host forgets them, keeping their disks on
	 * the shared pool, which are the other copy's. */
	json_array_foreach(vms, i, rep)
	{
		json_t *doc = NULL;
		bool elsewhere = false;

		if (store_get("vms", jstr(rep, "id"), NULL, false, &doc) == 0) {
			elsewhere = jstr(doc, "host_id") && strcmp(jstr(doc, "host_id"), host_id) &&
			            strcmp(jstr(doc, "state"), "migrating") != 0;
			json_decref(doc);
			if (!elsewhere)
				continue;
		}
		n++;
		if (!dry) {
			json_t *job =
			    job_new("vm.orphan", "vms", jstr(rep, "id"), NULL, NULL, NULL);
			json_t *p = json_pack("{s:s,s:b}", "vm_id", jstr(rep, "id"), "force", 1);

			jset_str(job, "state", "running");
			if (job_insert(job) == 0)
				job_command(job, host_id, elsewhere ? "vm.forget" : "vm.destroy",
				            p);
			if (elsewhere)
				log_info("host %s reports vm %s, which runs on another host now: "
				         "it forgets it",
				         host_id, jstr(rep, "id"));
			else
				log_info(
				    "host %s runs vm %s that kumod does not know: destroying it",
				    host_id, jstr(rep, "id"));
			json_decref(p);
			json_decref(job);
		}
	}
	json_decref(items);
	return n;
}

static bool facts_differ(const json_t *host, const json_t *facts)
{
	return facts && (jint(host, "cpu_total", 0) != jint(facts, "cpus", 0) ||
	                 jint(host, "memory_mb_total", 0) != jint(facts, "memory_mb", 0) ||
	                 jint(host, "disk_gb_total", 0) != jint(facts, "disk_gb", 0) ||
	                 (json_is_array(json_object_get(facts, "interfaces")) &&
	                  !json_equal(json_object_get(host, "interfaces"),
	                              json_object_get(facts, "interfaces"))) ||
	                 (jstr(facts, "cpu_model") &&
	                  (!jstr(host, "cpu_model") ||
	                   strcmp(jstr(host, "cpu_model"), jstr(facts, "cpu_model")))));
}

static bool status_back(const json_t *host)
{
	const char *old = jstr(host, "status");

	return !old || strcmp(old, "connected") != 0;
}

/* The read-only pass: whether the heartbeat changes anything. */
static bool heartbeat_changes(const char *host_id, const json_t *vms, const json_t *facts)
{
	json_t *host = NULL;
	bool any;

	if (store_get("hosts", host_id, NULL, false, &host) < 0)
		return true;
	any = facts_differ(host, facts) || status_back(host) || reconcile(host_id, vms, true) > 0;
	json_decref(host);
	return any;
}

static void agent_heartbeat(struct http_request *req, struct http_response *resp)
{
	const char *host_id = AUTH(req)->host_id;
	const json_t *vms = json_object_get(req->body, "vms");
	const json_t *facts = json_object_get(req->body, "facts");
	bool first = host_seen(host_id);

	if (first) {
		/* new to this kumod, or back: its network state may be old */
		netsync_forget(host_id);
		netsync_kick();
	}
	bool changed = host_report_changed(host_id, report_digest(vms, facts));
	json_t *host = NULL, *reply;
	int r;

	reply = json_pack("{s:I}", "interval", (json_int_t)kumod_cfg.heartbeat_interval_s);
	/* in memory, but for thermal events kumod has not stored yet */
	telemetry_ingest(host_id, json_object_get(req->body, "telemetry"), reply);

	if ((first || changed) && heartbeat_changes(host_id, vms, facts)) {
		r = store_begin();
		if (r < 0) {
			http_reply_error(resp, r, "", "store unavailable");
			json_decref(reply);
			return;
		}
		r = store_get("hosts", host_id, NULL, false, &host);
		if (r == 0) {
			bool back = status_back(host);

			if (facts_differ(host, facts)) {
				set_facts(host, facts);
				store_update("hosts", host, false);
			}
			if (back)
				host_set_status(host, "connected");
			reconcile(host_id, vms, false);
		}
		if (r == 0)
			r = store_commit();
		else
			store_rollback();
		jobs_after_commit();
		if (r < 0) {
			host_report_changed(host_id, 0);
			http_reply_error(resp, r, "", "cannot record the heartbeat");
			json_decref(host);
			json_decref(reply);
			return;
		}
	}
	json_decref(host);
	http_reply_json(resp, 200, reply);
}

/* --- commands and results ---------------------------------------------------- */

static void agent_commands(struct http_request *req, struct http_response *resp)
{
	const char *host_id = AUTH(req)->host_id;
	const char *w = http_query(req, "wait");
	int64_t wait_s = w ? atoll(w) : 0, deadline;
	uint64_t gen = 0;
	json_t *cmds = NULL;
	int r;

	if (wait_s < 0)
		wait_s = 0;
	if (wait_s > kumod_cfg.poll_wait_s)
		wait_s = kumod_cfg.poll_wait_s;
	deadline = mono_ms() + wait_s * 1000;
	host_seen(host_id);
	for (;;) {
		int64_t left;

		if (http_peer_gone(req)) {
			/* the agent left (restarted, killed): commands taken now
			 * would be lost until re-sent, so leave them queued */
			cmds = json_array();
			break;
		}
		r = store_cmd_take(host_id, kumod_cfg.command_resend_ms, CMD_BATCH, &cmds);
		if (r < 0) {
			http_reply_error(resp, r, "", "cannot read commands");
			return;
		}
		rpc_take(host_id, cmds);
		left = deadline - mono_ms();
		if (json_array_size(cmds) > 0 || left <= 0 || host_stopping())
			break;
		json_decref(cmds);
		cmds = NULL;
		store_release(); /* a thousand hosts wait here: hold no connection */
		host_wait(host_id, &gen, left < 5000 ? left : 5000);
	}
	host_seen(host_id);
	if (json_array_size(cmds) > 0)
		log_debug("host %s: %zu commands handed over", host_id, json_array_size(cmds));
	http_reply_json(resp, 200, json_pack("{s:o}", "commands", cmds));
}

/* Applies one result inside the caller's transaction. Unknown commands,
 * another host's, and repeats are ignored (0). */
static int apply_result(const char *host_id, const json_t *res)
{
	const char *cid = jstr(res, "command_id");
	const char *status = jstr(res, "status");
	const struct job_type *t;
	json_t *cmd = NULL, *job = NULL;
	int r = 0;

	if (store_cmd_get(cid, &cmd) < 0 || strcmp(jstr(cmd, "host_id"), host_id) != 0 ||
	    !strcmp(jstr(cmd, "state"), "done"))
		goto out;
	log_debug("host %s: result of command %s (%s): %s", host_id, cid, jstr(cmd, "type"),
	          status);
	if (strcmp(status, "running") != 0) {
		r = store_cmd_done(cid);
		if (r < 0)
			goto out;
	}
	if (!jstr(cmd, "job_id") || job_load(jstr(cmd, "job_id"), &job) < 0 ||
	    job_state_final(jstr(job, "state")))
		goto out;
	t = job_type_find(jstr(job, "type"));
	if (t && t->on_result)
		r = t->on_result(job, cmd, status, json_object_get(res, "data"),
		                 json_object_get(res, "error"));
	else if (strcmp(status, "running") != 0)
		r = job_finish(job, !strcmp(status, "succeeded"), "HostError",
		               "the host reported a failure", NULL);
	if (r < 0)
		log_warn("result of command %s (%s) on host %s: cannot apply: %s", cid,
		         jstr(cmd, "type"), host_id, strerror(-r));
out:
	json_decref(cmd);
	json_decref(job);
	return r;
}

/* All results of one post are applied in one transaction; if the store
 * fails, none is, and the agent posts them again (repeats are ignored). */
static void agent_results(struct http_request *req, struct http_response *resp)
{
	const json_t *list = json_object_get(req->body, "results");
	json_t *res;
	size_t i;
	int r;

	size_t commands = 0;

	host_seen(AUTH(req)->host_id);
	/* answers to requests (rpc.h) first: they need no transaction */
	json_array_foreach(list, i, res)
	{
		if (!rpc_deliver(AUTH(req)->host_id, res))
			commands++;
	}
	if (commands == 0) {
		http_reply_json(resp, 200,
		                json_pack("{s:I}", "accepted", (json_int_t)json_array_size(list)));
		return;
	}
	r = store_begin();
	json_array_foreach(list, i, res)
	{
		if (r < 0)
			break;
		if (!rpc_deliver(AUTH(req)->host_id, res))
			r = apply_result(AUTH(req)->host_id, res);
	}
	if (r == 0)
		r = store_commit();
	else
		store_rollback();
	jobs_after_commit();
	if (r < 0) {
		http_reply_error(resp, r, "", "cannot record the results now; post them again");
		return;
	}
	http_reply_json(resp, 200,
	                json_pack("{s:I}", "accepted", (json_int_t)json_array_size(list)));
}

static int orphan_result(json_t *job, const json_t *cmd, const char *status, const json_t *data,
                         const json_t *error)
{
	if (!strcmp(status, "running"))
		return 0;
	return job_finish(job, !strcmp(status, "succeeded"), "HostError",
	                  "the host could not destroy the orphan vm", NULL);
}

const struct job_type job_vm_orphan = { "vm.orphan", NULL, orphan_result, NULL };

const struct route channel_routes[] = {
	{ "POST", "/agent/v1/register", agent_register, ROLE_NONE, &register_schema, 0,
	  "Register a host with the join token", 0, "agent" },
	{ "GET", "/agent/v1/hosts/{id}/commands", agent_commands, ROLE_AGENT, NULL, HTTP_BLOCKING,
	  "Long-poll for commands (?wait=S)", 0, "agent" },
	{ "POST", "/agent/v1/hosts/{id}/results", agent_results, ROLE_AGENT, &results_schema, 0,
	  "Results and progress of commands", 0, "agent" },
	{ "POST", "/agent/v1/hosts/{id}/heartbeat", agent_heartbeat, ROLE_AGENT, &heartbeat_schema,
	  0, "Heartbeat with VM states, facts and telemetry", 0, "agent" },
	{ NULL },
};
