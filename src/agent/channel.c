// SPDX-License-Identifier: MIT
/*
 * One host's channel to kumod (see channel.h and docs/API.md, "Agent
 * channel"). Two threads per host, each with its own HTTP connection:
 *
 *   poller    (this file) registers when the host has no identity, then
 *             long-polls GET /agent/v1/hosts/{id}/commands?wait=W and hands
 *             what it gets to the executor: new commands are queued (in the
 *             journal), a command already done has its stored result sent
 *             again, one still in progress is ignored.
 *   executor  (channel_exec.c) gives every queued command a due time and
 *             runs it when it is due, keeps the journal, posts the results
 *             and heartbeats.
 *
 * This file also holds the host's identity and its file, the bookkeeping of
 * kumod's reachability, the callbacks the driver is given (struct
 * driver_env: progress, VM changes, fetch and upload through kumod) and the
 * host's lifecycle (agent_host_new, _start, _join, _free). It does not run
 * commands or post their results: channel_exec.c does. What the two files
 * share is in channel_int.h.
 *
 * Nothing is lost when kumod is away: results stay in the journal as "not
 * sent" until kumod acknowledges them, across restarts. Transport errors
 * are retried with backoff (0.5 s doubling to 5 s) and logged once per
 * outage for the whole process. A 401 means the host was deleted or its
 * secret is wrong: the identity is dropped and the host registers again
 * (under the same name; unsent results are kept).
 *
 * Locking: h->lock guards everything in struct agent_host below it, and the
 * journal and driver state; HTTP calls are made without it. a->lock guards
 * the process-wide reachability bookkeeping.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/channel.h"
#include "agent/channel_int.h"
#include "agent/fence.h"
#include "agent/exec.h"
#include "agent/host_int.h"
#include "agent/journal.h"
#include "agent/net.h"
#include "common/http_client.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"

#define POLL_COMMANDS_MAX 10000 /* commands taken from one poll answer */
#define IDENTITY_FILE_MAX 65536
#define SECRET_MAX 1024
#define DEFAULT_HEARTBEAT_S 5
#define DEFAULT_POLL_WAIT_S 25

static const char *call_name(enum call what)
{
	switch (what) {
	case CALL_REGISTER:
		return "register";
	case CALL_POLL:
		return "poll";
	case CALL_RESULTS:
		return "results";
	case CALL_HEARTBEAT:
		return "heartbeat";
	case CALL_TRANSPORT:
		break;
	}
	return "?";
}

/* A host id goes into URL paths: only [A-Za-z0-9._-]. */
static bool host_id_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n < 1 || n > JOURNAL_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.'))
			return false;
	}
	return true;
}

/* A secret goes into a header: printable ASCII, no spaces. */
static bool secret_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n < 1 || n > SECRET_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

/* A short, single-line excerpt of an HTTP body for a log line. */
void chan_body_excerpt(const struct http_result *res, char *out, size_t outlen)
{
	size_t i;

	snprintf(out, outlen, "%s", res->body ? res->body : "");
	for (i = 0; out[i]; i++)
		if ((unsigned char)out[i] < 0x20)
			out[i] = ' ';
	if (i + 1 == outlen && outlen > 4)
		memcpy(out + outlen - 4, "...", 4);
}

/* --- reachability of kumod (process-wide, logged once per outage) ------- */

static void note_down(struct agent_host *h, enum call what, bool transport, const char *why)
{
	struct agent *a = h->a;

	pthread_mutex_lock(&a->lock);
	if (!h->down)
		a->hosts_down++;
	h->down |= transport ? CALL_TRANSPORT : what;
	if (!a->outage_logged) {
		a->outage_logged = true;
		log_warn("cannot reach kumod at %s (host %s, %s: %s); retrying with backoff",
		         a->server, h->name, call_name(what), why);
	} else {
		log_debug("host %s: %s: %s", h->name, call_name(what), why);
	}
	pthread_mutex_unlock(&a->lock);
}

