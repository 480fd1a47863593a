// SPDX-License-Identifier: MIT
/*
 * Migration of a VM to another host of its cluster: the route
 * POST /v1/vms/{id}/actions/migrate and the job type vm.migrate.
 *
 * The route checks everything that can be checked before a host is asked
 * (state, destination: same cluster, connected, enabled, same accel and
 * arch, capacity) and answers 4xx with nothing started; then, in one
 * transaction, the VM goes to "migrating" (with "migrating_to": the
 * destination, so that netsync gives the destination its taps), the
 * destination's allocations take the VM, and a vm.migrate job is queued.
 *
 * The job is a chain of host commands, each queued from the previous one's
 * result (the step is kept in the job's params, so a restarted kumod goes
 * on where it was):
 *   live  prepare (dst) -> send (src) -> finish (dst), then cleanup (src)
 *   cold  export (src)  -> import (dst),               then cleanup (src)
 * The job succeeds when the VM runs (live) or is stored (cold) on the
 * destination; the cleanup command that removes the source's copy is
 * queued in the same transaction (if it fails, the old copy stays there).
 * The commit point is send's (import's) success: from then on the VM is on
 * the destination (host_id, allocations); before it, any failure or a
 * cancel puts it back as it was on the source and the destination's
 * half-made copy is removed (abort), the source's disk servers stopped
 * (unexport). Only cleanup, after the commit, removes the source's copy.
 *
 * Not for: what the agents do in each step (src/agent/qemu_migrate.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "kumod/api.h"
#include "kumod/events.h"
#include "kumod/host.h"
#include "kumod/jobs.h"
#include "kumod/kumod.h"
#include "kumod/migrate.h"
#include "kumod/netsync.h"
#include "kumod/pool.h"
#include "kumod/rpc.h"
#include "kumod/store.h"
#include "kumod/vm.h"

static const struct field migrate_fields[] = {
	{ "host_id", FT_UUID, 0, 0, 0, NULL, NULL,
	  "the destination; default: the scheduler picks one in the VM's cluster" },
	{ "max_bandwidth_mbps", FT_INT, 0, 1, 1000000, NULL, NULL,
	  "live: cap on the memory stream, MiB/s (default: none)" },
	{ "max_downtime_ms", FT_INT, 0, 10, 60000, NULL, NULL,
	  "live: the longest pause of the guest at the switchover, ms (default: the "
	  "source host's [qemu] migration_downtime_ms, 300); it starts at 50 and is "
	  "raised to this only while the migration does not converge" },
	{ NULL },
};
const struct schema vm_migrate_schema = { "VmMigrate", migrate_fields };

/* --- checks ------------------------------------------------------------------ */

/* The disk a VM's volumes take on its host, which moves with it: those
 * counted there (volume_on_host_disk; a VM with snapshots on its host does
 * not move). */
static int64_t host_disk(const json_t *vm)
{
	const json_t *id;
	int64_t gb = 0;
	size_t i;

	json_array_foreach(json_object_get(vm, "volumes"), i, id)
	{
		json_t *v = NULL;

		if (store_get("volumes", json_string_value(id), NULL, false, &v) == 0 &&
		    volume_on_host_disk(v))
			gb += jint(v, "size_gb", 0);
		json_decref(v);
	}
	return gb;
}

/* The host interfaces the L2s of the vm's NICs sit on: [{"iface", "l2"}],
 * read once per request (every candidate host is checked against it). */
static json_t *needed_ifaces(const json_t *vm)
{
	json_t *needs = json_array();
	const json_t *nic;
	size_t i;

	json_array_foreach(json_object_get(vm, "nics"), i, nic)
	{
		json_t *l3 = NULL, *l2 = NULL;

		if (jstr(nic, "l3_network_id") &&
		    store_get("l3-networks", jstr(nic, "l3_network_id"), NULL, false, &l3) == 0 &&
		    jstr(l3, "l2_network_id") &&
		    store_get("l2-networks", jstr(l3, "l2_network_id"), NULL, false, &l2) == 0 &&
		    jstr(l2, "physical_interface"))
			json_array_append_new(needs, json_pack("{s:s,s:s?}", "iface",
			                                       jstr(l2, "physical_interface"), "l2",
			                                       jstr(l2, "name")));
		json_decref(l3);
		json_decref(l2);
	}
	return needs;
}

