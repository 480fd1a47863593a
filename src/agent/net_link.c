// SPDX-License-Identifier: MIT
/*
 * iproute2 and namespaces for the network code (net_link.h): a process
 * runner with stdin/stdout/stderr pipes that can enter a namespace before
 * exec, `-batch` runs that map a failed line back to the object it was
 * about, JSON snapshots of links, FDB entries and qdiscs, and setns(2)
 * helpers for the few per-namespace operations that would otherwise cost a
 * process each (bringing a VM namespace's eth0 up, sysctls). Not for
 * deciding what to change: that is net.c's and net_svc.c's.
 */
#include <arpa/inet.h>
#include <net/if_arp.h>
#include <netinet/if_ether.h>
#include <netpacket/packet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/net_link.h"
#include "common/json.h"
#include "common/util.h"

#define NETNS_DIR "/run/netns"

/* --- running programs ---------------------------------------------------- */

static void child_exec(char *const argv[], const char *netns, int in, int out, int err)
{
	sigset_t none;
	int fd;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	if (netns) {
		char path[PATH_MAX];

		snprintf(path, sizeof(path), NETNS_DIR "/%s", netns);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
			_exit(126);
		close(fd);
	}
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
		_exit(126);
	if (syscall(SYS_close_range, 3U, ~0U, 0U) < 0)
		for (int i = 3; i < 1024; i++)
			close(i);
	execvp(argv[0], argv);
	_exit(127);
}

static int drain(int fd, struct buf *b, bool *open_)
{
	char chunk[16384];
	ssize_t k = read(fd, chunk, sizeof(chunk));

	if (k < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -errno;
	if (k == 0) {
		*open_ = false;
		return 0;
	}
	if (b)
		buf_append(b, chunk, (size_t)k); /* over the limit: the rest is dropped */
	return 0;
}

int nl_run(char *const argv[], const char *netns, const char *input, size_t inlen, struct buf *out,
           struct buf *err, int timeout_ms)
{
	int64_t deadline = mono_ms() + timeout_ms;
	int pin[2] = { -1, -1 }, pout[2] = { -1, -1 }, perr[2] = { -1, -1 };
	bool out_open = true, err_open = true;
	size_t sent = 0;
	int status = 0, r = 0;
	pid_t pid;

	if (netns && !ns_exists(netns))
		return -ENOENT;
	if (pipe2(pin, O_CLOEXEC) < 0 || pipe2(pout, O_CLOEXEC) < 0 || pipe2(perr, O_CLOEXEC) < 0) {
		r = -errno;
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		r = -errno;
		goto out;
	}
	if (pid == 0)
		child_exec(argv, netns, pin[0], pout[1], perr[1]);
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	pin[0] = pout[1] = perr[1] = -1;
	fcntl(pin[1], F_SETFL, O_NONBLOCK);
	if (!input || inlen == 0) {
		close(pin[1]);
		pin[1] = -1;
	}
	while (out_open || err_open || pin[1] >= 0) {
		struct pollfd p[3];
		int np = 0, left = (int)(deadline - mono_ms());

		if (left <= 0) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			r = -ETIMEDOUT;
			goto out;
		}
		if (out_open)
			p[np++] = (struct pollfd){ .fd = pout[0], .events = POLLIN };
		if (err_open)
			p[np++] = (struct pollfd){ .fd = perr[0], .events = POLLIN };
		if (pin[1] >= 0)
			p[np++] = (struct pollfd){ .fd = pin[1], .events = POLLOUT };
		if (poll(p, (nfds_t)np, left) < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
		for (int i = 0; i < np; i++) {
			if (!p[i].revents)
				continue;
			if (p[i].fd == pout[0])
				drain(pout[0], out, &out_open);
			else if (p[i].fd == perr[0])
				drain(perr[0], err, &err_open);
			else {
				ssize_t k = write(pin[1], input + sent, inlen - sent);

				if (k > 0)
					sent += (size_t)k;
				if ((k < 0 && errno != EAGAIN && errno != EINTR) || sent == inlen) {
					close(pin[1]);
					pin[1] = -1;
				}
			}
		}
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			r = -errno;
			goto out;
		}
	}
	if (r == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		r = WIFEXITED(status) && WEXITSTATUS(status) >= 126 ? -ENOENT : -ECHILD;
out:
	for (int i = 0; i < 2; i++) {
		if (pin[i] >= 0)
			close(pin[i]);
		if (pout[i] >= 0)
			close(pout[i]);
		if (perr[i] >= 0)
			close(perr[i]);
	}
	return r;
}

void nl_err_line(const struct buf *err, char *out, size_t outlen)
{
	const char *s = err && err->data ? err->data : "";
	const char *best = NULL;
	size_t bestlen = 0;

	for (const char *p = s; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		if (len && strncmp(p, "Command failed", 14) != 0 &&
		    strncmp(p, "We have an error talking", 24) != 0) {
			best = p;
			bestlen = len;
		}
		p += len + (nl ? 1 : 0);
	}
	if (best && bestlen > 7 && !strncmp(best, "Error: ", 7)) {
		best += 7;
		bestlen -= 7;
	}
	while (bestlen && (best[bestlen - 1] == '.' || best[bestlen - 1] == '\r'))
		bestlen--;
	snprintf(out, outlen, "%.*s", (int)bestlen, best ? best : "failed");
}

/* --- batches ------------------------------------------------------------- */

void nl_batch_init(struct nl_batch *b)
{
	memset(b, 0, sizeof(*b));
	buf_init(&b->text, NL_OUT_MAX);
}

void nl_batch_add(struct nl_batch *b, const char *what, const char *fmt, ...)
{
	va_list ap;
	char *line;

	va_start(ap, fmt);
	if (vasprintf(&line, fmt, ap) < 0)
		abort();
	va_end(ap);
	if (strchr(line, '\n'))
		abort(); /* a bug: lines are built from validated fields */
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 64;
		b->what = xrealloc(b->what, b->cap * sizeof(*b->what));
	}
	b->what[b->n++] = xstrdup(what);
	if (buf_puts(&b->text, line) < 0 || buf_puts(&b->text, "\n") < 0)
		abort();
	free(line);
}

