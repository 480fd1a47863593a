// SPDX-License-Identifier: MIT
/*
 * The kumo command table: every resource group of docs/API.md with its URL
 * plural, default table columns, create and update fields (typed) and
 * verbs. Parsing, help, completion and the generic verbs all read this
 * table; nothing here talks to the network. Adding a field or a verb to
 * the CLI means adding a line here.
 */
#include <string.h>

#include "cli/cli.h"

/* clang-format off */

#define F_END { NULL, 0, 0, NULL, NULL, NULL }

#define VERB_LIST(extra) \
	{ "list", CV_LIST, CO_LIST, 0, "", extra, NULL, NULL, "list (filters, sort, paging)" }
#define VERB_GET { "get", CV_GET, 0, 1, "NAME|ID", NULL, NULL, NULL, "show one" }
#define VERB_CREATE(o) { "create", CV_CREATE, CO_DATA | (o), 0, "", NULL, NULL, NULL, "create" }
#define VERB_UPDATE(o) \
	{ "update", CV_UPDATE, CO_DATA | (o), 1, "NAME|ID", NULL, NULL, NULL, "change fields" }
#define VERB_DELETE(o) { "delete", CV_DELETE, (o), 1, "NAME|ID", NULL, NULL, NULL, "delete" }
#define VERB_ACTION(n, f, s) { n, CV_ACTION, CO_WAIT, 1, "NAME|ID", f, n, NULL, s }
#define VERB_END { NULL, 0, 0, 0, NULL, NULL, NULL, NULL, NULL }

/* ---- zones ---- */
static const struct cli_field zone_create[] = {
	{ "name", CF_STRING, CFF_REQUIRED, NULL, NULL, NULL },
	{ "description", CF_STRING, 0, NULL, NULL, NULL },
	{ "state", CF_STRING, 0, NULL, NULL, "enabled|disabled" },
	F_END,
};
static const struct cli_verb zone_verbs[] = {
	VERB_LIST(NULL), VERB_GET, VERB_CREATE(0), VERB_UPDATE(0), VERB_DELETE(0), VERB_END,
};

/* ---- clusters ---- */
static const struct cli_field cluster_create[] = {
	{ "name", CF_STRING, CFF_REQUIRED, NULL, NULL, NULL },
	{ "zone_id", CF_REF, CFF_REQUIRED, "zone", "zone", NULL },
	{ "hypervisor", CF_STRING, CFF_REQUIRED, NULL, NULL, "qemu|sim" },
	{ "arch", CF_STRING, 0, NULL, NULL, "x86_64" },
	{ "description", CF_STRING, 0, NULL, NULL, NULL },
	{ "state", CF_STRING, 0, NULL, NULL, "enabled|disabled" },
	F_END,
};
static const struct cli_field cluster_update[] = {
	{ "name", CF_STRING, 0, NULL, NULL, NULL },
	{ "description", CF_STRING, 0, NULL, NULL, NULL },
	{ "state", CF_STRING, 0, NULL, NULL, "enabled|disabled" },
	F_END,
};
static const struct cli_verb cluster_verbs[] = {
	VERB_LIST(NULL), VERB_GET, VERB_CREATE(0), VERB_UPDATE(0), VERB_DELETE(0), VERB_END,
};

/* ---- hosts (created by agent registration) ---- */
static const struct cli_field host_update[] = {
	{ "name", CF_STRING, 0, NULL, NULL, NULL },
	{ "cluster_id", CF_REF, 0, "cluster", "cluster", NULL },
	F_END,
};
static const struct cli_field host_sensors[] = {
	{ "history", CF_STRING, 0, NULL, NULL, "SENSOR: print its points instead" },
	{ "since", CF_STRING, 0, NULL, NULL, "with --history: RFC 3339 or 1h, 30m, 2d ago" },
	{ "until", CF_STRING, 0, NULL, NULL, "with --history: RFC 3339 or a duration ago" },
	{ "limit", CF_INT, 0, NULL, NULL, "with --history: at most N points" },
	F_END,
};
static const struct cli_verb host_verbs[] = {
	VERB_LIST(NULL), VERB_GET, VERB_UPDATE(0), VERB_DELETE(0),
	VERB_ACTION("enable", NULL, "let the scheduler place VMs here"),
	VERB_ACTION("disable", NULL, "place no new VMs here"),
	VERB_ACTION("maintenance", NULL,
	            "no new VMs; running VMs live-migrate away, the rest stop (--wait)"),
	{ "sensors", CV_CUSTOM, 0, 1, "NAME|ID", host_sensors, NULL, cli_cmd_host_sensors,
	  "sensors and thermal state (--history SENSOR [--since 1h])" },
	VERB_END,
};

