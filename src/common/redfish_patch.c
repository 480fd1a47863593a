// SPDX-License-Identifier: MIT
/*
 * Request bodies of the Redfish core against a table of properties
 * (struct rf_prop): PATCH (good properties applied, the others reported
 * in @Message.ExtendedInfo: only bad ones is a 400), creates in a
 * collection and action parameters (any bad one is a 400). Each problem
 * gets the Base message DSP0266 names for it: PropertyUnknown,
 * PropertyNotWritable, PropertyValueTypeError, PropertyValueNotInList,
 * PropertyValueOutOfRange, StringValueTooLong/Short, PropertyMissing, and
 * the ActionParameter* ones for actions. Values marked RF_P_SECRET are
 * never echoed (PropertyValueError instead).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/redfish.h"
#include "common/redfish_int.h"
#include "common/util.h"

#define VALUE_SHOWN_MAX 128 /* bytes of a value echoed in a message */
#define PATH_MAX_LEN 256

enum mode { M_PATCH, M_CREATE, M_ACTION };

struct checker {
	enum mode mode;
	const char *action;
	const struct rf_prop *props;
	json_t *msgs; /* owned; array */
};

/* A value as a message shows it: strings as they are, the rest as JSON,
 * cut at VALUE_SHOWN_MAX bytes. malloc'd. */
static char *value_str(const json_t *v)
{
	char *s = json_is_string(v) ? xstrdup(json_string_value(v))
	                            : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	if (!s)
		s = xstrdup("");
	if (strlen(s) > VALUE_SHOWN_MAX)
		strcpy(s + VALUE_SHOWN_MAX - 3, "...");
	return s;
}

static void add(struct checker *c, json_t *msg, const char *path)
{
	char *ptr;

	if (path && c->mode != M_ACTION) {
		ptr = xasprintf("#/%s", path);
		rf_msg_related(msg, ptr);
		free(ptr);
	}
	json_array_append_new(c->msgs, msg);
}

static const struct rf_prop *prop_find(const struct rf_prop *props, const char *path)
{
	for (const struct rf_prop *p = props; p->name; p++)
		if (strcmp(p->name, path) == 0)
			return p;
	return NULL;
}

/* Does the table hold properties below path ("SMTP" for "SMTP/Port")? */
static bool has_children(const struct rf_prop *props, const char *path)
{
	size_t n = strlen(path);

	for (const struct rf_prop *p = props; p->name; p++)
		if (strncmp(p->name, path, n) == 0 && p->name[n] == '/')
			return true;
	return false;
}

static bool type_ok(enum rf_ptype t, const json_t *v)
{
	switch (t) {
	case RF_T_STRING:
		return json_is_string(v);
	case RF_T_BOOL:
		return json_is_boolean(v);
	case RF_T_INT:
		return json_is_integer(v);
	case RF_T_NUMBER:
		return json_is_number(v);
	case RF_T_OBJECT:
		return json_is_object(v);
	case RF_T_ARRAY:
		return json_is_array(v);
	}
	return false;
}

static json_t *msg_type(struct checker *c, const char *val, const char *path)
{
	if (c->mode == M_ACTION)
		return rf_msg(RF_MSG_ACTION_PARAMETER_VALUE_TYPE_ERROR, val, path, c->action, NULL);
	return rf_msg(RF_MSG_PROPERTY_VALUE_TYPE_ERROR, val, path, NULL);
}

static json_t *msg_not_in_list(struct checker *c, const char *val, const char *path)
{
	if (c->mode == M_ACTION)
		return rf_msg(RF_MSG_ACTION_PARAMETER_VALUE_NOT_IN_LIST, val, path, c->action,
		              NULL);
	return rf_msg(RF_MSG_PROPERTY_VALUE_NOT_IN_LIST, val, path, NULL);
}

static json_t *msg_range(struct checker *c, const char *val, const char *path)
{
	if (c->mode == M_ACTION)
		return rf_msg(RF_MSG_ACTION_PARAMETER_VALUE_OUT_OF_RANGE, val, path, c->action,
		              NULL);
	return rf_msg(RF_MSG_PROPERTY_VALUE_OUT_OF_RANGE, val, path, NULL);
}

