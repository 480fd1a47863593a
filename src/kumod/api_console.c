// SPDX-License-Identifier: MIT
/*
 * GET /v1/vms/{id}/console: the VM's serial console, read from its host
 * over the channel (rpc.h). Without follow: JSON {"vm_id", "output",
 * "offset", "next", "truncated"} with the last ?tail=N lines (default 100),
 * or the bytes from position ?offset=N (then "next" is where to go on).
 * With ?follow=1: text/plain, the last tail lines and then new output as it
 * comes, until the client leaves. Invalid UTF-8 arrives as U+FFFD.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/util.h"
#include "kumod/api.h"
#include "kumod/host.h"
#include "kumod/rpc.h"
#include "kumod/store.h"

#define CONSOLE_TAIL_DEFAULT 100
#define CONSOLE_TAIL_MAX 10000
#define CONSOLE_CHUNK 65536
#define FOLLOW_POLL_MS 300

struct console_follow {
	char vm_id[UUID_LEN + 1];
	char host_id[UUID_LEN + 1];
	int64_t next; /* -1: start with the tail */
	int64_t tail;
	struct buf pending;
	size_t pos;
	int64_t last_poll;
};

static int read_console(const char *host_id, const char *vm_id, int64_t offset, int64_t tail,
                        json_t **ret, struct kerr *e)
{
	json_t *p = json_pack("{s:s,s:I,s:I,s:I}", "vm_id", vm_id, "offset", (json_int_t)offset,
	                      "tail", (json_int_t)tail, "max_bytes", (json_int_t)CONSOLE_CHUNK);

	return rpc_call(host_id, "vm.console", p, RPC_TIMEOUT_MS, ret, e);
}

static ssize_t follow_read(void *cls, char *out, size_t max)
{
	struct console_follow *f = cls;

	if (f->pos >= f->pending.len) {
		struct kerr e = { 0 };
		json_t *d = NULL;
		int64_t wait = f->last_poll + FOLLOW_POLL_MS - mono_ms();

		if (host_stopping())
			return -1;
		if (wait > 0) {
			struct timespec ts = { wait / 1000, (long)(wait % 1000) * 1000000L };

			nanosleep(&ts, NULL);
		}
		f->last_poll = mono_ms();
		buf_reset(&f->pending);
		f->pos = 0;
		if (read_console(f->host_id, f->vm_id, f->next, f->tail, &d, &e) < 0) {
			if (e.code == -ENOENT)
				return -1; /* the VM left the host: the stream ends */
			return 0;          /* the host is away: keep waiting */
		}
		f->next = jint(d, "next", f->next);
		if (jstr(d, "output"))
			buf_puts(&f->pending, jstr(d, "output"));
		json_decref(d);
		if (f->pending.len == 0)
			return 0;
	}
	return (ssize_t)buf_drain(&f->pending, &f->pos, out, max);
}

static void follow_free(void *cls)
{
	struct console_follow *f = cls;

	buf_free(&f->pending);
	free(f);
}

static int parse_num(const char *s, int64_t min, int64_t max, int64_t *ret)
{
	char *end;
	long long v;

	if (!s)
		return 0;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

static void vm_console(struct http_request *req, struct http_response *resp)
{
	const char *follow = http_query(req, "follow");
	int64_t tail = CONSOLE_TAIL_DEFAULT, offset = -1;
	struct kerr e = { 0 };
	json_t *vm = NULL, *d = NULL;
	int r;

	if (parse_num(http_query(req, "tail"), 0, CONSOLE_TAIL_MAX, &tail) < 0) {
		http_reply_error(resp, -EINVAL, "tail", "tail must be a number of lines, 0 to %d",
		                 CONSOLE_TAIL_MAX);
		return;
	}
	if (parse_num(http_query(req, "offset"), 0, INT64_MAX, &offset) < 0) {
		http_reply_error(resp, -EINVAL, "offset", "offset must be a byte position");
		return;
	}
	r = api_load(&kind_vm, req, http_param(req, "id"), false, &vm, &e);
	if (r < 0) {
		http_reply_kerr(resp, &e);
		return;
	}
	if (!jstr(vm, "host_id")) {
		http_reply_error(resp, -EBUSY, "", "vm %s is on no host: it has no console",
		                 jstr(vm, "id"));
		goto out;
	}
	if (follow && (!strcmp(follow, "1") || !strcmp(follow, "true"))) {
		struct console_follow *f = xcalloc(1, sizeof(*f));

		snprintf(f->vm_id, sizeof(f->vm_id), "%s", jstr(vm, "id"));
		snprintf(f->host_id, sizeof(f->host_id), "%s", jstr(vm, "host_id"));
		f->next = offset;
		f->tail = tail;
		buf_init(&f->pending, CONSOLE_CHUNK * 4 + 16);
		store_release();
		http_reply_stream(resp, 200, "text/plain; charset=utf-8", follow_read, f,
		                  follow_free);
		goto out;
	}
	store_release(); /* no store connection held while the host answers */
	r = read_console(jstr(vm, "host_id"), jstr(vm, "id"), offset, tail, &d, &e);
	if (r < 0) {
		http_reply_kerr(resp, &e);
		goto out;
	}
	jset_str(d, "vm_id", jstr(vm, "id"));
	http_reply_json(resp, 200, d);
out:
	json_decref(vm);
}

const struct route api_console_routes[] = {
	{ "GET", "/v1/vms/{id}/console", vm_console, ROLE_VIEWER, NULL, HTTP_STREAM | HTTP_BLOCKING,
	  "Serial console: ?tail=N lines (default 100), ?offset=N bytes, ?follow=1 streams", 0,
	  "vms" },
	{ NULL },
};
