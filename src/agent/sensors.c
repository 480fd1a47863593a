// SPDX-License-Identifier: MIT
/*
 * The sensor registry (sensors.h): the [sensor ID], [sensors] and [ipmi]
 * sections of the agent's config, the list of sensors, polling, the
 * ok / stuck / missing status of each reading, the last good value, the
 * JSON form, and `kumo-agent sensors`.
 *
 * Reading the sources is left to sensors_hwmon.c (hwmon, RAPL, /proc) and
 * sensors_ipmi.c (a BMC through ipmitool); "model:" sensors ask the
 * callback the integrator sets. Nothing here logs: sensors_new() explains
 * a bad config in its struct kerr, and a reading carries its own reason.
 *
 * Locks: poll_mu serializes polls and additions (sources keep counter
 * state and are only touched under it); mu guards the list and the
 * readings, and is never held while a source is read.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/sensors.h"
#include "common/config.h"
#include "common/util.h"

#define SETTLE_MS 500 /* the CLI's window for rates (CPU use, RAPL power) */

enum sensor_kind { KIND_LOCAL, KIND_IPMI, KIND_MODEL };

struct sensor {
	char *id, *name, *source; /* owned */
	const char *arg;          /* weak, into source: the IPMI or model name */
	const char *type;         /* static, may be NULL */
	const char *unit;         /* static */
	const char *context;      /* static */
	struct sensor_thresholds th;
	int stuck_after_s;
	enum sensor_kind kind;
	struct sensor_src *src; /* owned; local sensors; touched under poll_mu */
	/* the reading, guarded by mu */
	enum sensor_status status;
	double value;
	char reason[SENSOR_REASON_MAX];
	int64_t time_ms;
	bool has_last_good;
	double last_good;
	int64_t last_good_ms;
	bool has_ref; /* the value a stuck sensor is stuck at, and since when */
	double ref;
	int64_t ref_ms;
};

struct sensors {
	pthread_mutex_t poll_mu;
	pthread_mutex_t mu;
	struct sensor **v; /* owned */
	size_t n;
	char *sysfs, *proc;       /* owned */
	struct ipmi_conf *ipmi;   /* owned, or NULL */
	struct ipmi_poller *poll; /* owned; made with the first ipmi: sensor */
	int64_t ipmi_asked_mono;  /* when the last query was asked for; 0: never */
	uint64_t ipmi_seen;       /* the last answer applied */
	bool ipmi_answered;
	int64_t ipmi_answer_ms;           /* poll clock of the last answer applied */
	sensors_model_read_fn model_read; /* guarded by mu */
	void *model_cls;
};

/* --- types and contexts ------------------------------------------------------ */

static const struct {
	const char *type, *unit;
} sensor_types[] = {
	{ "Temperature", "Cel" }, { "Humidity", "%" },
	{ "Power", "W" },         { "EnergyJoules", "J" },
	{ "EnergyWh", "W.h" },    { "EnergykWh", "kW.h" },
	{ "Voltage", "V" },       { "Current", "A" },
	{ "Frequency", "Hz" },    { "Rotational", "{rev}/min" },
	{ "Percent", "%" },       { "LiquidFlowLPM", "L/min" },
	{ "PressurekPa", "kPa" },
};

/* Redfish PhysicalContext (PhysicalContext.json). */
/* clang-format off */
static const char *const sensor_contexts[] = {
	"Room", "Intake", "Exhaust", "LiquidInlet", "LiquidOutlet", "Front", "Back", "Upper",
	"Lower", "CPU", "CPUSubsystem", "GPU", "GPUSubsystem", "FPGA", "Accelerator", "ASIC",
	"Backplane", "SystemBoard", "PowerSupply", "PowerSubsystem", "VoltageRegulator",
	"Rectifier", "StorageDevice", "StorageSubsystem", "NetworkingDevice",
	"ExpansionSubsystem", "ComputeBay", "StorageBay", "NetworkBay", "ExpansionBay",
	"PowerSupplyBay", "Memory", "MemorySubsystem", "Chassis", "Fan", "CoolingSubsystem",
	"Motor", "Transformer", "ACUtilityInput", "ACStaticBypassInput",
	"ACMaintenanceBypassInput", "DCBus", "ACOutput", "ACInput", "PowerOutlet",
	"TrustedModule", "Board", "Transceiver", "Battery", "Pump", "Filter", "Reservoir",
	"Switch", "Manager",
};
/* clang-format on */

