/* SPDX-License-Identifier: MIT */
/*
 * QMP input (control/qmp_stream.h): arbitrary bytes from a control client
 * through the JSON stream splitter and request validation.
 *
 * Input: byte 0 configures, the rest is the client's byte stream. Byte 0 bits
 * 0-6 are the read size the stream is fed in (0: all at once), bit 7 makes
 * the consumer pause after every value and resume with the bytes left over,
 * as the server does when a client's replies back up.
 *
 * Checks: what comes out (requests and errors, in order) does not depend on
 * how the stream is cut or paused, compared with qmp_parse_requests over the
 * whole buffer; valid requests have a string "execute" and object-or-absent
 * "arguments"; errors have a class and a description; the splitter never
 * buffers more than QMP_VALUE_MAX; and, as a reference, input that is one
 * JSON object jansson accepts (nesting within QMP_DEPTH_MAX) yields exactly
 * that object and nothing else.
 */
#include "fuzz.h"
#include "control/qmp_stream.h"

struct log {
	char *s;
	size_t len, cap;
	size_t values, errors;
	json_t *first; /* the first value, for the reference check */
};

static void log_add(struct log *l, const char *a, const char *b, const char *c)
{
	size_t n = strlen(a) + strlen(b) + strlen(c) + 3;

	if (l->len + n + 1 > l->cap) {
		size_t ncap = (l->len + n + 1) * 2;
		char *ns = realloc(l->s, ncap);

		if (!ns)
			abort();
		l->s = ns;
		l->cap = ncap;
	}
	l->len += (size_t)snprintf(l->s + l->len, l->cap - l->len, "%s %s %s\n", a, b, c);
}

static char *dump(json_t *v)
{
	char *s = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	return s ? s : strdup("-");
}

/* The same record for a request, however it was produced. */
static void log_request(struct log *l, const struct qmp_request *req, const struct qmp_error *err)
{
	char *id = dump(req->id);

	if (err) {
		FUZZ_CHECK(err->cls && err->cls[0]);
		FUZZ_CHECK(err->desc[0] && memchr(err->desc, 0, sizeof(err->desc)));
		FUZZ_CHECK(!req->execute);
		log_add(l, err->cls, err->desc, id);
		l->errors++;
	} else {
		char *args = dump(req->args);

		FUZZ_CHECK(req->execute);
		FUZZ_CHECK(!req->args || json_is_object(req->args));
		log_add(l, req->execute, args, id);
		free(args);
		l->values++;
	}
	free(id);
}

static int on_request(void *opaque, const struct qmp_request *req, const struct qmp_error *err)
{
	log_request(opaque, req, err);
	return 0;
}

struct chunked {
	struct log log;
	bool pause;
	size_t split_values, split_errors; /* what the splitter itself delivered */
};

/* What the server does per value: validate, then maybe pause. */
static int on_value(void *opaque, json_t *value, const char *error)
{
	struct chunked *c = opaque;
	struct qmp_request req = {0};
	struct qmp_error err = {0};

	if (error) {
		FUZZ_CHECK(!value);
		c->split_errors++;
		qmp_error_set(&err, "GenericError", "%s", error);
		log_request(&c->log, &req, &err);
	} else {
		FUZZ_CHECK(value);
		if (!c->split_values++)
			c->log.first = json_incref(value);
		if (qmp_request_parse(value, &req, &err) < 0)
			log_request(&c->log, &req, &err);
		else
			log_request(&c->log, &req, NULL);
	}
	return c->pause ? 1 : 0;
}

static size_t json_depth(json_t *v)
{
	size_t d = 0, i;
	const char *k;
	json_t *e;

	if (json_is_object(v)) {
		json_object_foreach(v, k, e)
		{
			size_t x = json_depth(e);
			d = x > d ? x : d;
		}
		return d + 1;
	}
	if (json_is_array(v)) {
		json_array_foreach(v, i, e)
		{
			size_t x = json_depth(e);
			d = x > d ? x : d;
		}
		return d + 1;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct log whole = {0};
	struct chunked ch = {0};
	struct qmp_stream st;
	size_t chunk, off = 0, n;
	bool stalled = false;
	const uint8_t *in;
	json_t *ref;

	if (!size)
		return 0;
	chunk = data[0] & 0x7f ? data[0] & 0x7f : SIZE_MAX;
	ch.pause = data[0] & 0x80;
	in = data + 1;
	n = size - 1;

	FUZZ_CHECK(qmp_parse_requests(in, n, on_request, &whole) == 0);

	qmp_stream_init(&st);
	while (off < n) {
		size_t len = n - off < chunk ? n - off : chunk;

		while (len) {
			size_t used = 0;
			int rc = qmp_stream_feed(&st, in + off, len, on_value, &ch, &used);

			FUZZ_CHECK(rc == 0 || (rc == 1 && ch.pause));
			FUZZ_CHECK(used <= len);
			FUZZ_CHECK(rc || used == len);
			FUZZ_CHECK(st.cap <= QMP_VALUE_MAX && st.len <= st.cap);
			FUZZ_CHECK(st.depth >= 0 && st.depth <= QMP_DEPTH_MAX);
			/* A pause must still make progress, or the server spins: it
			 * may consume nothing only when it ended a bare token, and
			 * then the next call consumes at least that delimiter. */
			FUZZ_CHECK(used > 0 || !stalled);
			stalled = used == 0;
			off += used;
			len -= used;
		}
	}
	FUZZ_CHECK(qmp_stream_finish(&st, on_value, &ch) == 0 || ch.pause);
	qmp_stream_free(&st);

	if (whole.len != ch.log.len || (whole.len && memcmp(whole.s, ch.log.s, whole.len))) {
		fprintf(stderr, "whole:\n%.*s\nchunked (%zu%s):\n%.*s\n", (int)whole.len,
			whole.s ? whole.s : "", chunk, ch.pause ? ", paused" : "", (int)ch.log.len,
			ch.log.s ? ch.log.s : "");
		FUZZ_CHECK(!"output depends on how the input was cut");
	}

	/* Reference: one well-formed object is exactly one value. jansson lets a
	 * NUL byte between tokens pass, which RFC 8259 does not (and our splitter
	 * rightly refuses), so inputs with a NUL have no reference. */
	ref = memchr(in, 0, n) ? NULL : json_loadb((const char *)in, n, JSON_REJECT_DUPLICATES, NULL);
	if (json_is_object(ref) && json_depth(ref) <= QMP_DEPTH_MAX) {
		FUZZ_CHECK(ch.split_values == 1 && ch.split_errors == 0);
		FUZZ_CHECK(json_equal(ch.log.first, ref));
	}
	json_decref(ref);
	json_decref(ch.log.first);
	free(whole.s);
	free(ch.log.s);
	return 0;
}
