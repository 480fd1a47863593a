// SPDX-License-Identifier: MIT
/*
 * Jobs and events in kumo: waiting for a job (GET /v1/jobs/{id}?wait=5 in a
 * loop, a progress line on a terminal), `kumo job wait`, and `kumo event
 * follow`, which reads the server-sent event stream of
 * GET /v1/events?follow=1 through a small incremental SSE parser. The job
 * and event list/get verbs are the generic ones of cli_resource.c.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/error.h"
#include "common/http_client.h"
#include "common/json.h"
#include "common/util.h"

#define SSE_LINE_MAX (1024 * 1024)

static bool job_final(const char *state)
{
	return state && (strcmp(state, "succeeded") == 0 || strcmp(state, "failed") == 0 ||
	                 strcmp(state, "cancelled") == 0);
}

void cli_job_line(const json_t *job, bool short_id, char *out, size_t outlen)
{
	const char *id = jstr(job, "id"), *type = jstr(job, "type"), *state = jstr(job, "state");
	int64_t progress = jint(job, "progress", -1);
	char pct[16] = "";

	if (!id)
		id = "?";
	if (state && strcmp(state, "running") == 0 && progress >= 0 && progress <= 100)
		snprintf(pct, sizeof(pct), " %d%%", (int)progress);
	if (short_id && strlen(id) > 8)
		snprintf(out, outlen, "job %.8s\xe2\x80\xa6 %s %s%s", id, type ? type : "-",
		         state ? state : "-", pct);
	else
		snprintf(out, outlen, "job %s %s %s%s", id, type ? type : "-", state ? state : "-",
		         pct);
	cli_sanitize(out);
}

/* What a finished job leaves on stdout: -o json the job as answered, else
 * the resource in its result (if any). 0 when it succeeded. */
static int job_done(struct cli_ctx *ctx, const struct http_result *res)
{
	const json_t *job = res->json, *result = json_object_get(job, "result");
	const char *state = jstr(job, "state");
	const json_t *e = json_object_get(job, "error");
	char msg[CLI_ERR_MAX];

	if (ctx->g.output == CLI_OUT_JSON)
		cli_print_raw(ctx->out, res->body, res->body_len);
	else if (strcmp(state, "succeeded") == 0 && json_is_object(result) &&
	         json_object_size(result) > 0)
		cli_print_object(ctx->out, result);
	if (strcmp(state, "succeeded") == 0)
		return 0;
	if (strcmp(state, "failed") == 0)
		snprintf(msg, sizeof(msg), "%s: %s", jstr(e, "code") ? jstr(e, "code") : "Failed",
		         jstr(e, "message") ? jstr(e, "message") : "the job failed");
	else
		snprintf(msg, sizeof(msg), "Cancelled: job %s was cancelled", jstr(job, "id"));
	cli_sanitize(msg);
	fprintf(ctx->err, "error: %s\n", msg);
	return CLI_EXIT_API;
}

/* Ctrl-C while waiting: end the progress line and say how to wait again
 * (prepared before, written with write(2) from the handler). */
static char interrupt_msg[256];
static size_t interrupt_len;

static void on_interrupt(int sig)
{
	ssize_t n = write(STDERR_FILENO, interrupt_msg, interrupt_len);

	(void)n;
	signal(sig, SIG_DFL);
	raise(sig);
}

