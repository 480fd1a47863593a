// SPDX-License-Identifier: MIT
/*
 * The thermal controller at work in the agent (thermal_rt.h).
 *
 * Threads: the control thread (ticks every tick_ms: measures the VMs, steps
 * model and controller once per simulated second, applies fans, heater and
 * CPU caps at once) and the action thread (shuts VMs down and starts them,
 * one at a time, through the host's local actions, which can take as long
 * as a guest's shutdown). t->lock guards the model, the controller and the
 * queue; nothing slow runs under it, and the node log (whose listeners
 * send events) is written after it is let go. t->save_lock orders the
 * changes of set points (thermal_rt_set()): each writes the set point
 * file (thermal_setpoints.c) before the controller sees it.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/cpucap.h"
#include "agent/thermal_rt.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"

#define STEPS_PER_TICK_MAX 7200 /* simulated seconds one tick integrates step by step */
#define QUEUE_MAX 16
#define ACTION_WAIT_MS 30000 /* for a command already running on the VM */

struct vm_meas {
	char id[THERMAL_ID_MAX];
	int pid;
	int64_t usec; /* CPU time at the last tick */
	double use;   /* fraction of the node's CPU over the last tick */
};

struct action {
	char id[THERMAL_ID_MAX];
	char type[16]; /* vm.stop, vm.start */
	bool force;
};

struct thermal_rt {
	struct agent_host *h; /* weak */
	struct nodelog *log;  /* weak */
	struct cpucap *cap;   /* owned */
	pthread_t thread, worker;
	bool thread_started, worker_started;

	char *setpoints_path;                /* owned; NULL: set points are not kept */
	pthread_mutex_t save_lock;           /* one set point change (and its file) at a time */
	struct thermal_ctl_config config_cc; /* the config's values, under the set points */

	pthread_mutex_t lock;
	pthread_cond_t cond; /* stop, or work for the action thread */
	bool stop;
	struct thermal_model m;
	struct thermal_ctl c;
	struct thermal_actions last;
	struct thermal_scenario sc;
	bool have_sc;
	size_t next_event;
	double time_scale;
	int tick_ms;
	double ambient_c, solar, load;         /* load < 0: measured */
	bool ambient_set, solar_set, load_set; /* injected: win over the scenario */
	double sim_t;
	int64_t last_ms;
	double fan_wh, heater_wh;
	int64_t wall_ms; /* wall clock of the last tick */
	int ncpus;
	struct vm_meas meas[THERMAL_VMS_MAX];
	size_t nmeas;
	int applied_cap;
	struct action queue[QUEUE_MAX];
	size_t nqueue;
};

/* ---- config -------------------------------------------------------------- */

struct cfg_walk {
	struct thermal_rt *t;
	struct kerr *e;
	int r;
};

static int set_num(const struct config *cfg, const char *key, double min, double max, double *v,
                   struct kerr *e)
{
	const char *s = config_str(cfg, "thermal", key, NULL);
	char *end;
	double d;

	if (!s)
		return 0;
	errno = 0;
	d = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(d) || d < min || d > max)
		return kerr_set(e, -EINVAL, key, "[thermal] %s: \"%s\" is not a number in %g..%g",
		                key, s, min, max);
	*v = d;
	return 1;
}

static const char *const plain_keys[] = { "enabled",   "time_scale", "tick_ms", "scenario",
	                                  "ambient_c", "solar",      "load",    "coolant0_c" };

/* Every key of [thermal]: the plain ones are known, model.* and ctl.* go to
 * the model's and the controller's configs. */
static int cfg_key(void *cls, const char *key, const char *value)
{
	struct cfg_walk *w = cls;

	if (str_startswith(key, "model."))
		w->r = thermal_model_config_set(&w->t->m.cfg, key + 6, value, w->e);
	else if (str_startswith(key, "ctl."))
		w->r = thermal_ctl_config_set(&w->t->c.cfg, key + 4, value, w->e);
	else
		for (size_t i = 0; i < ARRAY_SIZE(plain_keys); i++)
			if (!strcmp(plain_keys[i], key))
				return 0;
	if (w->r == 0 && !str_startswith(key, "model.") && !str_startswith(key, "ctl."))
		w->r = -ENOENT;
	if (w->r == -ENOENT)
		w->r = kerr_set(w->e, -EINVAL, key, "[thermal] %s: unknown key", key);
	return w->r < 0;
}

