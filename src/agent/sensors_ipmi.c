// SPDX-License-Identifier: MIT
/*
 * A BMC's sensors over IPMI-over-LAN, through ipmitool (sensors.h): the
 * [ipmi] config section, the ipmitool command line, a runner that kills a
 * hung ipmitool, the parser of `ipmitool sdr elist full`, unit conversion
 * and the thread that runs one query at a time.
 *
 * One ipmitool call reads every sensor of the BMC; sensors.c picks the
 * rows its ipmi: sensors name. The password never reaches ipmitool's
 * argv: it reads password_file itself (-f), or an inline password goes in
 * IPMI_PASSWORD (-E) in the child's environment only. ipmitool runs in a
 * session of its own with stdin on /dev/null, so it can never stop to ask
 * for a password on a terminal.
 *
 * Not here: which sensors exist and their status (sensors.c).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/sensors.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/util.h"

#define IPMI_OUT_MAX (1024 * 1024)
#define IPMI_ERR_MAX (16 * 1024)
#define IPMI_ROWS_MAX 4096
#define IPMI_ARGV_MAX 32

extern char **environ;

struct ipmi_conf {
	char *host;          /* owned */
	char *user;          /* owned, or NULL */
	char *password_file; /* owned, or NULL */
	char *password;      /* owned secret, or NULL; goes to IPMI_PASSWORD */
	char *interface;     /* owned: "lanplus" or "lan" */
	char *privilege;     /* owned: -L, USER unless configured */
	char *ipmitool;      /* owned: the program */
	int port;
	int cipher_suite; /* lanplus -C; -1: ipmitool's default */
	int interval_ms;
	int timeout_ms;
	int retries;
	int retry_interval_s;
};

/* --- config --------------------------------------------------------------- */

static const char *const ipmi_keys[] = {
	"host",      "port",           "user",         "password_file", "password",
	"interface", "privilege",      "cipher_suite", "interval",      "timeout",
	"retries",   "retry_interval", "ipmitool",
};

static const char *const ipmi_privileges[] = { "CALLBACK", "USER", "OPERATOR", "ADMINISTRATOR" };

static int check_key(void *cls, const char *key, const char *value)
{
	struct kerr *e = cls;

	for (size_t i = 0; i < ARRAY_SIZE(ipmi_keys); i++)
		if (!strcmp(key, ipmi_keys[i]))
			return 0;
	return kerr_set(e, -EINVAL, "ipmi", "[ipmi]: unknown key %s", key);
}

/* An integer in [lo, hi] from key, def when absent. */
static int get_int(const struct config *c, const char *key, int def, int lo, int hi, int *ret,
                   struct kerr *e)
{
	const char *s = config_str(c, "ipmi", key, NULL);
	char *end;
	long v;

	if (!s || !*s) {
		*ret = def;
		return 0;
	}
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return kerr_set(e, -EINVAL, "ipmi", "[ipmi] %s: %s is not a number from %d to %d",
		                key, s, lo, hi);
	*ret = (int)v;
	return 0;
}

/* Something that goes after an ipmitool option: printable, no leading '-'. */
static bool arg_safe(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isprint((unsigned char)s[i]))
			return false;
	return true;
}

static bool host_valid(const char *s)
{
	if (!arg_safe(s, 253))
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr(".-:_", *p))
			return false;
	return true;
}

/* The password file must be a regular file that only its owner can read. */
static int check_password_file(const char *path, struct kerr *e)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return kerr_set(e, -EINVAL, "ipmi", "[ipmi] password_file %s: %s", path,
		                strerror(errno));
	if (!S_ISREG(st.st_mode))
		return kerr_set(e, -EINVAL, "ipmi", "[ipmi] password_file %s is not a file", path);
	if (st.st_mode & 077)
		return kerr_set(e, -EINVAL, "ipmi",
		                "[ipmi] password_file %s can be read by others (chmod 600 it)",
		                path);
	return 0;
}

