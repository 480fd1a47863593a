// SPDX-License-Identifier: MIT
/*
 * The thermal scenario runner (thermal.h): the box model and the controller
 * played together in 1 s steps of simulated time, hours in milliseconds.
 *
 *   thermal_sim_run()   one scenario: the inputs (ambient, solar, VM CPU
 *                       demand) follow its profile, its faults happen at
 *                       their times, the VMs shut down and boot as the
 *                       controller asks; results and hooks, no I/O. The
 *                       unit tests call this.
 *   thermal_sim_main()  `kumo-agent thermal-sim`: a named scenario with
 *                       overrides from the command line; prints a time
 *                       series (CSV or JSON lines), the log and a summary.
 *
 * The VMs of a run are simulated here, not by a driver: a graceful shutdown
 * takes SIM_VM_STOP_S (the VM keeps its CPU until then), a boot
 * SIM_VM_BOOT_S. Each VM demands the profile's load of its own vCPUs and
 * gets at most the controller's CPU cap of them.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/thermal.h"
#include "common/util.h"

#define SIM_VM_STOP_S 30.0
#define SIM_VM_BOOT_S 60.0
#define SIM_DURATION_MAX (31.0 * 86400) /* a month of simulated time at most */
#define H(x) ((x)*3600.0)
#define P(h, ambient, solar, load)                                                                 \
	{                                                                                          \
		H(h), ambient, solar, load                                                         \
	}

/* ---- The named scenarios ---- */

#define VMS4                                                                                       \
	.nvms = 4, .vms = {                                                                        \
		{ "vm-batch", 1, 0.25 },                                                           \
		{ "vm-ci", 2, 0.25 },                                                              \
		{ "vm-web", 3, 0.25 },                                                             \
		{ "vm-db", 4, 0.25 },                                                              \
	}

static const struct thermal_scenario scenarios[] = {
	{
	    .name = "winter-night",
	    .description = "-25 C ambient, idle VMs, no sun, 12 h: the heater keeps the band",
	    .duration_s = H(12),
	    .coolant0_c = 15,
	    .npoints = 1,
	    .points = { { 0, -25, 0, 0.02 } },
	    VMS4,
	},
	{
	    .name = "desert-noon",
	    .description = "55 C ambient, full load, full sun for 3 h, then the evening cools "
	                   "to 30 C: warning, CPU cap, shutdowns at 60 C, restarts",
	    .duration_s = H(8),
	    .coolant0_c = 45,
	    .npoints = 7,
	    .points = { P(0, 55, 1, 1), P(3, 55, 1, 1), P(4, 53, 0.7, 1), P(5, 47, 0.4, 1),
	                P(6, 40, 0.1, 1), P(7, 34, 0, 1), P(8, 30, 0, 1) },
	    VMS4,
	},
	{
	    .name = "fan-failure",
	    .description = "35 C ambient, 70% load from 45 C coolant; fan 2 stops after 1 h",
	    .duration_s = H(4),
	    .coolant0_c = 45,
	    .npoints = 1,
	    .points = { { 0, 35, 0, 0.7 } },
	    .nevents = 1,
	    .events = { { H(1), THERMAL_EV_FAN_STUCK, 1, 0 } },
	    VMS4,
	},
	{
	    .name = "heater-failure",
	    .description = "-20 C ambient, idle; the heater fails after 2 h",
	    .duration_s = H(8),
	    .coolant0_c = 10,
	    .npoints = 1,
	    .points = { { 0, -20, 0, 0.02 } },
	    .nevents = 1,
	    .events = { { H(2), THERMAL_EV_HEATER_FAIL, 0, 0 } },
	    VMS4,
	},
	{
	    .name = "stuck-sensor",
	    .description = "25 C ambient, 30% load; the coolant sensor sticks after 1 h and the "
	                   "load rises to 90% at 1.5 h",
	    .duration_s = H(6),
	    .coolant0_c = 35,
	    .npoints = 3,
	    .points = { { 0, 25, 0, 0.3 }, P(1.5, 25, 0, 0.3), { H(1.5) + 60, 25, 0, 0.9 } },
	    .nevents = 1,
	    .events = { { H(1), THERMAL_EV_SENSOR_STUCK, THERMAL_SENSOR_COOLANT, 0 } },
	    VMS4,
	},
	{
	    .name = "sensor-lost",
	    .description = "30 C ambient, 60% load; the coolant and package sensors vanish "
	                   "after 1 h, the load rises to 90% at 2 h",
	    .duration_s = H(6),
	    .coolant0_c = 40,
	    .npoints = 3,
	    .points = { { 0, 30, 0, 0.6 }, P(2, 30, 0, 0.6), { H(2) + 60, 30, 0, 0.9 } },
	    .nevents = 2,
	    .events = { { H(1), THERMAL_EV_SENSOR_MISSING, THERMAL_SENSOR_COOLANT, 0 },
	                { H(1), THERMAL_EV_SENSOR_MISSING, THERMAL_SENSOR_PKG, 0 } },
	    VMS4,
	},
	{
	    .name = "steady",
	    .description = "30 C ambient, 50% load, 12 h: fans at part speed, no chattering",
	    .duration_s = H(12),
	    .coolant0_c = 40,
	    .npoints = 1,
	    .points = { { 0, 30, 0, 0.5 } },
	    VMS4,
	},
	{
	    .name = "desert-day",
	    .description = "24 h desert summer: 27 C at dawn to 46 C mid-afternoon, strong sun, "
	                   "busy by day",
	    .duration_s = H(24),
	    .coolant0_c = 40,
	    .npoints = 13,
	    .points = { P(0, 30, 0, 0.3), P(2, 28, 0, 0.3), P(4, 27, 0, 0.3), P(6, 29, 0.1, 0.4),
	                P(8, 34, 0.5, 0.7), P(10, 39, 0.8, 0.7), P(12, 43, 1, 0.7),
	                P(14, 46, 0.9, 0.7), P(16, 45, 0.6, 0.7), P(18, 41, 0.2, 0.6),
	                P(20, 36, 0, 0.5), P(22, 32, 0, 0.4), P(24, 30, 0, 0.3) },
	    VMS4,
	},
	{
	    .name = "alpine-winter",
	    .description = "24 h alpine winter: -25 C before dawn to -8 C at 14:00, weak sun, "
	                   "light load",
	    .duration_s = H(24),
	    .coolant0_c = 12,
	    .npoints = 13,
	    .points = { P(0, -20, 0, 0.1), P(2, -23, 0, 0.1), P(4, -25, 0, 0.1), P(6, -24, 0, 0.2),
	                P(8, -19, 0.2, 0.4), P(10, -13, 0.4, 0.5), P(12, -9, 0.5, 0.5),
	                P(14, -8, 0.4, 0.5), P(16, -11, 0.1, 0.4), P(18, -15, 0, 0.3),
	                P(20, -17, 0, 0.2), P(22, -19, 0, 0.1), P(24, -20, 0, 0.1) },
	    VMS4,
	},
	{
	    .name = "temperate-day",
	    .description = "24 h temperate day: 8 C at night to 24 C, sun, office-hours load",
	    .duration_s = H(24),
	    .coolant0_c = 30,
	    .npoints = 13,
	    .points = { P(0, 11, 0, 0.2), P(2, 9, 0, 0.2), P(4, 8, 0, 0.2), P(6, 9, 0.1, 0.3),
	                P(8, 13, 0.4, 0.6), P(10, 18, 0.7, 0.8), P(12, 22, 0.8, 0.9),
	                P(14, 24, 0.7, 0.9), P(16, 23, 0.4, 0.8), P(18, 19, 0.1, 0.6),
	                P(20, 15, 0, 0.4), P(22, 13, 0, 0.3), P(24, 11, 0, 0.2) },
	    VMS4,
	},
};

