// SPDX-License-Identifier: GPL-2.0
/*
 * ringwatch inspect: what the host sees of a running guest kernel, from its
 * RAM file and its QMP socket: version, build ID, KASLR slide with the
 * anchors that agreed, per-vCPU control registers, the module list.
 *
 * Exit: 0 attached and printed; 1 the guest does not match the image or its
 * state is inconsistent (build ID mismatch, anchors disagree, broken module
 * list); 2 usage, connection, file or catalog errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>

#include "host/cli.h"
#include "vmi/kcat.h"
#include "vmi/linux.h"
#include "vmi/mem.h"
#include "vmi/mtree.h"
#include "vmi/qmp.h"
#include "vmi/vcpu.h"

#define QMP_TIMEOUT_MS 10000
#define MAX_VCPUS 1024
#define MAX_RANGES 64

struct guest_state {
	struct vmi_vcpu *vcpus;
	size_t nvcpus;
	struct vmi_mem *mem;
};

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "ringwatch inspect: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return RW_EXIT_USAGE;
}

/* QMP: the RAM layout and every vCPU's registers; then map the RAM file. */
static int read_guest(const char *qmp_path, const char *mem_path, struct guest_state *g)
{
	char err[1024];
	struct rw_qmp *qmp;
	struct vmi_mtree_range ranges[MAX_RANGES];
	struct vmi_ram_region regions[MAX_RANGES];
	size_t nranges;
	int rc = RW_EXIT_USAGE;

	if (rw_qmp_connect(qmp_path, QMP_TIMEOUT_MS, &qmp, err, sizeof(err)))
		return usage_error("QMP %s", err);
	char *mtree = rw_qmp_hmp(qmp, "info mtree -f", QMP_TIMEOUT_MS, err, sizeof(err));
	char *regs = mtree ? rw_qmp_hmp(qmp, "info registers -a", QMP_TIMEOUT_MS, err, sizeof(err))
			   : NULL;
	rw_qmp_close(qmp);
	if (!mtree || !regs) {
		fprintf(stderr, "ringwatch inspect: QMP %s: %s\n", qmp_path, err);
		goto out;
	}
	int prc = vmi_mtree_parse_ram(mtree, strlen(mtree), NULL, ranges, MAX_RANGES, &nranges,
				      err, sizeof(err));
	if (prc) {
		fprintf(stderr, "ringwatch inspect: info mtree -f: %s\n", err);
		goto out;
	}
	g->vcpus = calloc(MAX_VCPUS, sizeof(*g->vcpus));
	if (!g->vcpus)
		goto out;
	prc = vmi_regs_hmp_parse(regs, strlen(regs), g->vcpus, MAX_VCPUS, &g->nvcpus, err,
				 sizeof(err));
	if (prc) {
		fprintf(stderr, "ringwatch inspect: info registers -a: %s\n", err);
		goto out;
	}
	int fd = open(mem_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "ringwatch inspect: --mem %s: %s\n", mem_path, strerror(errno));
		goto out;
	}
	vmi_mtree_to_ram_regions(ranges, nranges, fd, regions);
	prc = vmi_mem_open_ram(regions, nranges, &g->mem, err, sizeof(err));
	close(fd);
	if (prc) {
		fprintf(stderr, "ringwatch inspect: guest RAM %s: %s\n", mem_path, err);
		goto out;
	}
	rc = 0;
out:
	free(mtree);
	free(regs);
	return rc;
}

static const char *module_state_name(int32_t s)
{
	switch (s) {
	case 0: return "live";
	case 1: return "coming";
	case 2: return "going";
	case 3: return "unformed";
	default: return "?";
	}
}

static json_t *val_json(const struct vmi_val *v)
{
	char hex[24];

	if (v->prov == VMI_PROV_NONE)
		return json_null();
	snprintf(hex, sizeof(hex), "0x%" PRIx64, v->v);
	return json_pack("{s:s, s:s}", "value", hex, "source", vmi_prov_name(v->prov));
}

static json_t *hex_json(uint64_t v)
{
	char hex[24];

	snprintf(hex, sizeof(hex), "0x%" PRIx64, v);
	return json_string(hex);
}