void chan_note_up(struct agent_host *h, enum call what)
{
	struct agent *a = h->a;

	pthread_mutex_lock(&a->lock);
	if (h->down & (what | CALL_TRANSPORT)) {
		h->down &= ~(unsigned)(what | CALL_TRANSPORT);
		if (!h->down)
			a->hosts_down--;
		if (a->hosts_down == 0 && a->outage_logged) {
			a->outage_logged = false;
			log_info("kumod at %s is reachable again", a->server);
		}
	}
	pthread_mutex_unlock(&a->lock);
}

/* Transport failure or a status that means "try again later". */
void chan_note_failure(struct agent_host *h, enum call what, int r, const struct http_result *res)
{
	char why[300];

	if (r < 0) {
		snprintf(why, sizeof(why), "%s", res->error[0] ? res->error : strerror(-r));
	} else {
		char body[120];

		chan_body_excerpt(res, body, sizeof(body));
		snprintf(why, sizeof(why), "HTTP %ld %s", res->status, body);
	}
	note_down(h, what, r < 0, why);
}

/* --- identity ----------------------------------------------------------- */

static void identity_clear(struct agent_host *h)
{
	h->have_id = false;
	free(h->host_id);
	h->host_id = NULL;
	if (h->secret) {
		explicit_bzero(h->secret, strlen(h->secret));
		free(h->secret);
	}
	h->secret = NULL;
}

/* Sets the identity from a register answer or the identity file. */
static int identity_set(struct agent_host *h, const json_t *o)
{
	const char *id = jstr(o, "host_id"), *secret = jstr(o, "secret");
	int64_t hb = jint(o, "heartbeat_interval", DEFAULT_HEARTBEAT_S);
	int64_t wait = jint(o, "poll_wait", DEFAULT_POLL_WAIT_S);

	if (!host_id_valid(id) || !secret_valid(secret))
		return -EINVAL;
	identity_clear(h);
	h->host_id = xstrdup(id);
	h->secret = xstrdup(secret);
	h->heartbeat_s = hb >= 1 && hb <= 3600 ? hb : DEFAULT_HEARTBEAT_S;
	h->poll_wait_s = wait >= 1 && wait <= 300 ? wait : DEFAULT_POLL_WAIT_S;
	h->have_id = true;
	return 0;
}

static void identity_load(struct agent_host *h)
{
	char *data = NULL;
	json_t *o = NULL;
	size_t len;
	int r;

	r = file_read(h->identity_path, IDENTITY_FILE_MAX, &data, &len);
	if (r == -ENOENT)
		return;
	if (r == 0)
		o = jparse(data, len, NULL, 0);
	if (r < 0 || identity_set(h, o) < 0)
		log_warn("host %s: ignoring identity file %s (%s); registering again", h->name,
		         h->identity_path, r < 0 ? strerror(-r) : "not a valid identity");
	json_decref(o);
	free(data);
}

static int identity_save(struct agent_host *h)
{
	json_t *o = json_pack("{s:s, s:s, s:I, s:I}", "host_id", h->host_id, "secret", h->secret,
	                      "heartbeat_interval", (json_int_t)h->heartbeat_s, "poll_wait",
	                      (json_int_t)h->poll_wait_s);
	char *s = jdump(o);
	int r;

	r = file_write_atomic(h->identity_path, s, strlen(s), 0600);
	explicit_bzero(s, strlen(s));
	free(s);
	json_decref(o);
	return r;
}

/* kumod answered 401 to a call made with identity generation gen: forget
 * the identity (once), so that the poller registers again. Unsent results
 * are kept and go out under the new identity: kumod gives a host that
 * registers again under its name its old record back, and ignores results
 * of commands it does not know. Called with h->lock held. */
void chan_identity_invalidate(struct agent_host *h, unsigned gen)
{
	if (!h->have_id || atomic_load(&h->gen) != gen)
		return;
	log_warn("host %s (%s): kumod answered 401 (host deleted or secret wrong); registering "
	         "again",
	         h->name, h->host_id);
	if (unlink(h->identity_path) < 0 && errno != ENOENT)
		log_warn("host %s: cannot remove %s: %s", h->name, h->identity_path,
		         strerror(errno));
	identity_clear(h);
	atomic_fetch_add(&h->gen, 1);
	pthread_cond_broadcast(&h->poll_cond);
	pthread_cond_broadcast(&h->exec_cond);
}