size_t thermal_scenario_count(void)
{
	return ARRAY_SIZE(scenarios);
}

const struct thermal_scenario *thermal_scenario_at(size_t i)
{
	return i < ARRAY_SIZE(scenarios) ? &scenarios[i] : NULL;
}

int thermal_scenario_get(const char *name, struct thermal_scenario *ret)
{
	for (size_t i = 0; i < ARRAY_SIZE(scenarios); i++)
		if (!strcmp(scenarios[i].name, name)) {
			*ret = scenarios[i];
			return 0;
		}
	return -ENOENT;
}

static bool in_range(double v, double lo, double hi)
{
	return isfinite(v) && v >= lo && v <= hi;
}

static int scenario_check(const struct thermal_scenario *sc, int fans, struct kerr *e)
{
	if (!in_range(sc->duration_s, 1, SIM_DURATION_MAX))
		return kerr_set(e, -EINVAL, "duration", "duration %g s is not in 1 s..31 days",
		                sc->duration_s);
	if (!in_range(sc->coolant0_c, -60, 120))
		return kerr_set(e, -EINVAL, "coolant", "coolant %g C is not in -60..120",
		                sc->coolant0_c);
	if (sc->npoints > THERMAL_PROFILE_MAX || sc->nevents > THERMAL_EVENTS_MAX ||
	    sc->nvms > THERMAL_SIM_VMS_MAX)
		return kerr_set(e, -EINVAL, "scenario", "too many points, events or VMs");
	for (size_t i = 0; i < sc->npoints; i++) {
		const struct thermal_point *p = &sc->points[i];

		if (!in_range(p->t, 0, SIM_DURATION_MAX) || (i > 0 && p->t < sc->points[i - 1].t))
			return kerr_set(e, -EINVAL, "profile", "profile times must rise from 0");
		if (!in_range(p->ambient_c, -60, 80))
			return kerr_set(e, -EINVAL, "ambient", "ambient %g C is not in -60..80",
			                p->ambient_c);
		if (!in_range(p->solar, 0, 1) || !in_range(p->load, 0, 1))
			return kerr_set(e, -EINVAL, "profile", "solar and load must be in 0..1");
	}
	for (size_t i = 0; i < sc->nevents; i++) {
		const struct thermal_event *ev = &sc->events[i];
		int n = ev->kind == THERMAL_EV_FAN_STUCK || ev->kind == THERMAL_EV_FAN_FREE ? fans
		        : ev->kind >= THERMAL_EV_SENSOR_STUCK ? THERMAL_SENSOR_COUNT
		                                              : 1;

		if (!in_range(ev->t, 0, SIM_DURATION_MAX) || ev->index < 0 || ev->index >= n ||
		    !in_range(ev->value, 0, 100))
			return kerr_set(e, -EINVAL, "fault", "fault %zu: bad time, index or value",
			                i);
	}
	for (size_t i = 0; i < sc->nvms; i++) {
		if (!sc->vms[i].id[0] || !memchr(sc->vms[i].id, 0, THERMAL_ID_MAX) ||
		    !in_range(sc->vms[i].share, 0, 1))
			return kerr_set(e, -EINVAL, "vm", "vm %zu: empty id or share not in 0..1",
			                i);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(sc->vms[i].id, sc->vms[j].id))
				return kerr_set(e, -EINVAL, "vm", "vm %s listed twice",
				                sc->vms[i].id);
	}
	return 0;
}

/* The profile at t: linear between points, held before the first and after
 * the last. */
static void profile_at(const struct thermal_scenario *sc, double t, struct thermal_point *ret)
{
	const struct thermal_point *p = sc->points;
	size_t i;

	if (sc->npoints == 0) {
		*ret = (struct thermal_point){ t, 20, 0, 0 };
		return;
	}
	if (t <= p[0].t || sc->npoints == 1) {
		*ret = p[0];
		ret->t = t;
		return;
	}
	for (i = 0; i + 1 < sc->npoints && p[i + 1].t <= t; i++)
		;
	if (i + 1 >= sc->npoints) {
		*ret = p[i];
	} else {
		double f = (t - p[i].t) / (p[i + 1].t - p[i].t);

		ret->ambient_c = p[i].ambient_c + f * (p[i + 1].ambient_c - p[i].ambient_c);
		ret->solar = p[i].solar + f * (p[i + 1].solar - p[i].solar);
		ret->load = p[i].load + f * (p[i + 1].load - p[i].load);
	}
	ret->t = t;
}

/* ---- One run ---- */

enum simvm_state {
	SV_RUNNING,
	SV_STOPPING,
	SV_STOPPED,
	SV_STARTING,
};

struct simvm {
	struct thermal_sim_vm v;
	enum simvm_state st;
	double until; /* end of a shutdown or a boot */
};

