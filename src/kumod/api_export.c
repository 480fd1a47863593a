// SPDX-License-Identifier: MIT
/*
 * Images made from a volume or a snapshot: POST
 * /v1/snapshots/{id}/actions/create_image and
 * /v1/volumes/{id}/actions/create_image make an image record ("uploading",
 * with export_host_id) and an image.export job. The host that stores the
 * volume converts it (qemu-img convert, -l snapshot.name=... for a
 * snapshot) into a standalone qcow2 and uploads it to
 * /agent/v1/images/{id}/upload (api_image.c), which checks the bytes like any
 * upload and makes the image active; the job then answers the image. A
 * failed export leaves no image behind. While it runs, the snapshot or
 * volume takes no other operation (its job_id).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/log.h"
#include "kumod/api.h"
#include "kumod/events.h"
#include "kumod/image_store.h"
#include "kumod/jobs.h"
#include "kumod/pool.h"
#include "kumod/store.h"

static const char *const visibilities[] = { "private", "public", NULL };

static const struct field create_image_fields[] = {
	{ "name", FT_NAME, F_REQUIRED, 0, 0, NULL, NULL, "the new image's name" },
	{ "description", FT_STRING, 0, 0, 1024, NULL, NULL, NULL },
	{ "visibility", FT_STRING, 0, 0, 0, visibilities, NULL, "public: admins only" },
	{ NULL },
};
static const struct schema create_image_schema = { "CreateImage", create_image_fields };

/* --- the job ------------------------------------------------------------- */

static int export_run(json_t *job, struct kerr *e)
{
	const json_t *p = json_object_get(job, "params");
	json_t *payload;
	int r;

	payload = json_pack("{s:s?,s:O,s:s}", "vm_id", jstr(p, "vm_id"), "disk",
	                    json_object_get(p, "disk"), "image_id", jstr(job, "resource_id"));
	r = job_command(job, jstr(p, "host_id"), "image.export", payload);
	json_decref(payload);
	return r < 0 ? kerr_set(e, r, "", "cannot queue the command") : 0;
}

static int export_end(json_t *job, bool ok, const char *code, const char *msg)
{
	const json_t *p = json_object_get(job, "params");
	const char *id = jstr(job, "resource_id");
	json_t *lock = NULL, *img = NULL, *result = NULL;
	int r = 0;

	if (store_get(jstr(p, "lock_kind"), jstr(p, "lock_id"), NULL, false, &lock) == 0) {
		json_object_del(lock, "job_id");
		r = store_update(jstr(p, "lock_kind"), lock, false);
		json_decref(lock);
	}
	if (r < 0)
		return r;
	if (store_get("images", id, NULL, false, &img) < 0)
		return job_finish(job, false, "NotFound", "the image was deleted meanwhile", NULL);
	if (ok && strcmp(jstr(img, "status"), "active") != 0) {
		ok = false;
		code = "UploadFailed";
		msg = "the host's upload did not make the image active";
	}
	if (ok) {
		json_object_del(img, "export_host_id");
		r = store_update("images", img, false);
		result = api_present(&kind_image, img);
	} else {
		/* nothing half-made: no image without bytes */
		image_remove(id);
		r = store_delete("images", id);
		if (r == 0)
			event_emit("image.deleted", "images", id, jstr(img, "account_id"), NULL);
	}
	json_decref(img);
	if (r < 0) {
		json_decref(result);
		return r;
	}
	return job_finish(job, ok, code, msg, result);
}

static int export_result(json_t *job, const json_t *cmd, const char *status, const json_t *data,
                         const json_t *error)
{
	(void)cmd;
	if (!strcmp(status, "running"))
		return job_set_running(job, (int)jint(data, "progress", 0));
	return export_end(job, !strcmp(status, "succeeded"),
	                  error ? jstr(error, "code") : "HostError",
	                  error && jstr(error, "message") ? jstr(error, "message")
	                                                  : "the host reported a failure");
}

static void export_abort(json_t *job, const char *code, const char *message)
{
	export_end(job, false, code, message);
}

const struct job_type job_image_export = { "image.export", export_run, export_result,
	                                   export_abort };

/* --- handlers ------------------------------------------------------------ */

/* The image record and the job; lock (a snapshot or volume doc) gets the
 * job's id. */
