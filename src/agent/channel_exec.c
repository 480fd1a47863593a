// SPDX-License-Identifier: MIT
/*
 * The executor of one host's channel to kumod: the second of the host's two
 * threads (channel.c has the first, the poller, with registration, the
 * driver's callbacks and the host's lifecycle; channel_int.h is what the
 * two files share). It has an HTTP connection of its own.
 *
 * It gives every command the poller accepted a due time (now + the driver's
 * simulated duration) and runs it when it is due, so a hundred commands of
 * 200 ms take 200 ms, not 20 s; a concurrent driver's commands run on
 * threads of their own, one at a time per VM. It saves the journal after
 * each batch of changes (debounced) and only then posts the results, in
 * batches, to /results; it posts a heartbeat every interval, and at once
 * when a VM changed by itself. Results wait in the outbox until kumod
 * acknowledges them; a refused batch is sent again one result at a time to
 * find the one kumod refuses.
 *
 * This file does not decide what a command does (exec.c and the driver do)
 * nor how kumod is found and the host registered (channel.c).
 *
 * Locking: as in channel.c. The executor holds h->lock except while it
 * writes the journal's file, talks to kumod or sleeps; a command thread
 * holds it except around its driver calls.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/channel_int.h"
#include "agent/exec.h"
#include "agent/host_int.h"
#include "agent/journal.h"
#include "common/buf.h"
#include "common/http_client.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"

/* Debounce of journal writes that results wait for: at least
 * SAVE_URGENT_MIN_MS apart, and twice as long as the last write took, so a big
 * journal under a stream of commands costs at most a third of the time. */
#define SAVE_URGENT_MIN_MS 5
#define SAVE_URGENT_MAX_MS 1000
#define SAVE_LAZY_MS 2000 /* debounce of bookkeeping-only writes */
#define RESULTS_BATCH_MAX 256
#define RESULTS_BODY_MAX ((size_t)900 * 1024) /* below kumod's 1 MiB body limit */

/* --- outbox ------------------------------------------------------------- */

void chan_outbox_push(struct agent_host *h, const char *id, const char *result, uint64_t seq)
{
	struct outbox_entry *e = xcalloc(1, sizeof(*e));

	e->seq = seq;
	e->id = xstrdup(id);
	e->result = xstrdup(result);
	if (h->out_tail)
		h->out_tail->next = e;
	else
		h->out_head = e;
	h->out_tail = e;
	h->nout++;
}

/* Removes the first entry; sent: mark it acknowledged in the journal. */
void chan_outbox_pop(struct agent_host *h, bool sent)
{
	struct outbox_entry *e = h->out_head;

	if (!e)
		return;
	if (sent)
		journal_cmd_set_sent(h->j, e->id, true);
	h->out_head = e->next;
	if (!h->out_head)
		h->out_tail = NULL;
	h->nout--;
	free(e->id);
	free(e->result);
	free(e);
}

/* --- the executor ----------------------------------------------------- */

struct executor {
	struct agent_host *h;  /* weak */
	struct http_client *c; /* owned */
	int64_t last_save;     /* mono_ms of the last journal write attempt */
	int64_t save_gap;      /* current debounce of urgent writes, ms */
	bool save_failed;
	int64_t next_post, post_backoff;
	int64_t next_heartbeat;
};

static bool pending_before(const struct pending *x, const struct pending *y)
{
	return x->due < y->due || (x->due == y->due && x->seq < y->seq);
}

static void heap_push(struct agent_host *h, struct pending *p)
{
	size_t i;

	if (h->nheap == h->capheap) {
		h->capheap = h->capheap ? h->capheap * 2 : 64;
		h->heap = xrealloc(h->heap, h->capheap * sizeof(*h->heap));
	}
	i = h->nheap++;
	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!pending_before(p, h->heap[parent]))
			break;
		h->heap[i] = h->heap[parent];
		i = parent;
	}
	h->heap[i] = p;
}

static struct pending *heap_pop(struct agent_host *h)
{
	struct pending *top = h->heap[0], *last;
	size_t i = 0;

