/* SPDX-License-Identifier: MIT */
/*
 * The event engine of the agent's Redfish service (rf_event_push.c),
 * between the EventService's resources (rf_event.c), the TelemetryService
 * (rf_telemetry.c, which sends its metric reports through it) and the unit
 * tests: the EventService settings and the subscriptions with their files,
 * one bounded queue per subscription, the delivery thread (libcurl), the
 * ring of recent events that SSE streams read, and the filters.
 *
 * A subscription is kept as a JSON object with EventDestination's own
 * property names, checked by rf_event.c before it gets here:
 *   {"Id", "Destination", "Context" (string or null), "Protocol": "Redfish",
 *    "EventFormatType": "Event" | "MetricReport", "RegistryPrefixes",
 *    "MessageIds", "ResourceTypes", "OriginResources" ([{"@odata.id"}]),
 *    "SubordinateResources", "ExcludeRegistryPrefixes", "ExcludeMessageIds",
 *    "Severities", "MetricReportDefinitions" ([{"@odata.id"}]),
 *    "DeliveryRetryPolicy": "SuspendRetries" | "TerminateAfterRetries",
 *    "VerifyCertificate", "State": "Enabled" | "Disabled"}
 * (the arrays may be absent). DATA/redfish/subscriptions.json holds them,
 * DATA/redfish/eventservice.json the settings; both 0600.
 *
 * Delivery: each event is POSTed to each subscription that wants it, in
 * order per subscription, one POST in flight per subscription, at most
 * RF_EVENTS_POST_TIMEOUT_MS each. A failed POST (no answer, or not 2xx) is
 * tried again DeliveryRetryIntervalSeconds later, DeliveryRetryAttempts
 * times; then the subscription's policy applies: SuspendRetries sets State
 * Disabled (events are still queued, up to the bound, until it is resumed),
 * TerminateAfterRetries deletes it. A full queue drops its oldest event
 * (logged). Publishing never waits for the network.
 *
 * Thread-safe.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define RF_EVENTS_SUBS_MAX 16          /* subscriptions */
#define RF_EVENTS_QUEUE_MAX 64         /* undelivered events per subscription */
#define RF_EVENTS_RING 64              /* recent events kept for SSE's Last-Event-ID */
#define RF_EVENTS_STREAMS_MAX 8        /* SSE streams open at once */
#define RF_EVENTS_POST_TIMEOUT_MS 5000 /* one POST, connection included */
#define RF_EVENTS_RETRY_ATTEMPTS_MAX 100
#define RF_EVENTS_RETRY_INTERVAL_MAX 86400
#define RF_EVENTS_SUBS_FILE "subscriptions.json"
#define RF_EVENTS_SETTINGS_FILE "eventservice.json"
#define RF_EVENT_TYPE "#Event.v1_13_0.Event"

struct rf_events;

/* The EventService's writable settings. */
struct rf_events_settings {
	bool enabled;         /* ServiceEnabled: false drops events, ends SSE streams */
	int retry_attempts;   /* DeliveryRetryAttempts: tries after the first (3) */
	int retry_interval_s; /* DeliveryRetryIntervalSeconds (30) */
};

/* The engine on dir (DATA/redfish): the settings and subscriptions from
 * their files (absent: defaults and none; unreadable: set aside as
 * <file>.corrupt, logged), and its delivery thread. 0 or a negative errno. */
int rf_events_new(const char *dir, struct rf_events **ret);
/* Stops the thread (POSTs in flight are cut off) and frees ev; NULL. */
struct rf_events *rf_events_free(struct rf_events *ev);

void rf_events_settings(struct rf_events *ev, struct rf_events_settings *ret);
/* Applies and saves s. 0, or -errno when the file cannot be written
 * (nothing changed then). */
int rf_events_set_settings(struct rf_events *ev, const struct rf_events_settings *s);

/* Adds a subscription (sub: as above without "Id" and "State"; taken),
 * saved. 0 and its Id in ret_id, -ENOSPC (RF_EVENTS_SUBS_MAX) or -errno
 * of the file (then it is not added). */
int rf_events_sub_add(struct rf_events *ev, json_t *sub, char ret_id[32]);
/* A copy of subscription id with "Id", "State" and "Queued" (its events
 * not delivered yet), or NULL. */
json_t *rf_events_sub_get(struct rf_events *ev, const char *id);
/* The Ids of the subscriptions, oldest first (new reference). */
json_t *rf_events_sub_ids(struct rf_events *ev);
/* Sets the members of changes (top level; null removes) on subscription
 * id, saved. "State": "Enabled" resumes a suspended one: its failures are
 * forgotten and its queue, less the events older than max_age_ms (< 0: all
 * kept), is delivered. 0, -ENOENT or -errno of the file. */
int rf_events_sub_update(struct rf_events *ev, const char *id, const json_t *changes,
                         int64_t max_age_ms);
/* Deletes subscription id (a POST in flight to it is let go). 0 or -ENOENT. */
int rf_events_sub_delete(struct rf_events *ev, const char *id);

/* Publishes one event: record is an Event's EventRecord (MessageId,
 * Message, MessageArgs, MessageSeverity, OriginOfCondition, ...; taken);
 * EventId, MemberId, EventType ("Other") and EventTimestamp (now) are set
 * when absent. resource_type: the schema name of OriginOfCondition's
 * resource ("Chassis"), for ResourceTypes filters; NULL: none. Returns the
 * EventId given, 0 when the service is disabled (record dropped). */
uint64_t rf_events_publish(struct rf_events *ev, json_t *record, const char *resource_type);
/* Sends a MetricReport (its resource body; not taken) to the
 * subscriptions with EventFormatType MetricReport that want the report of
 * definition (its path). */
void rf_events_publish_report(struct rf_events *ev, const char *definition, const json_t *report);

/* SSE: waits at most timeout_ms for an event newer than after: 1 with its
 * id and its Event body (malloc'd JSON text) in *ret_text, 0 when none
 * came, -ESHUTDOWN when the service is disabled or the engine stops. The
 * RF_EVENTS_RING newest events are kept; older ones are skipped. */
int rf_events_next(struct rf_events *ev, uint64_t after, int timeout_ms, uint64_t *ret_id,
                   char **ret_text);
/* The newest EventId given (SSE streams start after it). */
uint64_t rf_events_last_id(struct rf_events *ev);
/* Counts an SSE stream in: false when RF_EVENTS_STREAMS_MAX are open. */
bool rf_events_stream_open(struct rf_events *ev);
void rf_events_stream_close(struct rf_events *ev);

/* Does sub (a subscription, as above) want record (an EventRecord) whose
 * origin is a resource_type (NULL: unknown)? The filters of DSP0266:
 * RegistryPrefixes and MessageIds (either may match; versions ignored),
 * ResourceTypes, OriginResources (with SubordinateResources),
 * ExcludeRegistryPrefixes, ExcludeMessageIds, Severities. */
bool rf_events_match(const json_t *sub, const json_t *record, const char *resource_type);
/* The Event body one destination gets: {"@odata.type", "Id", "Name",
 * "Context" (when context is not NULL), "Events": [record]}. New reference. */
json_t *rf_event_body(const json_t *record, const char *context);

/* ISO 8601 durations as Redfish writes them (Schedule.RecurrenceInterval's
 * pattern, "P1DT2H3M4.5S"), in rf_event.c: 0 and *ret_ms, or -EINVAL
 * (also past a year). rf_duration_format: the short form ("PT1M30S",
 * "PT0S") into out (len bytes). */
int rf_duration_parse(const char *s, int64_t *ret_ms);
void rf_duration_format(int64_t ms, char *out, size_t len);
