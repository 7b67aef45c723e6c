/* SPDX-License-Identifier: MIT */
/*
 * QMP server tests: the pure stream splitter and request checks, then the real
 * server over UNIX sockets in a temporary directory (no KVM needed).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "control/qmp.h"
#include "control/qmp_stream.h"

/* Test allocations: abort() tells the compiler NULL never gets past. */
static void *test_alloc(void *p)
{
	if (!p)
		abort();
	return p;
}

/* ---- pure splitter ---- */

/* Records every value or error as one text line, for comparing runs. */
struct rec {
	char log[8192];
	size_t len;
	int values, errors;
	int pause_every; /* nonzero: ask the stream to pause after each value */
};

static int rec_value(void *opaque, json_t *value, const char *error)
{
	struct rec *r = opaque;
	char *t = NULL;
	int n;

	if (value) {
		t = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);
		r->values++;
	} else {
		r->errors++;
	}
	n = snprintf(r->log + r->len, sizeof(r->log) - r->len, "%s%s\n", value ? "V " : "E ",
		     value ? t : error);
	free(t);
	if (n > 0 && (size_t)n < sizeof(r->log) - r->len)
		r->len += (size_t)n;
	return r->pause_every ? 1 : 0;
}

static void feed_all(struct rec *r, const char *in, size_t len, size_t chunk)
{
	struct qmp_stream st;
	size_t off = 0;

	qmp_stream_init(&st);
	while (off < len) {
		size_t n = len - off < chunk ? len - off : chunk;
		size_t used = 0;

		/* A paused stream is resumed with the bytes it did not consume. */
		while (n) {
			int rc = qmp_stream_feed(&st, in + off, n, rec_value, r, &used);
			assert_true(rc == 0 || rc == 1);
			if (rc == 0)
				assert_int_equal(used, n);
			off += used;
			n -= used;
		}
	}
	qmp_stream_finish(&st, rec_value, r);
	qmp_stream_free(&st);
}

static const char split_input[] =
    "{\"execute\":\"a\"}{\"execute\":\"b\",\"arguments\":{\"s\":\"}]{[\\\"\\\\\"}}\n"
    "  [1,[2,{\"x\":[]}]] \"str\" 42{\"execute\":\"c\"}true null -1.5e3\r\n"
    "} garbage {\"execute\":\"d\"}\n"
    "{\"a\":[}\n{\"execute\":\"e\"}"
    "{\"execute\": }"
    "{\"k\":\"line\nbreak\"}\n"
    "{\"execute\":\"f\"}\x01\x01\x01{\"execute\":\"g\"}"
    "{\"execute\":\"\xff\"}{\"dup\":1,\"dup\":2}"
    "7";

static void test_stream_splits(void **state)
{
	struct rec whole = {0}, bytewise = {0}, paused = {0}, chunk7 = {0};
	(void)state;

	feed_all(&whole, split_input, sizeof(split_input) - 1, sizeof(split_input));
	feed_all(&bytewise, split_input, sizeof(split_input) - 1, 1);
	feed_all(&chunk7, split_input, sizeof(split_input) - 1, 7);
	paused.pause_every = 1;
	feed_all(&paused, split_input, sizeof(split_input) - 1, sizeof(split_input));
	/* However the input is cut or paused, the same values come out. */
	assert_string_equal(whole.log, bytewise.log);
	assert_string_equal(whole.log, chunk7.log);
	assert_string_equal(whole.log, paused.log);
	assert_string_equal(whole.log,
			    "V {\"execute\":\"a\"}\n"
			    "V {\"execute\":\"b\",\"arguments\":{\"s\":\"}]{[\\\"\\\\\"}}\n"
			    "V [1,[2,{\"x\":[]}]]\n"
			    "V \"str\"\n"
			    "V 42\n"
			    "V {\"execute\":\"c\"}\n"
			    "V true\n"
			    "V null\n"
			    "V -1500.0\n"
			    "E JSON parse error, stray '}'\n"
			    "V {\"execute\":\"d\"}\n"
			    "E JSON parse error, mismatched '}'\n"
			    "V {\"execute\":\"e\"}\n"
			    "E JSON parse error, unexpected token near '}'\n"
			    "E JSON parse error, control character 0x0a in string\n"
			    /* the rest of the broken line is read afresh */
			    "E JSON parse error, invalid token near 'break'\n"
			    "E JSON parse error, control character 0x0a in string\n"
			    "V {\"execute\":\"f\"}\n"
			    "E JSON parse error, invalid byte 0x01\n"
			    "V {\"execute\":\"g\"}\n"
			    "E JSON parse error, invalid byte 0xff\n"
			    "E JSON parse error, duplicate object key near '\"dup\"'\n"
			    "V 7\n");
}

