// SPDX-License-Identifier: MIT
/*
 * kumo host sensors NAME|ID [--history SENSOR [--since T] [--until T]
 * [--limit N]]: a host's sensors as its agent last reported them (a table
 * of sensor, type, value, unit, status and context) followed by its thermal
 * summary, or with --history the points of one sensor (raw, then 5-minute
 * aggregates with their min and max). T is an RFC 3339 time or a duration
 * before now ("1h", "30m", "2d"), passed to the API as given. -o json
 * prints the API's answer as it is. The rest of the host commands are the
 * generic table in cli_table.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/buf.h"
#include "common/http_client.h"
#include "common/json.h"
#include "common/util.h"

#define SENSOR_COLUMNS "SENSOR:id,TYPE:type,VALUE:value,UNIT:unit,STATUS:status,CONTEXT:context"
#define HISTORY_COLUMNS "TIME:time,VALUE:value,MIN:min,MAX:max,SAMPLES:count"

/* One "label  text" line of the summary, the text cleaned for the terminal. */
static void line(FILE *out, const char *label, const char *text)
{
	char *t = xstrdup(text);

	cli_sanitize(t);
	fprintf(out, "%-12s %s\n", label, t);
	free(t);
}

static void num_line(FILE *out, const char *label, const json_t *v, const char *unit)
{
	char text[64];

	if (!json_is_number(v))
		return;
	snprintf(text, sizeof(text), "%g %s", json_number_value(v), unit);
	line(out, label, text);
}

static void print_thermal(FILE *out, const json_t *t)
{
	const json_t *alarms = json_object_get(t, "alarms"), *a;
	char text[256];
	size_t i;

	if (!json_is_object(t)) {
		line(out, "thermal", "no telemetry from this host yet");
		return;
	}
	snprintf(text, sizeof(text), "%s%s", jstr(t, "state") ? jstr(t, "state") : "unknown",
	         jbool(t, "stale", false) ? " (stale: no recent telemetry)" : "");
	line(out, "thermal", text);
	num_line(out, "headroom", json_object_get(t, "headroom_c"), "Cel");
	num_line(out, "cpu cap", json_object_get(t, "cpu_cap_pct"), "%");
	num_line(out, "coolant", json_object_get(t, "coolant_c"), "Cel");
	num_line(out, "power", json_object_get(t, "power_w"), "W");
	if (json_array_size(alarms) == 0)
		line(out, "alarms", "none");
	json_array_foreach(alarms, i, a)
	{
		snprintf(text, sizeof(text), "%s %s: %s", jstr(a, "severity"), jstr(a, "id"),
		         jstr(a, "message") ? jstr(a, "message") : "");
		line(out, i == 0 ? "alarms" : "", text);
	}
	if (jstr(t, "telemetry_at"))
		line(out, "reported", jstr(t, "telemetry_at"));
}

/* "?since=..&until=..&limit=.." from the flags given (escaped), or "". */
static char *history_query(const json_t *body)
{
	static const char *const keys[] = { "since", "until", "limit" };
	struct buf b;
	char *q;

	buf_init(&b, 4096);
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		const json_t *v = json_object_get(body, keys[i]);
		char *text, *e;

		if (!v)
			continue;
		text = cli_value_text(v);
		e = http_escape(text);
		buf_printf(&b, "%c%s=%s", b.len ? '&' : '?', keys[i], e);
		free(e);
		free(text);
	}
	q = xstrdup(b.len ? b.data : "");
	buf_free(&b);
	return q;
}

int cli_cmd_host_sensors(struct cli_ctx *ctx, const struct cli_group *g, const struct cli_verb *v,
                         struct cli_args *a)
{
	const char *sensor = jstr(a->body, "history");
	struct http_result res;
	char *id = NULL, *eid, *path;
	int r;

	(void)v;
	if (!sensor && (json_object_get(a->body, "since") || json_object_get(a->body, "until") ||
	                json_object_get(a->body, "limit"))) {
		fprintf(ctx->err, "error: --since, --until and --limit go with --history SENSOR\n");
		return CLI_EXIT_USAGE;
	}
	r = cli_lookup(ctx, g, a->pos[0], &id);
	if (r)
		return r;
	eid = http_escape(id);
	if (sensor) {
		char *es = http_escape(sensor), *q = history_query(a->body);

		path = xasprintf("/v1/hosts/%s/sensors/%s/history%s", eid, es, q);
		free(es);
		free(q);
	} else {
		path = xasprintf("/v1/hosts/%s/sensors", eid);
	}
	free(eid);
	free(id);
	r = cli_call(ctx, "GET", path, NULL, 0, &res);
	free(path);
	if (r)
		return r;
	if (ctx->g.output == CLI_OUT_JSON) {
		cli_print_raw(ctx->out, res.body, res.body_len);
	} else if (sensor) {
		cli_print_table(ctx->out, json_object_get(res.json, "items"), HISTORY_COLUMNS,
		                jint(res.json, "total", 0));
		if (jbool(res.json, "truncated", false))
			fprintf(ctx->err,
			        "(more points: narrow --since/--until or raise --limit)\n");
	} else {
		cli_print_table(ctx->out, json_object_get(res.json, "items"), SENSOR_COLUMNS,
		                jint(res.json, "total", 0));
		fputc('\n', ctx->out);
		print_thermal(ctx->out, json_object_get(res.json, "thermal"));
	}
	http_result_clear(&res);
	return CLI_EXIT_OK;
}
