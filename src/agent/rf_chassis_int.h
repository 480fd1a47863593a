/* SPDX-License-Identifier: MIT */
/*
 * Between the files of the agent's Chassis module only: rf_chassis.c (the
 * Chassis collection, Chassis/box and the module's one route table),
 * rf_sensor.c (the sensors: what the box model and the host's own sensors
 * measure, as one list, and the Sensors collection), rf_thermal.c
 * (ThermalSubsystem, Fans, ThermalMetrics, the deprecated Thermal) and
 * rf_power.c (PowerSubsystem, EnvironmentMetrics, the deprecated Power).
 *
 * Every resource is built from one consistent look at the node (struct
 * rf_box, one per request: rf_box_of()): the thermal controller's view
 * (thermal_rt.h) when the node has one, and the sensors as struct
 * rf_sensor, the model's first, then the host's (sensors.h) whose ids the
 * model does not use. Each resource's
 * ETag is a hash of what its body was built from (rf_hash_*), so that it
 * changes with every new reading without a client's write, and no body
 * has to be serialised to compute it.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent/redfish_agent.h"
#include "agent/sensors.h"
#include "agent/thermal_rt.h"
#include "common/util.h"

#define RF_CHASSIS RF_ROOT "/Chassis"
#define RF_BOX RF_CHASSIS "/box" /* the sealed immersion-cooled enclosure */
#define RF_BOX_SENSORS RF_BOX "/Sensors"
#define RF_BOX_THERMAL_SUB RF_BOX "/ThermalSubsystem"
#define RF_BOX_FANS RF_BOX_THERMAL_SUB "/Fans"
#define RF_BOX_THERMAL_METRICS RF_BOX_THERMAL_SUB "/ThermalMetrics"
#define RF_BOX_HEATERS RF_BOX_THERMAL_SUB "/Heaters" /* rf_thermaleq.c's */
#define RF_BOX_CONTROLS RF_BOX "/Controls"           /* rf_thermaleq.c's */
#define RF_BOX_POWER_SUB RF_BOX "/PowerSubsystem"
#define RF_BOX_ENV RF_BOX "/EnvironmentMetrics"
#define RF_BOX_THERMAL RF_BOX "/Thermal" /* deprecated */
#define RF_BOX_POWER RF_BOX "/Power"     /* deprecated */
#define RF_IMMERSION_UNIT RF_ROOT "/ThermalEquipment/ImmersionUnits/1"
#define RF_HOST_SYSTEM RF_ROOT "/Systems/host"
#define RF_AGENT_MANAGER RF_ROOT "/Managers/agent"

#define RF_PATH_MAX 160
#define RF_SENSOR_CONDS_MAX 3

/* One entry of Status.Conditions. */
struct rf_cond {
	char message_id[THERMAL_MSGID_MAX]; /* "SensorEvent.1.1.0.SensorFailure" */
	char message[THERMAL_TEXT_MAX];
	int nargs; /* < 0: no MessageArgs */
	char args[THERMAL_NARGS_MAX][THERMAL_ARG_MAX];
	const char *severity; /* static: "OK", "Warning", "Critical" */
	int64_t time_ms;      /* Timestamp; 0: none */
	/* The resource the condition is about; "": the resource itself. Shown
	 * as OriginOfCondition (a link the core's $expand leaves as it is)
	 * and, as before, as Oem.Kumo.OriginOfCondition (a URI string). */
	char origin[RF_PATH_MAX];
};

enum rf_reading_state {
	RF_READING_OK,
	RF_READING_STUCK,   /* a value, but frozen: the source is at fault */
	RF_READING_MISSING, /* no value */
};

/* One sensor as the Sensor resource shows it. */
struct rf_sensor {
	char id[SENSOR_ID_MAX];
	char name[SENSOR_NAME_MAX];
	char source[SENSOR_SOURCE_MAX]; /* "model:coolant", "hwmon:coretemp/temp1_input" */
	const char *type;               /* static; ReadingType, NULL: none */
	const char *unit;               /* static; ReadingUnits, NULL: none */
	const char *context;            /* static; PhysicalContext, NULL: none */
	const char *implementation;     /* static; "PhysicalSensor", "Synthesized", "Reported" */
	enum rf_reading_state state;
	double reading;              /* NAN: none (null) */
	double rpm;                  /* SpeedRPM; NAN: none */
	double range_min, range_max; /* ReadingRangeMin/Max; NAN: none */
	struct sensor_thresholds th;
	int64_t time_ms;                /* ReadingTime; 0: never read */
	int64_t reset_ms;               /* SensorResetTime (counters); 0: none */
	const char *health;             /* static: "OK", "Warning", "Critical" */
	char reason[SENSOR_REASON_MAX]; /* why stuck or missing */
	bool has_last_good;
	double last_good;
	int64_t last_good_ms;
	int ncond;
	struct rf_cond cond[RF_SENSOR_CONDS_MAX]; /* last: rf_sensor.c zeroes what is before */
};