static void test_stream_limits(void **state)
{
	struct rec r = {0};
	size_t big = QMP_VALUE_MAX + 100, i;
	char *in = test_alloc(malloc(big + 64));
	(void)state;

	/* Oversized: one error, the rest of that value skipped, then recovery. */
	memcpy(in, "{\"s\":\"", 6);
	memset(in + 6, 'x', big);
	strcpy(in + 6 + big, "\",\"t\":{}}{\"execute\":\"ok\"}");
	feed_all(&r, in, strlen(in), 4096);
	assert_string_equal(r.log, "E JSON parse error, value longer than 1048576 bytes\n"
				   "V {\"execute\":\"ok\"}\n");

	/* Too deep: reported once, skipped to its matching end. */
	memset(&r, 0, sizeof(r));
	for (i = 0; i < 1000; i++)
		in[i] = '[';
	for (; i < 2000; i++)
		in[i] = ']';
	strcpy(in + 2000, "[[{\"a\":\"]]]]\"}]]{\"execute\":\"ok\"}");
	feed_all(&r, in, strlen(in), 13);
	assert_string_equal(r.log, "E JSON parse error, nesting deeper than 64\n"
				   "V [[{\"a\":\"]]]]\"}]]\n"
				   "V {\"execute\":\"ok\"}\n");

	/* Exactly the limit is fine. */
	memset(&r, 0, sizeof(r));
	for (i = 0; i < QMP_DEPTH_MAX; i++)
		in[i] = '[';
	for (; i < 2 * QMP_DEPTH_MAX; i++)
		in[i] = ']';
	in[i] = '\0';
	feed_all(&r, in, strlen(in), 1);
	assert_int_equal(r.values, 1);
	assert_int_equal(r.errors, 0);
	free(in);
}

struct reqs {
	char log[4096];
	size_t len;
};