	last = h->heap[--h->nheap];
	while (h->nheap > 0) {
		size_t child = 2 * i + 1;

		if (child >= h->nheap)
			break;
		if (child + 1 < h->nheap && pending_before(h->heap[child + 1], h->heap[child]))
			child++;
		if (!pending_before(h->heap[child], last))
			break;
		h->heap[i] = h->heap[child];
		i = child;
	}
	if (h->nheap > 0)
		h->heap[i] = last;
	return top;
}

/* Gives the commands the poller accepted their due time. */
static void intake(struct agent_host *h, int64_t now)
{
	for (size_t i = 0; i < h->nincoming; i++) {
		struct pending *p = xcalloc(1, sizeof(*p));
		const char *type = "";

		journal_cmd_queued_get(h->j, h->incoming[i], &type, NULL);
		p->id = h->incoming[i];
		p->due = now + h->a->driver->op_delay_ms(h->dh, type);
		p->seq = h->seq++;
		heap_push(h, p);
	}
	h->nincoming = 0;
}

bool host_vm_busy(const struct agent_host *h, const char *vm_id)
{
	for (size_t i = 0; vm_id && i < h->nbusy; i++)
		if (!strcmp(h->busy_vms[i], vm_id))
			return true;
	return false;
}

void host_vm_busy_set(struct agent_host *h, const char *vm_id, bool busy)
{
	if (!vm_id)
		return;
	if (busy) {
		if (h->nbusy == h->capbusy) {
			h->capbusy = h->capbusy ? 2 * h->capbusy : 16;
			h->busy_vms = xrealloc(h->busy_vms, h->capbusy * sizeof(char *));
		}
		h->busy_vms[h->nbusy++] = xstrdup(vm_id);
		return;
	}
	for (size_t i = 0; i < h->nbusy; i++) {
		if (!strcmp(h->busy_vms[i], vm_id)) {
			free(h->busy_vms[i]);
			h->busy_vms[i] = h->busy_vms[--h->nbusy];
			return;
		}
	}
}

struct op_thread {
	struct agent_host *h; /* weak */
	char *id;             /* owned: the command */
	char *vm_id;          /* owned; NULL when it names none */
};

/* One command of a concurrent driver, on its own thread. */
static void *op_main(void *arg)
{
	struct op_thread *o = arg;
	struct agent_host *h = o->h;
	const json_t *payload = NULL;
	const char *type = NULL, *stored = NULL;
	bool interrupted = false;
	json_t *res, *p;

	pthread_mutex_lock(&h->lock);
	if (journal_cmd_queued_get(h->j, o->id, &type, &payload)) {
		char *t = xstrdup(type);

		p = json_incref((json_t *)payload); /* kept while the lock is let go */
		log_debug("host %s: command %s (%s) starts", h->name, o->id, t);
		res = exec_command_unlocking(h->a->driver, h->dh, h->j, o->id, t, p, &h->lock,
		                             h->net, &interrupted);
		if (interrupted && stopping(h->a)) {
			/* stays queued: it runs again after the restart */
			log_info("host %s: command %s (%s) interrupted by the agent stopping",
			         h->name, o->id, t);
		} else {
			journal_cmd_done(h->j, o->id, res);
			journal_cmd_lookup(h->j, o->id, &stored, NULL);
			chan_outbox_push(h, o->id, stored, journal_seq(h->j));
		}
		json_decref(res);
		json_decref(p);
		free(t);
	}
	host_vm_busy_set(h, o->vm_id, false);
	h->nops--;
	pthread_cond_broadcast(&h->ops_cond);
	pthread_cond_broadcast(&h->exec_cond);
	pthread_mutex_unlock(&h->lock);
	free(o->id);
	free(o->vm_id);
	free(o);
	return NULL;
}

/* Starts a due command of a concurrent driver on its own thread; false
 * when its VM is busy (it waits) or no thread could be made. */
