/* SPDX-License-Identifier: MIT */
/*
 * The QMP server: socket, control thread, command table, built-in queries
 * and events; see qmp.h. One connection's protocol is in qmp_client.c.
 * Protocol from QEMU's docs/interop/qmp-spec.rst: "Server Greeting",
 * "Asynchronous events".
 *
 * Threads: the control thread owns the listening socket, every client's input
 * side and the client array (it alone adds and removes clients, under lock).
 * qmp_server_emit runs on any thread, so each client's output queue and its
 * negotiated/dead flags are under s->lock, which is never held across a
 * handler or a blocking call: sends are non-blocking, and a client whose queue
 * outgrows QMP_OUT_MAX is dropped rather than waited for.
 */
#include "control/qmp.h"
#include "control/qmp_internal.h"
#include "util/log.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static void qmp_server_wake(struct qmp_server *s)
{
	uint64_t one = 1;

	/* A full counter (EAGAIN) already means "wake up". */
	if (write(s->wake_fd, &one, sizeof(one)) < 0)
		return;
}

/* Encodes msg (consumed) as one line; NULL when it cannot be encoded. The
 * spec promises ASCII output, hence ENSURE_ASCII. */
char *qmp_encode_line(json_t *msg, size_t *n)
{
	char *text, *line;
	size_t len;

	text = json_dumps(msg, JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
	json_decref(msg);
	if (!text)
		return NULL;
	len = strlen(text);
	line = realloc(text, len + 3);
	if (!line) {
		free(text);
		return NULL;
	}
	memcpy(line + len, "\r\n", 3);
	*n = len + 2;
	return line;
}

/* Arguments for a command that takes none: QMP rejects unknown keys. */
static bool qmp_args_empty(json_t *args, struct qmp_error *err)
{
	const char *key;
	json_t *v;

	json_object_foreach(args, key, v)
	{
		qmp_error_set(err, "GenericError", "Parameter '%s' is unexpected", key);
		return false;
	}
	return true;
}

static json_t *qmp_cmd_query_version(void *opaque, json_t *args, struct qmp_error *err)
{
	struct qmp_server *s = opaque;

	if (!qmp_args_empty(args, err))
		return NULL;
	return json_pack("{s:{s:i, s:i, s:i}, s:s}", "qemu", "major", s->info.major, "minor",
			 s->info.minor, "micro", s->info.micro, "package", s->info.package);
}

static json_t *qmp_cmd_query_commands(void *opaque, json_t *args, struct qmp_error *err)
{
	struct qmp_server *s = opaque;
	json_t *list;
	size_t i;

	if (!qmp_args_empty(args, err))
		return NULL;
	list = json_array();
	json_array_append_new(list, json_pack("{s:s}", "name", "qmp_capabilities"));
	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->ncmds; i++)
		json_array_append_new(list, json_pack("{s:s}", "name", s->cmds[i].name));
	pthread_mutex_unlock(&s->lock);
	return list;
}

bool qmp_server_lookup(struct qmp_server *s, const char *name, struct qmp_command *out)
{
	bool found = false;
	size_t i;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->ncmds && !found; i++) {
		if (!strcmp(s->cmds[i].name, name)) {
			*out = s->cmds[i];
			found = true;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return found;
}

/* Returns false when out of descriptors or memory: the pending connection
 * stays in the backlog and the listening socket stays readable, so polling it
 * again at once would spin. */
static bool qmp_server_accept(struct qmp_server *s)
{
	struct qmp_client *c;
	int fd;

	for (;;) {
		fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return errno != EMFILE && errno != ENFILE && errno != ENOBUFS &&
			       errno != ENOMEM;
		if (s->nclients == QMP_MAX_CLIENTS) {
			/* Closing at once beats leaving it hanging in the backlog. */
			log_debug("qmp", "%d clients already connected; refusing another",
				  QMP_MAX_CLIENTS);
			close(fd);
			continue;
		}
		c = qmp_client_new(fd);
		if (!c) {
			close(fd);
			continue;
		}
		pthread_mutex_lock(&s->lock);
		qmp_client_queue(c, s->greeting, strlen(s->greeting));
		s->clients[s->nclients++] = c;
		pthread_mutex_unlock(&s->lock);
	}
}

/* Closes clients that are dead, or done: input ended and all output sent. */
static void qmp_server_reap(struct qmp_server *s)
{
	struct qmp_client *gone[QMP_MAX_CLIENTS];
	size_t i, n = 0, keep = 0;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->nclients; i++) {
		struct qmp_client *c = s->clients[i];

		if (c->dead || (c->eof && !c->inlen && !qmp_client_pending(c)))
			gone[n++] = c;
		else
			s->clients[keep++] = c;
	}
	s->nclients = keep;
	pthread_mutex_unlock(&s->lock);
	for (i = 0; i < n; i++)
		qmp_client_free(gone[i]);
}

