// SPDX-License-Identifier: MIT
/*
 * /v1/events: the log of state changes, as a list (?after=ID&limit=N) or,
 * with ?follow=1, as server-sent events that resume from Last-Event-ID.
 * Tenants see their own account's events; admins see all.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"
#include "kumod/api.h"
#include "kumod/events.h"
#include "kumod/host.h"
#include "kumod/store.h"

#define KEEPALIVE_MS 15000

struct follow {
	char account_id[UUID_LEN + 1]; /* "" = all */
	int64_t last_seq;
	struct buf pending; /* bytes not yet handed to the server */
	size_t pos;
	int64_t last_write;
};

static int parse_seq(const char *s, int64_t *ret)
{
	char *end;
	long long v;

	if (!s)
		return 0;
	v = strtoll(s, &end, 10);
	if (*s == '\0' || *end || v < 0)
		return -EINVAL;
	*ret = v;
	return 0;
}

static ssize_t follow_read(void *cls, char *out, size_t max)
{
	struct follow *f = cls;

	if (f->pos >= f->pending.len) {
		json_t *evs = NULL, *ev;
		size_t i;

		if (host_stopping())
			return -1; /* kumod is stopping: end the stream */
		buf_reset(&f->pending);
		f->pos = 0;
		store_release(); /* no store connection held while waiting */
		event_wait(f->last_seq, 1000);
		if (store_event_list(f->last_seq, f->account_id[0] ? f->account_id : NULL, 100,
		                     &evs) == 0) {
			json_array_foreach(evs, i, ev)
			{
				char *s = jdump(ev);

				f->last_seq = jint(ev, "id", f->last_seq);
				buf_printf(&f->pending, "id: %lld\nevent: %s\ndata: %s\n\n",
				           (long long)f->last_seq, jstr(ev, "type"), s);
				free(s);
			}
			json_decref(evs);
		}
		if (f->pending.len == 0 && mono_ms() - f->last_write >= KEEPALIVE_MS)
			buf_puts(&f->pending, ": keepalive\n\n");
		if (f->pending.len == 0)
			return 0;
		f->last_write = mono_ms();
	}
	return (ssize_t)buf_drain(&f->pending, &f->pos, out, max);
}

static void follow_free(void *cls)
{
	struct follow *f = cls;

	buf_free(&f->pending);
	free(f);
}

static void event_list(struct http_request *req, struct http_response *resp)
{
	const char *acct = IS_ADMIN(req) ? NULL : AUTH(req)->account_id;
	const char *follow = http_query(req, "follow");
	int64_t after = 0, limit = 100;
	json_t *evs = NULL;
	int r;

	static const char *const unsupported[] = { "q", "sort", "offset", "fields" };

	for (size_t k = 0; k < ARRAY_SIZE(unsupported); k++) {
		if (http_query(req, unsupported[k])) {
			http_reply_error(resp, -EINVAL, unsupported[k],
			                 "events are read in order with after=ID and limit=N; "
			                 "%s is not supported here",
			                 unsupported[k]);
			return;
		}
	}
	if (parse_seq(http_query(req, "after"), &after) < 0) {
		http_reply_error(resp, -EINVAL, "after", "after must be an event id");
		return;
	}
	if (parse_seq(http_query(req, "limit"), &limit) < 0 || limit < 1 || limit > 1000) {
		http_reply_error(resp, -EINVAL, "limit", "limit must be between 1 and 1000");
		return;
	}
	if (follow && (!strcmp(follow, "1") || !strcmp(follow, "true"))) {
		struct follow *f = xcalloc(1, sizeof(*f));
		const char *last = http_header(req, "Last-Event-ID");

		buf_init(&f->pending, 1 << 20);
		snprintf(f->account_id, sizeof(f->account_id), "%s", acct ? acct : "");
		f->last_seq = http_query(req, "after") ? after : store_event_last_seq();
		if (last && parse_seq(last, &after) == 0)
			f->last_seq = after;
		f->last_write = mono_ms();
		buf_puts(&f->pending, ": kumo events\n\n");
		http_reply_stream(resp, 200, "text/event-stream", follow_read, f, follow_free);
		return;
	}
	r = store_event_list(after, acct, limit, &evs);
	if (r < 0) {
		http_reply_error(resp, r, "", "cannot read events");
		return;
	}
	http_reply_json(
	    resp, 200,
	    json_pack("{s:o,s:I}", "items", evs, "total", (json_int_t)json_array_size(evs)));
}

const struct route api_event_routes[] = {
	{ "GET", "/v1/events", event_list, ROLE_VIEWER, NULL, HTTP_STREAM,
	  "List events (?after=ID&limit=N), or follow them with ?follow=1 (text/event-stream)", 0,
	  "events" },
	{ NULL },
};