/* ---- images ---- */
static const struct cli_field image_create[] = {
	{ "name", CF_STRING, CFF_REQUIRED, NULL, NULL, NULL },
	{ "format", CF_STRING, CFF_REQUIRED, NULL, NULL, "qcow2|raw|kernel" },
	{ "size", CF_INT, 0, NULL, NULL, "bytes" },
	{ "sha256", CF_STRING, 0, NULL, NULL, NULL },
	{ "arch", CF_STRING, 0, NULL, NULL, "x86_64" },
	{ "visibility", CF_STRING, 0, NULL, NULL, "private|public" },
	{ "description", CF_STRING, 0, NULL, NULL, NULL },
	{ "source_path", CF_STRING, 0, NULL, NULL, "admins: a file on the kumod host" },
	F_END,
};
static const struct cli_field image_update[] = {
	{ "name", CF_STRING, 0, NULL, NULL, NULL },
	{ "visibility", CF_STRING, 0, NULL, NULL, "private|public" },
	{ "description", CF_STRING, 0, NULL, NULL, NULL },
	{ "sha256", CF_STRING, 0, NULL, NULL, "until the image is active" },
	F_END,
};
static const struct cli_field image_upload[] = {
	{ "name", CF_STRING, 0, NULL, NULL, "default: the file's name" },
	{ "format", CF_STRING, 0, NULL, NULL, "qcow2|raw|kernel, default: from the file" },
	{ "arch", CF_STRING, 0, NULL, NULL, "x86_64" },
	{ "visibility", CF_STRING, 0, NULL, NULL, "private|public" },
	{ "description", CF_STRING, 0, NULL, NULL, NULL },
	F_END,
};
static const struct cli_verb image_verbs[] = {
	VERB_LIST(NULL), VERB_GET, VERB_CREATE(CO_TIMEOUT), VERB_UPDATE(0), VERB_DELETE(0),
	{ "upload", CV_CUSTOM, 0, 1, "FILE", image_upload, NULL, cli_cmd_image_upload,
	  "create an image from a local file: its bytes are sent and checked" },
	VERB_END,
};

/* ---- instance offerings ---- */
static const struct cli_field offering_create[] = {
	{ "name", CF_STRING, CFF_REQUIRED, NULL, NULL, NULL },
	{ "vcpus", CF_INT, CFF_REQUIRED, NULL, NULL, "1-256" },
	{ "memory_mb", CF_INT, CFF_REQUIRED, NULL, NULL, "64-4194304" },
	{ "root_disk_gb", CF_INT, 0, NULL, NULL, "1-65536, default 10" },
	F_END,
};
static const struct cli_field offering_update[] = {
	{ "name", CF_STRING, 0, NULL, NULL, NULL },
	{ "vcpus", CF_INT, 0, NULL, NULL, "1-256" },
	{ "memory_mb", CF_INT, 0, NULL, NULL, "64-4194304" },
	{ "root_disk_gb", CF_INT, 0, NULL, NULL, "1-65536" },
	F_END,
};
static const struct cli_verb offering_verbs[] = {
	VERB_LIST(NULL), VERB_GET, VERB_CREATE(0), VERB_UPDATE(0), VERB_DELETE(0), VERB_END,
};

/* ---- L2 networks ---- */
static const struct cli_field l2_create[] = {
	{ "name", CF_STRING, CFF_REQUIRED, NULL, NULL, NULL },
	{ "zone_id", CF_REF, CFF_REQUIRED, "zone", "zone", NULL },
	{ "type", CF_STRING, CFF_REQUIRED, NULL, NULL, "flat|vxlan|vlan" },
	{ "physical_interface", CF_STRING, 0, NULL, NULL, NULL },
	{ "vni", CF_INT, 0, NULL, NULL, "1-16777215, vxlan" },
	{ "vlan", CF_INT, 0, NULL, NULL, "1-4094, vlan" },
	F_END,
};
static const struct cli_field l2_update[] = {
	{ "name", CF_STRING, 0, NULL, NULL, NULL },
	{ "physical_interface", CF_STRING, 0, NULL, NULL, NULL },
	F_END,
};
static const struct cli_verb l2_verbs[] = {
	VERB_LIST(NULL), VERB_GET, VERB_CREATE(0), VERB_UPDATE(0), VERB_DELETE(0), VERB_END,
};

