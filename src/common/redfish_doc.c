// SPDX-License-Identifier: MIT
/*
 * The documents every Redfish service of Kumo serves the same way
 * (redfish_doc.h).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/redfish_doc.h"

#define METADATA_MAX (256 * 1024)

void rf_doc_versions(struct rf_call *call)
{
	rf_reply_resource(call, json_pack("{s:s}", "v1", RF_ROOT "/"));
}

void rf_doc_odata(struct rf_call *call)
{
	json_t *root = NULL, *value, *v;
	const char *key;

	if (rf_get(call, RF_ROOT, &root) != 0) {
		rf_reply_internal(call);
		return;
	}
	value = json_pack("[{s:s, s:s, s:s}]", "name", "Service", "kind", "Singleton", "url",
	                  RF_ROOT "/");
	json_object_foreach(root, key, v)
	{
		const char *url = json_string_value(json_object_get(v, "@odata.id"));

		if (url && json_object_size(v) == 1)
			json_array_append_new(value, json_pack("{s:s, s:s, s:s}", "name", key,
			                                       "kind", "Singleton", "url", url));
	}
	json_decref(root);
	rf_reply_json(
	    call, 200,
	    json_pack("{s:s, s:o}", "@odata.context", RF_ROOT "/$metadata", "value", value));
}

static void collect(void *cls, const char *ns)
{
	json_array_append_new(cls, json_string(ns));
}

/* "Session" for "Session.v1_8_0" and for "Session". */
static size_t base_len(const char *ns)
{
	const char *dot = strchr(ns, '.');

	return dot ? (size_t)(dot - ns) : strlen(ns);
}

static bool has_name(const json_t *names, const char *ns)
{
	const json_t *v;
	size_t i;

	json_array_foreach(names, i, v)
	{
		if (strcmp(json_string_value(v), ns) == 0)
			return true;
	}
	return false;
}

/* One <edmx:Reference> per schema file, including the unversioned
 * namespace and each versioned one used. */
static void metadata_refs(struct buf *b, json_t *names)
{
	json_t *v, *w;
	size_t i, j;

	json_array_foreach(names, i, v)
	{
		const char *ns = json_string_value(v);
		size_t n = base_len(ns);
		bool seen = false;

		for (j = 0; j < i && !seen; j++) {
			const char *prev = json_string_value(json_array_get(names, j));

			seen = base_len(prev) == n && strncmp(prev, ns, n) == 0;
		}
		if (seen)
			continue;
		buf_printf(b,
		           "  <edmx:Reference Uri=\"" RF_SCHEMA_URI "%.*s_v1.xml\">\n"
		           "    <edmx:Include Namespace=\"%.*s\"/>\n",
		           (int)n, ns, (int)n, ns);
		json_array_foreach(names, j, w)
		{
			const char *other = json_string_value(w);

			if (base_len(other) == n && strncmp(other, ns, n) == 0 && other[n] == '.')
				buf_printf(b, "    <edmx:Include Namespace=\"%s\"/>\n", other);
		}
		buf_puts(b, "  </edmx:Reference>\n");
	}
}

void rf_doc_metadata(struct rf_call *call, const json_t *extra)
{
	json_t *names = json_array(), *v;
	struct buf b;
	size_t i, len;
	char *xml;

	rf_service_schemas(call->svc, collect, names);
	json_array_foreach(extra, i, v)
	{
		if (json_is_string(v) && !has_name(names, json_string_value(v)))
			json_array_append(names, v);
	}
	buf_init(&b, METADATA_MAX);
	buf_puts(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	             "<edmx:Edmx xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\" "
	             "Version=\"4.0\">\n");
	metadata_refs(&b, names);
	buf_puts(&b,
	         "  <edmx:Reference Uri=\"" RF_SCHEMA_URI "RedfishExtensions_v1.xml\">\n"
	         "    <edmx:Include Namespace=\"RedfishExtensions.v1_0_0\" Alias=\"Redfish\"/>\n"
	         "  </edmx:Reference>\n"
	         "  <edmx:DataServices>\n"
	         "    <Schema xmlns=\"http://docs.oasis-open.org/odata/ns/edm\" "
	         "Namespace=\"Service\">\n"
	         "      <EntityContainer Name=\"Service\" Extends=\"" RF_SERVICE_ROOT_TYPE
	         ".ServiceContainer\"/>\n"
	         "    </Schema>\n"
	         "  </edmx:DataServices>\n"
	         "</edmx:Edmx>\n");
	json_decref(names);
	len = b.len;
	xml = buf_steal(&b);
	rf_reply_raw(call, 200, "application/xml", xml, len);
	free(xml);
}

int rf_uuid_load(const char *path, char out[UUID_LEN + 1])
{
	char *s = NULL;
	int r;

	r = file_read(path, 256, &s, NULL);
	if (r == 0 && uuid_valid(str_rstrip(s))) {
		snprintf(out, UUID_LEN + 1, "%s", s);
	} else {
		char *line;

		uuid_new(out);
		line = xasprintf("%s\n", out);
		r = file_write_atomic(path, line, strlen(line), 0644);
		free(line);
	}
	free(s);
	return r;
}
