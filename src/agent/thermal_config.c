// SPDX-License-Identifier: MIT
/*
 * The configuration of the thermal side (thermal.h): the box's constants,
 * the model's and the controller's settings, their defaults (the values in
 * thermal.h's comments, argued in docs/THERMAL.md), their checks, and
 * setting any of them by name from the agent's [thermal] section
 * ("model.<key>", "ctl.<key>") or a Redfish Control. Also the names of the
 * enums. No state, no I/O.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agent/thermal.h"

/* ---- The box and the model ---- */

void thermal_box_defaults(struct thermal_box *b)
{
	*b = (struct thermal_box){
		.heat_capacity_j_per_k = 120000,
		.g_natural_w_per_k = 15,
		.fans = 4,
		.fan_g_w_per_k = 12,
		.fan_power_w = 12,
		.fan_rpm_max = 6000,
		.fan_heat_fraction = 0,
		.heater_w = 400,
		.server_idle_w = 120,
		.server_max_w = 600,
		.pkg_r_k_per_w = 0.03,
	};
}

/* Each settable number: its name, where it is, its range. */
struct num_field {
	const char *key;
	size_t off;
	double min, max;
};

#define BOX(f, lo, hi)                                                                             \
	{                                                                                          \
#f, offsetof(struct thermal_box, f), lo, hi                                        \
	}
static const struct num_field box_fields[] = {
	BOX(heat_capacity_j_per_k, 1, 1e9),
	BOX(g_natural_w_per_k, 0, 1e5),
	BOX(fan_g_w_per_k, 0, 1e5),
	BOX(fan_power_w, 0, 1e5),
	BOX(fan_rpm_max, 1, 1e6),
	BOX(fan_heat_fraction, 0, 1),
	BOX(heater_w, 0, 1e6),
	BOX(server_idle_w, 0, 1e6),
	BOX(server_max_w, 0, 1e6),
	BOX(pkg_r_k_per_w, 0, 10),
};
#undef BOX

static int parse_num(const char *key, const char *value, double min, double max, double *ret,
                     struct kerr *e)
{
	char *end;
	double d;

	errno = 0;
	d = value ? strtod(value, &end) : NAN;
	if (!value || errno || end == value || *end || !isfinite(d) || d < min || d > max)
		return kerr_set(e, -EINVAL, key, "%s: \"%s\" is not a number in %g..%g", key,
		                value ? value : "", min, max);
	*ret = d;
	return 0;
}

int thermal_box_check(const struct thermal_box *b, struct kerr *e)
{
	double g_max;

	for (size_t i = 0; i < sizeof(box_fields) / sizeof(box_fields[0]); i++) {
		double v = *(const double *)((const char *)b + box_fields[i].off);

		if (!isfinite(v) || v < box_fields[i].min || v > box_fields[i].max)
			return kerr_set(e, -EINVAL, box_fields[i].key, "%s: %g is not in %g..%g",
			                box_fields[i].key, v, box_fields[i].min, box_fields[i].max);
	}
	if (b->fans < 1 || b->fans > THERMAL_FANS_MAX)
		return kerr_set(e, -EINVAL, "fans", "fans: %d is not in 1..%d", b->fans,
		                THERMAL_FANS_MAX);
	if (b->server_max_w < b->server_idle_w)
		return kerr_set(e, -EINVAL, "server_max_w",
		                "server_max_w (%g) is below server_idle_w (%g)", b->server_max_w,
		                b->server_idle_w);
	g_max = b->g_natural_w_per_k + b->fans * b->fan_g_w_per_k;
	if (!(g_max > 0))
		return kerr_set(e, -EINVAL, "g_natural_w_per_k",
		                "the box has no way to lose heat (no fins, no fans)");
	return 0;
}

int thermal_box_set(struct thermal_box *b, const char *key, const char *value, struct kerr *e)
{
	double d;
	int r;

	if (!strcmp(key, "fans")) {
		if ((r = parse_num(key, value, 1, THERMAL_FANS_MAX, &d, e)) < 0)
			return r;
		if (d != floor(d))
			return kerr_set(e, -EINVAL, key, "fans: \"%s\" is not a whole number",
			                value);
		b->fans = (int)d;
		return 0;
	}
	for (size_t i = 0; i < sizeof(box_fields) / sizeof(box_fields[0]); i++) {
		if (strcmp(box_fields[i].key, key) != 0)
			continue;
		if ((r = parse_num(key, value, box_fields[i].min, box_fields[i].max, &d, e)) < 0)
			return r;
		*(double *)((char *)b + box_fields[i].off) = d;
		return 0;
	}
	return -ENOENT;
}