/* Whether dst has every interface in needs (a host that reported none is
 * not asked: an older agent, the sim). */
static int check_networks(const json_t *needs, const json_t *dst, struct kerr *e)
{
	const json_t *ifaces = json_object_get(dst, "interfaces"), *n;
	size_t i;

	if (!json_is_array(ifaces))
		return 0;
	json_array_foreach(needs, i, n)
	{
		bool found = false;

		for (size_t k = 0; k < json_array_size(ifaces) && !found; k++)
			found =
			    json_is_string(json_array_get(ifaces, k)) &&
			    !strcmp(json_string_value(json_array_get(ifaces, k)), jstr(n, "iface"));
		if (!found)
			return kerr_set(
			    e, -EINVAL, "host_id",
			    "host %s has no interface %s, which network %s of the vm sits "
			    "on",
			    jstr(dst, "name"), jstr(n, "iface"),
			    jstr(n, "l2") ? jstr(n, "l2") : "?");
	}
	return 0;
}

static int check_dest(const json_t *vm, const json_t *needs, const json_t *src, const json_t *dst,
                      struct kerr *e)
{
	const char *name = jstr(dst, "name");
	/* the CPU it started with there, else what its host gives now */
	const char *cpu = jstr(vm, "cpu_model") ? jstr(vm, "cpu_model") : jstr(src, "cpu_model");

	if (!strcmp(jstr(dst, "id"), jstr(src, "id")))
		return kerr_set(e, -EINVAL, "host_id", "vm %s is on host %s already",
		                jstr(vm, "name"), name);
	if (!jstr(dst, "cluster_id") || !jstr(vm, "cluster_id") ||
	    strcmp(jstr(dst, "cluster_id"), jstr(vm, "cluster_id")) != 0)
		return kerr_set(e, -EINVAL, "host_id",
		                "host %s is in another cluster than the vm: a vm migrates only "
		                "within its cluster",
		                name);
	if (!jstr(dst, "status") || strcmp(jstr(dst, "status"), "connected") != 0 ||
	    !host_connected(jstr(dst, "id")))
		return kerr_set(e, -EBUSY, "host_id", "host %s is not connected (%s)", name,
		                jstr(dst, "status") ? jstr(dst, "status") : "unknown");
	if (!jstr(dst, "state") || strcmp(jstr(dst, "state"), "enabled") != 0)
		return kerr_set(e, -EBUSY, "host_id", "host %s is %s: it takes no vms", name,
		                jstr(dst, "state") ? jstr(dst, "state") : "not enabled");
	if (!jstr(dst, "accel") || !jstr(src, "accel") ||
	    strcmp(jstr(dst, "accel"), jstr(src, "accel")) != 0)
		return kerr_set(e, -EINVAL, "host_id",
		                "host %s runs vms with %s, the vm's host with %s: a running vm "
		                "cannot change its accelerator",
		                name, jstr(dst, "accel") ? jstr(dst, "accel") : "?",
		                jstr(src, "accel") ? jstr(src, "accel") : "?");
	if (jstr(dst, "arch") && jstr(src, "arch") && strcmp(jstr(dst, "arch"), jstr(src, "arch")))
		return kerr_set(e, -EINVAL, "host_id", "host %s is %s, the vm's host %s", name,
		                jstr(dst, "arch"), jstr(src, "arch"));
	if (!strcmp(jstr(vm, "state") ? jstr(vm, "state") : "", "running") && cpu &&
	    jstr(dst, "cpu_model") && strcmp(jstr(dst, "cpu_model"), cpu))
		return kerr_set(
		    e, -EINVAL, "host_id",
		    "host %s gives vms the cpu model %s, the vm runs with %s: a running "
		    "vm cannot change its CPU (stop it to migrate it cold, or give the "
		    "hosts the same [qemu] cpu_model)",
		    name, jstr(dst, "cpu_model"), cpu);
	if (!jstr(dst, "address") || !jstr(src, "address"))
		return kerr_set(e, -EINVAL, "host_id",
		                "host %s has no address for migration traffic",
		                jstr(dst, "address") ? jstr(src, "name") : name);
	return check_networks(needs, dst, e);
}

