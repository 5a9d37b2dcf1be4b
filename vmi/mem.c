/* Generic part of the memory-source interface: region lookup, reads that
 * cross adjacent regions, direct pointers, and the "host buffers" backend. */
#include "vmi/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmi/vcpu.h"

const char *vmi_mem_strerror(int code)
{
	switch (code) {
	case VMI_MEM_OK: return "ok";
	case VMI_MEM_E_ARG: return "bad argument";
	case VMI_MEM_E_HOLE: return "guest-physical range not backed by RAM";
	case VMI_MEM_E_NOT_CONTIG: return "range not contiguous in one host mapping";
	case VMI_MEM_E_NOMEM: return "out of memory";
	case VMI_MEM_E_SYS: return "system call failed";
	case VMI_MEM_E_LAYOUT: return "invalid region layout";
	case VMI_MEM_E_FORMAT: return "malformed ELF core";
	case VMI_MEM_E_TOO_MANY: return "too many regions or vCPUs";
	case VMI_MEM_E_NO_VCPU: return "no such vCPU";
	}
	return "unknown memory-source error";
}

static int region_cmp(const void *a, const void *b)
{
	const struct vmi_mem_region *x = a, *y = b;
	return (x->gpa > y->gpa) - (x->gpa < y->gpa);
}

int vmi_mem_regions_check(struct vmi_mem_region *r, size_t n, char *err, size_t errlen)
{
	if (!r && n)
		return vmi_seterr(err, errlen, VMI_MEM_E_ARG, "NULL region table");
	if (n > VMI_MEM_MAX_REGIONS)
		return vmi_seterr(err, errlen, VMI_MEM_E_TOO_MANY, "%zu regions (max %u)", n,
				  VMI_MEM_MAX_REGIONS);
	for (size_t i = 0; i < n; i++) {
		if (r[i].size == 0)
			return vmi_seterr(err, errlen, VMI_MEM_E_LAYOUT,
					  "region %zu (gpa 0x%llx) has size 0", i,
					  (unsigned long long)r[i].gpa);
		if (r[i].gpa + r[i].size - 1 < r[i].gpa)
			return vmi_seterr(err, errlen, VMI_MEM_E_LAYOUT,
					  "region %zu: gpa 0x%llx + size 0x%llx overflows", i,
					  (unsigned long long)r[i].gpa,
					  (unsigned long long)r[i].size);
	}
	if (n > 1)
		qsort(r, n, sizeof(*r), region_cmp);
	for (size_t i = 1; i < n; i++) {
		if (r[i].gpa - r[i - 1].gpa < r[i - 1].size)
			return vmi_seterr(err, errlen, VMI_MEM_E_LAYOUT,
					  "regions at gpa 0x%llx and 0x%llx overlap",
					  (unsigned long long)r[i - 1].gpa,
					  (unsigned long long)r[i].gpa);
	}
	return 0;
}

/* Index of the region containing gpa, or -1. O(log n). */
static long region_find(const struct vmi_mem *m, uint64_t gpa)
{
	size_t lo = 0, hi = m->nregions;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->regions[mid].gpa <= gpa)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return -1;
	const struct vmi_mem_region *r = &m->regions[lo - 1];
	if (gpa - r->gpa >= r->size)
		return -1;
	return (long)(lo - 1);
}

int vmi_mem_read(const struct vmi_mem *m, uint64_t gpa, void *buf, size_t len)
{
	if (!m || (!buf && len))
		return VMI_MEM_E_ARG;
	if (len == 0)
		return 0;
	if (gpa + (len - 1) < gpa)
		return VMI_MEM_E_HOLE;
	if (m->ops && m->ops->read)
		return m->ops->read(m, gpa, buf, len);
	long i = region_find(m, gpa);
	if (i < 0)
		return VMI_MEM_E_HOLE;
	uint8_t *dst = buf;
	/* Each iteration consumes the rest of one region: at most nregions. */
	for (size_t k = (size_t)i; len; k++) {
		if (k >= m->nregions)
			return VMI_MEM_E_HOLE;
		const struct vmi_mem_region *r = &m->regions[k];
		if (gpa < r->gpa || gpa - r->gpa >= r->size)
			return VMI_MEM_E_HOLE; /* gap before the next region */
		uint64_t off = gpa - r->gpa;
		uint64_t avail = r->size - off;
		size_t n = avail < len ? (size_t)avail : len;
		if (r->host)
			memcpy(dst, r->host + off, n);
		else
			memset(dst, 0, n);
		dst += n;
		len -= n;
		gpa += n;
	}
	return 0;
}

