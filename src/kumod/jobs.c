// SPDX-License-Identifier: MIT
/*
 * The job engine: job documents, worker threads that run pending jobs, the
 * wait used by ?wait=S, parents with children (batch creates), crash
 * recovery and timeouts. What a job of a given type does lives with its
 * resource (vm.c, volume.c); this file only schedules and records.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "kumod/events.h"
#include "kumod/host.h"
#include "kumod/jobs.h"
#include "kumod/kumod.h"
#include "kumod/store.h"

#define JOB_BATCH 64
#define BUSY_MAX 1024

static pthread_mutex_t jobs_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t jobs_cond = PTHREAD_COND_INITIALIZER; /* work to do */
static pthread_cond_t done_cond; /* some job finished (monotonic clock) */
static bool jobs_stopping;
static pthread_t *workers;
static int nworkers;
/* resource ids a worker is running a job on right now */
static char busy[BUSY_MAX][UUID_LEN + 1];
static uint64_t jobs_generation; /* bumped by jobs_notify */
/* Jobs finished in this thread's open transaction; after the commit their
 * ids go into the ring below and ?wait=S waiters are woken. A waiter reads
 * its job again only when its id went by (or the ring lapped it), so a
 * thousand children finishing do not make every waiter re-read its parent
 * a thousand times. */
#define FINISHED_MAX 256
static __thread char finished_ids[FINISHED_MAX][UUID_LEN + 1];
static __thread int nfinished;
static __thread bool finished_overflow;
#define RING_SIZE 4096
static char ring[RING_SIZE][UUID_LEN + 1]; /* jobs_lock */
static uint64_t ring_next;                 /* ids ever published; jobs_lock */
static uint64_t ring_reload_all;           /* ring_next after an overflow; jobs_lock */

const struct job_type *job_type_find(const char *type)
{
	for (int i = 0; type && job_types[i]; i++)
		if (strcmp(job_types[i]->type, type) == 0)
			return job_types[i];
	for (int i = 0; type && job_types_disk[i]; i++)
		if (strcmp(job_types_disk[i]->type, type) == 0)
			return job_types_disk[i];
	return NULL;
}

const struct job_cancel *job_cancel_find(const char *type)
{
	for (int i = 0; type && job_cancels[i].type; i++)
		if (strcmp(job_cancels[i].type, type) == 0)
			return &job_cancels[i];
	return NULL;
}

bool job_state_final(const char *state)
{
	return state && (!strcmp(state, "succeeded") || !strcmp(state, "failed") ||
	                 !strcmp(state, "cancelled"));
}

json_t *job_new(const char *type, const char *resource_kind, const char *resource_id,
                const char *account_id, const json_t *params, const char *parent_id)
{
	char id[UUID_LEN + 1];
	char *now = time_now_str();
	json_t *j = json_object();

	uuid_new(id);
	jset_str(j, "id", id);
	jset_str(j, "account_id", account_id);
	json_object_set_new(j, "name", json_null());
	jset_str(j, "type", type);
	jset_str(j, "resource_kind", resource_kind);
	jset_str(j, "resource_id", resource_id);
	jset_str(j, "state", "pending");
	jset_int(j, "progress", 0);
	json_object_set_new(j, "error", json_null());
	json_object_set_new(j, "result", json_null());
	json_object_set_new(j, "params", params ? json_deep_copy(params) : json_object());
	jset_str(j, "parent_id", parent_id);
	jset_str(j, "created_at", now);
	jset_str(j, "updated_at", now);
	json_object_set_new(j, "started_at", json_null());
	json_object_set_new(j, "finished_at", json_null());
	free(now);
	return j;
}

int job_insert(json_t *job)
{
	return store_insert("jobs", job, false);
}

void jobs_notify(void)
{
	pthread_mutex_lock(&jobs_lock);
	jobs_generation++;
	pthread_cond_broadcast(&jobs_cond);
	pthread_mutex_unlock(&jobs_lock);
}

static void job_emit(const json_t *job)
{
	json_t *d =
	    json_pack("{s:O?,s:O?,s:O?,s:O?}", "state", json_object_get(job, "state"), "type",
	              json_object_get(job, "type"), "progress", json_object_get(job, "progress"),
	              "error", json_object_get(job, "error"));

	event_emit("job.state", "jobs", jstr(job, "id"), jstr(job, "account_id"), d);
	json_decref(d);
}

