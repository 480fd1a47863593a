// SPDX-License-Identifier: MIT
/*
 * Systems of the agent's Redfish service: "host", the machine the agent
 * runs on (a simulated one with the sim driver), and one ComputerSystem per
 * VM of the host, its id the VM's UUID. ComputerSystem.Reset of a VM runs
 * the VM's lifecycle actions through agent_host_vm_action() (channel.h),
 * taking turns with kumod's commands; kumod learns the new state from the
 * heartbeat sent at once. Reset of the host runs the operator's
 * [redfish] host_reset_command and is refused when there is none.
 *
 * What the machine is comes from the driver's facts (CPU count, memory:
 * what kumod schedules on), /proc/cpuinfo (the CPU model and sockets),
 * /proc/stat (boot time) and the DMI files in /sys/class/dmi/id when they
 * are readable. Nothing here keeps state: every answer is read fresh.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/channel.h"
#include "agent/net_link.h"
#include "agent/redfish_agent.h"
#include "common/buf.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"

#define SYSTEMS RF_ROOT "/Systems"
#define HOST_ID "host"
#define HOST_PATH SYSTEMS "/" HOST_ID
#define CHASSIS_BOX RF_ROOT "/Chassis/box"
#define MANAGER_AGENT RF_ROOT "/Managers/agent"
#define CS_VERSION "ComputerSystem.v1_27_0"
#define CS_TYPE "#" CS_VERSION ".ComputerSystem"
#define RESET_ACTION "ComputerSystem.Reset"
#define RESET_SUFFIX "/Actions/" RESET_ACTION
#define DMI_DIR "/sys/class/dmi/id"
#define INFO_MAX 128
#define CPUINFO_MAX (1024 * 1024)
#define SOCKETS_MAX 64
/* How long a reset waits for another operation on the VM (kumod's command,
 * the thermal controller's shutdown) before answering 409. */
#define RESET_WAIT_MS 5000
#define HOST_RESET_TIMEOUT_MS 30000
#define HOST_RESET_ARGS_MAX 32

/* ---- the machine ---------------------------------------------------------- */

struct host_info {
	int64_t logical;   /* logical CPUs; 0 = unknown */
	int64_t memory_mb; /* 0 = unknown */
	int sockets;       /* physical packages; 0 = unknown */
	int cores;         /* cores in all packages; 0 = unknown */
	bool simulated;    /* the sim driver's host: no /proc or DMI facts */
	char model[INFO_MAX];
	char vendor[INFO_MAX], product[INFO_MAX], serial[INFO_MAX], bios[INFO_MAX];
	char uuid[INFO_MAX];
	int64_t boot_ms; /* 0 = unknown */
};

/* The first line of a small file (a DMI field), trimmed, into out; ""
 * when it cannot be read (DMI serials need root) or holds nothing. */
static void read_field(const char *path, char *out, size_t outlen)
{
	char *s = NULL, *p;

	out[0] = '\0';
	if (file_read(path, 4096, &s, NULL) < 0)
		return;
	p = s + strspn(s, " \t");
	p[strcspn(p, "\n")] = '\0';
	str_rstrip(p);
	snprintf(out, outlen, "%s", p);
	free(s);
}

/* The value after "key\t: " on a /proc/cpuinfo line, or NULL. */
static const char *cpuinfo_value(const char *line, const char *key)
{
	size_t n = strlen(key);

	if (strncmp(line, key, n) != 0 || !strchr(" \t:", line[n]))
		return NULL;
	line += n + strspn(line + n, " \t");
	if (*line != ':')
		return NULL;
	return line + 1 + strspn(line + 1, " \t");
}

static void read_cpuinfo(struct host_info *hi)
{
	char *text = NULL, *save = NULL;
	bool seen[SOCKETS_MAX] = { false };
	int cores_per_socket = 0;

	if (file_read("/proc/cpuinfo", CPUINFO_MAX, &text, NULL) < 0)
		return;
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		const char *v;

		if (!hi->model[0] && (v = cpuinfo_value(l, "model name")))
			snprintf(hi->model, sizeof(hi->model), "%s", v);
		else if ((v = cpuinfo_value(l, "physical id"))) {
			int id = atoi(v);

			if (id >= 0 && id < SOCKETS_MAX && !seen[id]) {
				seen[id] = true;
				hi->sockets++;
			}
		} else if (!cores_per_socket && (v = cpuinfo_value(l, "cpu cores")))
			cores_per_socket = atoi(v);
	}
	free(text);
	str_rstrip(hi->model);
	if (hi->sockets && cores_per_socket > 0)
		hi->cores = hi->sockets * cores_per_socket;
}