static json_t *msg_secret(struct checker *c, const char *path)
{
	if (c->mode == M_ACTION)
		return rf_msg(RF_MSG_ACTION_PARAMETER_VALUE_ERROR, path, c->action, NULL);
	return rf_msg(RF_MSG_PROPERTY_VALUE_ERROR, path, NULL);
}

/* Checks one value against its property; NULL if good, else a message. */
static json_t *value_check(struct checker *c, const struct rf_prop *p, const char *path,
                           const json_t *v)
{
	bool secret = p->flags & RF_P_SECRET;
	char *val, num[32];
	json_t *msg = NULL;

	if (json_is_null(v) && (p->flags & RF_P_NULLABLE))
		return NULL;
	val = secret ? xstrdup("") : value_str(v);
	if (!type_ok(p->type, v)) {
		msg = secret ? msg_secret(c, path) : msg_type(c, val, path);
		goto out;
	}
	if (p->type == RF_T_STRING && p->values) {
		const char *const *a = p->values;

		while (*a && strcmp(*a, json_string_value(v)) != 0)
			a++;
		if (!*a) {
			msg = secret ? msg_secret(c, path) : msg_not_in_list(c, val, path);
			goto out;
		}
	}
	if (p->type == RF_T_STRING && p->min < p->max) {
		size_t len = json_string_length(v);

		if (len < (size_t)p->min || len > (size_t)p->max) {
			bool longer = len > (size_t)p->max;

			snprintf(num, sizeof(num), "%.0f", longer ? p->max : p->min);
			if (secret)
				msg = msg_secret(c, path);
			else
				msg = rf_msg(longer ? RF_MSG_STRING_VALUE_TOO_LONG
				                    : RF_MSG_STRING_VALUE_TOO_SHORT,
				             val, num, NULL);
			goto out;
		}
	}
	if ((p->type == RF_T_INT || p->type == RF_T_NUMBER) && p->min < p->max) {
		double d = json_number_value(v);

		if (!(d >= p->min && d <= p->max) || isnan(d)) {
			msg = secret ? msg_secret(c, path) : msg_range(c, val, path);
			goto out;
		}
	}
	if (p->check)
		msg = p->check(p->name, v);
out:
	free(val);
	return msg;
}

static json_t *msg_unknown(struct checker *c, const char *path)
{
	if (c->mode == M_ACTION)
		return rf_msg(RF_MSG_ACTION_PARAMETER_UNKNOWN, c->action, path, NULL);
	return rf_msg(RF_MSG_PROPERTY_UNKNOWN, path, NULL);
}

static json_t *msg_not_writable(struct checker *c, const char *path)
{
	if (c->mode == M_ACTION)
		return rf_msg(RF_MSG_ACTION_PARAMETER_NOT_SUPPORTED, path, c->action, NULL);
	return rf_msg(RF_MSG_PROPERTY_NOT_WRITABLE, path, NULL);
}

/* Checks the members of obj (at prefix, NULL at the top); the good ones
 * go to good. current: the resource's value at the same place (PATCH). */
static void check_object(struct checker *c, const json_t *obj, const char *prefix,
                         const json_t *current, json_t *good)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)obj, key, v)
	{
		char path[PATH_MAX_LEN];
		const struct rf_prop *p;
		json_t *msg;

		if (!prefix && c->mode == M_PATCH && strcmp(key, "@odata.etag") == 0)
			continue; /* a precondition (redfish.c), not a property */
		if (prefix)
			snprintf(path, sizeof(path), "%s/%s", prefix, key);
		else
			snprintf(path, sizeof(path), "%s", key);
		p = prop_find(c->props, path);
		if (p && (p->flags & RF_P_READONLY)) {
			add(c, msg_not_writable(c, path), path);
		} else if (p) {
			msg = value_check(c, p, path, v);
			if (msg)
				add(c, msg, path);
			else
				json_object_set(good, key, v);
		} else if (has_children(c->props, path)) {
			json_t *sub;

			if (!json_is_object(v)) {
				char *val = value_str(v);

				add(c, msg_type(c, val, path), path);
				free(val);
				continue;
			}
			sub = json_object();
			check_object(c, v, path, json_object_get(current, key), sub);
			if (json_object_size(sub))
				json_object_set(good, key, sub);
			json_decref(sub);
		} else if (c->mode == M_PATCH && json_object_get(current, key)) {
			add(c, msg_not_writable(c, path), path);
		} else {
			add(c, msg_unknown(c, path), path);
		}
	}
}