static int conf_strings(const struct config *c, struct ipmi_conf *cf, struct kerr *e)
{
	const char *host = config_str(c, "ipmi", "host", NULL);
	const char *user = config_str(c, "ipmi", "user", NULL);
	const char *pwf = config_str(c, "ipmi", "password_file", NULL);
	const char *pw = config_str(c, "ipmi", "password", NULL);
	const char *iface = config_str(c, "ipmi", "interface", "lanplus");
	const char *priv = config_str(c, "ipmi", "privilege", "user");
	const char *tool = config_str(c, "ipmi", "ipmitool", "ipmitool");

	if (!host || !host_valid(host))
		return kerr_set(e, -EINVAL, "ipmi", "[ipmi] host: %s",
		                host ? "not a host name" : "missing");
	if (user && *user && !arg_safe(user, 16))
		return kerr_set(e, -EINVAL, "ipmi", "[ipmi] user: 1 to 16 printable characters");
	if (strcmp(iface, "lanplus") && strcmp(iface, "lan"))
		return kerr_set(e, -EINVAL, "ipmi", "[ipmi] interface: lanplus or lan, not %s",
		                iface);
	if (pwf && pw)
		return kerr_set(e, -EINVAL, "ipmi", "[ipmi]: password_file or password, not both");
	if (pwf && !arg_safe(pwf, 4096))
		return kerr_set(e, -EINVAL, "ipmi", "[ipmi] password_file: not a path");
	if (pwf && check_password_file(pwf, e) < 0)
		return e->code;
	if (pw && strlen(pw) > 20)
		return kerr_set(e, -EINVAL, "ipmi", "[ipmi] password: at most 20 characters");
	if (!*tool || tool[0] == '-')
		return kerr_set(e, -EINVAL, "ipmi", "[ipmi] ipmitool: not a program");
	if (priv) {
		const char *canon = NULL;

		for (size_t i = 0; i < ARRAY_SIZE(ipmi_privileges); i++)
			if (!strcasecmp(priv, ipmi_privileges[i]))
				canon = ipmi_privileges[i];
		if (!canon)
			return kerr_set(
			    e, -EINVAL, "ipmi",
			    "[ipmi] privilege: callback, user, operator or administrator");
		cf->privilege = xstrdup(canon);
	}
	cf->host = xstrdup(host);
	cf->user = user && *user ? xstrdup(user) : NULL;
	cf->password_file = pwf ? xstrdup(pwf) : NULL;
	cf->password = pw ? xstrdup(pw) : NULL;
	cf->interface = xstrdup(iface);
	cf->ipmitool = xstrdup(tool);
	return 0;
}

static int conf_numbers(const struct config *c, struct ipmi_conf *cf, struct kerr *e)
{
	int interval, timeout;

	if (get_int(c, "port", 623, 1, 65535, &cf->port, e) < 0 ||
	    get_int(c, "cipher_suite", !strcmp(cf->interface, "lanplus") ? 3 : -1, -1, 255,
	            &cf->cipher_suite, e) < 0 ||
	    get_int(c, "interval", 10, 1, 86400, &interval, e) < 0 ||
	    get_int(c, "timeout", 10, 1, 600, &timeout, e) < 0 ||
	    get_int(c, "retries", 2, 0, 10, &cf->retries, e) < 0 ||
	    get_int(c, "retry_interval", 1, 1, 60, &cf->retry_interval_s, e) < 0)
		return e->code;
	cf->interval_ms = interval * 1000;
	cf->timeout_ms = timeout * 1000;
	return 0;
}

static int any_key(void *cls, const char *key, const char *value)
{
	return 1;
}

