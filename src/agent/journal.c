// SPDX-License-Identifier: MIT
/*
 * The per-host journal (see journal.h): VMs, queued commands and done
 * command results in memory, indexed by id (glibc tsearch trees), and their
 * JSON file. Done results are kept as compact JSON strings, not trees: a
 * host keeps up to 10,000 of them and a process may run 1,000 hosts.
 *
 * This file knows nothing about what commands mean or how they reach the
 * agent; channel.c and exec.c do. It logs nothing above debug: problems
 * with the file go back to the caller as a warning.
 */
#include <assert.h>
#include <errno.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/journal.h"
#include "common/buf.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"

#define JOURNAL_VERSION 1

struct jqueued {
	char *id;                    /* owned; first member */
	char *type;                  /* owned */
	json_t *payload;             /* owned */
	struct jqueued *prev, *next; /* arrival order */
};

struct jdone {
	char *id;     /* owned; first member */
	char *result; /* owned; compact JSON */
	bool sent;
};

struct journal {
	char *path; /* owned */
	void *vms;  /* tsearch tree of struct journal_vm */
	size_t nvms;
	void *queued; /* tree of struct jqueued */
	struct jqueued *qhead, *qtail;
	size_t nqueued;
	void *done;          /* tree of struct jdone */
	struct jdone **ring; /* owned; JOURNAL_DONE_MAX slots, oldest at ring_head */
	size_t ring_head, ndone;
	uint64_t seq;        /* bumped on every change */
	uint64_t urgent_seq; /* seq of the last urgent change */
	uint64_t saved_seq;  /* seq of the state last written */
};

/* Every indexed struct starts with its char *id. */
static int id_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void *tree_find(void *const *root, const char *id)
{
	const char *key = id;
	void **node = tfind(&key, root, id_cmp);

	return node ? *node : NULL;
}

bool journal_id_valid(const char *id)
{
	size_t n;

	if (!id)
		return false;
	n = strlen(id);
	if (n < 1 || n > JOURNAL_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)id[i] < 0x20 || id[i] == 0x7f)
			return false;
	return true;
}

static void touch(struct journal *j, bool urgent)
{
	j->seq++;
	if (urgent)
		j->urgent_seq = j->seq;
}

/* --- freeing ----------------------------------------------------------- */

static void vm_free(void *p)
{
	struct journal_vm *vm = p;

	if (!vm)
		return;
	free(vm->id);
	free(vm->name);
	json_decref(vm->spec);
	free(vm);
}

static void queued_free(void *p)
{
	struct jqueued *q = p;

	if (!q)
		return;
	free(q->id);
	free(q->type);
	json_decref(q->payload);
	free(q);
}

static void done_free(void *p)
{
	struct jdone *d = p;

	if (!d)
		return;
	free(d->id);
	free(d->result);
	free(d);
}

static void noop_free(void *p)
{
}

struct journal *journal_free(struct journal *j)
{
	if (!j)
		return NULL;
	tdestroy(j->vms, vm_free);
	tdestroy(j->queued, queued_free);
	/* The ring owns the done entries; the tree only points at them. */
	tdestroy(j->done, noop_free);
	for (size_t i = 0; i < j->ndone; i++)
		done_free(j->ring[(j->ring_head + i) % JOURNAL_DONE_MAX]);
	free(j->ring);
	free(j->path);
	free(j);
	return NULL;
}

const char *journal_path(const struct journal *j)
{
	return j->path;
}

/* --- commands ---------------------------------------------------------- */

enum journal_cmd journal_cmd_lookup(const struct journal *j, const char *id,
                                    const char **ret_result, bool *ret_sent)
{
	struct jdone *d;

	if (!id)
		return JCMD_NEW;
	d = tree_find(&j->done, id);
	if (d) {
		if (ret_result)
			*ret_result = d->result;
		if (ret_sent)
			*ret_sent = d->sent;
		return JCMD_DONE;
	}
	return tree_find(&j->queued, id) ? JCMD_QUEUED : JCMD_NEW;
}