static bool op_start(struct agent_host *h, struct pending *p)
{
	const json_t *payload = NULL;
	const char *type = NULL, *vm_id;
	struct op_thread *o;
	pthread_attr_t attr;
	pthread_t t;
	int r;

	if (!journal_cmd_queued_get(h->j, p->id, &type, &payload)) {
		free(p->id);
		free(p);
		return true; /* done meanwhile: nothing to run */
	}
	vm_id = exec_vm_id(payload);
	if (host_vm_busy(h, vm_id))
		return false;
	o = xcalloc(1, sizeof(*o));
	o->h = h;
	o->id = p->id;
	o->vm_id = vm_id ? xstrdup(vm_id) : NULL;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, HOST_THREAD_STACK);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	r = pthread_create(&t, &attr, op_main, o);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		log_warn("host %s: cannot start a thread for command %s: %s", h->name, p->id,
		         strerror(r));
		free(o->vm_id);
		free(o);
		return false;
	}
	host_vm_busy_set(h, vm_id, true);
	h->nops++;
	free(p);
	return true;
}

/* Runs every command that is due; their results go to the journal and the
 * outbox. A concurrent driver's commands start on their own threads. */
static void run_due(struct agent_host *h, int64_t now)
{
	struct pending *later[64];
	size_t nlater = 0;

	while (h->a->driver->concurrent && h->nheap > 0 && h->heap[0]->due <= now) {
		struct pending *p = heap_pop(h);

		if (!op_start(h, p)) {
			p->due = now + 50; /* its VM is busy: look again soon */
			if (nlater < ARRAY_SIZE(later)) {
				later[nlater++] = p;
			} else {
				heap_push(h, p);
				break;
			}
		}
	}
	for (size_t i = 0; i < nlater; i++)
		heap_push(h, later[i]);
	while (h->nheap > 0 && h->heap[0]->due <= now) {
		struct pending *p = heap_pop(h);
		const json_t *payload = NULL;
		const char *type = NULL, *stored = NULL;
		json_t *res;

		if (journal_cmd_queued_get(h->j, p->id, &type, &payload)) {
			res = exec_command(h->a->driver, h->dh, h->j, p->id, type, payload);
			journal_cmd_done(h->j, p->id, res);
			json_decref(res);
			journal_cmd_lookup(h->j, p->id, &stored, NULL);
			chan_outbox_push(h, p->id, stored, journal_seq(h->j));
		}
		free(p->id);
		free(p);
	}
}

/* Writes the journal when it is due. true when it did something. */
static bool maybe_save(struct executor *x, int64_t now)
{
	struct agent_host *h = x->h;
	enum journal_dirty d = journal_dirty(h->j);
	uint64_t seq;
	size_t len;
	char *data;
	int r;

	if (d == JOURNAL_CLEAN ||
	    now < x->last_save + (d == JOURNAL_URGENT ? x->save_gap : SAVE_LAZY_MS))
		return false;
	x->last_save = now;
	r = journal_serialize(h->j, &data, &len, &seq);
	if (r == 0) {
		pthread_mutex_unlock(&h->lock);
		r = file_write_atomic(journal_path(h->j), data, len, 0600);
		pthread_mutex_lock(&h->lock);
		free(data);
	}
	if (r < 0) {
		if (!x->save_failed)
			log_err("host %s: cannot write the journal %s: %s (retrying)", h->name,
			        journal_path(h->j), strerror(-r));
		x->save_failed = true;
		x->save_gap = SAVE_URGENT_MAX_MS;
		return true;
	}
	x->save_gap = 2 * (mono_ms() - now);
	if (x->save_gap < SAVE_URGENT_MIN_MS)
		x->save_gap = SAVE_URGENT_MIN_MS;
	if (x->save_gap > SAVE_URGENT_MAX_MS)
		x->save_gap = SAVE_URGENT_MAX_MS;
	if (x->save_failed)
		log_info("host %s: journal %s written again", h->name, journal_path(h->j));
	x->save_failed = false;
	journal_saved(h->j, seq);
	return true;
}

/* Posts a batch of results when there are some and it is time. Results
 * go out only once the journal that records them is on disk (unless it
 * cannot be written). true when it did something. */