int nl_batch_run(struct nl_batch *b, const char *tool, const char *netns, char *err, size_t errlen)
{
	struct buf e;
	char *argv[8];
	int n = 0, r;

	if (b->n == 0)
		return 0;
	argv[n++] = (char *)tool;
	if (netns && !strcmp(tool, "ip")) {
		argv[n++] = "-n";
		argv[n++] = (char *)netns;
		netns = NULL;
	}
	argv[n++] = "-force";
	argv[n++] = "-batch";
	argv[n++] = "-";
	argv[n] = NULL;
	buf_init(&e, 1024 * 1024);
	r = nl_run(argv, netns, b->text.data, b->text.len, NULL, &e, NL_TIMEOUT_MS);
	if (r < 0) {
		char reason[200];
		const char *what = "";
		const char *p = e.data ? strstr(e.data, "Command failed -:") : NULL;

		nl_err_line(&e, reason, sizeof(reason));
		if (p) {
			long line = strtol(p + 17, NULL, 10);

			if (line >= 1 && (size_t)line <= b->n)
				what = b->what[line - 1];
			/* the reason printed just before that line's failure */
			char *before = strndup(e.data, (size_t)(p - e.data));
			struct buf tmp = { .data = before, .len = before ? strlen(before) : 0 };

			nl_err_line(&tmp, reason, sizeof(reason));
			free(before);
		}
		if (r == -ENOENT)
			snprintf(reason, sizeof(reason),
			         "%s is not installed or the namespace is gone", tool);
		else if (r == -ETIMEDOUT)
			snprintf(reason, sizeof(reason), "%s timed out", tool);
		snprintf(err, errlen, "%s%s%s", what, *what ? ": " : "", reason);
		r = -1;
	}
	buf_free(&e);
	return r;
}

void nl_batch_free(struct nl_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->what[i]);
	free(b->what);
	buf_free(&b->text);
	memset(b, 0, sizeof(*b));
}

void nl_batch_cat(struct nl_batch *dst, struct nl_batch *src)
{
	if (src->text.len && buf_append(&dst->text, src->text.data, src->text.len) < 0)
		abort();
	for (size_t i = 0; i < src->n; i++) {
		if (dst->n == dst->cap) {
			dst->cap = dst->cap ? dst->cap * 2 : 64;
			dst->what = xrealloc(dst->what, dst->cap * sizeof(*dst->what));
		}
		dst->what[dst->n++] = src->what[i];
	}
	src->n = 0;
	buf_reset(&src->text);
}

