/* SPDX-License-Identifier: MIT */
/*
 * VM commands for the QMP server; see vmctl.h. Names, arguments and replies
 * follow QEMU's QAPI schema (qapi/run-state.json, qapi/machine.json,
 * qapi/block-core.json) so existing QMP clients work unchanged.
 */
#include "control/vmctl.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "machine/vcpu.h"
#include "state/vmsnap.h"

typedef json_t *(*vm_cmd_fn)(struct vmctl *c, struct machine *m, json_t *args,
			     struct qmp_error *err);

/* Runs a command with the current machine held; refuses when there is none. */
static json_t *with_machine(struct vmctl *c, vm_cmd_fn fn, json_t *args, struct qmp_error *err)
{
	json_t *ret;

	struct timespec deadline;

	/* Between machines (start-up, reboot) wait a little for the next one. */
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 5;
	pthread_mutex_lock(&c->lock);
	while (!c->m && !c->closing &&
	       pthread_cond_timedwait(&c->changed, &c->lock, &deadline) == 0)
		;
	if (!c->m || atomic_load(&c->m->stop) != MACHINE_RUNNING)
		ret = qmp_error_set(err, "GenericError", "the VM is not running (it is stopping "
							 "or rebooting)");
	else
		ret = fn(c, c->m, args, err);
	pthread_mutex_unlock(&c->lock);
	return ret;
}

/* True (with err filled) when a command that takes no arguments got some. */
static bool unexpected_args(json_t *args, struct qmp_error *err)
{
	if (json_object_size(args) == 0)
		return false;
	qmp_error_set(err, "GenericError", "Parameter '%s' is unexpected",
		      json_object_iter_key(json_object_iter(args)));
	return true;
}

static json_t *do_query_status(struct vmctl *c, struct machine *m, json_t *args,
			       struct qmp_error *err)
{
	bool paused = machine_is_paused(m);
	(void)c;
	(void)args;
	(void)err;
	return json_pack("{s:b, s:b, s:s}", "running", !paused, "singlestep", 0, "status",
			 paused ? "paused" : "running");
}

static json_t *do_stop(struct vmctl *c, struct machine *m, json_t *args, struct qmp_error *err)
{
	bool was_paused = machine_is_paused(m);
	int rc = machine_pause(m);

	(void)args;
	if (rc)
		return qmp_error_set(err, "GenericError", "cannot pause: %s", strerror(-rc));
	if (!was_paused)
		vmctl_emit(c, "STOP", NULL);
	return json_object();
}

static json_t *do_cont(struct vmctl *c, struct machine *m, json_t *args, struct qmp_error *err)
{
	bool was_paused = machine_is_paused(m);
	int rc = machine_resume(m);

	(void)args;
	if (rc)
		return qmp_error_set(err, "GenericError", "cannot resume: %s", strerror(-rc));
	if (was_paused)
		vmctl_emit(c, "RESUME", NULL);
	return json_object();
}

static json_t *do_powerdown(struct vmctl *c, struct machine *m, json_t *args,
			    struct qmp_error *err)
{
	(void)args;
	(void)err;
	machine_power_button(m);
	vmctl_emit(c, "POWERDOWN", NULL);
	return json_object();
}

static json_t *do_reset(struct vmctl *c, struct machine *m, json_t *args, struct qmp_error *err)
{
	(void)args;
	(void)err;
	c->reset_by_host = true;
	machine_request_stop(m, MACHINE_RESET, 0);
	return json_object();
}

static json_t *do_quit(struct vmctl *c, struct machine *m, json_t *args, struct qmp_error *err)
{
	(void)args;
	(void)err;
	c->quit_by_host = true;
	machine_request_stop(m, MACHINE_QUIT, 0);
	return json_object();
}

static json_t *do_query_cpus_fast(struct vmctl *c, struct machine *m, json_t *args,
				  struct qmp_error *err)
{
	json_t *list = json_array();
	(void)c;
	(void)args;
	(void)err;
	for (int i = 0; i < m->ncpus && list; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/machine/unattached/device[%d]", i);
		json_array_append_new(
			list, json_pack("{s:i, s:s, s:i, s:s, s:{s:i, s:i, s:i, s:i}}", "cpu-index",
					i, "qom-path", path, "thread-id", (int)m->vcpus[i]->tid,
					"target", "x86_64", "props", "node-id", 0, "socket-id", 0,
					"core-id", i, "thread-id", 0));
	}
	return list;
}

