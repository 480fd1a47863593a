// SPDX-License-Identifier: MIT
/*
 * The thermal controller's protection of the box (thermal_int.h), after
 * the fans and the heater have done what they can:
 *   - the lines: above the band (warning state), the warning line
 *     (warning, VM CPU capped), the critical line (VMs shut down), below
 *     the band, below it with the heater failed (critical);
 *   - the VM CPU cap: one step at the warning line, one more every
 *     cap_step_s while the coolant does not fall and the heat balance with
 *     every fan at full does not bring it back under the warning's clear
 *     line; raised a step every cap_release_s once below that line;
 *   - VM shutdowns at the critical line, lowest priority first (ties by
 *     id), one every shed_delay_s while it stays there and the balance
 *     does not promise relief, forced after shutdown_timeout_s; restarts,
 *     highest priority first, once the coolant has stayed restart_hold_s
 *     below restart_c and the balance says the VM's heat fits under the
 *     warning's clear line, one every restart_delay_s. Only VMs the
 *     controller shut down are started again.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "agent/thermal_int.h"

void tc_lines(struct thermal_ctl *c, struct thermal_actions *a)
{
	const struct thermal_ctl_config *cfg = &c->cfg;
	char v[16], lim[16];
	const char *args[] = { "CoolantTemp", v, lim, NULL }; /* Temperature* messages */
	const char *band[] = { "CoolantTemp", lim, NULL };    /* ResourceWarningThreshold* */
	double hot = c->t_cool_c, cold = c->t_heat_c;

	snprintf(v, sizeof(v), "%.2f", hot);
	snprintf(lim, sizeof(lim), "%g", cfg->band_hi_c);
	if (!c->above_band && hot > cfg->band_hi_c) {
		c->above_band = true;
		tc_alarm_raise(c, "coolant-above-band", M_WARN_EXCEEDED, THERMAL_STATE_WARNING,
		               "coolant %.1f C above the %g C band", hot, cfg->band_hi_c);
		tc_log(c, a, M_WARN_EXCEEDED, -1, "CoolantTemp", band,
		       "Coolant %.1f C is above the band (%g..%g C) with the fans %s.", hot,
		       cfg->band_lo_c, cfg->band_hi_c, c->stage ? "running" : "off");
	}
	/* the band's top clears between it and the fans' target (held close
	 * under it), at most alarm_hyst_c under it */
	if (c->above_band &&
	    hot < cfg->band_hi_c -
	              fmin(cfg->alarm_hyst_c, (cfg->band_hi_c - cfg->fan_target_c) / 2)) {
		c->above_band = false;
		tc_alarm_clear(c, "coolant-above-band");
		tc_log(c, a, M_WARN_CLEARED, -1, "CoolantTemp", band,
		       "Coolant %.1f C is in the band again.", hot);
	}
	if (!c->above_warning && hot >= cfg->warning_c) {
		c->above_warning = true;
		snprintf(lim, sizeof(lim), "%g", cfg->warning_c);
		tc_alarm_raise(c, "coolant-high", M_TEMP_ABOVE_CAUTION, THERMAL_STATE_WARNING,
		               "coolant %.1f C above %g C: VM CPU capped", hot, cfg->warning_c);
		tc_log(c, a, M_TEMP_ABOVE_CAUTION, -1, "CoolantTemp", args,
		       "The fans cannot hold the band (coolant from %s): VM CPU is capped.",
		       thermal_source_name(c->source));
	}
	if (!c->above_critical && hot >= cfg->critical_c) {
		c->above_critical = true;
		snprintf(lim, sizeof(lim), "%g", cfg->critical_c);
		tc_alarm_raise(c, "coolant-critical", M_TEMP_ABOVE_CRITICAL, THERMAL_STATE_CRITICAL,
		               "coolant %.1f C at the %g C critical line: VMs shut down", hot,
		               cfg->critical_c);
		tc_log(c, a, M_TEMP_ABOVE_CRITICAL, -1, "CoolantTemp", args,
		       "VMs are shut down, lowest priority first.");
	}
	if (c->above_critical && hot < cfg->critical_c - cfg->alarm_hyst_c) {
		c->above_critical = false;
		snprintf(lim, sizeof(lim), "%g", cfg->critical_c);
		tc_alarm_clear(c, "coolant-critical");
		tc_log(c, a, M_TEMP_BELOW_UPPER_CRITICAL, -1, "CoolantTemp", args,
		       "No more VMs are shut down.");
	}
	if (c->above_warning && hot < cfg->warning_c - cfg->alarm_hyst_c) {
		c->above_warning = false;
		tc_alarm_clear(c, "coolant-high");
		tc_log(c, a, M_TEMP_NORMAL, -1, "CoolantTemp", args,
		       "Below %g C again: the VM CPU cap is raised step by step.",
		       cfg->warning_c - cfg->alarm_hyst_c);
	}
	snprintf(v, sizeof(v), "%.2f", cold);
	snprintf(lim, sizeof(lim), "%g", cfg->band_lo_c);
	if (!c->below_band && cold < cfg->band_lo_c) {
		c->below_band = true;
		tc_alarm_raise(c, "coolant-low", M_TEMP_BELOW_LOWER_CAUTION, THERMAL_STATE_WARNING,
		               "coolant %.1f C below the %g C band", cold, cfg->band_lo_c);
		tc_log(c, a, M_TEMP_BELOW_LOWER_CAUTION, -1, "CoolantTemp", args, "Heater %s.",
		       c->heater_failed ? "failed"
		       : c->heater_on   ? "on"
		                        : "off");
	}
	if (c->below_band && !c->cold && c->heater_failed) {
		c->cold = true;
		tc_alarm_raise(
		    c, "coolant-cold", M_TEMP_BELOW_LOWER_CRITICAL, THERMAL_STATE_CRITICAL,
		    "coolant %.1f C below %g C with the heater failed", cold, cfg->band_lo_c);
		tc_log(
		    c, a, M_TEMP_BELOW_LOWER_CRITICAL, -1, "CoolantTemp", args,
		    "The heater has failed: only the server's own heat warms the coolant; the VM "
		    "CPU stays uncapped.");
	}
	if (c->cold && !c->heater_failed) {
		c->cold = false; /* the heater's own entry says it works again */
		tc_alarm_clear(c, "coolant-cold");
	}
	/* likewise the band's bottom, between it and the heater's off point */
	if (c->below_band &&
	    cold >= cfg->band_lo_c +
	                fmin(cfg->alarm_hyst_c, (cfg->heater_off_c - cfg->band_lo_c) / 2)) {
		c->below_band = false;
		c->cold = false;
		tc_alarm_clear(c, "coolant-low");
		tc_alarm_clear(c, "coolant-cold");
		tc_log(c, a, M_TEMP_NORMAL, -1, "CoolantTemp", args, "Back in the band.");
	}
}

