/* SPDX-License-Identifier: MIT */
/* Leveled logging to stderr; see log.h. */
#include "util/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* The one piece of process-wide state: verbosity, written before threads start. */
static atomic_int log_level = LOG_WARN;

void log_set_level(enum log_level level)
{
	atomic_store(&log_level, (int)level);
}

enum log_level log_get_level(void)
{
	return (enum log_level)atomic_load(&log_level);
}

int log_parse_level(const char *s)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i]) == 0)
			return (int)i;
	return -1;
}

void log_msg(enum log_level level, const char *src, const char *fmt, ...)
{
	static const char *const tags[] = {"error", "warning", "info", "debug"};
	char line[1024];
	int n;
	va_list ap;

	if ((int)level > atomic_load(&log_level))
		return;
	n = snprintf(line, sizeof(line), "kvmm: %s: %s: ", src ? src : "-", tags[level]);
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* One fputs per line keeps lines from different threads whole. */
	n = (int)strlen(line);
	if (n > 0 && line[n - 1] != '\n' && (size_t)n + 1 < sizeof(line)) {
		line[n] = '\n';
		line[n + 1] = '\0';
	}
	fputs(line, stderr);
}