const char *sensor_type_canon(const char *type, const char **ret_unit)
{
	for (size_t i = 0; type && i < ARRAY_SIZE(sensor_types); i++) {
		if (strcasecmp(type, sensor_types[i].type) != 0)
			continue;
		if (ret_unit)
			*ret_unit = sensor_types[i].unit;
		return sensor_types[i].type;
	}
	return NULL;
}

const char *sensor_context_canon(const char *context)
{
	for (size_t i = 0; context && i < ARRAY_SIZE(sensor_contexts); i++)
		if (!strcasecmp(context, sensor_contexts[i]))
			return sensor_contexts[i];
	return NULL;
}

static const char *const threshold_names[SENSOR_TH_COUNT] = {
	[SENSOR_TH_UPPER_CRITICAL] = "UpperCritical",
	[SENSOR_TH_UPPER_CAUTION] = "UpperCaution",
	[SENSOR_TH_LOWER_CAUTION] = "LowerCaution",
	[SENSOR_TH_LOWER_CRITICAL] = "LowerCritical",
};

static const char *const threshold_keys[SENSOR_TH_COUNT] = {
	[SENSOR_TH_UPPER_CRITICAL] = "upper_critical",
	[SENSOR_TH_UPPER_CAUTION] = "upper_caution",
	[SENSOR_TH_LOWER_CAUTION] = "lower_caution",
	[SENSOR_TH_LOWER_CRITICAL] = "lower_critical",
};

const char *sensor_status_name(enum sensor_status st)
{
	switch (st) {
	case SENSOR_OK:
		return "ok";
	case SENSOR_STUCK:
		return "stuck";
	case SENSOR_MISSING:
		return "missing";
	}
	return "missing";
}

const char *sensor_health_name(enum sensor_health h)
{
	return h == SENSOR_HEALTH_CRITICAL  ? "Critical"
	       : h == SENSOR_HEALTH_WARNING ? "Warning"
	                                    : "OK";
}

enum sensor_health sensor_reading_health(const struct sensor_reading *r)
{
	const struct sensor_thresholds *th = &r->th;
	double v = r->value;

	if (r->status != SENSOR_OK)
		return SENSOR_HEALTH_WARNING; /* a reading nobody can trust */
	if ((th->set[SENSOR_TH_UPPER_CRITICAL] && v >= th->value[SENSOR_TH_UPPER_CRITICAL]) ||
	    (th->set[SENSOR_TH_LOWER_CRITICAL] && v <= th->value[SENSOR_TH_LOWER_CRITICAL]))
		return SENSOR_HEALTH_CRITICAL;
	if ((th->set[SENSOR_TH_UPPER_CAUTION] && v >= th->value[SENSOR_TH_UPPER_CAUTION]) ||
	    (th->set[SENSOR_TH_LOWER_CAUTION] && v <= th->value[SENSOR_TH_LOWER_CAUTION]))
		return SENSOR_HEALTH_WARNING;
	return SENSOR_HEALTH_OK;
}

/* --- the registry ------------------------------------------------------------ */

static struct sensor *sensor_free(struct sensor *x)
{
	if (!x)
		return NULL;
	sensor_src_free(x->src);
	free(x->id);
	free(x->name);
	free(x->source);
	free(x);
	return NULL;
}

static struct sensors *registry_new(const char *sysfs, const char *proc)
{
	struct sensors *s = xcalloc(1, sizeof(*s));

	pthread_mutex_init(&s->poll_mu, NULL);
	pthread_mutex_init(&s->mu, NULL);
	s->sysfs = xstrdup(sysfs);
	s->proc = xstrdup(proc);
	return s;
}

struct sensors *sensors_free(struct sensors *s)
{
	if (!s)
		return NULL;
	ipmi_poller_free(s->poll);
	for (size_t i = 0; i < s->n; i++)
		sensor_free(s->v[i]);
	free(s->v);
	ipmi_conf_free(s->ipmi);
	free(s->sysfs);
	free(s->proc);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->poll_mu);
	free(s);
	return NULL;
}

static bool id_valid(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (n == 0 || n >= SENSOR_ID_MAX || !isalpha((unsigned char)id[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)id[i]) && id[i] != '_')
			return false;
	return true;
}

static bool text_valid(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n >= max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

static struct sensor *find_locked(struct sensors *s, const char *id)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i]->id, id))
			return s->v[i];
	return NULL;
}

/* The source of x: its kind, and its type and context when def leaves
 * them out. */