int job_set_running(json_t *job, int progress)
{
	bool was_running = jstr(job, "state") && !strcmp(jstr(job, "state"), "running");

	if (!was_running) {
		char *now = time_now_str();

		jset_str(job, "state", "running");
		jset_str(job, "started_at", now);
		free(now);
	}
	jset_int(job, "progress", progress);
	if (!was_running)
		job_emit(job);
	return store_update("jobs", job, false);
}

/* A batch's counters live in a small side document (kind "job-progress",
 * same id as the parent), so that each child's end rewrites a few bytes,
 * not the parent with its list of a thousand VM ids. */
int job_progress_get(const char *parent_id, json_t **ret)
{
	return store_get("job-progress", parent_id, NULL, false, ret);
}

static int job_child_done(const char *parent_id, bool ok, const json_t *child)
{
	json_t *pr = NULL, *p = NULL;
	int64_t total, done, failed;
	int r;

	r = job_progress_get(parent_id, &pr);
	if (r < 0)
		return r == -ENOENT ? 0 : r;
	total = jint(pr, "total", 0);
	done = jint(pr, "done", 0) + 1;
	failed = jint(pr, "failed", 0) + (ok ? 0 : 1);
	jset_int(pr, "done", done);
	jset_int(pr, "failed", failed);
	if (!ok) {
		json_t *errs = json_object_get(pr, "errors");

		if (!errs) {
			errs = json_array();
			json_object_set_new(pr, "errors", errs);
		}
		if (json_array_size(errs) < 20)
			json_array_append_new(errs,
			                      json_pack("{s:O?,s:O?}", "resource_id",
			                                json_object_get(child, "resource_id"),
			                                "error", json_object_get(child, "error")));
	}
	r = store_update("job-progress", pr, false);
	if (r < 0 || done < total)
		goto out;
	/* the last child: finish the parent */
	r = job_load(parent_id, &p);
	if (r < 0 || job_state_final(jstr(p, "state")))
		goto out;
	jset_int(p, "children_done", done);
	jset_int(p, "children_failed", failed);
	if (json_object_get(pr, "errors"))
		json_object_set(p, "child_errors", json_object_get(pr, "errors"));
	{
		json_t *res = json_object_get(p, "result");
		char msg[160];

		snprintf(msg, sizeof(msg), "%lld of %lld failed", (long long)failed,
		         (long long)total);
		r = job_finish(p, failed == 0, "PartialFailure", msg,
		               res ? json_incref(res) : NULL);
	}
out:
	json_decref(p);
	json_decref(pr);
	return r;
}

int job_insert_parent(json_t *parent, int64_t children)
{
	char *now = time_now_str();
	json_t *pr;
	int r;

	jset_str(parent, "state", "running");
	jset_str(parent, "started_at", now);
	jset_int(parent, "children_total", children);
	jset_int(parent, "children_done", 0);
	jset_int(parent, "children_failed", 0);
	pr = json_pack("{s:s,s:n,s:n,s:I,s:i,s:i,s:s,s:s}", "id", jstr(parent, "id"), "account_id",
	               "name", "total", (json_int_t)children, "done", 0, "failed", 0, "created_at",
	               now, "updated_at", now);
	free(now);
	r = store_insert("job-progress", pr, false);
	json_decref(pr);
	return r < 0 ? r : job_insert(parent);
}

int job_finish(json_t *job, bool ok, const char *err_code, const char *err_msg, json_t *result)
{
	char *now = time_now_str();
	const char *parent;
	int r;

	jset_str(job, "state", ok ? "succeeded" : "failed");
	if (ok)
		jset_int(job, "progress", 100);
	if (!ok)
		json_object_set_new(job, "error",
		                    json_pack("{s:s,s:s}", "code", err_code ? err_code : "Internal",
		                              "message", err_msg ? err_msg : "job failed"));
	if (result)
		json_object_set_new(job, "result", result);
	if (!jstr(job, "started_at"))
		jset_str(job, "started_at", now);
	jset_str(job, "finished_at", now);
	free(now);
	r = store_update("jobs", job, false);
	if (r < 0)
		return r;
	job_emit(job);
	parent = jstr(job, "parent_id");
	if (parent)
		r = job_child_done(parent, ok, job);
	if (nfinished < FINISHED_MAX)
		snprintf(finished_ids[nfinished++], UUID_LEN + 1, "%s", jstr(job, "id"));
	else
		finished_overflow = true;
	return r;
}