int ipmi_conf_load(const struct config *c, struct ipmi_conf **ret, struct kerr *e)
{
	struct ipmi_conf *cf;
	struct kerr local;
	int r;

	if (!e)
		e = &local;
	kerr_clear(e);
	*ret = NULL;
	if (!c || config_each_key(c, "ipmi", any_key, NULL) == 0)
		return 0;
	r = config_each_key(c, "ipmi", check_key, e);
	if (r < 0)
		return r;
	cf = xcalloc(1, sizeof(*cf));
	r = conf_strings(c, cf, e);
	if (r == 0)
		r = conf_numbers(c, cf, e);
	if (r < 0) {
		ipmi_conf_free(cf);
		return r;
	}
	*ret = cf;
	return 0;
}

struct ipmi_conf *ipmi_conf_free(struct ipmi_conf *cf)
{
	if (!cf)
		return NULL;
	free(cf->host);
	free(cf->user);
	free(cf->password_file);
	if (cf->password) {
		explicit_bzero(cf->password, strlen(cf->password));
		free(cf->password);
	}
	free(cf->interface);
	free(cf->privilege);
	free(cf->ipmitool);
	free(cf);
	return NULL;
}

int ipmi_conf_interval_ms(const struct ipmi_conf *cf)
{
	return cf->interval_ms;
}

int ipmi_conf_timeout_ms(const struct ipmi_conf *cf)
{
	return cf->timeout_ms;
}

/* --- the command ---------------------------------------------------------- */

char **ipmi_argv(const struct ipmi_conf *cf)
{
	char **argv = xcalloc(IPMI_ARGV_MAX, sizeof(char *));
	size_t n = 0;

#define ARG(s) (argv[n++] = xstrdup(s))
	ARG(cf->ipmitool);
	ARG("-I");
	ARG(cf->interface);
	ARG("-H");
	ARG(cf->host);
	ARG("-p");
	argv[n++] = xasprintf("%d", cf->port);
	if (cf->user) {
		ARG("-U");
		ARG(cf->user);
	}
	if (cf->password_file) {
		ARG("-f");
		ARG(cf->password_file);
	} else if (cf->password) {
		ARG("-E");
	}
	if (cf->cipher_suite >= 0 && !strcmp(cf->interface, "lanplus")) {
		ARG("-C");
		argv[n++] = xasprintf("%d", cf->cipher_suite);
	}
	if (cf->privilege) {
		ARG("-L");
		ARG(cf->privilege);
	}
	ARG("-N");
	argv[n++] = xasprintf("%d", cf->retry_interval_s);
	ARG("-R");
	argv[n++] = xasprintf("%d", cf->retries);
	ARG("sdr");
	ARG("elist");
	ARG("full");
#undef ARG
	argv[n] = NULL;
	return argv;
}

void ipmi_argv_free(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

/* The child's environment: ours without IPMI_PASSWORD, plus the inline
 * password when there is one. Built before fork (no malloc after it). */
static char **child_env(const struct ipmi_conf *cf)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ && environ[n])
		n++;
	env = xcalloc(n + 2, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		if (!str_startswith(environ[i], "IPMI_PASSWORD="))
			env[k++] = environ[i]; /* weak */
	if (cf->password && !cf->password_file)
		env[k++] = xasprintf("IPMI_PASSWORD=%s", cf->password);
	env[k] = NULL;
	return env;
}

static void child_env_free(const struct ipmi_conf *cf, char **env)
{
	size_t n = 0;

	while (env[n])
		n++;
	if (n && cf->password && !cf->password_file) {
		explicit_bzero(env[n - 1], strlen(env[n - 1]));
		free(env[n - 1]);
	}
	free(env);
}