static int open_source(struct sensors *s, struct sensor *x, const char *type, struct kerr *e)
{
	const char *rtype = NULL, *rcontext = "SystemBoard";
	int r;

	if (str_startswith(x->source, "model:") || str_startswith(x->source, "ipmi:")) {
		bool ipmi = str_startswith(x->source, "ipmi:");

		x->kind = ipmi ? KIND_IPMI : KIND_MODEL;
		x->arg = strchr(x->source, ':') + 1;
		if (!text_valid(x->arg, IPMI_NAME_MAX))
			return kerr_set(e, -EINVAL, "source", "%s: no name after %s", x->source,
			                ipmi ? "ipmi:" : "model:");
		if (!type)
			return kerr_set(e, -EINVAL, "type",
			                "%s: a type is needed (Temperature, ...)", x->source);
		if (ipmi && !s->ipmi)
			return kerr_set(e, -EINVAL, "source",
			                "%s: there is no [ipmi] section with "
			                "the BMC's host",
			                x->source);
		x->type = type;
		x->context = ipmi ? "SystemBoard" : "Chassis";
		return 0;
	}
	x->kind = KIND_LOCAL;
	r = sensor_src_open(s->sysfs, s->proc, x->source, type, &x->src, &rtype, &rcontext, e);
	if (r == -ENOENT)
		return kerr_set(e, -EINVAL, "source",
		                "%s: a source is hwmon:, rapl:, proc:, ipmi: or model:", x->source);
	if (r < 0)
		return r;
	x->type = rtype ? sensor_type_canon(rtype, NULL) : NULL;
	x->context = rcontext;
	return 0;
}

static struct sensor *sensor_from_def(struct sensors *s, const struct sensor_def *def,
                                      struct kerr *e)
{
	const char *type = NULL, *context = NULL, *unit;
	struct sensor *x;

	if (!id_valid(def->id)) {
		kerr_set(e, -EINVAL, "id",
		         "sensor id %s: 1 to 63 letters, digits or _, from a letter",
		         def->id ? def->id : "(none)");
		return NULL;
	}
	if (def->name && !text_valid(def->name, SENSOR_NAME_MAX)) {
		kerr_set(e, -EINVAL, "name", "sensor %s: a name is 1 to %d printable characters",
		         def->id, SENSOR_NAME_MAX - 1);
		return NULL;
	}
	if (!def->source || !text_valid(def->source, SENSOR_SOURCE_MAX)) {
		kerr_set(e, -EINVAL, "source", "sensor %s: %s", def->id,
		         def->source ? "the source is not printable text" : "no source");
		return NULL;
	}
	if (def->type && !(type = sensor_type_canon(def->type, NULL))) {
		kerr_set(e, -EINVAL, "type", "sensor %s: unknown type %s", def->id, def->type);
		return NULL;
	}
	if (def->context && !(context = sensor_context_canon(def->context))) {
		kerr_set(e, -EINVAL, "context", "sensor %s: unknown context %s", def->id,
		         def->context);
		return NULL;
	}
	if (def->stuck_after_s < 0) {
		kerr_set(e, -EINVAL, "stuck_after", "sensor %s: stuck_after < 0", def->id);
		return NULL;
	}
	for (int i = 0; i < SENSOR_TH_COUNT; i++)
		if (def->th.set[i] && !isfinite(def->th.value[i])) {
			kerr_set(e, -EINVAL, threshold_keys[i], "sensor %s: not a number", def->id);
			return NULL;
		}
	x = xcalloc(1, sizeof(*x));
	x->id = xstrdup(def->id);
	x->name = xstrdup(def->name ? def->name : def->id);
	x->source = xstrdup(def->source);
	x->th = def->th;
	x->stuck_after_s = def->stuck_after_s;
	x->status = SENSOR_MISSING;
	snprintf(x->reason, sizeof(x->reason), "not read yet");
	if (open_source(s, x, type, e) < 0) {
		if (e && e->message[0] && strncmp(e->message, "sensor ", 7) != 0) {
			char msg[KERR_MSG_MAX], field[KERR_FIELD_MAX];

			snprintf(msg, sizeof(msg), "%s", e->message);
			snprintf(field, sizeof(field), "%s", e->field);
			kerr_set(e, e->code, field, "sensor %s: %s", def->id, msg);
		}
		return sensor_free(x);
	}
	if (context)
		x->context = context;
	unit = "1"; /* dimensionless (load average) */
	if (x->type)
		sensor_type_canon(x->type, &unit);
	x->unit = unit;
	return x;
}

