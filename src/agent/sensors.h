/* SPDX-License-Identifier: MIT */
/*
 * The agent's sensors: one registry of everything the node can measure,
 * whatever the source. A sensor is chosen per [sensor ID] section of the
 * agent's config (docs/SENSORS.md):
 *
 *   hwmon:<chip name|hwmonN>/<temp1_input|fan1_input|power1_average|...>
 *   rapl:<zone>              RAPL powercap: Power (W) or EnergyJoules (J)
 *   proc:<cpu_util|loadavg1|loadavg5|loadavg15|mem_used_pct>
 *   ipmi:<SDR sensor name>   a BMC over IPMI-over-LAN, through ipmitool
 *   model:<name>             a value from a callback the integrator sets
 *                            (the physical model of the immersion box)
 *
 * With no [sensor ...] section at all the registry discovers what the host
 * has (hwmon temperatures, fans and power, RAPL packages, CPU use, load and
 * memory from /proc).
 *
 * Each reading is ok, stuck (unchanged for longer than the sensor's
 * stuck_after) or missing (the source is gone or unreadable; with a
 * reason). The last good value and its time are kept.
 *
 * Threads: sensors_poll*() may be called from one thread at a time (calls
 * from several are serialized); sensors_snapshot(), sensors_get() and
 * sensors_json() may be called from any thread at any time and never wait
 * for a source. IPMI queries run in a thread of their own, so a slow or
 * dead BMC never holds up a poll.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

struct config;
struct sensors;

#define SENSOR_ID_MAX 64
#define SENSOR_NAME_MAX 128
#define SENSOR_SOURCE_MAX 192
#define SENSOR_REASON_MAX 256
/* Sensors in one registry (configured plus discovered). */
#define SENSORS_MAX 512

enum sensor_status { SENSOR_OK = 0, SENSOR_STUCK, SENSOR_MISSING };

/* Redfish Sensor.Thresholds, in the sensor's unit. */
enum sensor_threshold {
	SENSOR_TH_UPPER_CRITICAL = 0,
	SENSOR_TH_UPPER_CAUTION,
	SENSOR_TH_LOWER_CAUTION,
	SENSOR_TH_LOWER_CRITICAL,
	SENSOR_TH_COUNT
};

struct sensor_thresholds {
	double value[SENSOR_TH_COUNT];
	bool set[SENSOR_TH_COUNT];
};

/* Where a reading stands against its thresholds (Redfish Status.Health). */
enum sensor_health { SENSOR_HEALTH_OK = 0, SENSOR_HEALTH_WARNING, SENSOR_HEALTH_CRITICAL };

/* What a sensor is. sensors_add() copies what it needs. */
struct sensor_def {
	const char *id;      /* 1..63 of [A-Za-z0-9_], starting with a letter */
	const char *name;    /* NULL: the id */
	const char *source;  /* "hwmon:coretemp/temp1_input", "model:coolant", ... */
	const char *type;    /* Redfish ReadingType; NULL: the source's own */
	const char *context; /* Redfish PhysicalContext; NULL: the source's guess */
	struct sensor_thresholds th;
	int stuck_after_s; /* stuck when unchanged this long; 0: never */
};

/* One reading: a copy that belongs to whoever asked for it. */
struct sensor_reading {
	char id[SENSOR_ID_MAX];
	char name[SENSOR_NAME_MAX];
	char source[SENSOR_SOURCE_MAX];
	const char *type;    /* static; NULL for a quantity Redfish has no type for */
	const char *unit;    /* static, Redfish ReadingUnits (UCUM): "Cel", "W", ... */
	const char *context; /* static, Redfish PhysicalContext */
	struct sensor_thresholds th;
	int stuck_after_s;
	enum sensor_status status;
	double value;                   /* the reading; NAN when missing */
	char reason[SENSOR_REASON_MAX]; /* why stuck or missing; "" when ok */
	int64_t time_ms;                /* when it was read (poll clock); 0: never polled */
	bool has_last_good;
	double last_good; /* the last ok value and when it was read */
	int64_t last_good_ms;
};