/* The operator's set points over the config's values (cc). A file that
 * does not fit them is logged and left alone: the config's values apply
 * until the next change of a set point writes it anew. */
static void load_setpoints(struct thermal_rt *t, struct thermal_ctl_config *cc)
{
	struct kerr e;
	json_t *diff;
	char *s;
	int r;

	if (!t->setpoints_path)
		return;
	kerr_clear(&e);
	r = thermal_setpoints_load(t->setpoints_path, cc, &e);
	if (r == -ENOENT)
		return;
	if (r < 0) {
		log_warn("thermal: %s ignored, the config's set points apply: %s",
		         t->setpoints_path, e.message);
		return;
	}
	diff = thermal_setpoints_diff(cc, &t->config_cc);
	s = jdump(diff);
	log_info("thermal: set points from %s over the config's: %s", t->setpoints_path, s);
	free(s);
	json_decref(diff);
}

static int read_config(struct thermal_rt *t, const struct config *cfg, struct kerr *e)
{
	struct thermal_model_config mc;
	struct thermal_ctl_config cc;
	struct cfg_walk w = { t, e, 0 };
	double coolant0 = 25, tick = 1000;
	const char *sc = config_str(cfg, "thermal", "scenario", NULL);
	const char *load = config_str(cfg, "thermal", "load", NULL);
	int r;

	thermal_model_config_defaults(&t->m.cfg);
	thermal_ctl_config_defaults(&t->c.cfg);
	config_each_key(cfg, "thermal", cfg_key, &w);
	if (w.r < 0)
		return w.r;
	t->time_scale = 1;
	t->ambient_c = 20;
	t->solar = 0;
	t->load = -1;
	if ((r = set_num(cfg, "time_scale", 0.001, 100000, &t->time_scale, e)) < 0 ||
	    (r = set_num(cfg, "tick_ms", 10, 60000, &tick, e)) < 0 ||
	    (r = set_num(cfg, "ambient_c", -60, 80, &t->ambient_c, e)) < 0 ||
	    (r = set_num(cfg, "solar", 0, 1, &t->solar, e)) < 0 ||
	    (r = set_num(cfg, "coolant0_c", -60, 100, &coolant0, e)) < 0)
		return r;
	t->tick_ms = (int)tick;
	if (load && strcmp(load, "auto") != 0) {
		if ((r = set_num(cfg, "load", 0, 1, &t->load, e)) < 0)
			return r;
		t->load_set = true;
	}
	if (sc && strcmp(sc, "none") != 0) {
		if (thermal_scenario_get(sc, &t->sc) < 0)
			return kerr_set(e, -EINVAL, "scenario",
			                "[thermal] scenario: no scenario named \"%s\" "
			                "(kumo-agent thermal-sim --list)",
			                sc);
		t->have_sc = true;
		if (!config_str(cfg, "thermal", "coolant0_c", NULL))
			coolant0 = t->sc.coolant0_c;
	}
	mc = t->m.cfg;
	cc = t->c.cfg;
	if ((r = thermal_model_config_check(&mc, e)) < 0 ||
	    (r = thermal_ctl_config_check(&cc, e)) < 0)
		return r;
	t->config_cc = cc;
	load_setpoints(t, &cc);
	thermal_model_init(&t->m, &mc, coolant0, t->ambient_c);
	thermal_ctl_init(&t->c, &cc);
	return 0;
}

/* ---- inputs ---------------------------------------------------------------- */

/* The scenario's inputs at time s (linear between points). */
static void scenario_at(const struct thermal_scenario *sc, double s, double *amb, double *sol,
                        double *load)
{
	const struct thermal_point *p = sc->points;
	size_t n = sc->npoints, i;

	if (!n)
		return;
	if (s <= p[0].t || n == 1) {
		*amb = p[0].ambient_c, *sol = p[0].solar, *load = p[0].load;
		return;
	}
	for (i = 1; i < n && p[i].t < s; i++)
		;
	if (i == n) {
		*amb = p[n - 1].ambient_c, *sol = p[n - 1].solar, *load = p[n - 1].load;
		return;
	}
	{
		double f = (s - p[i - 1].t) / (p[i].t - p[i - 1].t);

		*amb = p[i - 1].ambient_c + f * (p[i].ambient_c - p[i - 1].ambient_c);
		*sol = p[i - 1].solar + f * (p[i].solar - p[i - 1].solar);
		*load = p[i - 1].load + f * (p[i].load - p[i - 1].load);
	}
}