/* Picks (or checks) the destination: capacity through the scheduler, the
 * source never a candidate. *ret: the host doc. */
static int pick_dest(const json_t *vm, const json_t *needs, const json_t *src, const char *want,
                     json_t **ret, struct kerr *e)
{
	struct sched_host *hosts = NULL;
	struct sched_request sr = { 0 };
	int n = 0, idx, r;

	r = host_load_sched(&hosts, &n);
	if (r < 0)
		return kerr_set(e, r, "", "cannot read hosts");
	for (int i = 0; i < n; i++) {
		json_t *h = NULL;

		if (!strcmp(hosts[i].id, jstr(src, "id"))) {
			hosts[i].enabled = false; /* never back where it is */
			continue;
		}
		if (want)
			continue;
		/* only hosts the vm may go to */
		if (store_get("hosts", hosts[i].id, NULL, false, &h) < 0 ||
		    check_dest(vm, needs, src, h, e) < 0)
			hosts[i].enabled = false;
		kerr_clear(e);
		json_decref(h);
	}
	sr.cluster_id = jstr(vm, "cluster_id");
	sr.host_id = want;
	sr.vcpus = jint(vm, "vcpus", 1);
	sr.memory_mb = jint(vm, "memory_mb", 256);
	sr.disk_gb = host_disk(vm);
	sr.strategy = SCHED_SPREAD;
	idx = sched_place(hosts, n, &sr, &kumod_cfg.sched, e);
	if (idx < 0) {
		r = kerr_set(e, -ENOSPC, "host_id", "%s%s",
		             want ? "the destination cannot take the vm: "
		                  : "no host can take "
		                    "the vm: ",
		             e->message[0] ? e->message : "no capacity");
		free(hosts);
		return r;
	}
	r = store_get("hosts", hosts[idx].id, NULL, false, ret);
	free(hosts);
	return r < 0 ? kerr_set(e, r, "", "cannot read host") : 0;
}

/* --- the route ------------------------------------------------------------- */

int vm_migrate_begin(json_t *vm, const char *want, const json_t *opts, json_t **ret_job,
                     struct kerr *e)
{
	json_t *src = NULL, *dst = NULL, *job = NULL, *p = NULL, *needs = NULL;
	const char *st = jstr(vm, "state") ? jstr(vm, "state") : "";
	bool cold;
	int r;

