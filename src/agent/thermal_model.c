// SPDX-License-Identifier: MIT
/*
 * The physical model of the sealed immersion-cooled edge box (thermal.h).
 * One state variable carries the physics: the coolant temperature T, with
 * the heat capacity C of the bath and what it soaks (boards, tank).
 *
 *   C dT/dt = P_server + P_solar + P_heater + f P_fans - G (T - T_amb)
 *   G        = G_nat + sum_i G_fan s_i             (fins, fans at speed s_i)
 *   P_server = P_idle + (P_max - P_idle) u         u: node CPU use after caps
 *   P_solar  = P_sun x                             x: 0..1
 *   P_heater = P_h when on and not failed
 *   fan i:     power P_fan s_i^3, tachometer rpm_max s_i
 *   CPU package = T + R_pkg P_server
 *
 * f is the share of the fans' electrical power that ends up in the coolant
 * (0 by default: the fans blow outside air over the fins). A stuck fan
 * turns at its stuck speed whatever it is told, and its tachometer shows
 * that. Temperature sensors read to a resolution; a stuck one repeats the
 * reading it had, a missing one reads nothing.
 *
 * Explicit Euler with a fixed step: stable while step G / C < 2 (1 s x 63 /
 * 120000 with the defaults); energy is booked with the very same
 * increments, so the balance closes to rounding.
 *
 * Physics only: nothing here decides anything (thermal_ctl.c does) and
 * nothing does I/O.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agent/thermal.h"

static double clamp(double v, double lo, double hi)
{
	if (!(v >= lo)) /* also NaN */
		return lo;
	return v > hi ? hi : v;
}

/* ---- The model ---- */

void thermal_model_init(struct thermal_model *m, const struct thermal_model_config *c,
                        double coolant_c, double ambient_c)
{
	memset(m, 0, sizeof(*m));
	m->cfg = *c;
	m->coolant_c = m->coolant0_c = coolant_c;
	m->ambient_c = ambient_c;
}

double thermal_model_fan_speed(const struct thermal_model *m, int fan)
{
	if (fan < 0 || fan >= m->cfg.box.fans)
		return 0;
	return clamp(m->fan_stuck[fan] ? m->fan_stuck_speed[fan] : m->fan_cmd[fan], 0, 1);
}

double thermal_model_server_w(const struct thermal_model *m)
{
	const struct thermal_box *b = &m->cfg.box;

	return b->server_idle_w + (b->server_max_w - b->server_idle_w) * clamp(m->cpu_use, 0, 1);
}

double thermal_model_heater_w(const struct thermal_model *m)
{
	return m->heater_cmd && !m->heater_failed ? m->cfg.box.heater_w : 0;
}

double thermal_model_fans_w(const struct thermal_model *m)
{
	double w = 0;

	for (int i = 0; i < m->cfg.box.fans; i++) {
		double s = thermal_model_fan_speed(m, i);

		w += m->cfg.box.fan_power_w * s * s * s;
	}
	return w;
}

double thermal_model_conductance(const struct thermal_model *m)
{
	double g = m->cfg.box.g_natural_w_per_k;

	for (int i = 0; i < m->cfg.box.fans; i++)
		g += m->cfg.box.fan_g_w_per_k * thermal_model_fan_speed(m, i);
	return g;
}

static double solar_w(const struct thermal_model *m)
{
	return m->cfg.solar_max_w * clamp(m->solar, 0, 1);
}

/* Heat into the coolant apart from the fins (W). */
static double heat_in_w(const struct thermal_model *m)
{
	return thermal_model_server_w(m) + solar_w(m) + thermal_model_heater_w(m) +
	       m->cfg.box.fan_heat_fraction * thermal_model_fans_w(m);
}

double thermal_model_steady_c(const struct thermal_model *m)
{
	return m->ambient_c + heat_in_w(m) / thermal_model_conductance(m);
}

double thermal_model_energy_error_j(const struct thermal_model *m)
{
	double stored = m->cfg.box.heat_capacity_j_per_k * (m->coolant_c - m->coolant0_c);

	return stored -
	       (m->e_server_j + m->e_solar_j + m->e_heater_j + m->e_fan_heat_j - m->e_out_j);
}

