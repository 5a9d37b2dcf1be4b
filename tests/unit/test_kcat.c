/* vmi/ksyms, vmi/kbtf, vmi/kcat: kallsyms decoding, System.map, BTF, catalog. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <elf.h>

#include "tests/lib/ksynth.h"
#include "vmi/kbtf.h"
#include "vmi/kcat.h"
#include "vmi/ksyms.h"

#define BASE 0xffffffff81000000ull
#define NSYN 700

struct synth {
	struct ksynth_sym sym[NSYN];
	char names[NSYN][200];
};

static void make_syms(struct synth *s)
{
	for (size_t i = 0; i < NSYN; i++) {
		if (i < 5) { /* per-CPU symbols: small absolute addresses */
			s->sym[i].addr = i * 0x40;
			s->sym[i].type = 'A';
			snprintf(s->names[i], sizeof(s->names[i]), "percpu_var_%zu", i);
		} else {
			s->sym[i].addr = BASE + (i - 5) * 0x30 + (i % 3 == 0 ? 0 : 0x10);
			s->sym[i].type = i % 2 ? 'T' : 't';
			snprintf(s->names[i], sizeof(s->names[i]), "func_%zu_%s", i,
				 i % 7 == 0 ? "helper" : "x");
		}
		s->sym[i].name = s->names[i];
	}
	/* A "big" name (> 127 bytes: two-byte length) and a duplicate name. */
	memset(s->names[100], 'q', 150);
	s->names[100][150] = '\0';
	strcpy(s->names[201], "dup_name");
	strcpy(s->names[301], "dup_name");
}

static void check_decoded(const struct synth *s, const struct vmi_ksyms *k)
{
	assert_int_equal(vmi_ksyms_count(k), NSYN);
	for (size_t i = 0; i < NSYN; i++) {
		const struct vmi_ksym *e = vmi_ksyms_at(k, i);
		assert_non_null(e);
		assert_int_equal(e->addr, s->sym[i].addr);
		assert_int_equal(e->type, s->sym[i].type);
		assert_string_equal(e->name, s->sym[i].name);
	}
	assert_null(vmi_ksyms_at(k, NSYN));
	size_t dups;
	const struct vmi_ksym *e = vmi_ksyms_lookup(k, "dup_name", &dups);
	assert_non_null(e);
	assert_int_equal(dups, 2);
	assert_int_equal(e->addr, s->sym[201].addr); /* lowest address wins */
	assert_null(vmi_ksyms_lookup(k, "no_such_symbol", &dups));
	assert_int_equal(dups, 0);
	uint64_t a;
	assert_int_equal(vmi_ksyms_addr(k, "no_such", &a), VMI_KSYMS_E_NOT_FOUND);
	assert_int_equal(vmi_ksyms_addr(k, s->names[100], &a), 0);
	assert_int_equal(a, s->sym[100].addr);
	/* Address -> symbol + offset. */
	uint64_t off;
	e = vmi_ksyms_find(k, s->sym[400].addr + 3, 0, &off);
	assert_non_null(e);
	assert_string_equal(e->name, s->sym[400].name);
	assert_int_equal(off, 3);
	assert_null(vmi_ksyms_find(k, BASE - 1, 0, &off)); /* below every non-absolute */
	e = vmi_ksyms_find(k, 0x41, 1, &off);
	assert_non_null(e);
	assert_string_equal(e->name, "percpu_var_1");
	assert_int_equal(off, 1);
}

