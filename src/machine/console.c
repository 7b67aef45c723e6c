/* SPDX-License-Identifier: MIT */
/*
 * Host terminal handling for the serial console; see console.h. Raw mode as
 * termios(3) cfmakeraw describes, except output post-processing stays on so a
 * guest's bare "\n" still returns the carriage.
 */
#include "machine/console.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

const char console_help_text[] = "\r\n"
				 "kvmm console escapes (Ctrl-A, then):\r\n"
				 "  x       quit kvmm (the guest is stopped at once)\r\n"
				 "  h       this help\r\n"
				 "  Ctrl-A  send Ctrl-A to the guest\r\n";

enum console_action console_esc_feed(struct console_esc *st, const uint8_t *in, size_t n,
				     uint8_t *out, size_t *out_len, size_t *consumed)
{
	size_t i;

	for (i = 0; i < n; i++) {
		uint8_t c = in[i];

		if (!st->pending) {
			if (c == CONSOLE_ESCAPE_CHAR)
				st->pending = true;
			else
				out[(*out_len)++] = c;
			continue;
		}
		st->pending = false;
		switch (c) {
		case 'x':
		case 'X':
			*consumed = i + 1;
			return CONSOLE_QUIT;
		case 'h':
		case 'H':
		case '?':
			*consumed = i + 1;
			return CONSOLE_HELP;
		case CONSOLE_ESCAPE_CHAR:
			out[(*out_len)++] = c;
			break;
		default:
			/* Unknown escape: drop both bytes, as QEMU does. */
			break;
		}
	}
	*consumed = i;
	return CONSOLE_NONE;
}

/* Saved terminal state; process-wide because the terminal is. */
static struct termios saved_tio;
static int saved_fd = -1;

void console_raw_leave(void)
{
	if (saved_fd >= 0) {
		tcsetattr(saved_fd, TCSAFLUSH, &saved_tio);
		saved_fd = -1;
	}
}

static void console_fatal_signal(int sig)
{
	/* tcsetattr is async-signal-safe; restore, then die the default way. */
	if (saved_fd >= 0)
		tcsetattr(saved_fd, TCSAFLUSH, &saved_tio);
	signal(sig, SIG_DFL);
	raise(sig);
}

int console_raw_enter(int fd)
{
	static const int fatal[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGQUIT};
	struct termios tio;

	if (!isatty(fd) || tcgetattr(fd, &tio) < 0)
		return -ENOTTY;
	saved_tio = tio;
	saved_fd = fd;
	tio.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
	tio.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	tio.c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
	tio.c_cflag |= CS8;
	tio.c_cc[VMIN] = 1;
	tio.c_cc[VTIME] = 0;
	if (tcsetattr(fd, TCSAFLUSH, &tio) < 0) {
		saved_fd = -1;
		return -errno;
	}
	atexit(console_raw_leave);
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++) {
		struct sigaction sa = {.sa_handler = console_fatal_signal};
		sigemptyset(&sa.sa_mask);
		sigaction(fatal[i], &sa, NULL);
	}
	return 0;
}
