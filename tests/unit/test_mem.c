/* Memory sources (host, ram, elfcore), the "info mtree -f" parser and the
 * "info registers -a" parser, the latter two on outputs captured from QEMU. */
#include <elf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/lib/testdata.h"
#include "vmi/mem.h"
#include "vmi/mtree.h"
#include "vmi/vcpu.h"

static char err[512];

/* --- host regions ------------------------------------------------------------ */

static void test_host_regions(void **state)
{
	(void)state;
	static uint8_t a[4096], b[4096], c[100];
	for (int i = 0; i < 4096; i++) {
		a[i] = (uint8_t)i;
		b[i] = (uint8_t)(i + 1);
	}
	memset(c, 0xee, sizeof(c));
	/* unsorted input; a and b adjacent, c after a hole */
	struct vmi_mem_region r[3] = {
		{ 0x2000, 4096, b }, { 0x1000, 4096, a }, { 0x10000, sizeof(c), c } };
	struct vmi_mem *m;
	assert_int_equal(vmi_mem_open_host(r, 3, &m, err, sizeof(err)), 0);
	assert_string_equal(vmi_mem_kind(m), "host");
	uint8_t buf[64];
	/* crossing the a|b boundary */
	assert_int_equal(vmi_mem_read(m, 0x2000 - 32, buf, 64), 0);
	assert_memory_equal(buf, a + 4096 - 32, 32);
	assert_memory_equal(buf + 32, b, 32);
	/* into the hole after b, before a, and beyond c */
	assert_int_equal(vmi_mem_read(m, 0x3000 - 8, buf, 16), VMI_MEM_E_HOLE);
	assert_int_equal(vmi_mem_read(m, 0xfff, buf, 2), VMI_MEM_E_HOLE);
	assert_int_equal(vmi_mem_read(m, 0x10000 + 99, buf, 2), VMI_MEM_E_HOLE);
	assert_int_equal(vmi_mem_read(m, 0x10000 + 99, buf, 1), 0);
	assert_int_equal(buf[0], 0xee);
	assert_int_equal(vmi_mem_read(m, UINT64_MAX - 3, buf, 8), VMI_MEM_E_HOLE);
	assert_int_equal(vmi_mem_read(m, 0x1000, buf, 0), 0);
	uint64_t v;
	assert_int_equal(vmi_mem_read_u64(m, 0x1000, &v), 0);
	assert_int_equal(v, 0x0706050403020100ull);
	/* direct pointers: inside one region only */
	const void *p;
	assert_int_equal(vmi_mem_direct(m, 0x1800, 0x800, &p), 0);
	assert_ptr_equal(p, a + 0x800);
	assert_int_equal(vmi_mem_direct(m, 0x1800, 0x900, &p), VMI_MEM_E_NOT_CONTIG);
	assert_int_equal(vmi_mem_direct(m, 0x2800, 0x900, &p), VMI_MEM_E_HOLE);
	assert_int_equal(vmi_mem_direct(m, 0x1000, 0, &p), VMI_MEM_E_ARG);
	assert_true(vmi_mem_is_backed(m, 0x1000, 0x2000));
	assert_false(vmi_mem_is_backed(m, 0x1000, 0x2001));
	/* no vCPUs in a host source */
	struct vmi_vcpu vc;
	assert_int_equal(vmi_mem_read_vcpu(m, 0, &vc, err, sizeof(err)), VMI_MEM_E_NO_VCPU);
	vmi_mem_close(m);

	/* invalid tables */
	struct vmi_mem_region ov[2] = { { 0x1000, 0x2000, a }, { 0x2fff, 16, b } };
	assert_int_equal(vmi_mem_open_host(ov, 2, &m, err, sizeof(err)), VMI_MEM_E_LAYOUT);
	assert_non_null(strstr(err, "overlap"));
	struct vmi_mem_region z = { 0x1000, 0, a };
	assert_int_equal(vmi_mem_open_host(&z, 1, &m, err, sizeof(err)), VMI_MEM_E_LAYOUT);
	struct vmi_mem_region wrap = { UINT64_MAX - 10, 100, a };
	assert_int_equal(vmi_mem_open_host(&wrap, 1, &m, err, sizeof(err)), VMI_MEM_E_LAYOUT);
	struct vmi_mem_region top = { UINT64_MAX - 99, 100, a };
	assert_int_equal(vmi_mem_open_host(&top, 1, &m, err, sizeof(err)), 0);
	assert_int_equal(vmi_mem_read(m, UINT64_MAX - 7, buf, 8), 0);
	assert_int_equal(vmi_mem_read(m, UINT64_MAX, buf, 2), VMI_MEM_E_HOLE);
	vmi_mem_close(m);
	struct vmi_mem_region nul = { 0, 16, NULL };
	assert_int_equal(vmi_mem_open_host(&nul, 1, &m, err, sizeof(err)), VMI_MEM_E_ARG);
}