static void kallsyms_each_layout(void **state)
{
	(void)state;
	static struct synth s;
	make_syms(&s);
	const enum ksynth_layout layouts[] = {KSYNTH_OLD, KSYNTH_OLD_SEQS, KSYNTH_NEW_SEQS,
					      KSYNTH_ABSOLUTE};
	for (size_t l = 0; l < 4; l++) {
		size_t len;
		uint8_t *blob = ksynth_kallsyms(s.sym, NSYN, layouts[l], BASE, 4096 + 8 * l, &len);
		assert_non_null(blob);
		struct vmi_ksyms *k = NULL;
		struct vmi_kallsyms_layout lay;
		char err[256] = "";
		int rc = vmi_ksyms_from_kallsyms(blob, len, &k, &lay, err, sizeof(err));
		if (rc)
			fail_msg("layout %zu: %d %s", l, rc, err);
		assert_int_equal(lay.num_syms, NSYN);
		assert_int_equal(lay.has_seqs, layouts[l] == KSYNTH_OLD_SEQS || layouts[l] == KSYNTH_NEW_SEQS);
		assert_int_equal(lay.base_relative, layouts[l] != KSYNTH_ABSOLUTE);
		assert_int_equal(lay.addrs_after_tokens, layouts[l] == KSYNTH_NEW_SEQS);
		if (lay.base_relative) {
			assert_int_equal(lay.relative_base, BASE);
			assert_true(lay.absolute_percpu);
		}
		check_decoded(&s, k);
		vmi_ksyms_free(k);
		free(blob);
	}
}

static int decode_rc(const uint8_t *b, size_t len)
{
	struct vmi_ksyms *k = (struct vmi_ksyms *)1;
	char err[256] = "";
	int rc = vmi_ksyms_from_kallsyms(b, len, &k, NULL, err, sizeof(err));
	if (rc) {
		assert_null(k);
		assert_true(err[0] != '\0');
	} else {
		vmi_ksyms_free(k);
	}
	return rc;
}

static void kallsyms_errors(void **state)
{
	(void)state;
	static struct synth s;
	make_syms(&s);
	size_t len;
	uint8_t *blob = ksynth_kallsyms(s.sym, NSYN, KSYNTH_OLD_SEQS, BASE, 4096, &len);
	assert_int_equal(decode_rc(blob, len), 0);

	uint8_t *junk = malloc(len);
	for (size_t i = 0; i < len; i++)
		junk[i] = (uint8_t)(i * 2654435761u >> 13);
	assert_int_equal(decode_rc(junk, len), VMI_KSYMS_E_NO_TOKEN_TABLE);
	free(junk);

	struct vmi_kallsyms_layout lay;
	struct vmi_ksyms *k;
	assert_int_equal(vmi_ksyms_from_kallsyms(blob, len, &k, &lay, NULL, 0), 0);
	vmi_ksyms_free(k);
	uint8_t *bad = malloc(len);

	/* A marker that disagrees with the names stream. */
	memcpy(bad, blob, len);
	bad[lay.markers_off + 4] ^= 1;
	assert_int_equal(decode_rc(bad, len), VMI_KSYMS_E_NO_NAMES);

	/* num_syms off by one. */
	memcpy(bad, blob, len);
	bad[lay.num_syms_off] ^= 1;
	assert_int_equal(decode_rc(bad, len), VMI_KSYMS_E_NO_NAMES);

	/* seqs_of_names not a permutation. */
	memcpy(bad, blob, len);
	memcpy(bad + lay.seqs_off, bad + lay.seqs_off + 3, 3);
	assert_int_equal(decode_rc(bad, len), VMI_KSYMS_E_NO_NAMES);

	/* Addresses out of order. */
	memcpy(bad, blob, len);
	memcpy(bad + lay.addrs_off + 4 * 300, bad + lay.addrs_off + 4 * 600, 4);
	assert_int_equal(decode_rc(bad, len), VMI_KSYMS_E_NO_ADDRESSES);

	/* Relative base not a kernel address. */
	memcpy(bad, blob, len);
	bad[lay.relative_base_off + 7] = 0;
	assert_int_equal(decode_rc(bad, len), VMI_KSYMS_E_NO_ADDRESSES);

	/* Token table with a non-printable byte. */
	memcpy(bad, blob, len);
	bad[lay.token_table_off + 2] = 0x01;
	assert_int_equal(decode_rc(bad, len), VMI_KSYMS_E_NO_TOKEN_TABLE);

	/* Tables cut off at the end of the buffer. */
	assert_int_equal(decode_rc(blob, lay.token_index_off + 100), VMI_KSYMS_E_NO_TOKEN_TABLE);
	assert_int_equal(decode_rc(NULL, 0), VMI_KSYMS_E_ARG);
	free(bad);
	free(blob);
}