void thermal_model_config_defaults(struct thermal_model_config *c)
{
	memset(c, 0, sizeof(*c));
	thermal_box_defaults(&c->box);
	c->solar_max_w = 150;
	c->sensor_resolution_c = 0.01;
	c->step_s = 1;
}

int thermal_model_config_check(const struct thermal_model_config *c, struct kerr *e)
{
	int r = thermal_box_check(&c->box, e);
	double g_max = c->box.g_natural_w_per_k + c->box.fans * c->box.fan_g_w_per_k;

	if (r < 0)
		return r;
	if (!isfinite(c->solar_max_w) || c->solar_max_w < 0 || c->solar_max_w > 1e6)
		return kerr_set(e, -EINVAL, "solar_max_w", "solar_max_w: %g is not in 0..1e6",
		                c->solar_max_w);
	if (!isfinite(c->sensor_resolution_c) || c->sensor_resolution_c < 0 ||
	    c->sensor_resolution_c > 10)
		return kerr_set(e, -EINVAL, "sensor_resolution_c",
		                "sensor_resolution_c: %g is not in 0..10", c->sensor_resolution_c);
	/* Euler is stable below 2; stay well inside */
	if (!isfinite(c->step_s) || c->step_s <= 0 ||
	    c->step_s * g_max / c->box.heat_capacity_j_per_k > 0.5)
		return kerr_set(
		    e, -EINVAL, "step_s",
		    "step_s: %g is not > 0 or too long for a stable integration (at most "
		    "%.0f s with this box)",
		    c->step_s, 0.5 * c->box.heat_capacity_j_per_k / g_max);
	return 0;
}

int thermal_model_config_set(struct thermal_model_config *c, const char *key, const char *value,
                             struct kerr *e)
{
	int r = thermal_box_set(&c->box, key, value, e);

	if (r != -ENOENT)
		return r;
	if (!strcmp(key, "solar_max_w"))
		return parse_num(key, value, 0, 1e6, &c->solar_max_w, e);
	if (!strcmp(key, "sensor_resolution_c"))
		return parse_num(key, value, 0, 10, &c->sensor_resolution_c, e);
	if (!strcmp(key, "step_s"))
		return parse_num(key, value, 1e-3, 3600, &c->step_s, e);
	return -ENOENT;
}

/* ---- The controller ---- */

void thermal_ctl_config_defaults(struct thermal_ctl_config *c)
{
	memset(c, 0, sizeof(*c));
	thermal_box_defaults(&c->box);
	c->band_lo_c = 5;
	c->band_hi_c = 50;
	c->warning_c = 55;
	c->critical_c = 60;
	c->restart_c = 50;
	c->alarm_hyst_c = 2;
	c->fan_on_c = 49;
	c->fan_target_c = 49;
	c->fan_off_c = 45;
	c->fan_min_pct = 20;
	c->fan_slew_pct_s = 2;
	c->fan_min_on_s = 60;
	c->fan_min_off_s = 60;
	c->fan_log_pct = 20;
	c->kp_w_per_k2 = 10;
	c->ti_s = 900;
	c->fan_fault_s = 15;
	c->fan_fault_tol_pct = 20;
	c->heater_on_c = 5.2;
	c->heater_off_c = 5.5;
	c->heater_min_on_s = 120;
	c->heater_min_off_s = 120;
	c->heater_fault_s = 10;
	c->cap_step_pct = 10;
	c->cap_min_pct = 20;
	c->cap_step_s = 60;
	c->cap_release_s = 120;
	c->shed_delay_s = 120;
	c->shutdown_timeout_s = 180;
	c->restart_hold_s = 600;
	c->restart_delay_s = 300;
	c->missing_grace_s = 5;
	c->stuck_min_s = 300;
	c->stuck_dev_c = 1;
	c->fallback_margin_c = 3;
	c->blind_margin_c = 3;
	c->blind_growth_c_h = 3;
	c->blind_margin_max_c = 10;
	c->max_gap_s = 30;
	c->unknown_max_w = 150;
}

struct policy_field {
	const char *key;
	size_t off;
	double min, max;
};

#define F(f, lo, hi)                                                                               \
	{                                                                                          \
#f, offsetof(struct thermal_ctl_config, f), lo, hi                                 \
	}
