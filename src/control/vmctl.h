/* SPDX-License-Identifier: MIT */
/*
 * The VM commands of the control socket (QMP subset: stop, cont, query-status,
 * query-cpus-fast, query-block, system_powerdown, system_reset, quit,
 * snapshot-save) and the lifecycle events (STOP, RESUME, POWERDOWN, SHUTDOWN,
 * RESET). The machine behind them changes on every reboot; the main loop
 * swaps it in and out with vmctl_set_machine().
 */
#ifndef KVMM_CONTROL_VMCTL_H
#define KVMM_CONTROL_VMCTL_H

#include <pthread.h>
#include <stdbool.h>

#include "control/qmp.h"
#include "machine/machine.h"

struct vmctl {
	pthread_mutex_t lock; /* held by command handlers while they use m */
	pthread_cond_t changed; /* m was set or cleared */
	struct machine *m;    /* NULL between machines */
	bool closing;         /* no machine will come any more */
	struct qmp_server *qmp;
	bool reset_by_host;   /* the pending reset came from system_reset */
	bool quit_by_host;    /* the pending stop came from quit */
};

/* Registers the commands on s (which may be NULL: no control socket). */
int vmctl_init(struct vmctl *c, struct qmp_server *s);
/* No machine will come any more: commands waiting for one give up. */
void vmctl_close(struct vmctl *c);
void vmctl_destroy(struct vmctl *c);
void vmctl_set_machine(struct vmctl *c, struct machine *m);
/* Emits an event if there is a control socket; data is stolen (may be NULL). */
void vmctl_emit(struct vmctl *c, const char *event, json_t *data);

#endif
