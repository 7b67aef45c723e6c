/* SPDX-License-Identifier: MIT */
/*
 * One QMP connection: reading and splitting its input, capabilities
 * negotiation, dispatch, replies and its bounded output queue. Protocol from
 * QEMU's docs/interop/qmp-spec.rst: "Capabilities Negotiation", "Issuing
 * Commands", "Commands Responses". Runs on the control thread, except the
 * output queue, which qmp_server_emit also fills (under s->lock).
 */
#include "control/qmp.h"
#include "control/qmp_internal.h"
#include "util/log.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Call with s->lock held. */
void qmp_client_queue(struct qmp_client *c, const char *data, size_t n)
{
	struct qmp_outq *q = &c->out;

	if (c->dead)
		return;
	if (q->len - q->head + n > QMP_OUT_MAX) {
		log_debug("qmp", "client fd %d: output backlog over %d bytes, dropping it", c->fd,
			  QMP_OUT_MAX);
		c->dead = true;
		return;
	}
	if (q->head && q->len + n > q->cap) {
		memmove(q->buf, q->buf + q->head, q->len - q->head);
		q->len -= q->head;
		q->head = 0;
	}
	if (q->len + n > q->cap) {
		size_t ncap = q->cap ? q->cap : 4096;
		char *nb;

		while (ncap < q->len + n)
			ncap *= 2;
		nb = realloc(q->buf, ncap);
		if (!nb) {
			c->dead = true;
			return;
		}
		q->buf = nb;
		q->cap = ncap;
	}
	memcpy(q->buf + q->len, data, n);
	q->len += n;
}

/* Call with s->lock held. Sends what the socket takes without blocking. */
void qmp_client_flush(struct qmp_client *c)
{
	struct qmp_outq *q = &c->out;

	while (!c->dead && q->head < q->len) {
		/* MSG_NOSIGNAL: a client that went away must not SIGPIPE the VM. */
		ssize_t n =
		    send(c->fd, q->buf + q->head, q->len - q->head, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				c->dead = true;
			return;
		}
		q->head += (size_t)n;
	}
	if (q->head == q->len) {
		q->head = q->len = 0;
		if (q->cap > QMP_OUT_KEEP) {
			free(q->buf);
			q->buf = NULL;
			q->cap = 0;
		}
	}
}

size_t qmp_client_pending(const struct qmp_client *c)
{
	return c->out.len - c->out.head;
}

/* A handler's desc may be cut mid-character by the 256-byte buffer, or carry
 * bytes that are not UTF-8 at all; jansson refuses both. */
static json_t *qmp_client_desc(const char *desc)
{
	json_t *j = json_string(desc);
	char clean[sizeof(((struct qmp_error *)0)->desc)];
	size_t i;

	if (j)
		return j;
	for (i = 0; i + 1 < sizeof(clean) && desc[i]; i++)
		clean[i] = (unsigned char)desc[i] < 0x80 ? desc[i] : '?';
	clean[i] = '\0';
	return json_string(clean);
}

/* Queues the reply to one request: ret (consumed) on success, else err. */
static void qmp_client_reply(struct qmp_server *s, struct qmp_client *c, json_t *ret,
			     const struct qmp_error *err, json_t *id)
{
	static const char fallback[] = "{\"error\": {\"class\": \"GenericError\", \"desc\": "
				       "\"reply could not be encoded\"}}\r\n";
	json_t *msg = json_object();
	char *line = NULL;
	size_t n = 0;

	if (ret) {
		json_object_set_new(msg, "return", ret);
	} else {
		json_t *e = json_object();
		json_t *cls = json_string(err->cls ? err->cls : "GenericError");

		json_object_set_new(e, "class", cls ? cls : json_string("GenericError"));
		json_object_set_new(e, "desc", qmp_client_desc(err->desc));
		json_object_set_new(msg, "error", e);
	}
	if (id)
		json_object_set(msg, "id", id);
	line = qmp_encode_line(msg, &n);
	pthread_mutex_lock(&s->lock);
	if (line)
		qmp_client_queue(c, line, n);
	else
		qmp_client_queue(c, fallback, sizeof(fallback) - 1);
	pthread_mutex_unlock(&s->lock);
	free(line);
}

static json_t *qmp_client_capabilities(json_t *args, struct qmp_error *err)
{
	const char *key;
	json_t *v, *cap;
	size_t i;

	json_object_foreach(args, key, v)
	{
		if (strcmp(key, "enable"))
			return qmp_error_set(err, "GenericError", "Parameter '%s' is unexpected",
					     key);
		if (!json_is_array(v))
			return qmp_error_set(err, "GenericError",
					     "Parameter 'enable' expects an array");
		json_array_foreach(v, i, cap)
		{
			if (!json_is_string(cap))
				return qmp_error_set(
				    err, "GenericError",
				    "Parameter 'enable' expects an array of strings");
			/* The greeting offers no capability, so any is one we lack. */
			return qmp_error_set(err, "GenericError", "Capability '%s' not available",
					     json_string_value(cap));
		}
	}
	return json_object();
}