static json_t *report_json(const struct vmi_linux_info *in, const struct guest_state *g,
			   const struct vmi_kcat *kc, const struct vmi_linux_modules *mods,
			   int attach_rc, const char *attach_err, int mods_rc, const char *mods_err)
{
	json_t *root = json_object(), *ids = json_array(), *anchors = json_object();
	json_t *cpus = json_array(), *modules = json_array();

	json_object_set_new(root, "banner", json_string(in->ident.banner));
	for (size_t i = 0; i < in->ident.nids; i++)
		json_array_append_new(ids, json_string(in->ident.ids[i].hex));
	json_object_set_new(root, "build_ids", ids);
	json_object_set_new(root, "image_build_id", json_string(vmi_kcat_build_id_hex(kc)));
	json_object_set_new(root, "image_banner", json_string(vmi_kcat_banner(kc)));
	json_object_set_new(root, "build_id_matches", json_boolean(attach_rc != VMI_LINUX_E_MISMATCH &&
								   attach_rc != VMI_LINUX_E_NO_BUILD_ID));
	json_object_set_new(root, "attached", json_boolean(attach_rc == 0));
	if (attach_rc)
		json_object_set_new(root, "error", json_string(attach_err));
	json_object_set_new(root, "slide", attach_rc ? json_null() : hex_json((uint64_t)in->slide));
	for (int k = 0; k < VMI_LINUX_NANCHORS; k++) {
		const struct vmi_linux_anchor *a = &in->anchors[k];
		json_object_set_new(anchors, vmi_linux_anchor_name((enum vmi_linux_anchor_kind)k),
				    json_pack("{s:b, s:o, s:s}", "ok", a->ok, "slide",
					      a->ok ? hex_json((uint64_t)a->slide) : json_null(),
					      "detail", a->detail));
	}
	json_object_set_new(root, "anchors", anchors);
	json_object_set_new(root, "paging_levels", json_integer(in->paging_levels));
	json_object_set_new(root, "kernel_pgd", hex_json(in->kernel_pgd));
	for (size_t i = 0; i < g->nvcpus; i++) {
		const struct vmi_vcpu *v = &g->vcpus[i];
		json_array_append_new(cpus, json_pack("{s:i, s:o, s:o, s:o, s:o, s:o, s:o}",
						      "index", (int)v->index, "cr0", val_json(&v->cr0),
						      "cr3", val_json(&v->cr3), "cr4", val_json(&v->cr4),
						      "efer", val_json(&v->efer),
						      "idtr_base", val_json(&v->idtr_base),
						      "idtr_limit", val_json(&v->idtr_limit)));
	}
	json_object_set_new(root, "vcpus", cpus);
	for (size_t i = 0; mods && i < mods->n; i++) {
		const struct vmi_linux_module *m = &mods->v[i];
		json_array_append_new(modules, json_pack(
			"{s:s, s:o, s:o, s:I, s:I, s:s, s:b, s:b, s:b, s:b}", "name", m->name,
			"addr", hex_json(m->addr), "core_base", hex_json(m->core_base),
			"core_size", (json_int_t)m->core_size, "text_size", (json_int_t)m->text_size,
			"state", module_state_name(m->state), "on_list", m->on_list,
			"in_kset", m->in_kset, "unreadable", m->unreadable,
			"name_mismatch", m->name_mismatch));
	}
	json_object_set_new(root, "modules", modules);
	if (mods)
		json_object_set_new(root, "kset_builtin", json_integer((json_int_t)mods->kset_builtin));
	if (mods_rc)
		json_object_set_new(root, "modules_error", json_string(mods_err));
	return root;
}

static void print_val(const char *name, const struct vmi_val *v)
{
	if (v->prov == VMI_PROV_NONE)
		printf(" %s=?", name);
	else
		printf(" %s=0x%" PRIx64, name, v->v);
}

