// SPDX-License-Identifier: MIT
/*
 * The immersion box (src/agent/thermal_model.c), its controller
 * (thermal_ctl.c) and the scenario runner (thermal_sim.c).
 *
 *   the model alone: steady state = ambient + heat / conductance, the
 *   energy balance closes, long steps equal many short ones, the cube law,
 *   faults and sensors as documented;
 *   each named scenario asserts what it is named after: the band kept where
 *   physics allows it, the warning, the CPU cap the server's heat follows,
 *   shutdowns lowest priority first and restarts below 50 C, a failed fan
 *   made up for with an alarm until it works again, the alarm below 5 C
 *   without a heater, a stuck or lost coolant sensor detected and the
 *   fallback used; part-speed fans cost less than one at full; no
 *   chattering; every MessageId is in ../shared/redfish/registries.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/thermal.h"
#include "agent/thermal_rt.h"
#include "common/util.h"

#define H(x) ((x)*3600.0)
#define REGISTRIES "../shared/redfish/registries"

/* ---- Helpers ---- */

static void configs(struct thermal_model_config *mc, struct thermal_ctl_config *cc)
{
	thermal_model_config_defaults(mc);
	thermal_ctl_config_defaults(cc);
}

static struct thermal_scenario scenario(const char *name)
{
	struct thermal_scenario sc;

	assert_int_equal(thermal_scenario_get(name, &sc), 0);
	return sc;
}

/* What a run's hooks saw, sampled every simulated second. */
struct trace {
	size_t n;
	double t[90000];
	double coolant[90000]; /* true */
	double fan_pct[90000][4];
	double fan_rpm[90000][4];
	int cap[90000];
	double server_w[90000];
	enum thermal_state state[90000];
	char start_vm[64][THERMAL_ID_MAX];
	double start_coolant[64];
	size_t nstarts;
	double shutdown_coolant[64];
	size_t nshutdowns;
	size_t nlogs;
	struct thermal_log logs[400];
	double max_server_over_cap_w; /* server heat above what the cap allows */
	int prev_cap;
};

static void trace_sample(void *cls, const struct thermal_sample *s)
{
	struct trace *tr = cls;
	const struct thermal_box *b;
	struct thermal_box def;
	double allowed, over;
	size_t i = tr->n;

	if (i >= 90000)
		return;
	tr->t[i] = s->t;
	tr->coolant[i] = s->coolant_c;
	for (int f = 0; f < 4 && f < s->a->fans; f++) {
		tr->fan_pct[i][f] = s->a->fan_pct[f];
		tr->fan_rpm[i][f] = s->r->fan_rpm[f];
	}
	tr->cap[i] = s->a->cpu_cap_pct;
	tr->server_w[i] = s->r->server_w;
	tr->state[i] = s->state;
	/* the readings come from the step run under the previous cap */
	thermal_box_defaults(&def);
	b = &def;
	allowed = b->server_idle_w + (b->server_max_w - b->server_idle_w) * tr->prev_cap / 100.0;
	over = s->r->server_w - allowed;
	if (over > tr->max_server_over_cap_w)
		tr->max_server_over_cap_w = over;
	tr->prev_cap = s->a->cpu_cap_pct;
	if (s->a->start_vm[0] && tr->nstarts < 64) {
		memcpy(tr->start_vm[tr->nstarts], s->a->start_vm, THERMAL_ID_MAX);
		tr->start_coolant[tr->nstarts++] = s->coolant_c;
	}
	if (s->a->shutdown_vm[0] && !s->a->shutdown_force && tr->nshutdowns < 64)
		tr->shutdown_coolant[tr->nshutdowns++] = s->coolant_c;
	tr->n++;
}

static void trace_log(void *cls, const struct thermal_log *l)
{
	struct trace *tr = cls;

	if (tr->nlogs < 400)
		tr->logs[tr->nlogs++] = *l;
}

static struct trace *run(const struct thermal_scenario *sc, const struct thermal_model_config *mc,
                         const struct thermal_ctl_config *cc, struct thermal_sim_result *res)
{
	struct trace *tr = calloc(1, sizeof(*tr));
	struct thermal_sim_hooks hooks = { 1, trace_sample, trace_log, tr };
	struct kerr e = { 0 };

	assert_non_null(tr);
	tr->prev_cap = 100;
	assert_int_equal(thermal_sim_run(sc, mc, cc, &hooks, res, &e), 0);
	return tr;
}

static struct trace *run_named(const char *name, struct thermal_sim_result *res)
{
	struct thermal_scenario sc = scenario(name);
	struct thermal_model_config mc;
	struct thermal_ctl_config cc;

	configs(&mc, &cc);
	return run(&sc, &mc, &cc, res);
}

static bool has_alarm(const struct thermal_sim_result *res, const char *id)
{
	return strstr(res->alarms_seen, id) != NULL;
}

/* The first log entry whose MessageId ends with key, at or after t. */
static const struct thermal_log *log_find(const struct trace *tr, const char *key, double t)
{
	size_t k = strlen(key);

	for (size_t i = 0; i < tr->nlogs; i++) {
		size_t n = strlen(tr->logs[i].message_id);

		if (tr->logs[i].t >= t && n >= k && !strcmp(tr->logs[i].message_id + n - k, key))
			return &tr->logs[i];
	}
	return NULL;
}

/* Index of the sample at simulated time t (samples start at t = 1). */
static size_t at(const struct trace *tr, double t)
{
	size_t i = t >= 1 ? (size_t)(t - 1) : 0;

	assert_true(i < tr->n);
	assert_true(fabs(tr->t[i] - t) < 0.5 || t < 1);
	return i;
}

static double min_coolant(const struct trace *tr, double from, double to)
{
	double m = INFINITY;

	for (size_t i = 0; i < tr->n; i++)
		if (tr->t[i] >= from && tr->t[i] <= to && tr->coolant[i] < m)
			m = tr->coolant[i];
	return m;
}

/* ---- The model alone ---- */

static void model_at(struct thermal_model *m, double ambient, double cpu, double solar,
                     const double *fan_pct, bool heater)
{
	m->ambient_c = ambient;
	m->cpu_use = cpu;
	m->solar = solar;
	thermal_model_command(m, fan_pct, 4, heater);
}