static int rec_request(void *opaque, const struct qmp_request *req, const struct qmp_error *err)
{
	struct reqs *r = opaque;
	char *id = req->id ? json_dumps(req->id, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
	int n;

	if (err)
		n = snprintf(r->log + r->len, sizeof(r->log) - r->len, "E %s: %s [%s]\n", err->cls,
			     err->desc, id ? id : "-");
	else
		n = snprintf(r->log + r->len, sizeof(r->log) - r->len, "R %s args=%d [%s]\n",
			     req->execute, req->args != NULL, id ? id : "-");
	free(id);
	r->len += (size_t)n;
	return 0;
}

static void test_request_parse(void **state)
{
	static const char in[] = "{\"execute\":\"x\",\"arguments\":{},\"id\":{\"a\":[1]}}"
				 "[]"
				 "{\"execute\":1,\"id\":7}"
				 "{\"execute\":\"x\",\"arguments\":[],\"id\":\"s\"}"
				 "{\"id\":1,\"execute\":\"x\",\"foo\":2}"
				 "{\"arguments\":{}}"
				 "{\"exec-oob\":\"x\",\"id\":3}"
				 "{\"execute\":\"y\"}";
	struct reqs r = {0};
	(void)state;

	assert_int_equal(qmp_parse_requests(in, sizeof(in) - 1, rec_request, &r), 0);
	assert_string_equal(r.log,
			    "R x args=1 [{\"a\":[1]}]\n"
			    "E GenericError: QMP input must be a JSON object [-]\n"
			    "E GenericError: QMP input member 'execute' must be a string [7]\n"
			    "E GenericError: Parameter 'arguments' expects a dict [\"s\"]\n"
			    "E GenericError: QMP input member 'foo' is unexpected [1]\n"
			    "E GenericError: QMP input lacks member 'execute' [-]\n"
			    "E GenericError: QMP input member 'exec-oob' is not supported: no "
			    "out-of-band execution [3]\n"
			    "R y args=0 [-]\n");
}

/* ---- the server over real sockets ---- */

struct fix {
	char dir[64];
	char path[128];
	struct qmp_server *s;
};

struct cli {
	int fd;
	char *buf;
	size_t len, cap;
};

static json_t *h_echo(void *opaque, json_t *args, struct qmp_error *err)
{
	return json_deep_copy(args);
}

static json_t *h_fail(void *opaque, json_t *args, struct qmp_error *err)
{
	return qmp_error_set(err, "DeviceNotFound", "Device '%s' not found",
			     json_string_value(json_object_get(args, "device")));
}

static json_t *h_emit(void *opaque, json_t *args, struct qmp_error *err)
{
	struct fix *f = opaque;

	qmp_server_emit(f->s, "FROM_HANDLER", NULL);
	return json_object();
}

static json_t *h_big(void *opaque, json_t *args, struct qmp_error *err)
{
	char s[10000];

	memset(s, 'b', sizeof(s) - 1);
	s[sizeof(s) - 1] = '\0';
	return json_string(s);
}

static const struct qmp_info test_info = {7, 2, 1, "kvmm-test"};

static int fix_setup(void **state)
{
	struct fix *f = test_alloc(calloc(1, sizeof(*f)));
	char err[256];

	strcpy(f->dir, "/tmp/qmp-test-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/qmp.sock", f->dir);
	f->s = qmp_server_create(f->path, &test_info, err, sizeof(err));
	assert_non_null(f->s);
	assert_int_equal(qmp_server_register(f->s, "echo", h_echo, f), 0);
	assert_int_equal(qmp_server_register(f->s, "fail", h_fail, f), 0);
	assert_int_equal(qmp_server_register(f->s, "emit", h_emit, f), 0);
	assert_int_equal(qmp_server_start(f->s), 0);
	/* Late registration works too. */
	assert_int_equal(qmp_server_register(f->s, "big", h_big, f), 0);
	*state = f;
	return 0;
}

static int fix_teardown(void **state)
{
	struct fix *f = *state;

	qmp_server_destroy(f->s);
	rmdir(f->dir);
	free(f);
	return 0;
}

static struct cli *cli_open(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct cli *c = test_alloc(calloc(1, sizeof(*c)));

	strcpy(sa.sun_path, path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c->fd >= 0);
	assert_int_equal(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return c;
}

static void cli_close(struct cli *c)
{
	close(c->fd);
	free(c->buf);
	free(c);
}

static void cli_send(struct cli *c, const void *data, size_t n)
{
	const char *p = data;

	while (n) {
		ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL);
		assert_true(k > 0);
		p += k;
		n -= (size_t)k;
	}
}

static void cli_sends(struct cli *c, const char *s)
{
	cli_send(c, s, strlen(s));
}

/* Next line as JSON; NULL on timeout or EOF. Lines must end in CRLF. */
static json_t *cli_recv_ms(struct cli *c, int ms)
{
	for (;;) {
		char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		ssize_t k;

		if (nl) {
			size_t linelen = (size_t)(nl - c->buf) + 1;
			json_error_t e;
			json_t *v;

			assert_true(linelen >= 2 && nl[-1] == '\r');
			v = json_loadb(c->buf, linelen - 2, 0, &e);
			assert_non_null(v);
			memmove(c->buf, c->buf + linelen, c->len - linelen);
			c->len -= linelen;
			return v;
		}
		if (poll(&p, 1, ms) <= 0)
			return NULL;
		if (c->cap - c->len < 65536) {
			c->cap = c->cap * 2 + 65536;
			c->buf = test_alloc(realloc(c->buf, c->cap));
		}
		k = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		if (k <= 0)
			return NULL;
		c->len += (size_t)k;
	}
}

static json_t *cli_recv(struct cli *c)
{
	json_t *v = cli_recv_ms(c, 5000);

	assert_non_null(v);
	return v;
}

static void expect_return(struct cli *c, const char *ret_json)
{
	json_t *v = cli_recv(c), *want = json_loads(ret_json, JSON_DECODE_ANY, NULL);

	assert_non_null(want);
	assert_true(json_equal(json_object_get(v, "return"), want));
	json_decref(want);
	json_decref(v);
}

static void expect_error(struct cli *c, const char *cls, const char *desc_prefix)
{
	json_t *v = cli_recv(c);
	json_t *e = json_object_get(v, "error");

	assert_non_null(e);
	assert_string_equal(json_string_value(json_object_get(e, "class")), cls);
	if (strncmp(json_string_value(json_object_get(e, "desc")), desc_prefix,
		    strlen(desc_prefix)))
		fail_msg("desc \"%s\" does not start with \"%s\"",
			 json_string_value(json_object_get(e, "desc")), desc_prefix);
	json_decref(v);
}

/* Connected, greeted and in command mode. */
static struct cli *cli_ready(const char *path)
{
	struct cli *c = cli_open(path);

	json_decref(cli_recv(c));
	cli_sends(c, "{\"execute\":\"qmp_capabilities\"}");
	expect_return(c, "{}");
	return c;
}

static void test_greeting(void **state)
{
	struct fix *f = *state;
	struct cli *c = cli_open(f->path);
	json_t *g = cli_recv(c), *want;

	want = json_loads("{\"QMP\":{\"version\":{\"qemu\":{\"major\":7,\"minor\":2,\"micro\":1},"
			  "\"package\":\"kvmm-test\"},\"capabilities\":[]}}",
			  0, NULL);
	assert_true(json_equal(g, want));
	json_decref(g);
	json_decref(want);
	cli_close(c);
}

static void test_negotiation(void **state)
{
	struct fix *f = *state;
	struct cli *c = cli_open(f->path);
	json_t *v;

	json_decref(cli_recv(c));
	cli_sends(c, "{\"execute\":\"query-version\",\"id\":1}");
	v = cli_recv(c);
	assert_string_equal(json_string_value(json_object_get(json_object_get(v, "error"), "desc")),
			    "Expecting capabilities negotiation with 'qmp_capabilities'");
	assert_int_equal(json_integer_value(json_object_get(v, "id")), 1);
	json_decref(v);
	cli_sends(c, "{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":[\"oob\"]}}");
	expect_error(c, "GenericError", "Capability 'oob' not available");
	cli_sends(c, "{\"execute\":\"qmp_capabilities\",\"arguments\":{\"bogus\":1}}");
	expect_error(c, "GenericError", "Parameter 'bogus' is unexpected");
	cli_sends(c, "{\"execute\":\"echo\"}");
	expect_error(c, "CommandNotFound", "Expecting capabilities negotiation");
	cli_sends(c, "{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":[]}}");
	expect_return(c, "{}");
	cli_sends(c, "{\"execute\":\"qmp_capabilities\"}");
	expect_error(c, "CommandNotFound", "Capabilities negotiation is already complete");
	cli_sends(c, "{\"execute\":\"echo\"}");
	expect_return(c, "{}");
	cli_close(c);
}

static void test_queries(void **state)
{
	struct fix *f = *state;
	struct cli *c = cli_ready(f->path);
	json_t *v, *item;
	size_t i;
	int seen = 0;

	cli_sends(c, "{\"execute\":\"query-version\"}");
	expect_return(c,
		      "{\"qemu\":{\"major\":7,\"minor\":2,\"micro\":1},\"package\":\"kvmm-test\"}");
	cli_sends(c, "{\"execute\":\"query-version\",\"arguments\":{\"x\":1}}");
	expect_error(c, "GenericError", "Parameter 'x' is unexpected");
	cli_sends(c, "{\"execute\":\"query-commands\"}");
	v = cli_recv(c);
	json_array_foreach(json_object_get(v, "return"), i, item)
	{
		const char *n = json_string_value(json_object_get(item, "name"));

		assert_non_null(n);
		if (!strcmp(n, "qmp_capabilities") || !strcmp(n, "query-commands") ||
		    !strcmp(n, "query-version") || !strcmp(n, "echo") || !strcmp(n, "fail") ||
		    !strcmp(n, "emit") || !strcmp(n, "big"))
			seen++;
	}
	assert_int_equal(seen, 7);
	assert_int_equal(json_array_size(json_object_get(v, "return")), 7);
	json_decref(v);
	cli_close(c);
}

static void test_register_rules(void **state)
{
	struct fix *f = *state;

	assert_int_equal(qmp_server_register(f->s, "echo", h_echo, NULL), -EEXIST);
	assert_int_equal(qmp_server_register(f->s, "query-version", h_echo, NULL), -EEXIST);
	assert_int_equal(qmp_server_register(f->s, "qmp_capabilities", h_echo, NULL), -EEXIST);
	assert_int_equal(qmp_server_register(f->s, "", h_echo, NULL), -EINVAL);
	assert_int_equal(qmp_server_start(f->s), -EALREADY);
}

static void test_args_and_ids(void **state)
{
	struct fix *f = *state;
	struct cli *c = cli_ready(f->path);
	const char *ids[] = {"\"abc\"", "42", "-1.5", "{\"a\":[1,{\"b\":null}]}", "[]", "null"};
	size_t i;
	json_t *v, *want;
	char req[256];

	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		snprintf(req, sizeof(req),
			 "{\"execute\":\"echo\",\"arguments\":{\"k\":[1,\"two\"]},\"id\":%s}",
			 ids[i]);
		cli_sends(c, req);
		v = cli_recv(c);
		want = json_loads(ids[i], JSON_DECODE_ANY, NULL);
		assert_true(json_equal(json_object_get(v, "id"), want));
		assert_int_equal(json_integer_value(json_array_get(
				     json_object_get(json_object_get(v, "return"), "k"), 0)),
				 1);
		json_decref(want);
		json_decref(v);
	}
	cli_sends(c, "{\"execute\":\"fail\",\"arguments\":{\"device\":\"disk0\"},\"id\":\"x\"}");
	v = cli_recv(c);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(v, "error"), "class")),
	    "DeviceNotFound");
	assert_string_equal(json_string_value(json_object_get(json_object_get(v, "error"), "desc")),
			    "Device 'disk0' not found");
	assert_string_equal(json_string_value(json_object_get(v, "id")), "x");
	json_decref(v);
	cli_close(c);
}

