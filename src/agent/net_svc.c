// SPDX-License-Identifier: MIT
/*
 * The inside of an L3's service namespace kumo-<host x8>-<l3 x8> (net.h,
 * docs/ARCHITECTURE.md "Networking"): the gateway address on kgw0, the
 * uplink leg kup0 with its EIP and port-forward addresses and the default
 * route, IP forwarding, the namespace's nftables (kumo_nat, kumo_svc, from
 * net_nft.c), dnsmasq (DHCP with static leases from kumod's IPAM, DNS for
 * the L3's VMs) and the metadata service (net_meta.c). net.c makes the
 * namespace and its veth pairs; this file fills them, and removes a
 * namespace with what runs in it. Files of an L3 live in
 * <net dir>/l3-<l3 id>/: dnsmasq.conf, hosts, dhcp-hosts, dnsmasq.pid,
 * dnsmasq.log.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/net_link.h"
#include "agent/net_meta.h"
#include "agent/net_nft.h"
#include "agent/net_svc.h"
#include "common/buf.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"

#define META_ADDR "169.254.169.254"
#define META_PORT 80
#define DNSMASQ "dnsmasq"
#define FILE_MAX ((size_t)16 * 1024 * 1024)
#define ERRLEN 240
#define STOP_WAIT_MS 2000

/* --- nftables ------------------------------------------------------------ */

bool svc_nft_same(struct net *n, const char *key, const char *script)
{
	char *h = sha256_hex(script, strlen(script));
	const char *have = jstr(n->nft_done, key);
	bool same = have && !strcmp(have, h);

	free(h);
	return same;
}

void svc_nft_done(struct net *n, const char *key, const char *script)
{
	char *h = sha256_hex(script, strlen(script));

	json_object_set_new(n->nft_done, key, json_string(h));
	free(h);
}

/* Whether script defines (with a body) table family name. */
static bool script_defines(const char *script, const char *family, const char *name)
{
	char pat[160];
	const char *p = script;
	size_t len;

	len = (size_t)snprintf(pat, sizeof(pat), "table %s %s", family, name);
	while (script && (p = strstr(p, pat))) {
		const char *q = p + len;

		if ((p == script || isspace((unsigned char)p[-1])) &&
		    (p - script < 7 || strncmp(p - 7, "delete ", 7))) {
			while (*q == ' ' || *q == '\t')
				q++;
			if (*q == '{')
				return true;
		}
		p += len;
	}
	return false;
}

int svc_nft_run(const char *netns, const char *script, const char *what, struct driver_err *e)
{
	char *run[] = { "nft", "-f", "-", NULL };
	char *list[] = { "nft", "-j", "list", "tables", NULL };
	struct buf out, err, del;
	json_t *v = NULL, *o;
	char reason[200];
	size_t i;
	int r = 0;

	buf_init(&out, NL_OUT_MAX);
	buf_init(&err, 256 * 1024);
	buf_init(&del, 1024 * 1024);
	if (script) {
		r = nl_run(run, netns, script, strlen(script), NULL, &err, NL_TIMEOUT_MS);
		if (r < 0) {
			nl_err_line(&err, reason, sizeof(reason));
			r = net_fail(e, "NetworkError", "nftables of %s: %s", what,
			             r == -ECHILD ? reason : strerror(-r));
			goto out;
		}
	}
	/* leftovers: kumo_* tables the script does not define */
	buf_reset(&err);
	r = nl_run(list, netns, NULL, 0, &out, &err, NL_TIMEOUT_MS);
	if (r == 0)
		v = jparse(out.data ? out.data : "", out.len, NULL, 0);
	json_array_foreach(json_object_get(v, "nftables"), i, o)
	{
		const json_t *t = json_object_get(o, "table");
		const char *fam = jstr(t, "family"), *name = jstr(t, "name");

		if (!fam || !name || !str_startswith(name, "kumo_") ||
		    script_defines(script, fam, name))
			continue;
		buf_printf(&del, "delete table %s %s\n", fam, name);
	}
	if (del.len) {
		buf_reset(&err);
		r = nl_run(run, netns, del.data, del.len, NULL, &err, NL_TIMEOUT_MS);
		if (r < 0) {
			nl_err_line(&err, reason, sizeof(reason));
			r = net_fail(e, "NetworkError",
			             "cannot remove old nftables tables of %s: %s", what,
			             r == -ECHILD ? reason : strerror(-r));
			goto out;
		}
	}
	r = 0;
out:
	json_decref(v);
	buf_free(&out);
	buf_free(&err);
	buf_free(&del);
	return r;
}