struct run {
	const struct thermal_scenario *sc;
	const struct thermal_sim_hooks *hooks;
	struct thermal_sim_result *res;
	struct thermal_model m;
	struct thermal_ctl c;
	struct thermal_readings r;
	struct thermal_actions a;
	struct thermal_status st;
	struct simvm vms[THERMAL_SIM_VMS_MAX];
	struct thermal_vm cvms[THERMAL_SIM_VMS_MAX];
	bool applied[THERMAL_EVENTS_MAX];
	struct thermal_point in;
	int cap_pct;
	bool ts_fans, ts_heater; /* the thermostat's state */
	bool prev_heater, prev_fans;
	int prev_stage;
};

static void apply_event(struct run *u, const struct thermal_event *ev)
{
	switch (ev->kind) {
	case THERMAL_EV_FAN_STUCK:
		thermal_model_fan_fault(&u->m, ev->index, true, ev->value);
		break;
	case THERMAL_EV_FAN_FREE:
		thermal_model_fan_fault(&u->m, ev->index, false, 0);
		break;
	case THERMAL_EV_HEATER_FAIL:
		thermal_model_heater_fault(&u->m, true);
		break;
	case THERMAL_EV_HEATER_FIX:
		thermal_model_heater_fault(&u->m, false);
		break;
	case THERMAL_EV_SENSOR_STUCK:
		thermal_model_sensor_fault(&u->m, ev->index, THERMAL_SENSOR_STUCK);
		break;
	case THERMAL_EV_SENSOR_MISSING:
		thermal_model_sensor_fault(&u->m, ev->index, THERMAL_SENSOR_MISSING);
		break;
	case THERMAL_EV_SENSOR_FIX:
		thermal_model_sensor_fault(&u->m, ev->index, THERMAL_SENSOR_OK);
		break;
	}
}

static bool vm_powered(const struct simvm *v)
{
	return v->st != SV_STOPPED;
}

/* Moves the VMs' shutdowns and boots on, and feeds the model and the
 * controller their CPU use at t. */
static void vms_update(struct run *u, double t)
{
	double use = 0;

	for (size_t i = 0; i < u->sc->nvms; i++) {
		struct simvm *v = &u->vms[i];
		struct thermal_vm *cv = &u->cvms[i];

		if (v->st == SV_STOPPING && t >= v->until)
			v->st = SV_STOPPED;
		else if (v->st == SV_STARTING && t >= v->until)
			v->st = SV_RUNNING;
		memcpy(cv->id, v->v.id, sizeof(cv->id));
		cv->priority = v->v.priority;
		cv->running = vm_powered(v);
		cv->share = v->v.share;
		cv->cpu = cv->running ? thermal_vm_use(u->in.load, v->v.share, u->cap_pct) : 0;
		use += cv->cpu;
	}
	u->m.cpu_use = use > 1 ? 1 : use;
}

static struct simvm *vm_find(struct run *u, const char *id)
{
	for (size_t i = 0; i < u->sc->nvms; i++)
		if (!strcmp(u->vms[i].v.id, id))
			return &u->vms[i];
	return NULL;
}

static void vm_note(struct thermal_vm_event *list, size_t *n, const struct simvm *v, double t)
{
	if (*n >= THERMAL_SIM_VMS_MAX * 4)
		return;
	memcpy(list[*n].id, v->v.id, sizeof(list[*n].id));
	list[*n].t = t;
	list[*n].priority = v->v.priority;
	(*n)++;
}

static void vms_act(struct run *u, double t)
{
	struct simvm *v;

	if (u->a.shutdown_vm[0] && (v = vm_find(u, u->a.shutdown_vm))) {
		if (v->st == SV_RUNNING || v->st == SV_STARTING)
			vm_note(u->res->shutdowns, &u->res->nshutdowns, v, t);
		if (u->a.shutdown_force) {
			v->st = SV_STOPPED;
		} else if (v->st == SV_RUNNING || v->st == SV_STARTING) {
			v->st = SV_STOPPING;
			v->until = t + SIM_VM_STOP_S;
		}
	}
	if (u->a.start_vm[0] && (v = vm_find(u, u->a.start_vm)) && v->st == SV_STOPPED) {
		vm_note(u->res->starts, &u->res->nstarts, v, t);
		v->st = SV_STARTING;
		v->until = t + SIM_VM_BOOT_S;
	}
}

/* The plain on/off thermostat of enum thermal_policy, exactly the
 * benchmark's (issue 5): all fans full above 45 C, off below 40 C; heater
 * on below 5 C, off above 10 C. */
static void thermostat(struct run *u)
{
	const struct thermal_readings *r = &u->r;

	memset(&u->a, 0, sizeof(u->a));
	if (r->coolant_valid) {
		if (r->coolant_c > 45)
			u->ts_fans = true;
		else if (r->coolant_c < 40)
			u->ts_fans = false;
		if (r->coolant_c < 5)
			u->ts_heater = true;
		else if (r->coolant_c > 10)
			u->ts_heater = false;
	}
	u->a.fans = u->m.cfg.box.fans;
	for (int i = 0; i < u->a.fans; i++)
		u->a.fan_pct[i] = u->ts_fans ? 100 : 0;
	u->a.heater_on = u->ts_heater;
	u->a.cpu_cap_pct = 100;
	memset(&u->st, 0, sizeof(u->st));
	u->st.state = THERMAL_STATE_OK;
	u->st.cpu_cap_pct = 100;
	u->st.coolant_c = r->coolant_c;
	u->st.source = THERMAL_SRC_COOLANT;
}

static void alarm_seen(struct thermal_sim_result *res, const char *id)
{
	size_t n = strlen(res->alarms_seen), k = strlen(id);
	const char *p = res->alarms_seen;

	while ((p = strstr(p, id))) {
		if ((p == res->alarms_seen || p[-1] == ',') && (p[k] == ',' || !p[k]))
			return;
		p += k;
	}
	if (!k || n + k + 2 > sizeof(res->alarms_seen))
		return;
	snprintf(res->alarms_seen + n, sizeof(res->alarms_seen) - n, "%s%s", n ? "," : "", id);
}

