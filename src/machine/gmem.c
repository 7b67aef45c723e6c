/* SPDX-License-Identifier: MIT */
/* Bounds-checked guest physical memory access; see gmem.h. */
#include "machine/gmem.h"

#include <errno.h>
#include <string.h>

int gmem_add_region(struct gmem *m, uint64_t gpa, uint64_t size, void *host)
{
	if (m->nr_regions >= GMEM_MAX_REGIONS)
		return -ENOSPC;
	if (!size || gpa + size < gpa || !host)
		return -EINVAL;
	for (int i = 0; i < m->nr_regions; i++) {
		const struct gmem_region *r = &m->region[i];
		if (gpa < r->gpa + r->size && r->gpa < gpa + size)
			return -EINVAL;
	}
	m->region[m->nr_regions++] = (struct gmem_region){gpa, size, host};
	return 0;
}

void *gmem_ptr(const struct gmem *m, uint64_t gpa, uint64_t len)
{
	if (!len)
		return NULL;
	for (int i = 0; i < m->nr_regions; i++) {
		const struct gmem_region *r = &m->region[i];
		/* Written so that no sum can overflow. */
		if (gpa >= r->gpa && gpa - r->gpa < r->size && len <= r->size - (gpa - r->gpa))
			return r->host + (gpa - r->gpa);
	}
	return NULL;
}

int gmem_read(const struct gmem *m, uint64_t gpa, void *buf, uint64_t len)
{
	const void *p;

	if (!len)
		return 0;
	p = gmem_ptr(m, gpa, len);
	if (!p)
		return -EFAULT;
	memcpy(buf, p, len);
	return 0;
}

int gmem_write(const struct gmem *m, uint64_t gpa, const void *buf, uint64_t len)
{
	void *p;

	if (!len)
		return 0;
	p = gmem_ptr(m, gpa, len);
	if (!p)
		return -EFAULT;
	memcpy(p, buf, len);
	return 0;
}

uint64_t gmem_region_end(const struct gmem *m, uint64_t gpa)
{
	for (int i = 0; i < m->nr_regions; i++) {
		const struct gmem_region *r = &m->region[i];
		if (gpa >= r->gpa && gpa - r->gpa < r->size)
			return r->gpa + r->size;
	}
	return 0;
}
