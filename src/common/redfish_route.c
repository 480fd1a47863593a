// SPDX-License-Identifier: MIT
/*
 * The Redfish core's router: the modules' route tables with each template
 * split into its segments once, when the service is made, and the match
 * of a request's path against them (the most literal template wins, then
 * an exact one over a "{*rest}"), with its parameters decoded and the
 * methods the path has for Allow. Matching is on the hot path of every
 * request and of every member a $expand fetches.
 *
 * Not here: what a route needs before its handler runs (redfish.c).
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/redfish.h"
#include "common/redfish_int.h"
#include "common/util.h"

#define SEGS_MAX 32
#define PARAM_MAX 256

struct seg {
	const char *p;
	size_t n;
};

/* A template segment, split once when the service is made. */
struct tseg {
	const char *p; /* weak, into the route's path */
	size_t n;
	bool param; /* "{name}" (or the tail) */
};

/* A route with its template split. */
struct croute {
	const struct rf_route *r; /* weak */
	bool get;                 /* its method is GET */
	bool tail;                /* its last segment is "{*rest}" */
	int nseg;                 /* -1: a template that can match nothing */
	struct tseg *segs;        /* weak, into rf_routes.tsegs */
};

/* The routes, compiled. */
struct rf_routes {
	struct croute *routes; /* every module's, in order */
	size_t nroutes;
	struct tseg *tsegs; /* the segments of all the templates */
	/* The routes a path of n segments may match, in order: by_len[n] up
	 * to by_len[n + 1], indices into routes. */
	size_t by_len[SEGS_MAX + 2];
	size_t *cands;
};

/* ---- paths ---- */

char *rf_pct_decode(const char *s, size_t n, bool segment)
{
	return pct_decode(s, n, segment);
}

/* Splits a path into its segments; -1 when there are too many. */
static int split(const char *path, struct seg *segs)
{
	int n = 0;
	const char *p = path;

	if (strcmp(path, "/") == 0)
		return 0;
	while (*p == '/') {
		const char *q = strchr(p + 1, '/');
		size_t len = q ? (size_t)(q - p - 1) : strlen(p + 1);

		if (n >= SEGS_MAX)
			return -1;
		segs[n].p = p + 1;
		segs[n].n = len;
		n++;
		p += 1 + len;
	}
	return n;
}

static bool seg_is_param(const struct seg *s)
{
	return s->n >= 3 && s->p[0] == '{' && s->p[s->n - 1] == '}';
}

/* "{*rest}": the rest of the path, one segment or more. Last only. */
static bool seg_is_tail(const struct seg *s)
{
	return s->n >= 4 && s->p[0] == '{' && s->p[1] == '*' && s->p[s->n - 1] == '}';
}

/* Splits every route's template once, and lists the templates each length
 * of path may match: matching a request then compares its segments with
 * those of a few, without splitting ~80 templates again for it and for
 * each member its $expand fetches. */
struct rf_routes *rf_routes_new(const struct rf_module *const *modules)
{
	struct rf_routes *rt = xcalloc(1, sizeof(*rt));
	struct seg ts[SEGS_MAX];
	size_t n = 0, nsegs = 0, k = 0;

	for (size_t m = 0; modules[m]; m++)
		for (const struct rf_route *r = modules[m]->routes; r && r->method; r++) {
			int nt = split(r->path, ts);

			n++;
			nsegs += nt > 0 ? (size_t)nt : 0;
		}
	rt->routes = xcalloc(n ? n : 1, sizeof(*rt->routes));
	rt->tsegs = xcalloc(nsegs ? nsegs : 1, sizeof(*rt->tsegs));
	for (size_t m = 0; modules[m]; m++)
		for (const struct rf_route *r = modules[m]->routes; r && r->method; r++) {
			struct croute *c = &rt->routes[rt->nroutes++];
			int nt = split(r->path, ts);

			c->r = r;
			c->get = strcmp(r->method, "GET") == 0;
			c->nseg = nt;
			c->segs = &rt->tsegs[k];
			c->tail = nt > 0 && seg_is_tail(&ts[nt - 1]);
			for (int i = 0; i < nt; i++) {
				c->segs[i].p = ts[i].p;
				c->segs[i].n = ts[i].n;
				c->segs[i].param = seg_is_param(&ts[i]);
			}
			k += nt > 0 ? (size_t)nt : 0;
		}
	/* for each length of path, the templates of that length and the
	 * "{*rest}" ones not longer */
	rt->cands = xcalloc(n * (SEGS_MAX + 1) + 1, sizeof(*rt->cands));
	k = 0;
	for (int np = 0; np <= SEGS_MAX; np++) {
		rt->by_len[np] = k;
		for (size_t i = 0; i < rt->nroutes; i++) {
			const struct croute *c = &rt->routes[i];

			if (c->nseg >= 0 && (c->tail ? c->nseg <= np : c->nseg == np))
				rt->cands[k++] = i;
		}
	}
	rt->by_len[SEGS_MAX + 1] = k;
	return rt;
}