static bool maybe_post(struct executor *x, int64_t now)
{
	struct agent_host *h = x->h;
	struct http_result res;
	struct outbox_entry *e;
	char path[256];
	size_t n = 0, max;
	unsigned gen;
	struct buf b;
	int r = 0;

	if (!h->have_id || !h->out_head || now < x->next_post)
		return false;
	if (h->out_head->seq > journal_saved_seq(h->j) && !x->save_failed)
		return false; /* not on disk yet */
	max = h->post_single_left ? 1 : RESULTS_BATCH_MAX;
	buf_init(&b, RESULTS_BODY_MAX + 64 * 1024);
	r = buf_puts(&b, "{\"results\":[");
	for (e = h->out_head; e && n < max && r == 0; e = e->next) {
		if (n > 0 && (b.len + strlen(e->result) > RESULTS_BODY_MAX ||
		              (e->seq > journal_saved_seq(h->j) && !x->save_failed)))
			break;
		r = buf_printf(&b, "%s%s", n ? "," : "", e->result);
		n++;
	}
	if (r == 0)
		r = buf_puts(&b, "]}");
	if (r < 0) {
		/* One result larger than a body may be: it cannot be sent. */
		log_warn("host %s: result of command %s is too large to send; dropping it", h->name,
		         h->out_head->id);
		chan_outbox_pop(h, true);
		buf_free(&b);
		return true;
	}
	snprintf(path, sizeof(path), "/agent/v1/hosts/%s/results", h->host_id);
	http_client_set_token(x->c, h->secret);
	gen = atomic_load(&h->gen);

	pthread_mutex_unlock(&h->lock);
	r = http_client_request_raw(x->c, "POST", path, "application/json", b.data, b.len,
	                            CALL_TIMEOUT_S, &res);
	pthread_mutex_lock(&h->lock);
	buf_free(&b);

	if (r == -ECANCELED || atomic_load(&h->gen) != gen) {
		/* stopping, or the identity (and the outbox) was dropped meanwhile */
	} else if (r == 0 && res.status == 401) {
		chan_identity_invalidate(h, gen);
	} else if (r < 0 || res.status >= 500 || res.status == 429 || res.status == 408) {
		chan_note_failure(h, CALL_RESULTS, r, &res);
		x->post_backoff = backoff_next(x->post_backoff);
		x->next_post = mono_ms() + x->post_backoff;
	} else if (res.status >= 200 && res.status < 300) {
		log_debug("host %s: %zu results posted", h->name, n);
		chan_note_up(h, CALL_RESULTS);
		x->post_backoff = 0;
		for (size_t i = 0; i < n; i++)
			chan_outbox_pop(h, true);
		h->post_single_left = h->post_single_left > n ? h->post_single_left - n : 0;
	} else if (n > 1) { /* Refused as a whole: find out which one, one at a time. */
		chan_note_up(h, CALL_RESULTS);
		h->post_single_left = n;
	} else {
		char excerpt[200];
		chan_note_up(h, CALL_RESULTS);
		chan_body_excerpt(&res, excerpt, sizeof(excerpt));
		log_warn(
		    "host %s: kumod refused the result of command %s: HTTP %ld %s; dropping it",
		    h->name, h->out_head->id, res.status, excerpt);
		chan_outbox_pop(h, true);
		if (h->post_single_left)
			h->post_single_left--;
	}
	http_result_clear(&res);
	return true;
}

struct hb_walk {
	struct agent_host *h; /* weak */
	json_t *vms;          /* weak */
};

static void hb_vm(void *cls, struct journal_vm *vm)
{
	struct hb_walk *w = cls;
	const struct driver_ops *ops = w->h->a->driver;
	const char *state = ops->vm_state ? ops->vm_state(w->h->dh, vm) : NULL;

	json_t *o = json_pack("{s:s, s:s}", "id", vm->id, "state", state ? state : vm->state);

	if (vm->reason[0])
		jset_str(o, "reason", vm->reason);
	json_array_append_new(w->vms, o);
}