static void child_exec(char **argv, char **env, int out, int err)
{
	sigset_t none;
	int null = open("/dev/null", O_RDONLY);

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setsid(); /* no controlling terminal: ipmitool cannot prompt */
	if (null < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
		_exit(126);
	if (syscall(SYS_close_range, 3U, ~0U, 0U) < 0)
		for (int i = 3; i < 1024; i++)
			close(i);
	execvpe(argv[0], argv, env);
	_exit(127);
}

static void drain(int fd, struct buf *b, bool *open_)
{
	char chunk[8192];
	ssize_t k = read(fd, chunk, sizeof(chunk));

	if (k == 0 || (k < 0 && errno != EINTR && errno != EAGAIN))
		*open_ = false;
	else if (k > 0)
		buf_append(b, chunk, (size_t)k); /* past the limit: dropped */
}

/* The last non-empty line of s into out. */
static void last_line(const char *s, char *out, size_t len)
{
	const char *best = NULL, *p = s;
	size_t bestlen = 0;

	while (p && *p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		size_t t = n;

		while (t && isspace((unsigned char)p[t - 1]))
			t--;
		if (t) {
			best = p;
			bestlen = t;
		}
		p = nl ? nl + 1 : NULL;
	}
	snprintf(out, len, "%.*s", (int)bestlen, best ? best : "");
}

/* Runs ipmitool; 0 with its output in out, or -errno with reason. */
static int run(const struct ipmi_conf *cf, atomic_bool *stop, struct buf *out, char *reason,
               size_t len)
{
	int64_t deadline = mono_ms() + cf->timeout_ms;
	int pout[2] = { -1, -1 }, perr[2] = { -1, -1 };
	char **argv = ipmi_argv(cf), **env = child_env(cf);
	bool out_open = true, err_open = true, killed = false;
	struct buf err;
	int status = 0, r = 0;
	pid_t pid = -1;

	buf_init(&err, IPMI_ERR_MAX);
	if (pipe2(pout, O_CLOEXEC) < 0 || pipe2(perr, O_CLOEXEC) < 0) {
		r = -errno;
		snprintf(reason, len, "pipe: %s", strerror(-r));
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		r = -errno;
		snprintf(reason, len, "fork: %s", strerror(-r));
		goto out;
	}
	if (pid == 0)
		child_exec(argv, env, pout[1], perr[1]);
	close(pout[1]);
	close(perr[1]);
	pout[1] = perr[1] = -1;
	while (out_open || err_open) {
		struct pollfd p[2];
		int np = 0;
		int64_t left = deadline - mono_ms();

		if (left <= 0 || atomic_load(stop)) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			killed = true;
			break;
		}
		if (out_open)
			p[np++] = (struct pollfd){ .fd = pout[0], .events = POLLIN };
		if (err_open)
			p[np++] = (struct pollfd){ .fd = perr[0], .events = POLLIN };
		if (poll(p, (nfds_t)np, left < 100 ? (int)left : 100) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < np; i++) {
			if (!p[i].revents)
				continue;
			if (p[i].fd == pout[0])
				drain(pout[0], out, &out_open);
			else
				drain(perr[0], &err, &err_open);
		}
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (killed) {
		r = -ETIMEDOUT;
		if (atomic_load(stop))
			snprintf(reason, len, "stopped");
		else
			snprintf(reason, len, "%s did not answer within %d s (killed)",
			         cf->ipmitool, cf->timeout_ms / 1000);
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
		r = -ENOENT;
		snprintf(reason, len, "cannot run %s", cf->ipmitool);
	} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char line[SENSOR_REASON_MAX - 64];

		r = -EIO;
		last_line(err.data ? err.data : "", line, sizeof(line));
		snprintf(reason, len, "%s failed (%s %d)%s%s", cf->ipmitool,
		         WIFEXITED(status) ? "exit" : "signal",
		         WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
		         *line ? ": " : "", line);
	}
out:
	for (int i = 0; i < 2; i++) {
		if (pout[i] >= 0)
			close(pout[i]);
		if (perr[i] >= 0)
			close(perr[i]);
	}
	buf_free(&err);
	ipmi_argv_free(argv);
	child_env_free(cf, env);
	return r;
}

/* --- the output ------------------------------------------------------------ */

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	return str_rstrip(s);
}

/* "42 degrees C", "12.05 Volts", "No Reading", "0x01": a number and its
 * unit, or no value. */