/* Runs one valid request from c and queues its reply. */
static void qmp_client_dispatch(struct qmp_server *s, struct qmp_client *c,
				const struct qmp_request *req)
{
	struct qmp_error err = {0};
	struct qmp_command cmd = {0};
	json_t *args, *ret = NULL;
	bool caps = !strcmp(req->execute, "qmp_capabilities");

	args = req->args ? json_incref(req->args) : json_object();
	if (!args) {
		qmp_error_set(&err, "GenericError", "out of memory");
	} else if (!c->negotiated && !caps) {
		qmp_error_set(&err, "CommandNotFound",
			      "Expecting capabilities negotiation with 'qmp_capabilities'");
	} else if (caps && c->negotiated) {
		qmp_error_set(&err, "CommandNotFound",
			      "Capabilities negotiation is already complete, command "
			      "'qmp_capabilities' ignored");
	} else if (caps) {
		ret = qmp_client_capabilities(args, &err);
	} else {
		if (!qmp_server_lookup(s, req->execute, &cmd)) {
			qmp_error_set(&err, "CommandNotFound", "The command %s has not been found",
				      req->execute);
		} else {
			ret = cmd.fn(cmd.opaque, args, &err);
			if (!ret && !err.desc[0])
				qmp_error_set(&err, err.cls, "command '%s' failed", req->execute);
		}
	}
	json_decref(args);
	qmp_client_reply(s, c, ret, &err, req->id);
	/* Only after the reply is queued: no event may precede it. */
	if (caps && ret) {
		pthread_mutex_lock(&s->lock);
		c->negotiated = true;
		pthread_mutex_unlock(&s->lock);
	}
}

struct qmp_feed_ctx {
	struct qmp_server *s;
	struct qmp_client *c;
};

/* Stream callback: 0 goes on, 1 pauses a client whose replies back up, -1
 * stops a dead one. */
static int qmp_client_on_value(void *opaque, json_t *value, const char *error)
{
	struct qmp_feed_ctx *ctx = opaque;
	struct qmp_request req;
	struct qmp_error err = {0};
	bool dead;
	size_t pending;

	if (error) {
		qmp_error_set(&err, "GenericError", "%s", error);
		qmp_client_reply(ctx->s, ctx->c, NULL, &err, NULL);
	} else if (qmp_request_parse(value, &req, &err) < 0) {
		qmp_client_reply(ctx->s, ctx->c, NULL, &err, req.id);
	} else {
		qmp_client_dispatch(ctx->s, ctx->c, &req);
	}
	pthread_mutex_lock(&ctx->s->lock);
	dead = ctx->c->dead;
	pending = qmp_client_pending(ctx->c);
	pthread_mutex_unlock(&ctx->s->lock);
	if (dead)
		return -1;
	return pending >= QMP_OUT_THROTTLE ? 1 : 0;
}

/* Parses what c has buffered, unless its replies are backed up. */
static void qmp_client_process(struct qmp_server *s, struct qmp_client *c)
{
	struct qmp_feed_ctx ctx = {s, c};
	size_t used = 0;
	size_t pending;

	while (c->inlen) {
		pthread_mutex_lock(&s->lock);
		pending = c->dead ? QMP_OUT_MAX : qmp_client_pending(c);
		pthread_mutex_unlock(&s->lock);
		if (pending >= QMP_OUT_THROTTLE)
			return;
		qmp_stream_feed(&c->in, c->inbuf + c->inoff, c->inlen, qmp_client_on_value, &ctx,
				&used);
		c->inoff += used;
		c->inlen -= used;
	}
	c->inoff = 0;
	if (c->eof)
		qmp_stream_finish(&c->in, qmp_client_on_value, &ctx);
}

static void qmp_client_read(struct qmp_server *s, struct qmp_client *c)
{
	ssize_t n;

	n = recv(c->fd, c->inbuf, QMP_READ_CHUNK, MSG_DONTWAIT);
	if (n > 0) {
		c->inoff = 0;
		c->inlen = (size_t)n;
		return;
	}
	if (n == 0) {
		/* Half a request left in the stream is simply forgotten. */
		c->eof = true;
		return;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return;
	pthread_mutex_lock(&s->lock);
	c->dead = true;
	pthread_mutex_unlock(&s->lock);
}

void qmp_client_service(struct qmp_server *s, struct qmp_client *c, short revents)
{
	pthread_mutex_lock(&s->lock);
	if (revents & POLLERR)
		c->dead = true;
	qmp_client_flush(c);
	pthread_mutex_unlock(&s->lock);
	if ((revents & (POLLIN | POLLHUP)) && !c->eof && !c->inlen)
		qmp_client_read(s, c);
	/* Parsing pauses when replies back up; if the socket then takes them
	 * all, go on now: nothing else would wake this client up. */
	for (;;) {
		bool more;

		qmp_client_process(s, c);
		pthread_mutex_lock(&s->lock);
		qmp_client_flush(c);
		more = !c->dead && c->inlen && qmp_client_pending(c) < QMP_OUT_THROTTLE;
		pthread_mutex_unlock(&s->lock);
		if (!more)
			break;
	}
}

void qmp_client_free(struct qmp_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	qmp_stream_free(&c->in);
	free(c->out.buf);
	free(c->inbuf);
	free(c);
}

struct qmp_client *qmp_client_new(int fd)
{
	struct qmp_client *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->inbuf = malloc(QMP_READ_CHUNK);
	if (!c->inbuf) {
		free(c);
		return NULL;
	}
	c->fd = fd;
	qmp_stream_init(&c->in);
	return c;
}
