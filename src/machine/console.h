/* SPDX-License-Identifier: MIT */
/*
 * The VM's console on the host terminal: raw mode while a VM runs (restored on
 * every exit path, crashes included) and QEMU-style escape keys, Ctrl-A then:
 *   x  quit kvmm          h  print the escape help
 *   Ctrl-A  send one Ctrl-A to the guest
 * The escape parser is pure so it is unit-tested.
 */
#ifndef KVMM_MACHINE_CONSOLE_H
#define KVMM_MACHINE_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONSOLE_ESCAPE_CHAR 0x01 /* Ctrl-A */

enum console_action { CONSOLE_NONE = 0, CONSOLE_QUIT, CONSOLE_HELP };

struct console_esc {
	bool pending; /* the previous byte was the escape character */
};

/*
 * Feeds n input bytes. Bytes for the guest are appended to out (room for n
 * bytes) and counted in *out_len. Stops at the first action and returns it;
 * *consumed says how much of in was used.
 */
enum console_action console_esc_feed(struct console_esc *st, const uint8_t *in, size_t n,
				     uint8_t *out, size_t *out_len, size_t *consumed);

/* Puts fd (a tty) in raw mode and arranges for it to be restored at exit and on
 * fatal signals. Returns 0, or -ENOTTY when fd is not a terminal. */
int console_raw_enter(int fd);
/* Restores the terminal saved by console_raw_enter; safe to call repeatedly. */
void console_raw_leave(void);

extern const char console_help_text[];

#endif
