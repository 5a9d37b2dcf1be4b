// SPDX-License-Identifier: GPL-2.0
/* The overlay cpio writer: parse what it writes back, newc field by field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "host/cpio.h"
#include "tests/lib/harness.h"

struct entry {
	char name[256];
	uint32_t mode;
	uint32_t size;
	char data[256];
};

static uint32_t hex8(const char *p)
{
	char tmp[9];

	memcpy(tmp, p, 8);
	tmp[8] = '\0';
	return (uint32_t)strtoul(tmp, NULL, 16);
}

/* Parse a newc archive into @out; returns the entry count (trailer excluded). */
static int parse_newc(const char *buf, size_t len, struct entry *out, int max)
{
	size_t off = 0;
	int n = 0;

	for (;;) {
		assert_true(off + 110 <= len);
		assert_memory_equal(buf + off, "070701", 6);
		uint32_t mode = hex8(buf + off + 14);
		uint32_t size = hex8(buf + off + 54);
		uint32_t namesize = hex8(buf + off + 94);
		const char *name = buf + off + 110;

		assert_true(namesize > 0 && off + 110 + namesize <= len);
		assert_int_equal(name[namesize - 1], '\0');
		off = (off + 110 + namesize + 3) & ~(size_t)3;
		if (!strcmp(name, "TRAILER!!!"))
			return n;
		assert_true(n < max);
		snprintf(out[n].name, sizeof(out[n].name), "%s", name);
		out[n].mode = mode;
		out[n].size = size;
		assert_true(off + size <= len && size < sizeof(out[n].data));
		memcpy(out[n].data, buf + off, size);
		out[n].data[size] = '\0';
		off = (off + size + 3) & ~(size_t)3;
		n++;
	}
}

static void test_cpio_round_trip(void **state)
{
	char dir[128], link[300];
	struct entry e[16];
	char *buf = NULL;
	size_t len = 0;
	FILE *mem;
	int n;

	(void)state;
	rw_test_mkdtemp(dir, sizeof(dir), "cpio");
	rw_test_write_file(dir, "etc/ringwatch/rc.d/10-x", "#!/bin/sh\necho x\n", 0755);
	rw_test_write_file(dir, "etc/a", "abc", 0600);
	rw_test_write_file(dir, "empty", "", 0644);
	snprintf(link, sizeof(link), "%s/lnk", dir);
	assert_int_equal(symlink("etc/a", link), 0);

	mem = open_memstream(&buf, &len);
	assert_int_equal(rw_cpio_write_dir(mem, dir, NULL, 0), 0);
	fclose(mem);
	assert_int_equal(len % 4, 0);
	n = parse_newc(buf, len, e, 16);
	/* Sorted walk: empty, etc, etc/a, etc/ringwatch, .../rc.d, .../10-x, lnk */
	assert_int_equal(n, 7);
	assert_string_equal(e[0].name, "empty");
	assert_int_equal(e[0].mode, S_IFREG | 0644);
	assert_int_equal(e[0].size, 0);
	assert_string_equal(e[1].name, "etc");
	assert_true(S_ISDIR(e[1].mode));
	assert_string_equal(e[2].name, "etc/a");
	assert_int_equal(e[2].mode, S_IFREG | 0600);
	assert_string_equal(e[2].data, "abc");
	assert_string_equal(e[5].name, "etc/ringwatch/rc.d/10-x");
	assert_int_equal(e[5].mode, S_IFREG | 0755);
	assert_string_equal(e[5].data, "#!/bin/sh\necho x\n");
	assert_string_equal(e[6].name, "lnk");
	assert_int_equal(e[6].mode, S_IFLNK | 0777);
	assert_string_equal(e[6].data, "etc/a");
	free(buf);
	rw_test_rmtree(dir);
}

static void test_cpio_rejects_bad_input(void **state)
{
	char dir[128], fifo[300], err[256];
	char *buf = NULL;
	size_t len = 0;
	FILE *mem;

	(void)state;
	mem = open_memstream(&buf, &len);
	assert_int_equal(rw_cpio_write_dir(mem, "/nonexistent/overlay", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/overlay"));

	rw_test_mkdtemp(dir, sizeof(dir), "cpiofifo");
	snprintf(fifo, sizeof(fifo), "%s/pipe", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(rw_cpio_write_dir(mem, dir, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "pipe"));
	assert_non_null(strstr(err, "only files, directories and symlinks"));
	fclose(mem);
	free(buf);
	rw_test_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cpio_round_trip),
		cmocka_unit_test(test_cpio_rejects_bad_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