/* Facts for register and heartbeat. Called with h->lock held. */
json_t *chan_host_facts(struct agent_host *h)
{
	json_t *facts = json_object();

	h->a->driver->facts(h->dh, facts);
	jset_str(facts, "version", AGENT_VERSION);
	return facts;
}

static int read_join_token(const char *path, char **ret)
{
	char *data, *p;
	int r;

	r = file_read(path, 4096, &data, NULL);
	if (r < 0)
		return r;
	p = data;
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	str_rstrip(p);
	if (!*p) {
		free(data);
		return -ENODATA;
	}
	*ret = xstrdup(p);
	explicit_bzero(data, strlen(data));
	free(data);
	return 0;
}

/* The host's networks (net.h), with the qemu driver, once it has an id. */
static void host_net_setup(struct agent_host *h)
{
	if (!h->net && h->have_id && !strcmp(h->a->driver->name, "qemu"))
		h->net = net_open(h->dir, h->host_id, h->name);
}

/* POST /agent/v1/register. 0 when the host has an identity afterwards. */
static int host_register(struct agent_host *h, struct http_client *c)
{
	struct agent *a = h->a;
	struct http_result res;
	char *token = NULL;
	json_t *body;
	int r;

	r = read_join_token(a->token_file, &token);
	if (r < 0) {
		pthread_mutex_lock(&a->lock);
		if (!a->refusal_logged)
			log_err("cannot read the join token from %s: %s", a->token_file,
			        r == -ENODATA ? "file is empty" : strerror(-r));
		a->refusal_logged = true;
		pthread_mutex_unlock(&a->lock);
		return r;
	}
	pthread_mutex_lock(&h->lock);
	body = json_pack("{s:s, s:s, s:s, s:o}", "join_token", token, "name", h->name, "address",
	                 a->address, "facts", chan_host_facts(h));
	pthread_mutex_unlock(&h->lock);
	if (a->cluster_id)
		jset_str(body, "cluster_id", a->cluster_id);
	explicit_bzero(token, strlen(token));
	free(token);

	http_client_set_token(c, NULL);
	r = http_client_request(c, "POST", "/agent/v1/register", body, CALL_TIMEOUT_S, &res);
	json_decref(body);
	if (r == -ECANCELED)
		goto out;
	if (r < 0 || res.status >= 500 || res.status == 429 || res.status == 408) {
		chan_note_failure(h, CALL_REGISTER, r, &res);
		r = r < 0 ? r : -EAGAIN;
		goto out;
	}
	chan_note_up(h, CALL_REGISTER);
	if (res.status != 200 && res.status != 201) {
		char excerpt[200];

		chan_body_excerpt(&res, excerpt, sizeof(excerpt));
		pthread_mutex_lock(&a->lock);
		if (!a->refusal_logged)
			log_err("kumod refused to register host %s: HTTP %ld %s (check the join "
			        "token in %s)",
			        h->name, res.status, excerpt, a->token_file);
		else
			log_debug("host %s: registration refused: HTTP %ld", h->name, res.status);
		a->refusal_logged = true;
		pthread_mutex_unlock(&a->lock);
		r = -EACCES;
		goto out;
	}
	pthread_mutex_lock(&h->lock);
	r = identity_set(h, res.json);
	if (r < 0) {
		pthread_mutex_unlock(&h->lock);
		log_err("host %s: kumod's answer to register has no valid host_id and secret",
		        h->name);
		goto out;
	}
	r = identity_save(h);
	if (r < 0)
		log_err("host %s: cannot write %s: %s (the host registers again after a restart)",
		        h->name, h->identity_path, strerror(-r));
	log_info("host %s registered as %s", h->name, h->host_id);
	pthread_cond_broadcast(&h->exec_cond);
	pthread_mutex_unlock(&h->lock);
	host_net_setup(h); /* before the first poll: no command runs yet */
	r = 0;
out:
	http_result_clear(&res);
	return r;
}

/* --- the poller ------------------------------------------------------- */

struct poll_cancel {
	struct agent_host *h; /* weak */
	unsigned gen;         /* the identity the current request uses */
};

