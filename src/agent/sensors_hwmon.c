// SPDX-License-Identifier: MIT
/*
 * The host's own sensors (sensors.h): Linux hwmon chips, RAPL powercap
 * zones and /proc, read as plain files under configurable sysfs and proc
 * roots, and the discovery of what a host has.
 *
 *   hwmon:<chip>/<file>  chip: the chip's name ("coretemp", the first chip
 *                        of that name) or its directory ("hwmon3"); file:
 *                        temp*_input (m°C), fan*_input (RPM), power*_input
 *                        or power*_average (µW), in*_input (mV), curr*_input
 *                        (mA), energy*_input (µJ), humidity*_input (m%)
 *   rapl:<zone>          "package-0", "package-0/core" or "intel-rapl:0":
 *                        Power (W, the energy counter's rate between two
 *                        reads) or EnergyJoules (J used since the source
 *                        was opened; counter wraps are undone)
 *   proc:<what>          cpu_util (%, /proc/stat between two reads),
 *                        loadavg1/5/15, mem_used_pct (%, MemAvailable)
 *
 * Rates need two samples: opening a source takes the first, and a read
 * less than RATE_MIN_MS after the last one answers the last rate again.
 * Nothing here keeps status or history: sensors.c does.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/sensors.h"
#include "common/util.h"

#define RATE_MIN_MS 100
#define HWMON_CHIPS_MAX 256
#define HWMON_INPUTS_MAX 128

enum src_kind { SRC_HWMON, SRC_RAPL_POWER, SRC_RAPL_ENERGY, SRC_CPU_UTIL, SRC_LOADAVG, SRC_MEM };

struct sensor_src {
	enum src_kind kind;
	char *spec; /* owned: the source without its "kind:" */
	char *root; /* owned: the sysfs root (hwmon, rapl) or the proc root */
	char *chip; /* owned: hwmon chip, or RAPL zone spec */
	char *file; /* owned: hwmon input file */
	char *dir;  /* owned: the resolved chip or zone directory, NULL until found */
	double scale;
	int field; /* loadavg: 0, 1 or 2 */
	/* rates: the last sample */
	bool primed, has_rate;
	uint64_t prev_a, prev_b; /* RAPL: energy µJ; CPU: busy and total ticks */
	uint64_t range;          /* RAPL: max_energy_range_uj, 0 if unknown */
	int64_t prev_ms;
	double rate;     /* the last rate computed */
	double energy_j; /* RAPL energy since open */
};

/* --- files ------------------------------------------------------------------ */

/* snprintf that says whether it all fit: 0 or -ENAMETOOLONG (out holds
 * the truncated text). */
