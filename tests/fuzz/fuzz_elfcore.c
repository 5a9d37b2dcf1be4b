/* Fuzz the ELF core memory source: parse an arbitrary file image, then read
 * at addresses taken from the segment table it accepted. */
#include <stdint.h>
#include <stdlib.h>

#include "vmi/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmi_mem *m;
	char err[128];
	if (vmi_mem_open_elfcore_buf(data, size, &m, err, sizeof(err)) != 0)
		return 0;
	uint8_t buf[64];
	for (size_t i = 0; i < m->nregions; i++) {
		const struct vmi_mem_region *r = &m->regions[i];
		if (r->host && (r->host < data || r->host + r->size > data + size))
			abort();
		vmi_mem_read(m, r->gpa, buf, sizeof(buf));
		vmi_mem_read(m, r->gpa + r->size - 1, buf, 2);
		const void *p;
		if (vmi_mem_direct(m, r->gpa, r->size < 64 ? r->size : 64, &p) == 0 && !r->host)
			abort();
	}
	vmi_mem_close(m);
	return 0;
}