static int poll_cancelled(void *cls)
{
	struct poll_cancel *pc = cls;

	return stopping(pc->h->a) || atomic_load(&pc->h->gen) != pc->gen;
}

/* Sleeps up to ms, less when stopping. */
static void poller_sleep(struct agent_host *h, int64_t ms)
{
	int64_t deadline = mono_ms() + ms;
	struct timespec ts;

	ms_to_timespec(deadline, &ts);
	pthread_mutex_lock(&h->lock);
	while (!stopping(h->a) && mono_ms() < deadline)
		pthread_cond_timedwait(&h->poll_cond, &h->lock, &ts);
	pthread_mutex_unlock(&h->lock);
}

static void incoming_push(struct agent_host *h, const char *id)
{
	if (h->nincoming == h->capincoming) {
		h->capincoming = h->capincoming ? h->capincoming * 2 : 16;
		h->incoming = xrealloc(h->incoming, h->capincoming * sizeof(*h->incoming));
	}
	h->incoming[h->nincoming++] = xstrdup(id);
}

static void load_queued(void *cls, const char *id, const char *type, const json_t *payload)
{
	incoming_push(cls, id);
}

/* One command from a poll answer. Called with h->lock held. */
static void accept_command(struct agent_host *h, const json_t *cmd)
{
	const char *id = jstr(cmd, "id"), *type = jstr(cmd, "type"), *result = NULL;
	const json_t *payload = json_object_get(cmd, "payload");
	bool sent = false;
	json_t *res;
	int r;

	switch (journal_cmd_lookup(h->j, id, &result, &sent)) {
	case JCMD_DONE:
		if (sent) {
			log_debug("host %s: command %s delivered again: sending its result again",
			          h->name, id);
			journal_cmd_set_sent(h->j, id, false);
			chan_outbox_push(h, id, result, 0);
		}
		return;
	case JCMD_QUEUED:
		log_debug("host %s: command %s delivered again while in progress: ignored", h->name,
		          id);
		return;
	case JCMD_NEW:
		break;
	}
	r = journal_cmd_queue(h->j, id, type, payload);
	if (r == 0) {
		log_debug("host %s: command %s (%s) received", h->name, id, type);
		incoming_push(h, id);
		return;
	}
	if (r == -EINVAL && journal_id_valid(id)) {
		/* Answerable: fail it rather than leave kumod waiting. */
		log_warn("host %s: command %s has no valid type", h->name, id);
		res = json_pack("{s:s, s:s, s:{s:s, s:s}}", "command_id", id, "status", "failed",
		                "error", "code", "InvalidArgument", "message",
		                "command has no valid type");
		journal_cmd_done(h->j, id, res);
		json_decref(res);
		journal_cmd_lookup(h->j, id, &result, NULL);
		chan_outbox_push(h, id, result, journal_seq(h->j));
	} else if (r == -EINVAL) {
		log_warn("host %s: ignoring a command without a valid id", h->name);
	} else {
		log_warn("host %s: %zu commands queued; not taking command %s now (%s)", h->name,
		         journal_queued_count(h->j), id, strerror(-r));
	}
}

/* Answers the RPCs of a poll answer at once (they are quick reads, not
 * journaled: kumod waits for them and forgets them if it restarts). */
static void answer_rpcs(struct agent_host *h, struct http_client *c, json_t *results)
{
	struct http_result res;
	char path[256];
	json_t *body;
	int r;

	pthread_mutex_lock(&h->lock);
	snprintf(path, sizeof(path), "/agent/v1/hosts/%s/results", h->host_id ? h->host_id : "");
	http_client_set_token(c, h->secret);
	pthread_mutex_unlock(&h->lock);
	body = json_pack("{s:O}", "results", results);
	r = http_client_request(c, "POST", path, body, CALL_TIMEOUT_S, &res);
	if (r < 0 || res.status >= 300)
		log_debug("host %s: cannot answer %zu requests: %s", h->name,
		          json_array_size(results), r < 0 ? strerror(-r) : "refused");
	http_result_clear(&res);
	json_decref(body);
}