static void apply_event(struct thermal_model *m, const struct thermal_event *ev)
{
	switch (ev->kind) {
	case THERMAL_EV_FAN_STUCK:
		thermal_model_fan_fault(m, ev->index, true, ev->value);
		break;
	case THERMAL_EV_FAN_FREE:
		thermal_model_fan_fault(m, ev->index, false, 0);
		break;
	case THERMAL_EV_HEATER_FAIL:
		thermal_model_heater_fault(m, true);
		break;
	case THERMAL_EV_HEATER_FIX:
		thermal_model_heater_fault(m, false);
		break;
	case THERMAL_EV_SENSOR_STUCK:
		thermal_model_sensor_fault(m, ev->index, THERMAL_SENSOR_STUCK);
		break;
	case THERMAL_EV_SENSOR_MISSING:
		thermal_model_sensor_fault(m, ev->index, THERMAL_SENSOR_MISSING);
		break;
	case THERMAL_EV_SENSOR_FIX:
		thermal_model_sensor_fault(m, ev->index, THERMAL_SENSOR_OK);
		break;
	}
}

/* The host's VMs as the controller sees them, with their measured CPU use
 * (fraction of the node) since the last tick. */
static size_t measure_vms(struct thermal_rt *t, json_t *list, double dt_ms, struct thermal_vm *out,
                          int *pids, int *vcpus)
{
	struct vm_meas next[THERMAL_VMS_MAX];
	size_t n = 0, i;
	json_t *v;

	json_array_foreach(list, i, v)
	{
		const char *id = jstr(v, "id"), *state = jstr(v, "state");
		int pid = (int)jint(v, "pid", 0);
		struct thermal_vm *tv;
		struct vm_meas *mm;

		if (n == THERMAL_VMS_MAX || !id || strlen(id) >= THERMAL_ID_MAX)
			continue;
		tv = &out[n];
		mm = &next[n];
		memset(tv, 0, sizeof(*tv));
		memset(mm, 0, sizeof(*mm));
		snprintf(tv->id, sizeof(tv->id), "%s", id);
		snprintf(mm->id, sizeof(mm->id), "%s", id);
		tv->priority = (int)jint(v, "priority", 0);
		tv->running = state && (!strcmp(state, "running") || !strcmp(state, "paused") ||
		                        !strcmp(state, "starting") || !strcmp(state, "stopping"));
		vcpus[n] = (int)jint(v, "vcpus", 1);
		tv->share = (double)vcpus[n] / t->ncpus;
		if (tv->share > 1)
			tv->share = 1;
		pids[n] = tv->running ? pid : 0;
		mm->pid = pids[n];
		if (mm->pid > 0) {
			mm->usec = cpucap_cpu_usec(mm->pid);
			for (size_t k = 0; k < t->nmeas; k++)
				if (!strcmp(t->meas[k].id, id) && t->meas[k].pid == mm->pid &&
				    t->meas[k].usec >= 0 && mm->usec >= t->meas[k].usec &&
				    dt_ms > 0)
					mm->use = (double)(mm->usec - t->meas[k].usec) / 1000.0 /
					          dt_ms / t->ncpus;
		}
		tv->cpu = mm->use > 1 ? 1 : mm->use;
		n++;
	}
	/* VMs that left: their cap groups go */
	for (size_t k = 0; k < t->nmeas; k++) {
		bool still = false;

		for (i = 0; i < n; i++)
			still |= !strcmp(next[i].id, t->meas[k].id) && next[i].pid > 0;
		if (!still)
			cpucap_forget(t->cap, t->meas[k].id);
	}
	memcpy(t->meas, next, n * sizeof(next[0]));
	t->nmeas = n;
	return n;
}

/* The node's CPU use for the model: measured (caps already in it where
 * cgroups apply them; counted here where they cannot), or every running
 * VM at the configured demand under the cap. */