static void test_errors(void **state)
{
	struct fix *f = *state;
	struct cli *c = cli_ready(f->path);
	json_t *v;

	cli_sends(c, "{\"execute\":\"foo\"}");
	expect_error(c, "CommandNotFound", "The command foo has not been found");
	cli_sends(c, "[1,2]\n");
	expect_error(c, "GenericError", "QMP input must be a JSON object");
	cli_sends(c, "\"hello\" ");
	expect_error(c, "GenericError", "QMP input must be a JSON object");
	cli_sends(c, "{\"execute\":[\"echo\"]}");
	expect_error(c, "GenericError", "QMP input member 'execute' must be a string");
	cli_sends(c, "{\"execute\":\"echo\",\"arguments\":\"x\",\"id\":9}");
	v = cli_recv(c);
	assert_string_equal(json_string_value(json_object_get(json_object_get(v, "error"), "desc")),
			    "Parameter 'arguments' expects a dict");
	assert_int_equal(json_integer_value(json_object_get(v, "id")), 9);
	json_decref(v);
	cli_sends(c, "{\"execute\":\"echo\",\"bogus\":true}");
	expect_error(c, "GenericError", "QMP input member 'bogus' is unexpected");
	cli_sends(c, "{\"exec-oob\":\"echo\"}");
	expect_error(c, "GenericError", "QMP input member 'exec-oob' is not supported");

	/* Malformed JSON, then the same connection still works. */
	cli_sends(c, "{\"execute\": }\n");
	expect_error(c, "GenericError", "JSON parse error, ");
	cli_sends(c, "{\"execute\":\"echo\",\"id\":1}");
	expect_return(c, "{}");
	/* Garbage outside a value: skipped to the end of the line. */
	cli_sends(c, "]]] , : nonsense\n{\"execute\":\"echo\",\"id\":2}");
	expect_error(c, "GenericError", "JSON parse error, stray ']'");
	expect_return(c, "{}");
	/* A client's deliberate resync: a control character mid-value. */
	cli_sends(c, "{\"execute\": \"ec\x1b\x1b{\"execute\":\"echo\"}");
	expect_error(c, "GenericError", "JSON parse error, control character 0x1b");
	expect_return(c, "{}");
	/* Unterminated string then newline: the next line is not swallowed. */
	cli_sends(c, "{\"execute\": \"ech\n{\"execute\":\"echo\"}\n");
	expect_error(c, "GenericError", "JSON parse error, control character 0x0a");
	expect_return(c, "{}");
	/* Hostile strings in an error desc: long and non-ASCII, still valid JSON. */
	{
		char req[1200];
		size_t n = (size_t)snprintf(req, sizeof(req), "{\"execute\":\"");
		for (int i = 0; i < 300; i++)
			n += (size_t)snprintf(req + n, sizeof(req) - n, "\xc3\xa9");
		snprintf(req + n, sizeof(req) - n, "\"}");
		cli_sends(c, req);
		expect_error(c, "CommandNotFound", "The command ");
	}
	cli_sends(c, "{\"execute\":\"echo\"}");
	expect_return(c, "{}");
	cli_close(c);
}