static void record(struct run *u, double t)
{
	struct thermal_sim_result *res = u->res;
	const struct thermal_ctl_config *cc = &u->c.cfg;
	double tc = u->m.coolant_c;
	int stage = 0;

	if (tc < res->coolant_min_c)
		res->coolant_min_c = tc;
	if (tc > res->coolant_max_c)
		res->coolant_max_c = tc;
	res->above_band_s += tc > cc->band_hi_c;
	res->below_band_s += tc < cc->band_lo_c;
	res->above_warning_s += tc > cc->warning_c;
	res->above_critical_s += tc >= cc->critical_c;
	for (int i = 0; i < u->a.fans; i++)
		stage += u->a.fan_pct[i] > 0;
	res->heater_switches += u->a.heater_on != u->prev_heater;
	res->fan_switches += (stage > 0) != u->prev_fans;
	res->fan_stage_changes += stage != u->prev_stage;
	u->prev_heater = u->a.heater_on;
	u->prev_fans = stage > 0;
	u->prev_stage = stage;
	if (u->a.cpu_cap_pct < res->cap_min_pct)
		res->cap_min_pct = u->a.cpu_cap_pct;
	if (u->a.cpu_cap_pct < 100 && res->first_cap_t < 0)
		res->first_cap_t = t;
	if (u->st.headroom_c < 0 && u->sc->policy == THERMAL_POLICY_CTL && res->first_warning_t < 0)
		res->first_warning_t = t;
	if (u->st.coolant_c >= cc->critical_c && u->sc->policy == THERMAL_POLICY_CTL &&
	    res->first_critical_t < 0)
		res->first_critical_t = t;
	if (u->st.state > res->worst_state)
		res->worst_state = u->st.state;
	if (u->st.fans_failed > res->max_fans_failed)
		res->max_fans_failed = u->st.fans_failed;
	if (u->st.source != THERMAL_SRC_COOLANT)
		res->fallback_s += 1;
	for (size_t i = 0; i < u->a.nlogs; i++) {
		const struct thermal_log *l = &u->a.logs[i];

		res->nlogs++;
		if (l->severity != THERMAL_OK)
			alarm_seen(res, l->message_id);
		if (u->hooks && u->hooks->log)
			u->hooks->log(u->hooks->cls, l);
	}
}

static void sample(struct run *u)
{
	const struct thermal_sim_hooks *h = u->hooks;
	struct thermal_sample s;
	long every;

	if (!h || !h->sample || !(h->sample_every_s > 0))
		return;
	every = lround(h->sample_every_s) > 0 ? lround(h->sample_every_s) : 1;
	if (lround(u->r.t) % every != 0)
		return;
	s = (struct thermal_sample){
		.t = u->r.t,
		.ambient_c = u->in.ambient_c,
		.solar = u->in.solar,
		.load = u->in.load,
		.coolant_c = u->m.coolant_c,
		.r = &u->r,
		.a = &u->a,
		.state = u->st.state,
	};
	for (size_t i = 0; i < u->sc->nvms; i++)
		s.vms_running += u->vms[i].st == SV_RUNNING;
	h->sample(h->cls, &s);
}

static void result_init(struct thermal_sim_result *res)
{
	memset(res, 0, sizeof(*res));
	res->coolant_min_c = INFINITY;
	res->coolant_max_c = -INFINITY;
	res->cap_min_pct = 100;
	res->first_warning_t = res->first_cap_t = res->first_critical_t = -1;
}

static void run_steps(struct run *u)
{
	long n = lround(ceil(u->sc->duration_s));

	for (long k = 0; k < n; k++) {
		double t = (double)k;

		profile_at(u->sc, t, &u->in);
		u->m.ambient_c = u->in.ambient_c;
		u->m.solar = u->in.solar;
		for (size_t i = 0; i < u->sc->nevents; i++)
			if (!u->applied[i] && u->sc->events[i].t <= t) {
				apply_event(u, &u->sc->events[i]);
				u->applied[i] = true;
			}
		vms_update(u, t);
		thermal_model_step(&u->m, 1);
		thermal_model_read(&u->m, &u->r);
		if (u->sc->policy == THERMAL_POLICY_THERMOSTAT) {
			thermostat(u);
		} else {
			thermal_ctl_step(&u->c, &u->r, u->cvms, u->sc->nvms, &u->a);
			thermal_ctl_status(&u->c, &u->st);
		}
		thermal_model_command(&u->m, u->a.fan_pct, u->a.fans, u->a.heater_on);
		u->cap_pct = u->a.cpu_cap_pct;
		vms_act(u, u->r.t);
		record(u, u->r.t);
		sample(u);
	}
}

int thermal_sim_run(const struct thermal_scenario *sc, const struct thermal_model_config *mc,
                    const struct thermal_ctl_config *cc, const struct thermal_sim_hooks *hooks,
                    struct thermal_sim_result *ret, struct kerr *e)
{
	struct run *u;
	int r;

	if ((r = thermal_model_config_check(mc, e)) < 0 ||
	    (r = thermal_ctl_config_check(cc, e)) < 0 ||
	    (r = scenario_check(sc, mc->box.fans, e)) < 0)
		return r;
	u = xcalloc(1, sizeof(*u));
	u->sc = sc;
	u->hooks = hooks;
	u->res = ret;
	u->cap_pct = 100;
	result_init(ret);
	profile_at(sc, 0, &u->in);
	thermal_model_init(&u->m, mc, sc->coolant0_c, u->in.ambient_c);
	thermal_ctl_init(&u->c, cc);
	for (size_t i = 0; i < sc->nvms; i++)
		u->vms[i] = (struct simvm){ .v = sc->vms[i], .st = SV_RUNNING };
	run_steps(u);
	ret->fan_wh = u->m.e_fan_j / 3600;
	ret->heater_wh = u->m.e_heater_j / 3600;
	ret->server_wh = u->m.e_server_j / 3600;
	for (size_t i = 0; i < sc->nvms; i++)
		ret->vms_running_end += u->vms[i].st == SV_RUNNING;
	free(u);
	return 0;
}

static json_t *vm_events_json(const struct thermal_vm_event *ev, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:s, s:f, s:i}", "id", ev[i].id, "t", ev[i].t,
		                                   "priority", ev[i].priority));
	return a;
}