/* --- snapshots ----------------------------------------------------------- */

/* Runs argv (a listing with -j) in netns and parses its JSON array. */
static json_t *run_json(char **argv, const char *netns, char *err, size_t errlen)
{
	struct buf out, e;
	json_t *v = NULL;
	char reason[200];
	int r;

	buf_init(&out, NL_OUT_MAX);
	buf_init(&e, 64 * 1024);
	r = nl_run(argv, netns, NULL, 0, &out, &e, NL_TIMEOUT_MS);
	if (r < 0) {
		nl_err_line(&e, reason, sizeof(reason));
		snprintf(err, errlen, "%s %s%s%s failed: %s", argv[0], argv[1],
		         netns ? " in namespace " : "", netns ? netns : "",
		         r == -ECHILD ? reason : strerror(-r));
		goto out;
	}
	if (out.len == 0 || strspn(out.data, " \r\n") == out.len) {
		v = json_array(); /* `tc -j` prints nothing when there is nothing */
		goto out;
	}
	v = jparse(out.data, out.len, reason, sizeof(reason));
	if (!json_is_array(v)) {
		snprintf(err, errlen, "%s %s: unexpected output: %s", argv[0], argv[1], reason);
		json_decref(v);
		v = NULL;
	}
out:
	buf_free(&out);
	buf_free(&e);
	return v;
}

static void copy_str(char *dst, size_t len, const char *s)
{
	snprintf(dst, len, "%s", s ? s : "");
}

static bool has_flag(const json_t *flags, const char *flag)
{
	size_t i;
	json_t *f;

	json_array_foreach(flags, i, f)
	{
		if (json_is_string(f) && !strcmp(json_string_value(f), flag))
			return true;
	}
	return false;
}

static void link_parse(const json_t *o, struct nl_link *l)
{
	const json_t *info = json_object_get(o, "linkinfo");
	const json_t *data = json_object_get(info, "info_data");
	const json_t *ai = json_object_get(o, "addr_info");
	size_t i;
	json_t *a;

	copy_str(l->name, sizeof(l->name), jstr(o, "ifname"));
	copy_str(l->kind, sizeof(l->kind), jstr(info, "info_kind"));
	copy_str(l->master, sizeof(l->master), jstr(o, "master"));
	copy_str(l->mac, sizeof(l->mac), jstr(o, "address"));
	copy_str(l->lower, sizeof(l->lower), jstr(o, "link"));
	l->mtu = (int)jint(o, "mtu", 0);
	l->group = jstr(o, "group") ? (unsigned)strtoul(jstr(o, "group"), NULL, 0) : 0;
	l->up = has_flag(json_object_get(o, "flags"), "UP");
	l->stp = jint(data, "stp_state", 0) != 0;
	l->forward_delay = jint(data, "forward_delay", 0);
	l->id = jint(data, "id", -1);
	l->port = jint(data, "port", 0);
	l->learning = jbool(data, "learning", true);
	copy_str(l->local, sizeof(l->local), jstr(data, "local"));
	copy_str(l->qdisc, sizeof(l->qdisc), jstr(o, "qdisc"));
	l->tap =
	    !strcmp(l->kind, "tun") && jstr(data, "type") && !strcmp(jstr(data, "type"), "tap");
	l->addrs = xcalloc(json_array_size(ai) + 1, sizeof(*l->addrs));
	json_array_foreach(ai, i, a)
	{
		if (!jstr(a, "family") || strcmp(jstr(a, "family"), "inet") || !jstr(a, "local"))
			continue;
		snprintf(l->addrs[l->naddrs++], NL_ADDR_LEN, "%s/%d", jstr(a, "local"),
		         (int)jint(a, "prefixlen", 32));
	}
}

int nl_links(const char *netns, struct nl_link **ret, size_t *ret_n, char *err, size_t errlen)
{
	char *argv[] = { "ip", "-d", "-j", "addr", "show", NULL };
	json_t *v = run_json(argv, netns, err, errlen), *o;
	struct nl_link *l;
	size_t i, n = 0;

	if (!v)
		return -EIO;
	l = xcalloc(json_array_size(v) + 1, sizeof(*l));
	json_array_foreach(v, i, o)
	{
		if (jstr(o, "ifname"))
			link_parse(o, &l[n++]);
	}
	json_decref(v);
	*ret = l;
	*ret_n = n;
	return 0;
}