static int64_t read_memory_mb(void)
{
	char *text = NULL;
	const char *p;
	long long kb = 0;

	if (file_read("/proc/meminfo", 64 * 1024, &text, NULL) < 0)
		return 0;
	p = strstr(text, "MemTotal:");
	if (p)
		sscanf(p, "MemTotal: %lld kB", &kb);
	free(text);
	return kb / 1024;
}

static int64_t read_boot_ms(void)
{
	char *text = NULL;
	const char *p;
	long long btime = 0;

	if (file_read("/proc/stat", 1024 * 1024, &text, NULL) < 0)
		return 0;
	p = strstr(text, "\nbtime ");
	if (p)
		sscanf(p + 1, "btime %lld", &btime);
	free(text);
	return btime * 1000;
}

/* What the machine is. The counts are the driver's facts when the node
 * has a host (the figures kumod schedules on; the sim driver's are
 * simulated, and then nothing of the real machine is shown). */
static void host_info_read(const struct rf_agent_ctx *ctx, struct host_info *hi)
{
	memset(hi, 0, sizeof(*hi));
	if (ctx->agent && ctx->host && ctx->agent->driver && ctx->agent->driver->facts) {
		json_t *facts = json_object();

		/* facts() reads what is fixed at the host's start: no lock needed */
		ctx->agent->driver->facts(agent_host_driver(ctx->host), facts);
		hi->logical = jint(facts, "cpus", 0);
		hi->memory_mb = jint(facts, "memory_mb", 0);
		hi->simulated = jstr(facts, "driver") && !strcmp(jstr(facts, "driver"), "sim");
		json_decref(facts);
	} else {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		hi->logical = n > 0 ? n : 0;
		hi->memory_mb = read_memory_mb();
	}
	if (hi->simulated)
		return;
	read_cpuinfo(hi);
	hi->boot_ms = read_boot_ms();
	read_field(DMI_DIR "/sys_vendor", hi->vendor, sizeof(hi->vendor));
	read_field(DMI_DIR "/product_name", hi->product, sizeof(hi->product));
	read_field(DMI_DIR "/product_serial", hi->serial, sizeof(hi->serial));
	read_field(DMI_DIR "/bios_version", hi->bios, sizeof(hi->bios));
	read_field(DMI_DIR "/product_uuid", hi->uuid, sizeof(hi->uuid));
	if (!uuid_valid(hi->uuid))
		hi->uuid[0] = '\0';
}

/* ---- pieces every system has ---------------------------------------------- */

/* "Links": the box and the agent, when this service serves them. */
static json_t *system_links(const struct rf_call *call)
{
	json_t *links = json_object();

	if (rf_service_has(call->svc, "GET", CHASSIS_BOX))
		json_object_set_new(links, "Chassis", json_pack("[o]", rf_link(CHASSIS_BOX)));
	if (rf_service_has(call->svc, "GET", MANAGER_AGENT))
		json_object_set_new(links, "ManagedBy", json_pack("[o]", rf_link(MANAGER_AGENT)));
	return links;
}

/* {"#ComputerSystem.Reset": {"target", "ResetType@Redfish.AllowableValues"}}. */
static json_t *reset_action(const char *system_path, const char *const *types)
{
	json_t *values = json_array();
	char *target = xasprintf("%s%s", system_path, RESET_SUFFIX);
	json_t *a;

	for (; *types; types++)
		json_array_append_new(values, json_string(*types));
	a = json_pack("{s:{s:s, s:o}}", "#" RESET_ACTION, "target", target,
	              "ResetType@Redfish.AllowableValues", values);
	free(target);
	return a;
}

/* Boot: no override (sushy reads it from every system). */
static json_t *boot_none(void)
{
	return json_pack("{s:s, s:s}", "BootSourceOverrideEnabled", "Disabled",
	                 "BootSourceOverrideTarget", "None");
}

static json_t *memory_summary(int64_t memory_mb)
{
	return json_pack("{s:f, s:{s:s, s:s}}", "TotalSystemMemoryGiB", (double)memory_mb / 1024.0,
	                 "Status", "State", "Enabled", "Health", "OK");
}