/* What one request sees of the node. */
struct rf_box {
	bool thermal; /* v is valid */
	struct thermal_rt_view v;
	struct rf_sensor *s; /* owned; the model's first */
	size_t n;
};

/* Loads the whole box. Never fails (a node without model and sensors has
 * no sensors). Free with rf_box_clear(). */
void rf_box_load(const struct rf_agent_ctx *ctx, struct rf_box *ret);
void rf_box_clear(struct rf_box *b);
/* The box as this request sees it: loaded at its first use and shared by
 * every GET of the request (rf_call_memo(): a collection and the members
 * its $expand fetches are built from one snapshot, loaded once). Borrowed,
 * until the request ends. */
const struct rf_box *rf_box_of(struct rf_call *call);
/* The same when an earlier GET of the request loaded it, else NULL. */
const struct rf_box *rf_box_loaded(struct rf_call *call);
/* A sensor of b by id, or NULL. */
const struct rf_sensor *rf_box_sensor(const struct rf_box *b, const char *id);
/* One sensor without loading the others: 0 or -ENOENT. */
int rf_sensor_load(const struct rf_agent_ctx *ctx, const char *id, struct rf_sensor *ret);

/* "Fan1Percent": the Percent sensor of fan i (0-based). out has SENSOR_ID_MAX bytes. */
void rf_fan_sensor_id(int i, bool percent, char *out);
/* The path of sensor id. out has RF_PATH_MAX bytes. */
void rf_sensor_path(const char *id, char *out);

/* Bodies and pieces of bodies. New references. */
json_t *rf_sensor_json(const struct rf_sensor *s);
/* {"Reading", "DataSourceUri"}, and "SpeedRPM" with rpm, or an excerpt of
 * an array ("DeviceName", "PhysicalContext") with array. */
json_t *rf_sensor_excerpt(const struct rf_sensor *s, bool rpm, bool array);
/* A number, or null for NAN. */
json_t *rf_number(double v);
json_t *rf_cond_json(const struct rf_cond *c);
/* {"State", "Health", "Conditions"}; conds may be NULL when n is 0. */
json_t *rf_status_json(const char *state, const char *health, const struct rf_cond *conds,
                       size_t n);

/* The controller's alarms as conditions (all, or only those matching
 * the key prefix, NULL = all); malloc'd array, *ret_n entries. */
struct rf_cond *rf_alarm_conds(const struct rf_agent_ctx *ctx, const struct thermal_rt_view *v,
                               const char *prefix, size_t *ret_n);
/* "OK", "Warning", "Critical" of the controller's state. */
const char *rf_state_health(enum thermal_state st);
/* The worse of two healths. */
const char *rf_health_worse(const char *a, const char *b);

/* ETags: FNV-1a 64 of what a body is built from. */
#define RF_HASH_INIT FNV1A_INIT
uint64_t rf_hash_bytes(uint64_t h, const void *p, size_t n);
uint64_t rf_hash_str(uint64_t h, const char *s);
uint64_t rf_hash_sensor(uint64_t h, const struct rf_sensor *s);
uint64_t rf_hash_box(uint64_t h, const struct rf_box *b);
void rf_set_hash_etag(struct rf_call *call, uint64_t h);

/* Handlers (GET), listed in rf_chassis.c's route table. */
void rf_sensors_list(struct rf_call *call);
void rf_sensor_get(struct rf_call *call);
void rf_thermal_subsystem_get(struct rf_call *call);
void rf_fans_list(struct rf_call *call);
void rf_fan_get(struct rf_call *call);
void rf_thermal_metrics_get(struct rf_call *call);
void rf_thermal_get(struct rf_call *call);
void rf_power_subsystem_get(struct rf_call *call);
void rf_environment_metrics_get(struct rf_call *call);
void rf_power_get(struct rf_call *call);