static void parse_reading(const char *s, struct ipmi_row *row)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno || !isfinite(v) || !strncasecmp(s, "0x", 2) ||
	    (*end && !isspace((unsigned char)*end)))
		return;
	row->has_value = true;
	row->value = v;
	while (isspace((unsigned char)*end))
		end++;
	snprintf(row->unit, sizeof(row->unit), "%s", end);
}

/* "name | 01h | ok | 7.1 | 42 degrees C": five fields split on '|'. The
 * name may hold anything, so the other four are taken from the right. */
static bool parse_line(char *line, struct ipmi_row *row)
{
	char *f[5];

	for (int i = 4; i > 0; i--) {
		char *bar = strrchr(line, '|');

		if (!bar)
			return false;
		*bar = '\0';
		f[i] = trim(bar + 1);
	}
	f[0] = trim(line);
	if (!*f[0] || strlen(f[0]) >= sizeof(row->name))
		return false;
	memset(row, 0, sizeof(*row));
	snprintf(row->name, sizeof(row->name), "%s", f[0]);
	snprintf(row->status, sizeof(row->status), "%s", f[2]);
	parse_reading(f[4], row);
	return true;
}

int ipmi_parse_elist(const char *text, struct ipmi_row **ret, size_t *ret_n)
{
	struct ipmi_row *rows = NULL;
	size_t n = 0, cap = 0;
	char *copy = xstrdup(text ? text : ""), *save = NULL;

	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct ipmi_row row;

		if (!parse_line(line, &row))
			continue;
		if (n == IPMI_ROWS_MAX)
			break;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			rows = xrealloc(rows, cap * sizeof(*rows));
		}
		rows[n++] = row;
	}
	free(copy);
	*ret = rows;
	*ret_n = n;
	return 0;
}

struct ipmi_unit {
	const char *type; /* Redfish ReadingType */
	const char *unit; /* as ipmitool prints it */
	double mul, add;  /* value * mul + add */
};

static const struct ipmi_unit ipmi_units[] = {
	{ "Temperature", "degrees C", 1, 0 },
	{ "Temperature", "degrees F", 5.0 / 9.0, -32.0 * 5.0 / 9.0 },
	{ "Temperature", "degrees K", 1, -273.15 },
	{ "Rotational", "RPM", 1, 0 },
	{ "Power", "Watts", 1, 0 },
	{ "Voltage", "Volts", 1, 0 },
	{ "Current", "Amps", 1, 0 },
	{ "Percent", "percent", 1, 0 },
	{ "Percent", "%", 1, 0 },
	{ "EnergyJoules", "Joules", 1, 0 },
	{ "Frequency", "Hz", 1, 0 },
};

int ipmi_row_value(const struct ipmi_row *row, const char *type, double *ret, char *reason,
                   size_t len)
{
	if (!row->has_value) {
		snprintf(reason, len, "the BMC has no reading for %s (status %s)", row->name,
		         *row->status ? row->status : "unknown");
		return -EINVAL;
	}
	for (size_t i = 0; i < ARRAY_SIZE(ipmi_units); i++) {
		const struct ipmi_unit *u = &ipmi_units[i];

		if (type && !strcmp(u->type, type) && !strcasecmp(u->unit, row->unit)) {
			*ret = row->value * u->mul + u->add;
			return 0;
		}
	}
	snprintf(reason, len, "the BMC reads %s in '%s', not a %s", row->name, row->unit,
	         type ? type : "known type");
	return -EINVAL;
}

/* --- the thread ------------------------------------------------------------- */

struct ipmi_poller {
	const struct ipmi_conf *cf; /* weak */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	atomic_bool stop;
	bool want, busy;
	uint64_t started, done; /* sequence numbers of queries */
	/* the latest answer, guarded by mu */
	int r;
	struct ipmi_row *rows; /* owned */
	size_t n;
	char reason[SENSOR_REASON_MAX];
};