int cli_job_wait(struct cli_ctx *ctx, const char *job_id, long timeout_s)
{
	bool tty = isatty(fileno(ctx->err));
	struct sigaction sa = { .sa_handler = on_interrupt }, old_int;
	int64_t deadline = mono_ms() + (int64_t)timeout_s * 1000;
	char *eid = http_escape(job_id), *safe_id, line[256];
	int r;

	safe_id = xstrdup(job_id);
	cli_sanitize(safe_id);
	snprintf(interrupt_msg, sizeof(interrupt_msg),
	         "%sinterrupted; the job goes on: kumo job wait %s\n", tty ? "\n" : "", safe_id);
	interrupt_len = strlen(interrupt_msg);
	sigaction(SIGINT, &sa, &old_int);
	for (;;) {
		struct http_result res;
		int64_t start = mono_ms(), left = (deadline - start + 999) / 1000;
		long wait = left < CLI_WAIT_POLL ? (long)left : CLI_WAIT_POLL;
		const char *state;
		char *path;

		if (wait < 0)
			wait = 0;
		path = xasprintf("/v1/jobs/%s?wait=%ld", eid, wait);
		r = cli_call(ctx, "GET", path, NULL, wait + 30, &res);
		free(path);
		if (r)
			break;
		state = jstr(res.json, "state");
		if (!state) {
			fprintf(ctx->err, "error: the job answer has no state\n");
			http_result_clear(&res);
			r = CLI_EXIT_API;
			break;
		}
		if (job_final(state)) {
			cli_job_line(res.json, false, line, sizeof(line));
			fprintf(ctx->err, tty ? "\r%s\033[K\n" : "%s\n", line);
			r = job_done(ctx, &res);
			http_result_clear(&res);
			break;
		}
		if (tty) {
			cli_job_line(res.json, true, line, sizeof(line));
			fprintf(ctx->err, "\r%s\033[K", line);
			fflush(ctx->err);
		}
		http_result_clear(&res);
		if (mono_ms() >= deadline) {
			fprintf(ctx->err,
			        "%serror: gave up after %ld s; the job goes on: kumo job wait %s\n",
			        tty ? "\n" : "", timeout_s, safe_id);
			r = CLI_EXIT_API;
			break;
		}
		/* A server that answers at once must not make us spin. */
		if (mono_ms() - start < 1000)
			sleep(1);
	}
	sigaction(SIGINT, &old_int, NULL);
	free(safe_id);
	free(eid);
	return r;
}

int cli_cmd_job_wait(struct cli_ctx *ctx, const struct cli_group *g, const struct cli_verb *v,
                     struct cli_args *a)
{
	return cli_job_wait(ctx, a->pos[0], a->timeout > 0 ? a->timeout : CLI_WAIT_TIMEOUT_DEFAULT);
}

/* ---- server-sent events ---- */

void cli_sse_init(struct cli_sse *s, int (*on_event)(void *cls, const char *id, const char *data),
                  void *cls)
{
	memset(s, 0, sizeof(*s));
	s->on_event = on_event;
	s->cls = cls;
}

void cli_sse_free(struct cli_sse *s)
{
	free(s->line);
	free(s->data);
	s->line = s->data = NULL;
	s->len = s->cap = s->dlen = 0;
}

static void sse_data_append(struct cli_sse *s, const char *v, size_t n)
{
	s->data = xrealloc(s->data, s->dlen + n + 2);
	if (s->dlen)
		s->data[s->dlen++] = '\n';
	memcpy(s->data + s->dlen, v, n);
	s->dlen += n;
	s->data[s->dlen] = '\0';
}

/* One complete line (without its end). */
static int sse_line(struct cli_sse *s, const char *line, size_t n)
{
	const char *colon, *v;
	size_t fn, vn;
	int r = 0;

	if (n == 0) {
		/* dispatch */
		if (s->data) {
			r = s->on_event(s->cls, s->id, s->data);
			free(s->data);
			s->data = NULL;
			s->dlen = 0;
		}
		return r;
	}
	if (line[0] == ':')
		return 0; /* comment (keep-alive) */
	colon = memchr(line, ':', n);
	fn = colon ? (size_t)(colon - line) : n;
	v = colon ? colon + 1 : line + n;
	vn = n - (size_t)(v - line);
	if (vn > 0 && *v == ' ') {
		v++;
		vn--;
	}
	if (fn == 4 && memcmp(line, "data", 4) == 0) {
		sse_data_append(s, v, vn);
	} else if (fn == 2 && memcmp(line, "id", 2) == 0) {
		if (vn < sizeof(s->id) && !memchr(v, '\0', vn)) {
			memcpy(s->id, v, vn);
			s->id[vn] = '\0';
		}
	}
	/* "event:" and "retry:" are not used by kumod */
	return 0;
}

