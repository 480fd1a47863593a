// SPDX-License-Identifier: MIT
/*
 * CPU caps on VM processes through cgroups (cpucap.h). The groups are
 * plain directories; every write is one short file write, so callers may
 * use this from any thread (a mutex guards the list of capped VMs).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/cpucap.h"
#include "common/log.h"
#include "common/util.h"

#define PERIOD_US 100000
#define QUOTA_MIN_US 1000

struct capped {
	char id[40];
	int pid;
	int pct;
	struct capped *next;
};

struct cpucap {
	enum cpucap_mode mode;
	char why[160];
	char *base; /* owned: the host's group; NULL in CPUCAP_NONE */
	pthread_mutex_t lock;
	struct capped *vms;
};

static int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;
	int r = 0;

	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	if (n < 0)
		r = -errno;
	else if ((size_t)n != strlen(val))
		r = -EIO;
	close(fd);
	return r;
}

static bool file_has_word(const char *path, const char *word)
{
	char buf[512], *save = NULL;
	FILE *f = fopen(path, "re");
	bool found = false;

	if (!f)
		return false;
	if (fgets(buf, sizeof(buf), f))
		for (char *t = strtok_r(buf, " \n", &save); t; t = strtok_r(NULL, " \n", &save))
			if (!strcmp(t, word))
				found = true;
	fclose(f);
	return found;
}

static bool is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Chooses v2 or v1 under root; sets c->base to the host's group path. */
static void detect(struct cpucap *c, const char *root, const char *tag)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/cgroup.controllers", root);
	if (file_has_word(path, "cpu")) {
		snprintf(path, sizeof(path), "%s/cgroup.subtree_control", root);
		if (!file_has_word(path, "cpu") && write_file(path, "+cpu") < 0) {
			snprintf(c->why, sizeof(c->why),
			         "cannot enable the cpu controller in %.100s", path);
			return;
		}
		c->mode = CPUCAP_V2;
		c->base = xasprintf("%s/kumo-%s", root, tag);
	} else {
		static const char *const v1[] = { "cpu", "cpu,cpuacct", "cpuacct,cpu" };

		for (size_t i = 0; i < ARRAY_SIZE(v1) && c->mode == CPUCAP_NONE; i++) {
			snprintf(path, sizeof(path), "%s/%s/cpu.cfs_quota_us", root, v1[i]);
			if (access(path, W_OK) == 0) {
				c->mode = CPUCAP_V1;
				c->base = xasprintf("%s/%s/kumo-%s", root, v1[i], tag);
			}
		}
		if (c->mode == CPUCAP_NONE) {
			snprintf(c->why, sizeof(c->why),
			         "no writable cpu controller under %.60s (cgroup v2 cpu.max or "
			         "v1 cpu.cfs_quota_us)",
			         root);
			return;
		}
	}
	if (mkdir(c->base, 0755) < 0 && errno != EEXIST) {
		snprintf(c->why, sizeof(c->why), "cannot create %.100s: %s", c->base,
		         strerror(errno));
		free(c->base);
		c->base = NULL;
		c->mode = CPUCAP_NONE;
		return;
	}
	if (c->mode == CPUCAP_V2) {
		snprintf(path, sizeof(path), "%s/cgroup.subtree_control", c->base);
		if (write_file(path, "+cpu") < 0)
			log_warn("cpucap: cannot enable cpu in %s", path);
	}
}

struct cpucap *cpucap_new(const char *root, const char *tag)
{
	struct cpucap *c = xcalloc(1, sizeof(*c));

	pthread_mutex_init(&c->lock, NULL);
	c->mode = CPUCAP_NONE;
	if (!is_dir(root))
		snprintf(c->why, sizeof(c->why), "%s is not a directory", root);
	else
		detect(c, root, tag);
	if (c->mode == CPUCAP_NONE)
		log_info("cpucap: VM CPU caps are counted in the thermal model only: %s", c->why);
	else
		log_info("cpucap: VM CPU caps through cgroup %s in %s", cpucap_mode_name(c->mode),
		         c->base);
	return c;
}

enum cpucap_mode cpucap_mode(const struct cpucap *c, const char **why)
{
	if (why)
		*why = c->why;
	return c->mode;
}

const char *cpucap_mode_name(enum cpucap_mode m)
{
	switch (m) {
	case CPUCAP_V2:
		return "v2";
	case CPUCAP_V1:
		return "v1";
	case CPUCAP_NONE:
		break;
	}
	return "none";
}

static void vm_group(const struct cpucap *c, const char *vm_id, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/vm-%.8s", c->base, vm_id);
}

