// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for body validation: the input is parsed as JSON (as a
 * request body is) and validated, in full and in PATCH mode, against a
 * schema with nested objects, arrays of objects, enums, ranges and every
 * field type. Validation must never crash, and every refusal must carry
 * -EINVAL and a message.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/schema.h"

static const char *const state_enum[] = { "enabled", "disabled", "maintenance", NULL };
static const char *const service_enum[] = { "dhcp", "dns", "snat", "eip", NULL };

static const struct field range_fields[] = {
	{ .name = "start", .type = FT_STRING, .flags = F_REQUIRED, .min = 7, .max = 15 },
	{ .name = "end", .type = FT_STRING, .flags = F_REQUIRED, .min = 7, .max = 15 },
	{ 0 },
};
static const struct schema range_schema = { "IpRange", range_fields };

static const struct field nic_fields[] = {
	{ .name = "l3_network_id", .type = FT_UUID, .flags = F_REQUIRED },
	{ .name = "ip", .type = FT_STRING, .max = 15, .flags = F_NULLABLE },
	{ .name = "ranges", .type = FT_OBJECT_ARRAY, .max = 4, .sub = &range_schema },
	{ 0 },
};
static const struct schema nic_schema = { "Nic", nic_fields };

static const struct field facts_fields[] = {
	{ .name = "cpus", .type = FT_INT, .flags = F_REQUIRED, .min = 1, .max = 4096 },
	{ .name = "load", .type = FT_NUMBER, .min = 0, .max = 1000 },
	{ .name = "nics", .type = FT_OBJECT_ARRAY, .sub = &nic_schema },
	{ .name = "extra", .type = FT_ANY },
	{ 0 },
};
static const struct schema facts_schema = { NULL, facts_fields };

static const struct field body_fields[] = {
	{ .name = "name", .type = FT_NAME, .flags = F_REQUIRED },
	{ .name = "description", .type = FT_STRING },
	{ .name = "vcpus", .type = FT_INT, .min = 1, .max = 256 },
	{ .name = "count", .type = FT_INT, .min = 1 },
	{ .name = "force", .type = FT_BOOL },
	{ .name = "image_id", .type = FT_UUID },
	{ .name = "expires_at", .type = FT_TIME, .flags = F_NULLABLE },
	{ .name = "state", .type = FT_STRING, .enum_values = state_enum },
	{ .name = "ssh_keys", .type = FT_STRING_ARRAY, .max = 8 },
	{ .name = "services", .type = FT_STRING_ARRAY, .enum_values = service_enum },
	{ .name = "l3_network_ids", .type = FT_UUID_ARRAY, .min = 1 },
	{ .name = "ip_ranges", .type = FT_OBJECT_ARRAY, .sub = &range_schema },
	{ .name = "facts", .type = FT_OBJECT, .sub = &facts_schema },
	{ .name = "labels", .type = FT_OBJECT },
	{ .name = "user_data", .type = FT_ANY, .flags = F_NULLABLE },
	{ .name = "id", .type = FT_UUID, .flags = F_READONLY },
	{ .name = "password", .type = FT_STRING, .flags = F_WRITEONLY, .min = 8, .max = 128 },
	{ 0 },
};
static const struct schema body_schema = { "FuzzBody", body_fields };

static void check(const json_t *v, bool partial)
{
	struct kerr e;
	int r;

	kerr_clear(&e);
	r = schema_validate(&body_schema, v, partial, &e);
	if (r == 0) {
		if (!json_is_object(v) || e.code != 0)
			abort();
		return;
	}
	if (r != -EINVAL || e.code != -EINVAL || e.message[0] == '\0' ||
	    strlen(e.field) >= sizeof(e.field) || strlen(e.message) >= sizeof(e.message))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *v = jparse((const char *)data, size, NULL, 0);

	if (!v)
		return 0;
	check(v, false);
	check(v, true);
	json_decref(v);
	return 0;
}