static void system_map_parse(void **state)
{
	(void)state;
	static const char map[] = "ffffffff81000000 T _stext\n"
				  "0000000000000000 A fixed_percpu_data\n"
				  "ffffffff81000100 t local_fn\n"
				  "ffffffff81000080 T between\r\n"
				  "\n"
				  "ffffffffc0000000 t modfn\t[somemod]\n";
	struct vmi_ksyms *k;
	char err[256];
	assert_int_equal(vmi_ksyms_parse_system_map(map, sizeof(map) - 1, &k, err, sizeof(err)), 0);
	assert_int_equal(vmi_ksyms_count(k), 5);
	assert_string_equal(vmi_ksyms_at(k, 0)->name, "fixed_percpu_data");
	assert_string_equal(vmi_ksyms_at(k, 2)->name, "between"); /* sorted by address */
	uint64_t a, off;
	assert_int_equal(vmi_ksyms_addr(k, "local_fn", &a), 0);
	assert_int_equal(a, 0xffffffff81000100ull);
	const struct vmi_ksym *e = vmi_ksyms_find(k, 0xffffffff81000090ull, 0, &off);
	assert_string_equal(e->name, "between");
	assert_int_equal(off, 0x10);
	assert_int_equal(e->type, 'T');
	vmi_ksyms_free(k);

	/* Debian's placeholder System.map is not a symbol table. */
	static const char placeholder[] =
		"ffffffffffffffff B The real System.map is in the linux-image-<version>-dbg package\n";
	assert_int_equal(vmi_ksyms_parse_system_map(placeholder, sizeof(placeholder) - 1, &k, err,
						    sizeof(err)),
			 VMI_KSYMS_E_PARSE);
	assert_int_equal(vmi_ksyms_parse_system_map("zz T x\n", 7, &k, err, sizeof(err)),
			 VMI_KSYMS_E_PARSE);
	assert_int_equal(vmi_ksyms_parse_system_map("1234 T\n", 7, &k, err, sizeof(err)),
			 VMI_KSYMS_E_PARSE);
	assert_int_equal(vmi_ksyms_parse_system_map("11112222333344445 T x\n", 22, &k, err,
						    sizeof(err)),
			 VMI_KSYMS_E_PARSE);
	assert_int_equal(vmi_ksyms_parse_system_map("\n\n", 2, &k, err, sizeof(err)),
			 VMI_KSYMS_E_EMPTY);
	assert_int_equal(vmi_ksyms_load_system_map("/nonexistent/System.map", &k, err, sizeof(err)),
			 VMI_KSYMS_E_IO);
}

/* ---- the real Debian kernel ---- */

static char kit_path[4200];

static const char *kit_file(const char *name)
{
	const char *kit = getenv("RW_KIT");
	const char *top = getenv("RW_TOP");
	if (kit && kit[0])
		snprintf(kit_path, sizeof(kit_path), "%s/%s", kit, name);
	else if (top && top[0])
		snprintf(kit_path, sizeof(kit_path), "%s/build/kit/cloud-amd64/%s", top, name);
	else
		fail_msg("neither RW_KIT nor RW_TOP is set: cannot find the guest kit");
	if (access(kit_path, R_OK) != 0)
		fail_msg("guest kit file missing: %s (run make kit or set RW_KIT)", kit_path);
	return kit_path;
}

static struct vmi_kcat *real;

static int open_real(void **state)
{
	(void)state;
	char err[256];
	int rc = vmi_kcat_open(kit_file("vmlinux"), &real, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "vmi_kcat_open %s: %d %s\n", kit_path, rc, err);
		return -1;
	}
	return 0;
}

static int close_real(void **state)
{
	(void)state;
	vmi_kcat_close(real);
	real = NULL;
	return 0;
}