static void *qmp_server_thread(void *arg)
{
	struct qmp_server *s = arg;
	struct pollfd pfd[2 + QMP_MAX_CLIENTS];
	struct qmp_client *polled[QMP_MAX_CLIENTS];
	bool backoff = false; /* resources ran out: leave new connections waiting */
	size_t i, n;
	uint64_t cnt;
	int rc = s->thread_init ? s->thread_init(s->thread_init_arg) : 0;

	pthread_mutex_lock(&s->lock);
	s->init_rc = rc;
	s->init_done = true;
	pthread_cond_broadcast(&s->init_cond);
	pthread_mutex_unlock(&s->lock);
	if (rc)
		return NULL;
	for (;;) {
		pthread_mutex_lock(&s->lock);
		if (s->stopping) {
			pthread_mutex_unlock(&s->lock);
			break;
		}
		pfd[0] = (struct pollfd){.fd = s->wake_fd, .events = POLLIN};
		/* poll ignores a negative fd. */
		pfd[1] = (struct pollfd){.fd = backoff ? -1 : s->listen_fd, .events = POLLIN};
		n = s->nclients;
		for (i = 0; i < n; i++) {
			struct qmp_client *c = s->clients[i];
			short ev = 0;

			if (!c->eof && !c->inlen && qmp_client_pending(c) < QMP_OUT_THROTTLE)
				ev |= POLLIN;
			if (qmp_client_pending(c))
				ev |= POLLOUT;
			polled[i] = c;
			pfd[2 + i] = (struct pollfd){.fd = c->fd, .events = ev};
		}
		pthread_mutex_unlock(&s->lock);

		if (poll(pfd, 2 + n, backoff ? 100 : -1) < 0) {
			if (errno != EINTR) {
				log_warn("qmp", "poll: %s", strerror(errno));
				backoff = true;
			}
			continue;
		}
		backoff = false;
		if (pfd[0].revents & POLLIN) {
			if (read(s->wake_fd, &cnt, sizeof(cnt)) < 0)
				cnt = 0;
		}
		/* The array only changes below, on this thread, so polled[] is
		 * still exact here. */
		for (i = 0; i < n; i++)
			qmp_client_service(s, polled[i], pfd[2 + i].revents);
		if (pfd[1].revents & POLLIN)
			backoff = !qmp_server_accept(s);
		qmp_server_reap(s);
	}
	return NULL;
}

int qmp_server_register(struct qmp_server *s, const char *name, qmp_handler_fn fn, void *opaque)
{
	struct qmp_command *nc;
	char *copy;
	size_t i;
	int rc = 0;

	if (!name || !name[0] || !fn)
		return -EINVAL;
	if (!strcmp(name, "qmp_capabilities"))
		return -EEXIST;
	copy = strdup(name);
	if (!copy)
		return -ENOMEM;
	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->ncmds; i++) {
		if (!strcmp(s->cmds[i].name, name)) {
			rc = -EEXIST;
			goto out;
		}
	}
	if (s->ncmds == s->cmdcap) {
		size_t ncap = s->cmdcap ? s->cmdcap * 2 : 16;

		nc = realloc(s->cmds, ncap * sizeof(*nc));
		if (!nc) {
			rc = -ENOMEM;
			goto out;
		}
		s->cmds = nc;
		s->cmdcap = ncap;
	}
	s->cmds[s->ncmds++] = (struct qmp_command){copy, fn, opaque};
	copy = NULL;
out:
	pthread_mutex_unlock(&s->lock);
	free(copy);
	return rc;
}

void qmp_server_emit(struct qmp_server *s, const char *event, json_t *data)
{
	struct timespec ts;
	json_t *msg, *stamp, *name;
	char *line;
	size_t i, n = 0;

	name = s && event ? json_string(event) : NULL;
	if (!name) {
		json_decref(data);
		return;
	}
	stamp = clock_gettime(CLOCK_REALTIME, &ts) == 0
		    ? json_pack("{s:I, s:I}", "seconds", (json_int_t)ts.tv_sec, "microseconds",
				(json_int_t)(ts.tv_nsec / 1000))
		    : json_pack("{s:i, s:i}", "seconds", -1, "microseconds", -1);
	msg = json_object();
	json_object_set_new(msg, "event", name);
	if (data)
		json_object_set_new(msg, "data", data);
	json_object_set_new(msg, "timestamp", stamp);
	line = qmp_encode_line(msg, &n);
	if (!line) {
		log_warn("qmp", "event %s could not be encoded; dropped", event);
		return;
	}
	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->nclients; i++) {
		if (s->clients[i]->negotiated)
			qmp_client_queue(s->clients[i], line, n);
	}
	pthread_mutex_unlock(&s->lock);
	free(line);
	qmp_server_wake(s);
}