/* --- files --------------------------------------------------------------- */

static char *l3_dir(const struct net *n, const char *l3_id)
{
	return xasprintf("%s/l3-%s", n->dir, l3_id);
}

/* Writes data to path unless it holds it already. 1 when it changed. */
static int file_update(const char *path, const char *data)
{
	char *have = NULL;
	size_t len = 0;
	int r;

	if (file_read(path, FILE_MAX, &have, &len) == 0 && len == strlen(data) &&
	    !memcmp(have, data, len)) {
		free(have);
		return 0;
	}
	free(have);
	r = file_write_atomic(path, data, strlen(data), 0644);
	return r < 0 ? r : 1;
}

/* Whether a line of the file at path is no longer in data: a dhcp-hosts
 * entry removed or changed (its address may go to another NIC now). */
static bool lines_dropped(const char *path, const char *data)
{
	char *have = NULL, *line, *save = NULL;
	size_t len = 0;
	bool dropped = false;

	if (file_read(path, FILE_MAX, &have, &len) < 0)
		return false;
	for (line = strtok_r(have, "\n", &save); line && !dropped;
	     line = strtok_r(NULL, "\n", &save)) {
		const char *p = data;
		size_t n = strlen(line);

		dropped = true;
		while ((p = strstr(p, line)) != NULL) {
			if ((p == data || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0')) {
				dropped = false;
				break;
			}
			p += n;
		}
	}
	free(have);
	return dropped;
}

/* A DNS label: 1..63 of [A-Za-z0-9-], not starting or ending with '-'. */
static bool label_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return false;
	return true;
}

static void conf_text(const struct net *n, const struct nspec_l3 *l3, const char *dir,
                      struct buf *b)
{
	bool dns = l3->svc & SVC_DNS;
	size_t i;
	json_t *v;

	buf_printf(b, "# kumo-agent: L3 %s on host %s; rewritten at every apply\n", l3->id,
	           n->host_id);
	buf_printf(b, "interface=kgw0\nbind-interfaces\nexcept-interface=lo\n");
	/* root: the files are in the agent's 0700 directory */
	buf_printf(b, "user=root\ngroup=root\n");
	buf_printf(b, "pid-file=%s/dnsmasq.pid\nlog-facility=%s/dnsmasq.log\n", dir, dir);
	buf_printf(b, "no-resolv\nno-hosts\naddn-hosts=%s/hosts\n", dir);
	if (!dns) {
		buf_printf(b, "port=0\n");
	} else {
		json_array_foreach(l3->dns, i, v)
		{
			buf_printf(b, "server=%s\n", json_string_value(v));
		}
		if (l3->domain)
			buf_printf(b, "local=/%s/\n", l3->domain);
	}
	if (l3->domain)
		buf_printf(b, "domain=%s\n", l3->domain);
	if (l3->svc & SVC_DHCP) {
		buf_printf(b, "dhcp-range=%s,static,%s,12h\n", l3->net, l3->mask);
		buf_printf(b, "dhcp-hostsfile=%s/dhcp-hosts\n", dir);
		buf_printf(b, "dhcp-option=option:router,%s\n", l3->gw);
		if (dns) {
			buf_printf(b, "dhcp-option=option:dns-server,%s\n", l3->gw);
		} else if (json_array_size(l3->dns)) {
			buf_printf(b, "dhcp-option=option:dns-server");
			json_array_foreach(l3->dns, i, v)
			{
				buf_printf(b, ",%s", json_string_value(v));
			}
			buf_printf(b, "\n");
		}
		if (l3->l2->mtu < 1500)
			buf_printf(b, "dhcp-option=option:mtu,%d\n", l3->l2->mtu);
		buf_printf(b, "leasefile-ro\ndhcp-authoritative\n");
	}
}