static void real_sections_build_id_banner(void **state)
{
	(void)state;
	static const char *want[] = {".text", ".rodata", "__ex_table", ".BTF", ".notes",
				     ".data", ".bss", ".altinstructions", ".parainstructions",
				     ".retpoline_sites", ".return_sites", ".init.text"};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const struct vmi_ksection *s = vmi_kcat_section(real, want[i]);
		if (!s)
			fail_msg("section %s missing", want[i]);
		assert_true(s->size > 0);
	}
	assert_null(vmi_kcat_section(real, ".no_such_section"));
	const struct vmi_ksection *text = vmi_kcat_section(real, ".text");
	assert_int_equal(text->addr, BASE);
	assert_true(text->flags & SHF_EXECINSTR);
	assert_non_null(vmi_kcat_section_data(real, text));
	assert_null(vmi_kcat_section_data(real, vmi_kcat_section(real, ".bss")));

	size_t img_len, id_len;
	const uint8_t *img = vmi_kcat_image(real, &img_len);
	uint8_t id[20];
	assert_int_equal(ksynth_note_build_id(img, img_len, id), 1);
	const uint8_t *kid = vmi_kcat_build_id(real, &id_len);
	assert_int_equal(id_len, 20);
	assert_memory_equal(kid, id, 20);
	char hex[41];
	for (int i = 0; i < 20; i++)
		snprintf(hex + 2 * i, 3, "%02x", id[i]);
	assert_string_equal(vmi_kcat_build_id_hex(real), hex);

	const char *banner = vmi_kcat_banner(real);
	assert_true(strncmp(banner, "Linux version 6.", 16) == 0);
	assert_null(strchr(banner, '\n'));

	/* bytes_at maps link addresses to the image. */
	const uint8_t *p = vmi_kcat_bytes_at(real, text->addr + 16, 16);
	assert_ptr_equal(p, img + text->offset + 16);
	assert_null(vmi_kcat_bytes_at(real, text->addr + text->size - 4, 16));
}

static void expect_in(const char *sym, const char *section)
{
	uint64_t a;
	if (vmi_kcat_symbol(real, sym, &a))
		fail_msg("symbol %s not decoded", sym);
	const struct vmi_ksection *s = vmi_kcat_section_of(real, a);
	if (!s || strcmp(s->name, section) != 0)
		fail_msg("%s at %#llx is in %s, expected %s", sym, (unsigned long long)a,
			 s ? s->name : "(none)", section);
}

static void real_kallsyms(void **state)
{
	(void)state;
	const struct vmi_ksyms *k = vmi_kcat_symbols(real);
	size_t n = vmi_ksyms_count(k);
	if (n < 50000)
		fail_msg("only %zu symbols decoded", n);
	const struct vmi_ksection *text = vmi_kcat_section(real, ".text");
	const struct vmi_ksection *ro = vmi_kcat_section(real, ".rodata");
	uint64_t a;
	assert_int_equal(vmi_kcat_symbol(real, "_stext", &a), 0);
	assert_int_equal(a, text->addr);
	assert_int_equal(vmi_kcat_symbol(real, "_etext", &a), 0);
	assert_int_equal(a, text->addr + text->size);
	assert_int_equal(vmi_kcat_symbol(real, "__start_rodata", &a), 0);
	assert_int_equal(a, ro->addr);
	assert_int_equal(vmi_kcat_symbol(real, "__end_rodata", &a), 0);
	assert_true(a > ro->addr + ro->size);
	assert_true(a < vmi_kcat_section(real, ".data")->addr + 1);
	expect_in("sys_call_table", ".rodata");
	expect_in("linux_banner", ".rodata");
	expect_in("x64_sys_call", ".text");
	expect_in("asm_exc_page_fault", ".text");
	expect_in("entry_SYSCALL_64", ".text");
	expect_in("idt_table", ".bss");
	expect_in("modules", ".data");
	expect_in("module_kset", ".bss");
	expect_in("init_task", ".data");
	/* The banner symbol points at the banner string. */
	assert_int_equal(vmi_kcat_symbol(real, "linux_banner", &a), 0);
	const char *bp = (const char *)vmi_kcat_bytes_at(real, a, 14);
	assert_non_null(bp);
	assert_memory_equal(bp, "Linux version ", 14);

	/* Text symbols land in executable sections. */
	size_t text_syms = 0, in_exec = 0;
	for (size_t i = 0; i < n; i++) {
		const struct vmi_ksym *e = vmi_ksyms_at(k, i);
		if (e->type != 'T' && e->type != 't')
			continue;
		text_syms++;
		const struct vmi_ksection *s = vmi_kcat_section_of(real, e->addr);
		in_exec += s && (s->flags & SHF_EXECINSTR);
	}
	assert_true(text_syms > 30000);
	assert_true(in_exec * 100 >= text_syms * 99);

	/* Address -> symbol + offset round trip. */
	assert_int_equal(vmi_kcat_symbol(real, "x64_sys_call", &a), 0);
	uint64_t off;
	const struct vmi_ksym *e = vmi_ksyms_find(k, a + 5, 0, &off);
	assert_non_null(e);
	assert_string_equal(e->name, "x64_sys_call");
	assert_int_equal(off, 5);
}

