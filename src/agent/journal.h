/* SPDX-License-Identifier: MIT */
/*
 * The agent's journal of one host: what must survive an agent restart.
 *   - the host's VMs: id, name, state, spec (the vm object kumod sent);
 *   - commands received but not yet run (they run after a restart);
 *   - the last JOURNAL_DONE_MAX done commands with their results, and
 *     whether kumod has acknowledged each result, so a command delivered
 *     twice runs once and a result is never lost.
 *
 * The file (JSON, mode 0600) is written whole and atomically by
 * journal_save(); callers debounce it. A journal is not thread-safe: its
 * owner locks around every call.
 *
 * File format, version 1:
 *   {"version":1,
 *    "vms":[{"id","name","state","spec":{...}}],
 *    "queued":[{"id","type","payload":{...}}],
 *    "done":[{"sent":bool,"result":{"command_id",...}}]}   (oldest first)
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define JOURNAL_DONE_MAX 10000
#define JOURNAL_QUEUED_MAX 100000
#define JOURNAL_VMS_MAX 100000
#define JOURNAL_ID_MAX 128 /* command and VM ids, bytes */
#define JOURNAL_FILE_MAX ((size_t)512 * 1024 * 1024)

struct journal_vm {
	char *id;         /* owned; first member (the index compares it) */
	char *name;       /* owned */
	char state[16];   /* "running", "stopped", "paused", ... */
	json_t *spec;     /* owned; the vm object of the create command */
	char reason[160]; /* why it is in its state, when the driver said; not saved */
};

enum journal_cmd {
	JCMD_NEW,    /* never seen */
	JCMD_QUEUED, /* received, not run yet */
	JCMD_DONE,   /* run; its result is kept */
};

enum journal_dirty {
	JOURNAL_CLEAN,
	JOURNAL_LAZY,   /* only bookkeeping changed (acks, queue): save soon */
	JOURNAL_URGENT, /* VMs or results changed: save before telling kumod */
};

struct journal;

/* Opens the journal kept at path. A missing file gives an empty journal. A
 * file that cannot be read as a journal is renamed to "<path>.corrupt", the
 * journal starts empty, and warning is set (code -EBADMSG) for the caller to
 * log; entries that are individually invalid are skipped, also with a
 * warning. Returns 0, or -errno when the file exists but cannot be read. */
int journal_open(const char *path, struct journal **ret, struct kerr *warning);
struct journal *journal_free(struct journal *j);
const char *journal_path(const struct journal *j);

/* Writes the file now (atomically, 0600). 0 or -errno. */
int journal_save(struct journal *j);
/* The same in two steps, so the write can happen outside the owner's lock:
 * serialize (ret_seq names this state), write, then journal_saved(seq). */
int journal_serialize(const struct journal *j, char **ret_data, size_t *ret_len, uint64_t *ret_seq);
void journal_saved(struct journal *j, uint64_t seq);
enum journal_dirty journal_dirty(const struct journal *j);
/* Changes are numbered: the number of the latest one, and of the latest one
 * on disk (a change n is durable when n <= journal_saved_seq()). */
uint64_t journal_seq(const struct journal *j);
uint64_t journal_saved_seq(const struct journal *j);

/* --- commands --- */
/* Ids (of commands and VMs) are 1..JOURNAL_ID_MAX bytes without control
 * characters. */
bool journal_id_valid(const char *id);
/* ret_result (weak, compact JSON) and ret_sent are set for done commands. */
enum journal_cmd journal_cmd_lookup(const struct journal *j, const char *id,
                                    const char **ret_result, bool *ret_sent);
/* Records a received command. 0, -EEXIST (queued or done already), -EINVAL
 * (bad id or type), -ENOSPC (JOURNAL_QUEUED_MAX queued). payload copied. */
int journal_cmd_queue(struct journal *j, const char *id, const char *type, const json_t *payload);
/* The type and payload (weak, valid until the command is done) of a queued
 * command; false when it is not queued. */
bool journal_cmd_queued_get(const struct journal *j, const char *id, const char **ret_type,
                            const json_t **ret_payload);
/* Records the result of a command (queued or not) as not sent yet; the
 * oldest done command is forgotten past JOURNAL_DONE_MAX. result must be an
 * object; it is serialized, not kept. */
void journal_cmd_done(struct journal *j, const char *id, const json_t *result);
/* Marks a done command's result as acknowledged by kumod (or not). */
void journal_cmd_set_sent(struct journal *j, const char *id, bool sent);
/* Queued commands in arrival order (weak pointers, valid during the call). */
void journal_cmd_each_queued(const struct journal *j,
                             void (*fn)(void *cls, const char *id, const char *type,
                                        const json_t *payload),
                             void *cls);
/* Done commands whose result is not sent, oldest first. */
void journal_cmd_each_unsent(const struct journal *j,
                             void (*fn)(void *cls, const char *id, const char *result), void *cls);
size_t journal_done_count(const struct journal *j);
size_t journal_queued_count(const struct journal *j);

/* --- VMs --- */
struct journal_vm *journal_vm_find(const struct journal *j, const char *id);
/* Adds a VM in state "state"; NULL when the id exists, is invalid, or the
 * journal holds JOURNAL_VMS_MAX VMs. spec copied (NULL = {}). */
struct journal_vm *journal_vm_add(struct journal *j, const char *id, const char *name,
                                  const char *state, const json_t *spec);
void journal_vm_set_state(struct journal *j, struct journal_vm *vm, const char *state);
/* vm->spec was changed in place: save it. */
void journal_vm_spec_changed(struct journal *j, struct journal_vm *vm);
/* Removes and frees vm. */
void journal_vm_remove(struct journal *j, struct journal_vm *vm);
/* VMs ordered by id. fn must not add or remove VMs. */
void journal_vm_each(const struct journal *j, void (*fn)(void *cls, struct journal_vm *vm),
                     void *cls);
size_t journal_vm_count(const struct journal *j);
