// SPDX-License-Identifier: MIT
/*
 * /v1/images: image records and their bytes. Members create private images
 * in their account; admins may make images public.
 *
 * Life of an image: POST /v1/images makes a record without bytes, status
 * "uploading" (it may promise a sha256 and a size). POST
 * /v1/images/{id}/upload streams the bytes into the store (image_store.c),
 * checks them and makes the image "active"; bytes that are refused
 * (checksum, size, format) leave it "error" with status_reason, and
 * another upload may follow. An upload cut short leaves the record as it
 * was. Admins may instead create an active image at once from a file on
 * the management node (source_path; the copy is done in the request).
 * Agents fetch active images with GET /agent/v1/images/{id}/data and their
 * host secret. An image used by a VM cannot be deleted; deleting one
 * removes its bytes.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/json.h"
#include "common/log.h"
#include "kumod/api.h"
#include "kumod/events.h"
#include "kumod/image_store.h"
#include "kumod/kumod.h"
#include "kumod/store.h"

#define USED_BY_NAMES 3 /* VMs named in the refusal of a delete */

static const char *const formats[] = { "qcow2", "raw", "kernel", NULL };
static const char *const arches[] = { "x86_64", "aarch64", NULL };
static const char *const visibilities[] = { "private", "public", NULL };
static const char *const statuses[] = { "uploading", "active", "error", NULL };

static const struct field image_fields[] = {
	API_COMMON_FIELDS,
	{ "name", FT_NAME, F_REQUIRED | F_FILTER, 0, 0, NULL, NULL, NULL },
	{ "format", FT_STRING, F_REQUIRED | F_FILTER, 0, 0, formats, NULL, NULL },
	{ "size", FT_INT, F_FILTER, 0, INT64_MAX, NULL, NULL,
	  "bytes (before the upload: the size promised, or 0)" },
	{ "sha256", FT_STRING, F_FILTER | F_NULLABLE, 64, 64, NULL, NULL,
	  "hex SHA-256 of the bytes (before the upload: the one promised, or null)" },
	{ "virtual_size", FT_INT, F_READONLY | F_FILTER | F_NULLABLE, 0, INT64_MAX, NULL, NULL,
	  "disk images: the size the guest sees, in bytes" },
	{ "arch", FT_STRING, F_FILTER, 0, 0, arches, NULL, NULL },
	{ "visibility", FT_STRING, F_FILTER, 0, 0, visibilities, NULL, NULL },
	{ "status", FT_STRING, F_READONLY | F_FILTER, 0, 0, statuses, NULL, NULL },
	{ "status_reason", FT_STRING, F_READONLY | F_NULLABLE, 0, 0, NULL, NULL,
	  "why the last upload was refused" },
	{ "description", FT_STRING, 0, 0, 1024, NULL, NULL, NULL },
	{ "source_snapshot_id", FT_UUID, F_READONLY | F_FILTER | F_NULLABLE, 0, 0, NULL, NULL,
	  "made from this snapshot (api_export.c)" },
	{ "source_volume_id", FT_UUID, F_READONLY | F_FILTER | F_NULLABLE, 0, 0, NULL, NULL,
	  "made from this volume" },
	{ NULL },
};
static const struct schema image_schema = { "Image", image_fields };

static const struct field image_create_fields[] = {
	{ "name", FT_NAME, F_REQUIRED, 0, 0, NULL, NULL, NULL },
	{ "format", FT_STRING, F_REQUIRED, 0, 0, formats, NULL, NULL },
	{ "size", FT_INT, 0, 0, INT64_MAX, NULL, NULL, "the upload must have this size" },
	{ "sha256", FT_STRING, 0, 64, 64, NULL, NULL, "the upload must have this SHA-256" },
	{ "arch", FT_STRING, 0, 0, 0, arches, NULL, NULL },
	{ "visibility", FT_STRING, 0, 0, 0, visibilities, NULL, NULL },
	{ "description", FT_STRING, 0, 0, 1024, NULL, NULL, NULL },
	{ "account_id", FT_UUID, 0, 0, 0, NULL, NULL, "admins: create in this account" },
	{ "source_path", FT_STRING, 0, 1, 4096, NULL, NULL,
	  "admins: copy this file on the management node (the image is active at once)" },
	{ NULL },
};
static const struct schema image_create_schema = { "ImageCreate", image_create_fields };