static void real_btf(void **state)
{
	(void)state;
	const struct vmi_kbtf *b = vmi_kcat_btf(real);
	assert_non_null(b);
	assert_true(vmi_kbtf_type_count(b) > 10000);
	size_t v;
	assert_int_equal(vmi_kbtf_struct_size(b, "list_head", &v), 0);
	assert_int_equal(v, 16);
	assert_int_equal(vmi_kbtf_offset(b, "list_head.next", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(vmi_kbtf_offset(b, "list_head.prev", &v), 0);
	assert_int_equal(v, 8);
	struct vmi_kbtf_member m;
	assert_int_equal(vmi_kbtf_member(b, "module.list", &m), 0);
	assert_int_equal(m.size, 16);
	assert_int_equal(vmi_kbtf_member(b, "module.name", &m), 0);
	assert_int_equal(m.size, 64 - 8); /* char name[MODULE_NAME_LEN] */
	size_t mkobj, kobj, nested;
	assert_int_equal(vmi_kbtf_offset(b, "module.mkobj", &mkobj), 0);
	assert_int_equal(vmi_kbtf_offset(b, "module_kobject.kobj", &kobj), 0);
	assert_int_equal(vmi_kbtf_offset(b, "module.mkobj.kobj", &nested), 0);
	assert_int_equal(nested, mkobj + kobj);
	assert_int_equal(vmi_kbtf_offset(b, "kobject.entry", &v), 0);
	assert_int_equal(vmi_kbtf_offset(b, "kset.list", &v), 0);
	assert_int_equal(vmi_kbtf_member(b, "task_struct.cred", &m), 0);
	assert_int_equal(m.size, 8);
	assert_int_equal(vmi_kbtf_member(b, "cred.uid", &m), 0);
	assert_int_equal(m.size, 4);
	assert_int_equal(vmi_kbtf_offset(b, "cred.euid", &v), 0);
	assert_int_equal(vmi_kbtf_struct_size(b, "task_struct", &v), 0);
	assert_true(v > 1000);
	/* Enumerators (6.1: BOOTING, SCHEDULING, FREEING_INITMEM, RUNNING, ...). */
	int64_t ev;
	assert_int_equal(vmi_kbtf_enum_value(b, "system_states", "SYSTEM_RUNNING", &ev), 0);
	assert_int_equal(ev, 3);
	assert_int_equal(vmi_kbtf_enum_value(b, "system_states", "SYSTEM_BOOTING", &ev), 0);
	assert_int_equal(ev, 0);
	assert_int_equal(vmi_kbtf_enum_value(b, "system_states", "SYSTEM_NOPE", &ev),
			 VMI_KBTF_E_NO_MEMBER);
	assert_int_equal(vmi_kbtf_enum_value(b, "no_such_enum", "X", &ev), VMI_KBTF_E_NO_TYPE);
	/* Errors. */
	assert_int_equal(vmi_kbtf_offset(b, "no_such_struct.x", &v), VMI_KBTF_E_NO_TYPE);
	assert_int_equal(vmi_kbtf_offset(b, "module.no_such_member", &v), VMI_KBTF_E_NO_MEMBER);
	assert_int_equal(vmi_kbtf_offset(b, "module.name.x", &v), VMI_KBTF_E_NOT_COMPOSITE);
	assert_int_equal(vmi_kbtf_offset(b, "module..list", &v), VMI_KBTF_E_PATH);
	assert_int_equal(vmi_kbtf_offset(b, "module", &v), VMI_KBTF_E_PATH);
}

static void real_bzimage_and_set(void **state)
{
	(void)state;
	char err[256];
	struct vmi_kcat *kz;
	int rc = vmi_kcat_open(kit_file("vmlinuz"), &kz, err, sizeof(err));
	if (rc)
		fail_msg("vmi_kcat_open vmlinuz: %d %s", rc, err);
	assert_string_equal(vmi_kcat_build_id_hex(kz), vmi_kcat_build_id_hex(real));
	assert_string_equal(vmi_kcat_banner(kz), vmi_kcat_banner(real));
	assert_int_equal(vmi_ksyms_count(vmi_kcat_symbols(kz)),
			 vmi_ksyms_count(vmi_kcat_symbols(real)));

	struct vmi_kcat_set *set = vmi_kcat_set_new();
	assert_int_equal(vmi_kcat_set_add(set, kz), 0);
	assert_int_equal(vmi_kcat_set_add(set, kz), VMI_KCAT_E_DUPLICATE);
	assert_ptr_equal(vmi_kcat_set_find_hex(set, vmi_kcat_build_id_hex(real)), kz);
	size_t idl;
	const uint8_t *id = vmi_kcat_build_id(real, &idl);
	assert_ptr_equal(vmi_kcat_set_find(set, id, idl), kz);
	assert_null(vmi_kcat_set_find_hex(set, "00"));
	assert_int_equal(vmi_kcat_set_count(set), 1);
	vmi_kcat_set_free(set);

	/* A System.map replaces the decoded symbols. */
	char map[] = "/tmp/rw-kcat-map-XXXXXX";
	int fd = mkstemp(map);
	assert_true(fd >= 0);
	static const char text[] = "ffffffff81000000 T _stext\nffffffff81000010 T only_in_map\n";
	assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
	close(fd);
	rc = vmi_kcat_open(kit_file("vmlinux"), &kz, err, sizeof(err));
	assert_int_equal(rc, 0);
	assert_int_equal(vmi_kcat_load_system_map(kz, map, err, sizeof(err)), 0);
	uint64_t a;
	assert_int_equal(vmi_kcat_symbol(kz, "only_in_map", &a), 0);
	assert_int_equal(a, 0xffffffff81000010ull);
	assert_int_equal(vmi_ksyms_count(vmi_kcat_symbols(kz)), 2);
	assert_int_equal(vmi_kcat_load_system_map(kz, "/nonexistent", err, sizeof(err)),
			 VMI_KCAT_E_SYMBOLS);
	vmi_kcat_close(kz);
	unlink(map);

	/* Not a kernel at all. */
	assert_int_equal(vmi_kcat_open(map, &kz, err, sizeof(err)), VMI_KCAT_E_IMAGE);
	uint8_t junk[4096] = {0};
	assert_int_equal(vmi_kcat_from_image(junk, sizeof(junk), &kz, err, sizeof(err)),
			 VMI_KCAT_E_IMAGE);
	uint8_t *elf = ksynth_fake_elf(4096, EM_X86_64);
	assert_int_equal(vmi_kcat_from_image(elf, 4096, &kz, err, sizeof(err)), VMI_KCAT_E_ELF);
	free(elf);
}

int main(void)
{
	const struct CMUnitTest synthetic[] = {
		cmocka_unit_test(kallsyms_each_layout),
		cmocka_unit_test(kallsyms_errors),
		cmocka_unit_test(system_map_parse),
	};
	const struct CMUnitTest kit[] = {
		cmocka_unit_test(real_sections_build_id_banner),
		cmocka_unit_test(real_kallsyms),
		cmocka_unit_test(real_btf),
		cmocka_unit_test(real_bzimage_and_set),
	};
	int failed = cmocka_run_group_tests(synthetic, NULL, NULL);
	failed += cmocka_run_group_tests(kit, open_real, close_real);
	return failed ? 1 : 0;
}
