// SPDX-License-Identifier: MIT
/*
 * The node services of a one-host agent (node.h): they live in the host's
 * directory (DATA/hosts/0) and are started after the host is set up and
 * before its channel threads, so the first heartbeat already carries
 * telemetry.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/node.h"
#include "agent/nodelog.h"
#include "agent/thermal_rt.h"
#include "common/log.h"
#include "common/util.h"

struct node {
	struct agent *a; /* weak */
	char *dir;       /* owned */
	struct nodelog *log;
	struct thermal_rt *thermal;
};

static json_t *node_telemetry(void *cls, unsigned index)
{
	struct node *n = cls;

	if (index != 0 || !n->thermal)
		return NULL;
	return thermal_rt_telemetry(n->thermal);
}

static void node_telemetry_ack(void *cls, unsigned index, int64_t seq)
{
	struct node *n = cls;

	if (index == 0)
		nodelog_ack(n->log, seq);
}

int node_start(struct agent *a, struct agent_host *h, struct node **ret)
{
	struct kerr e = { 0 };
	struct node *n;
	int r;

	*ret = NULL;
	if (a->nhosts != 1)
		return 0;
	n = xcalloc(1, sizeof(*n));
	n->a = a;
	n->dir = xasprintf("%s/hosts/0", a->data_dir);
	n->log = nodelog_open(n->dir);
	r = thermal_rt_start(a->cfg, !strcmp(a->driver->name, "qemu"), h, n->dir, n->log,
	                     &n->thermal, &e);
	if (r < 0) {
		log_err("thermal: %s", e.message);
		node_stop(n);
		return r;
	}
	a->telemetry = node_telemetry;
	a->telemetry_ack = node_telemetry_ack;
	a->telemetry_cls = n;
	*ret = n;
	return 0;
}

struct node *node_stop(struct node *n)
{
	if (!n)
		return NULL;
	thermal_rt_stop(n->thermal);
	if (n->a->telemetry_cls == n) {
		n->a->telemetry = NULL;
		n->a->telemetry_ack = NULL;
		n->a->telemetry_cls = NULL;
	}
	nodelog_free(n->log);
	free(n->dir);
	free(n);
	return NULL;
}