static void step_once(struct thermal_model *m, double dt)
{
	double server = thermal_model_server_w(m), sun = solar_w(m);
	double heater = thermal_model_heater_w(m), fans = thermal_model_fans_w(m);
	double fan_heat = m->cfg.box.fan_heat_fraction * fans;
	double out = thermal_model_conductance(m) * (m->coolant_c - m->ambient_c);

	m->e_server_j += server * dt;
	m->e_solar_j += sun * dt;
	m->e_heater_j += heater * dt;
	m->e_fan_j += fans * dt;
	m->e_fan_heat_j += fan_heat * dt;
	m->e_out_j += out * dt;
	m->coolant_c +=
	    (server + sun + heater + fan_heat - out) * dt / m->cfg.box.heat_capacity_j_per_k;
	m->t += dt;
}

void thermal_model_step(struct thermal_model *m, double dt)
{
	while (dt > 1e-9) {
		double h = dt < m->cfg.step_s ? dt : m->cfg.step_s;

		step_once(m, h);
		dt -= h;
	}
}

void thermal_model_command(struct thermal_model *m, const double *fan_pct, int fans, bool heater_on)
{
	for (int i = 0; i < m->cfg.box.fans; i++)
		m->fan_cmd[i] = i < fans ? clamp(fan_pct[i] / 100, 0, 1) : 0;
	m->heater_cmd = heater_on;
}

/* ---- Sensors and faults ---- */

static double quantize(double v, double step)
{
	return step > 0 ? round(v / step) * step : v;
}

/* What sensor s says when it works. */
static double sensor_value(const struct thermal_model *m, enum thermal_sensor s)
{
	double v = m->ambient_c;

	if (s == THERMAL_SENSOR_COOLANT)
		v = m->coolant_c;
	else if (s == THERMAL_SENSOR_PKG)
		v = m->coolant_c + m->cfg.box.pkg_r_k_per_w * thermal_model_server_w(m);
	return quantize(v, m->cfg.sensor_resolution_c);
}

/* A sensor's reading with its fault applied. */
static double sensor_read(const struct thermal_model *m, enum thermal_sensor s, bool *valid)
{
	*valid = m->sensor_fault[s] != THERMAL_SENSOR_MISSING;
	if (m->sensor_fault[s] == THERMAL_SENSOR_STUCK)
		return m->sensor_held[s];
	return *valid ? sensor_value(m, s) : 0;
}

void thermal_model_read(const struct thermal_model *m, struct thermal_readings *ret)
{
	const struct thermal_box *b = &m->cfg.box;

	memset(ret, 0, sizeof(*ret));
	ret->t = m->t;
	ret->coolant_c = sensor_read(m, THERMAL_SENSOR_COOLANT, &ret->coolant_valid);
	ret->pkg_c = sensor_read(m, THERMAL_SENSOR_PKG, &ret->pkg_valid);
	ret->ambient_c = sensor_read(m, THERMAL_SENSOR_AMBIENT, &ret->ambient_valid);
	ret->fans = b->fans;
	for (int i = 0; i < b->fans; i++) {
		double s = thermal_model_fan_speed(m, i);

		ret->fan_rpm[i] = round(s * b->fan_rpm_max);
		ret->fan_w[i] = b->fan_power_w * s * s * s;
	}
	ret->heater_on = m->heater_cmd;
	ret->heater_w = thermal_model_heater_w(m);
	ret->server_w = thermal_model_server_w(m);
	ret->total_w = ret->server_w + ret->heater_w + thermal_model_fans_w(m);
}

void thermal_model_fan_fault(struct thermal_model *m, int fan, bool stuck, double speed_pct)
{
	if (fan < 0 || fan >= m->cfg.box.fans)
		return;
	m->fan_stuck[fan] = stuck;
	m->fan_stuck_speed[fan] = stuck ? clamp(speed_pct / 100, 0, 1) : 0;
}

void thermal_model_heater_fault(struct thermal_model *m, bool failed)
{
	m->heater_failed = failed;
}

void thermal_model_sensor_fault(struct thermal_model *m, enum thermal_sensor s,
                                enum thermal_sensor_fault f)
{
	if ((unsigned)s >= THERMAL_SENSOR_COUNT)
		return;
	if (f == THERMAL_SENSOR_STUCK && m->sensor_fault[s] != THERMAL_SENSOR_STUCK)
		m->sensor_held[s] = sensor_value(m, s);
	m->sensor_fault[s] = f;
}

/* ---- VMs ---- */

double thermal_vm_use(double demand, double share, int cap_pct)
{
	double cap = clamp(cap_pct / 100.0, 0, 1), d = clamp(demand, 0, 1);

	return clamp(share, 0, 1) * (d < cap ? d : cap);
}