/* ---- L3 networks ---- */
static const struct cli_field l3_create[] = {
	{ "name", CF_STRING, CFF_REQUIRED, NULL, NULL, NULL },
	{ "l2_network_id", CF_REF, CFF_REQUIRED, "l2", "l2", NULL },
	{ "cidr", CF_STRING, CFF_REQUIRED, NULL, NULL, "IPv4 CIDR" },
	{ "gateway", CF_STRING, 0, NULL, NULL, NULL },
	{ "dns", CF_STRING_LIST, 0, NULL, NULL, "IP list" },
	{ "ip_ranges", CF_RANGE_LIST, 0, "ip-range", NULL, "repeatable" },
	{ "services", CF_STRING_LIST, 0, "service", NULL,
	  "dhcp,dns,snat,eip,port_forwarding,security_group,metadata" },
	{ "shared", CF_BOOL, 0, NULL, NULL, NULL },
	{ "public", CF_BOOL, 0, NULL, NULL, "admins: stands for the outside world" },
	{ "uplink_l3_network_id", CF_REF, 0, "uplink", "l3",
	  "public network for snat, eip, port_forwarding" },
	F_END,
};
static const struct cli_field l3_update[] = {
	{ "name", CF_STRING, 0, NULL, NULL, NULL },
	{ "gateway", CF_STRING, 0, NULL, NULL, NULL },
	{ "dns", CF_STRING_LIST, 0, NULL, NULL, "IP list" },
	{ "ip_ranges", CF_RANGE_LIST, 0, "ip-range", NULL, "repeatable" },
	{ "services", CF_STRING_LIST, 0, "service", NULL, NULL },
	{ "shared", CF_BOOL, 0, NULL, NULL, NULL },
	F_END,
};
static const struct cli_verb l3_verbs[] = {
	VERB_LIST(NULL), VERB_GET, VERB_CREATE(0), VERB_UPDATE(0), VERB_DELETE(0), VERB_END,
};

/* ---- VMs ---- */
static const struct cli_field vm_create[] = {
	{ "name", CF_STRING, CFF_REQUIRED, NULL, NULL, "with --count: name-1..name-N" },
	{ "image_id", CF_REF, CFF_REQUIRED, "image", "image", NULL },
	{ "instance_offering_id", CF_REF, 0, "offering", "offering", NULL },
	{ "vcpus", CF_INT, 0, NULL, NULL, "instead of an offering" },
	{ "memory_mb", CF_INT, 0, NULL, NULL, NULL },
	{ "root_disk_gb", CF_INT, 0, NULL, NULL, NULL },
	{ "l3_network_ids", CF_REF_LIST, 0, "l3", "l3", "repeatable" },
	{ "zone_id", CF_REF, 0, "zone", "zone", NULL },
	{ "cluster_id", CF_REF, 0, "cluster", "cluster", NULL },
	{ "host_id", CF_REF, 0, "host", "host", "admin only" },
	{ "pool_id", CF_REF, 0, "pool", "pool", "storage pool; default the cluster's local one" },
	{ "user_data", CF_STRING, CFF_FILE, NULL, NULL, "TEXT or @file" },
	{ "ssh_keys", CF_STRING_LIST, CFF_FILE | CFF_NOSPLIT, "ssh-key", NULL,
	  "KEY or @file, repeatable" },
	{ "ha", CF_STRING, 0, NULL, NULL, "none|restart" },
	{ "strategy", CF_STRING, 0, NULL, NULL, "spread|pack" },
	{ "count", CF_INT, 0, NULL, NULL, "1-1000" },
	{ "security_group_ids", CF_REF_LIST, 0, "sg", "sg", "on every NIC, repeatable" },
	{ "bandwidth_in_kbps", CF_INT, 0, NULL, NULL, "every NIC, 0 = no limit" },
	{ "bandwidth_out_kbps", CF_INT, 0, NULL, NULL, "every NIC, 0 = no limit" },
	F_END,
};
static const struct cli_field vm_update[] = {
	{ "name", CF_STRING, 0, NULL, NULL, NULL },
	{ "ha", CF_STRING, 0, NULL, NULL, "none|restart" },
	F_END,
};
static const struct cli_field vm_console[] = {
	{ "tail", CF_INT, 0, NULL, NULL, "last N lines (default 100)" },
	{ "follow", CF_BOOL, 0, NULL, NULL, "keep printing new output (Ctrl-C ends)" },
	F_END,
};
static const struct cli_field vm_resize[] = {
	{ "vcpus", CF_INT, 0, NULL, NULL, NULL },
	{ "memory_mb", CF_INT, 0, NULL, NULL, NULL },
	F_END,
};
static const struct cli_field vm_clone[] = {
	{ "name", CF_STRING, CFF_REQUIRED, NULL, NULL, "the clone's name" },
	{ "snapshot_id", CF_REF, 0, "snapshot", "snapshot", "clone this snapshot of it" },
	{ "linked", CF_BOOL, 0, NULL, NULL, "an overlay on the snapshot, not a copy" },
	F_END,
};
static const struct cli_field vm_stop[] = {
	{ "force", CF_BOOL, 0, NULL, NULL, "power off at once" },
	F_END,
};
static const struct cli_field vm_bandwidth[] = {
	{ "nic_id", CF_STRING, CFF_REQUIRED, "nic", NULL, "NIC id" },
	{ "in_kbps", CF_INT, 0, NULL, NULL, "towards the VM, 0 = no limit" },
	{ "out_kbps", CF_INT, 0, NULL, NULL, "from the VM, 0 = no limit" },
	F_END,
};
static const struct cli_field vm_migrate[] = {
	{ "host_id", CF_REF, 0, "host", "host", "destination (default: the scheduler picks)" },
	{ "max_bandwidth_mbps", CF_INT, 0, NULL, NULL, "cap on the memory stream, MiB/s" },
	{ "max_downtime_ms", CF_INT, 0, NULL, NULL,
	  "longest pause of the guest at the switchover, ms (default 300)" },
	F_END,
};
static const struct cli_verb vm_verbs[] = {
	VERB_LIST(NULL), VERB_GET, VERB_CREATE(CO_WAIT), VERB_UPDATE(0), VERB_DELETE(CO_WAIT),
	VERB_ACTION("start", NULL, "start a stopped VM"),
	VERB_ACTION("stop", vm_stop, "shut down (--force: power off)"),
	VERB_ACTION("reboot", NULL, "reboot"),
	VERB_ACTION("pause", NULL, "pause the vCPUs"),
	VERB_ACTION("resume", NULL, "resume a paused VM"),
	VERB_ACTION("migrate", vm_migrate, "move to another host (admin; --host NAME|ID)"),
	{ "set-bandwidth", CV_ACTION, CO_WAIT, 1, "NAME|ID", vm_bandwidth, "set_bandwidth", NULL,
	  "limit a NIC's bandwidth (--nic ID --in-kbps N --out-kbps N)" },
	{ "console", CV_CUSTOM, 0, 1, "NAME|ID", vm_console, NULL, cli_cmd_vm_console,
	  "print the serial console (--tail N, --follow)" },
	VERB_ACTION("resize", vm_resize, "new vCPUs/memory of a stopped VM (--vcpus, --memory-mb)"),
	VERB_ACTION("clone", vm_clone, "clone on its host (--name, --snapshot, --linked)"),
	VERB_END,
};