static int bprintf(char *out, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bprintf(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, len, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Reads a small file into buf: 0 or -errno (-ENODATA when empty). */
static int read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t k;

	if (fd < 0)
		return -errno;
	k = read(fd, buf, len - 1);
	if (k < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	close(fd);
	buf[k] = '\0';
	return k == 0 ? -ENODATA : 0;
}

static int read_ll(const char *path, long long *ret)
{
	char buf[64], *end;
	long long v;
	int r = read_small(path, buf, sizeof(buf));

	if (r < 0)
		return r;
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (errno || end == buf)
		return -EBADMSG;
	while (isspace((unsigned char)*end))
		end++;
	if (*end)
		return -EBADMSG;
	*ret = v;
	return 0;
}

static int read_name(const char *dir, char *out, size_t len)
{
	char path[PATH_MAX];
	int r;

	bprintf(path, sizeof(path), "%s/name", dir);
	r = read_small(path, out, len);
	if (r == 0)
		str_rstrip(out);
	return r;
}

/* A path component we accept from config: [A-Za-z0-9_.:-], not "." or "..". */
static bool part_valid(const char *s, size_t n)
{
	if (n == 0 || n > 64 || (s[0] == '.'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_.:-", s[i]))
			return false;
	return true;
}

/* The number after prefix in name ("hwmon12" -> 12), or -1. */
static long num_after(const char *name, const char *prefix)
{
	size_t n = strlen(prefix);
	char *end;
	long v;

	if (strncmp(name, prefix, n) != 0 || !isdigit((unsigned char)name[n]))
		return -1;
	v = strtol(name + n, &end, 10);
	return *end ? -1 : v;
}

/* --- hwmon ------------------------------------------------------------------ */

struct hwmon_kind {
	const char *prefix;
	const char *type;
	double scale;
};

static const struct hwmon_kind hwmon_kinds[] = {
	{ "temp", "Temperature", 1e-3 },  { "fan", "Rotational", 1 },
	{ "power", "Power", 1e-6 },       { "in", "Voltage", 1e-3 },
	{ "curr", "Current", 1e-3 },      { "energy", "EnergyJoules", 1e-6 },
	{ "humidity", "Humidity", 1e-3 },
};

/* "temp3_input" -> the kind and 3; NULL when file is not an input. */
static const struct hwmon_kind *hwmon_file_kind(const char *file, long *ret_n)
{
	for (size_t i = 0; i < ARRAY_SIZE(hwmon_kinds); i++) {
		const struct hwmon_kind *k = &hwmon_kinds[i];
		size_t pl = strlen(k->prefix);
		char *end;
		long n;

		if (strncmp(file, k->prefix, pl) != 0 || !isdigit((unsigned char)file[pl]))
			continue;
		n = strtol(file + pl, &end, 10);
		if (!strcmp(end, "_input") ||
		    (!strcmp(k->prefix, "power") && !strcmp(end, "_average"))) {
			*ret_n = n;
			return k;
		}
	}
	return NULL;
}

static const char *const cpu_chips[] = { "coretemp",    "k10temp",     "k8temp",      "zenpower",
	                                 "cpu_thermal", "via_cputemp", "fam15h_power" };
static const char *const storage_chips[] = { "nvme", "drivetemp" };
static const char *const gpu_chips[] = { "amdgpu", "radeon", "nouveau" };

static bool in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(s, list[i]))
			return true;
	return false;
}

/* The PhysicalContext a chip's input most likely measures. */
static const char *hwmon_context(const char *chip, const struct hwmon_kind *k)
{
	if (!strcmp(k->prefix, "fan"))
		return "Fan";
	if (in_list(chip, cpu_chips, ARRAY_SIZE(cpu_chips)))
		return "CPU";
	if (in_list(chip, storage_chips, ARRAY_SIZE(storage_chips)))
		return "StorageDevice";
	if (in_list(chip, gpu_chips, ARRAY_SIZE(gpu_chips)))
		return "GPU";
	if (strstr(chip, "psu") || strstr(chip, "pmbus"))
		return "PowerSupply";
	return "SystemBoard";
}

/* The directory of chip: "hwmonN" itself, else the first (lowest N) whose
 * name is chip. 0 and src->dir set, or -ENOENT. */
static int hwmon_resolve(struct sensor_src *src)
{
	char base[PATH_MAX], best[PATH_MAX] = "";
	long best_n = -1;
	struct dirent *d;
	DIR *dir;

	bprintf(base, sizeof(base), "%s/class/hwmon", src->root);
	free(src->dir);
	src->dir = NULL;
	if (num_after(src->chip, "hwmon") >= 0) {
		src->dir = xasprintf("%s/%s", base, src->chip);
		return 0;
	}
	dir = opendir(base);
	if (!dir)
		return -ENOENT;
	while ((d = readdir(dir))) {
		long n = num_after(d->d_name, "hwmon");
		char path[PATH_MAX], name[128];

		if (n < 0 || (best_n >= 0 && n >= best_n))
			continue;
		bprintf(path, sizeof(path), "%s/%s", base, d->d_name);
		if (read_name(path, name, sizeof(name)) == 0 && !strcmp(name, src->chip)) {
			best_n = n;
			bprintf(best, sizeof(best), "%s", path);
		}
	}
	closedir(dir);
	if (best_n < 0)
		return -ENOENT;
	src->dir = xstrdup(best);
	return 0;
}

static int hwmon_open(struct sensor_src *src, const char *type, const char **ret_type,
                      const char **ret_context, struct kerr *e)
{
	const char *slash = strchr(src->spec, '/');
	const struct hwmon_kind *k;
	long n;

	if (!slash || !part_valid(src->spec, (size_t)(slash - src->spec)) ||
	    !part_valid(slash + 1, strlen(slash + 1)))
		return kerr_set(e, -EINVAL, "source", "hwmon:%s: not <chip>/<input file>",
		                src->spec);
	src->chip = xasprintf("%.*s", (int)(slash - src->spec), src->spec);
	src->file = xstrdup(slash + 1);
	k = hwmon_file_kind(src->file, &n);
	if (!k)
		return kerr_set(e, -EINVAL, "source",
		                "hwmon:%s: %s is not a temp, fan, power, in, curr, energy or "
		                "humidity input",
		                src->spec, src->file);
	if (type && strcmp(type, k->type))
		return kerr_set(e, -EINVAL, "type", "hwmon:%s reads %s, not %s", src->spec, k->type,
		                type);
	src->scale = k->scale;
	*ret_type = k->type;
	*ret_context = hwmon_context(src->chip, k);
	hwmon_resolve(src);
	return 0;
}

static int hwmon_read(struct sensor_src *src, double *ret, char *reason, size_t len)
{
	char path[PATH_MAX];
	long long v;
	int r;

	if (!src->dir && hwmon_resolve(src) < 0) {
		bprintf(reason, len, "no hwmon chip named %s", src->chip);
		return -ENOENT;
	}
	bprintf(path, sizeof(path), "%s/%s", src->dir, src->file);
	r = read_ll(path, &v);
	if (r == -ENOENT || r == -ENODEV) {
		/* the chip may have come back under another hwmonN */
		if (hwmon_resolve(src) < 0) {
			bprintf(reason, len, "no hwmon chip named %s", src->chip);
			return -ENOENT;
		}
		bprintf(path, sizeof(path), "%s/%s", src->dir, src->file);
		r = read_ll(path, &v);
	}
	if (r < 0) {
		bprintf(reason, len, "%s: %s", path, strerror(-r));
		return r;
	}
	*ret = (double)v * src->scale;
	return 0;
}

/* --- RAPL --------------------------------------------------------------------- */

/* The powercap entry ("intel-rapl:0" or, below parent, "intel-rapl:0:1")
 * whose name is name, into out. 0 or -ENOENT. */
static int rapl_find(const char *base, const char *parent, const char *name, char *out, size_t len)
{
	struct dirent *d;
	int r = -ENOENT;
	DIR *dir = opendir(base);

	if (!dir)
		return -ENOENT;
	while (r < 0 && (d = readdir(dir))) {
		char path[PATH_MAX], zname[128], prefix[128];
		const char *rest;

		if (parent) {
			bprintf(prefix, sizeof(prefix), "%s:", parent);
			if (!str_startswith(d->d_name, prefix))
				continue;
			rest = d->d_name + strlen(prefix);
		} else {
			if (!str_startswith(d->d_name, "intel-rapl:"))
				continue;
			rest = d->d_name + strlen("intel-rapl:");
		}
		if (!*rest || strchr(rest, ':'))
			continue;
		bprintf(path, sizeof(path), "%s/%s", base, d->d_name);
		if (read_name(path, zname, sizeof(zname)) == 0 && !strcmp(zname, name)) {
			bprintf(out, len, "%s", d->d_name);
			r = 0;
		}
	}
	closedir(dir);
	return r;
}

static int rapl_resolve(struct sensor_src *src)
{
	char base[PATH_MAX], top[128], sub[128], path[PATH_MAX];
	const char *slash = strchr(src->chip, '/');
	long long range;

	bprintf(base, sizeof(base), "%s/class/powercap", src->root);
	free(src->dir);
	src->dir = NULL;
	if (strchr(src->chip, ':')) {
		src->dir = xasprintf("%s/%s", base, src->chip);
	} else {
		bprintf(top, sizeof(top), "%.*s",
		        (int)(slash ? (size_t)(slash - src->chip) : strlen(src->chip)), src->chip);
		if (rapl_find(base, NULL, top, top, sizeof(top)) < 0)
			return -ENOENT;
		if (slash && rapl_find(base, top, slash + 1, sub, sizeof(sub)) < 0)
			return -ENOENT;
		src->dir = xasprintf("%s/%s", base, slash ? sub : top);
	}
	bprintf(path, sizeof(path), "%s/max_energy_range_uj", src->dir);
	src->range = read_ll(path, &range) == 0 && range > 0 ? (uint64_t)range : 0;
	return 0;
}

static int rapl_open(struct sensor_src *src, const char *type, const char **ret_type,
                     struct kerr *e)
{
	const char *slash = strchr(src->spec, '/');

	if (!part_valid(src->spec, slash ? (size_t)(slash - src->spec) : strlen(src->spec)) ||
	    (slash && (strchr(src->spec, ':') || strchr(slash + 1, '/') ||
	               !part_valid(slash + 1, strlen(slash + 1)))))
		return kerr_set(e, -EINVAL, "source",
		                "rapl:%s: not a zone (package-0, package-0/core, intel-rapl:0)",
		                src->spec);
	if (type && strcmp(type, "Power") && strcmp(type, "EnergyJoules"))
		return kerr_set(e, -EINVAL, "type", "rapl:%s reads Power or EnergyJoules, not %s",
		                src->spec, type);
	src->chip = xstrdup(src->spec);
	src->kind = type && !strcmp(type, "EnergyJoules") ? SRC_RAPL_ENERGY : SRC_RAPL_POWER;
	*ret_type = src->kind == SRC_RAPL_ENERGY ? "EnergyJoules" : "Power";
	return 0;
}

/* µJ used since the last sample, undoing a wrap of the counter. */
static uint64_t rapl_delta(const struct sensor_src *src, uint64_t now)
{
	if (now >= src->prev_a)
		return now - src->prev_a;
	if (src->range && src->prev_a <= src->range)
		return src->range - src->prev_a + now;
	return now; /* the counter was reset */
}

static int rapl_read(struct sensor_src *src, double *ret, char *reason, size_t len)
{
	char path[PATH_MAX];
	int64_t t = mono_ms();
	long long uj;
	uint64_t d;
	int r;

	if (!src->dir && rapl_resolve(src) < 0) {
		bprintf(reason, len, "no RAPL zone %s", src->chip);
		return -ENOENT;
	}
	bprintf(path, sizeof(path), "%s/energy_uj", src->dir);
	r = read_ll(path, &uj);
	if (r == 0 && uj < 0)
		r = -EBADMSG;
	if (r < 0) {
		bprintf(reason, len, "%s: %s", path, strerror(-r));
		free(src->dir);
		src->dir = NULL; /* look again next time */
		return r;
	}
	if (!src->primed) {
		src->primed = true;
		src->prev_a = (uint64_t)uj;
		src->prev_ms = t;
		if (src->kind == SRC_RAPL_ENERGY) {
			*ret = src->energy_j;
			return 0;
		}
		bprintf(reason, len, "warming up: power needs two readings of %s", path);
		return -EAGAIN;
	}
	if (src->kind == SRC_RAPL_POWER && t - src->prev_ms < RATE_MIN_MS) {
		if (!src->has_rate) {
			bprintf(reason, len, "warming up: power needs two readings of %s", path);
			return -EAGAIN;
		}
		*ret = src->rate;
		return 0;
	}
	d = rapl_delta(src, (uint64_t)uj);
	src->energy_j += (double)d / 1e6;
	if (t > src->prev_ms) {
		src->rate = (double)d / ((double)(t - src->prev_ms) * 1000.0);
		src->has_rate = true;
	}
	src->prev_a = (uint64_t)uj;
	src->prev_ms = t;
	*ret = src->kind == SRC_RAPL_ENERGY ? src->energy_j : src->rate;
	return 0;
}

/* --- /proc -------------------------------------------------------------------- */

static int cpu_sample(const char *proc, uint64_t *ret_busy, uint64_t *ret_total)
{
	unsigned long long v[8] = { 0 };
	char path[PATH_MAX], buf[1024];
	int r, n;

	bprintf(path, sizeof(path), "%s/stat", proc);
	r = read_small(path, buf, sizeof(buf));
	if (r < 0)
		return r;
	n = sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
	           &v[4], &v[5], &v[6], &v[7]);
	if (n < 4)
		return -EBADMSG;
	/* user nice system idle iowait irq softirq steal */
	*ret_busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
	*ret_total = *ret_busy + v[3] + v[4];
	return 0;
}

static int cpu_read(struct sensor_src *src, double *ret, char *reason, size_t len)
{
	uint64_t busy, total;
	int64_t t = mono_ms();
	int r = cpu_sample(src->root, &busy, &total);

	if (r < 0) {
		bprintf(reason, len, "%s/stat: %s", src->root, strerror(-r));
		return r;
	}
	if (!src->primed || busy < src->prev_a || total < src->prev_b) {
		src->primed = true;
		src->prev_a = busy;
		src->prev_b = total;
		src->prev_ms = t;
		bprintf(reason, len, "warming up: CPU use needs two readings of %s/stat",
		        src->root);
		return -EAGAIN;
	}
	if (t - src->prev_ms >= RATE_MIN_MS && total > src->prev_b) {
		src->rate = 100.0 * (double)(busy - src->prev_a) / (double)(total - src->prev_b);
		src->has_rate = true;
		src->prev_a = busy;
		src->prev_b = total;
		src->prev_ms = t;
	}
	if (!src->has_rate) {
		bprintf(reason, len, "warming up: CPU use needs two readings of %s/stat",
		        src->root);
		return -EAGAIN;
	}
	*ret = src->rate;
	return 0;
}

static int loadavg_read(struct sensor_src *src, double *ret, char *reason, size_t len)
{
	char path[PATH_MAX], buf[256];
	double v[3];
	int r;

	bprintf(path, sizeof(path), "%s/loadavg", src->root);
	r = read_small(path, buf, sizeof(buf));
	if (r == 0 && sscanf(buf, "%lf %lf %lf", &v[0], &v[1], &v[2]) != 3)
		r = -EBADMSG;
	if (r < 0) {
		bprintf(reason, len, "%s: %s", path, strerror(-r));
		return r;
	}
	*ret = v[src->field];
	return 0;
}

/* The kB value of key in meminfo text, or -1. */
static long long meminfo_kb(const char *text, const char *key)
{
	size_t n = strlen(key);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, key, n) && p[n] == ':')
			return strtoll(p + n + 1, NULL, 10);
	return -1;
}