json_t *thermal_sim_result_json(const struct thermal_sim_result *r)
{
	json_t *alarms = json_array();
	char buf[sizeof(r->alarms_seen)];
	char *save = NULL;

	memcpy(buf, r->alarms_seen, sizeof(buf));
	for (char *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save))
		json_array_append_new(alarms, json_string(p));
	return json_pack(
	    "{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:i, s:i, s:i, s:i, s:f, "
	    "s:f, s:f, s:i, s:s, s:I, s:o, s:o, s:i, s:o, s:f}",
	    "coolant_min_c", r->coolant_min_c, "coolant_max_c", r->coolant_max_c, "fan_wh",
	    r->fan_wh, "heater_wh", r->heater_wh, "server_wh", r->server_wh, "above_band_s",
	    r->above_band_s, "below_band_s", r->below_band_s, "above_warning_s", r->above_warning_s,
	    "above_critical_s", r->above_critical_s, "heater_switches", r->heater_switches,
	    "fan_switches", r->fan_switches, "fan_stage_changes", r->fan_stage_changes,
	    "cap_min_pct", r->cap_min_pct, "first_warning_t", r->first_warning_t, "first_cap_t",
	    r->first_cap_t, "first_critical_t", r->first_critical_t, "max_fans_failed",
	    r->max_fans_failed, "worst_state", thermal_state_name(r->worst_state), "logs",
	    (json_int_t)r->nlogs, "shutdowns", vm_events_json(r->shutdowns, r->nshutdowns),
	    "starts", vm_events_json(r->starts, r->nstarts), "vms_running_end", r->vms_running_end,
	    "alarms", alarms, "fallback_s", r->fallback_s);
}

/* ---- kumo-agent thermal-sim ---- */

struct out {
	FILE *f;
	bool jsonl;
	bool logs;
	int fans;
	double rpm_max;
};

static void hhmm(double t, char *buf, size_t len)
{
	long s = lround(t);

	snprintf(buf, len, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
}

static void csv_header(const struct out *o)
{
	fprintf(o->f, "t_s,time,ambient_c,solar,load,coolant_c,coolant_read_c,pkg_read_c");
	for (int i = 0; i < o->fans; i++)
		fprintf(o->f, ",fan%d_pct", i + 1);
	fprintf(o->f, ",fans_w,heater_w,server_w,total_w,cpu_cap_pct,vms_running,state\n");
}

static void print_sample(void *cls, const struct thermal_sample *s)
{
	const struct out *o = cls;
	const struct thermal_readings *r = s->r;
	double fans_w = 0;
	char tm[32];

	for (int i = 0; i < r->fans; i++)
		fans_w += r->fan_w[i];
	if (o->jsonl) {
		json_t *fans = json_array(), *j;
		char *line;

		for (int i = 0; i < r->fans; i++)
			json_array_append_new(fans, json_real(round(r->fan_rpm[i])));
		j = json_pack(
		    "{s:s, s:f, s:f, s:f, s:f, s:f, s:o, s:o, s:o, s:f, s:b, s:f, s:f, "
		    "s:f, s:i, s:i, s:s}",
		    "type", "sample", "t", s->t, "ambient_c", s->ambient_c, "solar", s->solar,
		    "load", s->load, "coolant_c", s->coolant_c, "coolant_read_c",
		    r->coolant_valid ? json_real(r->coolant_c) : json_null(), "pkg_read_c",
		    r->pkg_valid ? json_real(r->pkg_c) : json_null(), "fan_rpm", fans, "fans_w",
		    fans_w, "heater_on", r->heater_on, "heater_w", r->heater_w, "server_w",
		    r->server_w, "total_w", r->total_w, "cpu_cap_pct", s->a->cpu_cap_pct,
		    "vms_running", s->vms_running, "state", thermal_state_name(s->state));
		line = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6));
		fprintf(o->f, "%s\n", line);
		free(line);
		json_decref(j);
		return;
	}
	hhmm(s->t, tm, sizeof(tm));
	fprintf(o->f, "%.0f,%s,%.2f,%.2f,%.2f,%.3f,", s->t, tm, s->ambient_c, s->solar, s->load,
	        s->coolant_c);
	if (r->coolant_valid)
		fprintf(o->f, "%.2f", r->coolant_c);
	fprintf(o->f, ",");
	if (r->pkg_valid)
		fprintf(o->f, "%.2f", r->pkg_c);
	for (int i = 0; i < r->fans; i++)
		fprintf(o->f, ",%.0f", 100 * r->fan_rpm[i] / o->rpm_max);
	fprintf(o->f, ",%.2f,%.0f,%.0f,%.1f,%d,%d,%s\n", fans_w, r->heater_w, r->server_w,
	        r->total_w, s->a->cpu_cap_pct, s->vms_running, thermal_state_name(s->state));
}

static void print_log(void *cls, const struct thermal_log *l)
{
	const struct out *o = cls;
	char tm[32];

	if (!o->logs)
		return;
	if (o->jsonl) {
		json_t *j = thermal_log_json(l);
		char *line;

		json_object_set_new(j, "type", json_string("log"));
		line = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
		fprintf(o->f, "%s\n", line);
		free(line);
		json_decref(j);
		return;
	}
	hhmm(l->t, tm, sizeof(tm));
	fprintf(o->f, "# log %s %-8s %s [", tm, thermal_severity_name(l->severity),
	        l->message_id[0] ? l->message_id : "-");
	for (int i = 0; i < l->nargs; i++)
		fprintf(o->f, "%s\"%s\"", i ? ", " : "", l->args[i]);
	fprintf(o->f, "] %s: %s\n", l->origin, l->message);
}

static void print_vm_events(FILE *f, const char *what, const struct thermal_vm_event *ev, size_t n)
{
	char tm[32];

	fprintf(f, "# %s:", what);
	if (!n)
		fprintf(f, " none");
	for (size_t i = 0; i < n; i++) {
		hhmm(ev[i].t, tm, sizeof(tm));
		fprintf(f, "%s %s (priority %d) at %s", i ? "," : "", ev[i].id, ev[i].priority, tm);
	}
	fprintf(f, "\n");
}