void tc_cap(struct thermal_ctl *c, struct thermal_actions *a, const struct thermal_readings *r)
{
	const struct thermal_ctl_config *cfg = &c->cfg;
	const char *args[] = { "VM CPU", NULL };
	int old = c->cap_pct, step = (int)lround(cfg->cap_step_pct);
	int min = (int)lround(cfg->cap_min_pct);

	if (c->above_warning) {
		if (c->cap_pct <= min)
			return;
		/* one step, then more only while it does not help: the coolant
		 * has not fallen since, and (measured) the balance with every
		 * fan at full does not settle it below the warning's clear line */
		if (c->cap_pct < 100 &&
		    (!tc_held(c, c->cap_at, cfg->cap_step_s) || c->t_cool_c < c->cap_at_c - 0.05 ||
		     (c->source == THERMAL_SRC_COOLANT &&
		      tc_settle(c, tc_q_known(c, r, true) + c->obs_p_w, tc_g_max(c, r)) <
		          cfg->warning_c - cfg->alarm_hyst_c)))
			return;
		c->cap_pct = c->cap_pct - step < min ? min : c->cap_pct - step;
		c->cap_at = c->t;
		c->cap_at_c = c->t_cool_c;
		tc_log(c, a, M_POWER_BRAKE, -1, "VM CPU", args,
		       "VM CPU capped at %d%% (was %d%%): coolant %.1f C is past the %g C "
		       "warning line with the fans at their limit.",
		       c->cap_pct, old, c->t_cool_c, cfg->warning_c);
		return;
	}
	if (c->cap_pct >= 100 || c->t_cool_c >= cfg->warning_c - cfg->alarm_hyst_c ||
	    !tc_held(c, c->cap_at, cfg->cap_release_s))
		return;
	c->cap_pct = c->cap_pct + step > 100 ? 100 : c->cap_pct + step;
	c->cap_at = c->t;
	c->cap_at_c = c->t_cool_c;
	if (c->cap_pct == 100)
		tc_log(c, a, M_CHANGED, -1, "VM CPU", NULL,
		       "VM CPU cap removed (was %d%%): coolant %.1f C is below %g C.", old,
		       c->t_cool_c, cfg->warning_c - cfg->alarm_hyst_c);
	else
		tc_log(c, a, M_CHANGED, -1, "VM CPU", NULL,
		       "VM CPU cap raised to %d%%: coolant %.1f C is below %g C.", c->cap_pct,
		       c->t_cool_c, cfg->warning_c - cfg->alarm_hyst_c);
}