/* hosts: every VM of the L3 (all hosts); dhcp-hosts: the NICs here. */
static void hosts_text(const struct nspec *s, const struct nspec_l3 *l3, struct buf *hosts,
                       struct buf *dhcp)
{
	size_t i;
	json_t *v;

	json_array_foreach(l3->hosts, i, v)
	{
		const char *name = jstr(v, "name"), *ip = jstr(v, "ip");

		if (!label_valid(name) || !nl_ipv4_valid(ip))
			continue;
		if (l3->domain)
			buf_printf(hosts, "%s %s %s.%s\n", ip, name, name, l3->domain);
		else
			buf_printf(hosts, "%s %s\n", ip, name);
	}
	for (i = 0; i < s->nnic; i++) {
		const struct nspec_nic *c = &s->nic[i];
		const char *name = jstr(json_object_get(c->j, "metadata"), "hostname");
		char mac[18];

		if (c->l3 != l3 || !c->ip)
			continue;
		nl_mac_lower(c->mac, mac);
		if (label_valid(name))
			buf_printf(dhcp, "%s,%s,%s\n", mac, c->ip, name);
		else
			buf_printf(dhcp, "%s,%s\n", mac, c->ip);
	}
}

/* --- dnsmasq ------------------------------------------------------------- */

/* The pid of the dnsmasq running with conf, from its pid file; 0: none. */
static pid_t dnsmasq_pid(const char *dir, const char *conf)
{
	char *pf = xasprintf("%s/dnsmasq.pid", dir), *data = NULL, path[64], cmd[4096];
	char want[PATH_MAX + 16];
	pid_t pid = 0;
	long v;
	FILE *f;
	size_t k;

	if (file_read(pf, 64, &data, NULL) < 0)
		goto out;
	v = strtol(data, NULL, 10);
	if (v <= 1)
		goto out;
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", v);
	f = fopen(path, "re");
	if (!f)
		goto out;
	k = fread(cmd, 1, sizeof(cmd) - 1, f);
	fclose(f);
	cmd[k] = '\0';
	snprintf(want, sizeof(want), "--conf-file=%s", conf);
	/* argv: "dnsmasq\0--conf-file=...\0" */
	for (size_t p = 0; p < k; p += strlen(cmd + p) + 1)
		if (!strcmp(cmd + p, want))
			pid = (pid_t)v;
out:
	free(data);
	free(pf);
	return pid;
}

/* Running (not a zombie waiting for a parent that is not ours). */
static bool pid_alive(pid_t pid)
{
	char path[64], *data = NULL, *p;
	bool alive = false;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (file_read(path, 4096, &data, NULL) == 0 && (p = strrchr(data, ')')) && p[1] == ' ')
		alive = p[2] != 'Z' && p[2] != 'X';
	free(data);
	return alive;
}

static void stop_pid(pid_t pid)
{
	if (pid <= 1 || kill(pid, SIGTERM) < 0)
		return;
	for (int i = 0; i < STOP_WAIT_MS / 5 && pid_alive(pid); i++)
		usleep(5000);
	if (pid_alive(pid))
		kill(pid, SIGKILL);
}

static int dnsmasq_start(const struct nspec_l3 *l3, const char *conf, struct driver_err *e)
{
	char *arg = xasprintf("--conf-file=%s", conf);
	char *argv[] = { DNSMASQ, arg, NULL };
	char reason[200];
	struct buf err;
	int r;

	buf_init(&err, 64 * 1024);
	r = nl_run(argv, l3->ns, NULL, 0, NULL, &err, NL_TIMEOUT_MS);
	if (r < 0) {
		nl_err_line(&err, reason, sizeof(reason));
		net_fail(e, "NetworkError", "L3 %s: dnsmasq failed to start: %s", l3->id,
		         r == -ECHILD   ? reason
		         : r == -ENOENT ? "dnsmasq is not installed (/usr/sbin/dnsmasq)"
		                        : strerror(-r));
	}
	buf_free(&err);
	free(arg);
	return r < 0 ? -1 : 0;
}