static int mem_read(struct sensor_src *src, double *ret, char *reason, size_t len)
{
	char path[PATH_MAX], buf[8192];
	long long total, avail;
	int r;

	bprintf(path, sizeof(path), "%s/meminfo", src->root);
	r = read_small(path, buf, sizeof(buf));
	if (r < 0) {
		bprintf(reason, len, "%s: %s", path, strerror(-r));
		return r;
	}
	total = meminfo_kb(buf, "MemTotal");
	avail = meminfo_kb(buf, "MemAvailable");
	if (avail < 0 && meminfo_kb(buf, "MemFree") >= 0)
		avail = meminfo_kb(buf, "MemFree") +
		        (meminfo_kb(buf, "Buffers") > 0 ? meminfo_kb(buf, "Buffers") : 0) +
		        (meminfo_kb(buf, "Cached") > 0 ? meminfo_kb(buf, "Cached") : 0);
	if (total <= 0 || avail < 0 || avail > total) {
		bprintf(reason, len, "%s: no MemTotal and MemAvailable", path);
		return -EBADMSG;
	}
	*ret = 100.0 * (double)(total - avail) / (double)total;
	return 0;
}

struct proc_item {
	const char *name;
	enum src_kind kind;
	int field;
	const char *type; /* NULL: no Redfish ReadingType (load average) */
	const char *context;
};