static const struct thermal_vm *vm_find(const struct thermal_vm *vms, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(vms[i].id, id))
			return &vms[i];
	return NULL;
}

static void shed_remove(struct thermal_ctl *c, size_t i)
{
	memmove(&c->shed[i], &c->shed[i + 1], (c->nshed - i - 1) * sizeof(c->shed[0]));
	c->nshed--;
}

/* Follows the VMs shut down: gone or started by someone else: forgotten;
 * still running shutdown_timeout_s after the graceful shutdown: forced. */
static void shed_follow(struct thermal_ctl *c, struct thermal_actions *a,
                        const struct thermal_vm *vms, size_t n)
{
	for (size_t i = 0; i < c->nshed;) {
		struct thermal_shed *s = &c->shed[i];
		const struct thermal_vm *v = vm_find(vms, n, s->id);
		const char *args[] = { s->id, NULL };
		char origin[THERMAL_ORIGIN_MAX];

		if (!v || (v->running && s->stopped)) {
			shed_remove(c, i);
			continue;
		}
		if (!v->running)
			s->stopped = true;
		else if (!s->forced && !a->shutdown_vm[0] &&
		         tc_held(c, s->at, c->cfg.shutdown_timeout_s)) {
			s->forced = true;
			snprintf(a->shutdown_vm, sizeof(a->shutdown_vm), "%s", s->id);
			a->shutdown_force = true;
			snprintf(origin, sizeof(origin), "VM %s", s->id);
			tc_log(
			    c, a, M_POWERING_OFF, THERMAL_WARNING, origin, args,
			    "Its graceful shutdown has not finished after %.0f s: powering it off.",
			    c->cfg.shutdown_timeout_s);
		}
		i++;
	}
}

/* Heat a VM gives at full demand without the cap (W). */
static double vm_heat_w(const struct thermal_ctl *c, const struct thermal_vm *v)
{
	const struct thermal_box *b = &c->cfg.box;
	double use = v->cpu;

	if (c->cap_pct < 100 && c->cap_pct > 0)
		use = use * 100 / c->cap_pct;
	if (v->share > 0 && use > v->share)
		use = v->share;
	return (b->server_max_w - b->server_idle_w) * tc_clamp(use, 0, 1);
}