/* ---- the VMs ---------------------------------------------------------------- */

/* How a VM state of the agent (journal or driver) shows. */
static const struct vm_state_map {
	const char *state;
	const char *power;  /* PowerState; NULL: not shown */
	const char *status; /* Status.State */
	const char *health;
} vm_states[] = {
	{ "running", "On", "Enabled", "OK" },
	{ "stopped", "Off", "StandbyOffline", "OK" },
	{ "paused", "Paused", "Quiesced", "OK" },
	{ "creating", "PoweringOn", "Starting", "OK" },
	{ "starting", "PoweringOn", "Starting", "OK" },
	{ "rebooting", "PoweringOn", "Starting", "OK" },
	{ "stopping", "PoweringOff", "Enabled", "OK" },
	{ "pausing", "On", "Enabled", "OK" },
	{ "error", "Off", "UnavailableOffline", "Critical" },
};

static const struct vm_state_map unknown_state = { NULL, NULL, "UnavailableOffline", "Warning" };

static const struct vm_state_map *vm_state_find(const char *state)
{
	for (size_t i = 0; state && i < ARRAY_SIZE(vm_states); i++)
		if (!strcmp(vm_states[i].state, state))
			return &vm_states[i];
	return &unknown_state;
}

/* ResetType of a VM -> what the agent does. A reset asked of a VM that is
 * already where it would end (not the restarts) succeeds doing nothing,
 * as bmcweb does; one asked in a state not in `from` is a 409. */
static const struct vm_reset {
	const char *type;
	const char *action;      /* agent_host_vm_action() type */
	bool force;              /* vm.stop without waiting for the guest */
	const char *then;        /* a second action (GracefulRestart), or NULL */
	const char *const *from; /* the VM states it runs from */
	const char *done;        /* the state in which it is a no-op, or NULL */
} vm_resets[] = {
	{ "On", "vm.start", false, NULL, (const char *const[]){ "stopped", "error", NULL },
	  "running" },
	{ "ForceOff", "vm.stop", true, NULL,
	  (const char *const[]){ "running", "paused", "error", NULL }, "stopped" },
	{ "GracefulShutdown", "vm.stop", false, NULL,
	  (const char *const[]){ "running", "paused", NULL }, "stopped" },
	/* the qemu driver's vm.reboot is a hard reset (QMP system_reset):
	 * a graceful restart is a guest shutdown, then a start */
	{ "GracefulRestart", "vm.stop", false, "vm.start", (const char *const[]){ "running", NULL },
	  NULL },
	{ "ForceRestart", "vm.reboot", false, NULL, (const char *const[]){ "running", NULL },
	  NULL },
	{ "Pause", "vm.pause", false, NULL, (const char *const[]){ "running", NULL }, "paused" },
	{ "Resume", "vm.resume", false, NULL, (const char *const[]){ "paused", NULL }, "running" },
};

static const char *const vm_reset_types[] = {
	"On",           "ForceOff", "GracefulShutdown", "GracefulRestart",
	"ForceRestart", "Pause",    "Resume",           NULL
};

static const struct vm_reset *vm_reset_find(const char *type)
{
	for (size_t i = 0; type && i < ARRAY_SIZE(vm_resets); i++)
		if (!strcmp(vm_resets[i].type, type))
			return &vm_resets[i];
	return NULL;
}

static bool in_list(const char *const *list, const char *s)
{
	for (; s && *list; list++)
		if (!strcmp(*list, s))
			return true;
	return false;
}

/* The VM id of the node's host (a copy of its row), or NULL. */
static json_t *vm_find(const struct rf_agent_ctx *ctx, const char *id)
{
	json_t *vms, *v, *found = NULL;
	size_t i;

	if (!ctx->host || !id)
		return NULL;
	vms = agent_host_vms(ctx->host);
	json_array_foreach(vms, i, v)
	{
		if (jstr(v, "id") && !strcmp(jstr(v, "id"), id)) {
			found = json_incref(v);
			break;
		}
	}
	json_decref(vms);
	return found;
}