static json_t *do_query_block(struct vmctl *c, struct machine *m, json_t *args,
			      struct qmp_error *err)
{
	(void)c;
	(void)m;
	(void)args;
	(void)err;
	return json_array(); /* no block devices on this machine yet */
}

/* snapshot-save path=FILE: pauses (if running), writes, resumes (if it was running). */
static json_t *do_snapshot_save(struct vmctl *c, struct machine *m, json_t *args,
				struct qmp_error *err)
{
	json_t *p = json_object_get(args, "path");
	bool was_paused = machine_is_paused(m);
	char why[512] = "";
	int rc;

	if (!json_is_string(p) || json_object_size(args) != 1)
		return qmp_error_set(err, "GenericError",
				     "snapshot-save takes exactly one argument, 'path' (a string)");
	rc = machine_pause(m);
	if (rc)
		return qmp_error_set(err, "GenericError", "cannot pause: %s", strerror(-rc));
	rc = vmsnap_save(m, json_string_value(p), why, sizeof(why));
	if (!was_paused)
		machine_resume(m);
	if (rc)
		return qmp_error_set(err, "GenericError", "%s", why[0] ? why : strerror(-rc));
	(void)c;
	return json_object();
}

#define CMD(fn_name, impl, takes_args)                                                         \
	static json_t *fn_name(void *opaque, json_t *args, struct qmp_error *err)              \
	{                                                                                      \
		if (!(takes_args) && unexpected_args(args, err))                               \
			return NULL;                                                           \
		return with_machine(opaque, impl, args, err);                                  \
	}

CMD(cmd_query_status, do_query_status, 0)
CMD(cmd_stop, do_stop, 0)
CMD(cmd_cont, do_cont, 0)
CMD(cmd_powerdown, do_powerdown, 0)
CMD(cmd_reset, do_reset, 0)
CMD(cmd_quit, do_quit, 0)
CMD(cmd_query_cpus_fast, do_query_cpus_fast, 0)
CMD(cmd_query_block, do_query_block, 0)
CMD(cmd_snapshot_save, do_snapshot_save, 1)

static const struct {
	const char *name;
	qmp_handler_fn fn;
} vmctl_commands[] = {
	{"query-status", cmd_query_status},
	{"stop", cmd_stop},
	{"cont", cmd_cont},
	{"system_powerdown", cmd_powerdown},
	{"system_reset", cmd_reset},
	{"quit", cmd_quit},
	{"query-cpus-fast", cmd_query_cpus_fast},
	{"query-block", cmd_query_block},
	{"snapshot-save", cmd_snapshot_save},
};

int vmctl_init(struct vmctl *c, struct qmp_server *s)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->changed, NULL);
	c->qmp = s;
	for (size_t i = 0; s && i < sizeof(vmctl_commands) / sizeof(vmctl_commands[0]); i++) {
		int rc = qmp_server_register(s, vmctl_commands[i].name, vmctl_commands[i].fn, c);
		if (rc)
			return rc;
	}
	return 0;
}

void vmctl_close(struct vmctl *c)
{
	pthread_mutex_lock(&c->lock);
	c->closing = true;
	pthread_cond_broadcast(&c->changed);
	pthread_mutex_unlock(&c->lock);
}

void vmctl_destroy(struct vmctl *c)
{
	pthread_cond_destroy(&c->changed);
	pthread_mutex_destroy(&c->lock);
}

void vmctl_set_machine(struct vmctl *c, struct machine *m)
{
	pthread_mutex_lock(&c->lock);
	c->m = m;
	if (m) {
		c->reset_by_host = false;
		c->quit_by_host = false;
	}
	pthread_cond_broadcast(&c->changed);
	pthread_mutex_unlock(&c->lock);
}

void vmctl_emit(struct vmctl *c, const char *event, json_t *data)
{
	if (c->qmp)
		qmp_server_emit(c->qmp, event, data);
	else
		json_decref(data);
}
