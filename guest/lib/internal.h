/* SPDX-License-Identifier: MIT */
/* Symbols shared between the kit's own files (not for guests). */
#ifndef KIT_INTERNAL_H
#define KIT_INTERNAL_H

#include <stdint.h>

/* entry.S */
extern uint32_t kit_mb_magic, kit_mb_info;
extern volatile uint32_t kit_ap_next; /* next AP index, taken in ring 0 */
extern const char kit_tramp_start[], kit_tramp_end[];
/* tables.S */
extern uint64_t kit_pdpt[512];
extern uint8_t kit_io_bitmap[];
/* link.ld.S */
extern char __kit_image_start[], __kit_image_end[];
/* cpl0.c (ring 0) */
extern uint64_t kit_mapped_end;
void kit_map_high(void);
void kit_exception(const uint64_t *frame);
/* start.c (ring 3) */
__attribute__((noreturn)) void kit_start_bsp(void);
__attribute__((noreturn)) void kit_start_ap(unsigned int cpu);

#endif