static const struct proc_item proc_items[] = {
	{ "cpu_util", SRC_CPU_UTIL, 0, "Percent", "CPU" },
	{ "loadavg1", SRC_LOADAVG, 0, NULL, "CPU" },
	{ "loadavg5", SRC_LOADAVG, 1, NULL, "CPU" },
	{ "loadavg15", SRC_LOADAVG, 2, NULL, "CPU" },
	{ "mem_used_pct", SRC_MEM, 0, "Percent", "Memory" },
};

static int proc_open(struct sensor_src *src, const char *type, const char **ret_type,
                     const char **ret_context, struct kerr *e)
{
	const struct proc_item *it = NULL;
	double v;
	char reason[SENSOR_REASON_MAX];

	for (size_t i = 0; i < ARRAY_SIZE(proc_items); i++)
		if (!strcmp(src->spec, proc_items[i].name))
			it = &proc_items[i];
	if (!it)
		return kerr_set(e, -EINVAL, "source",
		                "proc:%s: not cpu_util, loadavg1, loadavg5, loadavg15 or "
		                "mem_used_pct",
		                src->spec);
	if (type && (!it->type || strcmp(type, it->type)))
		return kerr_set(e, -EINVAL, "type", "proc:%s reads %s, not %s", src->spec,
		                it->type ? it->type : "a quantity with no Redfish type", type);
	src->kind = it->kind;
	src->field = it->field;
	*ret_type = it->type;
	*ret_context = it->context;
	if (src->kind == SRC_CPU_UTIL)
		cpu_read(src, &v, reason, sizeof(reason)); /* the first sample */
	return 0;
}