/* The value at a "A/B" path of obj, or NULL. */
static const json_t *path_get(const json_t *obj, const char *path)
{
	char buf[PATH_MAX_LEN], *save = NULL;
	const json_t *v = obj;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *t = strtok_r(buf, "/", &save); t && v; t = strtok_r(NULL, "/", &save))
		v = json_object_get(v, t);
	return v;
}

static void check_required(struct checker *c, const json_t *body)
{
	for (const struct rf_prop *p = c->props; p->name; p++) {
		if (!(p->flags & RF_P_REQUIRED) || path_get(body, p->name))
			continue;
		if (c->mode == M_ACTION)
			add(c, rf_msg(RF_MSG_ACTION_PARAMETER_MISSING, c->action, p->name, NULL),
			    NULL);
		else
			add(c, rf_msg(RF_MSG_PROPERTY_MISSING, p->name, NULL), p->name);
	}
}

int rf_patch_check(struct rf_call *call, const struct rf_prop *props, json_t **ret_changes,
                   json_t **ret_msgs)
{
	struct checker c = { .mode = M_PATCH, .props = props, .msgs = json_array() };
	const json_t *current = NULL;
	json_t *good;
	int status;

	if (!call->body || json_object_size(call->body) == 0) {
		json_decref(c.msgs);
		rf_reply_error(call, 400, rf_msg(RF_MSG_EMPTY_JSON, NULL));
		return -EINVAL;
	}
	status = rf_call_current(call, &current);
	if (status == 404) {
		json_decref(c.msgs);
		rf_reply_not_found(call);
		return -ENOENT;
	}
	good = json_object();
	check_object(&c, call->body, NULL, status == 0 ? current : NULL, good);
	if (json_object_size(good) == 0) {
		json_decref(good);
		if (json_array_size(c.msgs) == 0) /* only "@odata.etag" came */
			json_array_append_new(c.msgs, rf_msg(RF_MSG_NO_OPERATION, NULL));
		rf_reply_errors(call, 400, c.msgs);
		return -EINVAL;
	}
	*ret_changes = good;
	*ret_msgs = c.msgs;
	return 0;
}

void rf_reply_patched(struct rf_call *call, json_t *msgs)
{
	bool any = msgs && json_array_size(msgs) > 0;
	char etag[RF_ETAG_MAX];
	json_t *body;

	if (rf_get_etag(call, call->path, &body, etag) != 0) {
		/* Changed, but no longer shown to this caller. */
		if (any)
			rf_reply_json(call, 200, json_pack("{s:o}", "@Message.ExtendedInfo", msgs));
		else
			rf_reply_no_content(call);
		if (!any)
			json_decref(msgs);
		return;
	}
	body = rf_json_own(body);
	if (any)
		json_object_set_new(body, "@Message.ExtendedInfo", msgs);
	else
		json_decref(msgs);
	rf_reply_resource(call, body);
	/* The ETag of the resource as its GET gives it (the handler's own). */
	snprintf(call->priv->etag, sizeof(call->priv->etag), "%s", etag);
}

static int check_all(struct rf_call *call, struct checker *c, json_t **ret_vals)
{
	json_t *good = json_object();
	json_t *body = call->body ? call->body : json_object();

	check_object(c, body, NULL, NULL, good);
	check_required(c, body);
	if (body != call->body)
		json_decref(body);
	if (json_array_size(c->msgs)) {
		json_decref(good);
		rf_reply_errors(call, 400, c->msgs);
		return -EINVAL;
	}
	json_decref(c->msgs);
	*ret_vals = good;
	return 0;
}

int rf_create_check(struct rf_call *call, const struct rf_prop *props, json_t **ret_vals)
{
	struct checker c = { .mode = M_CREATE, .props = props, .msgs = json_array() };

	return check_all(call, &c, ret_vals);
}

int rf_action_check(struct rf_call *call, const char *action, const struct rf_prop *props,
                    json_t **ret_params)
{
	struct checker c = {
		.mode = M_ACTION, .action = action, .props = props, .msgs = json_array()
	};

	return check_all(call, &c, ret_params);
}