static json_t *vm_body(const struct rf_call *call, const json_t *vm)
{
	const char *id = jstr(vm, "id");
	const struct vm_state_map *st = vm_state_find(jstr(vm, "state"));
	char *path = xasprintf("%s/%s", SYSTEMS, id);
	int64_t vcpus = jint(vm, "vcpus", 1);
	json_t *links = system_links(call), *body;

	json_object_set_new(links, "HostingComputerSystem", rf_link(HOST_PATH));
	body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:{s:I, s:I, s:{s:s, s:s}}, "
	                 "s:o, s:o, s:o, s:o}",
	                 "@odata.id", path, "@odata.type", CS_TYPE, "Id", id, "Name",
	                 jstr(vm, "name") ? jstr(vm, "name") : id, "Description",
	                 "A virtual machine of this host", "SystemType", "Virtual", "Status",
	                 "State", st->status, "Health", st->health, "ProcessorSummary", "Count",
	                 (json_int_t)vcpus, "LogicalProcessorCount", (json_int_t)vcpus, "Status",
	                 "State", "Enabled", "Health", "OK", "MemorySummary",
	                 memory_summary(jint(vm, "memory_mb", 0)), "Boot", boot_none(), "Links",
	                 links, "Actions", reset_action(path, vm_reset_types));
	if (uuid_valid(id))
		jset_str(body, "UUID", id);
	if (st->power)
		jset_str(body, "PowerState", st->power);
	free(path);
	return body;
}

/* ---- handlers --------------------------------------------------------------- */

static void list_systems(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	json_t *paths = json_pack("[s]", HOST_PATH), *vms, *v;
	size_t i;

	if (ctx->host) {
		vms = agent_host_vms(ctx->host);
		json_array_foreach(vms, i, v)
		{
			json_array_append_new(paths, json_sprintf("%s/%s", SYSTEMS, jstr(v, "id")));
		}
		json_decref(vms);
	}
	rf_reply_resource(call, rf_collection_new(SYSTEMS, "ComputerSystemCollection",
	                                          "Computer System Collection", paths));
}

static const char *const host_reset_types[] = { "GracefulRestart", "ForceRestart", "PowerCycle",
	                                        NULL };

/* Is there a command to run (a word, not only blanks)? */
static bool host_reset_enabled(const struct rf_agent_ctx *ctx)
{
	const char *c = ctx->host_reset_command;

	return c && c[strspn(c, " \t")] != '\0';
}

static void get_host(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	struct host_info hi;
	json_t *body, *proc, *links, *vms, *v, *vm_links;
	char when[TIME_LEN];
	size_t i;

	host_info_read(ctx, &hi);
	links = system_links(call);
	if (ctx->host) {
		vm_links = json_array();
		vms = agent_host_vms(ctx->host);
		json_array_foreach(vms, i, v)
		{
			char *p = xasprintf("%s/%s", SYSTEMS, jstr(v, "id"));

			json_array_append_new(vm_links, rf_link(p));
			free(p);
		}
		json_decref(vms);
		json_object_set_new(links, "VirtualMachines", vm_links);
	}
	body = json_pack(
	    "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}, s:o, s:o}", "@odata.id",
	    HOST_PATH, "@odata.type", CS_TYPE, "Id", HOST_ID, "Name", ctx->hostname, "Description",
	    hi.simulated ? "The simulated host this agent runs" : "The machine this agent runs on",
	    "SystemType", "Physical", "HostName", ctx->hostname, "PowerState", "On", "Status",
	    "State", "Enabled", "Health", "OK", "Boot", boot_none(), "Links", links);
	proc = json_pack("{s:{s:s, s:s}}", "Status", "State", "Enabled", "Health", "OK");
	if (hi.logical > 0)
		jset_int(proc, "LogicalProcessorCount", hi.logical);
	if (hi.sockets > 0 || !hi.simulated)
		jset_int(proc, "Count", hi.sockets > 0 ? hi.sockets : 1);
	if (hi.cores > 0)
		jset_int(proc, "CoreCount", hi.cores);
	if (hi.model[0])
		jset_str(proc, "Model", hi.model);
	json_object_set_new(body, "ProcessorSummary", proc);
	if (hi.memory_mb > 0)
		json_object_set_new(body, "MemorySummary", memory_summary(hi.memory_mb));
	if (hi.vendor[0])
		jset_str(body, "Manufacturer", hi.vendor);
	if (hi.product[0])
		jset_str(body, "Model", hi.product);
	if (hi.serial[0])
		jset_str(body, "SerialNumber", hi.serial);
	if (hi.bios[0])
		jset_str(body, "BiosVersion", hi.bios);
	if (hi.uuid[0])
		jset_str(body, "UUID", hi.uuid);
	if (hi.boot_ms > 0) {
		time_format(hi.boot_ms, when);
		jset_str(body, "LastResetTime", when);
	}
	/* Without a command the action is not offered at all: clients that
	 * look (sushy, redfishtool) say so before they try. */
	json_object_set_new(body, "Actions",
	                    host_reset_enabled(ctx) ? reset_action(HOST_PATH, host_reset_types)
	                                            : json_object());
	rf_reply_resource(call, body);
}