static void shed_one(struct thermal_ctl *c, struct thermal_actions *a,
                     const struct thermal_readings *r, const struct thermal_vm *vms, size_t n)
{
	const struct thermal_ctl_config *cfg = &c->cfg;
	const struct thermal_vm *pick = NULL;
	struct thermal_shed *s;
	const char *args[] = { NULL, NULL };
	char origin[THERMAL_ORIGIN_MAX];
	double ss;
	int left = 0;

	if (a->shutdown_vm[0] || !tc_never_or_held(c, c->last_shed_at, cfg->shed_delay_s))
		return;
	/* the coolant is measured and the balance, with every fan at full,
	 * promises relief below the clear line: wait instead */
	ss = tc_settle(c, tc_q_known(c, r, true) + c->obs_p_w, tc_g_max(c, r));
	if (c->source == THERMAL_SRC_COOLANT && c->nshed &&
	    ss < cfg->critical_c - cfg->alarm_hyst_c)
		return;
	for (size_t i = 0; i < n; i++) {
		const struct thermal_vm *v = &vms[i];
		bool shed = false;

		for (size_t k = 0; k < c->nshed; k++)
			shed |= !strcmp(c->shed[k].id, v->id);
		if (!v->running || shed || !v->id[0])
			continue;
		left++;
		if (!pick || v->priority < pick->priority ||
		    (v->priority == pick->priority && strcmp(v->id, pick->id) < 0))
			pick = v;
	}
	if (!pick || c->nshed >= THERMAL_VMS_MAX)
		return;
	s = &c->shed[c->nshed++];
	memset(s, 0, sizeof(*s));
	snprintf(s->id, sizeof(s->id), "%s", pick->id);
	s->priority = pick->priority;
	s->heat_w = vm_heat_w(c, pick);
	s->at = c->t;
	c->last_shed_at = c->t;
	snprintf(a->shutdown_vm, sizeof(a->shutdown_vm), "%s", pick->id);
	a->shutdown_force = false;
	args[0] = pick->id;
	snprintf(origin, sizeof(origin), "VM %s", pick->id);
	tc_log(
	    c, a, M_POWERING_OFF, THERMAL_WARNING, origin, args,
	    "Thermal shutdown: coolant %.1f C at the %g C critical line; graceful shutdown of the "
	    "lowest-priority VM (priority %d, %.0f W), %d left running.",
	    c->t_cool_c, cfg->critical_c, pick->priority, s->heat_w, left - 1);
}

static void restart_one(struct thermal_ctl *c, struct thermal_actions *a,
                        const struct thermal_readings *r)
{
	const struct thermal_ctl_config *cfg = &c->cfg;
	const char *args[] = { NULL, NULL };
	char origin[THERMAL_ORIGIN_MAX], id[THERMAL_ID_MAX];
	double ss, heat;
	int at = -1, prio;

	if (c->source == THERMAL_SRC_MODEL || a->start_vm[0] ||
	    !tc_held(c, c->below_restart_since, cfg->restart_hold_s) ||
	    !tc_never_or_held(c, c->last_start_at, cfg->restart_delay_s) ||
	    !tc_never_or_held(c, c->last_shed_at, cfg->restart_hold_s))
		return;
	for (size_t i = 0; i < c->nshed; i++)
		if (c->shed[i].stopped && (at < 0 || c->shed[i].priority > c->shed[at].priority))
			at = (int)i;
	if (at < 0)
		return; /* still shutting down */
	/* its heat must fit under the warning line's clear level */
	heat = c->shed[at].heat_w;
	ss = tc_settle(c, tc_q_known(c, r, true) + c->obs_p_w + heat, tc_g_max(c, r));
	if (ss >= cfg->warning_c - cfg->alarm_hyst_c)
		return;
	snprintf(id, sizeof(id), "%s", c->shed[at].id);
	prio = c->shed[at].priority;
	shed_remove(c, (size_t)at);
	c->last_start_at = c->t;
	snprintf(a->start_vm, sizeof(a->start_vm), "%s", id);
	args[0] = id;
	snprintf(origin, sizeof(origin), "VM %s", id);
	tc_log(
	    c, a, M_POWERING_ON, -1, origin, args,
	    "Coolant %.1f C has stayed below %g C for %.0f s and would settle at %.1f C with it: "
	    "starting the highest-priority VM shut down (priority %d), %zu still down.",
	    c->t_cool_c, cfg->restart_c, cfg->restart_hold_s, ss, prio, c->nshed);
}

void tc_vms(struct thermal_ctl *c, struct thermal_actions *a, const struct thermal_readings *r,
            const struct thermal_vm *vms, size_t n)
{
	const struct thermal_ctl_config *cfg = &c->cfg;

	shed_follow(c, a, vms, n);
	if (c->t_cool_c >= cfg->critical_c) {
		c->below_restart_since = T_NEVER;
		shed_one(c, a, r, vms, n);
	} else if (c->nshed && c->t_cool_c < cfg->restart_c) {
		if (c->below_restart_since <= T_NEVER / 2)
			c->below_restart_since = c->t;
		restart_one(c, a, r);
	} else {
		c->below_restart_since = T_NEVER;
	}
	if (c->nshed)
		tc_alarm_raise(c, "vms-shed", M_POWERING_OFF, THERMAL_STATE_WARNING,
		               "%zu VM(s) shut down by the thermal controller", c->nshed);
	else
		tc_alarm_clear(c, "vms-shed");
}