int cli_sse_feed(struct cli_sse *s, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char ch = p[i];
		int r;

		if (ch == '\n' && s->last_cr) {
			s->last_cr = false; /* the second half of "\r\n" */
			continue;
		}
		s->last_cr = ch == '\r';
		if (ch == '\n' || ch == '\r') {
			r = sse_line(s, s->line ? s->line : "", s->len);
			s->len = 0;
			if (r)
				return r;
			continue;
		}
		if (s->len + 2 > s->cap) {
			if (s->cap >= SSE_LINE_MAX)
				return -EMSGSIZE;
			s->cap = s->cap ? s->cap * 2 : 256;
			s->line = xrealloc(s->line, s->cap);
		}
		s->line[s->len++] = ch;
		s->line[s->len] = '\0';
	}
	return 0;
}

char *cli_event_line(const json_t *ev)
{
	const json_t *data = json_object_get(ev, "data");
	char *d = NULL, *line;
	char *id = cli_value_text(json_object_get(ev, "resource_id"));

	if (data && !json_is_null(data))
		d = jdump(data);
	line = xasprintf("%s %s %s/%s%s%s", jstr(ev, "time") ? jstr(ev, "time") : "-",
	                 jstr(ev, "type") ? jstr(ev, "type") : "-",
	                 jstr(ev, "resource_kind") ? jstr(ev, "resource_kind") : "-", id,
	                 d ? " " : "", d ? d : "");
	free(d);
	free(id);
	cli_sanitize(line);
	return line;
}

struct follow {
	struct cli_ctx *ctx; /* weak */
	struct cli_sse sse;
	bool live; /* this connection delivered bytes */
	int err;   /* the parser's error, which ended the stream */
};

static int follow_event(void *cls, const char *id, const char *data)
{
	struct follow *f = cls;
	json_t *ev = jparse(data, strlen(data), NULL, 0);
	char *line;

	if (!json_is_object(ev)) {
		json_decref(ev);
		return 0; /* not an event: skip it */
	}
	line = f->ctx->g.output == CLI_OUT_JSON ? jdump(ev) : cli_event_line(ev);
	fprintf(f->ctx->out, "%s\n", line);
	fflush(f->ctx->out);
	free(line);
	json_decref(ev);
	return 0;
}

static int follow_data(void *cls, const char *data, size_t len)
{
	struct follow *f = cls;

	if (len > 0)
		f->live = true;
	f->err = cli_sse_feed(&f->sse, data, len);
	return f->err;
}

int cli_cmd_event_follow(struct cli_ctx *ctx, const struct cli_group *g, const struct cli_verb *v,
                         struct cli_args *a)
{
	struct http_client *c = cli_http(ctx);
	struct follow f = { .ctx = ctx };
	char hdr[160];
	int r;

	if (!c) {
		fprintf(ctx->err, "error: cannot use the URL %s\n", ctx->url);
		return CLI_EXIT_NET;
	}
	cli_sse_init(&f.sse, follow_event, &f);
	for (;;) {
		f.live = false;
		if (f.sse.id[0]) {
			/* resume where the last connection ended */
			snprintf(hdr, sizeof(hdr), "Last-Event-ID: %s", f.sse.id);
			http_client_add_header(c, hdr);
		}
		r = http_client_stream(c, "/v1/events?follow=1", follow_data, &f);
		if (r == 0 && f.err)
			r = f.err;
		if (r == 0 && f.live) {
			/* the server ended a live stream (restart, proxy): reconnect */
			f.sse.len = 0;
			f.sse.last_cr = false;
			free(f.sse.data);
			f.sse.data = NULL;
			f.sse.dlen = 0;
			sleep(1);
			continue;
		}
		break;
	}
	cli_sse_free(&f.sse);
	if (r == 0) {
		fprintf(ctx->err, "error: the server ended the event stream\n");
		return CLI_EXIT_API;
	}
	if (r == -ECONNREFUSED || r == -ETIMEDOUT || r == -EIO) {
		/* -EIO is also what a 5xx answer becomes: say both */
		fprintf(ctx->err, "error: cannot reach %s or read its event stream: %s\n", ctx->url,
		        strerror(-r));
		return CLI_EXIT_NET;
	}
	if (r == -EMSGSIZE) {
		fprintf(ctx->err, "error: an event line over 1 MiB\n");
		return CLI_EXIT_API;
	}
	fprintf(ctx->err, "error: %s: the event stream was refused\n", error_code_name(r));
	if (r == -EACCES && !ctx->token)
		fprintf(ctx->err, "hint: log in first: kumo login --account A --user U\n");
	return CLI_EXIT_API;
}