static void begin_export(struct http_request *req, struct http_response *resp,
                         const struct kind *lock_kind, json_t *lock, const json_t *vol,
                         const char *snapshot_id, struct kerr *e)
{
	const char *vis = jstr(req->body, "visibility");
	json_t *img = api_new_doc(&kind_image, req, NULL), *job = NULL, *p;
	int r = 0;

	if (vis && !strcmp(vis, "public") && !IS_ADMIN(req))
		r = kerr_set(e, -EPERM, "visibility", "only admins may make an image public");
	jset_str(img, "name", jstr(req->body, "name"));
	jset_str(img, "format", "qcow2");
	jset_int(img, "size", 0);
	json_object_set_new(img, "sha256", json_null());
	json_object_set_new(img, "virtual_size", json_null());
	jset_str(img, "arch", "x86_64");
	jset_str(img, "visibility", vis ? vis : "private");
	jset_str(img, "status", "uploading");
	json_object_set_new(img, "status_reason", json_null());
	jset_str(img, "description", jstr(req->body, "description"));
	jset_str(img, "export_host_id", jstr(vol, "host_id"));
	if (snapshot_id)
		jset_str(img, "source_snapshot_id", snapshot_id);
	else
		jset_str(img, "source_volume_id", jstr(vol, "id"));
	if (r == 0) {
		r = store_insert("images", img, true);
		if (r == -EEXIST)
			kerr_set(e, r, "name", "an image named \"%s\" already exists",
			         jstr(img, "name"));
		else if (r < 0)
			kerr_set(e, r, "", "cannot store the image");
	}
	if (r == 0) {
		p = json_pack("{s:s,s:s?,s:{s:s,s:s,s:s?,s:s?,s:o?},s:s,s:s}", "host_id",
		              jstr(vol, "host_id"), "vm_id", jstr(vol, "vm_id"), "disk",
		              "volume_id", jstr(vol, "id"), "kind", jstr(vol, "kind"), "vm_id",
		              jstr(vol, "vm_id"), "snapshot", snapshot_id, "pool",
		              pool_payload(jstr(vol, "pool_id")), "lock_kind", lock_kind->name,
		              "lock_id", jstr(lock, "id"));
		job = job_new("image.export", "images", jstr(img, "id"), jstr(img, "account_id"), p,
		              NULL);
		json_decref(p);
		r = job_insert(job);
		if (r == 0) {
			jset_str(lock, "job_id", jstr(job, "id"));
			r = store_update(lock_kind->name, lock, false);
		}
		if (r == 0)
			event_emit("image.created", "images", jstr(img, "id"),
			           jstr(img, "account_id"), NULL);
	}
	api_commit_job(req, resp, job, r, e, "image");
	json_decref(img);
	json_decref(job);
}

static void snapshot_create_image(struct http_request *req, struct http_response *resp)
{
	struct kerr e = { 0 };
	json_t *s = NULL, *v = NULL;
	int r;

	if (api_check_wait(req, &e) < 0 || api_idem_replay(req, resp))
		goto out;
	r = store_begin();
	if (r < 0) {
		kerr_set(&e, r, "", "store unavailable");
		goto out;
	}
	r = api_load(&kind_snapshot, req, http_param(req, "id"), true, &s, &e);
	if (r == 0 && (jstr(s, "job_id") || strcmp(jstr(s, "state"), "ready") != 0))
		r = kerr_set(&e, -EBUSY, "", "snapshot %s is %s or busy", jstr(s, "name"),
		             jstr(s, "state"));
	if (r == 0 && store_get("volumes", jstr(s, "volume_id"), NULL, false, &v) < 0)
		r = kerr_set(&e, -EBUSY, "", "the snapshot's volume is gone");
	if (r < 0) {
		store_rollback();
		goto out;
	}
	begin_export(req, resp, &kind_snapshot, s, v, jstr(s, "id"), &e);
out:
	if (e.code)
		http_reply_kerr(resp, &e);
	json_decref(s);
	json_decref(v);
}

static void volume_create_image(struct http_request *req, struct http_response *resp)
{
	struct kerr e = { 0 };
	json_t *v = NULL, *vm = NULL;
	int r;

	if (api_check_wait(req, &e) < 0 || api_idem_replay(req, resp))
		goto out;
	r = store_begin();
	if (r < 0) {
		kerr_set(&e, r, "", "store unavailable");
		goto out;
	}
	r = api_load(&kind_volume, req, http_param(req, "id"), true, &v, &e);
	if (r == 0 && !jstr(v, "host_id"))
		r = kerr_set(&e, -EBUSY, "", "volume %s was never attached: it holds no data",
		             jstr(v, "name"));
	if (r == 0 && jstr(v, "job_id"))
		r = kerr_set(&e, -EBUSY, "", "volume %s has an operation in progress",
		             jstr(v, "name"));
	if (r == 0 && jstr(v, "vm_id") &&
	    store_get("vms", jstr(v, "vm_id"), NULL, false, &vm) == 0 &&
	    strcmp(jstr(vm, "state"), "stopped") != 0)
		r = kerr_set(&e, -EBUSY, "",
		             "vm %s is %s: stop it, or snapshot the volume and make the image from "
		             "the snapshot",
		             jstr(vm, "name"), jstr(vm, "state"));
	if (r < 0) {
		store_rollback();
		goto out;
	}
	begin_export(req, resp, &kind_volume, v, v, NULL, &e);
out:
	if (e.code)
		http_reply_kerr(resp, &e);
	json_decref(v);
	json_decref(vm);
}

const struct route api_export_routes[] = {
	{ "POST", "/v1/snapshots/{id}/actions/create_image", snapshot_create_image, ROLE_MEMBER,
	  &create_image_schema, HTTP_JOB,
	  "Make an image from the snapshot (202 + image.export job; its result is the image)", 0,
	  "snapshots" },
	{ "POST", "/v1/volumes/{id}/actions/create_image", volume_create_image, ROLE_MEMBER,
	  &create_image_schema, HTTP_JOB,
	  "Make an image from a detached volume or one of a stopped VM (202 + image.export job)", 0,
	  "volumes" },
	{ NULL },
};