	if (strcmp(st, "running") != 0 && strcmp(st, "stopped") != 0) {
		int s = vm_state_parse(st);

		return kerr_set(e, s >= 0 && vm_state_transitional(s) ? -EBUSY : -ESTALE, "",
		                s >= 0 && vm_state_transitional(s)
		                    ? "another operation is in progress (state %s)"
		                    : "cannot migrate a vm in state %s: only running (live) or "
		                      "stopped (cold) vms migrate",
		                st);
	}
	cold = !strcmp(st, "stopped");
	{
		/* all its disks on shared storage, or all on the host's own */
		bool shared = pool_is_shared(jstr(vm, "pool_id"));
		json_t *id;
		size_t i;

		json_array_foreach(json_object_get(vm, "volumes"), i, id)
		{
			json_t *v = NULL;
			bool vs = false;

			if (store_get("volumes", json_string_value(id), NULL, false, &v) == 0)
				vs = jstr(v, "kind") && !strcmp(jstr(v, "kind"), "root")
				         ? shared
				         : pool_is_shared(jstr(v, "pool_id"));
			json_decref(v);
			if (vs != shared)
				return kerr_set(e, -EBUSY, "",
				                "vm %s has disks both on a shared pool and on its "
				                "host's own storage: detach volume %s first",
				                jstr(vm, "name"), json_string_value(id));
		}
		r = snapshot_check_vm_migrate(vm, shared, e);
		if (r < 0)
			return r;
	}
	if (!jstr(vm, "host_id") || store_get("hosts", jstr(vm, "host_id"), NULL, false, &src) < 0)
		return kerr_set(e, -EBUSY, "", "vm %s is on no host", jstr(vm, "name"));
	if (!host_connected(jstr(src, "id"))) {
		r = kerr_set(e, -EBUSY, "", "the vm's host %s is not connected", jstr(src, "name"));
		goto out;
	}
	needs = needed_ifaces(vm);
	if (want) {
		if (store_get("hosts", want, NULL, false, &dst) < 0) {
			r = kerr_set(e, -EINVAL, "host_id", "host %s does not exist", want);
			goto out;
		}
		r = check_dest(vm, needs, src, dst, e);
		json_decref(dst);
		dst = NULL;
		if (r < 0)
			goto out;
	}
	r = pick_dest(vm, needs, src, want, &dst, e);
	if (r < 0)
		goto out;
	if (!want && (r = check_dest(vm, needs, src, dst, e)) < 0)
		goto out;
	p = json_pack("{s:s,s:s,s:s,s:s,s:s,s:b}", "src", jstr(src, "id"), "dst", jstr(dst, "id"),
	              "mode", cold ? "cold" : "live", "step", cold ? "export" : "prepare", "from",
	              st, "shared", pool_is_shared(jstr(vm, "pool_id")));
	if (opts && json_object_get(opts, "max_bandwidth_mbps"))
		jset_int(p, "max_bandwidth_mbps", jint(opts, "max_bandwidth_mbps", 0));
	if (opts && json_object_get(opts, "max_downtime_ms"))
		jset_int(p, "max_downtime_ms", jint(opts, "max_downtime_ms", 0));
	job = job_new("vm.migrate", "vms", jstr(vm, "id"), jstr(vm, "account_id"), p, NULL);
	r = job_insert(job);
	if (r == 0)
		r = host_adjust(jstr(dst, "id"), jint(vm, "vcpus", 0), jint(vm, "memory_mb", 0),
		                host_disk(vm), 1);
	if (r == 0) {
		jset_str(vm, "job_id", jstr(job, "id"));
		jset_str(vm, "migrating_to", jstr(dst, "id"));
		r = vm_set_state(vm, VM_MIGRATING, NULL);
	}
	if (r < 0) {
		kerr_set(e, r, "", "cannot store the migration");
		goto out;
	}
	*ret_job = job; /* the caller kicks netsync after its commit */
	job = NULL;
out:
	json_decref(needs);
	json_decref(src);
	json_decref(dst);
	json_decref(job);
	json_decref(p);
	return r;
}

void vm_migrate(struct http_request *req, struct http_response *resp)
{
	const char *want = req->body ? jstr(req->body, "host_id") : NULL;
	struct kerr e = { 0 };
	json_t *vm = NULL, *job = NULL;
	int r;

	if (api_check_wait(req, &e) < 0 || api_idem_replay(req, resp))
		goto out;
	r = store_begin();
	if (r < 0) {
		kerr_set(&e, r, "", "store unavailable");
		goto out;
	}
	r = api_load(&kind_vm, req, http_param(req, "id"), true, &vm, &e);
	if (r == 0 && want)
		r = api_ref(&kind_host, req, want, "host_id", NULL, &e);
	if (r == 0)
		r = vm_migrate_begin(vm, want, req->body, &job, &e);
	if (api_commit_job(req, resp, job, r, &e, "migration") == 0)
		netsync_kick(); /* the destination gets the taps */
out:
	if (e.code)
		http_reply_kerr(resp, &e);
	json_decref(vm);
	json_decref(job);
}

/* --- the job ------------------------------------------------------------------ */

static json_t *params(json_t *job)
{
	return json_object_get(job, "params");
}

static const char *P(json_t *job, const char *k)
{
	return jstr(params(job), k);
}

static bool is_cold(json_t *job)
{
	return P(job, "mode") && !strcmp(P(job, "mode"), "cold");
}

static int set_step(json_t *job, const char *step, int progress)
{
	jset_str(params(job), "step", step);
	return job_set_running(job, progress);
}

