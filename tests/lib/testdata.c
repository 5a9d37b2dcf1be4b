#include "tests/lib/testdata.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void top_dir(char *buf, size_t len)
{
	const char *top = getenv("RW_TOP");
	if (top && *top) {
		snprintf(buf, len, "%s", top);
		return;
	}
	/* __FILE__ is $(TOP)/tests/lib/testdata.c in this build. */
	snprintf(buf, len, "%s", __FILE__);
	char *cut = strstr(buf, "/tests/lib/testdata.c");
	if (cut)
		*cut = '\0';
	else
		snprintf(buf, len, ".");
}

char *rw_test_data_load(const char *name, size_t *len)
{
	char top[4096], path[4352];
	top_dir(top, sizeof(top));
	snprintf(path, sizeof(path), "%s/tests/unit/data/%s", top, name);
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "FAIL: cannot open test data %s: %s\n", path, strerror(errno));
		exit(2);
	}
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap + 1);
	for (;;) {
		if (!buf) {
			fprintf(stderr, "FAIL: out of memory reading %s\n", path);
			exit(2);
		}
		n += fread(buf + n, 1, cap - n, f);
		if (n < cap)
			break;
		cap *= 2;
		buf = realloc(buf, cap + 1);
	}
	if (ferror(f)) {
		fprintf(stderr, "FAIL: read error on %s\n", path);
		exit(2);
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}