static void query(struct ipmi_poller *p, int *ret_r, struct ipmi_row **ret_rows, size_t *ret_n,
                  char *reason, size_t len)
{
	struct buf out;
	int r;

	buf_init(&out, IPMI_OUT_MAX);
	*ret_rows = NULL;
	*ret_n = 0;
	*reason = '\0';
	r = run(p->cf, &p->stop, &out, reason, len);
	if (r == 0 || r == -EIO)
		ipmi_parse_elist(out.data ? out.data : "", ret_rows, ret_n);
	if (r == -EIO && *ret_n > 0)
		r = 0; /* some rows failed, the others are good */
	if (r == 0 && *ret_n == 0) {
		r = -ENODATA;
		snprintf(reason, len, "%s printed no sensors", p->cf->ipmitool);
	}
	*ret_r = r;
	buf_free(&out);
}

static void *poller_main(void *arg)
{
	struct ipmi_poller *p = arg;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		char reason[SENSOR_REASON_MAX];
		struct ipmi_row *rows;
		uint64_t seq;
		size_t n;
		int r;

		while (!p->want && !atomic_load(&p->stop))
			pthread_cond_wait(&p->cv, &p->mu);
		if (atomic_load(&p->stop))
			break;
		p->want = false;
		p->busy = true;
		seq = ++p->started;
		pthread_mutex_unlock(&p->mu);
		query(p, &r, &rows, &n, reason, sizeof(reason));
		pthread_mutex_lock(&p->mu);
		free(p->rows);
		p->rows = rows;
		p->n = n;
		p->r = r;
		snprintf(p->reason, sizeof(p->reason), "%s", reason);
		p->done = seq;
		p->busy = false;
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

struct ipmi_poller *ipmi_poller_new(const struct ipmi_conf *cf)
{
	struct ipmi_poller *p = xcalloc(1, sizeof(*p));
	pthread_condattr_t ca;

	p->cf = cf;
	atomic_init(&p->stop, false);
	pthread_mutex_init(&p->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&p->thread, NULL, poller_main, p) != 0)
		abort();
	return p;
}

struct ipmi_poller *ipmi_poller_free(struct ipmi_poller *p)
{
	if (!p)
		return NULL;
	pthread_mutex_lock(&p->mu);
	atomic_store(&p->stop, true);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->thread, NULL);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p->rows);
	free(p);
	return NULL;
}

uint64_t ipmi_poller_kick(struct ipmi_poller *p)
{
	uint64_t seq;

	pthread_mutex_lock(&p->mu);
	if (p->busy) {
		seq = p->started;
	} else {
		p->want = true;
		seq = p->started + 1;
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	return seq;
}

void ipmi_poller_wait(struct ipmi_poller *p, uint64_t seq, int timeout_ms)
{
	struct timespec ts;

	deadline_mono(&ts, timeout_ms);
	pthread_mutex_lock(&p->mu);
	while (p->done < seq && !atomic_load(&p->stop))
		if (pthread_cond_timedwait(&p->cv, &p->mu, &ts) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&p->mu);
}

bool ipmi_poller_busy(struct ipmi_poller *p)
{
	bool busy;

	pthread_mutex_lock(&p->mu);
	busy = p->busy || p->want;
	pthread_mutex_unlock(&p->mu);
	return busy;
}

int ipmi_poller_take(struct ipmi_poller *p, uint64_t *seen, int *ret_r, struct ipmi_row **ret_rows,
                     size_t *ret_n, char *reason, size_t len)
{
	int fresh = 0;

	pthread_mutex_lock(&p->mu);
	if (p->done > *seen) {
		*seen = p->done;
		*ret_r = p->r;
		*ret_n = p->n;
		*ret_rows = p->n ? xmalloc(p->n * sizeof(**ret_rows)) : NULL;
		if (p->n)
			memcpy(*ret_rows, p->rows, p->n * sizeof(**ret_rows));
		snprintf(reason, len, "%s", p->reason);
		fresh = 1;
	}
	pthread_mutex_unlock(&p->mu);
	return fresh;
}