static double model_cpu_use(const struct thermal_rt *t, const struct thermal_vm *vms, size_t n,
                            double load, int cap)
{
	double use = 0;

	for (size_t i = 0; i < n; i++) {
		if (!vms[i].running)
			continue;
		if (load >= 0)
			use += thermal_vm_use(load, vms[i].share, cap);
		else if (cpucap_mode(t->cap, NULL) == CPUCAP_NONE && vms[i].share > 0)
			use += thermal_vm_use(vms[i].cpu / vms[i].share, vms[i].share, cap);
		else
			use += vms[i].cpu;
	}
	return use > 1 ? 1 : use;
}

/* ---- the control thread ---------------------------------------------------- */

static void queue_action(struct thermal_rt *t, const char *id, const char *type, bool force)
{
	for (size_t i = 0; i < t->nqueue; i++)
		if (!strcmp(t->queue[i].id, id)) { /* the newest wish wins */
			snprintf(t->queue[i].type, sizeof(t->queue[i].type), "%s", type);
			t->queue[i].force = force;
			return;
		}
	if (t->nqueue == QUEUE_MAX)
		return;
	snprintf(t->queue[t->nqueue].id, THERMAL_ID_MAX, "%s", id);
	snprintf(t->queue[t->nqueue].type, sizeof(t->queue[0].type), "%s", type);
	t->queue[t->nqueue].force = force;
	t->nqueue++;
	pthread_cond_broadcast(&t->cond);
}

/* One tick. Log entries of its steps go to logs (at most max). */
static size_t tick(struct thermal_rt *t, struct thermal_log *logs, size_t max)
{
	struct thermal_vm vms[THERMAL_VMS_MAX];
	int pids[THERMAL_VMS_MAX], vcpus[THERMAL_VMS_MAX];
	json_t *list = agent_host_vms(t->h);
	int64_t now = mono_ms();
	double dt_ms, sim_dt;
	size_t nvms, nlogs = 0, steps;
	int cap;

	pthread_mutex_lock(&t->lock);
	dt_ms = (double)(now - t->last_ms);
	t->last_ms = now;
	nvms = measure_vms(t, list, dt_ms, vms, pids, vcpus);
	sim_dt = dt_ms / 1000.0 * t->time_scale;
	steps = (size_t)floor(sim_dt);
	if (steps > STEPS_PER_TICK_MAX)
		steps = STEPS_PER_TICK_MAX;
	for (size_t s = 0; s < steps || (s == 0 && sim_dt > 0 && sim_dt < 1); s++) {
		double step = steps ? 1.0 : sim_dt, amb = t->ambient_c, sol = t->solar,
		       load = t->load;
		struct thermal_readings r;
		struct thermal_actions a;

		if (s + 1 == steps)
			step = sim_dt - (double)(steps - 1); /* the rest, and any excess */
		if (t->have_sc) {
			scenario_at(&t->sc, t->sim_t, &amb, &sol, &load);
			while (t->next_event < t->sc.nevents &&
			       t->sc.events[t->next_event].t <= t->sim_t)
				apply_event(&t->m, &t->sc.events[t->next_event++]);
		}
		if (t->ambient_set)
			amb = t->ambient_c;
		if (t->solar_set)
			sol = t->solar;
		if (t->load_set || !t->have_sc)
			load = t->load;
		t->m.ambient_c = amb;
		t->m.solar = sol;
		t->m.cpu_use = model_cpu_use(t, vms, nvms, load, t->last.cpu_cap_pct ?: 100);
		thermal_model_step(&t->m, step);
		t->sim_t += step;
		t->fan_wh += thermal_model_fans_w(&t->m) * step / 3600.0;
		t->heater_wh += thermal_model_heater_w(&t->m) * step / 3600.0;
		thermal_model_read(&t->m, &r);
		r.t = t->sim_t;
		thermal_ctl_step(&t->c, &r, vms, nvms, &a);
		thermal_model_command(&t->m, a.fan_pct, a.fans, a.heater_on);
		for (size_t i = 0; i < a.nlogs && nlogs < max; i++)
			logs[nlogs++] = a.logs[i];
		if (a.shutdown_vm[0]) {
			queue_action(t, a.shutdown_vm, "vm.stop", a.shutdown_force);
			for (size_t i = 0; i < nvms; i++) /* it is on its way down */
				if (!strcmp(vms[i].id, a.shutdown_vm) && a.shutdown_force)
					vms[i].running = false;
		}
		if (a.start_vm[0])
			queue_action(t, a.start_vm, "vm.start", false);
		t->last = a;
		if (!steps)
			break;
	}
	t->wall_ms = now_ms();
	cap = t->last.cpu_cap_pct ? t->last.cpu_cap_pct : 100;
	pthread_mutex_unlock(&t->lock);

	/* CPU caps on the processes: every tick, so new VMs get them too */
	if (cpucap_mode(t->cap, NULL) != CPUCAP_NONE)
		for (size_t i = 0; i < nvms; i++)
			if (pids[i] > 0 && (cap < 100 || t->applied_cap < 100))
				cpucap_set(t->cap, vms[i].id, pids[i], vcpus[i], cap);
	t->applied_cap = cap;
	json_decref(list);
	return nlogs;
}

