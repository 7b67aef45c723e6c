/* SPDX-License-Identifier: MIT */
/*
 * QMP input: the JSON stream splitter and request validation; see
 * qmp_stream.h. Grammar from QEMU's docs/interop/qmp-spec.rst ("Issuing
 * Commands"; "Forcing the JSON parser into known-good state"); JSON itself is
 * RFC 8259, parsed by jansson once a value's extent is known.
 */
#include "control/qmp_stream.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A buffer this big is released once its value is done, so that one large
 * request does not pin a megabyte per idle client. */
#define QMP_BUF_KEEP (64u << 10)

json_t *qmp_error_set(struct qmp_error *err, const char *cls, const char *fmt, ...)
{
	va_list ap;

	err->cls = cls;
	va_start(ap, fmt);
	vsnprintf(err->desc, sizeof(err->desc), fmt, ap);
	va_end(ap);
	return NULL;
}

static bool qmp_is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Bytes no valid JSON text contains at this point: the resynchronization
 * signal of qmp-spec.rst. Raw control characters are never legal inside a
 * string (RFC 8259 section 7); the others can never occur in UTF-8. */
static bool qmp_is_lex_error(unsigned char c, bool in_str)
{
	if (c < 0x20)
		return in_str || !qmp_is_space(c);
	return c == 0xc0 || c == 0xc1 || c >= 0xf5;
}

/* Bytes that may continue a bare top-level token (a number or literal, or
 * garbage that jansson will name). */
static bool qmp_is_bare(unsigned char c)
{
	return !qmp_is_space(c) && !qmp_is_lex_error(c, false) && !strchr("{}[],:\"", c);
}

void qmp_stream_init(struct qmp_stream *st)
{
	memset(st, 0, sizeof(*st));
	st->state = QMP_ST_IDLE;
}

void qmp_stream_free(struct qmp_stream *st)
{
	free(st->buf);
	qmp_stream_init(st);
}

/* Forgets the value in progress; the caller sets the next state. */
static void qmp_stream_reset(struct qmp_stream *st)
{
	st->len = 0;
	st->depth = 0;
	st->ddepth = 0;
	st->in_str = false;
	st->esc = false;
	if (st->cap > QMP_BUF_KEEP) {
		free(st->buf);
		st->buf = NULL;
		st->cap = 0;
	}
}

static int qmp_stream_push(struct qmp_stream *st, unsigned char c)
{
	if (st->len == st->cap) {
		size_t ncap;
		char *n;

		if (st->cap >= QMP_VALUE_MAX)
			return -E2BIG;
		ncap = st->cap ? st->cap * 2 : 4096;
		if (ncap > QMP_VALUE_MAX)
			ncap = QMP_VALUE_MAX;
		n = realloc(st->buf, ncap);
		if (!n)
			return -ENOMEM;
		st->buf = n;
		st->cap = ncap;
	}
	st->buf[st->len++] = (char)c;
	return 0;
}