/* Takes the commands of a poll answer; -EBADMSG when it has none. */
static int deliver(struct agent_host *h, struct http_client *c, const json_t *answer)
{
	const json_t *cmds = json_object_get(answer, "commands"), *cmd;
	json_t *rpcs = json_array();
	size_t i;

	if (!json_is_array(cmds)) {
		json_decref(rpcs);
		return -EBADMSG;
	}
	if (json_array_size(cmds) == 0) {
		json_decref(rpcs);
		return 0;
	}
	pthread_mutex_lock(&h->lock);
	json_array_foreach(cmds, i, cmd)
	{
		if (i == POLL_COMMANDS_MAX) {
			log_warn("host %s: taking only %d of %zu commands from one poll", h->name,
			         POLL_COMMANDS_MAX, json_array_size(cmds));
			break;
		}
		if (!json_is_object(cmd))
			continue;
		if (jbool(cmd, "rpc", false) && jstr(cmd, "id") &&
		    str_startswith(jstr(cmd, "type") ? jstr(cmd, "type") : "", "node."))
			host_node_rpc(h, cmd);
		else if (jbool(cmd, "rpc", false) && jstr(cmd, "id") && jstr(cmd, "type"))
			json_array_append_new(rpcs, exec_rpc(h->a->driver, h->dh, h->j,
			                                     jstr(cmd, "id"), jstr(cmd, "type"),
			                                     json_object_get(cmd, "payload")));
		else
			accept_command(h, cmd);
	}
	pthread_cond_signal(&h->exec_cond);
	pthread_mutex_unlock(&h->lock);
	if (json_array_size(rpcs) > 0)
		answer_rpcs(h, c, rpcs);
	json_decref(rpcs);
	return 0;
}

/* Register failures worth a quick retry: kumod away or busy. Refusals and
 * bad answers wait the longest. */
static bool register_transient(int r)
{
	return r == -EAGAIN || r == -ECONNREFUSED || r == -ETIMEDOUT || r == -EIO;
}

static void *poller_main(void *arg)
{
	struct agent_host *h = arg;
	struct agent *a = h->a;
	struct poll_cancel pc = { h, 0 };
	struct http_client *c = http_client_new(a->server);
	int64_t backoff = 0;

	if (!c) {
		log_err("host %s: cannot create an HTTP client", h->name);
		return NULL;
	}
	http_client_set_cancel(c, poll_cancelled, &pc);
	while (!stopping(a)) {
		struct http_result res;
		char path[256];
		long wait;
		int r;

		pthread_mutex_lock(&h->lock);
		pc.gen = atomic_load(&h->gen);
		if (h->have_id) {
			http_client_set_token(c, h->secret);
			snprintf(path, sizeof(path), "/agent/v1/hosts/%s/commands?wait=%ld",
			         h->host_id, (long)h->poll_wait_s);
			wait = (long)h->poll_wait_s;
		} else {
			path[0] = '\0';
			wait = 0;
		}
		pthread_mutex_unlock(&h->lock);

		if (!path[0]) {
			r = host_register(h, c);
			if (r < 0 && r != -ECANCELED) {
				backoff =
				    register_transient(r) ? backoff_next(backoff) : BACKOFF_MAX_MS;
				poller_sleep(h, backoff);
			} else {
				backoff = 0;
			}
			continue;
		}

		r = http_client_request(c, "GET", path, NULL, wait + 10, &res);
		if (r == -ECANCELED) {
			/* stopping, or the identity was dropped meanwhile */
		} else if (r == 0 && res.status == 401) {
			pthread_mutex_lock(&h->lock);
			chan_identity_invalidate(h, pc.gen);
			pthread_mutex_unlock(&h->lock);
		} else if (r < 0 || res.status != 200 || deliver(h, c, res.json) < 0) {
			/* (a 200 without a "commands" array counts as a failure too) */
			chan_note_failure(h, CALL_POLL, r, &res);
			backoff = backoff_next(backoff);
			poller_sleep(h, backoff);
		} else {
			chan_note_up(h, CALL_POLL);
			backoff = 0;
		}
		http_result_clear(&res);
	}
	http_client_free(c);
	return NULL;
}

/* --- lifecycle ------------------------------------------------------------ */