/* --- sources -------------------------------------------------------------------- */

int sensor_src_open(const char *sysfs, const char *proc, const char *source, const char *type,
                    struct sensor_src **ret, const char **ret_type, const char **ret_context,
                    struct kerr *e)
{
	struct sensor_src *src;
	const char *context = "SystemBoard", *rtype = NULL;
	int r;

	if (!str_startswith(source, "hwmon:") && !str_startswith(source, "rapl:") &&
	    !str_startswith(source, "proc:"))
		return -ENOENT;
	src = xcalloc(1, sizeof(*src));
	src->spec = xstrdup(strchr(source, ':') + 1);
	if (str_startswith(source, "hwmon:")) {
		src->kind = SRC_HWMON;
		src->root = xstrdup(sysfs);
		r = hwmon_open(src, type, &rtype, &context, e);
	} else if (str_startswith(source, "rapl:")) {
		double v;
		char reason[SENSOR_REASON_MAX];

		src->root = xstrdup(sysfs);
		context = "CPU";
		r = rapl_open(src, type, &rtype, e);
		if (r == 0)
			rapl_read(src, &v, reason, sizeof(reason)); /* the first sample */
	} else {
		src->root = xstrdup(proc);
		r = proc_open(src, type, &rtype, &context, e);
	}
	if (r < 0) {
		sensor_src_free(src);
		return r;
	}
	*ret = src;
	*ret_type = rtype;
	*ret_context = context;
	return 0;
}