int job_load(const char *id, json_t **ret)
{
	return store_get("jobs", id, NULL, false, ret);
}

/* Whether id finished since *seen (ring positions); jobs_lock held. */
static bool ring_saw(const char *id, uint64_t *seen)
{
	bool hit = ring_next - *seen > RING_SIZE || ring_reload_all > *seen;

	for (uint64_t i = *seen; !hit && i < ring_next; i++)
		hit = !strcmp(ring[i % RING_SIZE], id);
	*seen = ring_next;
	return hit;
}

int job_wait(const char *id, int64_t timeout_ms, json_t **ret)
{
	int64_t deadline = mono_ms() + timeout_ms, reread = 0;
	json_t *j = NULL;
	uint64_t seen;
	int r;

	pthread_mutex_lock(&jobs_lock);
	seen = ring_next;
	pthread_mutex_unlock(&jobs_lock);
	for (bool stop = false;;) {
		struct timespec ts;
		int64_t left;
		bool hit = false;

		r = job_load(id, &j);
		if (r < 0)
			return r;
		/* Re-read at least every 500 ms: the store is the truth. */
		reread = mono_ms() + 500;
		if (job_state_final(jstr(j, "state")) || deadline <= mono_ms() || host_stopping() ||
		    stop)
			break;
		json_decref(j);
		j = NULL;
		store_release(); /* a no-op inside the caller's transaction */
		pthread_mutex_lock(&jobs_lock);
		while (!hit && !jobs_stopping) {
			left = (deadline < reread ? deadline : reread) - mono_ms();
			if (left <= 0)
				break;
			deadline_mono(&ts, left);
			pthread_cond_timedwait(&done_cond, &jobs_lock, &ts);
			hit = ring_saw(id, &seen);
		}
		stop = jobs_stopping;
		pthread_mutex_unlock(&jobs_lock);
	}
	*ret = j;
	return 0;
}

/* Hosts that got commands in this thread's open transaction: their
 * long-polls are woken after the commit (jobs_after_commit). */
#define WAKE_MAX 64
static __thread char wake_hosts[WAKE_MAX][UUID_LEN + 1];
static __thread int nwake;
static __thread bool wake_all;

int job_command(json_t *job, const char *host_id, const char *cmd_type, const json_t *payload)
{
	char id[UUID_LEN + 1];
	int r;

	uuid_new(id);
	r = store_cmd_add(id, host_id, cmd_type, payload, jstr(job, "id"));
	if (r < 0)
		return r;
	log_debug("job %s: command %s (%s) queued for host %s", jstr(job, "id"), id, cmd_type,
	          host_id);
	for (int i = 0; i < nwake; i++)
		if (!strcmp(wake_hosts[i], host_id))
			return 0;
	if (nwake < WAKE_MAX)
		snprintf(wake_hosts[nwake++], UUID_LEN + 1, "%s", host_id);
	else
		wake_all = true;
	return 0;
}

void jobs_after_commit(void)
{
	for (int i = 0; i < nwake; i++)
		host_wake(wake_hosts[i]);
	if (wake_all)
		host_wake_all();
	nwake = 0;
	wake_all = false;
	if (nfinished || finished_overflow) {
		pthread_mutex_lock(&jobs_lock);
		for (int i = 0; i < nfinished; i++)
			memcpy(ring[ring_next++ % RING_SIZE], finished_ids[i], UUID_LEN + 1);
		if (finished_overflow)
			ring_reload_all = ring_next;
		pthread_cond_broadcast(&done_cond);
		pthread_mutex_unlock(&jobs_lock);
		nfinished = 0;
		finished_overflow = false;
	}
}

/* The store's end-of-transaction hook: what a rolled-back transaction
 * finished did not happen, but waking a host for nothing is harmless. */
static void jobs_tx_end(bool committed)
{
	if (!committed) {
		nfinished = 0;
		finished_overflow = false;
	}
	jobs_after_commit();
}

static bool busy_take(const char *rid)
{
	int free_slot = -1;

	if (!rid)
		return true;
	for (int i = 0; i < BUSY_MAX; i++) {
		if (busy[i][0] == '\0') {
			if (free_slot < 0)
				free_slot = i;
		} else if (strcmp(busy[i], rid) == 0) {
			return false;
		}
	}
	if (free_slot < 0)
		return false;
	snprintf(busy[free_slot], sizeof(busy[free_slot]), "%s", rid);
	return true;
}