int sensors_add(struct sensors *s, const struct sensor_def *def, struct kerr *e)
{
	struct sensor *x;
	int r = 0;

	pthread_mutex_lock(&s->poll_mu);
	x = sensor_from_def(s, def, e);
	if (!x) {
		r = e && e->code ? e->code : -EINVAL;
		goto out;
	}
	if (x->kind == KIND_IPMI && !s->poll)
		s->poll = ipmi_poller_new(s->ipmi);
	pthread_mutex_lock(&s->mu);
	if (find_locked(s, x->id)) {
		r = kerr_set(e, -EEXIST, "id", "sensor %s is there already", x->id);
	} else if (s->n == SENSORS_MAX) {
		r = kerr_set(e, -ENOSPC, "id", "more than %d sensors", SENSORS_MAX);
	} else {
		s->v = xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
		s->v[s->n++] = x;
		x = NULL;
	}
	pthread_mutex_unlock(&s->mu);
	sensor_free(x);
out:
	pthread_mutex_unlock(&s->poll_mu);
	return r;
}

void sensors_set_model_source(struct sensors *s, sensors_model_read_fn read, void *cls)
{
	pthread_mutex_lock(&s->mu);
	s->model_read = read;
	s->model_cls = cls;
	pthread_mutex_unlock(&s->mu);
}

/* --- config --------------------------------------------------------------------- */

struct load {
	struct sensors *s;
	const struct config *c;
	struct kerr *e;
	const char *section; /* the one being checked */
	size_t configured;
};

static int parse_double(const char *s, double *ret)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end || errno || !isfinite(v))
		return -EINVAL;
	*ret = v;
	return 0;
}

static int sensor_key_check(void *cls, const char *key, const char *value)
{
	static const char *const keys[] = { "source", "name", "type", "context", "stuck_after" };
	struct load *l = cls;

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (!strcmp(key, keys[i]))
			return 0;
	for (int i = 0; i < SENSOR_TH_COUNT; i++)
		if (!strcmp(key, threshold_keys[i]))
			return 0;
	return kerr_set(l->e, -EINVAL, key, "[%s]: unknown key %s", l->section, key);
}

static int load_sensor(struct load *l, const char *section, const char *id)
{
	const struct config *c = l->c;
	struct sensor_def def = { 0 };
	const char *stuck;
	int r;

	l->section = section;
	r = config_each_key(c, section, sensor_key_check, l);
	if (r < 0)
		return r;
	def.id = id;
	def.name = config_str(c, section, "name", NULL);
	def.source = config_str(c, section, "source", NULL);
	def.type = config_str(c, section, "type", NULL);
	def.context = config_str(c, section, "context", NULL);
	if (!def.source)
		return kerr_set(l->e, -EINVAL, "source", "[%s]: no source", section);
	for (int i = 0; i < SENSOR_TH_COUNT; i++) {
		const char *v = config_str(c, section, threshold_keys[i], NULL);

		if (!v)
			continue;
		if (parse_double(v, &def.th.value[i]) < 0)
			return kerr_set(l->e, -EINVAL, threshold_keys[i],
			                "[%s] %s: %s is not a number", section, threshold_keys[i],
			                v);
		def.th.set[i] = true;
	}
	stuck = config_str(c, section, "stuck_after", NULL);
	if (stuck) {
		double v;

		if (parse_double(stuck, &v) < 0 || v < 0 || v > 366 * 86400.0)
			return kerr_set(l->e, -EINVAL, "stuck_after",
			                "[%s] stuck_after: %s is not a number of seconds", section,
			                stuck);
		def.stuck_after_s = (int)v;
	}
	l->configured++;
	return sensors_add(l->s, &def, l->e);
}

static int load_section(void *cls, const char *section)
{
	struct load *l = cls;
	const char *id;

	if (strncmp(section, "sensor", 6) != 0 || !(section[6] == ' ' || section[6] == '\0'))
		return 0; /* [sensors], [ipmi] and the rest of the agent's config */
	id = section + 6;
	while (*id == ' ')
		id++;
	if (!id_valid(id))
		return kerr_set(l->e, -EINVAL, "id",
		                "[%s]: a sensor section is [sensor ID], ID 1 to 63 letters, "
		                "digits or _",
		                section);
	return load_sensor(l, section, id);
}

static int sensors_key_check(void *cls, const char *key, const char *value)
{
	struct load *l = cls;

	if (!strcmp(key, "discover") || !strcmp(key, "sysfs_root") || !strcmp(key, "proc_root"))
		return 0;
	return kerr_set(l->e, -EINVAL, key, "[sensors]: unknown key %s", key);
}