/* Reads the model's value of name; *ok = false when it has none. Called
 * from the polling thread with no registry lock held. */
typedef double (*sensors_model_read_fn)(void *cls, const char *name, bool *ok);

/* A registry from the agent's config (c may be NULL: defaults only): the
 * [sensor ID] sections, [sensors] and [ipmi]. Opens every source once (so
 * that counters have a first sample) but reads nothing yet. 0, or -EINVAL
 * with e naming the section and key at fault. */
int sensors_new(const struct config *c, struct sensors **ret, struct kerr *e);
/* Stops the IPMI thread (killing a running ipmitool) and frees s. */
struct sensors *sensors_free(struct sensors *s);

/* Adds a sensor (the integrator's model sensors). 0, -EINVAL (bad def,
 * e says why), -EEXIST (the id is taken) or -ENOSPC (SENSORS_MAX). */
int sensors_add(struct sensors *s, const struct sensor_def *def, struct kerr *e);
/* Where "model:" sensors get their values; NULL read: they are missing. */
void sensors_set_model_source(struct sensors *s, sensors_model_read_fn read, void *cls);

/* Reads every local and model source and applies the latest IPMI answer;
 * starts an IPMI query in the background when one is due (every [ipmi]
 * interval seconds). Never waits for the BMC. The clock is the wall clock. */
void sensors_poll(struct sensors *s);
/* The same with the caller's clock (ms): stuck and stale times and the
 * readings' times follow it (accelerated time on the model). */
void sensors_poll_at(struct sensors *s, int64_t now_ms);
/* Like sensors_poll, but when an IPMI query is due or running, waits for
 * its answer (at most the [ipmi] timeout) before applying it. */
void sensors_poll_wait(struct sensors *s);

size_t sensors_count(struct sensors *s);
/* A copy of every reading, in registry order (configured sensors first,
 * in file order). *ret: malloc'd array, free() it; NULL when n is 0. */
int sensors_snapshot(struct sensors *s, struct sensor_reading **ret, size_t *ret_n);
/* The reading of one sensor: 0 or -ENOENT. */
int sensors_get(struct sensors *s, const char *id, struct sensor_reading *ret);

const char *sensor_status_name(enum sensor_status st); /* "ok", "stuck", "missing" */
enum sensor_health sensor_reading_health(const struct sensor_reading *r);
const char *sensor_health_name(enum sensor_health h); /* "OK", "Warning", "Critical" */

/* {"id","name","type","unit","context","source","value","status","reason",
 *  "health","time","last_good_value","last_good_time","stuck_after",
 *  "thresholds":{"UpperCritical":..}}; value is null when missing. */
json_t *sensors_reading_json(const struct sensor_reading *r);
/* A JSON array of readings; sensors_json: of a fresh snapshot of s. */
json_t *sensors_readings_json(const struct sensor_reading *r, size_t n);
json_t *sensors_json(struct sensors *s);

/* `kumo-agent sensors [--config FILE] [--json] [--watch N [--count K]]`:
 * argv[0] is the subcommand's name. Reads every sensor once (or every N
 * seconds) and prints them. 0, 1 (config error), 2 (usage). */
int sensors_cli_main(int argc, char **argv);

/* --- between sensors.c and its sources (sensors_*.c) only --------------- */

/* The Redfish ReadingType table: the canonical (static) spelling of type
 * and its unit, or NULL when type is not one the registry knows. */
const char *sensor_type_canon(const char *type, const char **ret_unit);
/* The canonical spelling of a Redfish PhysicalContext, or NULL. */
const char *sensor_context_canon(const char *context);