static void test_model_steady_state(void **state)
{
	struct thermal_model_config mc;
	struct thermal_model m;
	double fans[4] = { 50, 50, 0, 0 };
	/* 120 + 480 * 0.5 = 360 W server, 75 W sun; G = 15 + 2 * 12 * 0.5 = 27 W/K */
	double expect = 20 + (360.0 + 75) / 27;

	thermal_model_config_defaults(&mc);
	thermal_model_init(&m, &mc, 20, 20);
	model_at(&m, 20, 0.5, 0.5, fans, false);
	assert_float_equal(thermal_model_conductance(&m), 27, 1e-9);
	assert_float_equal(thermal_model_server_w(&m), 360, 1e-9);
	assert_float_equal(thermal_model_steady_c(&m), expect, 1e-9);
	thermal_model_step(&m, 20 * 120000.0 / 27); /* 20 time constants */
	assert_float_equal(m.coolant_c, expect, 0.01);
	/* the fans draw 12 W x 0.5^3 each, which does not heat the coolant */
	assert_float_equal(thermal_model_fans_w(&m), 2 * 12 * 0.125, 1e-9);
}

/* 55 C air, 600 W of server and 150 W of sun, all four fans at full: the
 * box cannot stay below 50 C (55 + 750 / 63 = 66.9 C). */
static void test_model_desert_arithmetic(void **state)
{
	struct thermal_model_config mc;
	struct thermal_model m;
	double fans[4] = { 100, 100, 100, 100 };

	thermal_model_config_defaults(&mc);
	thermal_model_init(&m, &mc, 45, 55);
	model_at(&m, 55, 1, 1, fans, false);
	assert_float_equal(thermal_model_conductance(&m), 63, 1e-9);
	thermal_model_step(&m, H(12));
	assert_float_equal(m.coolant_c, 55 + 750.0 / 63, 0.01);
	assert_true(m.coolant_c > 66.8);
	/* even with every VM off the idle server and the sun keep it near 59.3 C */
	model_at(&m, 55, 0, 1, fans, false);
	assert_float_equal(thermal_model_steady_c(&m), 55 + 270.0 / 63, 1e-9);
}

static void test_model_energy_balance(void **state)
{
	struct thermal_model_config mc;
	struct thermal_model m;
	double fans[4] = { 0 };
	double total_in;

	thermal_model_config_defaults(&mc);
	mc.box.fan_heat_fraction = 0.5; /* book that path too */
	thermal_model_init(&m, &mc, 10, -10);
	for (int k = 0; k < 48; k++) {
		fans[k % 4] = (k * 37) % 101;
		model_at(&m, -10 + k, (k % 5) / 4.0, (k % 3) / 2.0, fans, k % 2);
		if (k == 20)
			thermal_model_heater_fault(&m, true);
		if (k == 30)
			thermal_model_fan_fault(&m, 1, true, 70);
		thermal_model_step(&m, 1800 + 0.37);
	}
	total_in = m.e_server_j + m.e_solar_j + m.e_heater_j + m.e_fan_heat_j;
	assert_true(total_in > 1e7);
	assert_true(fabs(thermal_model_energy_error_j(&m)) < 1e-6 * total_in);
	assert_true(fabs(mc.box.heat_capacity_j_per_k * (m.coolant_c - 10) -
	                 (total_in - m.e_out_j)) < 1e-6 * total_in);
	assert_true(m.t > 48 * 1800);
}

/* One long step is the same as many one-second steps. */
static void test_model_long_step(void **state)
{
	struct thermal_model_config mc;
	struct thermal_model a, b;
	double fans[4] = { 30, 30, 30, 30 };

	thermal_model_config_defaults(&mc);
	thermal_model_init(&a, &mc, 30, 10);
	thermal_model_init(&b, &mc, 30, 10);
	model_at(&a, 10, 0.8, 0.2, fans, false);
	model_at(&b, 10, 0.8, 0.2, fans, false);
	thermal_model_step(&a, 3600);
	for (int i = 0; i < 3600; i++)
		thermal_model_step(&b, 1);
	assert_float_equal(a.coolant_c, b.coolant_c, 1e-9);
	assert_float_equal(a.t, 3600, 1e-9);
	assert_float_equal(b.t, 3600, 1e-6);
}

/* The cube law: four fans at 25% give one fan's full conductance for a
 * sixteenth of its power. */
static void test_model_fan_cube_law(void **state)
{
	struct thermal_model_config mc;
	struct thermal_model one, four;
	double f1[4] = { 100, 0, 0, 0 }, f4[4] = { 25, 25, 25, 25 };

	thermal_model_config_defaults(&mc);
	thermal_model_init(&one, &mc, 40, 20);
	thermal_model_init(&four, &mc, 40, 20);
	model_at(&one, 20, 0.5, 0, f1, false);
	model_at(&four, 20, 0.5, 0, f4, false);
	assert_float_equal(thermal_model_conductance(&one), thermal_model_conductance(&four), 1e-9);
	assert_float_equal(thermal_model_fans_w(&one), 12, 1e-9);
	assert_float_equal(thermal_model_fans_w(&four), 12.0 / 16, 1e-9);
}