static void print_summary(const struct out *o, const struct thermal_scenario *sc,
                          const struct thermal_sim_result *r)
{
	char t1[32], t2[32], t3[32];

	if (o->jsonl) {
		json_t *j = thermal_sim_result_json(r);
		char *line;

		json_object_set_new(j, "type", json_string("summary"));
		json_object_set_new(j, "scenario", json_string(sc->name));
		json_object_set_new(j, "duration_s", json_real(sc->duration_s));
		line = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6));
		fprintf(o->f, "%s\n", line);
		free(line);
		json_decref(j);
		return;
	}
	hhmm(r->first_warning_t, t1, sizeof(t1));
	hhmm(r->first_cap_t, t2, sizeof(t2));
	hhmm(r->first_critical_t, t3, sizeof(t3));
	fprintf(o->f, "# summary of %s (%.1f h, %s)\n", sc->name, sc->duration_s / 3600,
	        sc->policy == THERMAL_POLICY_THERMOSTAT ? "thermostat" : "controller");
	fprintf(o->f, "# coolant: min %.2f C, max %.2f C\n", r->coolant_min_c, r->coolant_max_c);
	fprintf(o->f,
	        "# time above the band %.0f s, below it %.0f s, above warning %.0f s, "
	        "at/above critical %.0f s\n",
	        r->above_band_s, r->below_band_s, r->above_warning_s, r->above_critical_s);
	fprintf(o->f,
	        "# energy: fans %.1f Wh, heater %.1f Wh (fans+heater %.1f Wh), server %.1f Wh\n",
	        r->fan_wh, r->heater_wh, r->fan_wh + r->heater_wh, r->server_wh);
	fprintf(o->f, "# switching: heater %d, fans on/off %d, fan stage changes %d\n",
	        r->heater_switches, r->fan_switches, r->fan_stage_changes);
	fprintf(o->f,
	        "# warning first at %s, CPU cap first at %s (lowest %d%%), critical first at %s\n",
	        r->first_warning_t < 0 ? "never" : t1, r->first_cap_t < 0 ? "never" : t2,
	        r->cap_min_pct, r->first_critical_t < 0 ? "never" : t3);
	print_vm_events(o->f, "VMs shut down", r->shutdowns, r->nshutdowns);
	print_vm_events(o->f, "VMs started", r->starts, r->nstarts);
	fprintf(o->f, "# VMs running at the end: %d\n", r->vms_running_end);
	fprintf(o->f, "# alarms raised: %s\n", r->alarms_seen[0] ? r->alarms_seen : "none");
	fprintf(o->f,
	        "# worst state %s, fans failed at most %d, without the coolant sensor %.0f s, "
	        "%zu log entries\n",
	        thermal_state_name(r->worst_state), r->max_fans_failed, r->fallback_s, r->nlogs);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: kumo-agent thermal-sim SCENARIO [OPTIONS]\n"
	           "       kumo-agent thermal-sim --list\n"
	           "Runs the immersion box model and its controller in simulated time.\n"
	           "  --ambient C          constant ambient temperature (replaces the profile's)\n"
	           "  --solar X            constant solar gain 0..1\n"
	           "  --load X             constant VM CPU demand 0..1\n"
	           "  --duration T         simulated time: 3600, 90m, 12h\n"
	           "  --coolant C          coolant temperature at the start\n"
	           "  --vm ID:PRIO:SHARE   a VM (repeat; the first replaces the scenario's VMs)\n"
	           "  --fan-stuck N@T[:P]  fan N (1..) stuck at P%% (0: failed) from time T\n"
	           "  --fan-free N@T       fan N works again at T\n"
	           "  --heater-fail T      --heater-fix T\n"
	           "  --sensor-stuck S@T   --sensor-missing S@T   --sensor-fix S@T\n"
	           "                       S: coolant, pkg, ambient\n"
	           "  --set KEY=VALUE      a box constant (both model and controller) or a\n"
	           "                       model or controller setting (docs/THERMAL.md)\n"
	           "  --model-set K=V      the model only (the real box differs from the belief)\n"
	           "  --ctl-set K=V        the controller only\n"
	           "  --thermostat         a plain on/off thermostat instead of the controller\n"
	           "  --every T            sample every T of simulated time (600; 0: none)\n"
	           "  --format csv|jsonl   output format (csv)\n"
	           "  --no-log             leave out the controller's log entries\n");
}

static int parse_time(const char *s, double *ret)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !isfinite(v) || v < 0)
		return -EINVAL;
	if (!strcmp(end, "h"))
		v *= 3600;
	else if (!strcmp(end, "m"))
		v *= 60;
	else if (*end && strcmp(end, "s"))
		return -EINVAL;
	*ret = v;
	return 0;
}

static int parse_num(const char *s, double lo, double hi, double *ret)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi)
		return -EINVAL;
	*ret = v;
	return 0;
}

static int sensor_index(const char *s, size_t len)
{
	static const char *const names[THERMAL_SENSOR_COUNT] = { "coolant", "pkg", "ambient" };

	for (int i = 0; i < THERMAL_SENSOR_COUNT; i++)
		if (strlen(names[i]) == len && !strncmp(s, names[i], len))
			return i;
	return -1;
}

/* Copies the n bytes at s into buf (len bytes) as a string: 0, or -EINVAL
 * when they do not fit. */
static int copy_part(char *buf, size_t len, const char *s, size_t n)
{
	if (n >= len)
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = 0;
	return 0;
}

/* "WHAT@T[:VALUE]" for a fault; WHAT is a fan number (1..) or a sensor. */
static int parse_fault(struct thermal_scenario *sc, enum thermal_event_kind kind, const char *arg)
{
	struct thermal_event ev = { .kind = kind };
	const char *at = strchr(arg, '@');
	char buf[64], *colon;
	double v;

	if (sc->nevents >= THERMAL_EVENTS_MAX)
		return -E2BIG;
	if (kind == THERMAL_EV_HEATER_FAIL || kind == THERMAL_EV_HEATER_FIX) {
		if (parse_time(arg, &ev.t) < 0)
			return -EINVAL;
		sc->events[sc->nevents++] = ev;
		return 0;
	}
	if (!at || strlen(at + 1) >= sizeof(buf))
		return -EINVAL;
	if (kind >= THERMAL_EV_SENSOR_STUCK) {
		ev.index = sensor_index(arg, (size_t)(at - arg));
	} else {
		if (copy_part(buf, sizeof(buf), arg, (size_t)(at - arg)) < 0 ||
		    parse_num(buf, 1, THERMAL_FANS_MAX, &v) < 0 || v != floor(v))
			return -EINVAL;
		ev.index = (int)v - 1;
	}
	if (ev.index < 0)
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", at + 1);
	if ((colon = strchr(buf, ':'))) {
		*colon = 0;
		if (kind != THERMAL_EV_FAN_STUCK || parse_num(colon + 1, 0, 100, &ev.value) < 0)
			return -EINVAL;
	}
	if (parse_time(buf, &ev.t) < 0)
		return -EINVAL;
	sc->events[sc->nevents++] = ev;
	return 0;
}