/* dnsmasq of l3: files up to date; started, reloaded (SIGHUP re-reads the
 * hosts files) or restarted (its configuration changed); or stopped when
 * the L3 has neither dhcp nor dns. */
static int apply_dnsmasq(struct net *n, const struct nspec *s, const struct nspec_l3 *l3,
                         struct driver_err *e)
{
	char *dir = l3_dir(n, l3->id);
	char *conf = xasprintf("%s/dnsmasq.conf", dir);
	char *hp = xasprintf("%s/hosts", dir), *dp = xasprintf("%s/dhcp-hosts", dir);
	struct buf c, h, d;
	int r, rc, rh, rd;
	bool dropped;
	pid_t pid;

	buf_init(&c, FILE_MAX);
	buf_init(&h, FILE_MAX);
	buf_init(&d, FILE_MAX);
	pid = dnsmasq_pid(dir, conf);
	if (!(l3->svc & (SVC_DHCP | SVC_DNS))) {
		stop_pid(pid);
		r = 0;
		goto out;
	}
	r = mkdir_p(dir, 0700);
	if (r < 0) {
		r = net_fail(e, "Internal", "L3 %s: cannot create %s: %s", l3->id, dir,
		             strerror(-r));
		goto out;
	}
	conf_text(n, l3, dir, &c);
	hosts_text(s, l3, &h, &d);
	/* dnsmasq keeps leases in memory (leasefile-ro): one for a NIC that
	 * is gone would keep its address from the NIC it goes to next (a
	 * reload does not forget it), so a dropped entry means a restart */
	dropped = lines_dropped(dp, d.data ? d.data : "");
	rc = file_update(conf, c.data ? c.data : "");
	rh = file_update(hp, h.data ? h.data : "");
	rd = file_update(dp, d.data ? d.data : "");
	if (rc < 0 || rh < 0 || rd < 0) {
		r = net_fail(e, "Internal", "L3 %s: cannot write the dnsmasq files in %s: %s",
		             l3->id, dir,
		             strerror(-(rc < 0   ? rc
		                        : rh < 0 ? rh
		                                 : rd)));
		goto out;
	}
	if (pid && rc == 0 && !dropped) {
		if ((rh || rd) && kill(pid, SIGHUP) < 0)
			pid = 0;
		if (pid) {
			r = 0;
			goto out;
		}
	}
	stop_pid(pid);
	r = dnsmasq_start(l3, conf, e);
out:
	buf_free(&c);
	buf_free(&h);
	buf_free(&d);
	free(dp);
	free(hp);
	free(conf);
	free(dir);
	return r;
}

/* --- addresses and routes ------------------------------------------------ */

/* Adds the wanted addresses dev lacks (listed in added, when not NULL)
 * and deletes the others. */
static void want_addrs(struct nl_batch *b, const struct nl_link *l, const char *dev, json_t *wanted,
                       json_t *added, const char *what)
{
	const char *cidr;
	json_t *v;

	json_object_foreach(wanted, cidr, v)
	{
		if (nl_link_has_addr(l, cidr))
			continue;
		nl_batch_add(b, what, "addr add %s dev %s", cidr, dev);
		if (added)
			json_array_append_new(added, json_string(cidr));
	}
	for (size_t i = 0; l && i < l->naddrs; i++)
		if (!json_object_get(wanted, l->addrs[i]))
			nl_batch_add(b, what, "addr del %s dev %s", l->addrs[i], dev);
}

/* dev up, with mtu (0: any). */
static void link_up(struct nl_batch *b, const struct nl_link *l, const char *dev, int mtu,
                    const char *what)
{
	if (mtu && (!l || l->mtu != mtu))
		nl_batch_add(b, what, "link set dev %s mtu %d up", dev, mtu);
	else if (!l || !l->up)
		nl_batch_add(b, what, "link set dev %s up", dev);
}