static void test_model_faults_and_sensors(void **state)
{
	struct thermal_model_config mc;
	struct thermal_model m;
	struct thermal_readings r;
	double fans[4] = { 60, 60, 60, 60 };
	double held;

	thermal_model_config_defaults(&mc);
	thermal_model_init(&m, &mc, 30, 20);
	model_at(&m, 20, 0.5, 0, fans, true);
	thermal_model_read(&m, &r);
	assert_int_equal(r.fans, 4);
	assert_float_equal(r.fan_rpm[0], 3600, 1e-9);
	assert_float_equal(r.fan_w[0], 12 * 0.216, 1e-9);
	assert_true(r.coolant_valid && r.pkg_valid && r.ambient_valid);
	assert_float_equal(r.pkg_c, 30 + 0.03 * 360, 0.011);
	assert_float_equal(r.heater_w, 400, 1e-9);
	assert_float_equal(r.total_w, 360 + 400 + 4 * 12 * 0.216, 1e-9);

	/* a fan stuck at 0: its tachometer says so and it neither cools nor draws */
	thermal_model_fan_fault(&m, 1, true, 0);
	thermal_model_read(&m, &r);
	assert_float_equal(r.fan_rpm[1], 0, 1e-9);
	assert_float_equal(r.fan_w[1], 0, 1e-9);
	assert_float_equal(thermal_model_conductance(&m), 15 + 3 * 12 * 0.6, 1e-9);
	/* stuck at 90%: turns at 90% whatever it is told */
	thermal_model_fan_fault(&m, 2, true, 90);
	thermal_model_command(&m, (double[]){ 0, 0, 0, 0 }, 4, true);
	thermal_model_read(&m, &r);
	assert_float_equal(r.fan_rpm[2], 5400, 1e-9);
	assert_float_equal(r.fan_rpm[0], 0, 1e-9);

	/* the failed heater draws nothing and adds no heat, relay or not */
	thermal_model_heater_fault(&m, true);
	thermal_model_read(&m, &r);
	assert_true(r.heater_on);
	assert_float_equal(r.heater_w, 0, 1e-9);
	assert_float_equal(thermal_model_heater_w(&m), 0, 1e-9);

	/* a stuck sensor repeats itself while the coolant moves; a missing one
	 * gives nothing */
	thermal_model_read(&m, &r);
	held = r.coolant_c;
	thermal_model_sensor_fault(&m, THERMAL_SENSOR_COOLANT, THERMAL_SENSOR_STUCK);
	thermal_model_sensor_fault(&m, THERMAL_SENSOR_PKG, THERMAL_SENSOR_MISSING);
	m.cpu_use = 1;
	thermal_model_step(&m, 1800);
	thermal_model_read(&m, &r);
	assert_true(r.coolant_valid);
	assert_float_equal(r.coolant_c, held, 1e-12);
	assert_true(fabs(m.coolant_c - held) > 1);
	assert_false(r.pkg_valid);
	thermal_model_sensor_fault(&m, THERMAL_SENSOR_COOLANT, THERMAL_SENSOR_OK);
	thermal_model_read(&m, &r);
	assert_float_equal(r.coolant_c, m.coolant_c, 0.006); /* 0.01 C resolution */
}

/* The model's server heat follows the CPU cap. */
static void test_model_cap_follows(void **state)
{
	struct thermal_model_config mc;
	struct thermal_model m;

	assert_float_equal(thermal_vm_use(1, 0.25, 100), 0.25, 1e-12);
	assert_float_equal(thermal_vm_use(1, 0.25, 40), 0.10, 1e-12);
	assert_float_equal(thermal_vm_use(0.3, 0.25, 40), 0.075, 1e-12);
	thermal_model_config_defaults(&mc);
	thermal_model_init(&m, &mc, 30, 30);
	m.cpu_use = 4 * thermal_vm_use(1, 0.25, 40);
	assert_float_equal(thermal_model_server_w(&m), 120 + 480 * 0.4, 1e-9);
}

static void test_config(void **state)
{
	struct thermal_model_config mc;
	struct thermal_ctl_config cc;
	struct kerr e = { 0 };

	configs(&mc, &cc);
	assert_int_equal(thermal_model_config_check(&mc, &e), 0);
	assert_int_equal(thermal_ctl_config_check(&cc, &e), 0);
	assert_float_equal(mc.box.heat_capacity_j_per_k, 120000, 0);
	assert_float_equal(mc.box.g_natural_w_per_k, 15, 0);
	assert_int_equal(mc.box.fans, 4);
	assert_float_equal(mc.box.heater_w, 400, 0);
	assert_float_equal(mc.solar_max_w, 150, 0);
	assert_float_equal(cc.band_lo_c, 5, 0);
	assert_float_equal(cc.band_hi_c, 50, 0);
	assert_float_equal(cc.warning_c, 55, 0);
	assert_float_equal(cc.critical_c, 60, 0);

	assert_int_equal(thermal_box_set(&mc.box, "fan_g_w_per_k", "10", &e), 0);
	assert_float_equal(mc.box.fan_g_w_per_k, 10, 0);
	assert_int_equal(thermal_box_set(&mc.box, "nope", "1", &e), -ENOENT);
	assert_int_equal(thermal_box_set(&mc.box, "fans", "9", &e), -EINVAL);
	assert_string_equal(e.field, "fans");
	assert_int_equal(thermal_box_set(&mc.box, "heater_w", "lots", &e), -EINVAL);
	assert_int_equal(thermal_model_config_set(&mc, "solar_max_w", "200", &e), 0);
	assert_float_equal(mc.solar_max_w, 200, 0);
	assert_int_equal(thermal_model_config_set(&mc, "fan_off_c", "40", &e), -ENOENT);
	assert_int_equal(thermal_ctl_config_set(&cc, "fan_off_c", "40", &e), 0);
	assert_float_equal(cc.fan_off_c, 40, 0);
	assert_int_equal(thermal_ctl_config_set(&cc, "heater_w", "300", &e), 0);
	assert_float_equal(cc.box.heater_w, 300, 0);
	/* the lines out of order */
	assert_int_equal(thermal_ctl_config_set(&cc, "fan_off_c", "49.5", &e), 0);
	assert_int_equal(thermal_ctl_config_check(&cc, &e), -EINVAL);
	/* an integration step too long to be stable */
	configs(&mc, &cc);
	mc.step_s = 5000;
	assert_int_equal(thermal_model_config_check(&mc, &e), -EINVAL);
}

/* The operator's set point file (thermal_setpoints.c): it holds what
 * differs from the config, comes back exactly, and a file that does not
 * fit the config (not JSON, not a set point file, an unknown key, a value
 * out of range, the lines out of order) is refused as a whole, leaving the
 * config's values. */
