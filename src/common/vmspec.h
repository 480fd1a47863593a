/* SPDX-License-Identifier: MIT */
/*
 * What kumod and the agent agree on inside a VM's spec (the payload of
 * vm.create and the commands after it), where both need the same numbers.
 */
#pragma once

/* Data volumes sit at fixed slots of their VM's PCI bus: kumod gives each
 * one the lowest free slot (its "pci_slot"), the agent puts it there, so
 * a volume keeps its slot across restarts and migrations. Below them QEMU
 * places the root disk, the seed and up to 8 NICs; a volume without a slot
 * in this range is placed by QEMU. */
#define VOL_SLOT_FIRST 16
#define VOL_SLOT_LAST 31