/* ---- volumes ---- */
static const struct cli_field volume_create[] = {
	{ "name", CF_STRING, CFF_REQUIRED, NULL, NULL, NULL },
	{ "size_gb", CF_INT, CFF_REQUIRED, NULL, NULL, "1-65536" },
	{ "vm_id", CF_REF, 0, "vm", "vm", "attach to" },
	{ "host_id", CF_REF, 0, "host", "host", NULL },
	{ "pool_id", CF_REF, 0, "pool", "pool", "a shared pool; default local storage" },
	{ "format", CF_STRING, 0, NULL, NULL, "qcow2" },
	F_END,
};
static const struct cli_field volume_update[] = {
	{ "name", CF_STRING, 0, NULL, NULL, NULL },
	F_END,
};
static const struct cli_field volume_resize[] = {
	{ "size_gb", CF_INT, CFF_REQUIRED, NULL, NULL, "never smaller" },
	F_END,
};
static const struct cli_field make_image[] = {
	{ "name", CF_STRING, CFF_REQUIRED, NULL, NULL, "the image's name" },
	{ "description", CF_STRING, 0, NULL, NULL, NULL },
	F_END,
};
static const struct cli_field volume_attach[] = {
	{ "vm_id", CF_REF, CFF_REQUIRED, "vm", "vm", NULL },
	F_END,
};
static const struct cli_verb volume_verbs[] = {
	VERB_LIST(NULL), VERB_GET, VERB_CREATE(CO_WAIT), VERB_UPDATE(0), VERB_DELETE(CO_WAIT),
	VERB_ACTION("attach", volume_attach, "attach to a VM (--vm)"),
	VERB_ACTION("detach", NULL, "detach from its VM"),
	VERB_ACTION("resize", volume_resize, "grow it (--size-gb N; online when its VM runs)"),
	{ "create-image", CV_ACTION, CO_WAIT, 1, "NAME|ID", make_image, "create_image", NULL,
	  "make an image of it (--name)" },
	VERB_END,
};