static char *host_name(const struct agent *a, unsigned index)
{
	if (a->name)
		return a->nhosts > 1 ? xasprintf("%s-%u", a->name, index + 1) : xstrdup(a->name);
	return xasprintf("%s-%s-%u", a->hostname, a->driver->name, index + 1);
}

struct find_cmd {
	const char *vm_id, *type; /* weak */
	char id[64];
};

static void find_cmd(void *cls, const char *id, const char *type, const json_t *payload)
{
	struct find_cmd *f = cls;
	const char *vm = exec_vm_id(payload);

	if (!f->id[0] && type && !strcmp(type, f->type) && vm && !strcmp(vm, f->vm_id))
		snprintf(f->id, sizeof(f->id), "%s", id);
}

/* driver_env.progress: a "running" result, posted now on a connection of
 * its own (a lost one is harmless: the next one, or the result, follows). */
static void env_progress(void *cls, const char *vm_id, const char *cmd_type, int progress)
{
	struct agent_host *h = cls;
	struct find_cmd f = { vm_id, cmd_type, "" };
	struct http_client *c = NULL;
	struct http_result res;
	char path[256];
	json_t *body;

	pthread_mutex_lock(&h->lock);
	if (h->have_id) {
		journal_cmd_each_queued(h->j, find_cmd, &f);
		snprintf(path, sizeof(path), "/agent/v1/hosts/%s/results", h->host_id);
		if (f.id[0] && (c = http_client_new(h->a->server)))
			http_client_set_token(c, h->secret);
	}
	pthread_mutex_unlock(&h->lock);
	if (!c)
		return;
	body = json_pack("{s:[{s:s,s:s,s:{s:i}}]}", "results", "command_id", f.id, "status",
	                 "running", "data", "progress", progress);
	if (http_client_request(c, "POST", path, body, CALL_TIMEOUT_S, &res) < 0)
		log_debug("host %s: cannot send the progress of %s", h->name, f.id);
	http_result_clear(&res);
	json_decref(body);
	http_client_free(c);
}

/* driver_env.vm_changed */
static void env_vm_changed(void *cls, const char *vm_id, const char *state, const char *reason)
{
	struct agent_host *h = cls;
	struct journal_vm *vm;

	pthread_mutex_lock(&h->lock);
	vm = journal_vm_find(h->j, vm_id);
	if (vm && h->a->driver->vm_state) {
		/* what it is now: a report can arrive after a newer op's result */
		const char *now = h->a->driver->vm_state(h->dh, vm);

		if (now && strcmp(now, state) != 0)
			reason = NULL;
		state = now ? now : state;
	}
	if (vm) {
		if (strcmp(vm->state, state) != 0)
			log_info("host %s: vm %s (%s) is %s%s%s", h->name, vm->name, vm_id, state,
			         reason ? ": " : "", reason ? reason : "");
		journal_vm_set_state(h->j, vm, state);
		snprintf(vm->reason, sizeof(vm->reason), "%s", reason ? reason : "");
		h->heartbeat_now = true;
		pthread_cond_broadcast(&h->exec_cond);
	}
	pthread_mutex_unlock(&h->lock);
}

struct fetch_file {
	int fd;
	int64_t written;
	int err;
};

static int fetch_write(void *cls, const char *data, size_t len)
{
	struct fetch_file *f = cls;

	while (len > 0) {
		ssize_t n = write(f->fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			f->err = -errno;
			return 1;
		}
		data += n;
		len -= (size_t)n;
		f->written += n;
	}
	return 0;
}

