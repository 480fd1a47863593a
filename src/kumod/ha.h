/* SPDX-License-Identifier: MIT */
/*
 * VM HA (ha.c): restarting HA VMs on shared pools after their host is lost
 * and fenced. Config [kumod] ha_deadline_s (12): how old a lost host's
 * heartbeat on the pool must be; longer than the agents' fence_after_ms
 * plus one heartbeat interval.
 */
#pragma once

#include "kumod/jobs.h"

int ha_start(void);
void ha_stop(void);

extern const struct job_type job_vm_ha_restart;