struct rf_routes *rf_routes_free(struct rf_routes *rt)
{
	if (!rt)
		return NULL;
	free(rt->routes);
	free(rt->tsegs);
	free(rt->cands);
	free(rt);
	return NULL;
}

/* Does the template match the path's segments? score: one bit per literal
 * segment, the first one highest, then one bit for a match without a
 * "{*tail}", so that the most literal, then the exact, template wins. */
static bool template_match(const struct croute *c, const struct seg *ps, int np,
                           uint64_t *ret_score)
{
	uint64_t score = 0;
	int nt = c->nseg;

	if (nt < 0 || (c->tail ? np < nt : nt != np))
		return false;
	/* from the last segment: templates differ at their ends */
	for (int i = nt - 1; i >= 0; i--) {
		const struct tseg *t = &c->segs[i];

		if (t->param) {
			if (ps[i].n == 0)
				return false;
			continue;
		}
		if (t->n != ps[i].n || memcmp(t->p, ps[i].p, ps[i].n) != 0)
			return false;
		score |= UINT64_C(1) << (SEGS_MAX - i);
	}
	*ret_score = score | (c->tail ? 0 : 1);
	return true;
}

/* Stores the decoded parameters of the path in priv. -ENOENT on a bad encoding. */
static int params_extract(const struct croute *c, const struct seg *ps, int np,
                          struct rf_call_priv *priv)
{
	int nt = c->nseg;

	for (int i = 0; i < nt && i < np; i++) {
		const struct tseg *t = &c->segs[i];
		bool tail = i == nt - 1 && c->tail;
		size_t n = tail ? (size_t)(ps[np - 1].p + ps[np - 1].n - ps[i].p) : ps[i].n;
		char *v;

		if (!t->param)
			continue;
		assert(priv->nparams < RF_MAX_PARAMS); /* a bug in a table */
		if (n > 3 * PARAM_MAX * (tail ? SEGS_MAX : 1))
			return -ENOENT;
		/* A tail is kept as received, to be forwarded as a path. */
		v = tail ? strndup(ps[i].p, n) : rf_pct_decode(ps[i].p, n, true);
		if (!v)
			return -ENOENT;
		priv->pname[priv->nparams] = t->p + (tail ? 2 : 1);
		priv->pname_len[priv->nparams] = t->n - (tail ? 3 : 2);
		priv->pvalue[priv->nparams] = v;
		priv->nparams++;
	}
	return 0;
}

static void allow_add(char *allow, const char *method)
{
	size_t n = strlen(method), len = strlen(allow);
	const char *p = allow;

	while ((p = strstr(p, method))) {
		if ((p == allow || p[-1] == ' ') && (p[n] == ',' || p[n] == '\0'))
			return;
		p += n;
	}
	if (len + n + 3 > RF_ALLOW_MAX)
		return;
	if (len) {
		memcpy(allow + len, ", ", 2);
		len += 2;
	}
	memcpy(allow + len, method, n + 1);
}

int rf_routes_match(const struct rf_routes *rt, const char *method, const char *path,
                    const struct rf_route **ret, struct rf_call_priv *priv,
                    char allow[RF_ALLOW_MAX])
{
	const struct croute *best = NULL;
	uint64_t best_score = 0, score;
	struct seg ps[SEGS_MAX];
	int np = split(path, ps);

	allow[0] = '\0';
	if (np < 0)
		return -ENOENT;
	for (size_t i = rt->by_len[np]; i < rt->by_len[np + 1]; i++) {
		const struct croute *c = &rt->routes[rt->cands[i]];

		if (!template_match(c, ps, np, &score))
			continue;
		allow_add(allow, c->r->method);
		if (c->get)
			allow_add(allow, "HEAD");
		if (strcmp(c->r->method, method) != 0)
			continue;
		if (!best || score > best_score) {
			best = c;
			best_score = score;
		}
	}
	if (!best)
		return allow[0] ? -EOPNOTSUPP : -ENOENT;
	if (priv && params_extract(best, ps, np, priv) < 0)
		return -ENOENT;
	*ret = best->r;
	return 0;
}