static int apply_addrs(const struct nspec_l3 *l3, struct driver_err *e)
{
	struct nl_link *links = NULL, *gw, *up, *lo;
	json_t *wanted = json_object(), *added = json_array();
	struct nl_batch b;
	char err[ERRLEN], what[96], cidr[NL_ADDR_LEN], have_gw[64] = "";
	size_t nlinks = 0, i;
	json_t *v;
	int r;

	nl_batch_init(&b);
	r = nl_links(l3->ns, &links, &nlinks, err, sizeof(err));
	if (r < 0) {
		r = net_fail(e, "NetworkError", "L3 %s: %s", l3->id, err);
		goto out;
	}
	lo = nl_link_find(links, nlinks, "lo");
	gw = nl_link_find(links, nlinks, "kgw0");
	up = nl_link_find(links, nlinks, "kup0");

	snprintf(what, sizeof(what), "L3 %s (loopback of %s)", l3->id, l3->ns);
	link_up(&b, lo, "lo", 0, what);
	if ((l3->svc & SVC_META) && !nl_link_has_addr(lo, META_ADDR "/32"))
		nl_batch_add(&b, what, "addr add " META_ADDR "/32 dev lo");

	snprintf(what, sizeof(what), "L3 %s (gateway %s on kgw0 in %s)", l3->id, l3->gw, l3->ns);
	link_up(&b, gw, "kgw0", l3->l2->mtu, what);
	snprintf(cidr, sizeof(cidr), "%s/%d", l3->gw, l3->prefix);
	json_object_set_new(wanted, cidr, json_true());
	want_addrs(&b, gw, "kgw0", wanted, NULL, what);

	if (l3->up_l2) {
		snprintf(what, sizeof(what), "L3 %s (uplink %s on kup0 in %s)", l3->id, l3->up_ip,
		         l3->ns);
		link_up(&b, up, "kup0", l3->up_l2->mtu, what);
		json_object_clear(wanted);
		snprintf(cidr, sizeof(cidr), "%s/%d", l3->up_ip, l3->up_prefix);
		json_object_set_new(wanted, cidr, json_true());
		json_array_foreach(l3->eips, i, v)
		{
			snprintf(cidr, sizeof(cidr), "%s/32", jstr(v, "ip"));
			if (strcmp(jstr(v, "ip"), l3->up_ip))
				json_object_set_new(wanted, cidr, json_true());
		}
		json_array_foreach(l3->pfs, i, v)
		{
			snprintf(cidr, sizeof(cidr), "%s/32", jstr(v, "public_ip"));
			if (strcmp(jstr(v, "public_ip"), l3->up_ip))
				json_object_set_new(wanted, cidr, json_true());
		}
		want_addrs(&b, up, "kup0", wanted, added, what);
		if (l3->up_gw) {
			if (nl_default_gw(l3->ns, have_gw, sizeof(have_gw), err, sizeof(err)) < 0) {
				r = net_fail(e, "NetworkError", "L3 %s: %s", l3->id, err);
				goto out;
			}
			if (strcmp(have_gw, l3->up_gw))
				nl_batch_add(&b, what, "route replace default via %s dev kup0",
				             l3->up_gw);
		}
	}
	r = nl_batch_run(&b, "ip", l3->ns, err, sizeof(err));
	if (r < 0)
		net_fail(e, "NetworkError", "%s", err);
	/* the outside learns where new public addresses (a moved EIP) are now */
	json_array_foreach(added, i, v)
	{
		snprintf(cidr, sizeof(cidr), "%s", json_string_value(v));
		*strchr(cidr, '/') = '\0';
		ns_garp(l3->ns, "kup0", cidr);
	}
out:
	nl_batch_free(&b);
	json_decref(wanted);
	json_decref(added);
	nl_links_free(links, nlinks);
	return r;
}

/* --- metadata ------------------------------------------------------------ */

static int apply_meta(struct net *n, const struct nspec *s, const struct nspec_l3 *l3,
                      struct driver_err *e)
{
	char path[64], err[ERRLEN];
	json_t *entries;
	int r;