/* The VM with its image, volumes and pools, as vm.create carries it, with
 * the network spec of host_id. */
static json_t *vm_payload(json_t *vm, const char *host_id)
{
	return vm_payload_for(vm, host_id);
}

static json_t *host_doc(const char *id)
{
	json_t *h = NULL;

	store_get("hosts", id, NULL, false, &h);
	return h;
}

static int command(json_t *job, const char *host_id, const char *type, json_t *payload)
{
	int r;

	if (jbool(params(job), "shared", false))
		jset_bool(payload, "shared_storage", true); /* both hosts see the disks */
	r = job_command(job, host_id, type, payload);

	json_decref(payload);
	return r;
}

static int mig_run(json_t *job, struct kerr *e)
{
	json_t *vm = NULL, *h = NULL, *p;
	int r;

	if (store_get("vms", jstr(job, "resource_id"), NULL, false, &vm) < 0)
		return kerr_set(e, -ENOENT, "", "the vm no longer exists");
	if (is_cold(job) && jbool(params(job), "shared", false)) {
		/* the disks are on the pool: the destination only takes the vm */
		p = vm_payload(vm, P(job, "dst"));
		json_object_del(p, "net");
		r = command(job, P(job, "dst"), "vm.migrate_import", p);
		if (r == 0)
			r = set_step(job, "import", 10);
	} else if (is_cold(job)) {
		h = host_doc(P(job, "src"));
		p = json_pack("{s:s,s:s?}", "vm_id", jstr(vm, "id"), "address", jstr(h, "address"));
		r = command(job, P(job, "src"), "vm.migrate_export", p);
	} else {
		h = host_doc(P(job, "dst"));
		p = vm_payload(vm, P(job, "dst"));
		jset_str(p, "address", jstr(h, "address"));
		/* the memory in parallel streams if the destination allows: it
		 * says how many, the source is told (below) */
		jset_bool(p, "multifd", true);
		r = command(job, P(job, "dst"), "vm.migrate_prepare", p);
	}
	json_decref(vm);
	json_decref(h);
	return r < 0 ? kerr_set(e, r, "", "cannot queue the command") : 0;
}

/* Ends the job with the VM where it was (before the commit point). */
static int mig_undo(json_t *job, json_t *vm, const char *code, const char *msg)
{
	bool cancelled = code && !strcmp(code, "Cancelled");
	const char *from = P(job, "from") ? P(job, "from") : "running";
	int r;

	if (vm) {
		host_adjust(P(job, "dst"), -jint(vm, "vcpus", 0), -jint(vm, "memory_mb", 0),
		            -host_disk(vm), -1);
		json_object_del(vm, "job_id");
		json_object_del(vm, "migrating_to");
		r = vm_set_state(vm, vm_state_parse(from) >= 0 ? vm_state_parse(from) : VM_RUNNING,
		                 cancelled ? NULL : msg);
		if (r < 0)
			return r;
		if (json_array_size(json_object_get(vm, "nics")) > 0)
			netsync_kick();
	}
	log_info("vm %s: migration %s: %s", jstr(job, "resource_id"),
	         cancelled ? "cancelled" : "failed", msg);
	r = job_finish(job, false, code ? code : "MigrationFailed", msg, NULL);
	if (r == 0 && cancelled) {
		jset_str(job, "state", "cancelled");
		r = store_update("jobs", job, false);
	}
	return r;
}

/* The commit point: the VM is on the destination now. */
static int mig_commit(json_t *job, json_t *vm)
{
	host_adjust(P(job, "src"), -jint(vm, "vcpus", 0), -jint(vm, "memory_mb", 0), -host_disk(vm),
	            -1);
	jset_str(vm, "host_id", P(job, "dst"));
	json_object_del(vm, "migrating_to");
	{
		/* its volumes live there now too */
		json_t *id;
		size_t i;

		json_array_foreach(json_object_get(vm, "volumes"), i, id)
		{
			json_t *v = NULL;

			if (store_get("volumes", json_string_value(id), NULL, false, &v) == 0) {
				jset_str(v, "host_id", P(job, "dst"));
				store_update("volumes", v, false);
			}
			json_decref(v);
		}
	}
	if (json_array_size(json_object_get(vm, "nics")) > 0)
		netsync_kick(); /* the NICs follow: taps, DHCP, FDB */
	jset_bool(params(job), "committed", true);
	return store_update("vms", vm, false);
}