/* --- ram (fd-backed) ----------------------------------------------------------- */

static int make_memfd(size_t size, uint8_t seed)
{
	int fd = memfd_create("test_mem", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	uint8_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(p != MAP_FAILED);
	for (size_t i = 0; i < size; i++)
		p[i] = (uint8_t)(seed + i * 13 + (i >> 12));
	munmap(p, size);
	return fd;
}

static uint8_t expect_byte(uint8_t seed, size_t off)
{
	return (uint8_t)(seed + off * 13 + (off >> 12));
}

static void test_ram_one_fd_split(void **state)
{
	(void)state;
	/* QEMU pc layout in miniature: [0, 640K) and [1M, 3M) from offsets 0
	 * and 1M, then [4M, 5M) from offset 3M. */
	const size_t size = 4u << 20;
	int fd = make_memfd(size, 3);
	struct vmi_ram_region r[3] = {
		{ 0, 640u << 10, fd, 0 },
		{ 1u << 20, 2u << 20, fd, 1u << 20 },
		{ 4u << 20, 1u << 20, fd, 3u << 20 },
	};
	struct vmi_mem *m;
	assert_int_equal(vmi_mem_open_ram(r, 3, &m, err, sizeof(err)), 0);
	close(fd); /* the mappings keep the memory */
	assert_string_equal(vmi_mem_kind(m), "ram");
	uint8_t buf[256];
	assert_int_equal(vmi_mem_read(m, (4u << 20) + 100, buf, sizeof(buf)), 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], expect_byte(3, (3u << 20) + 100 + i));
	assert_int_equal(vmi_mem_read(m, (640u << 10) - 4, buf, 8), VMI_MEM_E_HOLE);
	assert_int_equal(vmi_mem_read(m, (3u << 20) - 4, buf, 8), VMI_MEM_E_HOLE);
	const void *p;
	assert_int_equal(vmi_mem_direct(m, (1u << 20) + 4096, 8192, &p), 0);
	assert_int_equal(((const uint8_t *)p)[0], expect_byte(3, (1u << 20) + 4096));
	vmi_mem_close(m);
}

static void test_ram_multi_fd(void **state)
{
	(void)state;
	/* vhost-user style: each region its own fd and mmap_offset; the first
	 * two are adjacent in guest-physical space, so reads cross them. */
	int fd1 = make_memfd(1u << 20, 10), fd2 = make_memfd(2u << 20, 20);
	struct vmi_ram_region r[2] = {
		{ 0x100000, 0x80000, fd2, 0x10000 + 0x10 }, /* unaligned offset */
		{ 0x0c0000, 0x40000, fd1, 0x40000 },
	};
	struct vmi_mem *m;
	assert_int_equal(vmi_mem_open_ram(r, 2, &m, err, sizeof(err)), 0);
	uint8_t buf[32];
	assert_int_equal(vmi_mem_read(m, 0x100000 - 16, buf, 32), 0);
	for (int i = 0; i < 16; i++) {
		assert_int_equal(buf[i], expect_byte(10, 0x40000 + 0x40000 - 16 + (size_t)i));
		assert_int_equal(buf[16 + i], expect_byte(20, 0x10010 + (size_t)i));
	}
	const void *p;
	assert_int_equal(vmi_mem_direct(m, 0x100000 - 16, 32, &p), VMI_MEM_E_NOT_CONTIG);
	assert_int_equal(vmi_mem_direct(m, 0x100000, 32, &p), 0);
	assert_memory_equal(p, buf + 16, 16);
	/* MAP_SHARED: a write through the fd is visible */
	uint8_t nb = 0x77;
	assert_int_equal(pwrite(fd2, &nb, 1, 0x10010), 1);
	assert_int_equal(vmi_mem_read(m, 0x100000, buf, 1), 0);
	assert_int_equal(buf[0], 0x77);
	vmi_mem_close(m);

	/* region beyond the end of its fd */
	struct vmi_ram_region big = { 0, 2u << 20, fd1, 0 };
	assert_int_equal(vmi_mem_open_ram(&big, 1, &m, err, sizeof(err)), VMI_MEM_E_LAYOUT);
	assert_non_null(strstr(err, "beyond fd size"));
	/* overlapping guest-physical ranges */
	struct vmi_ram_region ov[2] = { { 0, 0x2000, fd1, 0 }, { 0x1000, 0x1000, fd2, 0 } };
	assert_int_equal(vmi_mem_open_ram(ov, 2, &m, err, sizeof(err)), VMI_MEM_E_LAYOUT);
	/* bad fds */
	struct vmi_ram_region bad = { 0, 4096, -1, 0 };
	assert_int_equal(vmi_mem_open_ram(&bad, 1, &m, err, sizeof(err)), VMI_MEM_E_ARG);
	bad.fd = 999;
	assert_int_equal(vmi_mem_open_ram(&bad, 1, &m, err, sizeof(err)), VMI_MEM_E_SYS);
	assert_int_equal(vmi_mem_open_ram(NULL, 0, &m, err, sizeof(err)), VMI_MEM_E_ARG);
	struct vmi_ram_region of = { 0, 4096, fd1, UINT64_MAX - 100 };
	assert_int_equal(vmi_mem_open_ram(&of, 1, &m, err, sizeof(err)), VMI_MEM_E_LAYOUT);
	close(fd1);
	close(fd2);
}

