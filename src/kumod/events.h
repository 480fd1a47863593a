/* SPDX-License-Identifier: MIT */
/*
 * Events: every state change is appended to the store's event log and
 * followers (GET /v1/events?follow=1) are woken.
 */
#pragma once

#include <jansson.h>
#include <stdint.h>

/* Appends an event (inside the caller's transaction, if any) and wakes followers.
 * data is borrowed (may be NULL). Failures are logged, not returned: an event
 * never fails the change it describes. */
void event_emit(const char *type, const char *resource_kind, const char *resource_id,
                const char *account_id, const json_t *data);
/* Blocks until an event newer than seq may exist, or timeout_ms passes. */
void event_wait(int64_t seq, int64_t timeout_ms);
/* Wakes every waiter (used at shutdown). */
void event_wake_all(void);
