// SPDX-License-Identifier: MIT
/*
 * The set points an operator moves while the controller runs (the Redfish
 * Controls of rf_control.c, through thermal_rt_set()), and the file that
 * keeps them across restarts of the agent, DATA/redfish/setpoints.json
 * (mode 0600):
 *
 *   {"version": 1, "setpoints": {"fan_target_c": 47, "fan_off_c": 40}}
 *
 * It holds the set points that differ from the agent config's values
 * ([thermal] ctl.*) and is read at start over those values. A file that
 * does not fit them (bad JSON, an unknown key, a value out of range, the
 * lines out of order) is refused as a whole: the caller logs it and goes
 * on with the config's values. Only the file and its checks live here;
 * thermal_rt.c decides when to read and write it, under its locks. No
 * threads, no logging.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/thermal_rt.h"
#include "common/json.h"
#include "common/util.h"

#define FILE_MAX (64 * 1024)
#define VERSION 1

const char *const thermal_setpoint_keys[] = { "band_lo_c",    "heater_on_c",
	                                      "heater_off_c", "fan_off_c",
	                                      "fan_target_c", "fan_on_c",
	                                      "band_hi_c",    NULL };

bool thermal_setpoint_key(const char *key)
{
	for (size_t i = 0; key && thermal_setpoint_keys[i]; i++)
		if (!strcmp(thermal_setpoint_keys[i], key))
			return true;
	return false;
}

/* The document's set points onto c (a copy of the caller's), then the
 * controller's own check. 0 or -EINVAL with e. */
static int apply(const json_t *doc, struct thermal_ctl_config *c, struct kerr *e)
{
	const json_t *points = json_object_get(doc, "setpoints"), *v;
	const char *key;
	char num[40];
	int r;

	if (!json_is_object(doc) || jint(doc, "version", 0) != VERSION || !json_is_object(points) ||
	    json_object_size(doc) != 2)
		return kerr_set(e, -EINVAL, "", "not a version %d set point file", VERSION);
	json_object_foreach((json_t *)points, key, v)
	{
		if (!thermal_setpoint_key(key))
			return kerr_set(e, -EINVAL, key, "%s is not a set point", key);
		if (!json_is_number(v))
			return kerr_set(e, -EINVAL, key, "%s is not a number", key);
		snprintf(num, sizeof(num), "%.17g", json_number_value(v));
		r = thermal_ctl_config_set(c, key, num, e);
		if (r < 0)
			return -EINVAL; /* out of range: e says so */
	}
	return thermal_ctl_config_check(c, e) < 0 ? -EINVAL : 0;
}

int thermal_setpoints_load(const char *path, struct thermal_ctl_config *c, struct kerr *e)
{
	struct thermal_ctl_config cc = *c;
	char *data = NULL, why[160];
	json_t *doc;
	size_t len;
	int r;

	r = file_read(path, FILE_MAX, &data, &len);
	if (r < 0)
		return r == -ENOENT ? r : kerr_set(e, r, "", "cannot read it: %s", strerror(-r));
	doc = jparse(data, len, why, sizeof(why));
	free(data);
	if (!doc)
		return kerr_set(e, -EINVAL, "", "not JSON: %s", why);
	r = apply(doc, &cc, e);
	json_decref(doc);
	if (r == 0)
		*c = cc;
	return r;
}

json_t *thermal_setpoints_diff(const struct thermal_ctl_config *c,
                               const struct thermal_ctl_config *base)
{
	json_t *points = json_object();

	for (size_t i = 0; thermal_setpoint_keys[i]; i++) {
		double v, b;

		if (thermal_ctl_config_get(c, thermal_setpoint_keys[i], &v) == 0 &&
		    thermal_ctl_config_get(base, thermal_setpoint_keys[i], &b) == 0 && v != b)
			json_object_set_new(points, thermal_setpoint_keys[i], json_real(v));
	}
	return points;
}

int thermal_setpoints_save(const char *path, const struct thermal_ctl_config *c,
                           const struct thermal_ctl_config *base)
{
	json_t *doc = json_pack("{s:i, s:o}", "version", VERSION, "setpoints",
	                        thermal_setpoints_diff(c, base));
	char *s = json_dumps(doc, JSON_INDENT(1) | JSON_SORT_KEYS);
	int r;

	json_decref(doc);
	if (!s)
		return -ENOMEM;
	r = file_write_atomic(path, s, strlen(s), 0600);
	free(s);
	return r;
}