int journal_cmd_queue(struct journal *j, const char *id, const char *type, const json_t *payload)
{
	struct jqueued *q;

	if (!journal_id_valid(id) || !type || !*type || strlen(type) > JOURNAL_ID_MAX)
		return -EINVAL;
	if (journal_cmd_lookup(j, id, NULL, NULL) != JCMD_NEW)
		return -EEXIST;
	if (j->nqueued >= JOURNAL_QUEUED_MAX)
		return -ENOSPC;
	q = xcalloc(1, sizeof(*q));
	q->id = xstrdup(id);
	q->type = xstrdup(type);
	q->payload = json_is_object(payload) ? json_deep_copy(payload) : json_object();
	if (!q->payload || !tsearch(q, &j->queued, id_cmp))
		abort();
	q->prev = j->qtail;
	if (j->qtail)
		j->qtail->next = q;
	else
		j->qhead = q;
	j->qtail = q;
	j->nqueued++;
	touch(j, false);
	return 0;
}

bool journal_cmd_queued_get(const struct journal *j, const char *id, const char **ret_type,
                            const json_t **ret_payload)
{
	struct jqueued *q = id ? tree_find(&j->queued, id) : NULL;

	if (!q)
		return false;
	if (ret_type)
		*ret_type = q->type;
	if (ret_payload)
		*ret_payload = q->payload;
	return true;
}

static void queued_remove(struct journal *j, struct jqueued *q)
{
	tdelete(q, &j->queued, id_cmp);
	if (q->prev)
		q->prev->next = q->next;
	else
		j->qhead = q->next;
	if (q->next)
		q->next->prev = q->prev;
	else
		j->qtail = q->prev;
	j->nqueued--;
	queued_free(q);
}

/* Appends a done entry (taking result), evicting the oldest when full. */
static void done_append(struct journal *j, const char *id, char *result, bool sent)
{
	struct jdone *d = tree_find(&j->done, id);

	if (d) {
		free(d->result);
		d->result = result;
		d->sent = sent;
		return;
	}
	if (j->ndone == JOURNAL_DONE_MAX) {
		struct jdone *old = j->ring[j->ring_head];

		tdelete(old, &j->done, id_cmp);
		done_free(old);
		j->ring_head = (j->ring_head + 1) % JOURNAL_DONE_MAX;
		j->ndone--;
	}
	d = xcalloc(1, sizeof(*d));
	d->id = xstrdup(id);
	d->result = result;
	d->sent = sent;
	if (!tsearch(d, &j->done, id_cmp))
		abort();
	j->ring[(j->ring_head + j->ndone) % JOURNAL_DONE_MAX] = d;
	j->ndone++;
}

void journal_cmd_done(struct journal *j, const char *id, const json_t *result)
{
	struct jqueued *q;

	assert(journal_id_valid(id) && json_is_object(result));
	q = tree_find(&j->queued, id);
	if (q)
		queued_remove(j, q);
	done_append(j, id, jdump(result), false);
	touch(j, true);
}

void journal_cmd_set_sent(struct journal *j, const char *id, bool sent)
{
	struct jdone *d = tree_find(&j->done, id);

	if (!d || d->sent == sent)
		return;
	d->sent = sent;
	touch(j, false);
}

void journal_cmd_each_queued(const struct journal *j,
                             void (*fn)(void *cls, const char *id, const char *type,
                                        const json_t *payload),
                             void *cls)
{
	for (struct jqueued *q = j->qhead; q; q = q->next)
		fn(cls, q->id, q->type, q->payload);
}

void journal_cmd_each_unsent(const struct journal *j,
                             void (*fn)(void *cls, const char *id, const char *result), void *cls)
{
	for (size_t i = 0; i < j->ndone; i++) {
		struct jdone *d = j->ring[(j->ring_head + i) % JOURNAL_DONE_MAX];

		if (!d->sent)
			fn(cls, d->id, d->result);
	}
}

size_t journal_done_count(const struct journal *j)
{
	return j->ndone;
}

size_t journal_queued_count(const struct journal *j)
{
	return j->nqueued;
}

/* --- VMs --------------------------------------------------------------- */

struct journal_vm *journal_vm_find(const struct journal *j, const char *id)
{
	return id ? tree_find(&j->vms, id) : NULL;
}

static void copy_state(struct journal_vm *vm, const char *state)
{
	snprintf(vm->state, sizeof(vm->state), "%s", state ? state : "unknown");
}