static void test_two_in_one_write(void **state)
{
	struct fix *f = *state;
	struct cli *c = cli_ready(f->path);
	json_t *v;

	cli_sends(c, "{\"execute\":\"echo\",\"id\":1}{\"execute\":\"query-version\",\"id\":2}");
	v = cli_recv(c);
	assert_int_equal(json_integer_value(json_object_get(v, "id")), 1);
	json_decref(v);
	v = cli_recv(c);
	assert_int_equal(json_integer_value(json_object_get(v, "id")), 2);
	assert_non_null(json_object_get(json_object_get(v, "return"), "qemu"));
	json_decref(v);
	cli_close(c);
}

static void test_byte_by_byte(void **state)
{
	struct fix *f = *state;
	struct cli *c = cli_ready(f->path);
	const char *req =
	    "{ \"execute\" : \"echo\", \"arguments\": {\"s\": \"a\\\"}\"}, \"id\": 5 }";
	struct timespec ts = {0, 200000};
	json_t *v;

	for (const char *p = req; *p; p++) {
		cli_send(c, p, 1);
		nanosleep(&ts, NULL);
	}
	v = cli_recv(c);
	assert_int_equal(json_integer_value(json_object_get(v, "id")), 5);
	assert_string_equal(json_string_value(json_object_get(json_object_get(v, "return"), "s")),
			    "a\"}");
	json_decref(v);
	cli_close(c);
}