static int mig_done(json_t *job, json_t *vm, const json_t *error)
{
	json_t *shown, *res;
	int r;

	json_object_del(vm, "job_id");
	r = vm_set_state(vm, is_cold(job) ? VM_STOPPED : VM_RUNNING, NULL);
	if (r < 0)
		return r;
	shown = json_deep_copy(vm);
	vm_strip_internal(shown);
	res =
	    json_pack("{s:o,s:s,s:s,s:O?}", "vm", shown, "from_host_id", P(job, "src"),
	              "to_host_id", P(job, "dst"), "stats", json_object_get(params(job), "stats"));
	if (error)
		json_object_set_new(res, "cleanup_error", json_deep_copy(error));
	return job_finish(job, true, NULL, NULL, res);
}

static const char *errmsg(const json_t *error, const char *dflt)
{
	return error && jstr(error, "message") ? jstr(error, "message") : dflt;
}

static int mig_result(json_t *job, const json_t *cmd, const char *status, const json_t *data,
                      const json_t *error)
{
	const char *type = jstr(cmd, "type") ? jstr(cmd, "type") : "";
	bool ok = !strcmp(status, "succeeded");
	bool cancel = jbool(params(job), "cancel_requested", false);
	json_t *vm = NULL, *p;
	int r;

	if (!strcmp(status, "running"))
		return job_set_running(job, (int)jint(data, "progress", jint(job, "progress", 0)));
	if (store_get("vms", jstr(job, "resource_id"), NULL, false, &vm) < 0)
		return job_finish(job, false, "NotFound", "the vm no longer exists", NULL);
	const char *vm_id = jstr(vm, "id");
	const char *code = error && jstr(error, "code") ? jstr(error, "code") : "MigrationFailed";

	if (!strcmp(type, "vm.migrate_prepare")) {
		if (!ok) {
			r = mig_undo(job, vm, code,
			             errmsg(error, "the destination cannot take it"));
		} else if (cancel) {
			r = command(job, P(job, "dst"), "vm.migrate_abort",
			            json_pack("{s:s}", "vm_id", vm_id));
			if (r == 0)
				r = mig_undo(job, vm, "Cancelled", "cancelled");
		} else {
			p = json_pack("{s:s,s:O?,s:O?,s:O?}", "vm_id", vm_id, "uri",
			              json_object_get(data, "uri"), "nbd",
			              json_object_get(data, "nbd"), "multifd_channels",
			              json_object_get(data, "multifd_channels"));
			if (jint(params(job), "max_bandwidth_mbps", 0) > 0)
				jset_int(p, "max_bandwidth",
				         jint(params(job), "max_bandwidth_mbps", 0) * 1024 * 1024);
			if (jint(params(job), "max_downtime_ms", 0) > 0)
				jset_int(p, "downtime_limit_ms",
				         jint(params(job), "max_downtime_ms", 0));
			r = command(job, P(job, "src"), "vm.migrate_send", p);
			if (r == 0)
				r = set_step(job, "send", 10);
		}
	} else if (!strcmp(type, "vm.migrate_send") && jbool(params(job), "src_lost", false)) {
		r = 0; /* the source came back after it was given up: finish decides */
	} else if (!strcmp(type, "vm.migrate_send")) {
		if (!ok) {
			r = command(job, P(job, "dst"), "vm.migrate_abort",
			            json_pack("{s:s}", "vm_id", vm_id));
			if (r == 0)
				r = mig_undo(job, vm, code,
				             errmsg(error, "the source could not send the vm"));
		} else {
			json_object_set(params(job), "stats", (json_t *)data);
			json_object_del(json_object_get(params(job), "stats"), "state");
			r = mig_commit(job, vm);
			if (r == 0)
				r = command(job, P(job, "dst"), "vm.migrate_finish",
				            json_pack("{s:s}", "vm_id", vm_id));
			if (r == 0)
				r = set_step(job, "finish", 80);
		}
	} else if (!strcmp(type, "vm.migrate_finish") && jbool(params(job), "src_lost", false)) {
		/* the source was lost while sending: the destination has the vm
		 * if the switchover happened (it runs there now), else nothing */
		if (ok) {
			r = mig_commit(job, vm);
			if (r == 0)
				r = command(job, P(job, "src"), "vm.migrate_cleanup",
				            json_pack("{s:s}", "vm_id", vm_id));
			if (r == 0)
				r = mig_done(job, vm, NULL);
		} else {
			r = command(job, P(job, "dst"), "vm.migrate_abort",
			            json_pack("{s:s}", "vm_id", vm_id));
			if (r == 0)
				r = mig_undo(
				    job, vm, "HostLost",
				    "the vm's host was lost during the migration, before the "
				    "vm had moved");
			if (r == 0) {
				/* back on its host, which is lost: as its other vms */
				jset_str(vm, "state_before_lost",
				         P(job, "from") ? P(job, "from") : "running");
				r = vm_set_state(vm, VM_UNKNOWN, "host disconnected");
			}
		}
	} else if (!strcmp(type, "vm.migrate_finish")) {
		if (!ok) {
			/* it runs there (or nowhere): the source's files stay */
			json_object_del(vm, "job_id");
			r = vm_set_state(vm, VM_ERROR, errmsg(error, "the destination failed"));
			if (r == 0)
				r = job_finish(job, false, code,
				               errmsg(error, "the destination failed to resume it"),
				               NULL);
		} else {
			/* it runs there: done; the source's copy goes right after */
			r = command(job, P(job, "src"), "vm.migrate_cleanup",
			            json_pack("{s:s}", "vm_id", vm_id));
			if (r == 0)
				r = mig_done(job, vm, NULL);
		}
	} else if (!strcmp(type, "vm.migrate_export")) {
		if (!ok) {
			r = mig_undo(job, vm, code,
			             errmsg(error, "the source cannot serve the disks"));
		} else if (cancel) {
			r = command(job, P(job, "src"), "vm.migrate_unexport",
			            json_pack("{s:s}", "vm_id", vm_id));
			if (r == 0)
				r = mig_undo(job, vm, "Cancelled", "cancelled");
		} else {
			p = vm_payload(vm, P(job, "dst"));
			json_object_del(p, "net");
			json_object_set(p, "nbd", json_object_get(data, "nbd"));
			r = command(job, P(job, "dst"), "vm.migrate_import", p);
			if (r == 0)
				r = set_step(job, "import", 10);
		}
	} else if (!strcmp(type, "vm.migrate_import")) {
		if (!ok) {
			r = command(job, P(job, "src"), "vm.migrate_unexport",
			            json_pack("{s:s}", "vm_id", vm_id));
			if (r == 0)
				r = mig_undo(
				    job, vm, code,
				    errmsg(error, "the destination could not copy the disks"));
		} else {
			r = mig_commit(job, vm);
			if (r == 0)
				r = command(job, P(job, "src"), "vm.migrate_cleanup",
				            json_pack("{s:s}", "vm_id", vm_id));
			if (r == 0)
				r = mig_done(job, vm, NULL);
		}
	} else {
		r = 0; /* abort, unexport: answers to a finished job never get here */
	}
	json_decref(vm);
	return r;
}