/* "ID:PRIORITY:SHARE". */
static int parse_vm(struct thermal_scenario *sc, bool *replaced, const char *arg)
{
	struct thermal_sim_vm v = { 0 };
	const char *c1 = strchr(arg, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	char buf[32];
	double prio;

	if (!c1 || !c2 || c1 == arg || (size_t)(c1 - arg) >= sizeof(v.id))
		return -EINVAL;
	memcpy(v.id, arg, (size_t)(c1 - arg));
	if (copy_part(buf, sizeof(buf), c1 + 1, (size_t)(c2 - c1 - 1)) < 0 ||
	    parse_num(buf, -1e6, 1e6, &prio) < 0 || prio != floor(prio) ||
	    parse_num(c2 + 1, 0, 1, &v.share) < 0)
		return -EINVAL;
	v.priority = (int)prio;
	if (!*replaced) {
		sc->nvms = 0;
		*replaced = true;
	}
	if (sc->nvms >= THERMAL_SIM_VMS_MAX)
		return -E2BIG;
	sc->vms[sc->nvms++] = v;
	return 0;
}

/* A constant input replaces that input in every profile point. */
static void profile_set(struct thermal_scenario *sc, int which, double v)
{
	if (sc->npoints == 0) {
		sc->points[0] = (struct thermal_point){ 0, 20, 0, 0 };
		sc->npoints = 1;
	}
	for (size_t i = 0; i < sc->npoints; i++) {
		if (which == 0)
			sc->points[i].ambient_c = v;
		else if (which == 1)
			sc->points[i].solar = v;
		else
			sc->points[i].load = v;
	}
}

enum sim_target {
	SET_BOTH,
	SET_MODEL,
	SET_CTL,
};

static int set_key(struct thermal_model_config *mc, struct thermal_ctl_config *cc,
                   enum sim_target target, const char *arg, struct kerr *e)
{
	const char *eq = strchr(arg, '=');
	char key[64];
	int r = -ENOENT;

	if (!eq || (size_t)(eq - arg) >= sizeof(key))
		return kerr_set(e, -EINVAL, "set", "\"%s\" is not KEY=VALUE", arg);
	snprintf(key, sizeof(key), "%.*s", (int)(eq - arg), arg);
	if (target == SET_BOTH) {
		r = thermal_box_set(&mc->box, key, eq + 1, e);
		if (r == 0)
			return thermal_box_set(&cc->box, key, eq + 1, e);
	}
	if (r == -ENOENT && target != SET_CTL)
		r = thermal_model_config_set(mc, key, eq + 1, e);
	if (r == -ENOENT && target != SET_MODEL)
		r = thermal_ctl_config_set(cc, key, eq + 1, e);
	if (r == -ENOENT)
		return kerr_set(e, -EINVAL, key, "unknown setting %s", key);
	return r;
}

static void list_scenarios(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(scenarios); i++)
		printf("%-15s %s\n", scenarios[i].name, scenarios[i].description);
}

enum {
	OPT_AMBIENT = 1000,
	OPT_SOLAR,
	OPT_LOAD,
	OPT_DURATION,
	OPT_COOLANT,
	OPT_VM,
	OPT_FAN_STUCK,
	OPT_FAN_FREE,
	OPT_HEATER_FAIL,
	OPT_HEATER_FIX,
	OPT_SENSOR_STUCK,
	OPT_SENSOR_MISSING,
	OPT_SENSOR_FIX,
	OPT_SET,
	OPT_MODEL_SET,
	OPT_CTL_SET,
	OPT_THERMOSTAT,
	OPT_EVERY,
	OPT_FORMAT,
	OPT_NO_LOG,
	OPT_LIST,
};

static const struct option sim_opts[] = {
	{ "ambient", required_argument, NULL, OPT_AMBIENT },
	{ "solar", required_argument, NULL, OPT_SOLAR },
	{ "load", required_argument, NULL, OPT_LOAD },
	{ "duration", required_argument, NULL, OPT_DURATION },
	{ "coolant", required_argument, NULL, OPT_COOLANT },
	{ "vm", required_argument, NULL, OPT_VM },
	{ "fan-stuck", required_argument, NULL, OPT_FAN_STUCK },
	{ "fan-free", required_argument, NULL, OPT_FAN_FREE },
	{ "heater-fail", required_argument, NULL, OPT_HEATER_FAIL },
	{ "heater-fix", required_argument, NULL, OPT_HEATER_FIX },
	{ "sensor-stuck", required_argument, NULL, OPT_SENSOR_STUCK },
	{ "sensor-missing", required_argument, NULL, OPT_SENSOR_MISSING },
	{ "sensor-fix", required_argument, NULL, OPT_SENSOR_FIX },
	{ "set", required_argument, NULL, OPT_SET },
	{ "model-set", required_argument, NULL, OPT_MODEL_SET },
	{ "ctl-set", required_argument, NULL, OPT_CTL_SET },
	{ "thermostat", no_argument, NULL, OPT_THERMOSTAT },
	{ "every", required_argument, NULL, OPT_EVERY },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "no-log", no_argument, NULL, OPT_NO_LOG },
	{ "list", no_argument, NULL, OPT_LIST },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct sim_args {
	struct thermal_scenario sc;
	struct thermal_model_config mc;
	struct thermal_ctl_config cc;
	struct out o;
	double every;
	bool vms_replaced;
	bool list;
	bool help;
};