static void test_setpoint_file(void **state)
{
	static const char *const bad[] = {
		"{\"version\": 1, \"setpoints\": {\"fan_target_c\": 47",
		"[1, 2]",
		"{\"version\": 2, \"setpoints\": {}}",
		"{\"version\": 1, \"setpoints\": {}, \"more\": 1}",
		"{\"version\": 1, \"setpoints\": {\"warning_c\": 52}}",
		"{\"version\": 1, \"setpoints\": {\"bogus_c\": 1}}",
		"{\"version\": 1, \"setpoints\": {\"fan_target_c\": \"47\"}}",
		"{\"version\": 1, \"setpoints\": {\"band_lo_c\": -500}}",
		/* each fine alone, out of order together with the config */
		"{\"version\": 1, \"setpoints\": {\"fan_target_c\": 47, \"fan_off_c\": 49.5}}",
		"{\"version\": 1, \"setpoints\": {\"fan_off_c\": 49.5}}",
	};
	struct thermal_ctl_config base, cc, back;
	char dir[] = "/tmp/kumo-test-setpoints-XXXXXX", *path, *text = NULL;
	struct kerr e;
	struct stat st;
	size_t len;

	assert_non_null(mkdtemp(dir));
	path = xasprintf("%s/%s", dir, THERMAL_SETPOINTS_FILE);
	thermal_ctl_config_defaults(&base);
	assert_int_equal(thermal_ctl_config_set(&base, "fan_target_c", "48", &e),
	                 0); /* the config */
	cc = base;
	assert_int_equal(thermal_setpoints_load(path, &cc, &e), -ENOENT);
	assert_memory_equal(&cc, &base, sizeof(cc));

	/* what differs from the config, and only that, comes back exactly */
	cc.fan_target_c = 46.125;
	cc.fan_off_c = 40;
	cc.band_hi_c = 50; /* the config's own value */
	assert_int_equal(thermal_setpoints_save(path, &cc, &base), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(file_read(path, 4096, &text, &len), 0);
	assert_non_null(strstr(text, "\"fan_target_c\": 46.125"));
	assert_null(strstr(text, "band_hi_c"));
	free(text);
	back = base;
	assert_int_equal(thermal_setpoints_load(path, &back, &e), 0);
	assert_memory_equal(&back, &cc, sizeof(cc));

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(file_write_atomic(path, bad[i], strlen(bad[i]), 0600), 0);
		back = base;
		kerr_clear(&e);
		assert_int_equal(thermal_setpoints_load(path, &back, &e), -EINVAL);
		assert_true(e.message[0] != '\0');
		assert_memory_equal(&back, &base, sizeof(base));
	}
	unlink(path);
	rmdir(dir);
	free(path);
}

/* ---- The scenarios ---- */

/* -25 C, idle, 12 h: the heater alone keeps the band, just above its
 * edge (the heat lost through the fins grows with the coolant's
 * temperature), without chattering: every on and every off lasts at least
 * the heater's minimum time, and a cycle never dips under its on point. */
static void test_winter_night(void **state)
{
	struct thermal_sim_result res;
	struct trace *tr = run_named("winter-night", &res);
	struct thermal_ctl_config cc;
	double last = -1, sum = 0;
	size_t n = 0;

	thermal_ctl_config_defaults(&cc);
	assert_true(res.coolant_min_c >= cc.heater_on_c - 0.02);
	assert_true(res.coolant_max_c <= 50);
	assert_float_equal(res.below_band_s, 0, 0);
	assert_true(res.heater_wh > 1000); /* 12 h at -25 C cannot be free */
	assert_float_equal(res.fan_wh, 0, 1e-9);
	assert_int_equal(res.fan_switches, 0);
	assert_true(res.heater_switches >= 1);
	/* the relay's minimum times hold between any two switches */
	assert_true(res.heater_switches <= H(12) / fmin(cc.heater_min_on_s, cc.heater_min_off_s));
	for (size_t i = 0; i < tr->nlogs; i++) {
		if (strcmp(tr->logs[i].origin, "Heater") != 0)
			continue;
		if (last >= 0)
			assert_true(tr->logs[i].t - last >=
			            fmin(cc.heater_min_on_s, cc.heater_min_off_s) - 1e-6);
		last = tr->logs[i].t;
	}
	/* once down there, held within a few tenths of the band's edge */
	for (size_t i = at(tr, H(2)); i < tr->n; i++, n++)
		sum += tr->coolant[i];
	assert_true(sum / n < cc.heater_off_c + 0.1);
	assert_int_equal(res.worst_state, THERMAL_STATE_OK);
	assert_string_equal(res.alarms_seen, "");
	assert_int_equal(res.nshutdowns, 0);
	assert_true(log_find(tr, "ResourcePoweredOn", 0) != NULL); /* the heater's */
	free(tr);
}

/* 55 C, full load, full sun: no fan can hold 50 C (66.9 C steady). The
 * warning at 55 C caps VM CPU and the server's heat follows the cap; at
 * 60 C VMs shut down lowest priority first, one by one; when the evening
 * cools the box they start again, highest priority first, below 50 C. */
static void test_desert_noon(void **state)
{
	struct thermal_sim_result res;
	struct trace *tr = run_named("desert-noon", &res);
	const struct thermal_log *caution, *critical;
	size_t first_cap = 0;

	/* the warning, and the cap, from 55 C on */
	assert_true(res.first_warning_t > 0);
	assert_true(res.first_cap_t > 0);
	assert_true(fabs(res.first_cap_t - res.first_warning_t) <= 120);
	while (first_cap < tr->n && tr->cap[first_cap] == 100)
		first_cap++;
	assert_true(first_cap < tr->n);
	assert_true(tr->coolant[first_cap] >= 54.5);
	assert_true(res.cap_min_pct <= 50);
	caution = log_find(tr, "TemperatureAboveUpperCautionThreshold", 0);
	assert_non_null(caution);
	assert_int_equal(caution->severity, THERMAL_WARNING);
	assert_true(has_alarm(&res, "Environmental.1.4.0.TemperatureAboveUpperCautionThreshold"));
	/* the model's server heat never exceeded what the cap allows */
	assert_true(tr->max_server_over_cap_w < 1e-6);

	/* the critical line: shutdowns, lowest priority first, at 60 C */
	critical = log_find(tr, "TemperatureAboveUpperCriticalThreshold", 0);
	assert_non_null(critical);
	assert_int_equal(critical->severity, THERMAL_CRITICAL);
	assert_true(res.first_critical_t > res.first_cap_t);
	assert_true(res.nshutdowns >= 1);
	assert_int_equal(res.worst_state, THERMAL_STATE_CRITICAL);
	for (size_t i = 0; i < res.nshutdowns; i++) {
		assert_true(tr->shutdown_coolant[i] >= 59.5);
		if (i > 0) {
			assert_true(res.shutdowns[i].priority >= res.shutdowns[i - 1].priority);
			assert_true(res.shutdowns[i].t - res.shutdowns[i - 1].t >= 60);
		}
	}
	assert_string_equal(res.shutdowns[0].id, "vm-batch");

	/* the evening: every VM back, highest priority first, below 50 C */
	assert_int_equal(res.nstarts, res.nshutdowns);
	assert_int_equal(tr->nstarts, res.nstarts);
	for (size_t i = 0; i < res.nstarts; i++) {
		assert_true(res.starts[i].t > res.shutdowns[res.nshutdowns - 1].t);
		assert_true(tr->start_coolant[i] < 50);
		if (i > 0)
			assert_true(res.starts[i].priority <= res.starts[i - 1].priority);
	}
	assert_int_equal(res.vms_running_end, 4);
	assert_int_equal(tr->cap[tr->n - 1], 100);
	assert_true(tr->coolant[tr->n - 1] < 50);
	free(tr);
}