int sensor_src_read(struct sensor_src *src, double *ret, char *reason, size_t len)
{
	switch (src->kind) {
	case SRC_HWMON:
		return hwmon_read(src, ret, reason, len);
	case SRC_RAPL_POWER:
	case SRC_RAPL_ENERGY:
		return rapl_read(src, ret, reason, len);
	case SRC_CPU_UTIL:
		return cpu_read(src, ret, reason, len);
	case SRC_LOADAVG:
		return loadavg_read(src, ret, reason, len);
	case SRC_MEM:
		return mem_read(src, ret, reason, len);
	}
	bprintf(reason, len, "unknown source");
	return -EINVAL;
}

struct sensor_src *sensor_src_free(struct sensor_src *src)
{
	if (!src)
		return NULL;
	free(src->spec);
	free(src->root);
	free(src->chip);
	free(src->file);
	free(src->dir);
	free(src);
	return NULL;
}

/* --- discovery ------------------------------------------------------------------ */

void sensor_id_from_words(char *out, size_t len, const char *a, const char *b)
{
	const char *words[2] = { a, b };
	size_t n = 0;

	for (int w = 0; w < 2; w++) {
		bool start = true;

		for (const char *p = words[w]; p && *p && n + 1 < len; p++) {
			if (!isalnum((unsigned char)*p)) {
				start = true;
				continue;
			}
			if (n == 0 && isdigit((unsigned char)*p))
				out[n++] = 'S';
			if (n + 1 < len)
				out[n++] = start ? (char)toupper((unsigned char)*p) : *p;
			start = false;
		}
	}
	out[n] = '\0';
}

struct hwmon_chip {
	long n;
	char dir[PATH_MAX];
	char name[64];
};

static int chip_cmp(const void *a, const void *b)
{
	const struct hwmon_chip *x = a, *y = b;

	return (x->n > y->n) - (x->n < y->n);
}

/* hwmon chips in hwmonN order; *ret malloc'd. */
static size_t hwmon_chips(const char *sysfs, struct hwmon_chip **ret)
{
	char base[PATH_MAX];
	struct hwmon_chip *chips = NULL;
	struct dirent *d;
	size_t n = 0;
	DIR *dir;

	bprintf(base, sizeof(base), "%s/class/hwmon", sysfs);
	*ret = NULL;
	dir = opendir(base);
	if (!dir)
		return 0;
	while ((d = readdir(dir)) && n < HWMON_CHIPS_MAX) {
		long num = num_after(d->d_name, "hwmon");

		if (num < 0)
			continue;
		chips = xrealloc(chips, (n + 1) * sizeof(*chips));
		chips[n].n = num;
		bprintf(chips[n].dir, sizeof(chips[n].dir), "%s/%s", base, d->d_name);
		if (read_name(chips[n].dir, chips[n].name, sizeof(chips[n].name)) < 0 ||
		    !part_valid(chips[n].name, strlen(chips[n].name)))
			bprintf(chips[n].name, sizeof(chips[n].name), "%s", d->d_name);
		n++;
	}
	closedir(dir);
	qsort(chips, n, sizeof(*chips), chip_cmp);
	*ret = chips;
	return n;
}