static void test_oversized(void **state)
{
	struct fix *f = *state;
	struct cli *c = cli_ready(f->path);
	size_t big = (2u << 20);
	char *in = test_alloc(malloc(big + 128));
	size_t i;

	memcpy(in, "{\"execute\":\"echo\",\"arguments\":{\"s\":\"", 36);
	memset(in + 36, 'x', big);
	strcpy(in + 36 + big, "\"}}{\"execute\":\"echo\",\"id\":\"after\"}");
	cli_sends(c, in);
	expect_error(c, "GenericError", "JSON parse error, value longer than");
	expect_return(c, "{}");
	for (i = 0; i < 5000; i++)
		in[i] = '{';
	in[i] = '\0';
	cli_sends(c, in);
	expect_error(c, "GenericError", "JSON parse error, nesting deeper than 64");
	/* The client gives up on its broken value and resyncs. */
	cli_sends(c, "\xff\n{\"execute\":\"echo\"}");
	expect_return(c, "{}");
	assert_null(cli_recv_ms(c, 50));
	free(in);
	cli_close(c);
}

static void test_many_clients(void **state)
{
	struct fix *f = *state;
	struct cli *c[20];
	char req[64];
	json_t *v;
	int i;

	for (i = 0; i < 20; i++)
		c[i] = cli_open(f->path);
	for (i = 0; i < 20; i++)
		json_decref(cli_recv(c[i]));
	for (i = 0; i < 20; i++)
		cli_sends(c[i], "{\"execute\":\"qmp_capabilities\"}");
	for (i = 0; i < 20; i++) {
		expect_return(c[i], "{}");
		snprintf(req, sizeof(req), "{\"execute\":\"echo\",\"id\":%d}", i);
		cli_sends(c[i], req);
	}
	for (i = 19; i >= 0; i--) {
		v = cli_recv(c[i]);
		assert_int_equal(json_integer_value(json_object_get(v, "id")), i);
		json_decref(v);
	}
	for (i = 0; i < 20; i++)
		cli_close(c[i]);
}

static void test_events(void **state)
{
	struct fix *f = *state;
	struct cli *a = cli_ready(f->path);
	struct cli *b = cli_open(f->path);
	json_t *v, *ts;

	json_decref(cli_recv(b));
	qmp_server_emit(f->s, "TEST_EVENT", json_pack("{s:i}", "n", 1));
	v = cli_recv(a);
	assert_string_equal(json_string_value(json_object_get(v, "event")), "TEST_EVENT");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "data"), "n")), 1);
	ts = json_object_get(v, "timestamp");
	assert_true(json_integer_value(json_object_get(ts, "seconds")) > 1600000000);
	assert_true(json_is_integer(json_object_get(ts, "microseconds")));
	assert_in_range(json_integer_value(json_object_get(ts, "microseconds")), 0, 999999);
	json_decref(v);
	/* b was still negotiating: its next line is the reply, no event. */
	cli_sends(b, "{\"execute\":\"qmp_capabilities\"}");
	expect_return(b, "{}");
	assert_null(cli_recv_ms(b, 50));
	/* No data: no "data" member. Both negotiated clients get it. */
	qmp_server_emit(f->s, "BARE", NULL);
	v = cli_recv(a);
	assert_null(json_object_get(v, "data"));
	assert_string_equal(json_string_value(json_object_get(v, "event")), "BARE");
	json_decref(v);
	v = cli_recv(b);
	assert_string_equal(json_string_value(json_object_get(v, "event")), "BARE");
	json_decref(v);
	/* An event emitted by a handler arrives before that handler's reply. */
	cli_sends(a, "{\"execute\":\"emit\",\"id\":3}");
	v = cli_recv(a);
	assert_string_equal(json_string_value(json_object_get(v, "event")), "FROM_HANDLER");
	json_decref(v);
	expect_return(a, "{}");
	json_decref(cli_recv(b));
	cli_close(a);
	cli_close(b);
}