void nl_links_free(struct nl_link *l, size_t n)
{
	for (size_t i = 0; l && i < n; i++)
		free(l[i].addrs);
	free(l);
}

struct nl_link *nl_link_find(struct nl_link *l, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(l[i].name, name))
			return &l[i];
	return NULL;
}

bool nl_link_has_addr(const struct nl_link *l, const char *cidr)
{
	for (size_t i = 0; l && i < l->naddrs; i++)
		if (!strcmp(l->addrs[i], cidr))
			return true;
	return false;
}

int nl_fdbs(const char *netns, struct nl_fdb **ret, size_t *ret_n, char *err, size_t errlen)
{
	char *argv[] = { "bridge", "-j", "fdb", "show", NULL };
	json_t *v = run_json(argv, netns, err, errlen), *o;
	struct nl_fdb *f;
	size_t i, n = 0;

	if (!v)
		return -EIO;
	f = xcalloc(json_array_size(v) + 1, sizeof(*f));
	json_array_foreach(v, i, o)
	{
		const char *state = jstr(o, "state");

		if (!jstr(o, "mac") || !jstr(o, "ifname"))
			continue;
		nl_mac_lower(jstr(o, "mac"), f[n].mac);
		copy_str(f[n].dev, sizeof(f[n].dev), jstr(o, "ifname"));
		copy_str(f[n].dst, sizeof(f[n].dst), jstr(o, "dst"));
		f[n].is_static = state && (!strcmp(state, "static") || !strcmp(state, "permanent"));
		f[n].master = jstr(o, "master") != NULL;
		n++;
	}
	json_decref(v);
	*ret = f;
	*ret_n = n;
	return 0;
}

int nl_qdiscs(const char *netns, struct nl_qdisc **ret, size_t *ret_n, char *err, size_t errlen)
{
	char *argv[] = { "tc", "-j", "qdisc", "show", NULL };
	json_t *v = run_json(argv, netns, err, errlen), *o;
	struct nl_qdisc *q;
	size_t i, n = 0;

	if (!v)
		return -EIO;
	q = xcalloc(json_array_size(v) + 1, sizeof(*q));
	json_array_foreach(v, i, o)
	{
		if (!jbool(o, "root", false) || !jstr(o, "dev"))
			continue;
		copy_str(q[n].dev, sizeof(q[n].dev), jstr(o, "dev"));
		copy_str(q[n].kind, sizeof(q[n].kind), jstr(o, "kind"));
		q[n].rate = jint(json_object_get(o, "options"), "rate", 0);
		n++;
	}
	json_decref(v);
	*ret = q;
	*ret_n = n;
	return 0;
}

int nl_default_gw(const char *netns, char *out, size_t outlen, char *err, size_t errlen)
{
	char *argv[] = { "ip", "-j", "-4", "route", "show", "default", NULL };
	json_t *v = run_json(argv, netns, err, errlen);

	if (!v)
		return -EIO;
	copy_str(out, outlen, jstr(json_array_get(v, 0), "gateway"));
	json_decref(v);
	return 0;
}

/* --- namespaces ---------------------------------------------------------- */

int ns_list(const char *prefix, char ***ret, size_t *ret_n)
{
	DIR *d = opendir(NETNS_DIR);
	struct dirent *de;
	char **v = NULL;
	size_t n = 0, cap = 0;

	if (!d) {
		if (errno != ENOENT)
			return -errno;
		*ret = NULL;
		*ret_n = 0;
		return 0;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || !str_startswith(de->d_name, prefix))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	*ret = v;
	*ret_n = n;
	return 0;
}

void ns_list_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

bool ns_exists(const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), NETNS_DIR "/%s", name);
	return access(path, F_OK) == 0;
}

int ns_add(const char *name, char *err, size_t errlen)
{
	char *argv[] = { "ip", "netns", "add", (char *)name, NULL };
	struct buf e;
	char reason[200];
	int r;

	if (ns_exists(name))
		return 0;
	buf_init(&e, 64 * 1024);
	r = nl_run(argv, NULL, NULL, 0, NULL, &e, NL_TIMEOUT_MS);
	if (r < 0) {
		nl_err_line(&e, reason, sizeof(reason));
		snprintf(err, errlen, "cannot create namespace %s: %s", name,
		         r == -ECHILD ? reason : strerror(-r));
	}
	buf_free(&e);
	return r < 0 ? -1 : 0;
}

