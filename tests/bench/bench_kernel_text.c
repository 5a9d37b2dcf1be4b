/* Translate+hash over the REAL kernel text of a booted kit guest vs memcpy.
 *
 * Boots the kit guest (RW_KIT, default build/kit/cloud-amd64) through the
 * launcher, attaches with vmi/linux (QMP registers + mtree, the RAM memfd,
 * the kit's vmlinux catalog), then over [_stext, _etext) + slide:
 *   (a) per 4 KiB page: vmi_x86_direct (translation cache flushed before each
 *       pass) + XXH3_64bits;
 *   (b) memcpy of the same number of bytes out of the same guest RAM mapping.
 * Best of REPS each; ratio = memcpy_time / vmi_time (target >= 0.5).
 * The guest keeps running (idle) while measured. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "host/launcher.h"
#include "vmi/kcat.h"
#include "vmi/linux.h"
#include "vmi/mtree.h"
#include "vmi/qmp.h"

#define REPS 30

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static struct rw_vm vm;
static int vm_started;

static __attribute__((noreturn)) void die(const char *what, const char *detail)
{
	fprintf(stderr, "bench_kernel_text: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	if (vm_started)
		rw_vm_stop(&vm);
	exit(1);
}

static int vmi_pass(struct vmi_x86 *x, uint64_t va, uint64_t len, uint64_t *acc)
{
	uint64_t h = 0;
	vmi_x86_flush(x);
	for (uint64_t off = 0; off < len; off += 4096) {
		const void *p;
		int rc = vmi_x86_direct(x, va + off, 4096, &p);
		if (rc)
			return rc;
		h ^= XXH3_64bits(p, 4096) + off;
	}
	*acc = h;
	return 0;
}

int main(void)
{
	char kit[600], kernel[700], initrd[700], vmlinux[700], err[4096];
	const char *k = getenv("RW_KIT"), *top = getenv("RW_TOP");
	if (k && *k)
		snprintf(kit, sizeof(kit), "%s", k);
	else
		snprintf(kit, sizeof(kit), "%s/build/kit/cloud-amd64", top && *top ? top : ".");
	snprintf(kernel, sizeof(kernel), "%s/vmlinuz", kit);
	snprintf(initrd, sizeof(initrd), "%s/initramfs.cpio.gz", kit);
	snprintf(vmlinux, sizeof(vmlinux), "%s/vmlinux", kit);

	struct vmi_kcat *kc;
	if (vmi_kcat_open(vmlinux, &kc, err, sizeof(err)))
		die("guest kit vmlinux (set RW_KIT)", err);
	uint64_t stext, etext;
	if (vmi_kcat_symbol(kc, "_stext", &stext) || vmi_kcat_symbol(kc, "_etext", &etext) ||
	    etext <= stext)
		die("catalog lacks _stext/_etext", NULL);

	struct rw_vm_config cfg;
	rw_vm_config_init(&cfg);
	cfg.name = "ringwatch-bench-text";
	cfg.kernel = kernel;
	cfg.initrd = initrd;
	atexit(rw_vm_kill_all);
	if (rw_vm_start(&cfg, &vm, err, sizeof(err)))
		die("starting guest", err);
	vm_started = 1;
	if (rw_vm_wait_ready(&vm, 180000, NULL, 0, err, sizeof(err)))
		die("guest not ready", err);

	struct rw_qmp *qmp;
	if (rw_qmp_connect(vm.qmp_path, 5000, &qmp, err, sizeof(err)))
		die("QMP", err);
	char *mtree = rw_qmp_hmp(qmp, "info mtree -f", 10000, err, sizeof(err));
	char *regs = mtree ? rw_qmp_hmp(qmp, "info registers -a", 10000, err, sizeof(err)) : NULL;
	rw_qmp_close(qmp);
	if (!regs)
		die("QMP", err);
	struct vmi_mtree_range ranges[16];
	struct vmi_ram_region rr[16];
	struct vmi_vcpu vcpus[16];
	size_t nr, nv;
	if (vmi_mtree_parse_ram(mtree, strlen(mtree), NULL, ranges, 16, &nr, err, sizeof(err)) ||
	    vmi_regs_hmp_parse(regs, strlen(regs), vcpus, 16, &nv, err, sizeof(err)))
		die("QMP text", err);
	free(mtree);
	free(regs);
	vmi_mtree_to_ram_regions(ranges, nr, vm.ram_fd, rr);
	struct vmi_mem *m;
	if (vmi_mem_open_ram(rr, nr, &m, err, sizeof(err)))
		die("guest RAM", err);
	struct vmi_linux *lx;
	if (vmi_linux_attach(m, vcpus, nv, kc, &lx, NULL, err, sizeof(err)))
		die("attach", err);
	struct vmi_x86 *x = vmi_linux_x86(lx);
	const int64_t slide = vmi_linux_info(lx)->slide;
	const uint64_t va = (stext + (uint64_t)slide) & ~4095ull;
	const uint64_t len = ((etext + (uint64_t)slide + 4095) & ~4095ull) - va;

	/* The memcpy baseline copies the same number of bytes from the same RAM
	 * mapping: the text's physical start, or RAM start if not contiguous. */
	struct vmi_x86_xlat t;
	const void *src;
	if (vmi_x86_translate(x, va, &t) || vmi_mem_direct(m, t.pa, len, &src))
		if (vmi_mem_direct(m, m->regions[m->nregions - 1].gpa, len, &src))
			die("no contiguous RAM of the text's size for the memcpy baseline", NULL);
	uint8_t *dst = aligned_alloc(4096, len);
	if (!dst)
		die("out of memory", NULL);
	memset(dst, 1, len);

	double best_vmi = 1e9, best_cpy = 1e9;
	uint64_t h0 = 0;
	for (int r = 0; r < REPS; r++) {
		uint64_t h;
		double t0 = now();
		int rc = vmi_pass(x, va, len, &h);
		double t1 = now();
		if (rc)
			die("translate", vmi_x86_strerror(rc));
		if (r == 0)
			h0 = h;
		memcpy(dst, src, len);
		__asm__ __volatile__("" : : "r"(dst) : "memory");
		double t2 = now();
		if (t1 - t0 < best_vmi)
			best_vmi = t1 - t0;
		if (t2 - t1 < best_cpy)
			best_cpy = t2 - t1;
	}
	printf("guest kernel text: %.1f MiB at 0x%" PRIx64 " (slide 0x%" PRIx64 ", %u-level paging, "
	       "accel %s), hash 0x%016" PRIx64 "\n", len / 1048576.0, va, (uint64_t)slide,
	       vmi_linux_info(lx)->paging_levels, rw_accel_name(vm.accel), h0);
	printf("translate+XXH3 %.3f ms (%.2f GB/s), memcpy %.3f ms (%.2f GB/s), best of %d\n",
	       best_vmi * 1e3, len / best_vmi / 1e9, best_cpy * 1e3, len / best_cpy / 1e9, REPS);
	printf("translate+hash vs memcpy ratio (real kernel text): %.2f (target >= 0.5)\n",
	       best_cpy / best_vmi);
	free(dst);
	vmi_linux_detach(lx);
	vmi_mem_close(m);
	vmi_kcat_close(kc);
	rw_vm_stop(&vm);
	return 0;
}