/* From 45 C with a load that needs the fans, fan 2 stops: the others speed
 * up and hold the band, FanFailed is raised and stays until the fan works
 * again (fan-free at 2.5 h in a second run). */
static void test_fan_failure(void **state)
{
	struct thermal_scenario sc = scenario("fan-failure");
	struct thermal_model_config mc;
	struct thermal_ctl_config cc;
	struct thermal_sim_result res;
	struct trace *tr = run_named("fan-failure", &res);
	const struct thermal_log *failed;
	size_t before = at(tr, H(1) - 60), after = at(tr, H(2));

	assert_true(res.coolant_max_c <= 50);
	assert_true(res.coolant_min_c >= 5);
	assert_true(tr->fan_pct[before][0] > 0); /* the load needs the fans */
	assert_true(tr->fan_rpm[after][1] < 1);  /* fan 2 is dead... */
	for (int f = 0; f < 4; f++)              /* ...and fans 1, 3 and 4 make up for it */
		if (f != 1)
			assert_true(tr->fan_pct[after][f] > tr->fan_pct[before][f] + 5);
	failed = log_find(tr, "FanFailed", 0);
	assert_non_null(failed);
	assert_true(failed->t > H(1) && failed->t < H(1) + 120);
	assert_int_equal(failed->severity, THERMAL_CRITICAL);
	assert_int_equal(res.max_fans_failed, 1);
	assert_true(tr->state[tr->n - 1] >= THERMAL_STATE_ALARM); /* still failed */
	assert_null(log_find(tr, "FanRestored", 0));
	free(tr);

	/* repaired at 2.5 h: restored, state back to ok */
	configs(&mc, &cc);
	sc.events[sc.nevents++] = (struct thermal_event){ H(2.5), THERMAL_EV_FAN_FREE, 1, 0 };
	tr = run(&sc, &mc, &cc, &res);
	assert_true(tr->state[at(tr, H(2.4))] >= THERMAL_STATE_ALARM);
	assert_non_null(log_find(tr, "FanRestored", H(2.5)));
	assert_int_equal(tr->state[tr->n - 1], THERMAL_STATE_OK);
	assert_true(res.coolant_max_c <= 50);
	free(tr);
}

/* A fan stuck at full speed while the others are asked for less: a fan
 * fault too (at a wrong speed), the band still kept. */
static void test_fan_stuck_fast(void **state)
{
	struct thermal_scenario sc = scenario("fan-failure");
	struct thermal_model_config mc;
	struct thermal_ctl_config cc;
	struct thermal_sim_result res;
	struct trace *tr;

	configs(&mc, &cc);
	sc.events[0] = (struct thermal_event){ H(1), THERMAL_EV_FAN_STUCK, 2, 100 };
	tr = run(&sc, &mc, &cc, &res);
	assert_int_equal(res.max_fans_failed, 1);
	assert_true(res.coolant_max_c <= 50);
	assert_true(log_find(tr, "FanWarning", H(1)) || log_find(tr, "FanFailed", H(1)));
	free(tr);
}

/* -20 C, the heater fails at 2 h: the band holds while it works, then the
 * coolant falls below 5 C and the critical alarm is raised. */
static void test_heater_failure(void **state)
{
	struct thermal_sim_result res;
	struct trace *tr = run_named("heater-failure", &res);
	const struct thermal_log *cold, *heater = NULL;

	assert_true(min_coolant(tr, 0, H(2)) >= 5);
	assert_true(res.coolant_min_c < 5);
	cold = log_find(tr, "TemperatureBelowLowerCriticalThreshold", H(2));
	assert_non_null(cold);
	assert_int_equal(cold->severity, THERMAL_CRITICAL);
	assert_true(tr->coolant[at(tr, cold->t)] < 5.1);
	for (size_t i = 0; i < tr->nlogs && !heater; i++)
		if (strstr(tr->logs[i].origin, "Heater") && tr->logs[i].severity != THERMAL_OK &&
		    tr->logs[i].t >= H(2))
			heater = &tr->logs[i];
	assert_non_null(heater); /* the heater's own failure, before the cold */
	assert_true(heater->t <= cold->t);
	assert_int_equal(res.worst_state, THERMAL_STATE_CRITICAL);
	assert_int_equal(tr->state[tr->n - 1], THERMAL_STATE_CRITICAL);
	assert_true(has_alarm(&res, "Environmental.1.4.0.TemperatureBelowLowerCriticalThreshold"));
	free(tr);
}

/* The heater fails at 2 h and is repaired at 5 h: it draws again, the
 * coolant comes back into the band and every alarm clears, although the
 * heater now holds the coolant just above the band's edge (the low alarm
 * clears between the edge and the heater's off point). */
static void test_heater_repaired(void **state)
{
	struct thermal_scenario sc = scenario("heater-failure");
	struct thermal_model_config mc;
	struct thermal_ctl_config cc;
	struct thermal_sim_result res;
	struct trace *tr;

	configs(&mc, &cc);
	sc.events[sc.nevents++] = (struct thermal_event){ H(5), THERMAL_EV_HEATER_FIX, 0, 0 };
	tr = run(&sc, &mc, &cc, &res);
	assert_true(res.coolant_min_c < 0);
	assert_int_equal(res.worst_state, THERMAL_STATE_CRITICAL);
	assert_non_null(log_find(tr, "ResourceStatusChangedOK", H(5)));
	assert_non_null(log_find(tr, "TemperatureNormal", H(5)));
	assert_int_equal(tr->state[tr->n - 1], THERMAL_STATE_OK);
	assert_true(tr->coolant[tr->n - 1] >= cc.band_lo_c);
	free(tr);
}

/* The coolant sensor sticks at 1 h, the load rises at 1.5 h: the stuck
 * reading is found by the package sensor, reported, and the controller
 * cools on the fallback: the band is kept. */
static void test_stuck_sensor(void **state)
{
	struct thermal_sim_result res;
	struct trace *tr = run_named("stuck-sensor", &res);
	const struct thermal_log *stuck = log_find(tr, "SensorFailure", 0);

	assert_non_null(stuck);
	assert_true(stuck->t > H(1) && stuck->t < H(1.5) + 1800);
	assert_true(res.fallback_s > H(3));
	assert_true(res.coolant_max_c <= 50);
	assert_true(res.fan_wh > 0); /* the fans ran on the fallback's word */
	assert_true(tr->state[tr->n - 1] >= THERMAL_STATE_ALARM);
	assert_true(has_alarm(&res, "SensorEvent.1.1.0.SensorFailure"));
	free(tr);
}

