/* SPDX-License-Identifier: MIT */
/*
 * Shared between qmp.c (the server and its thread) and qmp_client.c (one
 * connection); nothing outside src/control/qmp*.c includes this. Locking rules
 * are in qmp.c's header comment.
 */
#ifndef KVMM_CONTROL_QMP_INTERNAL_H
#define KVMM_CONTROL_QMP_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "control/qmp.h"
#include "control/qmp_stream.h"

#define QMP_READ_CHUNK (64u << 10)
#define QMP_OUT_KEEP   (64u << 10) /* output buffer kept allocated when idle */

/* Bytes queued for one client: [head, len) of buf. */
struct qmp_outq {
	char *buf;
	size_t head, len, cap;
};

struct qmp_client {
	int fd;
	bool negotiated;     /* under lock: emit reads it */
	bool dead;	     /* under lock: to be closed, set by any thread */
	bool eof;	     /* peer finished sending: close once output drains */
	struct qmp_outq out; /* under lock */
	struct qmp_stream in;
	/* Input read but not yet parsed: a client is paused while its replies
	 * back up, and the rest of its last read waits here. */
	unsigned char *inbuf;
	size_t inoff, inlen;
};

struct qmp_command {
	char *name;
	qmp_handler_fn fn;
	void *opaque;
};

struct qmp_server {
	char *path;
	dev_t dev; /* identity of our socket file, so destroy never unlinks */
	ino_t ino; /* one that replaced it */
	int listen_fd;
	int wake_fd;
	struct qmp_info info; /* info.package points at package */
	char *package;
	char *greeting; /* the encoded greeting line */
	pthread_t thread;
	bool started;
	int (*thread_init)(void *arg); /* qmp_server_set_thread_init */
	void *thread_init_arg;
	pthread_mutex_t lock;
	pthread_cond_t init_cond; /* thread_init has returned: init_done, init_rc */
	bool init_done;		  /* under lock */
	int init_rc;		  /* under lock */
	bool stopping;		  /* under lock */
	struct qmp_command *cmds; /* under lock */
	size_t ncmds, cmdcap;	  /* under lock */
	struct qmp_client *clients[QMP_MAX_CLIENTS];
	size_t nclients; /* written by the control thread under lock */
};

/* qmp.c */
/* Encodes msg (consumed) as one CRLF-terminated line; NULL on failure. */
char *qmp_encode_line(json_t *msg, size_t *n);
/* Copies out the command called name; false when there is none. */
bool qmp_server_lookup(struct qmp_server *s, const char *name, struct qmp_command *out);

/* qmp_client.c */
/* NULL on ENOMEM; fd is then still the caller's. */
struct qmp_client *qmp_client_new(int fd);
void qmp_client_free(struct qmp_client *c);
/* Both with s->lock held. Queue drops the client past QMP_OUT_MAX. */
void qmp_client_queue(struct qmp_client *c, const char *data, size_t n);
void qmp_client_flush(struct qmp_client *c);
size_t qmp_client_pending(const struct qmp_client *c);
/* One turn of the control loop for c: flush, read, run requests, flush. */
void qmp_client_service(struct qmp_server *s, struct qmp_client *c, short revents);

#endif