/* No host answered (timeout, host deleted) or kumod restarted between steps. */
static void mig_abort(json_t *job, const char *code, const char *message)
{
	json_t *vm = NULL;

	if (store_get("vms", jstr(job, "resource_id"), NULL, false, &vm) < 0) {
		job_finish(job, false, code, message, NULL);
		return;
	}
	if (jbool(params(job), "committed", false)) {
		/* on the destination already: only the source's leftovers may stay */
		json_object_del(vm, "job_id");
		vm_set_state(vm, is_cold(job) ? VM_STOPPED : VM_RUNNING, NULL);
		job_finish(job, false, code, message, NULL);
	} else {
		if (is_cold(job))
			command(job, P(job, "src"), "vm.migrate_unexport",
			        json_pack("{s:s}", "vm_id", jstr(vm, "id")));
		else
			command(job, P(job, "dst"), "vm.migrate_abort",
			        json_pack("{s:s}", "vm_id", jstr(vm, "id")));
		mig_undo(job, vm, code, message);
	}
	json_decref(vm);
}

void migrate_host_lost(const char *host_id)
{
	struct list_query q;
	json_t *items = NULL, *vm;
	int64_t total = 0;
	size_t i;

	list_query_init(&q);
	query_add_eq(&q, "host_id", host_id);
	query_add_eq(&q, "state", "migrating");
	q.limit = 0;
	if (store_list("vms", &q, &items, &total) < 0) {
		list_query_free(&q);
		return;
	}
	list_query_free(&q);
	json_array_foreach(items, i, vm)
	{
		json_t *job = NULL;
		const char *step;

		if (!jstr(vm, "job_id") || job_load(jstr(vm, "job_id"), &job) < 0 ||
		    job_state_final(jstr(job, "state")) || is_cold(job) ||
		    jbool(params(job), "committed", false) || !P(job, "src") ||
		    strcmp(P(job, "src"), host_id) != 0) {
			json_decref(job);
			continue;
		}
		step = P(job, "step") ? P(job, "step") : "";
		if (!strcmp(step, "send")) {
			/* did the vm get across before its host went? the destination
			 * knows: finish waits for the guest there, or fails */
			log_warn("vm %s: its host %s was lost while sending it: asking the "
			         "destination whether it arrived",
			         jstr(vm, "id"), host_id);
			jset_bool(params(job), "src_lost", true);
			if (command(job, P(job, "dst"), "vm.migrate_finish",
			            json_pack("{s:s}", "vm_id", jstr(vm, "id"))) == 0)
				set_step(job, "finish", 80);
		} else if (!strcmp(step, "prepare")) {
			command(job, P(job, "dst"), "vm.migrate_abort",
			        json_pack("{s:s}", "vm_id", jstr(vm, "id")));
			mig_undo(job, vm, "HostLost",
			         "the vm's host was lost before the migration began");
		}
		json_decref(job);
	}
	json_decref(items);
}