/* --- mtree parser on QEMU captures --------------------------------------------- */

struct want_range {
	uint64_t gpa, size, offset;
};

static void check_mtree(const char *file, const char *name, const char *want_name,
			const struct want_range *want, size_t nwant)
{
	size_t len;
	char *text = rw_test_data_load(file, &len);
	struct vmi_mtree_range out[16];
	size_t n = 0;
	int rc = vmi_mtree_parse_ram(text, len, name, out, 16, &n, err, sizeof(err));
	if (rc)
		fail_msg("%s: %s", file, err);
	assert_int_equal(n, nwant);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(out[i].gpa, want[i].gpa);
		assert_int_equal(out[i].size, want[i].size);
		assert_int_equal(out[i].offset, want[i].offset);
		assert_string_equal(out[i].name, want_name);
	}
	free(text);
}

static const struct want_range pc4608[] = {
	{ 0, 0xa0000, 0 }, { 0x100000, 0xbff00000, 0x100000 }, { 0x100000000, 0x60000000, 0xc0000000 } };
static const struct want_range q35_4608[] = {
	{ 0, 0xa0000, 0 }, { 0x100000, 0x7ff00000, 0x100000 }, { 0x100000000, 0xa0000000, 0x80000000 } };
static const struct want_range m512[] = { { 0, 0xa0000, 0 }, { 0x100000, 0x1ff00000, 0x100000 } };

static void test_mtree_fixtures(void **state)
{
	(void)state;
	check_mtree("mtree-pc-4608-kvm.txt", NULL, "mem", pc4608, 3);
	check_mtree("mtree-pc-4608-tcg.txt", NULL, "mem", pc4608, 3);
	check_mtree("mtree-pc-4608-kvm.txt", "mem", "mem", pc4608, 3);
	check_mtree("mtree-q35-4608-kvm.txt", NULL, "mem", q35_4608, 3);
	check_mtree("mtree-q35-4608-tcg.txt", "mem", "mem", q35_4608, 3);
	check_mtree("mtree-pc-512-kvm.txt", NULL, "mem", m512, 2);
	check_mtree("mtree-q35-512-tcg.txt", NULL, "mem", m512, 2);
	static const struct want_range legacy[] = { { 0, 0xa0000, 0 },
						    { 0x100000, 0x3ff00000, 0x100000 } };
	check_mtree("mtree-pc-legacy-1G.txt", NULL, "pc.ram", legacy, 2);
	check_mtree("mtree-pc-legacy-1G.txt", "pc.ram", "pc.ram", legacy, 2);
	/* Booted: firmware shadowed 0xc0000-0xfffff as alternating rom/ram
	 * pieces of main RAM; they merge with the RAM above 1 MiB. vga.vram
	 * (another ram region) is not included. */
	static const struct want_range pc_booted[] = {
		{ 0, 0xa0000, 0 }, { 0xc0000, 0xbff40000, 0xc0000 },
		{ 0x100000000, 0x60000000, 0xc0000000 } };
	check_mtree("mtree-pc-4608-kvm-booted.txt", NULL, "mem", pc_booted, 3);
	static const struct want_range q35_booted[] = { { 0, 0xa0000, 0 },
							{ 0xc0000, 0x1ff40000, 0xc0000 } };
	check_mtree("mtree-q35-512-tcg-booted.txt", NULL, "mem", q35_booted, 2);
	static const struct want_range vram[] = { { 0xfd000000, 0x1000000, 0 } };
	check_mtree("mtree-q35-512-tcg-booted.txt", "vga.vram", "vga.vram", vram, 1);

	/* names that are not RAM or absent */
	size_t len, n;
	char *text = rw_test_data_load("mtree-pc-4608-kvm.txt", &len);
	struct vmi_mtree_range out[4];
	assert_int_equal(vmi_mtree_parse_ram(text, len, "pc.bios", out, 4, &n, err, sizeof(err)),
			 VMI_MTREE_E_NO_RAM);
	assert_int_equal(vmi_mtree_parse_ram(text, len, "nosuch", out, 4, &n, err, sizeof(err)),
			 VMI_MTREE_E_NO_RAM);
	assert_int_equal(vmi_mtree_parse_ram(text, len, "mem", out, 2, &n, err, sizeof(err)),
			 VMI_MTREE_E_TOO_MANY);
	assert_int_equal(vmi_mtree_parse_ram(text, len, "", out, 4, &n, err, sizeof(err)),
			 VMI_MTREE_E_ARG);
	/* truncated input: only the part before the system view */
	const char *sys = strstr(text, "Root memory region: system");
	assert_non_null(sys);
	assert_int_equal(vmi_mtree_parse_ram(text, (size_t)(sys - text), NULL, out, 4, &n, err,
					     sizeof(err)),
			 VMI_MTREE_E_NO_SYSTEM);
	free(text);
}