/* ---- snapshots ---- */
static const struct cli_field snapshot_create[] = {
	{ "name", CF_STRING, CFF_REQUIRED, NULL, NULL, NULL },
	{ "volume_id", CF_REF, 0, "volume", "volume", "a snapshot of this volume, or" },
	{ "vm_id", CF_REF, 0, "vm", "vm", "of every volume of this VM at once" },
	F_END,
};
static const struct cli_verb snapshot_verbs[] = {
	VERB_LIST(NULL), VERB_GET, VERB_CREATE(CO_WAIT), VERB_UPDATE(0), VERB_DELETE(CO_WAIT),
	VERB_ACTION("revert", NULL, "bring its volumes back to it (the VM stopped)"),
	{ "create-image", CV_ACTION, CO_WAIT, 1, "NAME|ID", make_image, "create_image", NULL,
	  "make an image of it (--name)" },
	VERB_END,
};

/* ---- storage pools ---- */
static const struct cli_field pool_create[] = {
	{ "name", CF_STRING, CFF_REQUIRED, NULL, NULL, NULL },
	{ "cluster_id", CF_REF, CFF_REQUIRED, "cluster", "cluster", NULL },
	{ "type", CF_STRING, CFF_REQUIRED, NULL, NULL, "local|shared" },
	{ "path", CF_STRING, 0, NULL, NULL, "shared: the mount point on every host" },
	{ "capacity_gb", CF_INT, 0, NULL, NULL, "a limit; none by default" },
	{ "state", CF_STRING, 0, NULL, NULL, "enabled|disabled" },
	{ "description", CF_STRING, 0, NULL, NULL, NULL },
	F_END,
};
static const struct cli_field pool_update[] = {
	{ "name", CF_STRING, 0, NULL, NULL, NULL },
	{ "capacity_gb", CF_INT, 0, NULL, NULL, NULL },
	{ "state", CF_STRING, 0, NULL, NULL, "enabled|disabled" },
	{ "description", CF_STRING, 0, NULL, NULL, NULL },
	F_END,
};
static const struct cli_verb pool_verbs[] = {
	VERB_LIST(NULL), VERB_GET, VERB_CREATE(0), VERB_UPDATE(0), VERB_DELETE(0), VERB_END,
};

/* ---- security groups ---- */
static const struct cli_field sg_create[] = {
	{ "name", CF_STRING, CFF_REQUIRED, NULL, NULL, NULL },
	{ "description", CF_STRING, 0, NULL, NULL, NULL },
	{ "rules", CF_JSON, CFF_FILE, NULL, NULL,
	  "JSON list or @file; default: ingress from the group, egress anywhere" },
	F_END,
};
static const struct cli_field sg_update[] = {
	{ "name", CF_STRING, 0, NULL, NULL, NULL },
	{ "description", CF_STRING, 0, NULL, NULL, NULL },
	F_END,
};
static const struct cli_field sg_rule[] = {
	{ "direction", CF_STRING, CFF_REQUIRED, NULL, NULL, "ingress|egress" },
	{ "protocol", CF_STRING, 0, NULL, NULL, "all|tcp|udp|icmp" },
	{ "port_start", CF_INT, 0, NULL, NULL, "tcp/udp" },
	{ "port_end", CF_INT, 0, NULL, NULL, "tcp/udp" },
	{ "cidr", CF_STRING, 0, NULL, NULL, "0.0.0.0/0 = anywhere" },
	{ "remote_group_id", CF_REF, 0, "remote-group", "sg", "instead of --cidr" },
	{ "description", CF_STRING, 0, NULL, NULL, NULL },
	F_END,
};
static const struct cli_field sg_nics[] = {
	{ "nic_ids", CF_STRING_LIST, CFF_REQUIRED, "nic", NULL, "NIC ids, repeatable" },
	F_END,
};
static const struct cli_verb sg_verbs[] = {
	VERB_LIST(NULL), VERB_GET, VERB_CREATE(0), VERB_UPDATE(0), VERB_DELETE(0),
	{ "add-rule", CV_CUSTOM, CO_WAIT | CO_DATA, 1, "NAME|ID", sg_rule, NULL, cli_cmd_sg_add_rule,
	  "add a rule" },
	{ "delete-rule", CV_CUSTOM, CO_WAIT, 2, "NAME|ID RULE_ID", NULL, NULL,
	  cli_cmd_sg_delete_rule, "delete a rule" },
	VERB_ACTION("attach", sg_nics, "attach to VM NICs (--nic ID ...)"),
	VERB_ACTION("detach", sg_nics, "detach from VM NICs (--nic ID ...)"),
	VERB_END,
};

