// SPDX-License-Identifier: GPL-2.0
/*
 * Test payload: the guest's own view of its kernel memory, for e2e tests
 * that compare it with what the host reads from outside.
 *
 *   insmod rwtest_dump.ko addr=0xffffffff81234560 len=256
 *
 * prints to the kernel log
 *   rwtest_dump: self <struct module address> core <core_layout.base>
 *   rwtest_dump: <offset> <32 bytes as hex>      (one line per 32 bytes)
 *   rwtest_dump: end <len>
 * and stays loaded (so it also shows in the module list).
 */
#include <linux/module.h>
#include <linux/uaccess.h>

static unsigned long addr;
static unsigned int len = 256;
module_param(addr, ulong, 0444);
module_param(len, uint, 0444);

#define LINE 32
#define MAX_LEN 4096

static u8 buf[MAX_LEN];

static int __init rwtest_dump_init(void)
{
	unsigned int off;

	pr_info("rwtest_dump: self %px core %px\n", THIS_MODULE, THIS_MODULE->core_layout.base);
	if (!addr || !len || len > MAX_LEN || len % LINE)
		return 0;
	if (copy_from_kernel_nofault(buf, (const void *)addr, len)) {
		pr_info("rwtest_dump: fault reading %u bytes at %px\n", len, (void *)addr);
		return 0;
	}
	for (off = 0; off < len; off += LINE)
		pr_info("rwtest_dump: %04x %*phN\n", off, LINE, buf + off);
	pr_info("rwtest_dump: end %u\n", len);
	return 0;
}

static void __exit rwtest_dump_exit(void)
{
}

module_init(rwtest_dump_init);
module_exit(rwtest_dump_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("ringwatch test payload: dump kernel bytes to the log");
