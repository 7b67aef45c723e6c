/* SPDX-License-Identifier: MIT */
/*
 * The pure half of the QMP server: cutting a client's byte stream into JSON
 * values and checking that each value is a well-formed request
 * (docs/interop/qmp-spec.rst, "Issuing Commands" and "Forcing the JSON parser
 * into known-good state"). No sockets, no threads: unit-tested and fuzzed.
 *
 * Input arrives in arbitrary pieces: one value over many reads, several values
 * in one read, no separator required between them. The splitter tracks string
 * and bracket state to find where each top-level value ends, then hands that
 * slice alone to jansson. Bad input never wedges the stream:
 *  - a malformed value is reported and dropped;
 *  - a stray closing bracket, ',' or ':' outside any value is reported and the
 *    input is skipped up to the next newline or '{';
 *  - a byte that can never appear in valid JSON (a control character other than
 *    tab, CR, LF; a raw control character inside a string; 0xC0, 0xC1,
 *    0xF5-0xFF) abandons whatever was in progress, as the spec promises clients
 *    who need to resynchronize;
 *  - a value longer than QMP_VALUE_MAX or nested deeper than QMP_DEPTH_MAX is
 *    reported once and then skipped to its end without being buffered.
 */
#ifndef KVMM_CONTROL_QMP_STREAM_H
#define KVMM_CONTROL_QMP_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "control/qmp.h"

enum {
	QMP_VALUE_MAX = 1 << 20, /* bytes buffered for one value */
	QMP_DEPTH_MAX = 64	 /* nesting of objects and arrays */
};

enum qmp_stream_state {
	QMP_ST_IDLE,	/* between values */
	QMP_ST_VALUE,	/* inside an object, array or string: buffering */
	QMP_ST_BARE,	/* a top-level number or literal: buffering */
	QMP_ST_SKIP,	/* after garbage: dropping up to '\n' or '{' */
	QMP_ST_DISCARD, /* after an oversized value's error: dropping to its end */
};

struct qmp_stream {
	enum qmp_stream_state state;
	bool in_str;		  /* inside a string literal */
	bool esc;		  /* the previous byte was a backslash inside a string */
	int depth;		  /* open brackets of the value being buffered */
	uint64_t ddepth;	  /* open brackets while discarding: unbounded input, no stack */
	char open[QMP_DEPTH_MAX]; /* which closer each open bracket expects */
	char *buf;
	size_t len, cap;
};

/*
 * Called for each complete top-level value: value (borrowed; freed after the
 * call) with error NULL, or value NULL and error describing bad input (the
 * text of a GenericError). A nonzero return stops qmp_stream_feed, which then
 * returns it; the stream stays consistent and may be fed the rest later.
 */
typedef int (*qmp_value_fn)(void *opaque, json_t *value, const char *error);

void qmp_stream_init(struct qmp_stream *st);
void qmp_stream_free(struct qmp_stream *st);
/*
 * Returns 0, or the first nonzero value returned by fn, in which case *used
 * (when not NULL) says how many bytes were consumed, the one that completed
 * the value included, so the caller can resume with the rest later. A bare
 * top-level token ("42") ends at the byte after it, which is not consumed:
 * *used may then be 0, and the next call consumes at least that byte.
 */
int qmp_stream_feed(struct qmp_stream *st, const void *data, size_t len, qmp_value_fn fn,
		    void *opaque, size_t *used);
/* End of input: a top-level number still open ("42" then EOF) is complete.
 * Anything else unfinished is dropped silently: the sender went away. */
int qmp_stream_finish(struct qmp_stream *st, qmp_value_fn fn, void *opaque);

/* A validated request; pointers borrow from the parsed value. */
struct qmp_request {
	const char *execute; /* NULL when invalid */
	json_t *args;	     /* NULL when absent */
	json_t *id;	     /* NULL when absent; set even for invalid requests */
};

/*
 * Checks one parsed value against the request grammar. Returns 0, or -EINVAL
 * with err filled (GenericError); req->id is set whenever the value carried one
 * so the error reply can echo it.
 */
int qmp_request_parse(json_t *value, struct qmp_request *req, struct qmp_error *err);

/* Called per request: err NULL for a valid one; otherwise req->id may be set. */
typedef int (*qmp_request_fn)(void *opaque, const struct qmp_request *req,
			      const struct qmp_error *err);

/*
 * The whole pure pipeline over one buffer: split, parse, validate, calling fn
 * per value or error. Returns 0, -ENOMEM, or fn's first nonzero return. This
 * is what the fuzz target drives.
 */
int qmp_parse_requests(const void *buf, size_t len, qmp_request_fn fn, void *opaque);

#endif
