/* SPDX-License-Identifier: MIT */
/*
 * The VM's control socket: a QMP server (QEMU Machine Protocol, as specified by
 * QEMU's docs/interop/qmp-spec.rst) on a UNIX socket, served by its own thread.
 * It knows the protocol (greeting, capabilities negotiation, request/response
 * framing, events) and three built-in commands: qmp_capabilities,
 * query-commands and query-version. Commands that touch the VM are registered
 * by their owners through qmp_server_register(). docs/control.md shows a session.
 *
 * Pure parts (the JSON stream splitter and request validation) are in
 * qmp_stream.h so they are unit-tested and fuzzed without sockets.
 */
#ifndef KVMM_CONTROL_QMP_H
#define KVMM_CONTROL_QMP_H

#include <stddef.h>

#include <jansson.h>

struct qmp_server;

/* What the greeting and query-version report. package is copied. */
struct qmp_info {
	int major, minor, micro;
	const char *package;
};

/*
 * A failed command's error: cls is a QMP error class ("GenericError",
 * "CommandNotFound", "DeviceNotFound", ...) and must point at a string that
 * outlives the call (a literal); NULL means "GenericError".
 */
struct qmp_error {
	const char *cls;
	char desc[256];
};

/* Fills err; returns NULL so a handler can end with `return qmp_error_set(...)`. */
json_t *qmp_error_set(struct qmp_error *err, const char *cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * A command handler. Returns a new reference: the "return" value of the reply
 * (json_object() when there is nothing to say). NULL means failure, described
 * in err. Runs on the control thread, one command at a time; may block (the
 * other clients wait). args is never NULL (an empty object when the request had
 * none), only borrowed, and hostile: check every member's presence and type.
 */
typedef json_t *(*qmp_handler_fn)(void *opaque, json_t *args, struct qmp_error *err);

/*
 * Binds and listens on a UNIX socket at path, mode 0600. An existing path is
 * reused only when it is a stale socket (nobody accepts on it); a live socket
 * or any other kind of file is refused. On failure returns NULL with errno set
 * and a message in err.
 */
struct qmp_server *qmp_server_create(const char *path, const struct qmp_info *info, char *err,
				     size_t errlen);

/*
 * Adds a command; name is copied. Returns -EEXIST when the name is taken
 * (built-ins included), -EINVAL for an empty name, -ENOMEM. Safe before or
 * after qmp_server_start.
 */
int qmp_server_register(struct qmp_server *s, const char *name, qmp_handler_fn fn, void *opaque);

/*
 * Has the control thread run fn(arg) first, before it serves anything (kvmm
 * run installs the thread's system call filter there). Call before
 * qmp_server_start, which then fails with fn's result when it is not 0.
 */
void qmp_server_set_thread_init(struct qmp_server *s, int (*fn)(void *arg), void *arg);

/* Starts the control thread. Returns 0, -EALREADY, the pthread error, or the
 * thread init function's error. */
int qmp_server_start(struct qmp_server *s);

/*
 * Sends an event to every client that completed capabilities negotiation, as
 * {"event": event, "data": data, "timestamp": {...}}. Takes ownership of data
 * (NULL: no "data" member). Callable from any thread, handlers included; never
 * blocks on a client: one whose output backlog passes QMP_OUT_MAX is dropped.
 */
void qmp_server_emit(struct qmp_server *s, const char *event, json_t *data);

/*
 * Stops the control thread (waiting for a running handler to return), makes
 * one non-blocking attempt to send what clients have queued (a final SHUTDOWN
 * event, say), closes them and removes the socket file if it is still ours.
 * NULL is ignored.
 */
void qmp_server_destroy(struct qmp_server *s);

/* Limits on what one client may cost us. */
enum {
	QMP_MAX_CLIENTS = 32,
	QMP_OUT_MAX = 4 << 20,	     /* queued output bytes before a client is dropped */
	QMP_OUT_THROTTLE = 256 << 10 /* stop reading requests from a client behind this */
};

#endif