static int qmp_stream_error(qmp_value_fn fn, void *opaque, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int qmp_stream_error(qmp_value_fn fn, void *opaque, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return fn(opaque, NULL, msg);
}

/* The buffer holds exactly one value's extent: parse and deliver it. */
static int qmp_stream_deliver(struct qmp_stream *st, qmp_value_fn fn, void *opaque)
{
	json_error_t jerr;
	json_t *v;
	int rc;

	/* Duplicate keys are refused: the spec leaves them "unpredictable", and a
	 * request whose meaning depends on the parser is not one to run. */
	v = json_loadb(st->buf, st->len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	st->state = QMP_ST_IDLE;
	qmp_stream_reset(st);
	if (!v)
		return qmp_stream_error(fn, opaque, "JSON parse error, %s", jerr.text);
	rc = fn(opaque, v, NULL);
	json_decref(v);
	return rc;
}

/* A byte that no JSON may contain: abandon everything in progress. The error
 * is reported only when we were not already skipping, so a run of such bytes
 * (a client's deliberate resync) costs one reply. */
static int qmp_stream_lex_error(struct qmp_stream *st, unsigned char c, qmp_value_fn fn,
				void *opaque)
{
	bool quiet = st->state == QMP_ST_SKIP || st->state == QMP_ST_DISCARD;
	bool in_str = st->in_str;

	qmp_stream_reset(st);
	/* A newline inside a string ends the skip itself, or the next line (most
	 * likely the client's next request) would be swallowed too. */
	st->state = c == '\n' ? QMP_ST_IDLE : QMP_ST_SKIP;
	if (quiet)
		return 0;
	if (in_str && c < 0x20)
		return qmp_stream_error(fn, opaque,
					"JSON parse error, control character 0x%02x in string", c);
	return qmp_stream_error(fn, opaque, "JSON parse error, invalid byte 0x%02x", c);
}

/* Drops the rest of a value already reported as too big or too deep. Only
 * counts: this input may be endless, so nothing is buffered. */
static int qmp_stream_discard(struct qmp_stream *st, unsigned char c, qmp_value_fn fn, void *opaque)
{
	if (qmp_is_lex_error(c, st->in_str))
		return qmp_stream_lex_error(st, c, fn, opaque);
	if (st->in_str) {
		if (st->esc)
			st->esc = false;
		else if (c == '\\')
			st->esc = true;
		else if (c == '"')
			st->in_str = false;
	} else if (c == '"') {
		st->in_str = true;
	} else if (c == '{' || c == '[') {
		st->ddepth++;
	} else if ((c == '}' || c == ']') && st->ddepth > 0) {
		st->ddepth--;
	}
	if (!st->in_str && st->ddepth == 0) {
		qmp_stream_reset(st);
		st->state = QMP_ST_IDLE;
	}
	return 0;
}

/* Switches a value being buffered to discarding; c is the byte that did not
 * fit and is counted by the discard logic. */
static int qmp_stream_oversize(struct qmp_stream *st, unsigned char c, int why, qmp_value_fn fn,
			       void *opaque)
{
	st->state = QMP_ST_DISCARD;
	st->ddepth = (uint64_t)st->depth;
	st->len = 0;
	/* c cannot be a lexical error here (checked before buffering), so this
	 * only counts it; done before reporting so the state is whole if the
	 * callback pauses the stream. */
	qmp_stream_discard(st, c, fn, opaque);
	if (why == -ENOMEM)
		return qmp_stream_error(fn, opaque, "JSON parse error, out of memory");
	return qmp_stream_error(fn, opaque, "JSON parse error, value longer than %d bytes",
				QMP_VALUE_MAX);
}

/* First byte of something at top level. */
static int qmp_stream_start(struct qmp_stream *st, unsigned char c, qmp_value_fn fn, void *opaque)
{
	if (qmp_is_space(c)) {
		st->state = QMP_ST_IDLE;
		return 0;
	}
	if (qmp_is_lex_error(c, false)) {
		st->state = QMP_ST_IDLE;
		return qmp_stream_lex_error(st, c, fn, opaque);
	}
	qmp_stream_reset(st);
	switch (c) {
	case '{':
	case '[':
		st->state = QMP_ST_VALUE;
		st->open[0] = c == '{' ? '}' : ']';
		st->depth = 1;
		break;
	case '"':
		st->state = QMP_ST_VALUE;
		st->in_str = true;
		break;
	case '}':
	case ']':
	case ',':
	case ':':
		st->state = QMP_ST_SKIP;
		return qmp_stream_error(fn, opaque, "JSON parse error, stray '%c'", c);
	default:
		st->state = QMP_ST_BARE;
		break;
	}
	/* Only the first allocation can fail here; skip like after garbage. */
	if (qmp_stream_push(st, c) < 0) {
		qmp_stream_reset(st);
		st->state = QMP_ST_SKIP;
		return qmp_stream_error(fn, opaque, "JSON parse error, out of memory");
	}
	return 0;
}

/* Inside an object, array or top-level string. */
static int qmp_stream_value(struct qmp_stream *st, unsigned char c, qmp_value_fn fn, void *opaque)
{
	int r;

	if (qmp_is_lex_error(c, st->in_str))
		return qmp_stream_lex_error(st, c, fn, opaque);
	r = qmp_stream_push(st, c);
	if (r < 0)
		return qmp_stream_oversize(st, c, r, fn, opaque);
	if (st->in_str) {
		if (st->esc)
			st->esc = false;
		else if (c == '\\')
			st->esc = true;
		else if (c == '"') {
			st->in_str = false;
			if (st->depth == 0)
				return qmp_stream_deliver(st, fn, opaque);
		}
		return 0;
	}
	switch (c) {
	case '"':
		st->in_str = true;
		break;
	case '{':
	case '[':
		if (st->depth == QMP_DEPTH_MAX) {
			st->state = QMP_ST_DISCARD;
			st->ddepth = (uint64_t)st->depth + 1;
			st->len = 0;
			return qmp_stream_error(
			    fn, opaque, "JSON parse error, nesting deeper than %d", QMP_DEPTH_MAX);
		}
		st->open[st->depth++] = c == '{' ? '}' : ']';
		break;
	case '}':
	case ']':
		if (c != st->open[st->depth - 1]) {
			/* Caught here rather than by jansson so that what follows is
			 * not read as part of this value. */
			qmp_stream_reset(st);
			st->state = QMP_ST_SKIP;
			return qmp_stream_error(fn, opaque, "JSON parse error, mismatched '%c'", c);
		}
		if (--st->depth == 0)
			return qmp_stream_deliver(st, fn, opaque);
		break;
	default:
		break;
	}
	return 0;
}

static int qmp_stream_byte(struct qmp_stream *st, unsigned char c, qmp_value_fn fn, void *opaque)
{
	int r;

	switch (st->state) {
	case QMP_ST_IDLE:
		return qmp_stream_start(st, c, fn, opaque);
	case QMP_ST_VALUE:
		return qmp_stream_value(st, c, fn, opaque);
	case QMP_ST_DISCARD:
		return qmp_stream_discard(st, c, fn, opaque);
	case QMP_ST_SKIP:
		if (c == '\n')
			st->state = QMP_ST_IDLE;
		else if (c == '{')
			return qmp_stream_start(st, c, fn, opaque);
		return 0;
	case QMP_ST_BARE:
		/* Only bytes of the token get here: qmp_stream_feed ends it. */
		r = qmp_stream_push(st, c);
		if (r < 0) {
			qmp_stream_reset(st);
			st->state = QMP_ST_SKIP;
			return qmp_stream_error(fn, opaque, "JSON parse error, token too long");
		}
		return 0;
	}
	return 0;
}

int qmp_stream_feed(struct qmp_stream *st, const void *data, size_t len, qmp_value_fn fn,
		    void *opaque, size_t *used)
{
	const unsigned char *p = data;
	size_t i;
	int rc = 0;

	for (i = 0; i < len; i++) {
		/* A bare token ends at the first byte that cannot continue it; that
		 * byte belongs to what comes next, so it is not consumed when the
		 * caller pauses right after the token. */
		if (st->state == QMP_ST_BARE && !qmp_is_bare(p[i])) {
			rc = qmp_stream_deliver(st, fn, opaque);
			if (rc)
				break;
		}
		rc = qmp_stream_byte(st, p[i], fn, opaque);
		if (rc) {
			i++;
			break;
		}
	}
	if (used)
		*used = i;
	return rc;
}

int qmp_stream_finish(struct qmp_stream *st, qmp_value_fn fn, void *opaque)
{
	int rc = 0;

	if (st->state == QMP_ST_BARE)
		rc = qmp_stream_deliver(st, fn, opaque);
	qmp_stream_reset(st);
	st->state = QMP_ST_IDLE;
	return rc;
}

static int qmp_request_fail(struct qmp_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int qmp_request_fail(struct qmp_error *err, const char *fmt, ...)
{
	va_list ap;

	err->cls = "GenericError";
	va_start(ap, fmt);
	vsnprintf(err->desc, sizeof(err->desc), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int qmp_request_parse(json_t *value, struct qmp_request *req, struct qmp_error *err)
{
	const char *key;
	json_t *member, *execute;

	memset(req, 0, sizeof(*req));
	if (!json_is_object(value))
		return qmp_request_fail(err, "QMP input must be a JSON object");
	/* Taken first so that every later error can still be matched by the
	 * client to its request. */
	req->id = json_object_get(value, "id");
	json_object_foreach(value, key, member)
	{
		if (!strcmp(key, "execute")) {
			if (!json_is_string(member))
				return qmp_request_fail(
				    err, "QMP input member '%s' must be a string", key);
		} else if (!strcmp(key, "arguments")) {
			if (!json_is_object(member))
				return qmp_request_fail(err, "Parameter '%s' expects a dict", key);
		} else if (!strcmp(key, "exec-oob")) {
			/* The greeting offers no "oob" capability, so no client may
			 * ask for it; say so rather than "unexpected". */
			return qmp_request_fail(
			    err, "QMP input member '%s' is not supported: no out-of-band execution",
			    key);
		} else if (strcmp(key, "id")) {
			return qmp_request_fail(err, "QMP input member '%s' is unexpected", key);
		}
	}
	execute = json_object_get(value, "execute");
	if (!execute)
		return qmp_request_fail(err, "QMP input lacks member 'execute'");
	req->execute = json_string_value(execute);
	req->args = json_object_get(value, "arguments");
	return 0;
}

struct qmp_parse_ctx {
	qmp_request_fn fn;
	void *opaque;
};

static int qmp_parse_one(void *opaque, json_t *value, const char *error)
{
	struct qmp_parse_ctx *ctx = opaque;
	struct qmp_request req = {0};
	struct qmp_error err = {0};

	if (error) {
		qmp_error_set(&err, "GenericError", "%s", error);
		return ctx->fn(ctx->opaque, &req, &err);
	}
	if (qmp_request_parse(value, &req, &err) < 0)
		return ctx->fn(ctx->opaque, &req, &err);
	return ctx->fn(ctx->opaque, &req, NULL);
}

int qmp_parse_requests(const void *buf, size_t len, qmp_request_fn fn, void *opaque)
{
	struct qmp_parse_ctx ctx = {fn, opaque};
	struct qmp_stream st;
	int rc;

	qmp_stream_init(&st);
	rc = qmp_stream_feed(&st, buf, len, qmp_parse_one, &ctx, NULL);
	if (!rc)
		rc = qmp_stream_finish(&st, qmp_parse_one, &ctx);
	qmp_stream_free(&st);
	return rc;
}