/* Signals every process whose network namespace is the one of path. The
 * number signalled. */
static int ns_signal(const struct stat *ns, int sig)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char path[300];
		struct stat st;
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (*end || pid <= 1 || pid == getpid())
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/ns/net", pid);
		if (stat(path, &st) == 0 && st.st_dev == ns->st_dev && st.st_ino == ns->st_ino) {
			kill((pid_t)pid, sig);
			n++;
		}
	}
	closedir(d);
	return n;
}

int ns_del(const char *name, char *err, size_t errlen)
{
	char *argv[] = { "ip", "netns", "del", (char *)name, NULL };
	char path[PATH_MAX], reason[200];
	struct stat st;
	struct buf e;
	int r;

	snprintf(path, sizeof(path), NETNS_DIR "/%s", name);
	if (stat(path, &st) < 0)
		return 0;
	if (ns_signal(&st, SIGTERM) > 0) {
		for (int i = 0; i < 50 && ns_signal(&st, 0) > 0; i++)
			usleep(10000);
		ns_signal(&st, SIGKILL);
	}
	buf_init(&e, 64 * 1024);
	r = nl_run(argv, NULL, NULL, 0, NULL, &e, NL_TIMEOUT_MS);
	if (r < 0 && ns_exists(name)) {
		nl_err_line(&e, reason, sizeof(reason));
		snprintf(err, errlen, "cannot delete namespace %s: %s", name,
		         r == -ECHILD ? reason : strerror(-r));
	} else {
		r = 0;
	}
	buf_free(&e);
	return r < 0 ? -1 : 0;
}

int ns_enter(const char *name, int *ret_old)
{
	char path[PATH_MAX];
	int old, fd, r = 0;

	*ret_old = -1;
	if (!name)
		return 0;
	old = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (old < 0)
		return -errno;
	snprintf(path, sizeof(path), NETNS_DIR "/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
		r = -errno;
		close(old);
		old = -1;
	}
	if (fd >= 0)
		close(fd);
	*ret_old = old;
	return r;
}

void ns_leave(int old)
{
	if (old < 0)
		return;
	if (setns(old, CLONE_NEWNET) < 0)
		abort(); /* the thread would go on in the wrong namespace */
	close(old);
}

int ns_if_up(const char *netns, const char *ifname, const char *mac, bool *ret_changed)
{
	struct ifreq ifr = { 0 };
	int old, s = -1, r;

	*ret_changed = false;
	r = ns_enter(netns, &old);
	if (r < 0)
		return r;
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ns_leave(old); /* the socket stays in the namespace it was made in */
	if (s < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(s, SIOCGIFHWADDR, &ifr) < 0) {
		r = errno == ENODEV ? -ENODEV : -errno;
		goto out;
	}
	if (mac) {
		unsigned char *a = (unsigned char *)ifr.ifr_hwaddr.sa_data;
		char have[18], want[18];

		snprintf(have, sizeof(have), "%02x:%02x:%02x:%02x:%02x:%02x", a[0], a[1], a[2],
		         a[3], a[4], a[5]);
		nl_mac_lower(mac, want);
		if (strcmp(have, want)) {
			r = -EADDRINUSE;
			goto out;
		}
	}
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
		r = -errno;
		goto out;
	}
	if (!(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) {
			r = -errno;
			goto out;
		}
		*ret_changed = true;
	}
	r = 0;
out:
	close(s);
	return r;
}