struct journal_vm *journal_vm_add(struct journal *j, const char *id, const char *name,
                                  const char *state, const json_t *spec)
{
	struct journal_vm *vm;

	if (!journal_id_valid(id) || journal_vm_find(j, id) || j->nvms >= JOURNAL_VMS_MAX)
		return NULL;
	vm = xcalloc(1, sizeof(*vm));
	vm->id = xstrdup(id);
	vm->name = xstrdup(name ? name : id);
	copy_state(vm, state);
	vm->spec = json_is_object(spec) ? json_deep_copy(spec) : json_object();
	if (!vm->spec || !tsearch(vm, &j->vms, id_cmp))
		abort();
	j->nvms++;
	touch(j, true);
	return vm;
}

void journal_vm_set_state(struct journal *j, struct journal_vm *vm, const char *state)
{
	if (strcmp(vm->state, state) == 0)
		return;
	copy_state(vm, state);
	touch(j, true);
}

void journal_vm_spec_changed(struct journal *j, struct journal_vm *vm)
{
	(void)vm;
	touch(j, true);
}

void journal_vm_remove(struct journal *j, struct journal_vm *vm)
{
	tdelete(vm, &j->vms, id_cmp);
	j->nvms--;
	vm_free(vm);
	touch(j, true);
}

struct vm_walk {
	void (*fn)(void *cls, struct journal_vm *vm);
	void *cls;
};

static void vm_walk_action(const void *nodep, VISIT which, void *closure)
{
	struct vm_walk *w = closure;

	if (which == postorder || which == leaf)
		w->fn(w->cls, *(struct journal_vm *const *)nodep);
}

void journal_vm_each(const struct journal *j, void (*fn)(void *cls, struct journal_vm *vm),
                     void *cls)
{
	struct vm_walk w = { fn, cls };

	twalk_r(j->vms, vm_walk_action, &w);
}

size_t journal_vm_count(const struct journal *j)
{
	return j->nvms;
}

/* --- the file ---------------------------------------------------------- */

enum journal_dirty journal_dirty(const struct journal *j)
{
	if (j->urgent_seq > j->saved_seq)
		return JOURNAL_URGENT;
	return j->seq > j->saved_seq ? JOURNAL_LAZY : JOURNAL_CLEAN;
}

struct ser {
	struct buf *b;
	bool first;
	int r;
};

static void ser_json(struct ser *s, json_t *v)
{
	char *str = jdump(v);

	if (s->r == 0 && !s->first)
		s->r = buf_puts(s->b, ",");
	if (s->r == 0)
		s->r = buf_puts(s->b, str);
	s->first = false;
	free(str);
	json_decref(v);
}

static void ser_vm(void *cls, struct journal_vm *vm)
{
	ser_json(cls, json_pack("{s:s, s:s, s:s, s:O}", "id", vm->id, "name", vm->name, "state",
	                        vm->state, "spec", vm->spec));
}

int journal_serialize(const struct journal *j, char **ret_data, size_t *ret_len, uint64_t *ret_seq)
{
	struct buf b;
	struct ser s = { &b, true, 0 };
	size_t len;

	buf_init(&b, JOURNAL_FILE_MAX);
	s.r = buf_printf(&b, "{\"version\":%d,\n\"vms\":[", JOURNAL_VERSION);
	journal_vm_each(j, ser_vm, &s);
	if (s.r == 0)
		s.r = buf_puts(&b, "],\n\"queued\":[");
	s.first = true;
	for (struct jqueued *q = j->qhead; q && s.r == 0; q = q->next)
		ser_json(&s, json_pack("{s:s, s:s, s:O}", "id", q->id, "type", q->type, "payload",
		                       q->payload));
	if (s.r == 0)
		s.r = buf_puts(&b, "],\n\"done\":[");
	for (size_t i = 0; i < j->ndone && s.r == 0; i++) {
		struct jdone *d = j->ring[(j->ring_head + i) % JOURNAL_DONE_MAX];

		/* d->result is our own compact JSON: embedded as it is. */
		s.r = buf_printf(&b, "%s\n{\"sent\":%s,\"result\":%s}", i ? "," : "",
		                 d->sent ? "true" : "false", d->result);
	}
	if (s.r == 0)
		s.r = buf_puts(&b, "]}\n");
	if (s.r < 0) {
		buf_free(&b);
		return s.r;
	}
	len = b.len;
	*ret_data = buf_steal(&b);
	*ret_len = len;
	if (ret_seq)
		*ret_seq = j->seq;
	return 0;
}