/* Same with no package sensor either: the heat balance alone finds it. */
static void test_stuck_sensor_no_fallback(void **state)
{
	struct thermal_scenario sc = scenario("stuck-sensor");
	struct thermal_model_config mc;
	struct thermal_ctl_config cc;
	struct thermal_sim_result res;
	struct trace *tr;

	configs(&mc, &cc);
	sc.events[sc.nevents++] =
	    (struct thermal_event){ 0, THERMAL_EV_SENSOR_MISSING, THERMAL_SENSOR_PKG, 0 };
	tr = run(&sc, &mc, &cc, &res);
	assert_non_null(log_find(tr, "SensorFailure", H(1)));
	assert_true(res.coolant_max_c <= 52);
	assert_true(res.fallback_s > H(3));
	free(tr);
}

/* Coolant and package sensors both gone: reported, and the heat balance
 * with a growing margin keeps the box cool (on the safe side). */
static void test_sensor_lost(void **state)
{
	struct thermal_sim_result res;
	struct trace *tr = run_named("sensor-lost", &res);

	assert_non_null(log_find(tr, "SensorDisconnected", H(1)));
	assert_true(res.fallback_s >= H(5) - 60);
	assert_true(res.coolant_max_c <= 50);
	assert_true(res.coolant_min_c >= 5);
	assert_true(tr->state[tr->n - 1] >= THERMAL_STATE_ALARM);
	free(tr);
}

/* Energy: the same cooling from four fans at part speed, not one at full.
 * A load that needs about one fan's full conductance (12 W/K). */
static void test_part_speed_fans(void **state)
{
	struct thermal_scenario sc = scenario("steady");
	struct thermal_model_config mc;
	struct thermal_ctl_config cc;
	struct thermal_sim_result four, one;
	struct trace *tr;
	size_t last;
	double sum_w;

	sc.duration_s = H(4);
	sc.points[0].load = 0.82; /* 514 W at 30 C: 27 W/K to hold 49 C */
	configs(&mc, &cc);
	tr = run(&sc, &mc, &cc, &four);
	last = tr->n - 1;
	for (int f = 0; f < 4; f++) {
		assert_true(tr->fan_pct[last][f] > 0);
		assert_true(tr->fan_pct[last][f] < 50);
		assert_float_equal(tr->fan_pct[last][f], tr->fan_pct[last][0], 1);
	}
	sum_w = 0;
	for (int f = 0; f < 4; f++)
		sum_w += 12 * pow(tr->fan_pct[last][f] / 100, 3);
	assert_true(sum_w < 12.0 / 4); /* one fan at full draws 12 W */
	assert_true(four.coolant_max_c <= 50);
	free(tr);

	/* the same box with a single fan of the same kind: to cool as much it
	 * has to run at full, and draws far more */
	configs(&mc, &cc);
	mc.box.fans = cc.box.fans = 1;
	tr = run(&sc, &mc, &cc, &one);
	assert_true(tr->fan_pct[tr->n - 1][0] > 90);
	assert_true(one.coolant_max_c <= 50);
	free(tr);
	assert_true(four.fan_wh * 4 < one.fan_wh);
}

/* A load step the fans can still carry (30% to 100% within a minute at
 * 35 C air: 600 W need 43 W/K at 49 C, the fans give 48) does not push the
 * coolant out of the band: the feed-forward from the measured server power
 * meets it at once, which is what lets the target sit 1 K under the top. */
static void test_load_step(void **state)
{
	struct thermal_scenario sc = scenario("steady");
	struct thermal_model_config mc;
	struct thermal_ctl_config cc;
	struct thermal_sim_result res;
	struct trace *tr;

	sc.duration_s = H(4);
	sc.coolant0_c = 49;
	sc.npoints = 3;
	sc.points[0] = (struct thermal_point){ 0, 35, 0, 0.3 };
	sc.points[1] = (struct thermal_point){ H(1.5), 35, 0, 0.3 };
	sc.points[2] = (struct thermal_point){ H(1.5) + 60, 35, 0, 1 };
	configs(&mc, &cc);
	tr = run(&sc, &mc, &cc, &res);
	assert_true(res.coolant_max_c <= cc.band_hi_c);
	assert_float_equal(res.above_band_s, 0, 0);
	assert_true(tr->coolant[tr->n - 1] > cc.fan_target_c - 0.3); /* held, not overcooled */
	assert_true(tr->fan_pct[tr->n - 1][0] > 50);
	free(tr);
}

/* A start in steady sun: the observer learns the sun it cannot measure
 * (its estimate rises from nothing in the first minutes), which is no
 * rising weather, so no precooling: one slow fan is all it takes. */
static void test_no_precool_at_start(void **state)
{
	struct thermal_scenario sc = scenario("steady");
	struct thermal_model_config mc;
	struct thermal_ctl_config cc;
	struct thermal_sim_result res;
	struct trace *tr;
	double top = 0;

	sc.duration_s = H(2);
	sc.coolant0_c = 50;
	sc.points[0] = (struct thermal_point){ 0, 33, 1, 0 }; /* 270 W: 51 C without fans */
	configs(&mc, &cc);
	tr = run(&sc, &mc, &cc, &res);
	for (size_t i = 0; i < tr->n; i++)
		for (int f = 0; f < 4; f++)
			top = fmax(top, tr->fan_pct[i][f]);
	assert_true(top < 50);
	for (size_t i = 0; i < tr->nlogs; i++)
		assert_null(strstr(tr->logs[i].message, "ahead of a peak"));
	assert_true(res.coolant_max_c <= cc.band_hi_c + 0.05);
	free(tr);
}

/* No chattering: in a steady state the fans start once and stay on, the
 * heater never runs; near the fans' start line the stage changes rarely. */
static void test_no_chattering(void **state)
{
	struct thermal_scenario sc = scenario("steady");
	struct thermal_model_config mc;
	struct thermal_ctl_config cc;
	struct thermal_sim_result res;
	struct trace *tr = run_named("steady", &res);

	assert_true(res.fan_switches <= 2);
	assert_true(res.fan_stage_changes <= 6);
	assert_int_equal(res.heater_switches, 0);
	assert_true(res.coolant_max_c <= 50);
	assert_true(tr->nlogs <= 10); /* no log line for every small adjustment */
	free(tr);

	/* natural convection alone would settle just above the fans' line */
	configs(&mc, &cc);
	sc.points[0].ambient_c = 25;
	sc.points[0].load = 0.42; /* 322 W: 46.5 C without fans */
	tr = run(&sc, &mc, &cc, &res);
	assert_true(res.fan_switches <= 4);
	assert_true(res.fan_stage_changes <= 8);
	assert_true(res.coolant_max_c <= 50);
	free(tr);
}