static void busy_release(const char *rid)
{
	if (!rid)
		return;
	for (int i = 0; i < BUSY_MAX; i++)
		if (strcmp(busy[i], rid) == 0)
			busy[i][0] = '\0';
}

/* Runs one pending job inside the caller's transaction. The job is re-read
 * there so that two workers (or two kumods) never run it twice. */
static int job_run_one(const char *id)
{
	const struct job_type *t;
	struct kerr e = { 0 };
	json_t *job = NULL;
	int r;

	r = job_load(id, &job);
	if (r < 0 || strcmp(jstr(job, "state") ? jstr(job, "state") : "", "pending") != 0) {
		json_decref(job);
		return r == -ENOENT ? 0 : r;
	}
	t = job_type_find(jstr(job, "type"));
	if (!t || !t->run) {
		r = job_finish(job, false, "Internal", "no runner for this job type", NULL);
		json_decref(job);
		return r;
	}
	r = job_set_running(job, 0);
	if (r < 0) {
		json_decref(job);
		return r;
	}
	r = t->run(job, &e);
	if (r < 0 && !job_state_final(jstr(job, "state"))) {
		/* ended before reaching a host: the type puts its resource back
		 * (a VM leaves its transitional state), then the job fails */
		if (t->on_abort)
			t->on_abort(job, error_code_name(r),
			            e.message[0] ? e.message : "job failed");
		r = job_state_final(jstr(job, "state"))
		        ? 0
		        : job_finish(job, false, error_code_name(r),
		                     e.message[0] ? e.message : "job failed", NULL);
	} else {
		r = 0;
	}
	json_decref(job);
	return r;
}

/* Runs a batch of pending jobs in one transaction (dispatching a batch
 * create of 1,000 VMs is then a handful of commits, not a thousand). If the
 * store fails, the batch is rolled back and its jobs stay pending. */
static int run_batch(json_t *items)
{
	char ids[JOB_BATCH][UUID_LEN + 1], rids[JOB_BATCH][UUID_LEN + 1];
	int n = 0, ran = 0, r;
	json_t *it;
	size_t i;

	pthread_mutex_lock(&jobs_lock);
	json_array_foreach(items, i, it)
	{
		const char *rid = jstr(it, "resource_id");

		if (n >= JOB_BATCH)
			break;
		if (!busy_take(jstr(it, "id")))
			continue;
		if (rid && !busy_take(rid)) {
			busy_release(jstr(it, "id"));
			continue;
		}
		snprintf(ids[n], sizeof(ids[n]), "%s", jstr(it, "id"));
		snprintf(rids[n], sizeof(rids[n]), "%s", rid ? rid : "");
		n++;
	}
	pthread_mutex_unlock(&jobs_lock);
	if (n == 0)
		return 0;
	r = store_begin();
	for (int k = 0; r == 0 && k < n; k++) {
		r = job_run_one(ids[k]);
		ran++;
	}
	if (r == 0)
		r = store_commit();
	if (r < 0) {
		log_warn("running %d jobs failed: %s; they stay pending", n, strerror(-r));
		store_rollback();
		ran = 0;
	}
	jobs_after_commit();
	pthread_mutex_lock(&jobs_lock);
	for (int k = 0; k < n; k++) {
		busy_release(ids[k]);
		if (rids[k][0])
			busy_release(rids[k]);
	}
	pthread_mutex_unlock(&jobs_lock);
	return ran;
}

static void *worker_main(void *arg)
{
	(void)arg;
	for (;;) {
		struct list_query q;
		json_t *items = NULL;
		uint64_t gen;
		int ran = 0;

		pthread_mutex_lock(&jobs_lock);
		if (jobs_stopping) {
			pthread_mutex_unlock(&jobs_lock);
			break;
		}
		gen = jobs_generation;
		pthread_mutex_unlock(&jobs_lock);

		list_query_init(&q);
		query_add_eq(&q, "state", "pending");
		q.limit = JOB_BATCH * 4;
		q.selective = true;
		if (store_list("jobs", &q, &items, NULL) == 0)
			ran = run_batch(items);
		json_decref(items);
		list_query_free(&q);

		if (ran == 0)
			store_release(); /* an idle worker holds no connection */
		pthread_mutex_lock(&jobs_lock);
		if (!jobs_stopping && ran == 0 && gen == jobs_generation) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&jobs_cond, &jobs_lock, &ts);
		}
		pthread_mutex_unlock(&jobs_lock);
	}
	return NULL;
}

