/* Guest RAM shared through fds, mapped read-only (MAP_SHARED, PROT_READ).
 *
 * Covers QEMU's memory-backend-memfd/-file with share=on (one fd, regions from
 * "info mtree -f") and vhost-user SET_MEM_TABLE (one fd per region). Each
 * region gets its own mapping; the region table then serves reads. */
#include "vmi/mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct ram_map {
	void *addr;
	size_t len;
};

struct ram_mem {
	struct vmi_mem base; /* first: the interface object */
	struct ram_map *maps;
	size_t nmaps;
};

static void ram_unmap_all(struct ram_mem *rm)
{
	for (size_t i = 0; i < rm->nmaps; i++)
		if (rm->maps[i].addr)
			munmap(rm->maps[i].addr, rm->maps[i].len);
	free(rm->maps);
	rm->maps = NULL;
	rm->nmaps = 0;
}

static void ram_destroy(struct vmi_mem *m)
{
	struct ram_mem *rm = (struct ram_mem *)m;
	ram_unmap_all(rm);
	free(m->regions);
	free(rm);
}

static const struct vmi_mem_ops ram_ops = {
	.kind = "ram",
	.destroy = ram_destroy,
};

/* Check the region fits its fd (regular files/memfds only: a hugetlbfs or
 * device fd may report size 0). Mapping beyond EOF would SIGBUS on read. */
static int ram_check_fd(const struct vmi_ram_region *r, size_t i, char *err, size_t errlen)
{
	struct stat st;
	if (r->fd < 0)
		return vmi_seterr(err, errlen, VMI_MEM_E_ARG, "region %zu: bad fd %d", i, r->fd);
	if (fstat(r->fd, &st) != 0)
		return vmi_seterr(err, errlen, VMI_MEM_E_SYS, "region %zu: fstat(fd %d): %s", i,
				  r->fd, strerror(errno));
	if (r->fd_offset + r->size < r->fd_offset)
		return vmi_seterr(err, errlen, VMI_MEM_E_LAYOUT,
				  "region %zu: fd offset + size overflows", i);
	if (S_ISREG(st.st_mode) && (st.st_size < 0 ||
				    r->fd_offset + r->size > (uint64_t)st.st_size))
		return vmi_seterr(err, errlen, VMI_MEM_E_LAYOUT,
				  "region %zu: fd range 0x%llx+0x%llx beyond fd size 0x%llx", i,
				  (unsigned long long)r->fd_offset, (unsigned long long)r->size,
				  (unsigned long long)st.st_size);
	return 0;
}

int vmi_mem_open_ram(const struct vmi_ram_region *regions, size_t n, struct vmi_mem **out,
		     char *err, size_t errlen)
{
	if (!out || !regions || n == 0)
		return vmi_seterr(err, errlen, VMI_MEM_E_ARG, "no regions");
	*out = NULL;
	if (n > VMI_MEM_MAX_REGIONS)
		return vmi_seterr(err, errlen, VMI_MEM_E_TOO_MANY, "%zu regions (max %u)", n,
				  VMI_MEM_MAX_REGIONS);
	long pgsz = sysconf(_SC_PAGESIZE);
	if (pgsz <= 0)
		pgsz = 4096;

	struct ram_mem *rm = calloc(1, sizeof(*rm));
	struct vmi_mem_region *tab = calloc(n, sizeof(*tab));
	struct ram_map *maps = calloc(n, sizeof(*maps));
	if (!rm || !tab || !maps) {
		free(rm);
		free(tab);
		free(maps);
		return vmi_seterr(err, errlen, VMI_MEM_E_NOMEM, "out of memory");
	}
	rm->maps = maps;
	rm->base.ops = &ram_ops;
	rm->base.regions = tab;

	/* Validate the guest-physical layout before mapping anything. */
	for (size_t i = 0; i < n; i++) {
		tab[i].gpa = regions[i].gpa;
		tab[i].size = regions[i].size;
	}
	int rc = vmi_mem_regions_check(tab, n, err, errlen);
	if (rc)
		goto fail;

	for (size_t i = 0; i < n; i++) {
		const struct vmi_ram_region *r = &regions[i];
		rc = ram_check_fd(r, i, err, errlen);
		if (rc)
			goto fail;
		uint64_t delta = r->fd_offset % (uint64_t)pgsz;
		uint64_t maplen = r->size + delta;
		if (maplen < r->size || maplen > SIZE_MAX) {
			rc = vmi_seterr(err, errlen, VMI_MEM_E_LAYOUT, "region %zu too large", i);
			goto fail;
		}
		void *p = mmap(NULL, (size_t)maplen, PROT_READ, MAP_SHARED, r->fd,
			       (off_t)(r->fd_offset - delta));
		if (p == MAP_FAILED) {
			rc = vmi_seterr(err, errlen, VMI_MEM_E_SYS,
					"region %zu: mmap(fd %d, 0x%llx bytes @0x%llx): %s", i,
					r->fd, (unsigned long long)maplen,
					(unsigned long long)(r->fd_offset - delta), strerror(errno));
			goto fail;
		}
		maps[rm->nmaps].addr = p;
		maps[rm->nmaps].len = (size_t)maplen;
		rm->nmaps++;
		/* tab was sorted: find this region's slot by gpa (unique, checked). */
		for (size_t k = 0; k < n; k++) {
			if (tab[k].gpa == r->gpa) {
				tab[k].host = (const uint8_t *)p + delta;
				break;
			}
		}
	}
	rm->base.nregions = n;
	*out = &rm->base;
	return 0;
fail:
	ram_unmap_all(rm);
	free(tab);
	free(rm);
	return rc;
}
