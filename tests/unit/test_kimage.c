/* vmi/kimage: bzImage parsing and payload decompression. */
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
#include "vmi/kimage.h"

#define ELF_LEN ((size_t)300000)

static const enum vmi_kimage_comp all_comps[] = {
	VMI_KIMAGE_COMP_GZIP, VMI_KIMAGE_COMP_XZ,   VMI_KIMAGE_COMP_LZMA,
	VMI_KIMAGE_COMP_LZ4,  VMI_KIMAGE_COMP_ZSTD, VMI_KIMAGE_COMP_BZIP2,
};

static uint8_t *make_image(enum vmi_kimage_comp comp, const uint8_t *elf, size_t elf_len,
			   size_t *len)
{
	size_t plen;
	uint8_t *payload = ksynth_compress(comp, elf, elf_len, &plen);
	assert_non_null(payload);
	uint8_t *img = ksynth_bzimage(payload, plen, 0x020f, len);
	free(payload);
	assert_non_null(img);
	return img;
}

static void round_trip_each_compression(void **state)
{
	(void)state;
	uint8_t *elf = ksynth_fake_elf(ELF_LEN, EM_X86_64);
	assert_non_null(elf);
	for (size_t i = 0; i < sizeof(all_comps) / sizeof(all_comps[0]); i++) {
		size_t len;
		uint8_t *img = make_image(all_comps[i], elf, ELF_LEN, &len);
		struct vmi_kimage_info info;
		char err[256];
		assert_int_equal(vmi_kimage_parse(img, len, &info, err, sizeof(err)), 0);
		assert_int_equal(info.comp, all_comps[i]);
		assert_int_equal(info.setup_sects, 4);
		assert_int_equal(info.version, 0x020f);
		void *out = NULL;
		size_t out_len = 0;
		int rc = vmi_kimage_extract(img, len, &out, &out_len, err, sizeof(err));
		if (rc)
			fail_msg("%s: %d %s", vmi_kimage_comp_name(all_comps[i]), rc, err);
		assert_int_equal(out_len, ELF_LEN);
		assert_memory_equal(out, elf, ELF_LEN);
		free(out);
		free(img);
	}
	free(elf);
}

static void lz4_multi_block(void **state)
{
	(void)state;
	/* Larger than one 8 MiB LZ4 legacy block. */
	size_t n = ((size_t)8 << 20) + 12345;
	uint8_t *elf = ksynth_fake_elf(n, EM_X86_64);
	size_t len;
	uint8_t *img = make_image(VMI_KIMAGE_COMP_LZ4, elf, n, &len);
	void *out;
	size_t out_len;
	char err[256];
	assert_int_equal(vmi_kimage_extract(img, len, &out, &out_len, err, sizeof(err)), 0);
	assert_int_equal(out_len, n);
	assert_memory_equal(out, elf, n);
	free(out);
	free(img);
	free(elf);
}

static int extract_rc(const uint8_t *img, size_t len, size_t cap)
{
	void *out = (void *)1;
	size_t out_len = 1;
	char err[256] = "";
	int rc = vmi_kimage_extract_capped(img, len, cap, &out, &out_len, err, sizeof(err));
	if (rc) {
		assert_null(out);
		assert_int_equal(out_len, 0);
		assert_true(err[0] != '\0'); /* every error explains itself */
	} else {
		free(out);
	}
	return rc;
}

static void header_errors(void **state)
{
	(void)state;
	uint8_t *elf = ksynth_fake_elf(4096, EM_X86_64);
	size_t len;
	uint8_t *img = make_image(VMI_KIMAGE_COMP_GZIP, elf, 4096, &len);
	assert_int_equal(extract_rc(img, len, 1 << 20), 0);

	assert_int_equal(extract_rc(img, 0x24f, 1 << 20), VMI_KIMAGE_E_TOO_SMALL);

	uint8_t *bad = malloc(len);
	memcpy(bad, img, len);
	bad[0x202] = 'X';
	assert_int_equal(extract_rc(bad, len, 1 << 20), VMI_KIMAGE_E_NOT_BZIMAGE);

	memcpy(bad, img, len);
	bad[0x206] = 0x06; /* 2.06 */
	assert_int_equal(extract_rc(bad, len, 1 << 20), VMI_KIMAGE_E_OLD_PROTOCOL);

	memcpy(bad, img, len);
	bad[0x1f1] = 0xff; /* setup would be 128 KiB */
	assert_int_equal(extract_rc(bad, len, 1 << 20), VMI_KIMAGE_E_BAD_SETUP);

	memcpy(bad, img, len);
	bad[0x24f] = 0x7f; /* payload_length huge */
	assert_int_equal(extract_rc(bad, len, 1 << 20), VMI_KIMAGE_E_BAD_PAYLOAD);

	memcpy(bad, img, len);
	bad[0x24b] = 0xff; /* payload_offset huge */
	assert_int_equal(extract_rc(bad, len, 1 << 20), VMI_KIMAGE_E_BAD_PAYLOAD);

	/* The file ends inside the payload. */
	assert_int_equal(extract_rc(img, len - 0x50, 1 << 20), VMI_KIMAGE_E_BAD_PAYLOAD);

	/* Unknown and known-but-unsupported magic. */
	struct vmi_kimage_info info;
	assert_int_equal(vmi_kimage_parse(img, len, &info, NULL, 0), 0);
	memcpy(bad, img, len);
	memcpy(bad + info.payload_off, "JUNK", 4);
	assert_int_equal(extract_rc(bad, len, 1 << 20), VMI_KIMAGE_E_UNKNOWN_COMPRESSION);
	memcpy(bad + info.payload_off, "\x89LZO", 4);
	assert_int_equal(extract_rc(bad, len, 1 << 20), VMI_KIMAGE_E_UNSUPPORTED_COMPRESSION);

	free(bad);
	free(img);
	free(elf);
}