static const enum thermal_event_kind fault_kind[] = {
	[OPT_FAN_STUCK - OPT_FAN_STUCK] = THERMAL_EV_FAN_STUCK,
	[OPT_FAN_FREE - OPT_FAN_STUCK] = THERMAL_EV_FAN_FREE,
	[OPT_HEATER_FAIL - OPT_FAN_STUCK] = THERMAL_EV_HEATER_FAIL,
	[OPT_HEATER_FIX - OPT_FAN_STUCK] = THERMAL_EV_HEATER_FIX,
	[OPT_SENSOR_STUCK - OPT_FAN_STUCK] = THERMAL_EV_SENSOR_STUCK,
	[OPT_SENSOR_MISSING - OPT_FAN_STUCK] = THERMAL_EV_SENSOR_MISSING,
	[OPT_SENSOR_FIX - OPT_FAN_STUCK] = THERMAL_EV_SENSOR_FIX,
};

/* One option: 0, or -EINVAL with e. */
static int sim_option(struct sim_args *s, int opt, const char *arg, struct kerr *e)
{
	double v;

	switch (opt) {
	case OPT_AMBIENT:
	case OPT_SOLAR:
	case OPT_LOAD:
		if (parse_num(arg, opt == OPT_AMBIENT ? -60 : 0, opt == OPT_AMBIENT ? 80 : 1, &v) <
		    0)
			return kerr_set(e, -EINVAL, "input", "bad value \"%s\"", arg);
		profile_set(&s->sc, opt - OPT_AMBIENT, v);
		return 0;
	case OPT_DURATION:
		if (parse_time(arg, &s->sc.duration_s) < 0)
			return kerr_set(e, -EINVAL, "duration", "bad duration \"%s\"", arg);
		return 0;
	case OPT_COOLANT:
		if (parse_num(arg, -60, 120, &s->sc.coolant0_c) < 0)
			return kerr_set(e, -EINVAL, "coolant", "bad temperature \"%s\"", arg);
		return 0;
	case OPT_VM:
		if (parse_vm(&s->sc, &s->vms_replaced, arg) < 0)
			return kerr_set(e, -EINVAL, "vm", "bad VM \"%s\" (ID:PRIORITY:SHARE)", arg);
		return 0;
	case OPT_FAN_STUCK:
	case OPT_FAN_FREE:
	case OPT_HEATER_FAIL:
	case OPT_HEATER_FIX:
	case OPT_SENSOR_STUCK:
	case OPT_SENSOR_MISSING:
	case OPT_SENSOR_FIX:
		if (parse_fault(&s->sc, fault_kind[opt - OPT_FAN_STUCK], arg) < 0)
			return kerr_set(e, -EINVAL, "fault", "bad fault \"%s\"", arg);
		return 0;
	case OPT_SET:
	case OPT_MODEL_SET:
	case OPT_CTL_SET:
		return set_key(&s->mc, &s->cc, (enum sim_target)(opt - OPT_SET), arg, e);
	case OPT_THERMOSTAT:
		s->sc.policy = THERMAL_POLICY_THERMOSTAT;
		return 0;
	case OPT_EVERY:
		if (parse_time(arg, &s->every) < 0)
			return kerr_set(e, -EINVAL, "every", "bad interval \"%s\"", arg);
		return 0;
	case OPT_FORMAT:
		if (strcmp(arg, "csv") && strcmp(arg, "jsonl"))
			return kerr_set(e, -EINVAL, "format", "format is csv or jsonl");
		s->o.jsonl = !strcmp(arg, "jsonl");
		return 0;
	case OPT_NO_LOG:
		s->o.logs = false;
		return 0;
	case OPT_LIST:
		s->list = true;
		return 0;
	}
	return kerr_set(e, -EINVAL, "option", "unknown option");
}

/* Options may come before or after the scenario name, so they are read
 * twice: first for the name, then on top of the scenario. */
static int sim_parse(int argc, char **argv, struct sim_args *s, struct kerr *e)
{
	const char *name = NULL;
	int c, r;

	opterr = 0;
	optind = 0; /* glibc: 0 also resets its state (the "+" of an earlier scan) */
	while (optind < argc) {
		if (getopt_long(argc, argv, "+h", sim_opts, NULL) != -1)
			continue;
		if (optind >= argc)
			break;
		if (name)
			return kerr_set(e, -EINVAL, "scenario", "one scenario at a time");
		name = argv[optind++];
	}
	if (name && thermal_scenario_get(name, &s->sc) < 0)
		return kerr_set(e, -ENOENT, "scenario", "no scenario named %s (--list)", name);
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", sim_opts, NULL)) != -1) {
		if (c == 'h') {
			s->help = true;
			return 0;
		}
		if (c == '?' || c == ':')
			return kerr_set(e, -EINVAL, "option", "bad option %s", argv[optind - 1]);
		if ((r = sim_option(s, c, optarg, e)) < 0)
			return r;
	}
	if (!name && !s->list && !s->help)
		return kerr_set(e, -EINVAL, "scenario", "which scenario? (--list)");
	return 0;
}

int thermal_sim_main(int argc, char **argv)
{
	struct sim_args *s = xcalloc(1, sizeof(*s));
	struct thermal_sim_result *res = xcalloc(1, sizeof(*res));
	struct thermal_sim_hooks hooks;
	struct kerr e = { 0 };
	int ret = 2;

	thermal_model_config_defaults(&s->mc);
	thermal_ctl_config_defaults(&s->cc);
	s->o = (struct out){ .f = stdout, .logs = true };
	s->every = 600;
	if (sim_parse(argc, argv, s, &e) < 0) {
		fprintf(stderr, "thermal-sim: %s\n", e.message);
		fprintf(stderr,
		        "usage: kumo-agent thermal-sim SCENARIO [OPTIONS] (--help, --list)\n");
		goto out;
	}
	if (s->help) {
		usage(stdout);
		ret = 0;
		goto out;
	}
	if (s->list) {
		list_scenarios();
		ret = 0;
		goto out;
	}
	s->o.fans = s->mc.box.fans;
	s->o.rpm_max = s->mc.box.fan_rpm_max;
	hooks = (struct thermal_sim_hooks){ s->every, print_sample, print_log, &s->o };
	if (!s->o.jsonl && s->every > 0)
		csv_header(&s->o);
	if (thermal_sim_run(&s->sc, &s->mc, &s->cc, &hooks, res, &e) < 0) {
		fprintf(stderr, "thermal-sim: %s\n", e.message);
		goto out;
	}
	print_summary(&s->o, &s->sc, res);
	ret = 0;
out:
	free(res);
	free(s);
	return ret;
}