static void log_entries(struct thermal_rt *t, const struct thermal_log *logs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		json_t *args = json_array();

		for (int k = 0; k < logs[i].nargs; k++)
			json_array_append_new(args, json_string(logs[i].args[k]));
		nodelog_add(t->log, thermal_severity_name(logs[i].severity),
		            logs[i].message_id[0] ? logs[i].message_id : NULL, args, "%s",
		            logs[i].message);
		if (logs[i].severity != THERMAL_OK)
			log_warn("thermal: %s", logs[i].message);
		else
			log_info("thermal: %s", logs[i].message);
	}
}

static void *control_main(void *arg)
{
	struct thermal_rt *t = arg;
	struct thermal_log logs[64];

	pthread_mutex_lock(&t->lock);
	t->last_ms = mono_ms();
	while (!t->stop) {
		struct timespec ts;
		size_t n;

		deadline_mono(&ts, t->tick_ms);
		pthread_cond_timedwait(&t->cond, &t->lock, &ts);
		if (t->stop)
			break;
		pthread_mutex_unlock(&t->lock);
		n = tick(t, logs, ARRAY_SIZE(logs));
		log_entries(t, logs, n);
		pthread_mutex_lock(&t->lock);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

/* Shuts VMs down and starts them, one at a time. */
static void *action_main(void *arg)
{
	struct thermal_rt *t = arg;

	pthread_mutex_lock(&t->lock);
	while (!t->stop) {
		struct action a;
		struct driver_err e = { NULL, "" };
		int r;

		if (!t->nqueue) {
			pthread_cond_wait(&t->cond, &t->lock);
			continue;
		}
		a = t->queue[0];
		memmove(t->queue, t->queue + 1, --t->nqueue * sizeof(t->queue[0]));
		pthread_mutex_unlock(&t->lock);
		r = agent_host_vm_action(t->h, a.id, a.type, a.force, ACTION_WAIT_MS,
		                         "thermal controller", &e);
		if (r < 0)
			nodelog_add(t->log, "Warning", NULL, json_pack("[s]", a.id),
			            "thermal: %s of VM %s failed: %s", a.type, a.id, e.message);
		pthread_mutex_lock(&t->lock);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

/* ---- API ------------------------------------------------------------------- */

int thermal_rt_start(const struct config *cfg, bool default_on, struct agent_host *h,
                     const char *setpoints_path, struct nodelog *log, struct thermal_rt **ret,
                     struct kerr *e)
{
	struct thermal_rt *t;
	char tag[64];
	long n;
	int r;

	*ret = NULL;
	if (!config_bool(cfg, "thermal", "enabled", default_on))
		return 0;
	t = xcalloc(1, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	pthread_mutex_init(&t->save_lock, NULL);
	t->setpoints_path = setpoints_path ? xstrdup(setpoints_path) : NULL;
	{ /* waited on with deadline_mono(): the monotonic clock */
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&t->cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	t->h = h;
	t->log = log;
	t->applied_cap = 100;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	t->ncpus = n > 0 ? (int)n : 1;
	r = read_config(t, cfg, e);
	if (r < 0) {
		thermal_rt_stop(t);
		return r;
	}
	snprintf(tag, sizeof(tag), "%.48s", agent_host_name(h));
	for (char *p = tag; *p; p++)
		if (*p == '/' || *p == '.')
			*p = '-';
	t->cap = cpucap_new("/sys/fs/cgroup", tag);
	if ((r = -pthread_create(&t->thread, NULL, control_main, t)) < 0) {
		kerr_set(e, r, "", "cannot start the thermal thread");
		thermal_rt_stop(t);
		return r;
	}
	t->thread_started = true;
	if ((r = -pthread_create(&t->worker, NULL, action_main, t)) < 0) {
		kerr_set(e, r, "", "cannot start the thermal thread");
		thermal_rt_stop(t);
		return r;
	}
	t->worker_started = true;
	log_info("thermal: controller running (time scale %g, %s)", t->time_scale,
	         t->have_sc ? t->sc.name : "no scenario");
	*ret = t;
	return 0;
}

struct thermal_rt *thermal_rt_stop(struct thermal_rt *t)
{
	if (!t)
		return NULL;
	pthread_mutex_lock(&t->lock);
	t->stop = true;
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
	if (t->thread_started)
		pthread_join(t->thread, NULL);
	if (t->worker_started)
		pthread_join(t->worker, NULL);
	cpucap_free(t->cap);
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
	pthread_mutex_destroy(&t->save_lock);
	free(t->setpoints_path);
	free(t);
	return NULL;
}

void thermal_rt_view(struct thermal_rt *t, struct thermal_rt_view *v)
{
	memset(v, 0, sizeof(*v));
	pthread_mutex_lock(&t->lock);
	v->sim_t = t->sim_t;
	v->time_scale = t->time_scale;
	thermal_model_read(&t->m, &v->r);
	v->r.t = t->sim_t;
	thermal_ctl_status(&t->c, &v->st);
	for (int i = 0; i < t->last.fans && i < THERMAL_FANS_MAX; i++)
		v->fan_pct[i] = t->last.fan_pct[i];
	v->heater_on = t->last.heater_on;
	v->heater_failed_injected = t->m.heater_failed;
	v->ccfg = t->c.cfg;
	v->ccfg_config = t->config_cc;
	v->mcfg = t->m.cfg;
	v->ambient_c = t->m.ambient_c;
	v->solar = t->m.solar;
	v->load = t->load;
	v->fan_wh = t->fan_wh;
	v->heater_wh = t->heater_wh;
	v->server_wh = t->m.e_server_j / 3600.0;
	v->read_ms = t->wall_ms ? t->wall_ms : now_ms();
	pthread_mutex_unlock(&t->lock);
}

static json_t *sensor(const char *id, const char *type, const char *unit, double value, bool valid,
                      const char *context)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", id, "type", type, "unit", unit,
	                      "status", valid ? "ok" : "missing", "context", context);

	json_object_set_new(o, "value", valid ? json_real(round(value * 100) / 100) : json_null());
	return o;
}

json_t *thermal_rt_telemetry(struct thermal_rt *t)
{
	struct thermal_rt_view v;
	json_t *alarms = json_array(), *sensors = json_array(), *events = json_array(), *un, *x;
	size_t i;

	thermal_rt_view(t, &v);
	for (i = 0; i < v.st.nalarms; i++)
		json_array_append_new(
		    alarms, json_pack("{s:s, s:s, s:s}", "id", v.st.alarms[i].key, "severity",
		                      thermal_severity_name(v.st.alarms[i].severity), "message",
		                      v.st.alarms[i].message));
	json_array_append_new(sensors, sensor("CoolantTemp", "Temperature", "Cel", v.r.coolant_c,
	                                      v.r.coolant_valid, "LiquidInlet"));
	json_array_append_new(sensors, sensor("CPUPackageTemp", "Temperature", "Cel", v.r.pkg_c,
	                                      v.r.pkg_valid, "CPU"));
	json_array_append_new(sensors, sensor("AmbientTemp", "Temperature", "Cel", v.r.ambient_c,
	                                      v.r.ambient_valid, "Intake"));
	for (int f = 0; f < v.r.fans && f < THERMAL_FANS_MAX; f++) {
		char id[16];

		snprintf(id, sizeof(id), "Fan%d", f + 1);
		json_array_append_new(sensors,
		                      sensor(id, "Rotational", "RPM", v.r.fan_rpm[f], true, "Fan"));
	}
	json_array_append_new(
	    sensors, sensor("HeaterPower", "Power", "W", v.r.heater_w, true, "CoolingSubsystem"));
	json_array_append_new(
	    sensors, sensor("ServerPower", "Power", "W", v.r.server_w, true, "SystemBoard"));
	json_array_append_new(sensors,
	                      sensor("TotalPower", "Power", "W", v.r.total_w, true, "Chassis"));
	un = nodelog_unsent(t->log);
	json_array_foreach(un, i, x) json_array_append_new(
	    events, json_pack("{s:I, s:s, s:s?, s:s, s:I}", "ts", (json_int_t)jint(x, "ts", 0),
	                      "severity", jstr(x, "severity"), "message_id", jstr(x, "message_id"),
	                      "message", jstr(x, "message"), "seq", (json_int_t)jint(x, "seq", 0)));
	json_decref(un);
	return json_pack("{s:I, s:{s:s, s:f, s:i, s:o}, s:o, s:o}", "ts", (json_int_t)now_ms(),
	                 "thermal", "state", thermal_state_name(v.st.state), "headroom_c",
	                 round(v.st.headroom_c * 10) / 10, "cpu_cap_pct", v.st.cpu_cap_pct,
	                 "alarms", alarms, "sensors", sensors, "events", events);
}

int thermal_rt_set(struct thermal_rt *t, const char *key, double value, struct kerr *e)
{
	struct thermal_ctl_config cc;
	char buf[32];
	int r;

	if (!thermal_setpoint_key(key))
		return kerr_set(e, -EINVAL, key, "%s is not a setpoint", key);
	/* save_lock: the file is written as it will be, then the change made;
	 * only this function changes the set points, so cc stays current. */
	pthread_mutex_lock(&t->save_lock);
	pthread_mutex_lock(&t->lock);
	cc = t->c.cfg;
	pthread_mutex_unlock(&t->lock);
	snprintf(buf, sizeof(buf), "%.3f", value);
	r = thermal_ctl_config_set(&cc, key, buf, e);
	if (r == 0)
		r = thermal_ctl_config_check(&cc, e);
	if (r == 0 && t->setpoints_path) {
		r = thermal_setpoints_save(t->setpoints_path, &cc, &t->config_cc);
		if (r < 0)
			kerr_set(e, r, key, "cannot write %s: %s", t->setpoints_path, strerror(-r));
	}
	if (r == 0) {
		pthread_mutex_lock(&t->lock);
		t->c.cfg = cc; /* the controller reads its config at every step */
		pthread_mutex_unlock(&t->lock);
	}
	pthread_mutex_unlock(&t->save_lock);
	return r;
}

int thermal_rt_inject(struct thermal_rt *t, const char *what, int index, double value,
                      struct kerr *e)
{
	int r = 0;

	pthread_mutex_lock(&t->lock);
	if (!strcmp(what, "fan")) {
		if (index < 1 || index > t->m.cfg.box.fans)
			r = kerr_set(e, -EINVAL, "index", "no fan %d", index);
		else
			thermal_model_fan_fault(&t->m, index - 1, value >= 0,
			                        value < 0 ? 0 : value);
	} else if (!strcmp(what, "heater")) {
		thermal_model_heater_fault(&t->m, value != 0);
	} else if (!strcmp(what, "sensor")) {
		if (index < 0 || index >= THERMAL_SENSOR_COUNT || value < 0 || value > 2)
			r = kerr_set(e, -EINVAL, "index", "no sensor %d or fault %g", index, value);
		else
			thermal_model_sensor_fault(&t->m, index, (enum thermal_sensor_fault)value);
	} else if (!strcmp(what, "ambient")) {
		t->ambient_c = value;
		t->ambient_set = true;
	} else if (!strcmp(what, "solar")) {
		t->solar = value < 0 ? 0 : value > 1 ? 1 : value;
		t->solar_set = true;
	} else if (!strcmp(what, "load")) {
		t->load = value < 0 ? -1 : value > 1 ? 1 : value;
		t->load_set = true;
	} else {
		r = kerr_set(e, -EINVAL, "what", "unknown fault \"%s\"", what);
	}
	pthread_mutex_unlock(&t->lock);
	return r;
}