int vmi_mem_read_u64(const struct vmi_mem *m, uint64_t gpa, uint64_t *out)
{
	uint8_t b[8];
	if (!out)
		return VMI_MEM_E_ARG;
	int rc = vmi_mem_read(m, gpa, b, sizeof(b));
	if (rc)
		return rc;
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | b[i];
	*out = v;
	return 0;
}

int vmi_mem_direct(const struct vmi_mem *m, uint64_t gpa, size_t len, const void **out)
{
	if (!m || !out || len == 0)
		return VMI_MEM_E_ARG;
	if (gpa + (len - 1) < gpa)
		return VMI_MEM_E_HOLE;
	if (m->ops && m->ops->direct)
		return m->ops->direct(m, gpa, len, out);
	if (m->ops && m->ops->read)
		return VMI_MEM_E_NOT_CONTIG; /* custom reader without pointers */
	long i = region_find(m, gpa);
	if (i < 0)
		return VMI_MEM_E_HOLE;
	const struct vmi_mem_region *r = &m->regions[i];
	uint64_t off = gpa - r->gpa;
	if (len > r->size - off || !r->host)
		return vmi_mem_is_backed(m, gpa, len) ? VMI_MEM_E_NOT_CONTIG : VMI_MEM_E_HOLE;
	*out = r->host + off;
	return 0;
}

int vmi_mem_is_backed(const struct vmi_mem *m, uint64_t gpa, uint64_t len)
{
	if (!m || len == 0 || gpa + (len - 1) < gpa)
		return 0;
	long i = region_find(m, gpa);
	if (i < 0)
		return 0;
	for (size_t k = (size_t)i; k < m->nregions; k++) {
		const struct vmi_mem_region *r = &m->regions[k];
		if (gpa < r->gpa)
			return 0;
		uint64_t avail = r->size - (gpa - r->gpa);
		if (avail >= len)
			return 1;
		len -= avail;
		gpa += avail;
	}
	return 0;
}

int vmi_mem_read_vcpu(struct vmi_mem *m, unsigned idx, struct vmi_vcpu *out, char *err,
		      size_t errlen)
{
	if (!m || !out)
		return vmi_seterr(err, errlen, VMI_MEM_E_ARG, "NULL argument");
	if (!m->ops->read_vcpu || m->nvcpus == 0)
		return vmi_seterr(err, errlen, VMI_MEM_E_NO_VCPU,
				  "%s memory source has no vCPUs", m->ops->kind);
	if (idx >= m->nvcpus)
		return vmi_seterr(err, errlen, VMI_MEM_E_NO_VCPU, "vCPU %u of %u", idx,
				  m->nvcpus);
	return m->ops->read_vcpu(m, idx, out, err, errlen);
}

const char *vmi_mem_kind(const struct vmi_mem *m)
{
	return m && m->ops ? m->ops->kind : "none";
}

void vmi_mem_close(struct vmi_mem *m)
{
	if (!m)
		return;
	if (m->ops && m->ops->destroy)
		m->ops->destroy(m);
	else {
		free(m->regions);
		free(m);
	}
}

/* --- host buffers ------------------------------------------------------------ */

static void host_destroy(struct vmi_mem *m)
{
	free(m->regions);
	free(m);
}

static const struct vmi_mem_ops host_ops = {
	.kind = "host",
	.destroy = host_destroy,
};

int vmi_mem_open_host(const struct vmi_mem_region *regions, size_t n, struct vmi_mem **out,
		      char *err, size_t errlen)
{
	if (!out || (!regions && n))
		return vmi_seterr(err, errlen, VMI_MEM_E_ARG, "NULL argument");
	*out = NULL;
	if (n > VMI_MEM_MAX_REGIONS)
		return vmi_seterr(err, errlen, VMI_MEM_E_TOO_MANY, "%zu regions (max %u)", n,
				  VMI_MEM_MAX_REGIONS);
	for (size_t i = 0; i < n; i++)
		if (!regions[i].host)
			return vmi_seterr(err, errlen, VMI_MEM_E_ARG,
					  "region %zu has no host buffer", i);
	struct vmi_mem *m = calloc(1, sizeof(*m));
	struct vmi_mem_region *r = calloc(n ? n : 1, sizeof(*r));
	if (!m || !r) {
		free(m);
		free(r);
		return vmi_seterr(err, errlen, VMI_MEM_E_NOMEM, "out of memory");
	}
	if (n)
		memcpy(r, regions, n * sizeof(*r));
	int rc = vmi_mem_regions_check(r, n, err, errlen);
	if (rc) {
		free(m);
		free(r);
		return rc;
	}
	m->ops = &host_ops;
	m->regions = r;
	m->nregions = n;
	*out = m;
	return 0;
}