/* A discovered sensor; an id taken already gets a number. Configured
 * sensors win over discovered ones with the same source. */
static int discovered(void *cls, const struct sensor_def *def)
{
	struct load *l = cls;
	struct sensor_def d = *def;
	char id[SENSOR_ID_MAX];
	struct kerr e2;
	bool taken = false;
	int r;

	pthread_mutex_lock(&l->s->mu);
	for (size_t i = 0; i < l->s->n && !taken; i++)
		taken = !strcmp(l->s->v[i]->source, def->source) &&
		        (!def->type || (l->s->v[i]->type && !strcmp(l->s->v[i]->type, def->type)));
	pthread_mutex_unlock(&l->s->mu);
	if (taken)
		return 0;
	for (int k = 1; k < 100; k++) {
		if (k > 1)
			snprintf(id, sizeof(id), "%.58s_%d", def->id, k);
		else
			snprintf(id, sizeof(id), "%s", def->id);
		d.id = id;
		kerr_clear(&e2);
		r = sensors_add(l->s, &d, &e2);
		if (r != -EEXIST)
			return r == -ENOSPC ? 0
			       : r < 0      ? kerr_set(l->e, r, e2.field, "%s", e2.message)
			                    : 0;
	}
	return 0;
}

int sensors_new(const struct config *c, struct sensors **ret, struct kerr *e)
{
	struct kerr local;
	struct load l = { 0 };
	const char *discover;
	struct sensors *s;
	int r;

	if (!e)
		e = &local;
	kerr_clear(e);
	l.e = e;
	l.c = c;
	l.section = "sensors";
	r = config_each_key(c, "sensors", sensors_key_check, &l);
	if (r < 0)
		return r;
	discover = config_str(c, "sensors", "discover", "auto");
	if (strcmp(discover, "auto") && strcmp(discover, "on") && strcmp(discover, "off"))
		return kerr_set(e, -EINVAL, "discover", "[sensors] discover: auto, on or off");
	s = registry_new(config_str(c, "sensors", "sysfs_root", "/sys"),
	                 config_str(c, "sensors", "proc_root", "/proc"));
	l.s = s;
	r = ipmi_conf_load(c, &s->ipmi, e);
	if (r == 0)
		r = config_each_section(c, load_section, &l);
	if (r == 0 && (!strcmp(discover, "on") || (!strcmp(discover, "auto") && !l.configured)))
		r = sensors_discover(s->sysfs, s->proc, discovered, &l);
	if (r < 0) {
		sensors_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

/* --- polling ---------------------------------------------------------------------- */

struct result {
	int r;
	double v;
	char reason[SENSOR_REASON_MAX];
};

/* Puts one read into x's reading (x under mu). */
static void apply(struct sensor *x, const struct result *res, int64_t now)
{
	x->time_ms = now;
	if (res->r < 0 || !isfinite(res->v)) {
		x->status = SENSOR_MISSING;
		snprintf(x->reason, sizeof(x->reason), "%s",
		         res->r < 0 ? res->reason : "the source gave no number");
		return;
	}
	x->value = res->v;
	if (!x->has_ref || res->v != x->ref) {
		x->has_ref = true;
		x->ref = res->v;
		x->ref_ms = now;
	}
	if (x->stuck_after_s > 0 && now - x->ref_ms >= (int64_t)x->stuck_after_s * 1000) {
		x->status = SENSOR_STUCK;
		snprintf(x->reason, sizeof(x->reason), "unchanged at %g for %lld s", res->v,
		         (long long)((now - x->ref_ms) / 1000));
		return;
	}
	x->status = SENSOR_OK;
	x->reason[0] = '\0';
	x->has_last_good = true;
	x->last_good = res->v;
	x->last_good_ms = now;
}

static void read_one(struct sensor *x, sensors_model_read_fn model, void *cls, struct result *res)
{
	bool ok = false;

	res->r = 0;
	res->reason[0] = '\0';
	if (x->kind == KIND_LOCAL) {
		res->r = sensor_src_read(x->src, &res->v, res->reason, sizeof(res->reason));
		return;
	}
	if (!model) {
		res->r = -ENOENT;
		snprintf(res->reason, sizeof(res->reason), "no model is running");
		return;
	}
	res->v = model(cls, x->arg, &ok);
	if (!ok) {
		res->r = -ENODATA;
		snprintf(res->reason, sizeof(res->reason), "the model has no value for %s", x->arg);
	}
}

/* The IPMI sensors from a fresh answer (s under mu). */
static void apply_ipmi(struct sensors *s, int r, const struct ipmi_row *rows, size_t n,
                       const char *reason, int64_t now)
{
	for (size_t i = 0; i < s->n; i++) {
		struct sensor *x = s->v[i];
		struct result res = { .r = r };
		const struct ipmi_row *row = NULL;

		if (x->kind != KIND_IPMI)
			continue;
		if (r < 0) {
			snprintf(res.reason, sizeof(res.reason), "BMC: %.240s", reason);
			apply(x, &res, now);
			continue;
		}
		for (size_t k = 0; k < n && !row; k++)
			if (!strcmp(rows[k].name, x->arg))
				row = &rows[k];
		if (!row) {
			res.r = -ENOENT;
			snprintf(res.reason, sizeof(res.reason), "the BMC has no sensor named %s",
			         x->arg);
		} else {
			res.r =
			    ipmi_row_value(row, x->type, &res.v, res.reason, sizeof(res.reason));
		}
		apply(x, &res, now);
	}
}

/* IPMI sensors with no fresh answer: missing when the last is too old. */
static void age_ipmi(struct sensors *s, int64_t now)
{
	int64_t stale = 3LL * ipmi_conf_interval_ms(s->ipmi);

	if (stale < ipmi_conf_interval_ms(s->ipmi) + ipmi_conf_timeout_ms(s->ipmi))
		stale = ipmi_conf_interval_ms(s->ipmi) + ipmi_conf_timeout_ms(s->ipmi);
	for (size_t i = 0; i < s->n; i++) {
		struct sensor *x = s->v[i];

		if (x->kind != KIND_IPMI)
			continue;
		if (!s->ipmi_answered) {
			x->status = SENSOR_MISSING;
			snprintf(x->reason, sizeof(x->reason),
			         "waiting for the first answer from the BMC");
		} else if (now - s->ipmi_answer_ms > stale) {
			x->status = SENSOR_MISSING;
			snprintf(x->reason, sizeof(x->reason), "no answer from the BMC for %lld s",
			         (long long)((now - s->ipmi_answer_ms) / 1000));
		}
	}
}

/* Asks for an IPMI query when one is due; with wait, waits for the
 * answer of a query due or running. Under poll_mu. */
static void ipmi_due(struct sensors *s, bool wait)
{
	int64_t m = mono_ms();
	bool asked = false;
	uint64_t seq = 0;

	if (!s->poll)
		return;
	if (!s->ipmi_asked_mono || m - s->ipmi_asked_mono >= ipmi_conf_interval_ms(s->ipmi)) {
		seq = ipmi_poller_kick(s->poll);
		s->ipmi_asked_mono = m ? m : 1;
		asked = true;
	}
	if (!wait || (!asked && !ipmi_poller_busy(s->poll)))
		return;
	if (!asked)
		seq = ipmi_poller_kick(s->poll);
	ipmi_poller_wait(s->poll, seq, ipmi_conf_timeout_ms(s->ipmi) + 2000);
}

static void poll_at(struct sensors *s, int64_t now, bool wait)
{
	char reason[SENSOR_REASON_MAX];
	struct ipmi_row *rows = NULL;
	struct result *res;
	sensors_model_read_fn model;
	void *cls;
	size_t n, nrows = 0;
	int fresh = 0, r = 0;

	pthread_mutex_lock(&s->poll_mu);
	ipmi_due(s, wait);
	pthread_mutex_lock(&s->mu);
	n = s->n; /* stable: additions take poll_mu */
	model = s->model_read;
	cls = s->model_cls;
	pthread_mutex_unlock(&s->mu);
	res = xcalloc(n ? n : 1, sizeof(*res));
	for (size_t i = 0; i < n; i++)
		if (s->v[i]->kind != KIND_IPMI)
			read_one(s->v[i], model, cls, &res[i]);
	if (s->poll)
		fresh = ipmi_poller_take(s->poll, &s->ipmi_seen, &r, &rows, &nrows, reason,
		                         sizeof(reason));
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < n; i++)
		if (s->v[i]->kind != KIND_IPMI)
			apply(s->v[i], &res[i], now);
	if (fresh) {
		apply_ipmi(s, r, rows, nrows, reason, now);
		s->ipmi_answered = true;
		s->ipmi_answer_ms = now;
	} else if (s->poll) {
		age_ipmi(s, now);
	}
	pthread_mutex_unlock(&s->mu);
	pthread_mutex_unlock(&s->poll_mu);
	free(rows);
	free(res);
}

void sensors_poll_at(struct sensors *s, int64_t now_ms)
{
	poll_at(s, now_ms, false);
}

void sensors_poll(struct sensors *s)
{
	poll_at(s, now_ms(), false);
}

void sensors_poll_wait(struct sensors *s)
{
	poll_at(s, now_ms(), true);
}

/* --- readings ----------------------------------------------------------------------- */

static void copy_reading(const struct sensor *x, struct sensor_reading *r)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "%s", x->id);
	snprintf(r->name, sizeof(r->name), "%s", x->name);
	snprintf(r->source, sizeof(r->source), "%s", x->source);
	r->type = x->type;
	r->unit = x->unit;
	r->context = x->context;
	r->th = x->th;
	r->stuck_after_s = x->stuck_after_s;
	r->status = x->status;
	r->value = x->status == SENSOR_MISSING ? NAN : x->value;
	snprintf(r->reason, sizeof(r->reason), "%s", x->reason);
	r->time_ms = x->time_ms;
	r->has_last_good = x->has_last_good;
	r->last_good = x->last_good;
	r->last_good_ms = x->last_good_ms;
}