/* The controller survives gaps: an agent suspended for an hour, a clock
 * that does not move, a clock that goes back. */
static void test_gaps(void **state)
{
	struct thermal_model_config mc;
	struct thermal_ctl_config cc;
	struct thermal_model m;
	struct thermal_ctl *c = calloc(1, sizeof(*c));
	struct thermal_actions *a = calloc(1, sizeof(*a));
	struct thermal_readings r;
	struct thermal_vm vm = { "vm-1", 1, true, 0.9, 1 };
	double times[] = { 1, 2, 3, 3, 2, 3603, 3604, 7204, 7205, 7206 };

	assert_non_null(c);
	assert_non_null(a);
	configs(&mc, &cc);
	thermal_model_init(&m, &mc, 48, 35);
	m.ambient_c = 35;
	m.cpu_use = 0.9;
	thermal_ctl_init(c, &cc);
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		if (times[i] > m.t)
			thermal_model_step(&m, times[i] - m.t);
		thermal_model_read(&m, &r);
		r.t = times[i];
		thermal_ctl_step(c, &r, &vm, 1, a);
		for (int f = 0; f < a->fans; f++)
			assert_true(a->fan_pct[f] >= 0 && a->fan_pct[f] <= 100);
		assert_true(a->cpu_cap_pct >= 1 && a->cpu_cap_pct <= 100);
		thermal_model_command(&m, a->fan_pct, a->fans, a->heater_on);
	}
	/* 35 C air and 552 W: the fans must be running after the gaps */
	assert_true(a->fan_pct[0] > 0);
	free(a);
	free(c);
}

/* ---- Messages ---- */

/* Every message the controller can log is in ../shared/redfish/registries
 * with the same severity, number of arguments and text. */
static void test_registry_messages(void **state)
{
	const char *registry, *key, *text;
	enum thermal_severity sev;
	int nargs;
	size_t i;

	if (access(REGISTRIES, R_OK) != 0)
		skip();
	for (i = 0; thermal_ctl_message(i, &registry, &key, &sev, &nargs, &text) == 0; i++) {
		char path[256];
		json_t *reg, *msg;
		json_error_t err;
		const char *want_sev;

		snprintf(path, sizeof(path), "%s/%s.json", REGISTRIES, registry);
		reg = json_load_file(path, 0, &err);
		if (!reg)
			fail_msg("%s: %s", path, err.text);
		msg = json_object_get(json_object_get(reg, "Messages"), key);
		if (!msg)
			fail_msg("%s has no %s", path, key);
		want_sev = json_string_value(json_object_get(msg, "MessageSeverity"));
		if (!want_sev)
			want_sev = json_string_value(json_object_get(msg, "Severity"));
		assert_string_equal(thermal_severity_name(sev), want_sev);
		assert_int_equal(nargs,
		                 (int)json_integer_value(json_object_get(msg, "NumberOfArgs")));
		assert_string_equal(text, json_string_value(json_object_get(msg, "Message")));
		json_decref(reg);
	}
	assert_true(i >= 10);
}

/* Every log entry of every scenario names a message of that table with
 * the right number of arguments and at least its severity, and says
 * something. */
static void test_logs_well_formed(void **state)
{
	for (size_t s = 0; s < thermal_scenario_count(); s++) {
		const struct thermal_scenario *sc = thermal_scenario_at(s);
		struct thermal_sim_result res;
		struct trace *tr;

		if (sc->duration_s > H(12))
			continue;
		tr = run_named(sc->name, &res);
		for (size_t k = 0; k < tr->nlogs; k++) {
			const struct thermal_log *l = &tr->logs[k];
			const char *registry, *key, *text;
			enum thermal_severity sev;
			int nargs;
			bool found = false;
			char id[THERMAL_MSGID_MAX];

			assert_true(l->message[0] != 0);
			assert_true(l->origin[0] != 0);
			for (size_t i = 0; !found && thermal_ctl_message(i, &registry, &key, &sev,
			                                                 &nargs, &text) == 0;
			     i++) {
				snprintf(id, sizeof(id), "%s.%s", registry, key);
				if (!strcmp(id, l->message_id)) {
					found = true;
					/* a decision may be logged more severe than
					 * the registry's default (a VM shut down for
					 * heat), never less */
					if (l->nargs != nargs || l->severity < sev)
						fail_msg("%s: %s has %d args, severity %s",
						         sc->name, id, l->nargs,
						         thermal_severity_name(l->severity));
				}
			}
			if (!found)
				fail_msg("%s: unknown MessageId \"%s\"", sc->name, l->message_id);
		}
		free(tr);
	}
}

static void test_json(void **state)
{
	struct thermal_log l = { .t = 12, .severity = THERMAL_CRITICAL, .nargs = 1 };
	struct thermal_ctl *c = calloc(1, sizeof(*c));
	struct thermal_ctl_config cc;
	struct thermal_status st;
	json_t *j;

	snprintf(l.message_id, sizeof(l.message_id), "Environmental.1.4.0.FanFailed");
	snprintf(l.args[0], sizeof(l.args[0]), "Fan2");
	snprintf(l.message, sizeof(l.message), "fan 2 stopped");
	snprintf(l.origin, sizeof(l.origin), "Fan2");
	j = thermal_log_json(&l);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "severity")), "Critical");
	assert_string_equal(json_string_value(json_object_get(j, "message_id")),
	                    "Environmental.1.4.0.FanFailed");
	assert_int_equal(json_array_size(json_object_get(j, "args")), 1);
	json_decref(j);

	thermal_ctl_config_defaults(&cc);
	thermal_ctl_init(c, &cc);
	thermal_ctl_status(c, &st);
	j = thermal_status_json(&st);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "state")), "ok");
	assert_int_equal(json_integer_value(json_object_get(j, "cpu_cap_pct")), 100);
	assert_true(json_is_array(json_object_get(j, "alarms")));
	assert_true(json_is_number(json_object_get(j, "headroom_c")));
	json_decref(j);
	free(c);
}