	if (!(l3->svc & SVC_META)) {
		if (n->meta && json_object_get(n->meta_l3s, l3->id)) {
			meta_remove(n->meta, l3->id);
			json_object_del(n->meta_l3s, l3->id);
		}
		return 0;
	}
	if (!n->meta) {
		r = meta_start(&n->meta);
		if (r < 0)
			return net_fail(e, "Internal", "cannot start the metadata service: %s",
			                strerror(-r));
	}
	entries = json_array();
	for (size_t i = 0; i < s->nnic; i++) {
		const json_t *md = json_object_get(s->nic[i].j, "metadata");

		if (s->nic[i].l3 == l3 && json_is_object(md))
			json_array_append(entries, (json_t *)md);
	}
	snprintf(path, sizeof(path), "/run/netns/%s", l3->ns);
	r = meta_set(n->meta, l3->id, path, META_ADDR, META_PORT, entries, err, sizeof(err));
	json_decref(entries);
	if (r < 0)
		return net_fail(e, "NetworkError", "L3 %s: metadata service: %s", l3->id, err);
	json_object_set_new(n->meta_l3s, l3->id, json_true());
	return 0;
}

/* --- the namespace ------------------------------------------------------- */

int svc_apply(struct net *n, const struct nspec *s, const struct nspec_l3 *l3, struct driver_err *e)
{
	char err[ERRLEN], what[96];
	char *script;
	int r, fails = 0;

	fails += apply_addrs(l3, e) < 0;
	r = ns_sysctl(l3->ns, "net/ipv4/ip_forward", "1");
	if (r < 0)
		fails += net_fail(e, "NetworkError", "L3 %s: cannot enable forwarding in %s: %s",
		                  l3->id, l3->ns, strerror(-r)) < 0;
	script = nft_ns_script(s->j, l3->j, err, sizeof(err));
	if (!script) {
		fails += net_fail(e, "NetworkError", "L3 %s: nftables: %s", l3->id, err) < 0;
	} else if (!svc_nft_same(n, l3->ns, script)) {
		snprintf(what, sizeof(what), "L3 %s (namespace %s)", l3->id, l3->ns);
		if (svc_nft_run(l3->ns, script, what, e) == 0)
			svc_nft_done(n, l3->ns, script);
		else
			fails++;
	}
	free(script);
	fails += apply_dnsmasq(n, s, l3, e) < 0;
	fails += apply_meta(n, s, l3, e) < 0;
	return fails ? -1 : 0;
}

/* Removes dir and the files in it (no subdirectories are made there). */
static void rm_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			char *p = xasprintf("%s/%s", dir, de->d_name);

			unlink(p);
			free(p);
		}
	closedir(d);
	rmdir(dir);
}

int svc_remove(struct net *n, const char *ns, struct driver_err *e)
{
	const char *x8 = ns + strlen("kumo-") + strlen(n->hx8) + 1;
	char err[ERRLEN], pfx[32];
	struct dirent *de;
	const char *id;
	json_t *v, *tmp;
	DIR *d;

	/* metadata sockets first: they hold the namespace */
	json_object_foreach_safe(n->meta_l3s, tmp, id, v)
	{
		if (strncasecmp(id, x8, 8))
			continue;
		meta_remove(n->meta, id);
		json_object_del(n->meta_l3s, id);
	}
	json_object_del(n->nft_done, ns);
	snprintf(pfx, sizeof(pfx), "l3-%.8s", x8);
	d = opendir(n->dir);
	while (d && (de = readdir(d))) {
		if (!strncasecmp(de->d_name, pfx, strlen(pfx))) {
			char *dir = xasprintf("%s/%s", n->dir, de->d_name);
			char *conf = xasprintf("%s/dnsmasq.conf", dir);

			stop_pid(dnsmasq_pid(dir, conf));
			rm_dir(dir);
			free(conf);
			free(dir);
		}
	}
	if (d)
		closedir(d);
	if (ns_del(ns, err, sizeof(err)) < 0)
		return net_fail(e, "NetworkError", "%s", err);
	return 0;
}