struct hwmon_input {
	const struct hwmon_kind *kind;
	long n;
	char file[64];
};

static int input_cmp(const void *a, const void *b)
{
	const struct hwmon_input *x = a, *y = b;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return (x->n > y->n) - (x->n < y->n);
}

/* Discovery takes temperatures, fans and power; power*_input over
 * power*_average. */
static size_t chip_inputs(const char *chipdir, struct hwmon_input *in, size_t max)
{
	struct dirent *d;
	size_t n = 0;
	DIR *dir = opendir(chipdir);

	if (!dir)
		return 0;
	while ((d = readdir(dir)) && n < max) {
		long num;
		const struct hwmon_kind *k = hwmon_file_kind(d->d_name, &num);
		bool dup = false;

		if (!k || (strcmp(k->prefix, "temp") && strcmp(k->prefix, "fan") &&
		           strcmp(k->prefix, "power")))
			continue;
		for (size_t i = 0; i < n; i++) {
			if (in[i].kind != k || in[i].n != num)
				continue;
			dup = true;
			if (strstr(d->d_name, "_input"))
				bprintf(in[i].file, sizeof(in[i].file), "%s", d->d_name);
		}
		if (dup)
			continue;
		in[n].kind = k;
		in[n].n = num;
		bprintf(in[n].file, sizeof(in[n].file), "%s", d->d_name);
		n++;
	}
	closedir(dir);
	qsort(in, n, sizeof(*in), input_cmp);
	return n;
}

/* An optional threshold file (temp1_crit) into th. */
static void threshold(const char *chipdir, const struct hwmon_input *in, const char *suffix,
                      struct sensor_thresholds *th, enum sensor_threshold which)
{
	char path[PATH_MAX];
	long long v;

	bprintf(path, sizeof(path), "%s/%s%ld_%s", chipdir, in->kind->prefix, in->n, suffix);
	if (read_ll(path, &v) == 0) {
		th->value[which] = (double)v * in->kind->scale;
		th->set[which] = true;
	}
}

static int discover_input(const struct hwmon_chip *chip, bool name_unique,
                          const struct hwmon_input *in,
                          int (*add)(void *cls, const struct sensor_def *def), void *cls)
{
	char path[PATH_MAX], label[64] = "", stem[32], id[SENSOR_ID_MAX - 8];
	char name[SENSOR_NAME_MAX], source[SENSOR_SOURCE_MAX];
	struct sensor_def def = { 0 };
	long long v;

	bprintf(path, sizeof(path), "%s/%s", chip->dir, in->file);
	if (read_ll(path, &v) < 0)
		return 0; /* not readable now: not offered */
	bprintf(path, sizeof(path), "%s/%s%ld_label", chip->dir, in->kind->prefix, in->n);
	if (read_small(path, label, sizeof(label)) == 0)
		str_rstrip(label);
	for (char *p = label; *p; p++)
		if (!isprint((unsigned char)*p))
			*p = ' ';
	bprintf(stem, sizeof(stem), "%s%ld", in->kind->prefix, in->n);
	sensor_id_from_words(id, sizeof(id), chip->name, *label ? label : stem);
	bprintf(name, sizeof(name), "%s %s", chip->name, *label ? label : stem);
	bprintf(source, sizeof(source), "hwmon:%s/%s",
	        name_unique ? chip->name : strrchr(chip->dir, '/') + 1, in->file);
	def.id = id;
	def.name = name;
	def.source = source;
	def.type = in->kind->type;
	def.context = hwmon_context(chip->name, in->kind);
	if (!strcmp(in->kind->prefix, "temp")) {
		threshold(chip->dir, in, "crit", &def.th, SENSOR_TH_UPPER_CRITICAL);
		threshold(chip->dir, in, "max", &def.th, SENSOR_TH_UPPER_CAUTION);
		threshold(chip->dir, in, "min", &def.th, SENSOR_TH_LOWER_CAUTION);
		threshold(chip->dir, in, "lcrit", &def.th, SENSOR_TH_LOWER_CRITICAL);
	} else if (!strcmp(in->kind->prefix, "fan")) {
		threshold(chip->dir, in, "min", &def.th, SENSOR_TH_LOWER_CAUTION);
	}
	return add(cls, &def);
}