static bool maybe_heartbeat(struct executor *x, int64_t now)
{
	struct agent_host *h = x->h;
	struct http_result res;
	struct hb_walk w = { h, json_array() };
	char path[256];
	json_t *body;
	unsigned gen;
	int64_t interval;
	int r;

	if (!h->have_id || (now < x->next_heartbeat && !h->heartbeat_now)) {
		json_decref(w.vms);
		return false;
	}
	h->heartbeat_now = false;
	journal_vm_each(h->j, hb_vm, &w);
	body = json_pack("{s:o, s:o}", "vms", w.vms, "facts", chan_host_facts(h));
	snprintf(path, sizeof(path), "/agent/v1/hosts/%s/heartbeat", h->host_id);
	http_client_set_token(x->c, h->secret);
	gen = atomic_load(&h->gen);

	pthread_mutex_unlock(&h->lock);
	if (h->a->telemetry) {
		json_t *t = h->a->telemetry(h->a->telemetry_cls, h->index);

		if (t)
			json_object_set_new(body, "telemetry", t);
	}
	r = http_client_request(x->c, "POST", path, body, CALL_TIMEOUT_S, &res);
	if (r == 0 && res.status < 300 && h->a->telemetry_ack &&
	    json_is_integer(json_object_get(res.json, "telemetry_seq")))
		h->a->telemetry_ack(h->a->telemetry_cls, h->index,
		                    jint(res.json, "telemetry_seq", 0));
	pthread_mutex_lock(&h->lock);
	json_decref(body);

	if (r == -ECANCELED || atomic_load(&h->gen) != gen) {
		/* stopping, or the identity was dropped meanwhile */
	} else if (r == 0 && res.status == 401) {
		chan_identity_invalidate(h, gen);
	} else if (r < 0 || res.status >= 300) {
		chan_note_failure(h, CALL_HEARTBEAT, r, &res);
	} else {
		int64_t v = jint(res.json, "interval", 0);
		chan_note_up(h, CALL_HEARTBEAT);
		atomic_store(&h->last_up, mono_ms());
		if (v >= 1 && v <= 3600)
			h->heartbeat_s = v;
	}
	interval = h->a->heartbeat_override_s ? h->a->heartbeat_override_s : h->heartbeat_s;
	x->next_heartbeat = mono_ms() + interval * 1000;
	http_result_clear(&res);
	return true;
}

/* When the executor has something to do next (mono_ms). */
static int64_t next_wake(const struct executor *x, int64_t now)
{
	const struct agent_host *h = x->h;
	int64_t wake = now + 1000;
	enum journal_dirty d = journal_dirty(h->j);

	if (h->nheap > 0 && h->heap[0]->due < wake)
		wake = h->heap[0]->due;
	if (d != JOURNAL_CLEAN) {
		int64_t t = x->last_save + (d == JOURNAL_URGENT ? x->save_gap : SAVE_LAZY_MS);

		if (t < wake)
			wake = t;
	}
	/* Results not on disk yet wait for the save above. */
	if (h->have_id && h->out_head && x->next_post < wake &&
	    (h->out_head->seq <= journal_saved_seq(h->j) || x->save_failed))
		wake = x->next_post;
	if (h->have_id && (x->next_heartbeat < wake || h->heartbeat_now))
		wake = h->heartbeat_now ? now : x->next_heartbeat;
	return wake;
}

void *chan_executor_main(void *arg)
{
	struct agent_host *h = arg;
	struct executor x = { .h = h, .save_gap = SAVE_URGENT_MIN_MS };

	x.c = http_client_new(h->a->server);
	if (!x.c) {
		log_err("host %s: cannot create an HTTP client", h->name);
		return NULL;
	}
	http_client_set_cancel(x.c, stop_cancelled, h->a);
	pthread_mutex_lock(&h->lock);
	for (;;) {
		int64_t now = mono_ms(), wake;
		struct timespec ts;

		if (stopping(h->a))
			break;
		intake(h, now);
		run_due(h, now);
		if (maybe_save(&x, now) || maybe_post(&x, now) || maybe_heartbeat(&x, now))
			continue;
		if (h->nincoming > 0)
			continue;
		wake = next_wake(&x, now);
		if (wake <= now)
			continue;
		ms_to_timespec(wake, &ts);
		pthread_cond_timedwait(&h->exec_cond, &h->lock, &ts);
	}
	if (journal_dirty(h->j) != JOURNAL_CLEAN) {
		int r = journal_save(h->j);

		if (r < 0)
			log_err("host %s: cannot write the journal %s: %s", h->name,
			        journal_path(h->j), strerror(-r));
	}
	pthread_mutex_unlock(&h->lock);
	http_client_free(x.c);
	return NULL;
}