static int parse_str(const char *s, const char *name, struct vmi_mtree_range *out, size_t *n)
{
	return vmi_mtree_parse_ram(s, strlen(s), name, out, 8, n, err, sizeof(err));
}

static void test_mtree_malformed(void **state)
{
	(void)state;
	struct vmi_mtree_range out[8];
	size_t n;
	const char *hdr = "FlatView #0\n AS \"memory\", root: system\n Root memory region: system\n";
	char buf[2048];
#define WITH(lines) (snprintf(buf, sizeof(buf), "%s%s", hdr, lines), buf)
	assert_int_equal(parse_str(WITH("  0000000000000000-0000000000000fff (prio 0, ram): m\n"),
				   NULL, out, &n),
			 0);
	assert_int_equal(n, 1);
	assert_int_equal(out[0].size, 0x1000);
	/* no trailing newline, CRLF, tabs */
	assert_int_equal(parse_str(WITH("\t0-fff (prio 0, ram): m @10\r"), NULL, out, &n), 0);
	assert_int_equal(out[0].offset, 0x10);
	/* garbage inside the system view */
	assert_int_equal(parse_str(WITH("  hello\n"), NULL, out, &n), VMI_MTREE_E_SYNTAX);
	assert_int_equal(parse_str(WITH("  0-fff (prio 0, ram) m\n"), NULL, out, &n),
			 VMI_MTREE_E_SYNTAX);
	assert_int_equal(parse_str(WITH("  0-fff (prio 0, ram): m @zz\n"), NULL, out, &n),
			 VMI_MTREE_E_SYNTAX);
	assert_int_equal(parse_str(WITH("  0-fff (prio 0, ram): m @12x\n"), NULL, out, &n),
			 VMI_MTREE_E_SYNTAX);
	assert_int_equal(parse_str(WITH("  00000000000000000-fff (prio 0, ram): m\n"), NULL, out,
				   &n),
			 VMI_MTREE_E_SYNTAX); /* 17 digits */
	assert_int_equal(parse_str(WITH("  0-fff (prio x, ram): m\n"), NULL, out, &n),
			 VMI_MTREE_E_SYNTAX);
	assert_int_equal(parse_str(WITH("  0-fff (prio 0, ram): \n"), NULL, out, &n),
			 VMI_MTREE_E_SYNTAX);
	/* layout */
	assert_int_equal(parse_str(WITH("  fff-0 (prio 0, ram): m\n"), NULL, out, &n),
			 VMI_MTREE_E_LAYOUT);
	assert_int_equal(parse_str(WITH("  0-ffffffffffffffff (prio 0, ram): m\n"), NULL, out, &n),
			 VMI_MTREE_E_LAYOUT);
	assert_int_equal(parse_str(WITH("  0-fff (prio 0, ram): m\n"
					"  800-1fff (prio 0, ram): m @800\n"),
				   NULL, out, &n),
			 VMI_MTREE_E_LAYOUT);
	assert_int_equal(parse_str(WITH("  0-fff (prio 0, ram): m @fffffffffffff800\n"), NULL,
				   out, &n),
			 VMI_MTREE_E_LAYOUT);
	/* main RAM must be at 0 in auto mode */
	assert_int_equal(parse_str(WITH("  1000-1fff (prio 0, ram): m\n"), NULL, out, &n),
			 VMI_MTREE_E_NO_RAM);
	assert_int_equal(parse_str(WITH("  0-fff (prio 0, i/o): m\n"), NULL, out, &n),
			 VMI_MTREE_E_NO_RAM);
	assert_int_equal(parse_str(WITH("  1000-1fff (prio 0, ram): m\n"), "m", out, &n), 0);
	/* non-contiguous offsets are not merged; other types and names skipped */
	assert_int_equal(parse_str(WITH("  0-fff (prio 0, ram): m\n"
					"  1000-1fff (prio 0, ram): m @2000\n"
					"  2000-2fff (prio 0, rom device): m @3000\n"
					"  3000-3fff (prio -1, ram): other\n"
					"  4000-4fff (prio 0, nv-ram): m @4000\n"),
				   NULL, out, &n),
			 0);
	assert_int_equal(n, 2);
	assert_int_equal(out[1].offset, 0x2000);
	/* two system views */
	char two[1024];
	snprintf(two, sizeof(two), "%s  0-fff (prio 0, ram): m\n\n%s", hdr, hdr);
	assert_int_equal(parse_str(two, NULL, out, &n), VMI_MTREE_E_AMBIGUOUS);
	/* line too long */
	size_t biglen = VMI_MTREE_MAX_LINE + 10;
	char *big = malloc(biglen + 1);
	assert_non_null(big);
	memset(big, 'a', biglen);
	big[biglen] = '\0';
	assert_int_equal(parse_str(big, NULL, out, &n), VMI_MTREE_E_TOO_LONG);
	free(big);
	assert_int_equal(parse_str("", NULL, out, &n), VMI_MTREE_E_NO_SYSTEM);
	/* a NUL byte inside a line is just a syntax error */
	char nulline[] = "Root memory region: system\n  0-fff (prio 0, ram): m\n  1000-1fff (pr\0o";
	assert_int_equal(vmi_mtree_parse_ram(nulline, sizeof(nulline) - 1, NULL, out, 8, &n, err,
					     sizeof(err)),
			 VMI_MTREE_E_SYNTAX);
#undef WITH
}