/* driver_env.fetch: a GET streamed into dest.part, renamed to dest. */
static int env_fetch(void *cls, const char *path, const char *dest, struct driver_err *e)
{
	struct agent_host *h = cls;
	struct fetch_file f = { -1, 0, 0 };
	struct http_client *c = http_client_new(h->a->server);
	char *part = xasprintf("%s.part", dest);
	int r;

	if (!c) {
		r = driver_fail(e, "Internal", "cannot create an HTTP client");
		goto out;
	}
	http_client_set_cancel(c, stop_cancelled, h->a);
	pthread_mutex_lock(&h->lock);
	http_client_set_token(c, h->secret);
	pthread_mutex_unlock(&h->lock);
	f.fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (f.fd < 0) {
		r = -errno;
		driver_fail(e, "Internal", "cannot create %s: %s", part, strerror(-r));
		goto out;
	}
	r = http_client_stream(c, path, fetch_write, &f);
	if (r == 0 && f.err)
		r = f.err;
	if (r == 0 && fsync(f.fd) < 0)
		r = -errno;
	if (close(f.fd) < 0 && r == 0)
		r = -errno;
	f.fd = -1;
	if (r == 0 && rename(part, dest) < 0)
		r = -errno;
	if (r < 0) {
		unlink(part);
		driver_fail(e, r == -ECANCELED ? "Interrupted" : "FetchFailed",
		            "cannot fetch %s from kumod: %s", path, strerror(-r));
	}
out:
	if (f.fd >= 0)
		close(f.fd);
	free(part);
	http_client_free(c);
	return r;
}

/* driver_env.upload: POSTs the file src to path as the body, as this host. */
static int env_upload(void *cls, const char *path, const char *src, struct driver_err *e)
{
	struct agent_host *h = cls;
	struct http_client *c = http_client_new(h->a->server);
	struct http_result res = { 0 };
	struct stat sb;
	int fd = -1, r;

	if (!c)
		return driver_fail(e, "Internal", "cannot create an HTTP client");
	http_client_set_cancel(c, stop_cancelled, h->a);
	pthread_mutex_lock(&h->lock);
	http_client_set_token(c, h->secret);
	pthread_mutex_unlock(&h->lock);
	fd = open(src, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) < 0) {
		r = driver_fail(e, "Internal", "cannot read %s: %s", src, strerror(errno));
		goto out;
	}
	r = http_client_upload(c, path, NULL, fd, (uint64_t)sb.st_size, NULL, NULL, &res);
	if (r < 0)
		driver_fail(e, r == -ECANCELED ? "Interrupted" : "UploadFailed",
		            "cannot upload to kumod: %s", strerror(-r));
	else if (res.status / 100 != 2)
		r = driver_fail(e, "UploadFailed", "kumod refused the upload (%ld): %.160s",
		                res.status,
		                jstr(json_object_get(res.json, "error"), "message")
		                    ? jstr(json_object_get(res.json, "error"), "message")
		                    : res.body);
out:
	if (fd >= 0)
		close(fd);
	http_result_clear(&res);
	http_client_free(c);
	return r < 0 ? -1 : 0;
}

static void load_unsent(void *cls, const char *id, const char *result)
{
	chan_outbox_push(cls, id, result, 0);
}

static void restore_vm(void *cls, struct journal_vm *vm)
{
	struct agent_host *h = cls;

	h->a->driver->vm_restore(h->dh, vm);
}

int agent_host_new(struct agent *a, unsigned index, struct agent_host **ret)
{
	struct agent_host *h = xcalloc(1, sizeof(*h));
	pthread_condattr_t ca;
	struct kerr warning;
	char *jpath;
	int r;

	h->a = a;
	h->index = index;
	h->name = host_name(a, index);
	h->dir = xasprintf("%s/hosts/%u", a->data_dir, index);
	h->identity_path = xasprintf("%s/identity.json", h->dir);
	atomic_init(&h->gen, 0);
	pthread_mutex_init(&h->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->exec_cond, &ca);
	pthread_cond_init(&h->poll_cond, &ca);
	pthread_cond_init(&h->ops_cond, &ca);
	pthread_condattr_destroy(&ca);
	h->env = (struct driver_env){ .dir = h->dir,
		                      .vm_changed = env_vm_changed,
		                      .fetch = env_fetch,
		                      .upload = env_upload,
		                      .progress = env_progress,
		                      .cls = h };

	r = mkdir_p(h->dir, 0700);
	if (r < 0) {
		log_err("host %s: cannot create %s: %s", h->name, h->dir, strerror(-r));
		goto fail;
	}
	r = a->driver->host_new(a->cfg, index, &h->env, &h->dh);
	if (r < 0) {
		log_err("host %s: the %s driver cannot set up the host: %s", h->name,
		        a->driver->name, strerror(-r));
		goto fail;
	}
	jpath = xasprintf("%s/journal.json", h->dir);
	r = journal_open(jpath, &h->j, &warning);
	free(jpath);
	if (r < 0) {
		log_err("host %s: cannot read its journal: %s", h->name, strerror(-r));
		goto fail;
	}
	if (warning.code)
		log_warn("host %s: %s", h->name, warning.message);
	identity_load(h);
	host_net_setup(h);
	if (a->driver->vm_restore)
		journal_vm_each(h->j, restore_vm, h);
	journal_cmd_each_queued(h->j, load_queued, h);
	journal_cmd_each_unsent(h->j, load_unsent, h);
	if (journal_vm_count(h->j) || h->nincoming || h->nout)
		log_info("host %s: journal has %zu VMs, %zu queued commands, %zu results to send",
		         h->name, journal_vm_count(h->j), h->nincoming, h->nout);
	*ret = h;
	return 0;
fail:
	agent_host_free(h);
	return r;
}