/* ---- The runner ---- */

static void test_scenarios_listed(void **state)
{
	static const char *const want[] = { "winter-night",   "desert-noon",  "fan-failure",
		                            "heater-failure", "stuck-sensor", "sensor-lost" };
	struct thermal_scenario sc;

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_int_equal(thermal_scenario_get(want[i], &sc), 0);
	assert_int_equal(thermal_scenario_get("nope", &sc), -ENOENT);
	assert_non_null(thermal_scenario_at(0));
	assert_null(thermal_scenario_at(thermal_scenario_count()));
	assert_float_equal(thermal_scenario_at(0)->points[0].ambient_c, -25, 0);
}

static void test_bad_scenario(void **state)
{
	struct thermal_scenario sc = scenario("steady");
	struct thermal_model_config mc;
	struct thermal_ctl_config cc;
	struct thermal_sim_result res;
	struct kerr e = { 0 };

	configs(&mc, &cc);
	sc.duration_s = 0;
	assert_int_equal(thermal_sim_run(&sc, &mc, &cc, NULL, &res, &e), -EINVAL);
	sc = scenario("steady");
	sc.events[sc.nevents++] = (struct thermal_event){ 10, THERMAL_EV_FAN_STUCK, 7, 0 };
	assert_int_equal(thermal_sim_run(&sc, &mc, &cc, NULL, &res, &e), -EINVAL);
	sc = scenario("steady");
	sc.vms[1] = sc.vms[0];
	assert_int_equal(thermal_sim_run(&sc, &mc, &cc, NULL, &res, &e), -EINVAL);
	sc = scenario("steady");
	sc.points[0].load = 2;
	assert_int_equal(thermal_sim_run(&sc, &mc, &cc, NULL, &res, &e), -EINVAL);
}

/* The plain thermostat runs through the same runner (the benchmark's
 * reference) and spends more fan energy in a temperate day. */
static void test_thermostat_policy(void **state)
{
	struct thermal_scenario sc = scenario("temperate-day");
	struct thermal_model_config mc;
	struct thermal_ctl_config cc;
	struct thermal_sim_result ctl, ts;
	struct kerr e = { 0 };

	configs(&mc, &cc);
	sc.duration_s = H(12);
	assert_int_equal(thermal_sim_run(&sc, &mc, &cc, NULL, &ctl, &e), 0);
	sc.policy = THERMAL_POLICY_THERMOSTAT;
	assert_int_equal(thermal_sim_run(&sc, &mc, &cc, NULL, &ts, &e), 0);
	assert_true(ts.fan_wh > 0);
	assert_true(ctl.fan_wh + ctl.heater_wh < 0.7 * (ts.fan_wh + ts.heater_wh));
	assert_true(ctl.above_band_s + ctl.below_band_s <= ts.above_band_s + ts.below_band_s);
}

/* thermal_sim_main(argv up to its NULL) with stdout and stderr sent to
 * /dev/null; nothing in between can fail an assertion. */
static int sim_main_quiet(char **argv)
{
	int argc = 0, out, err, devnull, r;

	while (argv[argc])
		argc++;
	fflush(stdout);
	fflush(stderr);
	out = dup(1);
	err = dup(2);
	devnull = open("/dev/null", O_WRONLY);
	if (out < 0 || err < 0 || devnull < 0)
		return -1;
	dup2(devnull, 1);
	dup2(devnull, 2);
	r = thermal_sim_main(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(out, 1);
	dup2(err, 2);
	close(out);
	close(err);
	close(devnull);
	return r;
}

static void test_sim_main(void **state)
{
	char *list[] = { "thermal-sim", "--list", NULL };
	char *ok[] = { "thermal-sim", "fan-failure", "--duration", "30m",
		       "--every",     "600",         "--format",   "jsonl",
		       "--fan-stuck", "3@10m:0",     "--set",      "heater_w=300",
		       "--vm",        "a:1:0.5",     "--vm",       "b:2:0.5",
		       NULL };
	char *csv[] = { "thermal-sim", "--ambient",  "20", "steady",       "--load",
		        "0.3",         "--duration", "1h", "--thermostat", "--sensor-stuck",
		        "coolant@5m",  NULL };
	char *none[] = { "thermal-sim", NULL };
	char *unknown[] = { "thermal-sim", "nope", NULL };
	char *badopt[] = { "thermal-sim", "steady", "--load", "2", NULL };
	char *badkey[] = { "thermal-sim", "steady", "--set", "warp=9", NULL };
	char *badfault[] = { "thermal-sim", "steady", "--fan-stuck", "9@1h", NULL };

	assert_int_equal(sim_main_quiet(list), 0);
	assert_int_equal(sim_main_quiet(ok), 0);
	assert_int_equal(sim_main_quiet(csv), 0);
	assert_int_equal(sim_main_quiet(none), 2);
	assert_int_equal(sim_main_quiet(unknown), 2);
	assert_int_equal(sim_main_quiet(badopt), 2);
	assert_int_equal(sim_main_quiet(badkey), 2);
	assert_int_equal(sim_main_quiet(badfault), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_model_steady_state),
		cmocka_unit_test(test_model_desert_arithmetic),
		cmocka_unit_test(test_model_energy_balance),
		cmocka_unit_test(test_model_long_step),
		cmocka_unit_test(test_model_fan_cube_law),
		cmocka_unit_test(test_model_faults_and_sensors),
		cmocka_unit_test(test_model_cap_follows),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_setpoint_file),
		cmocka_unit_test(test_winter_night),
		cmocka_unit_test(test_desert_noon),
		cmocka_unit_test(test_fan_failure),
		cmocka_unit_test(test_fan_stuck_fast),
		cmocka_unit_test(test_heater_failure),
		cmocka_unit_test(test_heater_repaired),
		cmocka_unit_test(test_stuck_sensor),
		cmocka_unit_test(test_stuck_sensor_no_fallback),
		cmocka_unit_test(test_sensor_lost),
		cmocka_unit_test(test_part_speed_fans),
		cmocka_unit_test(test_load_step),
		cmocka_unit_test(test_no_precool_at_start),
		cmocka_unit_test(test_no_chattering),
		cmocka_unit_test(test_gaps),
		cmocka_unit_test(test_registry_messages),
		cmocka_unit_test(test_logs_well_formed),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_scenarios_listed),
		cmocka_unit_test(test_bad_scenario),
		cmocka_unit_test(test_thermostat_policy),
		cmocka_unit_test(test_sim_main),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
