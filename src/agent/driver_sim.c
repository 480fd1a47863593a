// SPDX-License-Identifier: MIT
/*
 * The sim compute driver: hosts that exist only in this process, for scale
 * tests of kumod and for the end-to-end tests of the control plane. Every
 * operation succeeds after a simulated delay (--sim-delay-ms, +-50% jitter),
 * except those chosen to fail: a random fraction (--sim-fail-rate), and the
 * creates of VMs and the attaches of volumes whose name contains
 * --sim-fail-match (deterministic error paths for tests). Facts come from
 * --sim-cpus/--sim-memory-mb/--sim-disk-gb.
 *
 * VM state lives in the journal, like with any driver (exec.c records it);
 * there is nothing else to simulate, so the ops only decide success.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/driver.h"
#include "common/json.h"
#include "common/util.h"

#define SIM_DEFAULT_DELAY_MS 200
#define SIM_DEFAULT_CPUS 32
#define SIM_DEFAULT_MEMORY_MB 131072
#define SIM_DEFAULT_DISK_GB 2000

struct driver_host {
	unsigned index;
	int64_t delay_ms;
	double fail_rate;
	char *fail_match; /* owned; NULL = none */
	int64_t cpus, memory_mb, disk_gb;
	uint64_t rng; /* xorshift64* state, never 0 */
};

struct sim_options {
	int64_t delay_ms, cpus, memory_mb, disk_gb;
	double fail_rate;
	const char *fail_match; /* weak */
};