static const struct policy_field policy[] = {
	F(band_lo_c, -50, 100),          F(band_hi_c, -50, 100),
	F(warning_c, -50, 120),          F(critical_c, -50, 120),
	F(restart_c, -50, 120),          F(alarm_hyst_c, 0.1, 20),
	F(fan_on_c, -50, 100),           F(fan_target_c, -50, 100),
	F(fan_off_c, -50, 100),          F(fan_min_pct, 1, 100),
	F(fan_slew_pct_s, 0.01, 100),    F(fan_min_on_s, 0, 86400),
	F(fan_min_off_s, 0, 86400),      F(fan_log_pct, 1, 100),
	F(kp_w_per_k2, 0, 1000),         F(ti_s, 1, 1e6),
	F(fan_fault_s, 1, 86400),        F(fan_fault_tol_pct, 1, 50),
	F(heater_on_c, -50, 100),        F(heater_off_c, -50, 100),
	F(heater_min_on_s, 0, 86400),    F(heater_min_off_s, 0, 86400),
	F(heater_fault_s, 1, 86400),     F(cap_step_pct, 1, 100),
	F(cap_min_pct, 1, 100),          F(cap_step_s, 0, 86400),
	F(cap_release_s, 0, 86400),      F(shed_delay_s, 0, 86400),
	F(shutdown_timeout_s, 1, 86400), F(restart_hold_s, 0, 86400),
	F(restart_delay_s, 0, 86400),    F(missing_grace_s, 0, 3600),
	F(stuck_min_s, 1, 86400),        F(stuck_dev_c, 0.01, 50),
	F(fallback_margin_c, 0, 50),     F(blind_margin_c, 0, 50),
	F(blind_growth_c_h, 0, 100),     F(blind_margin_max_c, 0, 100),
	F(max_gap_s, 1, 86400),          F(unknown_max_w, 0, 1e6),
};
#undef F

static double *field(struct thermal_ctl_config *c, const struct policy_field *f)
{
	return (double *)((char *)c + f->off);
}

int thermal_ctl_config_check(const struct thermal_ctl_config *c, struct kerr *e)
{
	int r = thermal_box_check(&c->box, e);

	if (r < 0)
		return r;
	for (size_t i = 0; i < sizeof(policy) / sizeof(policy[0]); i++) {
		double v = *field((struct thermal_ctl_config *)c, &policy[i]);

		if (!isfinite(v) || v < policy[i].min || v > policy[i].max)
			return kerr_set(e, -EINVAL, policy[i].key, "%s: %g is not in %g..%g",
			                policy[i].key, v, policy[i].min, policy[i].max);
	}
	if (!(c->band_lo_c < c->heater_on_c && c->heater_on_c < c->heater_off_c &&
	      c->heater_off_c < c->fan_off_c && c->fan_off_c < c->fan_target_c &&
	      c->fan_target_c <= c->fan_on_c && c->fan_on_c <= c->band_hi_c &&
	      c->band_hi_c < c->warning_c && c->warning_c < c->critical_c))
		return kerr_set(
		    e, -EINVAL, "band_lo_c",
		    "the lines must be in order: band_lo_c < heater_on_c < heater_off_c < "
		    "fan_off_c < fan_target_c <= fan_on_c <= band_hi_c < warning_c < "
		    "critical_c");
	if (!(c->restart_c <= c->critical_c - c->alarm_hyst_c))
		return kerr_set(e, -EINVAL, "restart_c",
		                "restart_c must be at least alarm_hyst_c below critical_c");
	return 0;
}

int thermal_ctl_config_set(struct thermal_ctl_config *c, const char *key, const char *value,
                           struct kerr *e)
{
	int r = thermal_box_set(&c->box, key, value, e);

	if (r != -ENOENT)
		return r;
	for (size_t i = 0; i < sizeof(policy) / sizeof(policy[0]); i++)
		if (!strcmp(policy[i].key, key))
			return parse_num(key, value, policy[i].min, policy[i].max,
			                 field(c, &policy[i]), e);
	return -ENOENT;
}

int thermal_ctl_config_get(const struct thermal_ctl_config *c, const char *key, double *ret)
{
	for (size_t i = 0; i < sizeof(policy) / sizeof(policy[0]); i++)
		if (!strcmp(policy[i].key, key)) {
			*ret = *field((struct thermal_ctl_config *)c, &policy[i]);
			return 0;
		}
	return -ENOENT;
}

/* ---- Names ---- */

const char *thermal_severity_name(enum thermal_severity s)
{
	static const char *const n[] = { "OK", "Warning", "Critical" };

	return (unsigned)s < 3 ? n[s] : "Critical";
}

const char *thermal_state_name(enum thermal_state s)
{
	static const char *const n[] = { "ok", "warning", "alarm", "critical" };

	return (unsigned)s < 4 ? n[s] : "critical";
}

const char *thermal_source_name(enum thermal_source s)
{
	static const char *const n[] = { "coolant", "fallback", "model" };

	return (unsigned)s < 3 ? n[s] : "model";
}