static void test_disconnect_mid_request(void **state)
{
	struct fix *f = *state;
	struct cli *c = cli_ready(f->path);
	struct cli *d = cli_ready(f->path);
	int i;

	cli_sends(c, "{\"execute\":\"echo\",\"arguments\":{\"s\":\"half");
	cli_close(c);
	/* Requests sent, replies never read: the server's writes hit a closed
	 * peer and must not raise SIGPIPE. */
	for (i = 0; i < 3; i++) {
		c = cli_ready(f->path);
		for (int k = 0; k < 200; k++)
			cli_sends(c, "{\"execute\":\"big\"}");
		cli_close(c);
	}
	cli_sends(d, "{\"execute\":\"echo\",\"id\":1}");
	expect_return(d, "{}");
	cli_close(d);
}

static void test_slow_client_dropped(void **state)
{
	struct fix *f = *state;
	struct cli *slow = cli_ready(f->path);
	struct cli *other = cli_open(f->path);
	char *s = test_alloc(malloc(65536));
	size_t got = 0;
	char buf[65536];
	ssize_t k;
	int i;

	json_decref(cli_recv(other));
	memset(s, 'e', 65535);
	s[65535] = '\0';
	/* emit never waits for a client: were it to wait for this one, which
	 * never reads, the loop would not end. */
	for (i = 0; i < 100; i++)
		qmp_server_emit(f->s, "FLOOD", json_pack("{s:s}", "s", s));
	/* The slow one was dropped: it sees less than was emitted, then EOF. */
	for (;;) {
		struct pollfd p = {.fd = slow->fd, .events = POLLIN};

		assert_true(poll(&p, 1, 5000) == 1);
		k = recv(slow->fd, buf, sizeof(buf), 0);
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	assert_true(got < 100u * 65536u);
	assert_true(got > 0);
	cli_sends(other, "{\"execute\":\"qmp_capabilities\"}");
	expect_return(other, "{}");
	free(s);
	cli_close(slow);
	cli_close(other);
}

static void test_pipelined_backpressure(void **state)
{
	struct fix *f = *state;
	struct cli *c = cli_ready(f->path);
	char *reqs = test_alloc(malloc(1000 * 32));
	size_t n = 0;
	json_t *v;
	int i;

	/* 1000 replies of 10 KB: more than the output limit if the server read
	 * ahead blindly; it must pause reading instead of dropping us. One write,
	 * which the socket buffer holds, so that we are not blocked sending while
	 * the server (rightly) waits for us to read. */
	for (i = 0; i < 1000; i++)
		n += (size_t)sprintf(reqs + n, "{\"execute\":\"big\",\"id\":%d}", i);
	cli_send(c, reqs, n);
	free(reqs);
	for (i = 0; i < 1000; i++) {
		v = cli_recv(c);
		assert_int_equal(json_integer_value(json_object_get(v, "id")), i);
		assert_int_equal(strlen(json_string_value(json_object_get(v, "return"))), 9999);
		json_decref(v);
	}
	cli_close(c);
}

static void test_half_close(void **state)
{
	struct fix *f = *state;
	struct cli *c = cli_open(f->path);
	json_t *v;

	/* What `echo ... | socat` does: send, shut the write side, read. */
	cli_sends(c, "{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"query-version\"}\n");
	shutdown(c->fd, SHUT_WR);
	json_decref(cli_recv(c));
	expect_return(c, "{}");
	v = cli_recv(c);
	assert_non_null(json_object_get(v, "return"));
	json_decref(v);
	assert_null(cli_recv_ms(c, 2000)); /* then EOF */
	cli_close(c);
}

static void test_fd_exhaustion(void **state)
{
	struct fix *f = *state;
	struct rlimit old, low;
	struct timespec c0, c1, nap = {0, 300 * 1000 * 1000};
	struct cli *c;
	long used_ms;

	/* The client's socket is the lowest free descriptor, so with the limit
	 * just above it the server's accept fails with EMFILE. */
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	c = cli_open(f->path);
	low = old;
	low.rlim_cur = (rlim_t)c->fd + 1;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
	nanosleep(&nap, NULL);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	/* The control thread waited instead of spinning on the listening socket... */
	used_ms = (c1.tv_sec - c0.tv_sec) * 1000 + (c1.tv_nsec - c0.tv_nsec) / 1000000;
	assert_true(used_ms < 150);
	/* ...and picks the client up once descriptors are back. */
	json_decref(cli_recv(c));
	cli_close(c);
}

/* ---- socket path handling ---- */

static void test_socket_paths(void **state)
{
	char dir[] = "/tmp/qmp-path-XXXXXX", path[128], err[256];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct qmp_server *s, *s2;
	struct stat st;
	struct cli *c;
	int fd;
	(void)state;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/q.sock", dir);

	/* A stale socket (its owner died without unlinking) is reused. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(sa.sun_path, path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	s = qmp_server_create(path, &test_info, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	/* A live one is refused. Even before start: the kernel accepts for us. */
	s2 = qmp_server_create(path, &test_info, err, sizeof(err));
	assert_null(s2);
	assert_int_equal(errno, EADDRINUSE);
	assert_non_null(strstr(err, "is in use by another process"));
	assert_int_equal(qmp_server_start(s), 0);
	c = cli_open(path);
	json_decref(cli_recv(c));

	/* Destroy closes clients and unlinks. */
	qmp_server_destroy(s);
	assert_null(cli_recv_ms(c, 2000));
	cli_close(c);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(errno, ENOENT);

	/* Not a socket: refused, left alone. */
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_null(qmp_server_create(path, &test_info, err, sizeof(err)));
	assert_non_null(strstr(err, "not a socket"));
	assert_int_equal(access(path, F_OK), 0);
	unlink(path);

	/* Too long for sun_path. */
	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	assert_null(qmp_server_create(path, &test_info, err, sizeof(err)));
	assert_int_equal(errno, EINVAL);

	/* Destroy without start. */
	snprintf(path, sizeof(path), "%s/q.sock", dir);
	s = qmp_server_create(path, &test_info, err, sizeof(err));
	assert_non_null(s);
	qmp_server_destroy(s);
	assert_int_equal(access(path, F_OK), -1);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_stream_splits),
	    cmocka_unit_test(test_stream_limits),
	    cmocka_unit_test(test_request_parse),
	    cmocka_unit_test_setup_teardown(test_greeting, fix_setup, fix_teardown),
	    cmocka_unit_test_setup_teardown(test_negotiation, fix_setup, fix_teardown),
	    cmocka_unit_test_setup_teardown(test_queries, fix_setup, fix_teardown),
	    cmocka_unit_test_setup_teardown(test_register_rules, fix_setup, fix_teardown),
	    cmocka_unit_test_setup_teardown(test_args_and_ids, fix_setup, fix_teardown),
	    cmocka_unit_test_setup_teardown(test_errors, fix_setup, fix_teardown),
	    cmocka_unit_test_setup_teardown(test_two_in_one_write, fix_setup, fix_teardown),
	    cmocka_unit_test_setup_teardown(test_byte_by_byte, fix_setup, fix_teardown),
	    cmocka_unit_test_setup_teardown(test_oversized, fix_setup, fix_teardown),
	    cmocka_unit_test_setup_teardown(test_many_clients, fix_setup, fix_teardown),
	    cmocka_unit_test_setup_teardown(test_events, fix_setup, fix_teardown),
	    cmocka_unit_test_setup_teardown(test_disconnect_mid_request, fix_setup, fix_teardown),
	    cmocka_unit_test_setup_teardown(test_slow_client_dropped, fix_setup, fix_teardown),
	    cmocka_unit_test_setup_teardown(test_pipelined_backpressure, fix_setup, fix_teardown),
	    cmocka_unit_test_setup_teardown(test_half_close, fix_setup, fix_teardown),
	    cmocka_unit_test_setup_teardown(test_fd_exhaustion, fix_setup, fix_teardown),
	    cmocka_unit_test(test_socket_paths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