/* Moves every process of group dir to the group above the host's. */
static void evacuate(const struct cpucap *c, const char *dir)
{
	char path[600], parent[600], line[32];
	FILE *f;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	snprintf(parent, sizeof(parent), "%s", c->base);
	*strrchr(parent, '/') = '\0';
	strncat(parent, "/cgroup.procs", sizeof(parent) - strlen(parent) - 1);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0])
			write_file(parent, line);
	}
	fclose(f);
}

static int apply(const struct cpucap *c, const char *dir, int vcpus, int pct)
{
	char path[640], val[64];
	long long quota = (long long)PERIOD_US * vcpus * pct / 100;

	if (quota < QUOTA_MIN_US)
		quota = QUOTA_MIN_US;
	if (c->mode == CPUCAP_V2) {
		if (pct >= 100)
			snprintf(val, sizeof(val), "max %d", PERIOD_US);
		else
			snprintf(val, sizeof(val), "%lld %d", quota, PERIOD_US);
		snprintf(path, sizeof(path), "%s/cpu.max", dir);
		return write_file(path, val);
	}
	snprintf(path, sizeof(path), "%s/cpu.cfs_period_us", dir);
	snprintf(val, sizeof(val), "%d", PERIOD_US);
	write_file(path, val);
	snprintf(path, sizeof(path), "%s/cpu.cfs_quota_us", dir);
	snprintf(val, sizeof(val), "%lld", pct >= 100 ? -1LL : quota);
	return write_file(path, val);
}

int cpucap_set(struct cpucap *c, const char *vm_id, int pid, int vcpus, int pct)
{
	char dir[600], path[700], val[32];
	struct capped *v;
	int r;

	if (c->mode == CPUCAP_NONE)
		return -ENOTSUP;
	if (pid <= 0 || !vm_id || strlen(vm_id) < 8 || strchr(vm_id, '/'))
		return -EINVAL;
	if (vcpus < 1)
		vcpus = 1;
	pct = pct < 1 ? 1 : pct > 100 ? 100 : pct;
	pthread_mutex_lock(&c->lock);
	for (v = c->vms; v && strcmp(v->id, vm_id) != 0; v = v->next)
		;
	if (v && v->pid == pid && v->pct == pct) {
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	vm_group(c, vm_id, dir, sizeof(dir));
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		r = -errno;
		goto out;
	}
	if (!v || v->pid != pid) {
		snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
		snprintf(val, sizeof(val), "%d", pid);
		if ((r = write_file(path, val)) < 0)
			goto out;
	}
	if ((r = apply(c, dir, vcpus, pct)) < 0)
		goto out;
	if (!v) {
		v = xcalloc(1, sizeof(*v));
		snprintf(v->id, sizeof(v->id), "%s", vm_id);
		v->next = c->vms;
		c->vms = v;
	}
	v->pid = pid;
	v->pct = pct;
out:
	pthread_mutex_unlock(&c->lock);
	if (r < 0)
		log_warn("cpucap: cannot cap vm %s at %d%%: %s", vm_id, pct, strerror(-r));
	return r;
}

void cpucap_forget(struct cpucap *c, const char *vm_id)
{
	char dir[600];

	if (c->mode == CPUCAP_NONE || !vm_id)
		return;
	pthread_mutex_lock(&c->lock);
	for (struct capped **p = &c->vms; *p; p = &(*p)->next) {
		if (!strcmp((*p)->id, vm_id)) {
			struct capped *v = *p;

			*p = v->next;
			free(v);
			break;
		}
	}
	vm_group(c, vm_id, dir, sizeof(dir));
	evacuate(c, dir);
	rmdir(dir);
	pthread_mutex_unlock(&c->lock);
}

struct cpucap *cpucap_free(struct cpucap *c)
{
	if (!c)
		return NULL;
	while (c->vms) {
		char id[40];

		snprintf(id, sizeof(id), "%s", c->vms->id);
		cpucap_forget(c, id);
	}
	if (c->base) {
		DIR *d = opendir(c->base);
		struct dirent *de;

		/* groups of VMs capped before a restart of the agent */
		while (d && (de = readdir(d))) {
			char dir[600];

			if (strncmp(de->d_name, "vm-", 3) != 0)
				continue;
			snprintf(dir, sizeof(dir), "%s/%s", c->base, de->d_name);
			evacuate(c, dir);
			rmdir(dir);
		}
		if (d)
			closedir(d);
		rmdir(c->base);
	}
	free(c->base);
	pthread_mutex_destroy(&c->lock);
	free(c);
	return NULL;
}

int64_t cpucap_cpu_usec(int pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0;
	long hz = sysconf(_SC_CLK_TCK);
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* the command name may hold spaces and parentheses: skip to the last ')' */
	p = strrchr(buf, ')');
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -EINVAL;
	if (hz <= 0)
		hz = 100;
	return (int64_t)((ut + st) * 1000000ULL / (unsigned long long)hz);
}
