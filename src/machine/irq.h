/* SPDX-License-Identifier: MIT */
/*
 * How a device raises an interrupt line without knowing about KVM: the machine
 * hands each device an irq_sink; unit tests hand a fake one.
 */
#ifndef KVMM_MACHINE_IRQ_H
#define KVMM_MACHINE_IRQ_H

#include <stdint.h>

struct irq_sink {
	/* Drives GSI gsi to level (1 asserted, 0 deasserted). */
	void (*set_level)(void *opaque, uint32_t gsi, int level);
	void *opaque;
};

static inline void irq_set_level(const struct irq_sink *s, uint32_t gsi, int level)
{
	if (s && s->set_level)
		s->set_level(s->opaque, gsi, level);
}

#endif