size_t sensors_count(struct sensors *s)
{
	size_t n;

	pthread_mutex_lock(&s->mu);
	n = s->n;
	pthread_mutex_unlock(&s->mu);
	return n;
}

int sensors_snapshot(struct sensors *s, struct sensor_reading **ret, size_t *ret_n)
{
	struct sensor_reading *v;
	size_t n;

	pthread_mutex_lock(&s->mu);
	n = s->n;
	v = n ? xcalloc(n, sizeof(*v)) : NULL;
	for (size_t i = 0; i < n; i++)
		copy_reading(s->v[i], &v[i]);
	pthread_mutex_unlock(&s->mu);
	*ret = v;
	*ret_n = n;
	return 0;
}

int sensors_get(struct sensors *s, const char *id, struct sensor_reading *ret)
{
	struct sensor *x;

	pthread_mutex_lock(&s->mu);
	x = find_locked(s, id);
	if (x)
		copy_reading(x, ret);
	pthread_mutex_unlock(&s->mu);
	return x ? 0 : -ENOENT;
}

static json_t *time_json(int64_t ms)
{
	char t[TIME_LEN];

	if (ms <= 0)
		return json_null();
	time_format(ms, t);
	return json_string(t);
}

json_t *sensors_reading_json(const struct sensor_reading *r)
{
	json_t *th = json_object(), *o;

	for (int i = 0; i < SENSOR_TH_COUNT; i++)
		if (r->th.set[i])
			json_object_set_new(th, threshold_names[i], json_real(r->th.value[i]));
	o = json_pack("{s:s, s:s, s:o, s:s, s:s, s:s, s:o, s:s, s:o, s:s, s:o, s:o, s:o, s:i, s:o}",
	              "id", r->id, "name", r->name, "type",
	              r->type ? json_string(r->type) : json_null(), "unit", r->unit, "context",
	              r->context, "source", r->source, "value",
	              r->status == SENSOR_MISSING ? json_null() : json_real(r->value), "status",
	              sensor_status_name(r->status), "reason",
	              r->reason[0] ? json_string(r->reason) : json_null(), "health",
	              sensor_health_name(sensor_reading_health(r)), "time", time_json(r->time_ms),
	              "last_good_value", r->has_last_good ? json_real(r->last_good) : json_null(),
	              "last_good_time", time_json(r->has_last_good ? r->last_good_ms : 0),
	              "stuck_after", r->stuck_after_s, "thresholds", th);
	if (!o)
		abort();
	return o;
}