static int discover_hwmon(const char *sysfs, int (*add)(void *cls, const struct sensor_def *def),
                          void *cls)
{
	struct hwmon_chip *chips;
	size_t n = hwmon_chips(sysfs, &chips);
	int r = 0;

	for (size_t i = 0; i < n && r == 0; i++) {
		struct hwmon_input in[HWMON_INPUTS_MAX];
		size_t k = chip_inputs(chips[i].dir, in, ARRAY_SIZE(in));
		bool unique = true;

		for (size_t j = 0; j < n; j++)
			if (j != i && !strcmp(chips[i].name, chips[j].name))
				unique = false;
		for (size_t j = 0; j < k && r == 0; j++)
			r = discover_input(&chips[i], unique, &in[j], add, cls);
	}
	free(chips);
	return r;
}

static int discover_rapl(const char *sysfs, int (*add)(void *cls, const struct sensor_def *def),
                         void *cls)
{
	char base[PATH_MAX];
	struct dirent *d;
	int r = 0;
	DIR *dir;

	bprintf(base, sizeof(base), "%s/class/powercap", sysfs);
	dir = opendir(base);
	if (!dir)
		return 0;
	while (r == 0 && (d = readdir(dir))) {
		char path[PATH_MAX], zname[64], id[SENSOR_ID_MAX], name[SENSOR_NAME_MAX];
		char source[SENSOR_SOURCE_MAX];
		struct sensor_def def = { 0 };
		long long uj;
		long pkg;

		if (num_after(d->d_name, "intel-rapl:") < 0)
			continue;
		bprintf(path, sizeof(path), "%s/%s", base, d->d_name);
		if (read_name(path, zname, sizeof(zname)) < 0)
			continue;
		pkg = num_after(zname, "package-");
		bprintf(path, sizeof(path), "%s/%s/energy_uj", base, d->d_name);
		if (pkg < 0 || read_ll(path, &uj) < 0)
			continue;
		bprintf(source, sizeof(source), "rapl:%s", zname);
		def.source = source;
		def.context = "CPU";
		def.id = id;
		def.name = name;
		bprintf(id, sizeof(id), "CPU%ldPower", pkg);
		bprintf(name, sizeof(name), "CPU %ld package power (RAPL)", pkg);
		def.type = "Power";
		r = add(cls, &def);
		if (r < 0)
			break;
		bprintf(id, sizeof(id), "CPU%ldEnergy", pkg);
		bprintf(name, sizeof(name), "CPU %ld package energy (RAPL)", pkg);
		def.type = "EnergyJoules";
		r = add(cls, &def);
	}
	closedir(dir);
	return r;
}

static int discover_proc(const char *proc, int (*add)(void *cls, const struct sensor_def *def),
                         void *cls)
{
	static const struct {
		const char *file, *id, *name, *source, *type, *context;
	} items[] = {
		{ "stat", "CPUUtil", "CPU utilisation", "proc:cpu_util", "Percent", "CPU" },
		{ "loadavg", "CPULoad1", "Load average (1 min)", "proc:loadavg1", NULL, "CPU" },
		{ "meminfo", "MemoryUsed", "Memory used", "proc:mem_used_pct", "Percent",
		  "Memory" },
	};
	int r = 0;

	for (size_t i = 0; i < ARRAY_SIZE(items) && r == 0; i++) {
		char path[PATH_MAX];
		struct sensor_def def = { 0 };

		bprintf(path, sizeof(path), "%s/%s", proc, items[i].file);
		if (access(path, R_OK) < 0)
			continue;
		def.id = items[i].id;
		def.name = items[i].name;
		def.source = items[i].source;
		def.type = items[i].type;
		def.context = items[i].context;
		r = add(cls, &def);
	}
	return r;
}

int sensors_discover(const char *sysfs, const char *proc,
                     int (*add)(void *cls, const struct sensor_def *def), void *cls)
{
	int r = discover_hwmon(sysfs, add, cls);

	if (r == 0)
		r = discover_rapl(sysfs, add, cls);
	if (r == 0)
		r = discover_proc(proc, add, cls);
	return r;
}