/* ---- EIPs ---- */
static const struct cli_field eip_create[] = {
	{ "name", CF_STRING, CFF_REQUIRED, NULL, NULL, NULL },
	{ "l3_network_id", CF_REF, CFF_REQUIRED, "l3", "l3", "a public network" },
	{ "ip", CF_STRING, 0, NULL, NULL, "default: IPAM picks" },
	{ "nic_id", CF_STRING, 0, "nic", NULL, "attach at once" },
	{ "description", CF_STRING, 0, NULL, NULL, NULL },
	F_END,
};
static const struct cli_field eip_update[] = {
	{ "name", CF_STRING, 0, NULL, NULL, NULL },
	{ "description", CF_STRING, 0, NULL, NULL, NULL },
	F_END,
};
static const struct cli_field eip_attach[] = {
	{ "nic_id", CF_STRING, CFF_REQUIRED, "nic", NULL, "NIC id" },
	F_END,
};
static const struct cli_verb eip_verbs[] = {
	VERB_LIST(NULL), VERB_GET, VERB_CREATE(CO_WAIT), VERB_UPDATE(0), VERB_DELETE(0),
	VERB_ACTION("attach", eip_attach, "map to a VM NIC (--nic ID)"),
	VERB_ACTION("detach", NULL, "unmap from its NIC"),
	VERB_END,
};

/* ---- port forwardings ---- */
static const struct cli_field pf_create[] = {
	{ "name", CF_STRING, CFF_REQUIRED, NULL, NULL, NULL },
	{ "eip_id", CF_REF, CFF_REQUIRED, "eip", "eip", "an unattached EIP" },
	{ "protocol", CF_STRING, CFF_REQUIRED, NULL, NULL, "tcp|udp" },
	{ "public_port_start", CF_INT, CFF_REQUIRED, NULL, NULL, NULL },
	{ "public_port_end", CF_INT, 0, NULL, NULL, "default public-port-start" },
	{ "private_port_start", CF_INT, 0, NULL, NULL, "default public-port-start" },
	{ "nic_id", CF_STRING, CFF_REQUIRED, "nic", NULL, "NIC id" },
	{ "allowed_cidr", CF_STRING, 0, NULL, NULL, "default 0.0.0.0/0" },
	{ "description", CF_STRING, 0, NULL, NULL, NULL },
	F_END,
};
static const struct cli_field pf_update[] = {
	{ "name", CF_STRING, 0, NULL, NULL, NULL },
	{ "description", CF_STRING, 0, NULL, NULL, NULL },
	F_END,
};
static const struct cli_verb pf_verbs[] = {
	VERB_LIST(NULL), VERB_GET, VERB_CREATE(CO_WAIT), VERB_UPDATE(0), VERB_DELETE(CO_WAIT),
	VERB_END,
};

/* ---- accounts ---- */
static const struct cli_field account_create[] = {
	{ "name", CF_STRING, CFF_REQUIRED, NULL, NULL, NULL },
	{ "description", CF_STRING, 0, NULL, NULL, NULL },
	F_END,
};
static const struct cli_field account_update[] = {
	{ "name", CF_STRING, 0, NULL, NULL, NULL },
	{ "description", CF_STRING, 0, NULL, NULL, NULL },
	{ "state", CF_STRING, 0, NULL, NULL, "enabled|disabled" },
	F_END,
};
static const struct cli_verb account_verbs[] = {
	VERB_LIST(NULL), VERB_GET, VERB_CREATE(0), VERB_UPDATE(0), VERB_DELETE(0), VERB_END,
};

/* ---- users ---- */
static const struct cli_field user_create[] = {
	{ "name", CF_STRING, CFF_REQUIRED, NULL, NULL, NULL },
	{ "password", CF_SECRET, CFF_REQUIRED, NULL, NULL, "file; else prompted" },
	{ "role", CF_STRING, 0, NULL, NULL, "owner|member|viewer|admin" },
	{ "account_id", CF_REF, 0, "account", "account", NULL },
	F_END,
};
static const struct cli_field user_update[] = {
	{ "password", CF_SECRET, 0, NULL, NULL, "file" },
	{ "role", CF_STRING, 0, NULL, NULL, "owner|member|viewer|admin" },
	{ "state", CF_STRING, 0, NULL, NULL, "enabled|disabled" },
	F_END,
};
static const struct cli_verb user_verbs[] = {
	VERB_LIST(NULL), VERB_GET, VERB_CREATE(0), VERB_UPDATE(0), VERB_DELETE(0), VERB_END,
};

/* ---- API keys ---- */
static const struct cli_field apikey_create[] = {
	{ "name", CF_STRING, CFF_REQUIRED, NULL, NULL, NULL },
	{ "expires_at", CF_STRING, 0, NULL, NULL, "RFC 3339 time" },
	F_END,
};
static const struct cli_verb apikey_verbs[] = {
	VERB_LIST(NULL), VERB_GET, VERB_CREATE(0), VERB_DELETE(0), VERB_END,
};