json_t *sensors_readings_json(const struct sensor_reading *r, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, sensors_reading_json(&r[i]));
	return a;
}

json_t *sensors_json(struct sensors *s)
{
	struct sensor_reading *r;
	json_t *a;
	size_t n;

	sensors_snapshot(s, &r, &n);
	a = sensors_readings_json(r, n);
	free(r);
	return a;
}

/* --- kumo-agent sensors ----------------------------------------------------------------- */

static volatile sig_atomic_t cli_stop;

static void cli_on_signal(int sig)
{
	cli_stop = 1;
}

static void cli_usage(FILE *f)
{
	fprintf(f, "usage: kumo-agent sensors [--config FILE] [--json] [--watch SECONDS "
	           "[--count N]]\n"
	           "Reads every sensor of the agent's config (or, with none configured, what\n"
	           "this host has) once, or every SECONDS, and prints them.\n");
}

static void cli_print_table(const struct sensor_reading *r, size_t n)
{
	printf("%-24s %12s %-10s %-13s %-8s %-14s %s\n", "ID", "VALUE", "UNIT", "TYPE", "STATUS",
	       "CONTEXT", "NAME / REASON");
	for (size_t i = 0; i < n; i++) {
		char val[32];

		if (r[i].status == SENSOR_MISSING)
			snprintf(val, sizeof(val), "-");
		else
			snprintf(val, sizeof(val), "%.2f", r[i].value);
		printf("%-24s %12s %-10s %-13s %-8s %-14s %s%s%s\n", r[i].id, val, r[i].unit,
		       r[i].type ? r[i].type : "-", sensor_status_name(r[i].status), r[i].context,
		       r[i].name, r[i].reason[0] ? ": " : "", r[i].reason);
	}
}

