/* SPDX-License-Identifier: MIT */
/*
 * The sandbox's filters, loaded in forked children (a filter cannot be
 * removed), and docs/security.md's copy of the allow lists.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "util/sandbox.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define SANITIZER 1
#endif
#endif
#ifndef SANITIZER
#define SANITIZER 0
#endif

enum probe { PROBE_WRITE, PROBE_SOCKET, PROBE_IOCTL, PROBE_EXEC_MAP, PROBE_OPEN };

/*
 * Forks a child that installs role's filter and makes one call; returns its
 * wait status, with its stderr in out. The child exits 0 when the call
 * succeeded and 10 + errno when it failed without killing it.
 */
static int run_probe(enum sandbox_role role, enum probe probe, char *out, size_t outlen)
{
	int fds[2], status = 0;
	size_t n = 0;
	ssize_t k;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit no_core = {0, 0};
		char err[256];
		long rc = 0;

		setrlimit(RLIMIT_CORE, &no_core);
		dup2(fds[1], STDERR_FILENO);
		if (sandbox_init(NULL, err, sizeof(err)) || sandbox_apply(role))
			_exit(3);
		switch (probe) {
		case PROBE_WRITE:
			rc = write(STDERR_FILENO, "ok\n", 3) == 3 ? 0 : -1;
			break;
		case PROBE_SOCKET:
			rc = socket(AF_INET, SOCK_STREAM, 0);
			break;
		case PROBE_IOCTL: {
			int avail;
			rc = ioctl(fds[0], FIONREAD, &avail); /* no role asks for it */
			break;
		}
		case PROBE_EXEC_MAP: {
			void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			rc = p == MAP_FAILED ? -1 : 0;
			break;
		}
		case PROBE_OPEN:
			rc = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
			break;
		}
		_exit(rc < 0 ? 10 + errno : 0);
	}
	close(fds[1]);
	while (n + 1 < outlen && (k = read(fds[0], out + n, outlen - n - 1)) > 0)
		n += (size_t)k;
	out[n] = '\0';
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static bool killed_for(int status, const char *out, const char *role, const char *call)
{
	char want[128];

	snprintf(want, sizeof(want), "kvmm: sandbox: thread %s (tid ", role);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSYS || !strstr(out, want))
		return false;
	snprintf(want, sizeof(want), "made forbidden system call %s (nr ", call);
	return strstr(out, want) && strstr(out, "Run with --sandbox off to debug.");
}

static void test_allowed_call_works(void **state)
{
	char out[512];
	(void)state;
	for (int r = 0; r < SANDBOX_NR_ROLES; r++) {
		int st = run_probe((enum sandbox_role)r, PROBE_WRITE, out, sizeof(out));
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
		assert_string_equal(out, "ok\n");
	}
}

static void test_forbidden_call_kills_with_message(void **state)
{
	char out[512];
	(void)state;
	for (int r = 0; r < SANDBOX_NR_ROLES; r++) {
		const char *name = sandbox_role_name((enum sandbox_role)r);
		int st = run_probe((enum sandbox_role)r, PROBE_SOCKET, out, sizeof(out));
		if (!killed_for(st, out, name, "socket"))
			fail_msg("role %s: status 0x%x, stderr: %s", name, st, out);
		st = run_probe((enum sandbox_role)r, PROBE_IOCTL, out, sizeof(out));
		if (!killed_for(st, out, name, "ioctl") || !strstr(out, " 0x541b"))
			fail_msg("role %s, FIONREAD: status 0x%x, stderr: %s", name, st, out);
		st = run_probe((enum sandbox_role)r, PROBE_EXEC_MAP, out, sizeof(out));
		if (!killed_for(st, out, name, "mmap"))
			fail_msg("role %s, PROT_EXEC: status 0x%x, stderr: %s", name, st, out);
	}
}

static void test_vcpu_cannot_open_files(void **state)
{
	char out[512];
	int st;
	(void)state;
	if (SANITIZER)
		skip(); /* sanitizer builds let every thread read /proc for reports */
	st = run_probe(SANDBOX_VCPU, PROBE_OPEN, out, sizeof(out));
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 10 + EACCES);
	/* The main thread may read files; the control thread writes snapshots. */
	st = run_probe(SANDBOX_MAIN, PROBE_OPEN, out, sizeof(out));
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_counts(void **state)
{
	unsigned sys[SANDBOX_NR_ROLES], io[SANDBOX_NR_ROLES];
	(void)state;
	for (int r = 0; r < SANDBOX_NR_ROLES; r++)
		sandbox_count((enum sandbox_role)r, &sys[r], &io[r]);
	/* Main builds machines, so it holds every vCPU ioctl and more. */
	assert_true(sys[SANDBOX_VCPU] < sys[SANDBOX_MAIN]);
	assert_true(io[SANDBOX_VCPU] < io[SANDBOX_MAIN]);
	assert_true(io[SANDBOX_CONTROL] < io[SANDBOX_VCPU]);
	assert_true(sys[SANDBOX_VCPU] > 10 && sys[SANDBOX_VCPU] < 40);
}

/* docs/security.md carries sandbox_print_lists()'s output between two markers. */
static void test_docs_match_code(void **state)
{
	static const char begin[] = "<!-- sandbox lists: begin -->\n";
	static const char end[] = "<!-- sandbox lists: end -->";
	char *code = NULL, *doc = NULL, *from, *to;
	size_t code_len = 0, doc_len = 0;
	FILE *f;
	(void)state;

	f = open_memstream(&code, &code_len);
	assert_non_null(f);
	sandbox_print_lists(f);
	fclose(f);
	f = fopen(KVMM_SOURCE_ROOT "/docs/security.md", "r");
	assert_non_null(f);
	doc = malloc(1 << 20);
	assert_non_null(doc);
	doc_len = fread(doc, 1, (1 << 20) - 1, f);
	doc[doc_len] = '\0';
	fclose(f);
	from = strstr(doc, begin);
	to = from ? strstr(from, end) : NULL;
	assert_non_null(to);
	from += strlen(begin);
	*to = '\0';
	if (strcmp(from, code))
		fail_msg("docs/security.md's allow lists differ from src/util/sandbox.c; put this "
			 "between its markers:\n%s",
			 code);
	free(doc);
	free(code);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allowed_call_works),
		cmocka_unit_test(test_forbidden_call_kills_with_message),
		cmocka_unit_test(test_vcpu_cannot_open_files),
		cmocka_unit_test(test_counts),
		cmocka_unit_test(test_docs_match_code),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