/* Rebuild an image from a modified payload. */
static int payload_rc(const uint8_t *payload, size_t plen, size_t cap)
{
	size_t len;
	uint8_t *img = ksynth_bzimage(payload, plen, 0x020f, &len);
	int rc = extract_rc(img, len, cap);
	free(img);
	return rc;
}

static void payload_errors(void **state)
{
	(void)state;
	uint8_t *elf = ksynth_fake_elf(ELF_LEN, EM_X86_64);
	for (size_t i = 0; i < sizeof(all_comps) / sizeof(all_comps[0]); i++) {
		enum vmi_kimage_comp c = all_comps[i];
		const char *name = vmi_kimage_comp_name(c);
		size_t plen;
		uint8_t *p = ksynth_compress(c, elf, ELF_LEN, &plen);
		assert_non_null(p);
		uint8_t *q = malloc(plen);

		/* Truncated stream: cut the middle, keep the size trailer. */
		size_t cut = plen / 2;
		memcpy(q, p, cut);
		memcpy(q + cut, p + plen - 4, 4);
		int rc = payload_rc(q, cut + 4, 1 << 20);
		/* (an LZ4 legacy stream has no checksum: the cut shows as a
		 * truncated or corrupt block, never as success) */
		if (rc != VMI_KIMAGE_E_TRUNCATED && rc != VMI_KIMAGE_E_CORRUPT)
			fail_msg("%s truncated: rc %d", name, rc);

		/* Corrupt bytes in the middle of the stream. */
		memcpy(q, p, plen);
		for (size_t k = plen / 3; k < plen / 3 + 64; k++)
			q[k] ^= 0x5a;
		rc = payload_rc(q, plen, 1 << 20);
		if (rc != VMI_KIMAGE_E_CORRUPT && rc != VMI_KIMAGE_E_TRUNCATED &&
		    rc != VMI_KIMAGE_E_SIZE_MISMATCH)
			fail_msg("%s corrupt: rc %d", name, rc);

		/* Lying size trailer. */
		memcpy(q, p, plen);
		q[plen - 4] ^= 1;
		rc = payload_rc(q, plen, 1 << 20);
		if (rc != VMI_KIMAGE_E_SIZE_MISMATCH)
			fail_msg("%s trailer: rc %d", name, rc);

		/* Output larger than the cap. */
		rc = payload_rc(p, plen, ELF_LEN - 1);
		if (rc != VMI_KIMAGE_E_TOO_LARGE)
			fail_msg("%s cap: rc %d", name, rc);
		assert_int_equal(payload_rc(p, plen, ELF_LEN), 0);

		free(q);
		free(p);
	}
	free(elf);
}

static void output_must_be_x86_64_elf(void **state)
{
	(void)state;
	uint8_t *not_elf = ksynth_fake_elf(8192, EM_X86_64);
	not_elf[0] = 0;
	size_t plen;
	uint8_t *p = ksynth_compress(VMI_KIMAGE_COMP_ZSTD, not_elf, 8192, &plen);
	assert_int_equal(payload_rc(p, plen, 1 << 20), VMI_KIMAGE_E_NOT_ELF);
	free(p);
	free(not_elf);

	uint8_t *i386 = ksynth_fake_elf(8192, EM_386);
	p = ksynth_compress(VMI_KIMAGE_COMP_XZ, i386, 8192, &plen);
	assert_int_equal(payload_rc(p, plen, 1 << 20), VMI_KIMAGE_E_WRONG_ARCH);
	free(p);
	/* An ELF given directly is checked the same way... */
	assert_int_equal(extract_rc(i386, 8192, 1 << 20), VMI_KIMAGE_E_WRONG_ARCH);
	free(i386);

	/* ...and copied when valid. */
	uint8_t *elf = ksynth_fake_elf(8192, EM_X86_64);
	void *out;
	size_t out_len;
	assert_int_equal(vmi_kimage_extract(elf, 8192, &out, &out_len, NULL, 0), 0);
	assert_int_equal(out_len, 8192);
	assert_memory_equal(out, elf, 8192);
	assert_ptr_not_equal(out, elf);
	free(out);
	/* Section table pointing outside the image. */
	Elf64_Ehdr eh;
	memcpy(&eh, elf, sizeof(eh));
	eh.e_shoff = 8000;
	eh.e_shnum = 10;
	eh.e_shentsize = sizeof(Elf64_Shdr);
	memcpy(elf, &eh, sizeof(eh));
	assert_int_equal(extract_rc(elf, 8192, 1 << 20), VMI_KIMAGE_E_NOT_ELF);
	free(elf);

	assert_int_equal(vmi_kimage_extract(NULL, 0, &out, &out_len, NULL, 0), VMI_KIMAGE_E_ARG);
}

