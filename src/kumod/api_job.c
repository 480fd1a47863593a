// SPDX-License-Identifier: MIT
/*
 * /v1/jobs: read-only views of long work. GET /v1/jobs/{id}?wait=S blocks
 * until the job is final or S seconds pass, so clients need not poll fast.
 */
#include <errno.h>
#include <stdlib.h>

#include "common/json.h"
#include "kumod/api.h"
#include "kumod/jobs.h"

static const char *const job_states[] = { "pending", "running",   "succeeded",
	                                  "failed",  "cancelled", NULL };

static const struct field job_fields[] = {
	API_COMMON_FIELDS,
	{ "type", FT_STRING, F_READONLY | F_FILTER, 0, 0, NULL, NULL, "vm.create, vm.start, ..." },
	{ "resource_kind", FT_STRING, F_READONLY | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "resource_id", FT_STRING, F_READONLY | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "state", FT_STRING, F_READONLY | F_FILTER, 0, 0, job_states, NULL, NULL },
	{ "progress", FT_INT, F_READONLY | F_FILTER, 0, 100, NULL, NULL, NULL },
	{ "error", FT_OBJECT, F_READONLY | F_NULLABLE, 0, 0, NULL, NULL, "{code, message}" },
	{ "result", FT_ANY, F_READONLY | F_NULLABLE, 0, 0, NULL, NULL, NULL },
	{ "children_total", FT_INT, F_READONLY, 0, 0, NULL, NULL, "batch jobs: children" },
	{ "children_done", FT_INT, F_READONLY, 0, 0, NULL, NULL, NULL },
	{ "children_failed", FT_INT, F_READONLY, 0, 0, NULL, NULL, NULL },
	{ "parent_id", FT_UUID, F_READONLY | F_FILTER | F_NULLABLE, 0, 0, NULL, NULL, NULL },
	{ "started_at", FT_TIME, F_READONLY | F_FILTER | F_NULLABLE, 0, 0, NULL, NULL, NULL },
	{ "finished_at", FT_TIME, F_READONLY | F_FILTER | F_NULLABLE, 0, 0, NULL, NULL, NULL },
	{ NULL },
};
static const struct schema job_schema = { "Job", job_fields };

static void job_present(json_t *doc)
{
	json_object_del(doc, "params");
	json_object_del(doc, "name");
	if (jint(doc, "children_total", 0) > 0 && !job_state_final(jstr(doc, "state"))) {
		json_t *pr = NULL;

		if (job_progress_get(jstr(doc, "id"), &pr) == 0) {
			int64_t total = jint(pr, "total", 1);

			jset_int(doc, "children_done", jint(pr, "done", 0));
			jset_int(doc, "children_failed", jint(pr, "failed", 0));
			jset_int(doc, "progress", total ? jint(pr, "done", 0) * 100 / total : 0);
			json_decref(pr);
		}
	}
}

const struct kind kind_job = {
	.name = "jobs",
	.singular = "job",
	.schema = &job_schema,
	.scope = SCOPE_ACCOUNT,
	.present = job_present,
};

static void job_list(struct http_request *req, struct http_response *resp)
{
	api_list(&kind_job, req, resp);
}

static void job_get(struct http_request *req, struct http_response *resp)
{
	struct kerr e = { 0 };
	json_t *doc = NULL, *latest = NULL;
	const char *w = http_query(req, "wait");

	if (api_check_wait(req, &e) < 0 ||
	    api_load(&kind_job, req, http_param(req, "id"), false, &doc, &e) < 0) {
		http_reply_kerr(resp, &e);
		return;
	}
	if (w && atol(w) > 0 && !job_state_final(jstr(doc, "state")) &&
	    job_wait(jstr(doc, "id"), atol(w) * 1000, &latest) == 0) {
		json_decref(doc);
		doc = latest;
	}
	http_reply_json(resp, 200, api_present(&kind_job, doc));
	json_decref(doc);
}

static const struct field no_fields[] = { { NULL } };
static const struct schema job_cancel_schema = { "JobCancel", no_fields };

/* Asks a job to stop, through its type's on_cancel hook; answers the job
 * (202: it ends "cancelled" once its hosts have stopped). */
static void job_cancel(struct http_request *req, struct http_response *resp)
{
	const struct job_cancel *t;
	struct kerr e = { 0 };
	json_t *doc = NULL;

	if (api_load(&kind_job, req, http_param(req, "id"), false, &doc, &e) < 0)
		goto out;
	t = job_cancel_find(jstr(doc, "type"));
	if (job_state_final(jstr(doc, "state"))) {
		kerr_set(&e, -EALREADY, "", "job is %s already", jstr(doc, "state"));
		goto out;
	}
	if (!t) {
		kerr_set(&e, -ESTALE, "", "this job cannot be cancelled (%s)", jstr(doc, "type"));
		goto out;
	}
	if (t->on_cancel(jstr(doc, "id"), &e) < 0)
		goto out;
	json_decref(doc);
	doc = NULL;
	if (job_load(http_param(req, "id"), &doc) < 0) {
		kerr_set(&e, -ENOENT, "", "job not found");
		goto out;
	}
	api_reply_job(req, resp, doc);
out:
	if (e.code)
		http_reply_kerr(resp, &e);
	json_decref(doc);
}

const struct route api_job_routes[] = {
	{ "GET", "/v1/jobs", job_list, ROLE_VIEWER, NULL, HTTP_LIST, "List jobs", 0, "jobs" },
	{ "GET", "/v1/jobs/{id}", job_get, ROLE_VIEWER, NULL, HTTP_JOB,
	  "Get a job; ?wait=S waits up to S seconds for it to finish", 0, "jobs" },
	{ "POST", "/v1/jobs/{id}/actions/cancel", job_cancel, ROLE_MEMBER, &job_cancel_schema,
	  HTTP_JOB, "Cancel a job (jobs whose type can be cancelled: vm.migrate)", 0, "jobs" },
	{ NULL },
};
