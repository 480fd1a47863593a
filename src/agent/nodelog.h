/* SPDX-License-Identifier: MIT */
/*
 * The node's log of thermal decisions and hardware events: what the
 * Manager's LogService lists, what the EventService pushes to Redfish
 * subscribers and what goes up to kumod's events in the heartbeats.
 *
 * Each entry has a sequence number that only grows (also across restarts:
 * the log is a JSON-lines file, DATA/hosts/<i>/nodelog.jsonl, read back at
 * start), a time, a severity ("OK", "Warning", "Critical"), a Redfish
 * MessageId with its args, and the message text. The newest NODELOG_KEEP
 * entries are kept in memory; the file is rewritten with those when it
 * grows past twice that. kumod's acknowledgement (the highest seq it has
 * stored) is kept in the same directory, so entries are sent once even
 * when the agent restarts.
 *
 * Thread-safe: the thermal controller appends from its thread, Redfish
 * handlers and the heartbeat read from theirs. Listeners (the
 * EventService) are called after the append, without the log's lock.
 */
#pragma once

#include <jansson.h>
#include <stdint.h>

#define NODELOG_KEEP 1000
#define NODELOG_SEND_MAX 100 /* entries in one heartbeat */

struct nodelog;

/* Opens (or creates) the log in dir. Never fails: an unreadable file is
 * set aside as <file>.corrupt and the log starts empty (logged). */
struct nodelog *nodelog_open(const char *dir);
struct nodelog *nodelog_free(struct nodelog *l);

/* Appends an entry; args: a JSON array of strings (stolen; may be NULL).
 * Returns its seq. */
int64_t nodelog_add(struct nodelog *l, const char *severity, const char *message_id, json_t *args,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Entries with seq > after, oldest first, at most max (new reference):
 * [{"seq","ts" (ms since the epoch),"severity","message_id","args","message"}]. */
json_t *nodelog_since(struct nodelog *l, int64_t after, size_t max);
/* One entry by seq (new reference), or NULL when not kept. */
json_t *nodelog_get(struct nodelog *l, int64_t seq);
int64_t nodelog_last_seq(struct nodelog *l);
/* Forgets everything (LogService.ClearLog); seq keeps growing. */
void nodelog_clear(struct nodelog *l);

/* kumod's side: what it has stored. nodelog_unsent gives the entries after
 * that (at most NODELOG_SEND_MAX, new reference). */
void nodelog_ack(struct nodelog *l, int64_t seq);
json_t *nodelog_unsent(struct nodelog *l);

/* Calls fn(cls, entry) after every append (entry: a borrowed reference,
 * valid during the call). At most 4 listeners. 0 or -ENOSPC. */
int nodelog_listen(struct nodelog *l, void (*fn)(void *cls, const json_t *entry), void *cls);
/* Removes the listener added with fn and cls. When it returns, no call of
 * any listener is running (so cls may be freed); not from a listener. */
void nodelog_unlisten(struct nodelog *l, void (*fn)(void *cls, const json_t *entry), void *cls);
