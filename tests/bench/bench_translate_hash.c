/* Translate+hash throughput of vmi vs a plain memcpy, measured side by side.
 *
 * A synthetic 16 MiB "kernel text" lives in a memfd exposed through the
 * mem_ram source (as QEMU shared RAM would be), mapped at the kernel text
 * address with 4 KiB pages, then with 2 MiB pages. For each variant:
 *   (a) per 4 KiB page: vmi_x86_direct (translation, cache flushed before
 *       every pass) + XXH3_64bits over the page, for the whole 16 MiB;
 *   (b) memcpy of the same 16 MiB out of the same mapping.
 * Best of REPS runs each. ratio = memcpy_time / vmi_time (target >= 0.5). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "tests/lib/ptb.h"
#include "vmi/mem.h"
#include "vmi/x86.h"

#define TEXT_SIZE (16u << 20)
#define TEXT_GPA (16u << 20) /* 2 MiB aligned */
#define TABLES_GPA 0x1000u
#define TABLES_BYTES (1u << 20)
#define RAM_SIZE (TEXT_GPA + TEXT_SIZE)
#define TEXT_VA 0xffffffff81000000ull
#define REPS 30

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_translate_hash: %s\n", what);
	exit(1);
}

/* (a): one pass, returns the XOR of page hashes (kept so nothing is elided). */
static int vmi_pass(struct vmi_x86 *x, uint64_t *acc)
{
	uint64_t h = 0;
	vmi_x86_flush(x);
	for (uint64_t off = 0; off < TEXT_SIZE; off += 4096) {
		const void *p;
		int rc = vmi_x86_direct(x, TEXT_VA + off, 4096, &p);
		if (rc)
			return rc;
		h ^= XXH3_64bits(p, 4096) + off;
	}
	*acc = h;
	return 0;
}

static double run_variant(const char *name, int fd, uint64_t page_size, uint8_t *dst,
			uint64_t want_hash)
{
	/* fresh tables for this variant, written through a writable mapping */
	uint8_t *rw = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (rw == MAP_FAILED)
		die("mmap rw");
	struct ptb b;
	if (ptb_init(&b, rw, 0, RAM_SIZE, TABLES_GPA, TABLES_BYTES, 4) != 0)
		die("ptb_init");
	for (uint64_t off = 0; off < TEXT_SIZE; off += page_size)
		if (ptb_map(&b, TEXT_VA + off, TEXT_GPA + off, page_size, 0) != 0)
			die("ptb_map");
	munmap(rw, RAM_SIZE);

	struct vmi_ram_region reg = { .gpa = 0, .size = RAM_SIZE, .fd = fd, .fd_offset = 0 };
	struct vmi_mem *m;
	char err[256];
	if (vmi_mem_open_ram(&reg, 1, &m, err, sizeof(err)) != 0)
		die(err);
	struct vmi_x86 *x = malloc(sizeof(*x));
	if (!x)
		die("malloc");
	if (vmi_x86_init(x, m, b.root, VMI_X86_CR4_PAE, VMI_X86_EFER_LMA | VMI_X86_EFER_NXE))
		die("vmi_x86_init");
	const void *src;
	if (vmi_mem_direct(m, TEXT_GPA, TEXT_SIZE, &src) != 0)
		die("vmi_mem_direct");

	double best_vmi = 1e9, best_cpy = 1e9;
	for (int r = 0; r < REPS; r++) {
		uint64_t h;
		double t0 = now();
		int rc = vmi_pass(x, &h);
		double t1 = now();
		if (rc) {
			fprintf(stderr, "translate failed: %s\n", vmi_x86_strerror(rc));
			exit(1);
		}
		if (h != want_hash)
			die("vmi hash differs from the direct hash: wrong bytes hashed");
		memcpy(dst, src, TEXT_SIZE);
		__asm__ __volatile__("" : : "r"(dst) : "memory");
		double t2 = now();
		if (t1 - t0 < best_vmi)
			best_vmi = t1 - t0;
		if (t2 - t1 < best_cpy)
			best_cpy = t2 - t1;
	}
	const double mib = TEXT_SIZE / 1048576.0;
	printf("%s pages: translate+XXH3 %.3f ms (%.2f GB/s), memcpy %.3f ms (%.2f GB/s), "
	       "%u translations/pass\n",
	       name, best_vmi * 1e3, TEXT_SIZE / best_vmi / 1e9, best_cpy * 1e3,
	       TEXT_SIZE / best_cpy / 1e9, (unsigned)(TEXT_SIZE / 4096));
	printf("%s pages: %.1f MiB, best of %d\n", name, mib, REPS);
	printf("translate+hash vs memcpy ratio (%s pages): %.2f\n", name, best_cpy / best_vmi);
	free(x);
	vmi_mem_close(m);
	return best_cpy / best_vmi;
}

int main(void)
{
	int fd = memfd_create("bench-ram", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, RAM_SIZE) != 0)
		die("memfd");
	uint8_t *rw = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (rw == MAP_FAILED)
		die("mmap");
	/* pseudo-random "code" */
	uint64_t s = 0x9e3779b97f4a7c15ull;
	for (size_t i = 0; i < TEXT_SIZE; i += 8) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		memcpy(rw + TEXT_GPA + i, &s, 8);
	}
	uint64_t want = 0;
	for (uint64_t off = 0; off < TEXT_SIZE; off += 4096)
		want ^= XXH3_64bits(rw + TEXT_GPA + off, 4096) + off;
	munmap(rw, RAM_SIZE);

	uint8_t *dst = aligned_alloc(4096, TEXT_SIZE);
	if (!dst)
		die("aligned_alloc");
	memset(dst, 1, TEXT_SIZE); /* fault in */
	double r4k = run_variant("4KiB", fd, 4096, dst, want);
	double r2m = run_variant("2MiB", fd, 2u << 20, dst, want);
	/* the headline is the 4 KiB variant: the most translations per byte */
	printf("translate+hash vs memcpy ratio: %.2f (target >= 0.5; 2 MiB pages: %.2f)\n", r4k,
	       r2m);
	free(dst);
	close(fd);
	return 0;
}