static int start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	int r;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, HOST_THREAD_STACK);
	r = -pthread_create(t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return r;
}

int64_t agent_host_last_up(struct agent_host *h)
{
	return atomic_load(&h->last_up);
}

int agent_host_start(struct agent_host *h)
{
	int r;

	if (h->a->driver->concurrent && !h->fence) {
		r = fence_start(h, h->a->cfg, &h->fence);
		if (r < 0)
			return r;
	}
	r = start_thread(&h->executor, chan_executor_main, h);
	if (r < 0)
		return r;
	h->executor_started = true;
	r = start_thread(&h->poller, poller_main, h);
	if (r < 0)
		return r; /* the caller stops and frees the host */
	h->poller_started = true;
	return 0;
}

void agent_host_wake(struct agent_host *h)
{
	pthread_mutex_lock(&h->lock);
	pthread_cond_broadcast(&h->exec_cond);
	pthread_cond_broadcast(&h->poll_cond);
	pthread_mutex_unlock(&h->lock);
}

void agent_host_join(struct agent_host *h)
{
	if (h->poller_started)
		pthread_join(h->poller, NULL);
	if (h->executor_started)
		pthread_join(h->executor, NULL);
	h->poller_started = h->executor_started = false;
	h->fence = fence_stop(h->fence);
	/* commands running on their own threads: cut slow waits short */
	if (h->dh && h->a->driver->host_stop)
		h->a->driver->host_stop(h->dh);
	pthread_mutex_lock(&h->lock);
	while (h->nops > 0 || h->nrpcs > 0)
		pthread_cond_wait(&h->ops_cond, &h->lock);
	pthread_mutex_unlock(&h->lock);
}

struct agent_host *agent_host_free(struct agent_host *h)
{
	if (!h)
		return NULL;
	agent_host_join(h);
	pthread_mutex_lock(&h->lock);
	while (h->nops > 0 || h->nlocal > 0 || h->nrpcs > 0)
		pthread_cond_wait(&h->ops_cond, &h->lock);
	if (h->j && journal_dirty(h->j) != JOURNAL_CLEAN && journal_save(h->j) < 0)
		log_err("host %s: cannot write the journal %s", h->name, journal_path(h->j));
	pthread_mutex_unlock(&h->lock);
	for (size_t i = 0; i < h->nbusy; i++)
		free(h->busy_vms[i]);
	free(h->busy_vms);
	while (h->out_head)
		chan_outbox_pop(h, false);
	for (size_t i = 0; i < h->nincoming; i++)
		free(h->incoming[i]);
	free(h->incoming);
	for (size_t i = 0; i < h->nheap; i++) {
		free(h->heap[i]->id);
		free(h->heap[i]);
	}
	free(h->heap);
	journal_free(h->j);
	net_free(h->net);
	if (h->dh)
		h->a->driver->host_free(h->dh);
	identity_clear(h);
	pthread_cond_destroy(&h->exec_cond);
	pthread_cond_destroy(&h->poll_cond);
	pthread_cond_destroy(&h->ops_cond);
	pthread_mutex_destroy(&h->lock);
	free(h->identity_path);
	free(h->dir);
	free(h->name);
	free(h);
	return NULL;
}
