/* SPDX-License-Identifier: MIT */
/*
 * One logging API for the whole of kvmm. Every line names its source (a device,
 * "vcpu0", "kvm", ...) so a guest's misbehaviour can be traced to the device it hit.
 * Output goes to stderr; the console owns stdout.
 */
#ifndef KVMM_UTIL_LOG_H
#define KVMM_UTIL_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/* Process-wide verbosity; set once by main before threads start. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "error", "warn", "info", "debug"; returns -1 when unknown. */
int log_parse_level(const char *s);

void log_msg(enum log_level level, const char *src, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_err(src, ...)   log_msg(LOG_ERROR, src, __VA_ARGS__)
#define log_warn(src, ...)  log_msg(LOG_WARN, src, __VA_ARGS__)
#define log_info(src, ...)  log_msg(LOG_INFO, src, __VA_ARGS__)
#define log_debug(src, ...) log_msg(LOG_DEBUG, src, __VA_ARGS__)

#endif
