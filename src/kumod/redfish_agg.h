/* SPDX-License-Identifier: MIT */
/*
 * kumod's Redfish aggregator: one Redfish service (DSP0266) at /redfish
 * and /redfish/v1 for the whole fleet, on kumod's own HTTP server. It
 * shows an AggregationService with one AggregationSource per host, the
 * hosts' Systems (the host and its VMs), Chassis, Managers and immersion
 * units in merged collections with ids prefixed by the host's name
 * ("edge-1_host"), and relays every request on a member to its agent over
 * the agent channel (rpc.h, "node.redfish"). Callers are kumod's own users
 * (kumod admins are Redfish Administrators; other users get 403). See
 * docs/REDFISH.md, "The aggregator in kumod".
 */
#pragma once

struct config;
struct http_server_config;

/* Builds the service: DATA/redfish-uuid (ServiceRoot.UUID) is made at the
 * first start; [redfish] enabled, timeout_s and action_timeout_s are read
 * from cfg (may be NULL). 0 or a negative errno. */
int redfish_agg_start(const char *data_dir, const struct config *cfg);
/* Points hc's fallback at the aggregator: paths under /redfish go to it
 * (on workers: a relayed request waits for an agent), every other path
 * keeps the server's own 404 and 405. A no-op when it is disabled. */
void redfish_agg_http_config(struct http_server_config *hc);
/* After the HTTP server has stopped. */
void redfish_agg_stop(void);