static const struct field image_update_fields[] = {
	{ "name", FT_NAME, 0, 0, 0, NULL, NULL, NULL },
	{ "visibility", FT_STRING, 0, 0, 0, visibilities, NULL, NULL },
	{ "description", FT_STRING, 0, 0, 1024, NULL, NULL, NULL },
	{ "sha256", FT_STRING, F_NULLABLE, 64, 64, NULL, NULL, "until the image is active" },
	{ NULL },
};
static const struct schema image_update_schema = { "ImageUpdate", image_update_fields };

static int image_check(struct http_request *req, json_t *doc, struct kerr *e)
{
	const char *sha = jstr(doc, "sha256");
	const char *vis = jstr(doc, "visibility");

	if (sha) {
		for (const char *p = sha; *p; p++)
			if (!isxdigit((unsigned char)*p))
				return kerr_set(e, -EINVAL, "sha256",
				                "sha256 must be 64 hexadecimal digits");
	}
	if (vis && !strcmp(vis, "public") && !IS_ADMIN(req))
		return kerr_set(e, -EPERM, "visibility", "only admins may make an image public");
	return 0;
}

static int image_on_create(struct http_request *req, json_t *doc, struct kerr *e)
{
	int r = image_check(req, doc, e);

	if (r < 0)
		return r;
	if (!jstr(doc, "arch"))
		jset_str(doc, "arch", "x86_64");
	if (!jstr(doc, "visibility"))
		jset_str(doc, "visibility", "private");
	if (!json_object_get(doc, "size"))
		jset_int(doc, "size", 0);
	if (jstr(doc, "sha256")) { /* kept in lower case, as computed ones are */
		char sha[65];

		snprintf(sha, sizeof(sha), "%s", jstr(doc, "sha256"));
		for (char *p = sha; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		jset_str(doc, "sha256", sha);
	} else {
		json_object_set_new(doc, "sha256", json_null());
	}
	json_object_set_new(doc, "virtual_size", json_null());
	jset_str(doc, "status", "uploading");
	json_object_set_new(doc, "status_reason", json_null());
	return 0;
}

static int image_on_update(struct http_request *req, const json_t *old, json_t *doc, struct kerr *e)
{
	if (json_object_get(req->body, "sha256") && !strcmp(jstr(old, "status"), "active"))
		return kerr_set(e, -EBUSY, "sha256",
		                "image %s is active: its sha256 is that of its bytes",
		                jstr(old, "name"));
	return image_check(req, doc, e);
}

/* Refuses while a VM (not destroyed) uses the image, naming a few. */
static int image_on_delete(struct http_request *req, json_t *doc, struct kerr *e)
{
	struct list_query q;
	json_t *vms = NULL, *vm;
	char names[256] = "";
	int64_t total = 0, n = 0;
	size_t i;
	int r;

	list_query_init(&q);
	query_add_eq(&q, "image_id", jstr(doc, "id"));
	q.limit = QUERY_LIMIT_MAX;
	r = store_list("vms", &q, &vms, &total);
	list_query_free(&q);
	if (r < 0)
		return kerr_set(e, r, "", "cannot check whether the image is in use");
	json_array_foreach(vms, i, vm)
	{
		size_t len = strlen(names);

		if (jstr(vm, "state") && !strcmp(jstr(vm, "state"), "destroyed"))
			continue;
		if (n++ < USED_BY_NAMES)
			snprintf(names + len, sizeof(names) - len, "%s%s", len ? ", " : "",
			         jstr(vm, "name") ? jstr(vm, "name") : jstr(vm, "id"));
	}
	json_decref(vms);
	if (total > QUERY_LIMIT_MAX) /* past the first page: count them all as users */
		n += total - QUERY_LIMIT_MAX;
	if (n > 0)
		return kerr_set(e, -EBUSY, "", "image %s is in use by %lld VM%s: %s%s",
		                jstr(doc, "name"), (long long)n, n == 1 ? "" : "s", names,
		                n > USED_BY_NAMES ? ", ..." : "");
	return 0;
}

const struct kind kind_image = {
	.name = "images",
	.singular = "image",
	.schema = &image_schema,
	.create = &image_create_schema,
	.update = &image_update_schema,
	.scope = SCOPE_ACCOUNT_PUBLIC,
	.unique_name = true,
	.on_create = image_on_create,
	.on_update = image_on_update,
	.on_delete = image_on_delete,
};

static void image_list(struct http_request *req, struct http_response *resp)
{
	api_list(&kind_image, req, resp);
}

static void image_get(struct http_request *req, struct http_response *resp)
{
	api_get(&kind_image, req, resp);
}

static void image_update(struct http_request *req, struct http_response *resp)
{
	api_update(&kind_image, req, resp);
}

/* The record's bytes go with it, after the commit. */
static void image_delete(struct http_request *req, struct http_response *resp)
{
	char id[UUID_LEN + 1];
	int r;

	snprintf(id, sizeof(id), "%s", http_param(req, "id") ? http_param(req, "id") : "");
	api_delete(&kind_image, req, resp);
	if (http_response_status(resp) != 204)
		return;
	r = image_remove(id);
	if (r < 0)
		log_warn("image %s deleted, but its bytes could not be removed: %s", id,
		         strerror(-r));
}

/* The fields of an image whose bytes are in place. */
static void set_bytes(json_t *doc, const struct image_info *info)
{
	jset_str(doc, "status", "active");
	json_object_set_new(doc, "status_reason", json_null());
	jset_int(doc, "size", (int64_t)info->size);
	jset_str(doc, "sha256", info->sha256);
	if (info->virtual_size >= 0)
		jset_int(doc, "virtual_size", info->virtual_size);
	else
		json_object_set_new(doc, "virtual_size", json_null());
}

/* --- register from a file on the management node ------------------------ */

static void image_register(struct http_request *req, struct http_response *resp)
{
	struct image_info info;
	struct kerr e = { 0 };
	json_t *doc = NULL, *dup = NULL;
	const char *id = NULL;
	bool stored = false;
	int r;

	if (api_idem_replay(req, resp))
		return;
	if (!IS_ADMIN(req)) {
		kerr_set(&e, -EPERM, "source_path",
		         "only admins may create an image from a file on the management node");
		goto fail;
	}
	doc = api_new_doc(&kind_image, req, req->body);
	json_object_del(doc, "source_path");
	id = jstr(doc, "id");
	r = image_on_create(req, doc, &e);
	if (r < 0)
		goto fail;
	/* Found before a long copy, and again by the insert. */
	if (store_get_by_name("images", jstr(doc, "name"), jstr(doc, "account_id"), &dup) == 0) {
		kerr_set(&e, -EEXIST, "name", "an image named \"%s\" already exists",
		         jstr(doc, "name"));
		goto fail;
	}
	store_release(); /* the copy may take a while */
	r = image_import(jstr(req->body, "source_path"), id, jstr(doc, "format"),
	                 jstr(doc, "sha256"), jint(doc, "size", 0) > 0 ? jint(doc, "size", 0) : -1,
	                 (uint64_t)kumod_cfg.image_max_bytes, &info, &e);
	if (r < 0)
		goto fail;
	stored = true;
	set_bytes(doc, &info);
	r = store_begin();
	if (r < 0) {
		kerr_set(&e, r, "", "store unavailable");
		goto fail;
	}
	r = store_insert("images", doc, true);
	if (r < 0) {
		store_rollback();
		if (r == -EEXIST)
			kerr_set(&e, r, "name", "an image named \"%s\" already exists",
			         jstr(doc, "name"));
		else
			kerr_set(&e, r, "", "cannot store the image");
		goto fail;
	}
	event_emit("image.created", "images", id, jstr(doc, "account_id"), NULL);
	r = api_reply_created(req, resp, "images", api_present(&kind_image, doc));
	if (r < 0) {
		kerr_set(&e, r, "", "cannot store the image");
		goto fail;
	}
	log_info("image %s (%s) registered from %s: %llu bytes, sha256 %s", jstr(doc, "name"), id,
	         jstr(req->body, "source_path"), (unsigned long long)info.size, info.sha256);
	json_decref(doc);
	return;
fail:
	if (stored)
		image_remove(id);
	json_decref(dup);
	json_decref(doc);
	api_reply_error(resp, &e);
}

static void image_create(struct http_request *req, struct http_response *resp)
{
	if (jstr(req->body, "source_path"))
		image_register(req, resp);
	else
		api_create(&kind_image, req, resp);
}

/* --- upload ----------------------------------------------------------------- */

struct upload {
	char id[UUID_LEN + 1];
	struct image_writer *w; /* owned */
	bool agent;             /* a host uploads an image it made (api_export.c) */
};

/* The image of an upload, as the uploader may see it. */
static int upload_load(struct http_request *req, bool agent, const char *id, json_t **ret,
                       struct kerr *e)
{
	if (!agent)
		return api_load(&kind_image, req, id, true, ret, e);
	if (store_get("images", id, NULL, false, ret) < 0)
		return kerr_set(e, -ENOENT, "", "no image with id %s", id);
	return 0;
}

static int upload_write(void *state, const void *data, size_t len, struct kerr *e)
{
	struct upload *u = state;

	return image_writer_write(u->w, data, len, e);
}

/* The client left before the end of the body, or a write failed. */
static void upload_abort(void *state)
{
	struct upload *u = state;

	log_info("upload of image %s stopped after %llu bytes (the client left, or the bytes "
	         "were refused): they are removed",
	         u->id, (unsigned long long)image_writer_size(u->w));
	image_writer_abort(u->w);
	free(u);
}

static bool is_octet_stream(const char *ct)
{
	static const char want[] = "application/octet-stream";
	size_t n = sizeof(want) - 1;

	return !strncasecmp(ct, want, n) && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* Before the body: who may upload, whether the image takes bytes, the size
 * announced, one upload at a time (the part file is created here). */
static void upload_open(struct http_request *req, struct http_response *resp)
{
	const char *ct = http_header(req, "Content-Type"), *cl = http_header(req, "Content-Length");
	uint64_t max = (uint64_t)kumod_cfg.image_max_bytes;
	struct kerr e = { 0 };
	struct upload *u = NULL;
	json_t *img = NULL;
	int64_t want;
	int r;

	r = api_load(&kind_image, req, http_param(req, "id"), true, &img, &e);
	if (r < 0)
		goto fail;
	if (jstr(img, "export_host_id")) {
		kerr_set(&e, -EBUSY, "", "image %s is being made from a volume by its host",
		         jstr(img, "name"));
		goto fail;
	}
	if (!strcmp(jstr(img, "status"), "active")) {
		kerr_set(&e, -EEXIST, "",
		         "image %s is already active: its bytes cannot be replaced (create a new "
		         "image)",
		         jstr(img, "name"));
		goto fail;
	}
	if (ct && !is_octet_stream(ct)) {
		kerr_set(&e, -EINVAL, "Content-Type",
		         "the body of an upload is the image's bytes: Content-Type must be "
		         "application/octet-stream, not %.100s",
		         ct);
		goto fail;
	}
	want = jint(img, "size", 0);
	if (cl) {
		char *end = NULL;
		unsigned long long len;

		errno = 0;
		len = strtoull(cl, &end, 10);
		if (errno || end == cl || *end) {
			kerr_set(&e, -EINVAL, "Content-Length", "bad Content-Length");
			goto fail;
		}
		if (len > max) {
			kerr_set(&e, -EMSGSIZE, "", "the image is over the limit of %llu bytes",
			         (unsigned long long)max);
			goto fail;
		}
		if (want > 0 && len != (unsigned long long)want) {
			kerr_set(
			    &e, -EINVAL, "size",
			    "size mismatch: the image record says %lld bytes, the upload has %llu",
			    (long long)want, len);
			goto fail;
		}
	}
	u = xcalloc(1, sizeof(*u));
	snprintf(u->id, sizeof(u->id), "%s", jstr(img, "id"));
	r = image_writer_open(u->id, max, &u->w, &e);
	if (r < 0) {
		free(u);
		goto fail;
	}
	http_sink_set(req, upload_write, upload_abort, u);
	json_decref(img);
	return;
fail:
	json_decref(img);
	api_reply_error(resp, &e);
}

/* Bytes refused: the record says why, and takes another upload. */
static void upload_refused(struct http_request *req, bool agent, const char *id,
                           const struct kerr *why)
{
	struct kerr e = { 0 };
	json_t *img = NULL, *changes;

	if (store_begin() < 0)
		return;
	if (upload_load(req, agent, id, &img, &e) < 0 || !strcmp(jstr(img, "status"), "active")) {
		store_rollback();
		json_decref(img);
		return;
	}
	jset_str(img, "status", "error");
	jset_str(img, "status_reason", why->message);
	changes = json_pack("{s:s,s:s}", "status", "error", "status_reason", why->message);
	if (store_update("images", img, true) == 0) {
		event_emit("image.updated", "images", id, jstr(img, "account_id"), changes);
		if (store_commit() < 0)
			log_warn("image %s: cannot store why its upload was refused", id);
	} else {
		store_rollback();
	}
	json_decref(changes);
	json_decref(img);
}

/* After the body: check the bytes, put them in place, make the image active. */
static void upload_finish(struct http_request *req, struct http_response *resp)
{
	struct upload *u = http_sink_take(req);
	struct image_info info;
	struct kerr e = { 0 };
	json_t *img = NULL, *changes;
	int64_t want;
	int r;

	if (!u) {
		http_reply_error(resp, -EIO, NULL, "the upload has no state");
		return;
	}
	r = upload_load(req, u->agent, u->id, &img, &e);
	if (r < 0)
		goto fail;
	want = jint(img, "size", 0);
	r = image_writer_finish(u->w, jstr(img, "format"), jstr(img, "sha256"),
	                        want > 0 ? want : -1, &info, &e);
	u->w = NULL;
	json_decref(img);
	img = NULL;
	if (r < 0) {
		if (r == -EINVAL || r == -EMSGSIZE)
			upload_refused(req, u->agent, u->id, &e);
		goto fail;
	}
	r = store_begin();
	if (r < 0) {
		kerr_set(&e, r, "", "store unavailable");
		goto fail_bytes;
	}
	r = upload_load(req, u->agent, u->id, &img, &e);
	if (r < 0) {
		store_rollback();
		goto fail_bytes; /* deleted meanwhile */
	}
	set_bytes(img, &info);
	r = store_update("images", img, true);
	if (r < 0) {
		store_rollback();
		kerr_set(&e, r, "", "cannot store the image");
		goto fail_bytes;
	}
	changes = json_pack("{s:s,s:I,s:s}", "status", "active", "size", (json_int_t)info.size,
	                    "sha256", info.sha256);
	event_emit("image.updated", "images", u->id, jstr(img, "account_id"), changes);
	json_decref(changes);
	r = store_commit();
	if (r < 0) {
		kerr_set(&e, r, "", "cannot store the image");
		goto fail_bytes;
	}
	log_info("image %s (%s) uploaded: %llu bytes, sha256 %s", jstr(img, "name"), u->id,
	         (unsigned long long)info.size, info.sha256);
	http_reply_json(resp, 200, api_present(&kind_image, img));
	json_decref(img);
	free(u);
	return;
fail_bytes:
	image_remove(u->id);
fail:
	image_writer_abort(u->w);
	json_decref(img);
	free(u);
	api_reply_error(resp, &e);
}

static void image_upload(struct http_request *req, struct http_response *resp)
{
	if (http_sink_opening(req))
		upload_open(req, resp);
	else
		upload_finish(req, resp);
}

/* --- agents fetch the bytes -------------------------------------------------- */

/* The route carries the image id, not the host's, so the host is found by
 * its secret; a user's token is never a host secret. */
static int agent_check(struct http_request *req, char ret_host[UUID_LEN + 1], struct kerr *e)
{
	const char *h = http_header(req, "Authorization");
	struct list_query q;
	json_t *hosts = NULL;
	int64_t total = 0;
	char *digest;
	int r;

	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return kerr_set(e, -EACCES, "", "missing bearer token (a host secret)");
	h += 7;
	while (*h == ' ')
		h++;
	if (strncmp(h, "khs_", 4) != 0 || strlen(h) > 200)
		return kerr_set(e, -EACCES, "",
		                "image data is for agents: this needs a host secret");
	digest = sha256_hex(h, strlen(h));
	list_query_init(&q);
	query_add_eq(&q, "secret_hash", digest);
	q.limit = 1;
	r = store_list("hosts", &q, &hosts, &total);
	list_query_free(&q);
	free(digest);
	if (r == 0 && total >= 1 && ret_host)
		snprintf(ret_host, UUID_LEN + 1, "%s", jstr(json_array_get(hosts, 0), "id"));
	json_decref(hosts);
	if (r < 0)
		return kerr_set(e, -ENOTCONN, "", "the store is busy; retry");
	if (total < 1)
		return kerr_set(e, -EACCES, "", "bad host secret");
	return 0;
}

static void image_data(struct http_request *req, struct http_response *resp)
{
	const char *id = http_param(req, "id");
	struct kerr e = { 0 };
	json_t *img = NULL;
	uint64_t size = 0;
	int fd = -1, r;

	r = agent_check(req, NULL, &e);
	if (r < 0)
		goto fail;
	if (!id || !uuid_valid(id) || store_get("images", id, NULL, false, &img) < 0) {
		kerr_set(&e, -ENOENT, "", "no image with id %s", id ? id : "");
		goto fail;
	}
	if (strcmp(jstr(img, "status"), "active") != 0) {
		kerr_set(&e, -EBUSY, "", "image %s is %s, not active", jstr(img, "name"),
		         jstr(img, "status"));
		goto fail;
	}
	r = image_open(id, &fd, &size);
	if (r < 0) {
		log_warn("image %s is active but its bytes cannot be read: %s", id, strerror(-r));
		kerr_set(&e, r == -ENOENT ? -ENOENT : -EIO, "", "the bytes of image %s are missing",
		         jstr(img, "name"));
		goto fail;
	}
	http_set_header(resp, "X-Image-Sha256", jstr(img, "sha256"));
	http_reply_fd(resp, 200, "application/octet-stream", fd, 0, size);
	json_decref(img);
	return;
fail:
	json_decref(img);
	api_reply_error(resp, &e);
}

/* A host uploads an image it made from a volume or a snapshot (api_export.c):
 * only the host the image record names, only while it is uploading. */
static void agent_upload_open(struct http_request *req, struct http_response *resp)
{
	const char *id = http_param(req, "id");
	char host[UUID_LEN + 1] = "";
	struct kerr e = { 0 };
	struct upload *u;
	json_t *img = NULL;
	int r;

	r = agent_check(req, host, &e);
	if (r == 0 && (!id || !uuid_valid(id) || store_get("images", id, NULL, false, &img) < 0))
		r = kerr_set(&e, -ENOENT, "", "no image with id %s", id ? id : "");
	if (r == 0 && (!jstr(img, "export_host_id") || strcmp(jstr(img, "export_host_id"), host) ||
	               strcmp(jstr(img, "status"), "uploading")))
		r = kerr_set(&e, -EBUSY, "", "image %s takes no upload from this host",
		             jstr(img, "name"));
	if (r == 0) {
		u = xcalloc(1, sizeof(*u));
		snprintf(u->id, sizeof(u->id), "%s", id);
		u->agent = true;
		r = image_writer_open(u->id, (uint64_t)kumod_cfg.image_max_bytes, &u->w, &e);
		if (r < 0)
			free(u);
		else
			http_sink_set(req, upload_write, upload_abort, u);
	}
	json_decref(img);
	if (r < 0)
		api_reply_error(resp, &e);
}

static void agent_image_upload(struct http_request *req, struct http_response *resp)
{
	if (http_sink_opening(req))
		agent_upload_open(req, resp);
	else
		upload_finish(req, resp);
}

const struct route api_image_routes[] = {
	API_CRUD_ROUTES("images", "images", image_list, image_get, image_create, image_update,
	                image_delete, ROLE_VIEWER, ROLE_MEMBER, &image_create_schema,
	                &image_update_schema),
	{ "POST", "/v1/images/{id}/upload", image_upload, ROLE_MEMBER, NULL,
	  HTTP_RAW_BODY | HTTP_SINK, "Upload the image's bytes (streamed, checked)", SIZE_MAX,
	  "images" },
	{ "GET", "/agent/v1/images/{id}/data", image_data, ROLE_NONE, NULL, 0,
	  "An active image's bytes, for agents (host secret)", 0, "agent" },
	{ "POST", "/agent/v1/images/{id}/upload", agent_image_upload, ROLE_NONE, NULL,
	  HTTP_RAW_BODY | HTTP_SINK,
	  "The bytes of an image a host made from a volume or snapshot (host secret)", SIZE_MAX,
	  "agent" },
	{ NULL },
};