static int parse_int(const struct config *cfg, const char *key, int64_t def, int64_t min,
                     int64_t max, int64_t *ret, struct driver_err *e)
{
	const char *s = config_str(cfg, "sim", key, NULL);
	char *end;
	long long v;

	if (!s) {
		*ret = def;
		return 0;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return driver_fail(e, "InvalidArgument",
		                   "sim %s: \"%s\" is not a whole number in %lld..%lld", key, s,
		                   (long long)min, (long long)max);
	*ret = v;
	return 0;
}

static int sim_options_parse(const struct config *cfg, struct sim_options *o, struct driver_err *e)
{
	const char *rate = config_str(cfg, "sim", "fail_rate", NULL);

	if (parse_int(cfg, "delay_ms", SIM_DEFAULT_DELAY_MS, 0, 3600 * 1000, &o->delay_ms, e) ||
	    parse_int(cfg, "cpus", SIM_DEFAULT_CPUS, 1, 1 << 20, &o->cpus, e) ||
	    parse_int(cfg, "memory_mb", SIM_DEFAULT_MEMORY_MB, 1, INT64_C(1) << 40, &o->memory_mb,
	              e) ||
	    parse_int(cfg, "disk_gb", SIM_DEFAULT_DISK_GB, 1, INT64_C(1) << 30, &o->disk_gb, e))
		return -EINVAL;
	o->fail_rate = 0;
	if (rate) {
		char *end;

		o->fail_rate = strtod(rate, &end);
		if (end == rate || *end || !(o->fail_rate >= 0 && o->fail_rate <= 1)) {
			driver_fail(e, "InvalidArgument",
			            "sim fail_rate: \"%s\" is not a number in 0..1", rate);
			return -EINVAL;
		}
	}
	o->fail_match = config_str(cfg, "sim", "fail_match", NULL);
	if (o->fail_match && !*o->fail_match)
		o->fail_match = NULL;
	return 0;
}

static int sim_check_config(const struct config *cfg, struct driver_err *e)
{
	struct sim_options o;

	return sim_options_parse(cfg, &o, e);
}

static int sim_host_new(const struct config *cfg, unsigned index, const struct driver_env *env,
                        struct driver_host **ret)
{
	struct driver_err e;
	struct sim_options o;
	struct driver_host *dh;

	if (sim_options_parse(cfg, &o, &e) < 0)
		return -EINVAL;
	dh = xcalloc(1, sizeof(*dh));
	dh->index = index;
	dh->delay_ms = o.delay_ms;
	dh->fail_rate = o.fail_rate;
	dh->fail_match = o.fail_match ? xstrdup(o.fail_match) : NULL;
	dh->cpus = o.cpus;
	dh->memory_mb = o.memory_mb;
	dh->disk_gb = o.disk_gb;
	dh->rng = ((uint64_t)now_ms() << 20) ^ ((uint64_t)getpid() << 40) ^
	          ((uint64_t)(index + 1) * UINT64_C(0x9E3779B97F4A7C15));
	if (!dh->rng)
		dh->rng = 1;
	*ret = dh;
	return 0;
}

static struct driver_host *sim_host_free(struct driver_host *dh)
{
	if (!dh)
		return NULL;
	free(dh->fail_match);
	free(dh);
	return NULL;
}

/* Uniform in [0, 1). */
static double sim_random(struct driver_host *dh)
{
	uint64_t x = dh->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	dh->rng = x;
	return (double)((x * UINT64_C(0x2545F4914F6CDD1D)) >> 11) / (double)(UINT64_C(1) << 53);
}

static void sim_facts(struct driver_host *dh, json_t *facts)
{
	jset_int(facts, "cpus", dh->cpus);
	jset_int(facts, "memory_mb", dh->memory_mb);
	jset_int(facts, "disk_gb", dh->disk_gb);
	jset_str(facts, "arch", "x86_64");
	jset_str(facts, "accel", "sim");
	jset_str(facts, "driver", "sim");
}

static int64_t sim_op_delay_ms(struct driver_host *dh, const char *type)
{
	if (dh->delay_ms <= 0)
		return 0;
	return (int64_t)((double)dh->delay_ms * (0.5 + sim_random(dh)));
}

/* The --sim-fail-rate roll every operation makes. */
static int sim_roll(struct driver_host *dh, const char *what, const char *id, struct driver_err *e)
{
	if (dh->fail_rate > 0 && sim_random(dh) < dh->fail_rate)
		return driver_fail(e, "SimulatedFailure",
		                   "simulated failure of %s %s (fail rate %g)", what, id ? id : "",
		                   dh->fail_rate);
	return 0;
}

static int sim_vm_create(struct driver_host *dh, const struct journal_vm *vm, struct driver_err *e)
{
	if (dh->fail_match && strstr(vm->name, dh->fail_match))
		return driver_fail(e, "SimulatedFailure",
		                   "simulated failure: vm name %s contains \"%s\"", vm->name,
		                   dh->fail_match);
	return sim_roll(dh, "create of vm", vm->id, e);
}

static int sim_vm_start(struct driver_host *dh, const struct journal_vm *vm, struct driver_err *e)
{
	return sim_roll(dh, "start of vm", vm->id, e);
}

static int sim_vm_stop(struct driver_host *dh, const struct journal_vm *vm, bool force,
                       struct driver_err *e)
{
	return sim_roll(dh, "stop of vm", vm->id, e);
}

static int sim_vm_reboot(struct driver_host *dh, const struct journal_vm *vm, struct driver_err *e)
{
	return sim_roll(dh, "reboot of vm", vm->id, e);
}

static int sim_vm_pause(struct driver_host *dh, const struct journal_vm *vm, struct driver_err *e)
{
	return sim_roll(dh, "pause of vm", vm->id, e);
}

static int sim_vm_resume(struct driver_host *dh, const struct journal_vm *vm, struct driver_err *e)
{
	return sim_roll(dh, "resume of vm", vm->id, e);
}

static int sim_vm_destroy(struct driver_host *dh, const struct journal_vm *vm, struct driver_err *e)
{
	return sim_roll(dh, "destroy of vm", vm->id, e);
}

static int sim_volume_create(struct driver_host *dh, const json_t *payload, struct driver_err *e)
{
	return sim_roll(dh, "create of volume", jstr(payload, "volume_id"), e);
}

static int sim_volume_delete(struct driver_host *dh, const json_t *payload, struct driver_err *e)
{
	return sim_roll(dh, "delete of volume", jstr(payload, "volume_id"), e);
}

static int sim_volume_attach(struct driver_host *dh, const struct journal_vm *vm,
                             const json_t *payload, struct driver_err *e)
{
	const char *name = jstr(json_object_get(payload, "volume"), "name");

	if (dh->fail_match && name && strstr(name, dh->fail_match))
		return driver_fail(e, "SimulatedFailure",
		                   "simulated failure: volume name %s contains \"%s\"", name,
		                   dh->fail_match);
	return sim_roll(dh, "attach of volume", jstr(payload, "volume_id"), e);
}

static int sim_volume_detach(struct driver_host *dh, const struct journal_vm *vm,
                             const json_t *payload, struct driver_err *e)
{
	return sim_roll(dh, "detach of volume", jstr(payload, "volume_id"), e);
}

/* Snapshots and resizes: nothing to keep, only success or a simulated
 * failure. */
static int sim_disk_op(struct driver_host *dh, const struct journal_vm *vm, const json_t *payload,
                       json_t *data, struct driver_err *e)
{
	return sim_roll(dh, "disk operation", vm ? vm->id : "", e);
}

const struct driver_ops driver_sim_ops = {
	.name = "sim",
	.check_config = sim_check_config,
	.host_new = sim_host_new,
	.host_free = sim_host_free,
	.facts = sim_facts,
	.op_delay_ms = sim_op_delay_ms,
	.vm_create = sim_vm_create,
	.vm_start = sim_vm_start,
	.vm_stop = sim_vm_stop,
	.vm_reboot = sim_vm_reboot,
	.vm_pause = sim_vm_pause,
	.vm_resume = sim_vm_resume,
	.vm_destroy = sim_vm_destroy,
	.volume_create = sim_volume_create,
	.volume_delete = sim_volume_delete,
	.volume_attach = sim_volume_attach,
	.volume_detach = sim_volume_detach,
	.snapshot_create = sim_disk_op,
	.snapshot_delete = sim_disk_op,
	.snapshot_revert = sim_disk_op,
	.volume_resize = sim_disk_op,
};