/* End to end: mtree text -> ram regions on a sparse 4608 MiB memfd laid out
 * like the QEMU backend; check the bytes at the 4 GiB split. */
static void test_mtree_to_ram(void **state)
{
	(void)state;
	size_t len, n;
	char *text = rw_test_data_load("mtree-pc-4608-kvm.txt", &len);
	struct vmi_mtree_range rr[4];
	assert_int_equal(vmi_mtree_parse_ram(text, len, NULL, rr, 4, &n, err, sizeof(err)), 0);
	free(text);
	int fd = memfd_create("guest-ram", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)4608 << 20), 0);
	const char below[] = "last bytes below 3G", above[] = "first bytes at 4G";
	assert_int_equal(pwrite(fd, below, sizeof(below), 0xc0000000 - sizeof(below)),
			 (ssize_t)sizeof(below));
	assert_int_equal(pwrite(fd, above, sizeof(above), 0xc0000000), (ssize_t)sizeof(above));
	struct vmi_ram_region regs[4];
	vmi_mtree_to_ram_regions(rr, n, fd, regs);
	struct vmi_mem *m;
	assert_int_equal(vmi_mem_open_ram(regs, n, &m, err, sizeof(err)), 0);
	char buf[64];
	assert_int_equal(vmi_mem_read(m, 0xc0000000 - sizeof(below), buf, sizeof(below)), 0);
	assert_string_equal(buf, below);
	assert_int_equal(vmi_mem_read(m, 0x100000000ull, buf, sizeof(above)), 0);
	assert_string_equal(buf, above);
	/* the PCI hole is not RAM */
	assert_int_equal(vmi_mem_read(m, 0xc0000000, buf, 1), VMI_MEM_E_HOLE);
	assert_int_equal(vmi_mem_read(m, 0x15fffffffull, buf, 1), 0);
	assert_int_equal(vmi_mem_read(m, 0x160000000ull, buf, 1), VMI_MEM_E_HOLE);
	vmi_mem_close(m);
	close(fd);
}

/* --- info registers parser ------------------------------------------------------ */

static void assert_val(struct vmi_val v, uint64_t want)
{
	assert_int_equal(v.prov, VMI_PROV_QMP_INFO_REGISTERS);
	assert_int_equal(v.v, want);
}