/* ---- quotas (ids are account ids) ---- */
static const struct cli_field quota_update[] = {
	{ "vm_count", CF_INT, 0, NULL, NULL, "-1 = unlimited" },
	{ "vcpus", CF_INT, 0, NULL, NULL, "-1 = unlimited" },
	{ "memory_mb", CF_INT, 0, NULL, NULL, "-1 = unlimited" },
	F_END,
};
static const struct cli_verb quota_verbs[] = {
	VERB_LIST(NULL),
	{ "get", CV_GET, 0, 1, "ACCOUNT", NULL, NULL, NULL, "an account's quota and use" },
	{ "set", CV_UPDATE, CO_DATA, 1, "ACCOUNT", NULL, NULL, NULL, "change an account's quota" },
	VERB_END,
};

/* ---- jobs ---- */
static const struct cli_verb job_verbs[] = {
	VERB_LIST(NULL),
	{ "get", CV_GET, 0, 1, "ID", NULL, NULL, NULL, "show one" },
	{ "wait", CV_CUSTOM, CO_TIMEOUT, 1, "ID", NULL, NULL, cli_cmd_job_wait,
	  "wait until the job is finished" },
	{ "cancel", CV_ACTION, 0, 1, "ID", NULL, "cancel", NULL, "cancel (vm.migrate jobs)" },
	VERB_END,
};

/* ---- events ---- */
static const struct cli_field event_list[] = {
	{ "after", CF_STRING, 0, NULL, NULL, "event id" },
	F_END,
};
static const struct cli_verb event_verbs[] = {
	{ "list", CV_LIST, CO_LIST | CO_PAGE_AFTER, 0, "", event_list, NULL, NULL,
	  "list (--after ID: newer than that event)" },
	{ "follow", CV_CUSTOM, 0, 0, "", NULL, NULL, cli_cmd_event_follow,
	  "print events as they happen (Ctrl-C ends)" },
	VERB_END,
};

/* ---- top-level commands ---- */
static const struct cli_field login_fields[] = {
	{ "account", CF_STRING, CFF_REQUIRED, NULL, NULL, NULL },
	{ "user", CF_STRING, CFF_REQUIRED, NULL, NULL, NULL },
	F_END,
};
static const struct cli_verb login_verbs[] = {
	{ "", CV_CUSTOM, CO_LOGIN, 0, "", login_fields, NULL, cli_cmd_login,
	  "log in and save the session (password: --password-file, $KUMO_PASSWORD or prompt)" },
	VERB_END,
};
static const struct cli_verb logout_verbs[] = {
	{ "", CV_CUSTOM, 0, 0, "", NULL, NULL, cli_cmd_logout, "end the session and forget its token" },
	VERB_END,
};
static const struct cli_verb whoami_verbs[] = {
	{ "", CV_CUSTOM, 0, 0, "", NULL, NULL, cli_cmd_whoami, "show the caller: account, user, role" },
	VERB_END,
};
static const struct cli_verb completion_verbs[] = {
	{ "", CV_CUSTOM, 0, 1, "bash", NULL, NULL, cli_cmd_completion, "print the shell completion script" },
	VERB_END,
};