static void get_vm(struct rf_call *call)
{
	json_t *vm = vm_find(call->data, rf_param(call, "id"));

	if (!vm) {
		rf_reply_not_found(call);
		return;
	}
	rf_reply_resource(call, vm_body(call, vm));
	json_decref(vm);
}

static const struct rf_prop host_reset_props[] = {
	{ .name = "ResetType",
	  .type = RF_T_STRING,
	  .flags = RF_P_REQUIRED,
	  .values = host_reset_types },
	{ 0 },
};

/* The operator's command, split on spaces, with the ResetType last.
 * NULL-terminated, in one allocation with *ret_copy. */
static char **host_reset_argv(const char *command, const char *type, char **ret_copy)
{
	char **argv = xcalloc(HOST_RESET_ARGS_MAX + 2, sizeof(*argv));
	char *copy = xstrdup(command), *save = NULL;
	int n = 0;

	for (char *t = strtok_r(copy, " \t", &save); t && n < HOST_RESET_ARGS_MAX;
	     t = strtok_r(NULL, " \t", &save))
		argv[n++] = t;
	argv[n] = (char *)type; /* a value of host_reset_types: never the client's bytes */
	*ret_copy = copy;
	return argv;
}

static void reset_host(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	const char *type;
	char **argv, *copy, why[256];
	json_t *params;
	struct buf err;
	int r;

	if (!host_reset_enabled(ctx)) {
		rf_reply_error(call, 400, rf_msg(RF_MSG_ACTION_NOT_SUPPORTED, RESET_ACTION, NULL));
		return;
	}
	if (rf_action_check(call, RESET_ACTION, host_reset_props, &params) < 0)
		return;
	/* the table's own string, which outlives params */
	type = host_reset_types[0];
	for (const char *const *t = host_reset_types; *t; t++)
		if (!strcmp(*t, jstr(params, "ResetType")))
			type = *t;
	json_decref(params);
	argv = host_reset_argv(ctx->host_reset_command, type, &copy);
	log_warn("redfish: host reset %s asked by %s: running %s %s", type, call->who.user,
	         ctx->host_reset_command, type);
	buf_init(&err, 4096);
	r = nl_run(argv, NULL, NULL, 0, NULL, &err, HOST_RESET_TIMEOUT_MS);
	if (r < 0) {
		nl_err_line(&err, why, sizeof(why));
		log_warn("redfish: host reset %s: %s failed: %s%s%s", type, argv[0],
		         r == -ETIMEDOUT ? "no exit within the time limit" : strerror(-r),
		         why[0] ? ": " : "", why);
		rf_reply_error(
		    call, 500,
		    rf_msg(r == -ETIMEDOUT ? RF_MSG_OPERATION_TIMEOUT : RF_MSG_OPERATION_FAILED,
		           NULL));
	} else {
		rf_reply_success(call, rf_msg(RF_MSG_SUCCESS, NULL));
	}
	buf_free(&err);
	free(argv);
	free(copy);
}

/* The 409 for a reset that does not apply to a VM in state. */
static void reply_wrong_state(struct rf_call *call, const struct vm_reset *rs, const char *state)
{
	const char *power = vm_state_find(state)->power;

	if (power && !strcmp(power, "Off"))
		rf_reply_error(call, 409, rf_msg(RF_MSG_RESOURCE_IN_STANDBY, NULL));
	else if (!power || !strncmp(power, "Powering", 8))
		rf_reply_error(call, 409, rf_msg(RF_MSG_RESOURCE_IN_USE, NULL));
	else
		rf_reply_error(
		    call, 409,
		    rf_msg(RF_MSG_ACTION_PARAMETER_VALUE_CONFLICT, "ResetType", rs->type, NULL));
}

/* Answers a failed agent_host_vm_action(); second: it was the second
 * step of a reset (the start of a GracefulRestart). */
