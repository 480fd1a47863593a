/* SPDX-License-Identifier: MIT */
/*
 * A small client for the QEMU Machine Protocol over a unix socket: connect
 * and negotiate, run a command and wait for its reply, collect events.
 *
 * QMP is newline-delimited JSON. A command goes out as
 * {"execute":cmd,"arguments":{...},"id":N}; QEMU answers
 * {"return":...,"id":N} or {"error":{"class","desc"},"id":N}, and sends
 * events ({"event","data","timestamp"}) at any time, also between a command
 * and its reply. Events read while waiting for a reply are queued, never
 * lost (up to QMP_EVENTS_MAX; beyond that the oldest are dropped and
 * counted, see qmp_events_lost()).
 *
 * Every call is bounded by a timeout and never blocks beyond it: the socket
 * is non-blocking and waits are poll() with a deadline. A command that
 * timed out leaves the handle usable: its late reply is recognised by id
 * and discarded.
 *
 * Errors are negative errno values:
 *   -ETIMEDOUT     no socket, greeting or reply in time
 *   -ECONNREFUSED  qmp_connect: the socket exists but nobody listens
 *   -EREMOTEIO     QEMU answered with an error ("Class: desc" in err)
 *   -EPIPE         QEMU closed the connection (or it was reset)
 *   -EPROTO        QEMU sent something that is not QMP: not JSON, not an
 *                  object, a greeting without "QMP", a line over
 *                  QMP_LINE_MAX. The connection is given up.
 * Once the connection ended (-EPIPE, -EPROTO, or -ETIMEDOUT for a command
 * left half written because QEMU stopped reading), qmp_closed() is true,
 * qmp_fd() is -1 and every call fails with that same error; queued events
 * can still be popped. Close the handle and connect again (QEMU accepts a
 * new client once the old one has gone).
 *
 * QEMU serves one QMP client per socket at a time: a second connection
 * waits, without a greeting, until the first is closed.
 *
 * Threading: a handle is not thread-safe. One thread at a time may use it
 * (the qemu driver holds the VM's lock around every call); different
 * handles are independent. Nothing here logs above debug: callers log the
 * error with context.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define QMP_LINE_MAX ((size_t)1024 * 1024) /* longest message accepted, bytes */
#define QMP_EVENTS_MAX 1024                /* events queued at most */
#define QMP_STATUS_MAX 32                  /* enough for any run state name */

struct qmp;

/* Connects to QEMU's QMP socket at path, reads the greeting and sends
 * qmp_capabilities. While the socket does not exist yet or refuses
 * connections (QEMU still starting), retries until timeout_ms has passed.
 * timeout_ms bounds the whole call, greeting included (QEMU 7.2 greets some
 * 300 ms after it was exec'd here; give it seconds). Then:
 * -ETIMEDOUT if the socket never appeared or QEMU did not greet in time,
 * -ECONNREFUSED if it existed but nobody accepted, -EPROTO, -EPIPE,
 * -ENAMETOOLONG for a path longer than a sockaddr_un takes (107 bytes),
 * or another -errno. On success *ret_q is a new handle (qmp_close()). */
int qmp_connect(const char *path, int timeout_ms, struct qmp **ret_q);

/* Closes the connection and frees q, with any queued events. Does not ask
 * QEMU to do anything. NULL-safe; returns NULL. */
struct qmp *qmp_close(struct qmp *q);

/* Runs cmd with args and waits up to timeout_ms for its reply.
 * args: NULL, or a JSON object that this call steals (its reference is
 *       released, on failure too), so json_pack(...) can be passed inline.
 * ret_result: if not NULL, on success a new reference to the "return"
 *       value (often an empty object); untouched on failure.
 * err: if not NULL, set to "" and on failure to a human message; for
 *       -EREMOTEIO it is QEMU's "Class: desc" ("CommandNotFound: The
 *       command foo has not been found", "GenericError: ...").
 * 0, or -EREMOTEIO, -ETIMEDOUT, -EPIPE, -EPROTO (see above). Events that
 * arrive meanwhile are queued: pop them with qmp_next_event() afterwards,
 * as the descriptor will not signal them again. */
int qmp_execute(struct qmp *q, const char *cmd, json_t *args, int timeout_ms, json_t **ret_result,
                char *err, size_t errlen);

/* qmp_execute() of a command without arguments whose result is not needed:
 * "cont", "stop", "system_powerdown", "system_reset", "quit". */
int qmp_simple(struct qmp *q, const char *cmd, int timeout_ms, char *err, size_t errlen);

/* QEMU's run state from query-status, copied into ret_status (len bytes;
 * QMP_STATUS_MAX is enough): "running", "paused", "prelaunch" (-S, or
 * after system_reset of a shut-down guest), "shutdown" (guest powered off
 * under -no-shutdown), "inmigrate", "postmigrate", "finish-migrate",
 * "internal-error", "io-error", "guest-panicked", "suspended", "watchdog",
 * "debug", "save-vm", "restore-vm", "colo". 0, a qmp_execute() error,
 * -EPROTO for a reply without a status, or -ENOBUFS if it does not fit
 * (ret_status untouched on failure). */
int qmp_query_status(struct qmp *q, int timeout_ms, char *ret_status, size_t len);

/* The socket, to poll() for POLLIN alongside other things; -1 once the
 * connection ended (poll() ignores negative descriptors). When it is
 * readable, call qmp_read_events(q, 0). */
int qmp_fd(const struct qmp *q);

/* Reads what QEMU has sent, queueing events (replies to commands that
 * timed out are discarded). Waits up to timeout_ms (negative: no limit)
 * for something to arrive, unless events are queued already, then reads
 * only what is there. Returns the number of queued events (>= 0), or
 * -EPIPE / -EPROTO when the connection ended (events read before the end
 * stay queued), or another -errno. */
int qmp_read_events(struct qmp *q, int timeout_ms);

/* Pops the oldest queued event: an object with "event", "timestamp" and
 * usually "data"; the caller owns it (json_decref()). NULL when none. */
json_t *qmp_next_event(struct qmp *q);

/* Has the connection ended (QEMU closed it, or it was given up)? */
bool qmp_closed(const struct qmp *q);

/* Events dropped because the queue was full, since the connection was
 * made. When this grows, re-read the state (qmp_query_status()) instead of
 * trusting the events. */
unsigned long qmp_events_lost(const struct qmp *q);
