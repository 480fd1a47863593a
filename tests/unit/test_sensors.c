// SPDX-License-Identifier: MIT
/*
 * The agent's sensors (src/agent/sensors*.c) on real files: each test
 * writes a sysfs and a proc tree of its own (hwmon chips, RAPL zones,
 * /proc/stat, loadavg, meminfo) and points the registry at it. Discovery
 * finds what is there with the right units and thresholds; RAPL power is
 * the energy counter's rate and survives a wrap; CPU use comes from two
 * /proc/stat samples; a sensor that stops changing turns stuck and one
 * that goes away turns missing with a reason, keeping its last good
 * value; bad config is refused with the section and key named; the
 * ipmitool output parser and unit conversion; and the IPMI path with a
 * stand-in ipmitool script: the password never in argv, a hung ipmitool
 * killed after the timeout.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/sensors.h"
#include "common/config.h"
#include "common/util.h"

struct fixture {
	char dir[64];
	char sysfs[128];
	char proc[128];
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_sensors.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sysfs, sizeof(f->sysfs), "%s/sys", f->dir);
	snprintf(f->proc, sizeof(f->proc), "%s/proc", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char *cmd = xasprintf("rm -rf '%s'", f->dir);

	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(f);
	return 0;
}

/* Writes text to dir/rel, making the directories on the way. */
static void put(const char *dir, const char *rel, const char *fmt, ...)
{
	char *path = xasprintf("%s/%s", dir, rel), *parent = xstrdup(path), *text;
	va_list ap;
	FILE *fp;

	*strrchr(parent, '/') = '\0';
	assert_int_equal(mkdir_p(parent, 0755), 0);
	va_start(ap, fmt);
	assert_true(vasprintf(&text, fmt, ap) >= 0);
	va_end(ap);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	free(text);
	free(parent);
	free(path);
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* A config with the fixture's roots and whatever else is set later. */
static struct config *roots_config(const struct fixture *f)
{
	struct config *c = config_new();

	config_set(c, "sensors", "sysfs_root", f->sysfs);
	config_set(c, "sensors", "proc_root", f->proc);
	return c;
}

static struct sensors *open_ok(const struct config *c)
{
	struct sensors *s = NULL;
	struct kerr e;
	int r = sensors_new(c, &s, &e);

	if (r != 0)
		fail_msg("sensors_new: %s", e.message);
	assert_non_null(s);
	return s;
}

static struct sensor_reading get(struct sensors *s, const char *id)
{
	struct sensor_reading r;

	if (sensors_get(s, id, &r) != 0)
		fail_msg("no sensor %s", id);
	return r;
}

static void write_proc(const struct fixture *f, unsigned long busy, unsigned long idle)
{
	put(f->proc, "stat", "cpu  %lu 0 0 %lu 0 0 0 0 0 0\ncpu0 %lu 0 0 %lu 0 0 0 0 0 0\n", busy,
	    idle, busy, idle);
	put(f->proc, "loadavg", "1.50 0.75 0.25 2/100 1234\n");
	put(f->proc, "meminfo",
	    "MemTotal:        1000 kB\nMemFree:  100 kB\n"
	    "MemAvailable:     250 kB\n");
}

static void write_host(const struct fixture *f)
{
	put(f->sysfs, "class/hwmon/hwmon0/name", "coretemp\n");
	put(f->sysfs, "class/hwmon/hwmon0/temp1_input", "45000\n");
	put(f->sysfs, "class/hwmon/hwmon0/temp1_label", "Package id 0\n");
	put(f->sysfs, "class/hwmon/hwmon0/temp1_crit", "100000\n");
	put(f->sysfs, "class/hwmon/hwmon0/temp1_max", "80000\n");
	put(f->sysfs, "class/hwmon/hwmon0/temp2_input", "43500\n");
	put(f->sysfs, "class/hwmon/hwmon0/temp2_label", "Core 0\n");
	put(f->sysfs, "class/hwmon/hwmon1/name", "nct6775\n");
	put(f->sysfs, "class/hwmon/hwmon1/fan1_input", "1200\n");
	put(f->sysfs, "class/hwmon/hwmon1/fan1_min", "300\n");
	put(f->sysfs, "class/hwmon/hwmon1/power1_average", "15500000\n");
	put(f->sysfs, "class/hwmon/hwmon1/in0_input", "1200\n"); /* not discovered */
	put(f->sysfs, "class/hwmon/hwmon2/name", "nvme\n");
	put(f->sysfs, "class/hwmon/hwmon2/temp1_input", "38000\n");
	put(f->sysfs, "class/hwmon/hwmon10/name", "nvme\n");
	put(f->sysfs, "class/hwmon/hwmon10/temp1_input", "-5000\n");
	put(f->sysfs, "class/powercap/intel-rapl:0/name", "package-0\n");
	put(f->sysfs, "class/powercap/intel-rapl:0/energy_uj", "5000000\n");
	put(f->sysfs, "class/powercap/intel-rapl:0/max_energy_range_uj", "262143328850\n");
	put(f->sysfs, "class/powercap/intel-rapl:0:0/name", "core\n");
	put(f->sysfs, "class/powercap/intel-rapl:0:0/energy_uj", "1000\n");
	write_proc(f, 1000, 9000);
}

/* Discovery with no [sensor ...] section: every hwmon temperature, fan and
 * power input, the RAPL package, CPU use, load and memory, with units,
 * contexts and the chip's own thresholds. */
static void test_discover(void **state)
{
	struct fixture *f = *state;
	struct config *c;
	struct sensors *s;
	struct sensor_reading r;

	write_host(f);
	c = roots_config(f);
	s = open_ok(c);
	sleep_ms(120);
	sensors_poll(s);

	r = get(s, "CoretempPackageId0");
	assert_int_equal(r.status, SENSOR_OK);
	assert_float_equal(r.value, 45.0, 1e-9);
	assert_string_equal(r.unit, "Cel");
	assert_string_equal(r.type, "Temperature");
	assert_string_equal(r.context, "CPU");
	assert_string_equal(r.source, "hwmon:coretemp/temp1_input");
	assert_true(r.th.set[SENSOR_TH_UPPER_CRITICAL]);
	assert_float_equal(r.th.value[SENSOR_TH_UPPER_CRITICAL], 100.0, 1e-9);
	assert_float_equal(r.th.value[SENSOR_TH_UPPER_CAUTION], 80.0, 1e-9);
	assert_false(r.th.set[SENSOR_TH_LOWER_CRITICAL]);
	assert_float_equal(get(s, "CoretempCore0").value, 43.5, 1e-9);

	r = get(s, "Nct6775Fan1");
	assert_float_equal(r.value, 1200, 1e-9);
	assert_string_equal(r.unit, "{rev}/min");
	assert_string_equal(r.context, "Fan");
	assert_float_equal(r.th.value[SENSOR_TH_LOWER_CAUTION], 300, 1e-9);
	r = get(s, "Nct6775Power1");
	assert_float_equal(r.value, 15.5, 1e-9);
	assert_string_equal(r.unit, "W");
	assert_int_equal(sensors_get(s, "Nct6775In0", &r), -ENOENT);

	/* two chips named nvme: told apart by directory, hwmon10 after hwmon2 */
	r = get(s, "NvmeTemp1");
	assert_string_equal(r.source, "hwmon:hwmon2/temp1_input");
	assert_string_equal(r.context, "StorageDevice");
	r = get(s, "NvmeTemp1_2");
	assert_string_equal(r.source, "hwmon:hwmon10/temp1_input");
	assert_float_equal(r.value, -5.0, 1e-9);

	r = get(s, "CPU0Power");
	assert_string_equal(r.source, "rapl:package-0");
	assert_string_equal(r.unit, "W");
	assert_string_equal(r.context, "CPU");
	r = get(s, "CPU0Energy");
	assert_string_equal(r.unit, "J");
	assert_int_equal(r.status, SENSOR_OK);

	assert_string_equal(get(s, "CPUUtil").unit, "%");
	r = get(s, "CPULoad1");
	assert_null(r.type);
	assert_float_equal(r.value, 1.5, 1e-9);
	r = get(s, "MemoryUsed");
	assert_float_equal(r.value, 75.0, 1e-9);
	assert_string_equal(r.context, "Memory");
	assert_int_equal(sensors_count(s), 11);

	sensors_free(s);
	config_free(c);
}

/* A configured sensor turns discovery off unless discover = on. */
static void test_discover_modes(void **state)
{
	struct fixture *f = *state;
	struct config *c;
	struct sensors *s;

	write_host(f);
	c = roots_config(f);
	config_set(c, "sensor Coolant", "source", "hwmon:coretemp/temp1_input");
	s = open_ok(c);
	assert_int_equal(sensors_count(s), 1);
	sensors_free(s);
	config_set(c, "sensors", "discover", "on");
	s = open_ok(c);
	/* the configured one stands for coretemp's temp1 */
	assert_int_equal(sensors_count(s), 11);
	sensors_free(s);
	config_set(c, "sensors", "discover", "off");
	config_set(c, "sensor Coolant", "source", "model:coolant");
	config_set(c, "sensor Coolant", "type", "Temperature");
	s = open_ok(c);
	assert_int_equal(sensors_count(s), 1);
	sensors_free(s);
	config_free(c);
}

/* RAPL: power is the rate of energy_uj between two reads; the energy
 * sensor adds up the deltas and undoes a wrap at max_energy_range_uj. */
static void test_rapl(void **state)
{
	struct fixture *f = *state;
	struct sensor_reading r;
	struct config *c;
	struct sensors *s;
	int64_t t0, t1, tb, ta;
	double lo, hi;
	char *path;

	put(f->sysfs, "class/powercap/intel-rapl:0/name", "package-0\n");
	put(f->sysfs, "class/powercap/intel-rapl:0/energy_uj", "1000000\n");
	put(f->sysfs, "class/powercap/intel-rapl:0/max_energy_range_uj", "10000000\n");
	c = roots_config(f);
	config_set(c, "sensor Pkg", "source", "rapl:package-0");
	config_set(c, "sensor PkgEnergy", "source", "rapl:package-0");
	config_set(c, "sensor PkgEnergy", "type", "EnergyJoules");
	t0 = mono_ms();
	s = open_ok(c); /* the first sample: 1 J */
	t1 = mono_ms();
	sensors_poll(s);
	r = get(s, "Pkg");
	assert_int_equal(r.status, SENSOR_MISSING);
	assert_non_null(strstr(r.reason, "warming up"));
	assert_float_equal(get(s, "PkgEnergy").value, 0.0, 1e-9);

	sleep_ms(200);
	put(f->sysfs, "class/powercap/intel-rapl:0/energy_uj", "3000000\n"); /* +2 J */
	tb = mono_ms();
	sensors_poll(s);
	ta = mono_ms();
	/* the first sample was taken in [t0, t1], this one in [tb, ta] */
	lo = 2.0 / ((double)(ta - t0 + 1) / 1000.0);
	hi = 2.0 / ((double)(tb - t1 - 1) / 1000.0);
	r = get(s, "Pkg");
	assert_int_equal(r.status, SENSOR_OK);
	assert_string_equal(r.unit, "W");
	assert_true(r.value >= lo - 1e-6 && r.value <= hi + 1e-6);
	assert_float_equal(get(s, "PkgEnergy").value, 2.0, 1e-9);

	/* wrap: 3 J -> 10 J (the range) -> 0.5 J is 7.5 J more */
	sleep_ms(150);
	put(f->sysfs, "class/powercap/intel-rapl:0/energy_uj", "500000\n");
	sensors_poll(s);
	r = get(s, "PkgEnergy");
	assert_float_equal(r.value, 9.5, 1e-9);
	assert_string_equal(r.unit, "J");
	assert_true(get(s, "Pkg").value > 0);

	/* the zone goes away: missing, the last good value kept */
	put(f->sysfs, "class/powercap/intel-rapl:0/name", "gone\n");
	path = xasprintf("%s/class/powercap/intel-rapl:0/energy_uj", f->sysfs);
	assert_int_equal(unlink(path), 0);
	free(path);
	sensors_poll(s);
	r = get(s, "PkgEnergy");
	assert_int_equal(r.status, SENSOR_MISSING);
	assert_true(isnan(r.value));
	assert_true(r.has_last_good);
	assert_float_equal(r.last_good, 9.5, 1e-9);
	sensors_free(s);
	config_free(c);
}

/* CPU use: busy ticks over all ticks between two samples of /proc/stat. */
static void test_cpu_util(void **state)
{
	struct fixture *f = *state;
	struct sensor_reading r;
	struct config *c;
	struct sensors *s;

	write_proc(f, 100, 900);
	c = roots_config(f);
	config_set(c, "sensor Cpu", "source", "proc:cpu_util");
	config_set(c, "sensor Load5", "source", "proc:loadavg5");
	config_set(c, "sensor Mem", "source", "proc:mem_used_pct");
	s = open_ok(c);
	sensors_poll(s); /* right after the first sample: no rate yet */
	r = get(s, "Cpu");
	assert_int_equal(r.status, SENSOR_MISSING);
	assert_non_null(strstr(r.reason, "warming up"));
	sleep_ms(150);
	write_proc(f, 300, 1500); /* +200 busy of +800 */
	sensors_poll(s);
	r = get(s, "Cpu");
	assert_int_equal(r.status, SENSOR_OK);
	assert_float_equal(r.value, 25.0, 1e-9);
	assert_string_equal(r.type, "Percent");
	assert_float_equal(get(s, "Load5").value, 0.75, 1e-9);
	assert_string_equal(get(s, "Load5").unit, "1");
	assert_float_equal(get(s, "Mem").value, 75.0, 1e-9);
	sensors_free(s);
	config_free(c);
}

struct fake_model {
	double coolant;
	bool ok;
	int calls;
};

static double model_read(void *cls, const char *name, bool *ok)
{
	struct fake_model *m = cls;

	m->calls++;
	*ok = m->ok && !strcmp(name, "coolant");
	return m->coolant;
}

/* A model sensor: values from the callback; stuck after stuck_after
 * seconds unchanged (on the caller's clock), ok again when it moves;
 * missing when the model has no value or there is no model. */
static void test_stuck_and_missing(void **state)
{
	struct fixture *f = *state;
	struct fake_model m = { 20.0, true, 0 };
	struct sensor_reading r;
	struct config *c;
	struct sensors *s;

	c = roots_config(f);
	config_set(c, "sensor CoolantTemp", "source", "model:coolant");
	config_set(c, "sensor CoolantTemp", "type", "temperature");
	config_set(c, "sensor CoolantTemp", "context", "LiquidInlet");
	config_set(c, "sensor CoolantTemp", "upper_critical", "60");
	config_set(c, "sensor CoolantTemp", "stuck_after", "600");
	config_set(c, "sensor Other", "source", "model:other");
	config_set(c, "sensor Other", "type", "Power");
	s = open_ok(c);

	sensors_poll_at(s, 1000000);
	r = get(s, "CoolantTemp");
	assert_int_equal(r.status, SENSOR_MISSING);
	assert_string_equal(r.reason, "no model is running");

	sensors_set_model_source(s, model_read, &m);
	sensors_poll_at(s, 1000000);
	r = get(s, "CoolantTemp");
	assert_int_equal(r.status, SENSOR_OK);
	assert_string_equal(r.type, "Temperature");
	assert_string_equal(r.unit, "Cel");
	assert_string_equal(r.context, "LiquidInlet");
	assert_float_equal(r.value, 20.0, 1e-9);
	assert_int_equal(sensor_reading_health(&r), SENSOR_HEALTH_OK);
	assert_int_equal(get(s, "Other").status, SENSOR_MISSING);
	assert_non_null(strstr(get(s, "Other").reason, "no value for other"));

	sensors_poll_at(s, 1000000 + 599000); /* unchanged for 599 s */
	assert_int_equal(get(s, "CoolantTemp").status, SENSOR_OK);
	sensors_poll_at(s, 1000000 + 600000);
	r = get(s, "CoolantTemp");
	assert_int_equal(r.status, SENSOR_STUCK);
	assert_non_null(strstr(r.reason, "unchanged at 20 for 600 s"));
	assert_float_equal(r.value, 20.0, 1e-9);
	assert_int_equal(r.last_good_ms, 1000000 + 599000);
	assert_int_equal(sensor_reading_health(&r), SENSOR_HEALTH_WARNING);

	m.coolant = 61.0;
	sensors_poll_at(s, 1000000 + 601000);
	r = get(s, "CoolantTemp");
	assert_int_equal(r.status, SENSOR_OK);
	assert_string_equal(r.reason, "");
	assert_int_equal(sensor_reading_health(&r), SENSOR_HEALTH_CRITICAL);

	m.ok = false;
	sensors_poll_at(s, 1000000 + 602000);
	r = get(s, "CoolantTemp");
	assert_int_equal(r.status, SENSOR_MISSING);
	assert_true(isnan(r.value));
	assert_float_equal(r.last_good, 61.0, 1e-9);
	assert_int_equal(r.last_good_ms, 1000000 + 601000);
	assert_true(m.calls >= 5);
	sensors_free(s);
	config_free(c);
}

/* A hwmon input that disappears is missing with the path in the reason;
 * when its chip comes back under another hwmonN it is found again. */
static void test_hwmon_gone_and_back(void **state)
{
	struct fixture *f = *state;
	struct sensor_reading r;
	struct config *c;
	struct sensors *s;
	char *cmd;

	put(f->sysfs, "class/hwmon/hwmon3/name", "k10temp\n");
	put(f->sysfs, "class/hwmon/hwmon3/temp1_input", "51000\n");
	c = roots_config(f);
	config_set(c, "sensor CPU0Temp", "source", "hwmon:k10temp/temp1_input");
	s = open_ok(c);
	sensors_poll(s);
	assert_float_equal(get(s, "CPU0Temp").value, 51.0, 1e-9);
	assert_string_equal(get(s, "CPU0Temp").context, "CPU");

	cmd = xasprintf("rm -rf '%s/class/hwmon/hwmon3'", f->sysfs);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	sensors_poll(s);
	r = get(s, "CPU0Temp");
	assert_int_equal(r.status, SENSOR_MISSING);
	assert_non_null(strstr(r.reason, "no hwmon chip named k10temp"));
	assert_float_equal(r.last_good, 51.0, 1e-9);

	put(f->sysfs, "class/hwmon/hwmon7/name", "k10temp\n");
	put(f->sysfs, "class/hwmon/hwmon7/temp1_input", "52000\n");
	sensors_poll(s);
	r = get(s, "CPU0Temp");
	assert_int_equal(r.status, SENSOR_OK);
	assert_float_equal(r.value, 52.0, 1e-9);

	put(f->sysfs, "class/hwmon/hwmon7/temp1_input", "garbage\n");
	sensors_poll(s);
	r = get(s, "CPU0Temp");
	assert_int_equal(r.status, SENSOR_MISSING);
	assert_non_null(strstr(r.reason, "hwmon7/temp1_input"));
	sensors_free(s);
	config_free(c);
}

/* Bad config never makes a registry; the message names what is wrong. */
static void test_config_errors(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *section, *key, *value, *want;
	} cases[] = {
		{ "sensor A", "sorce", "proc:cpu_util", "unknown key sorce" },
		{ "sensor 9x", "source", "proc:cpu_util", "[sensor 9x]" },
		{ "sensor", "source", "proc:cpu_util", "[sensor ID]" },
		{ "sensor A", "source", "nothing:here", "a source is hwmon:" },
		{ "sensor A", "source", "proc:cpu_util\n", "not printable" },
		{ "sensor A", "source", "model:coolant", "a type is needed" },
		{ "sensor A", "source", "ipmi:CPU Temp", "a type is needed" },
		{ "sensor A", "source", "proc:uptime", "not cpu_util" },
		{ "sensor A", "source", "hwmon:../x/temp1_input", "not <chip>/<input file>" },
		{ "sensor A", "source", "hwmon:coretemp/temp1_crit", "is not a temp" },
		{ "sensor A", "source", "rapl:a/b/c", "not a zone" },
		{ "sensors", "discover", "maybe", "auto, on or off" },
		{ "sensors", "colour", "red", "unknown key colour" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct config *c = roots_config(f);
		struct sensors *s = NULL;
		struct kerr e;

		config_set(c, cases[i].section, cases[i].key, cases[i].value);
		assert_int_equal(sensors_new(c, &s, &e), -EINVAL);
		assert_null(s);
		if (!strstr(e.message, cases[i].want))
			fail_msg("case %zu: '%s' does not say '%s'", i, e.message, cases[i].want);
		config_free(c);
	}
}

static void expect_error(const struct config *c, const char *want)
{
	struct sensors *s = NULL;
	struct kerr e;

	assert_int_equal(sensors_new(c, &s, &e), -EINVAL);
	assert_null(s);
	if (!strstr(e.message, want))
		fail_msg("'%s' does not say '%s'", e.message, want);
}

/* Type, context, threshold and [ipmi] errors. */
static void test_config_errors_more(void **state)
{
	struct fixture *f = *state;
	struct config *c = roots_config(f);
	char *pw = xasprintf("%s/pw", f->dir);

	config_set(c, "sensor T", "source", "hwmon:coretemp/temp1_input");
	config_set(c, "sensor T", "type", "Power");
	expect_error(c, "reads Temperature, not Power");
	config_set(c, "sensor T", "type", "Warmth");
	expect_error(c, "unknown type Warmth");
	config_set(c, "sensor T", "type", "Temperature");
	config_set(c, "sensor T", "context", "Kitchen");
	expect_error(c, "unknown context Kitchen");
	config_set(c, "sensor T", "context", "cpu");
	config_set(c, "sensor T", "upper_critical", "hot");
	expect_error(c, "upper_critical: hot is not a number");
	config_set(c, "sensor T", "upper_critical", "90");
	config_set(c, "sensor T", "stuck_after", "-1");
	expect_error(c, "stuck_after");
	config_set(c, "sensor T", "stuck_after", "0");

	config_set(c, "sensor B", "source", "ipmi:CPU Temp");
	config_set(c, "sensor B", "type", "Temperature");
	expect_error(c, "no [ipmi] section");
	config_set(c, "ipmi", "host", "127.0.0.1");
	config_set(c, "ipmi", "port", "99999");
	expect_error(c, "[ipmi] port");
	config_set(c, "ipmi", "port", "623");
	config_set(c, "ipmi", "host", "-oProxyCommand=x");
	expect_error(c, "[ipmi] host");
	config_set(c, "ipmi", "host", "127.0.0.1");
	config_set(c, "ipmi", "interface", "serial");
	expect_error(c, "lanplus or lan");
	config_set(c, "ipmi", "interface", "lan");
	put(f->dir, "pw", "secret");
	chmod(pw, 0644);
	config_set(c, "ipmi", "password_file", pw);
	expect_error(c, "can be read by others");
	chmod(pw, 0600);
	config_set(c, "ipmi", "pasword", "x");
	expect_error(c, "unknown key pasword");

	{
		struct config *ok = roots_config(f);
		struct sensors *s;

		config_set(ok, "sensor T", "source", "hwmon:coretemp/temp1_input");
		config_set(ok, "sensor T", "context", "cpu");
		config_set(ok, "ipmi", "host", "127.0.0.1");
		config_set(ok, "ipmi", "password_file", pw);
		config_set(ok, "sensor B", "source", "ipmi:CPU Temp");
		config_set(ok, "sensor B", "type", "Temperature");
		s = open_ok(ok);
		assert_string_equal(get(s, "T").context, "CPU");
		/* the hwmon chip is not there: missing, not an error */
		sensors_poll_at(s, 1000);
		assert_int_equal(get(s, "T").status, SENSOR_MISSING);
		sensors_free(s);
		config_free(ok);
	}
	free(pw);
	config_free(c);
}

/* sensors_add: the integrator's model sensors; ids are checked and unique. */
static void test_add(void **state)
{
	struct fixture *f = *state;
	struct config *c = roots_config(f);
	struct sensor_def d = { .id = "HeaterPower", .source = "model:heater", .type = "Power" };
	struct sensors *s;
	struct kerr e;

	config_set(c, "sensors", "discover", "off");
	s = open_ok(c);
	assert_int_equal(sensors_add(s, &d, &e), 0);
	assert_int_equal(sensors_add(s, &d, &e), -EEXIST);
	d.id = "Heater Power";
	assert_int_equal(sensors_add(s, &d, &e), -EINVAL);
	d.id = "Fan1";
	d.source = "model:fan1";
	d.type = "Percent";
	d.context = "Fan";
	d.th.set[SENSOR_TH_UPPER_CAUTION] = true;
	d.th.value[SENSOR_TH_UPPER_CAUTION] = NAN;
	assert_int_equal(sensors_add(s, &d, &e), -EINVAL);
	d.th.value[SENSOR_TH_UPPER_CAUTION] = 95;
	assert_int_equal(sensors_add(s, &d, &e), 0);
	assert_int_equal(sensors_count(s), 2);
	assert_string_equal(get(s, "HeaterPower").context, "Chassis");
	assert_string_equal(get(s, "Fan1").unit, "%");
	sensors_free(s);
	config_free(c);
}

/* The JSON form of a reading: Redfish names, null value when missing. */
static void test_json(void **state)
{
	struct fixture *f = *state;
	struct fake_model m = { 42.5, true, 0 };
	struct config *c = roots_config(f);
	struct sensors *s;
	json_t *a, *o;

	config_set(c, "sensor CoolantTemp", "source", "model:coolant");
	config_set(c, "sensor CoolantTemp", "name", "Coolant temperature");
	config_set(c, "sensor CoolantTemp", "type", "Temperature");
	config_set(c, "sensor CoolantTemp", "context", "LiquidInlet");
	config_set(c, "sensor CoolantTemp", "upper_critical", "60");
	config_set(c, "sensor CoolantTemp", "lower_caution", "5");
	s = open_ok(c);
	sensors_set_model_source(s, model_read, &m);
	sensors_poll(s);
	a = sensors_json(s);
	assert_int_equal(json_array_size(a), 1);
	o = json_array_get(a, 0);
	assert_string_equal(json_string_value(json_object_get(o, "id")), "CoolantTemp");
	assert_string_equal(json_string_value(json_object_get(o, "name")), "Coolant temperature");
	assert_string_equal(json_string_value(json_object_get(o, "unit")), "Cel");
	assert_string_equal(json_string_value(json_object_get(o, "type")), "Temperature");
	assert_string_equal(json_string_value(json_object_get(o, "context")), "LiquidInlet");
	assert_string_equal(json_string_value(json_object_get(o, "status")), "ok");
	assert_float_equal(json_real_value(json_object_get(o, "value")), 42.5, 1e-9);
	assert_true(json_is_null(json_object_get(o, "reason")));
	assert_float_equal(
	    json_real_value(json_object_get(json_object_get(o, "thresholds"), "UpperCritical")), 60,
	    1e-9);
	assert_float_equal(
	    json_real_value(json_object_get(json_object_get(o, "thresholds"), "LowerCaution")), 5,
	    1e-9);
	assert_true(json_is_string(json_object_get(o, "time")));
	json_decref(a);

	m.ok = false;
	sensors_poll(s);
	a = sensors_json(s);
	o = json_array_get(a, 0);
	assert_string_equal(json_string_value(json_object_get(o, "status")), "missing");
	assert_true(json_is_null(json_object_get(o, "value")));
	assert_non_null(strstr(json_string_value(json_object_get(o, "reason")), "coolant"));
	assert_float_equal(json_real_value(json_object_get(o, "last_good_value")), 42.5, 1e-9);
	assert_string_equal(json_string_value(json_object_get(o, "health")), "Warning");
	json_decref(a);
	sensors_free(s);
	config_free(c);
}

/* `ipmitool sdr elist full` lines, odd ones included. */
static void test_ipmi_parse(void **state)
{
	static const char out[] = "Coolant Temp     | 01h | ok  |  7.1 | 42 degrees C\n"
	                          "Fan1             | 02h | ok  |  7.1 | 3000 RPM\n"
	                          "PSU Power        | 03h | ok  |  7.1 | 200 Watts\n"
	                          "Rail 12V         | 04h | ok  |  7.1 | 12.05 Volts\n"
	                          "Ghost Temp       | 05h | ns  |  7.1 | No Reading\n"
	                          "Inlet F          | 06h | ok  |  7.1 | 95 degrees F\n"
	                          "PS1 Status       | 07h | ok  | 10.1 | Presence detected\n"
	                          "Odd|Name         | 08h | ok  |  7.1 | -3.5 degrees C\n"
	                          "Watchdog         | 09h | ok  |  7.1 | 0x01\n"
	                          "not a sensor line\n"
	                          "\n";
	struct ipmi_row *rows;
	char reason[SENSOR_REASON_MAX];
	size_t n;
	double v;

	assert_int_equal(ipmi_parse_elist(out, &rows, &n), 0);
	assert_int_equal(n, 9);
	assert_string_equal(rows[0].name, "Coolant Temp");
	assert_string_equal(rows[0].status, "ok");
	assert_true(rows[0].has_value);
	assert_float_equal(rows[0].value, 42, 1e-9);
	assert_string_equal(rows[0].unit, "degrees C");
	assert_int_equal(ipmi_row_value(&rows[0], "Temperature", &v, reason, sizeof(reason)), 0);
	assert_float_equal(v, 42, 1e-9);
	assert_int_equal(ipmi_row_value(&rows[1], "Rotational", &v, reason, sizeof(reason)), 0);
	assert_float_equal(v, 3000, 1e-9);
	assert_int_equal(ipmi_row_value(&rows[2], "Power", &v, reason, sizeof(reason)), 0);
	assert_int_equal(ipmi_row_value(&rows[3], "Voltage", &v, reason, sizeof(reason)), 0);
	assert_float_equal(v, 12.05, 1e-9);
	assert_false(rows[4].has_value);
	assert_string_equal(rows[4].status, "ns");
	assert_int_equal(ipmi_row_value(&rows[4], "Temperature", &v, reason, sizeof(reason)),
	                 -EINVAL);
	assert_non_null(strstr(reason, "no reading for Ghost Temp (status ns)"));
	assert_int_equal(ipmi_row_value(&rows[5], "Temperature", &v, reason, sizeof(reason)), 0);
	assert_float_equal(v, 35, 1e-9);
	assert_false(rows[6].has_value);
	assert_string_equal(rows[7].name, "Odd|Name");
	assert_float_equal(rows[7].value, -3.5, 1e-9);
	assert_false(rows[8].has_value);
	/* the wrong unit for the sensor's type */
	assert_int_equal(ipmi_row_value(&rows[3], "Temperature", &v, reason, sizeof(reason)),
	                 -EINVAL);
	assert_non_null(strstr(reason, "'Volts', not a Temperature"));
	free(rows);
	assert_int_equal(ipmi_parse_elist("", &rows, &n), 0);
	assert_int_equal(n, 0);
}

static bool argv_has(char **argv, const char *s)
{
	for (size_t i = 0; argv[i]; i++)
		if (strstr(argv[i], s))
			return true;
	return false;
}

/* The ipmitool command line: -f FILE or -E, never the password. */
static void test_ipmi_argv(void **state)
{
	struct fixture *f = *state;
	struct config *c = config_new();
	char *pw = xasprintf("%s/pw", f->dir);
	struct ipmi_conf *cf;
	struct kerr e;
	char **argv;

	config_set(c, "ipmi", "host", "10.0.0.5");
	config_set(c, "ipmi", "user", "admin");
	config_set(c, "ipmi", "password", "Sup3rSecret");
	assert_int_equal(ipmi_conf_load(c, &cf, &e), 0);
	argv = ipmi_argv(cf);
	assert_string_equal(argv[0], "ipmitool");
	assert_true(argv_has(argv, "-E"));
	assert_true(argv_has(argv, "USER")); /* least privilege unless configured */
	assert_true(argv_has(argv, "lanplus"));
	assert_true(argv_has(argv, "-C"));
	assert_false(argv_has(argv, "Sup3rSecret"));
	assert_false(argv_has(argv, "-P"));
	ipmi_argv_free(argv);
	ipmi_conf_free(cf);

	put(f->dir, "pw", "Sup3rSecret");
	chmod(pw, 0600);
	config_free(c);
	c = config_new();
	config_set(c, "ipmi", "host", "bmc.example");
	config_set(c, "ipmi", "interface", "lan");
	config_set(c, "ipmi", "password_file", pw);
	assert_int_equal(ipmi_conf_load(c, &cf, &e), 0);
	argv = ipmi_argv(cf);
	assert_true(argv_has(argv, pw));
	assert_false(argv_has(argv, "-E"));
	assert_false(argv_has(argv, "-C"));
	assert_false(argv_has(argv, "Sup3rSecret"));
	ipmi_argv_free(argv);
	ipmi_conf_free(cf);

	config_free(c);
	c = config_new();
	assert_int_equal(ipmi_conf_load(c, &cf, &e), 0);
	assert_null(cf);
	config_free(c);
	free(pw);
}

/* The whole IPMI path with a stand-in ipmitool: a script that records its
 * argv and IPMI_PASSWORD and prints canned rows. */
static void test_ipmi_query(void **state)
{
	struct fixture *f = *state;
	char *tool = xasprintf("%s/fake-ipmitool", f->dir);
	char *log = xasprintf("%s/fake.log", f->dir), *text = NULL;
	struct config *c = roots_config(f);
	struct sensor_reading r;
	struct sensors *s;
	size_t len;
	char *nl;

	put(f->dir, "fake-ipmitool",
	    "#!/bin/sh\n"
	    "echo \"argv: $*\" > '%s'\n"
	    "echo \"env: $IPMI_PASSWORD\" >> '%s'\n"
	    "echo 'Inlet Temp       | 01h | ok  |  7.1 | 31 degrees C'\n"
	    "echo 'Fan 2            | 02h | ok  |  7.1 | 4200 RPM'\n",
	    log, log);
	chmod(tool, 0755);
	config_set(c, "ipmi", "host", "127.0.0.1");
	config_set(c, "ipmi", "password", "Sup3rSecret");
	config_set(c, "ipmi", "ipmitool", tool);
	config_set(c, "sensor InletTemp", "source", "ipmi:Inlet Temp");
	config_set(c, "sensor InletTemp", "type", "Temperature");
	config_set(c, "sensor Fan2", "source", "ipmi:Fan 2");
	config_set(c, "sensor Fan2", "type", "Rotational");
	config_set(c, "sensor Fan3", "source", "ipmi:Fan 3");
	config_set(c, "sensor Fan3", "type", "Rotational");
	s = open_ok(c);
	sensors_poll_at(s, 1000);
	r = get(s, "InletTemp");
	if (r.status == SENSOR_MISSING) /* the query runs in the background */
		assert_non_null(strstr(r.reason, "BMC"));
	sensors_poll_wait(s);
	r = get(s, "InletTemp");
	assert_int_equal(r.status, SENSOR_OK);
	assert_float_equal(r.value, 31, 1e-9);
	assert_float_equal(get(s, "Fan2").value, 4200, 1e-9);
	r = get(s, "Fan3");
	assert_int_equal(r.status, SENSOR_MISSING);
	assert_non_null(strstr(r.reason, "no sensor named Fan 3"));
	assert_int_equal(file_read(log, 4096, &text, &len), 0);
	assert_non_null(strstr(text, "sdr elist full"));
	assert_non_null(strstr(text, "-H 127.0.0.1"));
	nl = strchr(text, '\n');
	assert_non_null(nl);
	*nl = '\0'; /* the argv line */
	assert_null(strstr(text, "Sup3rSecret"));
	assert_non_null(strstr(nl + 1, "env: Sup3rSecret"));
	assert_null(getenv("IPMI_PASSWORD"));
	free(text);
	sensors_free(s);
	config_free(c);
	free(tool);
	free(log);
}

/* An ipmitool that hangs is killed after [ipmi] timeout; its sensors are
 * missing with that reason and the caller waited no longer than that. */
static void test_ipmi_timeout(void **state)
{
	struct fixture *f = *state;
	char *tool = xasprintf("%s/hung-ipmitool", f->dir);
	char *pidfile = xasprintf("%s/hung.pid", f->dir), *text = NULL;
	struct config *c = roots_config(f);
	struct sensor_reading r;
	struct sensors *s;
	int64_t t0;
	size_t len;
	int pid;

	put(f->dir, "hung-ipmitool", "#!/bin/sh\necho $$ > '%s'\nexec sleep 30\n", pidfile);
	chmod(tool, 0755);
	config_set(c, "ipmi", "host", "127.0.0.1");
	config_set(c, "ipmi", "ipmitool", tool);
	config_set(c, "ipmi", "timeout", "1");
	config_set(c, "sensor T", "source", "ipmi:T");
	config_set(c, "sensor T", "type", "Temperature");
	s = open_ok(c);
	t0 = mono_ms();
	sensors_poll(s); /* does not wait */
	assert_true(mono_ms() - t0 < 500);
	assert_int_equal(get(s, "T").status, SENSOR_MISSING);
	assert_non_null(strstr(get(s, "T").reason, "waiting for the first answer"));
	sensors_poll_wait(s);
	assert_true(mono_ms() - t0 < 3500);
	r = get(s, "T");
	assert_int_equal(r.status, SENSOR_MISSING);
	assert_non_null(strstr(r.reason, "did not answer within 1 s (killed)"));
	assert_int_equal(file_read(pidfile, 64, &text, &len), 0);
	pid = atoi(text);
	assert_true(pid > 0);
	assert_int_equal(kill(pid, 0), -1); /* gone */
	assert_int_equal(errno, ESRCH);
	free(text);

	/* a program that is not there */
	sensors_free(s);
	config_set(c, "ipmi", "ipmitool", "/nonexistent/ipmitool");
	s = open_ok(c);
	sensors_poll_wait(s);
	assert_non_null(strstr(get(s, "T").reason, "cannot run /nonexistent/ipmitool"));
	sensors_free(s);
	config_free(c);
	free(tool);
	free(pidfile);
}

/* IDs from chip and label words. */
static void test_ids(void **state)
{
	char id[SENSOR_ID_MAX];

	sensor_id_from_words(id, sizeof(id), "coretemp", "Package id 0");
	assert_string_equal(id, "CoretempPackageId0");
	sensor_id_from_words(id, sizeof(id), "nct6775", "fan1");
	assert_string_equal(id, "Nct6775Fan1");
	sensor_id_from_words(id, sizeof(id), "2nd chip", "CPU-Fan");
	assert_string_equal(id, "S2ndChipCPUFan");
	sensor_id_from_words(id, 8, "abcdefgh", "ijk");
	assert_string_equal(id, "Abcdefg");
}

/* The tables match the Redfish schemas in ../shared/redfish: every
 * PhysicalContext is known, every type the registry offers is a
 * ReadingType. Skipped when the schemas are not beside the tree. */
static void test_redfish_tables(void **state)
{
	static const char *const types[] = { "Temperature",  "Humidity",      "Power",
		                             "EnergyJoules", "EnergyWh",      "Voltage",
		                             "Current",      "Frequency",     "Rotational",
		                             "Percent",      "LiquidFlowLPM", "PressurekPa",
		                             "EnergykWh" };
	json_t *ctx = json_load_file("../shared/redfish/json-schema/PhysicalContext.json", 0, NULL);
	json_t *sen = json_load_file("../shared/redfish/json-schema/Sensor.v1_12_0.json", 0, NULL);
	json_t *en, *v;
	size_t i;

	if (!ctx || !sen) {
		json_decref(ctx);
		json_decref(sen);
		skip();
	}
	en = json_object_get(
	    json_object_get(json_object_get(ctx, "definitions"), "PhysicalContext"), "enum");
	assert_true(json_array_size(en) > 40);
	json_array_foreach(en, i, v)
	{
		const char *c = sensor_context_canon(json_string_value(v));

		if (!c || strcmp(c, json_string_value(v)))
			fail_msg("PhysicalContext %s is not known", json_string_value(v));
	}
	en = json_object_get(json_object_get(json_object_get(sen, "definitions"), "ReadingType"),
	                     "enum");
	for (size_t k = 0; k < ARRAY_SIZE(types); k++) {
		bool found = false;
		const char *unit = NULL;

		assert_non_null(sensor_type_canon(types[k], &unit));
		assert_non_null(unit);
		for (i = 0; i < json_array_size(en); i++)
			found |= !strcmp(json_string_value(json_array_get(en, i)), types[k]);
		if (!found)
			fail_msg("%s is not a Redfish ReadingType", types[k]);
	}
	json_decref(ctx);
	json_decref(sen);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_discover, setup, teardown),
		cmocka_unit_test_setup_teardown(test_discover_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rapl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cpu_util, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stuck_and_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hwmon_gone_and_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_errors_more, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json, setup, teardown),
		cmocka_unit_test(test_ipmi_parse),
		cmocka_unit_test_setup_teardown(test_ipmi_argv, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ipmi_query, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ipmi_timeout, setup, teardown),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_redfish_tables),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