uint64_t journal_seq(const struct journal *j)
{
	return j->seq;
}

uint64_t journal_saved_seq(const struct journal *j)
{
	return j->saved_seq;
}

void journal_saved(struct journal *j, uint64_t seq)
{
	if (seq > j->saved_seq)
		j->saved_seq = seq;
}

int journal_save(struct journal *j)
{
	uint64_t seq;
	size_t len;
	char *data;
	int r;

	r = journal_serialize(j, &data, &len, &seq);
	if (r < 0)
		return r;
	r = file_write_atomic(j->path, data, len, 0600);
	free(data);
	if (r == 0)
		journal_saved(j, seq);
	return r;
}

/* --- loading ----------------------------------------------------------- */

static int load_doc(struct journal *j, const json_t *doc, size_t *ret_skipped)
{
	size_t skipped = 0, i;
	json_t *v;

	if (!json_is_object(doc) || jint(doc, "version", 0) != JOURNAL_VERSION)
		return -EBADMSG;
	json_array_foreach(json_object_get(doc, "vms"), i, v)
	{
		const char *state = jstr(v, "state");
		json_t *spec = json_object_get(v, "spec");

		if (!state || strlen(state) >= sizeof(((struct journal_vm *)0)->state) ||
		    (spec && !json_is_object(spec)) ||
		    !journal_vm_add(j, jstr(v, "id"), jstr(v, "name"), state, spec))
			skipped++;
	}
	json_array_foreach(json_object_get(doc, "queued"), i, v)
	{
		json_t *payload = json_object_get(v, "payload");

		if ((payload && !json_is_object(payload)) ||
		    journal_cmd_queue(j, jstr(v, "id"), jstr(v, "type"), payload) < 0)
			skipped++;
	}
	json_array_foreach(json_object_get(doc, "done"), i, v)
	{
		json_t *result = json_object_get(v, "result");
		const char *id = jstr(result, "command_id");

		if (!json_is_object(result) || !journal_id_valid(id) || tree_find(&j->queued, id)) {
			skipped++;
			continue;
		}
		done_append(j, id, jdump(result), jbool(v, "sent", true));
	}
	*ret_skipped = skipped;
	return 0;
}

static struct journal *journal_empty(const char *path)
{
	struct journal *j = xcalloc(1, sizeof(*j));

	j->path = xstrdup(path);
	j->ring = xcalloc(JOURNAL_DONE_MAX, sizeof(*j->ring));
	return j;
}

int journal_open(const char *path, struct journal **ret, struct kerr *warning)
{
	struct journal *j = journal_empty(path);
	char err[200] = "";
	size_t len = 0, skipped = 0;
	json_t *doc = NULL;
	char *data = NULL;
	int r;

	kerr_clear(warning);
	r = file_read(path, JOURNAL_FILE_MAX, &data, &len);
	if (r == -ENOENT) {
		r = 0;
		goto done;
	}
	if (r < 0 && r != -EFBIG) {
		journal_free(j);
		return r;
	}
	if (r == 0)
		doc = jparse(data, len, err, sizeof(err));
	else
		snprintf(err, sizeof(err), "file larger than %zu bytes", JOURNAL_FILE_MAX);
	r = doc ? load_doc(j, doc, &skipped) : -EBADMSG;
	if (r < 0) {
		/* Keep the bad file for a human; start empty. */
		char *aside = xasprintf("%s.corrupt", path);
		int rr = rename(path, aside) < 0 ? -errno : 0;

		journal_free(j);
		j = journal_empty(path);
		kerr_set(warning, -EBADMSG, "",
		         "%s is not a valid journal (%s); %s, starting empty", path,
		         err[0] ? err : "wrong structure or version",
		         rr == 0 ? "moved it aside" : "could not move it aside");
		free(aside);
		r = 0;
		touch(j, true);
		goto done;
	}
	if (skipped)
		kerr_set(warning, -EBADMSG, "", "%s: skipped %zu invalid entries", path, skipped);
	/* What was just loaded is what the file holds. */
	j->saved_seq = j->seq;
done:
	json_decref(doc);
	free(data);
	*ret = j;
	return r;
}