static void report_text(const struct vmi_linux_info *in, const struct guest_state *g,
			const struct vmi_kcat *kc, const struct vmi_linux_modules *mods,
			int attach_rc, const char *attach_err, int mods_rc, const char *mods_err)
{
	printf("kernel:   %s\n", in->ident.banner[0] ? in->ident.banner : "(no banner found)");
	for (size_t i = 0; i < in->ident.nids; i++)
		printf("build id: %s at 0x%" PRIx64 "\n", in->ident.ids[i].hex, in->ident.ids[i].va);
	printf("image:    %s (%s)\n", vmi_kcat_build_id_hex(kc),
	       attach_rc == VMI_LINUX_E_MISMATCH || attach_rc == VMI_LINUX_E_NO_BUILD_ID ?
	       "does NOT match" : "matches");
	if (attach_rc)
		printf("attach:   FAILED: %s\n", attach_err);
	else
		printf("slide:    0x%" PRIx64 " (%u anchors agree)\n", (uint64_t)in->slide, in->nagree);
	for (int k = 0; k < VMI_LINUX_NANCHORS; k++) {
		const struct vmi_linux_anchor *a = &in->anchors[k];
		if (a->ok)
			printf("  anchor %-14s slide 0x%" PRIx64 ": %s\n",
			       vmi_linux_anchor_name((enum vmi_linux_anchor_kind)k), (uint64_t)a->slide,
			       a->detail);
		else if (a->detail[0])
			printf("  anchor %-14s failed: %s\n",
			       vmi_linux_anchor_name((enum vmi_linux_anchor_kind)k), a->detail);
	}
	printf("paging:   %u levels, CR3 (vCPU 0) 0x%" PRIx64 ", kernel PGD 0x%" PRIx64 "\n",
	       in->paging_levels, in->cr3_vcpu, in->kernel_pgd);
	for (size_t i = 0; i < g->nvcpus; i++) {
		const struct vmi_vcpu *v = &g->vcpus[i];
		printf("vcpu %u:", v->index);
		print_val("CR0", &v->cr0);
		print_val("CR3", &v->cr3);
		print_val("CR4", &v->cr4);
		print_val("EFER", &v->efer);
		print_val("IDTR", &v->idtr_base);
		print_val("limit", &v->idtr_limit);
		printf(" [%s]\n", vmi_prov_name(v->cr0.prov));
	}
	if (!mods)
		return;
	printf("modules:  %zu (+%zu built-in sysfs entries)\n", mods->n, mods->kset_builtin);
	printf("  %-24s %-18s %-18s %9s %9s %-8s %s\n", "name", "struct module", "core base",
	       "core", "text", "state", "seen");
	for (size_t i = 0; i < mods->n; i++) {
		const struct vmi_linux_module *m = &mods->v[i];
		printf("  %-24s 0x%016" PRIx64 " 0x%016" PRIx64 " %9" PRIu64 " %9" PRIu64 " %-8s %s%s%s%s\n",
		       m->name, m->addr, m->core_base, m->core_size, m->text_size,
		       module_state_name(m->state), m->on_list ? "list " : "",
		       m->in_kset ? "kset" : "", m->unreadable ? " UNREADABLE" : "",
		       m->name_mismatch ? " NAME-MISMATCH" : "");
	}
	if (mods_rc)
		printf("modules:  walk FAILED: %s\n", mods_err);
}

int cli_inspect(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "qmp", required_argument, NULL, 'q' },
		{ "mem", required_argument, NULL, 'm' },
		{ "kernel", required_argument, NULL, 'k' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const char *qmp_path = NULL, *mem_path = NULL, *kernel = NULL;
	char kit[PATH_MAX], kbuf[PATH_MAX + 16], err[2048], attach_err[2048] = "",
		mods_err[1024] = "";
	bool json = false;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'q': qmp_path = optarg; break;
		case 'm': mem_path = optarg; break;
		case 'k': kernel = optarg; break;
		case 'j': json = true; break;
		default: return RW_EXIT_USAGE;
		}
	}
	if (optind != argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (!qmp_path || !mem_path)
		return usage_error("%s", "--qmp SOCK and --mem FILE are required");
	if (!kernel) {
		if (cli_default_kit(kit, sizeof(kit)))
			return usage_error("%s", "cannot locate the guest kit; use --kernel");
		snprintf(kbuf, sizeof(kbuf), "%s/vmlinuz", kit);
		kernel = kbuf;
	}

	struct vmi_kcat *kc;
	if (vmi_kcat_open(kernel, &kc, err, sizeof(err))) {
		fprintf(stderr, "ringwatch inspect: kernel image %s: %s\n", kernel, err);
		return RW_EXIT_USAGE;
	}
	struct guest_state g = { 0 };
	int rc = read_guest(qmp_path, mem_path, &g);
	if (rc) {
		free(g.vcpus);
		vmi_kcat_close(kc);
		return rc;
	}

	struct vmi_linux *lx = NULL;
	struct vmi_linux_info info;
	struct vmi_linux_modules mods = { 0 };
	int mods_rc = 0;
	int arc = vmi_linux_attach(g.mem, g.vcpus, g.nvcpus, kc, &lx, &info, attach_err,
				   sizeof(attach_err));
	if (!arc)
		mods_rc = vmi_linux_modules(lx, &mods, mods_err, sizeof(mods_err));
	if (json) {
		json_t *root = report_json(&info, &g, kc, arc ? NULL : &mods, arc, attach_err,
					   mods_rc, mods_err);
		json_dumpf(root, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(root);
	} else {
		report_text(&info, &g, kc, arc ? NULL : &mods, arc, attach_err, mods_rc, mods_err);
	}
	if (arc)
		fprintf(stderr, "ringwatch inspect: %s\n", attach_err);
	else if (mods_rc)
		fprintf(stderr, "ringwatch inspect: module walk: %s\n", mods_err);
	vmi_linux_modules_free(&mods);
	vmi_linux_detach(lx);
	vmi_mem_close(g.mem);
	free(g.vcpus);
	vmi_kcat_close(kc);
	if (arc == VMI_LINUX_E_NOMEM || arc == VMI_LINUX_E_ARG)
		return RW_EXIT_USAGE;
	return arc || mods_rc ? RW_EXIT_ALERT : RW_EXIT_OK;
}