/* A local source: hwmon, RAPL or /proc (sensors_hwmon.c). */
struct sensor_src;
/* Opens source ("hwmon:...", "rapl:...", "proc:...") under the sysfs and
 * proc roots. type: the type asked for, or NULL; *ret_type and
 * *ret_context: what the source measures and its likely context (static).
 * -EINVAL (a malformed spec or a type the source cannot give) with e;
 * -ENOENT when the kind is not a local one. A source that is absent now
 * opens fine and reads as missing. */
int sensor_src_open(const char *sysfs, const char *proc, const char *source, const char *type,
                    struct sensor_src **ret, const char **ret_type, const char **ret_context,
                    struct kerr *e);
/* The current value in the type's unit; 0, or -errno with reason filled. */
int sensor_src_read(struct sensor_src *src, double *ret, char *reason, size_t len);
struct sensor_src *sensor_src_free(struct sensor_src *src);
/* Calls add for every sensor the host has; stops at add's first error. */
int sensors_discover(const char *sysfs, const char *proc,
                     int (*add)(void *cls, const struct sensor_def *def), void *cls);
/* Mixed-case id of words ("coretemp", "Package id 0" -> "CoretempPackageId0")
 * into out (len bytes). */
void sensor_id_from_words(char *out, size_t len, const char *a, const char *b);

/* IPMI over LAN through ipmitool (sensors_ipmi.c). */
#define IPMI_NAME_MAX 64
struct ipmi_conf;
struct ipmi_poller;

/* One line of `ipmitool sdr elist full`. */
struct ipmi_row {
	char name[IPMI_NAME_MAX];
	char status[8]; /* "ok", "ns", "nc", "cr", "nr", ... */
	bool has_value;
	double value;
	char unit[32]; /* "degrees C", "RPM", "Watts", ... */
};

/* The [ipmi] section: *ret NULL (and 0) when there is none. -EINVAL with e
 * for a bad key or value, or a password file others can read. */
int ipmi_conf_load(const struct config *c, struct ipmi_conf **ret, struct kerr *e);
struct ipmi_conf *ipmi_conf_free(struct ipmi_conf *cf);
int ipmi_conf_interval_ms(const struct ipmi_conf *cf);
int ipmi_conf_timeout_ms(const struct ipmi_conf *cf);
/* The ipmitool command line for one query (NULL-terminated, malloc'd
 * strings in a malloc'd array; free with ipmi_argv_free). Never holds the
 * password. */
char **ipmi_argv(const struct ipmi_conf *cf);
void ipmi_argv_free(char **argv);
/* Rows of `sdr elist full` output; malloc'd array (NULL when n is 0). */
int ipmi_parse_elist(const char *text, struct ipmi_row **ret, size_t *ret_n);
/* The row's value in type's unit (degrees F and K become Cel). 0, or
 * -EINVAL with reason when the row has no value or another unit. */
int ipmi_row_value(const struct ipmi_row *row, const char *type, double *ret, char *reason,
                   size_t len);

/* A thread that runs one query at a time when kicked. cf is weak. */
struct ipmi_poller *ipmi_poller_new(const struct ipmi_conf *cf);
struct ipmi_poller *ipmi_poller_free(struct ipmi_poller *p);
/* Asks for a query unless one is running; returns the sequence number of
 * the query whose answer the caller should wait for. */
uint64_t ipmi_poller_kick(struct ipmi_poller *p);
/* Waits until the answer numbered seq is in (at most timeout_ms). */
void ipmi_poller_wait(struct ipmi_poller *p, uint64_t seq, int timeout_ms);
bool ipmi_poller_busy(struct ipmi_poller *p);
/* The latest answer if newer than *seen: 1 and *seen updated, rows copied
 * (malloc'd), r < 0 with reason when the query failed; 0 when nothing new. */
int ipmi_poller_take(struct ipmi_poller *p, uint64_t *seen, int *ret_r, struct ipmi_row **ret_rows,
                     size_t *ret_n, char *reason, size_t len);