static void test_regs_fixtures(void **state)
{
	(void)state;
	size_t len, n;
	struct vmi_vcpu cpu[8];
	char *text = rw_test_data_load("regs-q35-tcg-la57-panic-2cpu.txt", &len);
	assert_int_equal(vmi_regs_hmp_parse(text, len, cpu, 8, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_int_equal(cpu[0].index, 0);
	assert_val(cpu[0].cr0, 0x80050033);
	assert_val(cpu[0].cr2, 0xff3716f61e401000ull);
	assert_val(cpu[0].cr3, 0x1d610000);
	assert_val(cpu[0].cr4, 0x751eb0);
	assert_true(cpu[0].cr4.v & (1u << 12)); /* LA57 */
	assert_val(cpu[0].efer, 0xd01);
	assert_val(cpu[0].gdtr_base, 0xfffffe0000001000ull);
	assert_val(cpu[0].gdtr_limit, 0x7f);
	assert_val(cpu[0].idtr_base, 0xfffffe0000000000ull);
	assert_val(cpu[0].idtr_limit, 0xfff);
	assert_val(cpu[0].tr_sel, 0x40);
	assert_val(cpu[0].tr_base, 0xfffffe0000003000ull);
	assert_int_equal(cpu[0].lstar.prov, VMI_PROV_NONE);
	assert_int_equal(cpu[0].sysenter_eip.prov, VMI_PROV_NONE);
	assert_int_equal(cpu[1].index, 1);
	assert_val(cpu[1].cr4, 0x751ea0);
	assert_val(cpu[1].gdtr_base, 0xfffffe000003c000ull);
	assert_val(cpu[1].tr_base, 0xfffffe000003e000ull);
	assert_val(cpu[1].cr3, 0x1d610000);
	free(text);

	/* KVM guest early in boot: CPU#0 in long mode, CPU#1 still in reset
	 * state (32-bit-format lines) */
	text = rw_test_data_load("regs-pc-kvm-early-2cpu.txt", &len);
	assert_int_equal(vmi_regs_hmp_parse(text, len, cpu, 8, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_val(cpu[0].efer, 0x500);
	assert_val(cpu[0].cr3, 0x4357000);
	assert_val(cpu[0].tr_sel, 0x20);
	assert_val(cpu[0].gdtr_base, 0x4332010);
	assert_val(cpu[0].gdtr_limit, 0x2f);
	assert_val(cpu[1].cr0, 0x11);
	assert_val(cpu[1].gdtr_base, 0xf6180);
	assert_val(cpu[1].idtr_limit, 0);
	free(text);

	static const char *const resets[] = { "regs-q35-tcg-reset-1cpu.txt",
					      "regs-pc-kvm-reset-1cpu.txt" };
	for (int i = 0; i < 2; i++) {
		text = rw_test_data_load(resets[i], &len);
		assert_int_equal(vmi_regs_hmp_parse(text, len, cpu, 8, &n, err, sizeof(err)), 0);
		assert_int_equal(n, 1);
		assert_val(cpu[0].cr0, 0x60000010);
		assert_val(cpu[0].idtr_limit, 0xffff);
		assert_val(cpu[0].efer, 0);
		free(text);
	}
}

static const char good_cpu[] = "CPU#3\n"
			       "TR =0040 fffffe0000003000 00004087 00008900 DPL=0 TSS64-avl\n"
			       "GDT=     fffffe0000001000 0000007f\n"
			       "IDT=     fffffe0000000000 00000fff\n"
			       "CR0=80050033 CR2=0 CR3=000000001d610000 CR4=00751eb0\n"
			       "EFER=0000000000000d01\n";

static int regs_str(const char *s, struct vmi_vcpu *out, size_t max, size_t *n)
{
	return vmi_regs_hmp_parse(s, strlen(s), out, max, n, err, sizeof(err));
}

static void test_regs_malformed(void **state)
{
	(void)state;
	struct vmi_vcpu cpu[4];
	size_t n;
	char buf[2048];
	assert_int_equal(regs_str(good_cpu, cpu, 4, &n), 0);
	assert_int_equal(cpu[0].index, 3);
	/* two sections, same number */
	snprintf(buf, sizeof(buf), "%s%s", good_cpu, good_cpu);
	assert_int_equal(regs_str(buf, cpu, 4, &n), VMI_REGS_E_DUP_CPU);
	/* more sections than room */
	snprintf(buf, sizeof(buf), "%s%s", good_cpu, good_cpu);
	buf[strlen(good_cpu) + 4] = '4';
	assert_int_equal(regs_str(buf, cpu, 4, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(regs_str(buf, cpu, 1, &n), VMI_REGS_E_TOO_MANY);
	/* each required field missing in turn */
	static const char *const keys[] = { "TR =", "GDT=", "IDT=", "CR0=", "EFER=" };
	for (int k = 0; k < 5; k++) {
		snprintf(buf, sizeof(buf), "%s", good_cpu);
		char *line = strstr(buf, keys[k]);
		char *eol = strchr(line, '\n');
		memmove(line, eol + 1, strlen(eol + 1) + 1);
		assert_int_equal(regs_str(buf, cpu, 4, &n), VMI_REGS_E_MISSING);
	}
	/* CR2 missing from the CR line */
	snprintf(buf, sizeof(buf), "%s", good_cpu);
	memcpy(strstr(buf, "CR2=0 "), "      ", 6);
	assert_int_equal(regs_str(buf, cpu, 4, &n), VMI_REGS_E_MISSING);
	assert_non_null(strstr(err, "CR2"));
	/* duplicated field */
	snprintf(buf, sizeof(buf), "%sEFER=0\n", good_cpu);
	assert_int_equal(regs_str(buf, cpu, 4, &n), VMI_REGS_E_DUP_FIELD);
	snprintf(buf, sizeof(buf), "%sCR0=1\n", good_cpu);
	assert_int_equal(regs_str(buf, cpu, 4, &n), VMI_REGS_E_DUP_FIELD);
	/* bad values */
	static const char *const bad_lines[] = {
		"EFER=xyz\n",
		"EFER=00000000000000d01\n", /* 17 digits */
		"GDT=     fffffe0000001000\n",
		"GDT=     fffffe0000001000 0001ffff\n", /* limit > 16 bits */
		"IDT=     fffffe0000000000 00000fff junk\n",
		"TR =10000 0 0 0\n",
		"TR =0040 fffffe0000003000\n",
		"CR0=80050033 CR9=0\n",
		"CR0=8005003g\n",
		"CPU#\n",
		"CPU#1234567\n",
		"CPU#1x\n",
	};
	for (size_t i = 0; i < sizeof(bad_lines) / sizeof(bad_lines[0]); i++) {
		snprintf(buf, sizeof(buf), "CPU#0\n%s", bad_lines[i]);
		int rc = regs_str(buf, cpu, 4, &n);
		if (rc != VMI_REGS_E_SYNTAX)
			fail_msg("line '%s': rc %d (%s)", bad_lines[i], rc, err);
	}
	/* fields before any header ("info registers" without -a) */
	assert_int_equal(regs_str(strchr(good_cpu, '\n') + 1, cpu, 4, &n), VMI_REGS_E_NO_CPU);
	assert_int_equal(regs_str("", cpu, 4, &n), VMI_REGS_E_NO_CPU);
	assert_int_equal(regs_str("RAX=0\n", cpu, 4, &n), VMI_REGS_E_NO_CPU);
	assert_string_equal(vmi_prov_name(VMI_PROV_KVM_IOCTL), "kvm-ioctl");
}

/* --- ELF core ------------------------------------------------------------------- */

struct core_builder {
	uint8_t *buf;
	size_t len;
};

/* ELF header + PT_NOTE + 2 PT_LOADs: [0, 8K) and [1M, 1M+8K) with filesz 4K. */
static struct core_builder build_core(void)
{
	struct core_builder c;
	const size_t data_off = 4096;
	c.len = data_off + 8192 + 4096;
	c.buf = calloc(1, c.len);
	assert_non_null(c.buf);
	Elf64_Ehdr eh = { 0 };
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_CORE;
	eh.e_machine = EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_phoff = sizeof(eh);
	eh.e_ehsize = sizeof(eh);
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = 3;
	memcpy(c.buf, &eh, sizeof(eh));
	Elf64_Phdr ph[3] = { 0 };
	ph[0].p_type = PT_NOTE;
	ph[0].p_offset = 1024;
	ph[0].p_filesz = 0;
	ph[1].p_type = PT_LOAD;
	ph[1].p_offset = data_off;
	ph[1].p_paddr = 0;
	ph[1].p_vaddr = 0xffffffff80000000ull; /* ignored */
	ph[1].p_filesz = ph[1].p_memsz = 8192;
	ph[2].p_type = PT_LOAD;
	ph[2].p_offset = data_off + 8192;
	ph[2].p_paddr = 0x100000;
	ph[2].p_filesz = 4096;
	ph[2].p_memsz = 8192;
	memcpy(c.buf + sizeof(eh), ph, sizeof(ph));
	for (size_t i = data_off; i < c.len; i++)
		c.buf[i] = (uint8_t)(i * 5 + 1);
	return c;
}

static Elf64_Phdr *core_ph(struct core_builder *c, int i)
{
	return (Elf64_Phdr *)(void *)(c->buf + sizeof(Elf64_Ehdr) + (size_t)i * sizeof(Elf64_Phdr));
}

static Elf64_Ehdr *core_eh(struct core_builder *c)
{
	return (Elf64_Ehdr *)(void *)c->buf;
}

static int open_core(struct core_builder *c)
{
	struct vmi_mem *m = NULL;
	int rc = vmi_mem_open_elfcore_buf(c->buf, c->len, &m, err, sizeof(err));
	vmi_mem_close(m);
	return rc;
}

static void test_elfcore(void **state)
{
	(void)state;
	struct core_builder c = build_core();
	struct vmi_mem *m;
	assert_int_equal(vmi_mem_open_elfcore_buf(c.buf, c.len, &m, err, sizeof(err)), 0);
	assert_string_equal(vmi_mem_kind(m), "elfcore");
	uint8_t buf[64];
	assert_int_equal(vmi_mem_read(m, 8192 - 32, buf, 32), 0);
	assert_memory_equal(buf, c.buf + 4096 + 8192 - 32, 32);
	assert_int_equal(vmi_mem_read(m, 8192 - 32, buf, 33), VMI_MEM_E_HOLE);
	/* filesz < memsz: the tail reads as zeros, crossing works */
	assert_int_equal(vmi_mem_read(m, 0x100000 + 4096 - 8, buf, 16), 0);
	assert_memory_equal(buf, c.buf + 4096 + 8192 + 4096 - 8, 8);
	static const uint8_t zero[8];
	assert_memory_equal(buf + 8, zero, 8);
	const void *p;
	assert_int_equal(vmi_mem_direct(m, 0x100000, 4096, &p), 0);
	assert_ptr_equal(p, c.buf + 4096 + 8192);
	assert_int_equal(vmi_mem_direct(m, 0x100000 + 4096, 16, &p), VMI_MEM_E_NOT_CONTIG);
	assert_int_equal(vmi_mem_read(m, 0x100000 + 8192, buf, 1), VMI_MEM_E_HOLE);
	vmi_mem_close(m);

	/* the same through an fd */
	int fd = memfd_create("core", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, c.buf, c.len), (ssize_t)c.len);
	assert_int_equal(vmi_mem_open_elfcore_fd(fd, &m, err, sizeof(err)), 0);
	assert_int_equal(vmi_mem_read(m, 100, buf, 8), 0);
	assert_memory_equal(buf, c.buf + 4096 + 100, 8);
	vmi_mem_close(m);
	close(fd);

	/* PN_XNUM: real count in section header 0's sh_info */
	struct core_builder x = build_core();
	x.buf = realloc(x.buf, x.len + sizeof(Elf64_Shdr));
	assert_non_null(x.buf);
	Elf64_Shdr sh0 = { 0 };
	sh0.sh_info = 3;
	memcpy(x.buf + x.len, &sh0, sizeof(sh0));
	core_eh(&x)->e_shoff = x.len;
	core_eh(&x)->e_shentsize = sizeof(Elf64_Shdr);
	core_eh(&x)->e_shnum = 0;
	core_eh(&x)->e_phnum = PN_XNUM;
	x.len += sizeof(Elf64_Shdr);
	assert_int_equal(open_core(&x), 0);
	core_eh(&x)->e_shentsize = 10;
	assert_int_equal(open_core(&x), VMI_MEM_E_FORMAT);
	core_eh(&x)->e_shentsize = sizeof(Elf64_Shdr);
	sh0.sh_info = 100000; /* far more headers than the file holds */
	memcpy(x.buf + x.len - sizeof(sh0), &sh0, sizeof(sh0));
	assert_int_equal(open_core(&x), VMI_MEM_E_FORMAT);
	free(x.buf);
	free(c.buf);
}

static void test_elfcore_malformed(void **state)
{
	(void)state;
	struct core_builder c;
#define MUTATE(stmt, want)                                    \
	do {                                                  \
		c = build_core();                             \
		stmt;                                         \
		int rc_ = open_core(&c);                      \
		if (rc_ != (want))                            \
			fail_msg("%s: rc %d (%s)", #stmt, rc_, err); \
		free(c.buf);                                  \
	} while (0)
	MUTATE((void)0, 0);
	MUTATE(c.len = 10, VMI_MEM_E_FORMAT);
	MUTATE(c.buf[0] = 0, VMI_MEM_E_FORMAT);
	MUTATE(core_eh(&c)->e_ident[EI_CLASS] = ELFCLASS32, VMI_MEM_E_FORMAT);
	MUTATE(core_eh(&c)->e_ident[EI_DATA] = ELFDATA2MSB, VMI_MEM_E_FORMAT);
	MUTATE(core_eh(&c)->e_type = ET_EXEC, VMI_MEM_E_FORMAT);
	MUTATE(core_eh(&c)->e_machine = EM_386, VMI_MEM_E_FORMAT);
	MUTATE(core_eh(&c)->e_phentsize = 32, VMI_MEM_E_FORMAT);
	MUTATE(core_eh(&c)->e_phnum = 0, VMI_MEM_E_FORMAT);
	MUTATE(core_eh(&c)->e_phnum = 400, VMI_MEM_E_FORMAT);
	MUTATE(core_eh(&c)->e_phoff = c.len - 10, VMI_MEM_E_FORMAT);
	MUTATE(core_eh(&c)->e_phoff = UINT64_MAX, VMI_MEM_E_FORMAT);
	MUTATE(core_ph(&c, 1)->p_offset = c.len - 100, VMI_MEM_E_FORMAT);
	MUTATE(core_ph(&c, 1)->p_offset = UINT64_MAX - 10, VMI_MEM_E_FORMAT);
	MUTATE(core_ph(&c, 1)->p_filesz = UINT64_MAX, VMI_MEM_E_FORMAT);
	MUTATE(core_ph(&c, 2)->p_filesz = 9000, VMI_MEM_E_FORMAT); /* > memsz */
	MUTATE(core_ph(&c, 2)->p_paddr = 0x1000, VMI_MEM_E_FORMAT); /* overlap */
	MUTATE(core_ph(&c, 2)->p_paddr = UINT64_MAX - 4096, VMI_MEM_E_FORMAT);
	MUTATE(core_ph(&c, 2)->p_paddr = UINT64_MAX - 8190, VMI_MEM_E_FORMAT);
	MUTATE((core_ph(&c, 1)->p_type = PT_NOTE, core_ph(&c, 2)->p_type = PT_NOTE),
	       VMI_MEM_E_FORMAT);
	/* zero-size PT_LOAD is skipped */
	MUTATE((core_ph(&c, 1)->p_memsz = 0, core_ph(&c, 1)->p_filesz = 0), 0);
#undef MUTATE
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_regions),
		cmocka_unit_test(test_ram_one_fd_split),
		cmocka_unit_test(test_ram_multi_fd),
		cmocka_unit_test(test_mtree_fixtures),
		cmocka_unit_test(test_mtree_malformed),
		cmocka_unit_test(test_mtree_to_ram),
		cmocka_unit_test(test_regs_fixtures),
		cmocka_unit_test(test_regs_malformed),
		cmocka_unit_test(test_elfcore),
		cmocka_unit_test(test_elfcore_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