int ns_garp(const char *netns, const char *ifname, const char *ip)
{
	struct arp_pkt {
		uint16_t htype, ptype;
		uint8_t hlen, plen;
		uint16_t op;
		uint8_t sha[6], spa[4], tha[6], tpa[4];
	} __attribute__((packed)) pkt = { 0 };
	struct sockaddr_ll to = { 0 };
	struct ifreq ifr = { 0 };
	struct in_addr a;
	int old, s, r;

	if (inet_pton(AF_INET, ip, &a) != 1)
		return -EINVAL;
	r = ns_enter(netns, &old);
	if (r < 0)
		return r;
	s = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ARP));
	ns_leave(old);
	if (s < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(s, SIOCGIFINDEX, &ifr) < 0) {
		r = -errno;
		goto out;
	}
	to.sll_ifindex = ifr.ifr_ifindex;
	if (ioctl(s, SIOCGIFHWADDR, &ifr) < 0) {
		r = -errno;
		goto out;
	}
	memcpy(pkt.sha, ifr.ifr_hwaddr.sa_data, 6);
	pkt.htype = htons(ARPHRD_ETHER);
	pkt.ptype = htons(ETH_P_IP);
	pkt.hlen = 6;
	pkt.plen = 4;
	pkt.op = htons(ARPOP_REQUEST);
	memcpy(pkt.spa, &a, 4);
	memcpy(pkt.tpa, &a, 4);
	to.sll_family = AF_PACKET;
	to.sll_protocol = htons(ETH_P_ARP);
	to.sll_halen = 6;
	memset(to.sll_addr, 0xff, 6);
	r = sendto(s, &pkt, sizeof(pkt), 0, (struct sockaddr *)&to, sizeof(to)) < 0 ? -errno : 0;
out:
	close(s);
	return r;
}

int ns_sysctl(const char *netns, const char *key, const char *value)
{
	char path[PATH_MAX], have[64] = "";
	int old, fd, r;
	ssize_t k;

	snprintf(path, sizeof(path), "/proc/sys/%s", key);
	for (char *p = path + 10; *p; p++)
		if (*p == '.')
			*p = '/';
	r = ns_enter(netns, &old);
	if (r < 0)
		return r;
	fd = open(path, O_RDWR | O_CLOEXEC);
	ns_leave(old); /* the file keeps the namespace it was opened in */
	if (fd < 0)
		return -errno;
	k = read(fd, have, sizeof(have) - 1);
	if (k > 0) {
		have[k] = '\0';
		str_rstrip(have);
	}
	if (strcmp(have, value) != 0) {
		if (lseek(fd, 0, SEEK_SET) < 0 || write(fd, value, strlen(value)) < 0)
			r = -errno;
	}
	close(fd);
	return r;
}

/* --- small checks -------------------------------------------------------- */

void nl_name(const char *prefix, const char *id, char out[IFNAMSIZ])
{
	size_t n = 0;
	char hex[9];

	for (const char *p = id; p && *p && n < 8; p++)
		if (isxdigit((unsigned char)*p))
			hex[n++] = (char)tolower((unsigned char)*p);
	hex[n] = '\0';
	snprintf(out, IFNAMSIZ, "%s%s", prefix, hex);
}

bool nl_ifname_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n >= IFNAMSIZ || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
			return false;
	return true;
}

bool nl_mac_valid(const char *s)
{
	if (!s || strlen(s) != 17)
		return false;
	for (int i = 0; i < 17; i++) {
		if (i % 3 == 2 ? s[i] != ':' : !isxdigit((unsigned char)s[i]))
			return false;
	}
	return true;
}

bool nl_ipv4_valid(const char *s)
{
	struct in_addr a;

	return s && strlen(s) < 16 && inet_pton(AF_INET, s, &a) == 1;
}

int nl_cidr_parse(const char *cidr, char net[16], char mask[16], int *ret_prefix)
{
	char ip[32];
	const char *slash = cidr ? strchr(cidr, '/') : NULL;
	struct in_addr a, m;
	char *end;
	long p;

	if (!slash || (size_t)(slash - cidr) >= sizeof(ip))
		return -EINVAL;
	snprintf(ip, sizeof(ip), "%.*s", (int)(slash - cidr), cidr);
	p = strtol(slash + 1, &end, 10);
	if (*end || end == slash + 1 || p < 0 || p > 32 || inet_pton(AF_INET, ip, &a) != 1)
		return -EINVAL;
	m.s_addr = htonl(p ? ~0U << (32 - p) : 0);
	a.s_addr &= m.s_addr;
	inet_ntop(AF_INET, &a, net, 16);
	inet_ntop(AF_INET, &m, mask, 16);
	*ret_prefix = (int)p;
	return 0;
}

void nl_mac_lower(const char *mac, char out[18])
{
	size_t i;

	for (i = 0; mac && mac[i] && i < 17; i++)
		out[i] = (char)tolower((unsigned char)mac[i]);
	out[i] = '\0';
}
