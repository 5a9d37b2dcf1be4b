/* Fuzz the QEMU HMP text parsers: "info mtree -f" and "info registers -a".
 * First byte: bit0 selects ram_name "mem" instead of auto, bits1-3 the
 * output capacity. Both parsers see the rest. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmi/mtree.h"
#include "vmi/vcpu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t sel = data[0];
	const char *text = (const char *)data + 1;
	size_t len = size - 1;
	size_t cap = 1 + ((sel >> 1) & 7);
	char err[128];

	struct vmi_mtree_range ranges[8];
	size_t n = 0;
	int rc = vmi_mtree_parse_ram(text, len, (sel & 1) ? "mem" : NULL, ranges, cap, &n, err,
				     sizeof(err));
	if (rc == 0) {
		if (n == 0 || n > cap)
			abort();
		for (size_t i = 0; i < n; i++) {
			if (ranges[i].size == 0 || ranges[i].gpa + (ranges[i].size - 1) < ranges[i].gpa)
				abort();
			if (i && ranges[i].gpa < ranges[i - 1].gpa + ranges[i - 1].size)
				abort();
			if (!memchr(ranges[i].name, '\0', sizeof(ranges[i].name)))
				abort();
		}
	} else if (!memchr(err, '\0', sizeof(err))) {
		abort();
	}

	struct vmi_vcpu cpus[8];
	rc = vmi_regs_hmp_parse(text, len, cpus, cap, &n, err, sizeof(err));
	if (rc == 0) {
		if (n == 0 || n > cap)
			abort();
		for (size_t i = 0; i < n; i++)
			if (cpus[i].cr3.prov != VMI_PROV_QMP_INFO_REGISTERS ||
			    cpus[i].lstar.prov != VMI_PROV_NONE || cpus[i].gdtr_limit.v > 0xffff)
				abort();
	}
	return 0;
}