static void cli_print(struct sensors *s, bool json, bool watch)
{
	struct sensor_reading *r;
	size_t n;

	sensors_snapshot(s, &r, &n);
	if (json) {
		json_t *a = sensors_readings_json(r, n);
		char *text = json_dumps(a, (watch ? JSON_COMPACT : JSON_INDENT(2)) |
		                               JSON_REAL_PRECISION(12));

		printf("%s\n", text ? text : "[]");
		free(text);
		json_decref(a);
	} else {
		cli_print_table(r, n);
		if (watch)
			printf("\n");
	}
	fflush(stdout);
	free(r);
}

/* Sleeps ms unless a signal asks to stop. */
static void cli_sleep(int64_t ms)
{
	int64_t end = mono_ms() + ms;

	while (!cli_stop && mono_ms() < end) {
		int64_t left = end - mono_ms();
		struct timespec ts = { 0, (left > 100 ? 100 : left) * 1000000L };

		nanosleep(&ts, NULL);
	}
}

static int cli_run(const char *config_path, bool json, double watch, long count)
{
	struct config *cfg = NULL;
	struct sensors *s = NULL;
	struct sigaction sa = { 0 }, old_int, old_term;
	struct kerr e;
	long rounds = 0;
	int r;

	if (config_path) {
		r = config_load(config_path, &cfg);
		if (r < 0) {
			fprintf(stderr, "kumo-agent sensors: %s: %s\n", config_path,
			        r == -ENOENT ? "cannot read it" : "not a valid INI file");
			return 1;
		}
	}
	r = sensors_new(cfg, &s, &e);
	if (r < 0) {
		fprintf(stderr, "kumo-agent sensors: %s%s%s\n", config_path ? config_path : "",
		        config_path ? ": " : "", e.message);
		config_free(cfg);
		return 1;
	}
	sa.sa_handler = cli_on_signal;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sensors_poll(s); /* starts the IPMI query and the rates' window */
	cli_sleep(SETTLE_MS);
	do {
		if (rounds > 0)
			cli_sleep((int64_t)(watch * 1000));
		if (cli_stop)
			break;
		sensors_poll_wait(s);
		cli_print(s, json, watch > 0);
		rounds++;
	} while (watch > 0 && !cli_stop && (count <= 0 || rounds < count));
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sensors_free(s);
	config_free(cfg);
	return 0;
}

int sensors_cli_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "watch", required_argument, NULL, 'w' },
		{ "count", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL;
	double watch = 0;
	long count = 0;
	bool json = false;
	int o;

	optind = 0; /* glibc: start over, whoever parsed before */
	while ((o = getopt_long(argc, argv, "+c:jw:n:h", opts, NULL)) != -1) {
		char *end;

		switch (o) {
		case 'c':
			config_path = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'w':
			watch = strtod(optarg, &end);
			if (*end || !(watch >= 0.1 && watch <= 86400)) {
				fprintf(stderr,
				        "kumo-agent sensors: --watch: 0.1 to 86400 seconds\n");
				return 2;
			}
			break;
		case 'n':
			count = strtol(optarg, &end, 10);
			if (*end || count < 1) {
				fprintf(stderr, "kumo-agent sensors: --count: a number from 1\n");
				return 2;
			}
			break;
		case 'h':
			cli_usage(stdout);
			return 0;
		default:
			cli_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		cli_usage(stderr);
		return 2;
	}
	return cli_run(config_path, json, watch, count);
}