int jobs_start(int n)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&done_cond, &a);
	pthread_condattr_destroy(&a);
	store_set_tx_end_hook(jobs_tx_end);
	workers = xcalloc((size_t)n, sizeof(pthread_t));
	for (int i = 0; i < n; i++) {
		if (pthread_create(&workers[i], NULL, worker_main, NULL) != 0)
			return -errno;
		nworkers++;
	}
	return 0;
}

void jobs_stop(void)
{
	pthread_mutex_lock(&jobs_lock);
	jobs_stopping = true;
	pthread_cond_broadcast(&jobs_cond);
	pthread_cond_broadcast(&done_cond);
	pthread_mutex_unlock(&jobs_lock);
	for (int i = 0; i < nworkers; i++)
		pthread_join(workers[i], NULL);
	free(workers);
	workers = NULL;
	nworkers = 0;
}

static void job_abort(json_t *job, const char *code, const char *msg)
{
	const struct job_type *t = job_type_find(jstr(job, "type"));

	if (t && t->on_abort)
		t->on_abort(job, code, msg);
	if (!job_state_final(jstr(job, "state")))
		job_finish(job, false, code, msg, NULL);
}

void jobs_check_timeouts(void)
{
	char before[TIME_LEN];
	json_t *cmds = NULL, *c;
	size_t i;

	/* Only the overdue ones, found by an index: this runs twice a second,
	 * also while a batch has thousands of commands in flight. */
	time_format(now_ms() - kumod_cfg.command_timeout_ms, before);
	if (store_cmd_overdue(before, 256, &cmds) < 0)
		return;
	json_array_foreach(cmds, i, c)
	{
		json_t *job = NULL;

		if (store_begin() < 0)
			continue;
		store_cmd_done(jstr(c, "id"));
		if (jstr(c, "job_id") && job_load(jstr(c, "job_id"), &job) == 0 &&
		    !job_state_final(jstr(job, "state"))) {
			log_warn("job %s: host %s did not answer command %s in time",
			         jstr(job, "id"), jstr(c, "host_id"), jstr(c, "type"));
			job_abort(job, "Timeout", "the host did not answer in time");
		}
		json_decref(job);
		if (store_commit() < 0)
			store_rollback();
	}
	json_decref(cmds);
}

static bool has_job(const json_t *cmds, const char *job_id)
{
	size_t k;
	json_t *c;

	json_array_foreach(cmds, k, c)
	{
		if (jstr(c, "job_id") && !strcmp(jstr(c, "job_id"), job_id))
			return true;
	}
	return false;
}

void jobs_recover(void)
{
	json_t *cmds = NULL;
	int64_t offset = 0;

	/* Running jobs without an outstanding command cannot finish on their
	 * own (cut off between steps): fail them cleanly. Jobs with commands
	 * wait for their host; pending ones are run by the workers. */
	if (store_cmd_pending(NULL, &cmds) < 0)
		return;
	for (;;) {
		struct list_query q;
		json_t *items = NULL, *it;
		int64_t total = 0;
		size_t i;

		list_query_init(&q);
		query_add_eq(&q, "state", "running");
		q.limit = QUERY_LIMIT_MAX;
		q.offset = offset;
		if (store_list("jobs", &q, &items, &total) < 0) {
			list_query_free(&q);
			break;
		}
		list_query_free(&q);
		if (json_array_size(items) == 0) {
			json_decref(items);
			break;
		}
		json_array_foreach(items, i, it)
		{
			bool resumable = false;

			for (int k = 0; job_resumables[k]; k++)
				resumable |= !strcmp(job_resumables[k], jstr(it, "type"));
			if (jint(it, "children_total", 0) > 0 || has_job(cmds, jstr(it, "id")) ||
			    resumable) {
				offset++;
				continue;
			}
			if (store_begin() < 0)
				continue;
			log_warn("job %s (%s): interrupted by a restart", jstr(it, "id"),
			         jstr(it, "type"));
			job_abort(it, "Interrupted", "interrupted by a restart of kumod");
			if (store_commit() < 0)
				store_rollback();
		}
		json_decref(items);
	}
	json_decref(cmds);
}