/* POST /v1/jobs/{id}/actions/cancel: remembered in the job; a running send
 * is told at once (an RPC), the other steps look at the flag when they
 * answer. Called outside any transaction. */
int vm_migrate_cancel(const char *job_id, struct kerr *e)
{
	json_t *job = NULL;
	bool send;
	int r;

	r = store_begin();
	if (r < 0)
		return kerr_set(e, r, "", "store unavailable");
	r = job_load(job_id, &job);
	if (r == 0 && job_state_final(jstr(job, "state")))
		r = kerr_set(e, -EALREADY, "", "job is %s already", jstr(job, "state"));
	else if (r == 0 && jbool(params(job), "committed", false))
		r = kerr_set(e, -ESTALE, "",
		             "too late to cancel: the vm runs on its new host already");
	if (r == 0) {
		jset_bool(params(job), "cancel_requested", true);
		r = store_update("jobs", job, false);
	}
	if (r == 0)
		r = store_commit();
	else
		store_rollback();
	if (r < 0) {
		json_decref(job);
		return e->code ? r : kerr_set(e, r, "", "cannot store the job");
	}
	send = P(job, "step") && !strcmp(P(job, "step"), "send");
	if (send) {
		json_t *data = NULL;

		r = rpc_call(P(job, "src"), "vm.migrate_cancel",
		             json_pack("{s:s}", "vm_id", jstr(job, "resource_id")), RPC_TIMEOUT_MS,
		             &data, e);
		json_decref(data);
		if (r < 0)
			log_warn("job %s: cannot tell the source to cancel: %s", job_id,
			         e->message);
		kerr_clear(e);
	}
	json_decref(job);
	return 0;
}

const struct job_type job_vm_migrate = {
	.type = "vm.migrate",
	.run = mig_run,
	.on_result = mig_result,
	.on_abort = mig_abort,
};
