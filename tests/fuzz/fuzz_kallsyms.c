/* Fuzz the kallsyms locator/decoder over arbitrary bytes presented as .rodata. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmi/ksyms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vmi_ksyms *k = NULL;
	struct vmi_kallsyms_layout lay;
	char err[256];
	int rc = vmi_ksyms_from_kallsyms(data, size, &k, &lay, err, sizeof(err));
	if (rc != 0) {
		if (k)
			abort();
		return 0;
	}
	size_t n = vmi_ksyms_count(k);
	if (n != lay.num_syms || n == 0)
		abort();
	uint64_t prev = 0;
	for (size_t i = 0; i < n; i++) {
		const struct vmi_ksym *e = vmi_ksyms_at(k, i);
		if (e->addr < prev || strlen(e->name) >= VMI_KSYM_NAME_MAX)
			abort();
		prev = e->addr;
		if (vmi_ksyms_lookup(k, e->name, NULL) == NULL)
			abort();
		uint64_t off;
		if (vmi_ksyms_find(k, e->addr, 1, &off) == NULL || off != 0)
			abort();
	}
	vmi_ksyms_free(k);
	/* System.map parser over the same bytes. */
	if (vmi_ksyms_parse_system_map((const char *)data, size, &k, err, sizeof(err)) == 0)
		vmi_ksyms_free(k);
	return 0;
}
