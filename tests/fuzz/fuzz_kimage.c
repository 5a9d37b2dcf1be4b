/* Fuzz bzImage parsing + payload decompression with a small output cap. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "vmi/kimage.h"

#define FUZZ_CAP ((size_t)4 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	void *out = NULL;
	size_t out_len = 0;
	int rc = vmi_kimage_extract_capped(data, size, FUZZ_CAP, &out, &out_len, err, sizeof(err));
	if (rc == 0) {
		if (!out || out_len > FUZZ_CAP || vmi_kimage_check_elf(out, out_len, NULL, 0) != 0)
			abort();
		free(out);
	} else if (out || out_len) {
		abort();
	}
	/* The payload alone, as a decoder input. */
	(void)vmi_kimage_detect(data, size);
	return 0;
}