/* Makes path free for bind: absent, or a stale socket we remove. */
static int qmp_socket_claim(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return rc;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket", path);
		return -EEXIST;
	}
	/* Whether someone serves it is only known by trying: a crashed kvmm
	 * leaves its socket file behind, a running one must keep it. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return rc;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (rc == 0 || errno == EAGAIN || errno == EINPROGRESS) {
		/* EAGAIN: a full backlog is still a live listener. */
		close(fd);
		snprintf(err, errlen, "%s is in use by another process", path);
		return -EADDRINUSE;
	}
	rc = -errno;
	close(fd);
	if (rc != -ECONNREFUSED) {
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		rc = -errno;
		snprintf(err, errlen, "cannot remove stale socket %s: %s", path, strerror(errno));
		return rc;
	}
	return 0;
}

static int qmp_socket_listen(struct qmp_server *s, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, rc;

	rc = qmp_socket_claim(s->path, err, errlen);
	if (rc < 0)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return rc;
	}
	/* Linux creates the socket file with the socket inode's mode (less the
	 * umask): set before bind, the file is never more open than 0600, and
	 * umask (process-wide, racy with other threads) stays untouched. */
	(void)fchmod(fd, 0600);
	memcpy(sa.sun_path, s->path, strlen(s->path) + 1);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		snprintf(err, errlen, "bind %s: %s", s->path, strerror(errno));
		close(fd);
		return rc;
	}
	if (chmod(s->path, 0600) < 0 || stat(s->path, &st) < 0 || listen(fd, QMP_MAX_CLIENTS) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", s->path, strerror(errno));
		unlink(s->path);
		close(fd);
		return rc;
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->listen_fd = fd;
	return 0;
}

struct qmp_server *qmp_server_create(const char *path, const struct qmp_info *info, char *err,
				     size_t errlen)
{
	struct sockaddr_un sa;
	struct qmp_server *s;
	size_t n = 0;
	json_t *g;
	int rc = -ENOMEM;

	if (!path || !path[0] || strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socket path must be 1 to %zu bytes",
			 sizeof(sa.sun_path) - 1);
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		goto fail_msg;
	s->listen_fd = s->wake_fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->init_cond, NULL);
	s->info = *info;
	s->path = strdup(path);
	s->package = strdup(info->package ? info->package : "");
	s->info.package = s->package;
	if (!s->path || !s->package)
		goto fail_msg;
	g = json_pack("{s:{s:{s:{s:i, s:i, s:i}, s:s}, s:[]}}", "QMP", "version", "qemu", "major",
		      info->major, "minor", info->minor, "micro", info->micro, "package",
		      s->info.package, "capabilities");
	s->greeting = g ? qmp_encode_line(g, &n) : NULL;
	if (!s->greeting)
		goto fail_msg;
	if (qmp_server_register(s, "query-commands", qmp_cmd_query_commands, s) < 0 ||
	    qmp_server_register(s, "query-version", qmp_cmd_query_version, s) < 0)
		goto fail_msg;
	s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->wake_fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto fail;
	}
	rc = qmp_socket_listen(s, err, errlen);
	if (rc < 0)
		goto fail;
	return s;

fail_msg:
	snprintf(err, errlen, "out of memory");
fail:
	qmp_server_destroy(s);
	errno = -rc;
	return NULL;
}

void qmp_server_set_thread_init(struct qmp_server *s, int (*fn)(void *arg), void *arg)
{
	s->thread_init = fn;
	s->thread_init_arg = arg;
}

int qmp_server_start(struct qmp_server *s)
{
	int rc;

	if (s->started)
		return -EALREADY;
	rc = pthread_create(&s->thread, NULL, qmp_server_thread, s);
	if (rc)
		return -rc;
	pthread_mutex_lock(&s->lock);
	while (!s->init_done)
		pthread_cond_wait(&s->init_cond, &s->lock);
	rc = s->init_rc;
	pthread_mutex_unlock(&s->lock);
	if (rc) {
		pthread_join(s->thread, NULL);
		return rc;
	}
	s->started = true;
	return 0;
}

void qmp_server_destroy(struct qmp_server *s)
{
	struct stat st;
	size_t i;

	if (!s)
		return;
	if (s->started) {
		pthread_mutex_lock(&s->lock);
		s->stopping = true;
		pthread_mutex_unlock(&s->lock);
		qmp_server_wake(s);
		pthread_join(s->thread, NULL);
	}
	for (i = 0; i < s->nclients; i++) {
		qmp_client_flush(s->clients[i]);
		qmp_client_free(s->clients[i]);
	}
	if (s->listen_fd >= 0) {
		close(s->listen_fd);
		/* Only our own file: the path may have been taken over since. */
		if (lstat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
			unlink(s->path);
	}
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	for (i = 0; i < s->ncmds; i++)
		free(s->cmds[i].name);
	free(s->cmds);
	free(s->greeting);
	free(s->package);
	free(s->path);
	pthread_cond_destroy(&s->init_cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