const struct cli_group cli_groups[] = {
	{ "login", NULL, false, NULL, NULL, NULL, NULL, login_verbs, NULL, "log in" },
	{ "logout", NULL, false, NULL, NULL, NULL, NULL, logout_verbs, NULL, "log out" },
	{ "whoami", NULL, false, NULL, NULL, NULL, NULL, whoami_verbs, NULL, "show who you are" },
	{ "zone", "zones", true, NULL, "id,name,state,description",
	  zone_create, zone_create, zone_verbs, NULL, "zones" },
	{ "cluster", "clusters", true, NULL, "id,name,zone_id,hypervisor,arch,state",
	  cluster_create, cluster_update, cluster_verbs, NULL, "clusters of hosts" },
	{ "host", "hosts", true, NULL,
	  "id,name,address,status,state,accel,VMS:vm_count,last_seen_at",
	  NULL, host_update, host_verbs, NULL, "hosts (they join by running kumo-agent)" },
	{ "image", "images", true, NULL, "id,name,format,size,visibility,status",
	  image_create, image_update, image_verbs, NULL, "images" },
	{ "offering", "instance-offerings", true, NULL, "id,name,vcpus,memory_mb,root_disk_gb",
	  offering_create, offering_update, offering_verbs, NULL, "instance offerings (VM sizes)" },
	{ "l2", "l2-networks", true, NULL, "id,name,type,zone_id,physical_interface,vni,vlan",
	  l2_create, l2_update, l2_verbs, NULL, "L2 networks" },
	{ "l3", "l3-networks", true, NULL, "id,name,cidr,gateway,ip_used,ip_total,shared",
	  l3_create, l3_update, l3_verbs, NULL, "L3 networks" },
	{ "vm", "vms", true, NULL, "id,name,state,vcpus,memory_mb,IP:nics[].ip,host_id",
	  vm_create, vm_update, vm_verbs, NULL, "virtual machines" },
	{ "volume", "volumes", true, NULL, "id,name,kind,size_gb,state,vm_id",
	  volume_create, volume_update, volume_verbs, NULL, "volumes" },
	{ "pool", "storage-pools", true, NULL,
	  "id,name,type,cluster_id,path,allocated_gb,capacity_gb,state",
	  pool_create, pool_update, pool_verbs, NULL, "storage pools (local, shared)" },
	{ "snapshot", "snapshots", true, NULL, "id,name,volume_kind,vm_id,size_gb,state,created_at",
	  snapshot_create, volume_update, snapshot_verbs, NULL, "snapshots of volumes and VMs" },
	{ "sg", "security-groups", true, NULL, "id,name,description,created_at",
	  sg_create, sg_update, sg_verbs, NULL, "security groups (rules on VM NICs)" },
	{ "eip", "eips", true, NULL, "id,name,ip,nic_id,vm_id,private_ip",
	  eip_create, eip_update, eip_verbs, NULL, "elastic IPs (public addresses)" },
	{ "pf", "port-forwardings", true, NULL,
	  "id,name,protocol,public_ip,public_port_start,public_port_end,private_ip,private_port_start",
	  pf_create, pf_update, pf_verbs, NULL, "port forwardings (EIP ports to a NIC)" },
	{ "account", "accounts", true, NULL, "id,name,state,description",
	  account_create, account_update, account_verbs, NULL, "accounts (tenants)" },
	{ "user", "users", true, NULL, "id,name,role,account_id,state",
	  user_create, user_update, user_verbs, NULL, "users" },
	{ "apikey", "api-keys", true, NULL, "id,name,expires_at,created_at",
	  apikey_create, NULL, apikey_verbs,
	  "the key is shown this once: store it now", "API keys for scripts" },
	{ "quota", "quotas", false, "account",
	  "account_id,vm_count,vcpus,memory_mb,USED_VMS:used.vm_count,USED_VCPUS:used.vcpus,"
	  "USED_MB:used.memory_mb",
	  NULL, quota_update, quota_verbs, NULL, "quotas per account" },
	{ "job", "jobs", false, NULL, "id,type,state,progress,resource_kind,resource_id,created_at",
	  NULL, NULL, job_verbs, NULL, "jobs (long work)" },
	{ "event", "events", false, NULL, "id,time,type,resource_kind,resource_id",
	  NULL, NULL, event_verbs, NULL, "events" },
	{ "completion", NULL, false, NULL, NULL, NULL, NULL, completion_verbs, NULL,
	  "shell completion" },
	{ NULL, NULL, false, NULL, NULL, NULL, NULL, NULL, NULL, NULL },
};

/* clang-format on */

const struct cli_group *cli_group_find(const char *name)
{
	for (const struct cli_group *g = cli_groups; g->name; g++)
		if (strcmp(g->name, name) == 0)
			return g;
	return NULL;
}

const struct cli_verb *cli_verb_find(const struct cli_group *g, const char *name)
{
	for (const struct cli_verb *v = g->verbs; v && v->name; v++)
		if (strcmp(v->name, name) == 0)
			return v;
	return NULL;
}

void cli_flag_name(const char *key, char *out, size_t outlen)
{
	size_t i;

	if (outlen == 0)
		return;
	for (i = 0; key[i] && i + 1 < outlen; i++)
		out[i] = key[i] == '_' ? '-' : key[i];
	out[i] = '\0';
}

const struct cli_field *cli_field_find(const struct cli_field *fields, const char *flag)
{
	char name[128];

	for (const struct cli_field *f = fields; f && f->key; f++) {
		cli_flag_name(f->key, name, sizeof(name));
		if (f->type == CF_SECRET) {
			/* secrets come from files only: --password-file */
			if (strlen(name) + sizeof("-file") <= sizeof(name))
				strcat(name, "-file");
		}
		if (strcmp(name, flag) == 0 || (f->alias && strcmp(f->alias, flag) == 0))
			return f;
	}
	return NULL;
}

const struct cli_field *cli_verb_fields(const struct cli_group *g, const struct cli_verb *v)
{
	switch (v->kind) {
	case CV_CREATE:
		return g->create;
	case CV_UPDATE:
		return g->update;
	default:
		return v->fields;
	}
}
