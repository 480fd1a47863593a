// SPDX-License-Identifier: MIT
/*
 * The central lists: every route table of the REST API and the agent
 * channel, and every job type. A new resource file adds its table here.
 */
#include <stddef.h>

#include "kumod/api.h"
#include "kumod/ha.h"
#include "kumod/jobs.h"
#include "kumod/maintenance.h"
#include "kumod/migrate.h"
#include "kumod/vm.h"

extern const struct job_type job_volume_attach, job_volume_detach, job_volume_delete, job_vm_orphan;
extern const struct job_type job_net_update;
extern const struct job_type job_snapshot_create, job_snapshot_delete, job_snapshot_revert;
extern const struct job_type job_volume_resize, job_vm_resize, job_image_export;

const struct route *const api_tables[] = {
	api_meta_routes,
	api_session_routes,
	api_zone_routes,
	api_cluster_routes,
	api_host_routes,
	api_image_routes,
	api_offering_routes,
	api_l2_routes,
	api_l3_routes,
	api_vm_routes,
	api_console_routes,
	api_volume_routes,
	api_pool_routes,
	api_snapshot_routes, /* snapshots (issue 6) */
	api_resize_routes,   /* volume and vm resize */
	api_clone_routes,    /* vm clone */
	api_export_routes,   /* images from volumes and snapshots */
	api_account_routes,
	api_user_routes,
	api_apikey_routes,
	api_quota_routes,
	api_job_routes,
	api_event_routes,
	api_sg_routes,
	api_eip_routes,
	api_pf_routes,
	channel_routes,
	NULL,
};

const struct job_type *const job_types[] = {
	&job_vm_create,
	&job_vm_start,
	&job_vm_stop,
	&job_vm_reboot,
	&job_vm_pause,
	&job_vm_resume,
	&job_vm_destroy,
	&job_vm_batch,
	&job_vm_orphan,
	&job_vm_ha_restart,
	&job_volume_attach,
	&job_volume_detach,
	&job_volume_delete,
	&job_net_update,
	&job_vm_migrate,
	&job_host_maintenance,
	NULL,
};

/* Issue 6, snapshots and resizes (api_snapshot.c, api_resize.c): looked up
 * after job_types[] by job_type_find(). */
const struct job_type *const job_types_disk[] = {
	&job_snapshot_create,
	&job_snapshot_delete,
	&job_snapshot_revert,
	&job_volume_resize,
	&job_vm_resize,
	&job_image_export,
	NULL,
};

/* Jobs moved on by a tick, not by host results (jobs.h). */
const char *const job_resumables[] = { "host.maintenance", NULL };

/* Job types that can be cancelled (jobs.h). */
const struct job_cancel job_cancels[] = {
	{ "vm.migrate", vm_migrate_cancel },
	{ NULL, NULL },
};