static void reply_action_failed(struct rf_call *call, const struct vm_reset *rs, const char *id,
                                bool second, const struct driver_err *e)
{
	const char *code = e->code ? e->code : "";
	json_t *vm;

	if (!strcmp(code, "NotFound")) {
		rf_reply_not_found(call);
		return;
	}
	if (!strcmp(code, "Busy")) {
		rf_reply_error(call, 409, rf_msg(RF_MSG_RESOURCE_IN_USE, NULL));
		return;
	}
	if (!strcmp(code, "Interrupted")) {
		rf_reply_error(call, 503, rf_msg(RF_MSG_SERVICE_SHUTTING_DOWN, NULL));
		return;
	}
	/* the VM may have changed state while this waited for its turn (after
	 * a first step, it is where that step left it) */
	vm = vm_find(call->data, id);
	if (!vm) {
		rf_reply_not_found(call);
		return;
	}
	log_warn("redfish: %s %s of vm %s failed: %s", RESET_ACTION, rs->type, id, e->message);
	if (!second && !in_list(rs->from, jstr(vm, "state")))
		reply_wrong_state(call, rs, jstr(vm, "state"));
	else
		rf_reply_error(call, 500, rf_msg(RF_MSG_OPERATION_FAILED, NULL));
	json_decref(vm);
}

static const struct rf_prop vm_reset_props[] = {
	{ .name = "ResetType",
	  .type = RF_T_STRING,
	  .flags = RF_P_REQUIRED,
	  .values = vm_reset_types },
	{ 0 },
};

/* Unlocked (RF_UNLOCKED): a graceful shutdown takes as long as the guest
 * does, up to the driver's stop timeout, and other requests go on
 * meanwhile. The answer comes when the VM is where it was asked to be. */
static void reset_vm(struct rf_call *call)
{
	const struct rf_agent_ctx *ctx = call->data;
	const char *id = rf_param(call, "id");
	const struct vm_reset *rs;
	struct driver_err e = { NULL, "" };
	const char *state;
	bool second = false;
	json_t *vm, *params;
	char why[128];
	int r;

	vm = vm_find(ctx, id);
	if (!vm) {
		rf_reply_not_found(call);
		return;
	}
	if (rf_action_check(call, RESET_ACTION, vm_reset_props, &params) < 0) {
		json_decref(vm);
		return;
	}
	rs = vm_reset_find(jstr(params, "ResetType"));
	json_decref(params);
	assert(rs); /* the table and vm_reset_types agree */
	state = jstr(vm, "state");
	if (rs->done && state && !strcmp(state, rs->done)) {
		json_decref(vm);
		rf_reply_success(call, rf_msg(RF_MSG_SUCCESS, NULL));
		return;
	}
	if (!in_list(rs->from, state)) {
		reply_wrong_state(call, rs, state);
		json_decref(vm);
		return;
	}
	json_decref(vm);
	snprintf(why, sizeof(why), "Redfish %s %s by %s", RESET_ACTION, rs->type,
	         call->who.user[0] ? call->who.user : "?");
	r = agent_host_vm_action(ctx->host, id, rs->action, rs->force, RESET_WAIT_MS, why, &e);
	if (r == 0 && rs->then) {
		second = true;
		r = agent_host_vm_action(ctx->host, id, rs->then, false, RESET_WAIT_MS, why, &e);
	}
	if (r < 0) {
		reply_action_failed(call, rs, id, second, &e);
		return;
	}
	rf_reply_success(call, rf_msg(RF_MSG_SUCCESS, NULL));
}

static const struct rf_route routes[] = {
	{ "GET", SYSTEMS, list_systems, RF_PRIV_LOGIN, 0 },
	{ "GET", HOST_PATH, get_host, RF_PRIV_LOGIN, 0 },
	{ "POST", HOST_PATH RESET_SUFFIX, reset_host, RF_PRIV_CONFIGURE_COMPONENTS, RF_UNLOCKED },
	{ "GET", SYSTEMS "/{id}", get_vm, RF_PRIV_LOGIN, 0 },
	{ "POST", SYSTEMS "/{id}" RESET_SUFFIX, reset_vm, RF_PRIV_CONFIGURE_COMPONENTS,
	  RF_UNLOCKED },
	{ 0 },
};

static const char *const schemas[] = { CS_VERSION, "ComputerSystemCollection", NULL };

const struct rf_module rf_system_module = { "Systems", routes, schemas };