static void extract_file_io(void **state)
{
	(void)state;
	char err[256];
	assert_int_equal(vmi_kimage_extract_file("/nonexistent/vmlinuz", "/tmp/x", err, sizeof(err)),
			 VMI_KIMAGE_E_IO);
	char in[] = "/tmp/rw-kimage-in-XXXXXX";
	int fd = mkstemp(in);
	assert_true(fd >= 0);
	uint8_t *elf = ksynth_fake_elf(50000, EM_X86_64);
	size_t len;
	uint8_t *img = make_image(VMI_KIMAGE_COMP_BZIP2, elf, 50000, &len);
	assert_int_equal(write(fd, img, len), (ssize_t)len);
	close(fd);
	char out[64];
	snprintf(out, sizeof(out), "%s.elf", in);
	assert_int_equal(vmi_kimage_extract_file(in, out, err, sizeof(err)), 0);
	void *back;
	size_t back_len;
	assert_int_equal(vmi_kimage_read_file(out, 1 << 20, &back, &back_len, err, sizeof(err)), 0);
	assert_int_equal(back_len, 50000);
	assert_memory_equal(back, elf, 50000);
	free(back);
	unlink(in);
	unlink(out);
	free(img);
	free(elf);
}

/* ---- the real Debian kernel from the kit ---- */

static const char *kit_dir(char *buf, size_t n)
{
	const char *kit = getenv("RW_KIT");
	if (kit && kit[0])
		return kit;
	const char *top = getenv("RW_TOP");
	if (!top || !top[0])
		fail_msg("neither RW_KIT nor RW_TOP is set: cannot find the guest kit");
	snprintf(buf, n, "%s/build/kit/cloud-amd64", top);
	return buf;
}

static void real_kit_vmlinuz(void **state)
{
	(void)state;
	char buf[4096], path[4200], err[256];
	const char *kit = kit_dir(buf, sizeof(buf));
	snprintf(path, sizeof(path), "%s/vmlinuz", kit);
	void *img;
	size_t len;
	if (vmi_kimage_read_file(path, (size_t)256 << 20, &img, &len, err, sizeof(err)))
		fail_msg("guest kit kernel missing: %s (run make kit or set RW_KIT)", err);
	struct vmi_kimage_info info;
	assert_int_equal(vmi_kimage_parse(img, len, &info, err, sizeof(err)), 0);
	assert_true(info.version >= 0x020c);
	assert_int_not_equal(info.comp, VMI_KIMAGE_COMP_UNKNOWN);
	void *elf;
	size_t elf_len;
	int rc = vmi_kimage_extract(img, len, &elf, &elf_len, err, sizeof(err));
	if (rc)
		fail_msg("extract %s: %d %s", path, rc, err);
	assert_true(elf_len > len); /* decompression happened */
	const Elf64_Ehdr *eh = elf;
	assert_int_equal(eh->e_machine, EM_X86_64);
	assert_int_equal(eh->e_type, ET_EXEC);
	uint8_t id[20];
	assert_int_equal(ksynth_note_build_id(elf, elf_len, id), 1);

	/* The kit's vmlinux must be exactly this. */
	snprintf(path, sizeof(path), "%s/vmlinux", kit);
	void *kit_elf;
	size_t kit_len;
	if (vmi_kimage_read_file(path, (size_t)1 << 30, &kit_elf, &kit_len, err, sizeof(err)))
		fail_msg("guest kit vmlinux missing: %s", err);
	assert_int_equal(kit_len, elf_len);
	assert_memory_equal(kit_elf, elf, elf_len);
	free(kit_elf);
	free(elf);
	free(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip_each_compression),
		cmocka_unit_test(lz4_multi_block),
		cmocka_unit_test(header_errors),
		cmocka_unit_test(payload_errors),
		cmocka_unit_test(output_must_be_x86_64_elf),
		cmocka_unit_test(extract_file_io),
		cmocka_unit_test(real_kit_vmlinuz),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
