/* Test helpers: synthetic kernel images and kallsyms tables. */
#ifndef RW_TESTS_KSYNTH_H
#define RW_TESTS_KSYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "vmi/kimage.h"

/* A minimal little-endian ELF64 x86-64 header followed by a fill pattern. */
uint8_t *ksynth_fake_elf(size_t len, uint16_t machine);

/* Compress src with the given kernel compression the way the kernel build
 * does (LZ4 legacy frame, size trailer appended). Returns malloc'd bytes. */
uint8_t *ksynth_compress(enum vmi_kimage_comp comp, const uint8_t *src, size_t len,
			 size_t *outlen);

/* Wrap a payload in a minimal bzImage: setup_sects, "HdrS", version,
 * payload_offset/length. */
uint8_t *ksynth_bzimage(const uint8_t *payload, size_t plen, uint16_t version, size_t *outlen);

struct ksynth_sym {
	uint64_t addr;
	char type;
	const char *name;
};

enum ksynth_layout {
	KSYNTH_OLD = 0,      /* offsets, relative_base, num_syms, names, markers, tokens */
	KSYNTH_OLD_SEQS,     /* ... markers, seqs_of_names, tokens (6.1 Debian) */
	KSYNTH_NEW_SEQS,     /* num_syms ... tokens, index, offsets, relative_base */
	KSYNTH_ABSOLUTE,     /* u64 addresses, num_syms, names, markers, tokens */
};

/* Build a kallsyms table blob (as it would sit in .rodata, starting with
 * `lead` bytes of filler). syms must be sorted by address. */
uint8_t *ksynth_kallsyms(const struct ksynth_sym *syms, size_t n, enum ksynth_layout layout,
			 uint64_t relative_base, size_t lead, size_t *outlen);

/* Independent of vmi/: the 20-byte GNU build ID from the SHT_NOTE sections
 * of an ELF64 image, found by walking the section headers and matching the
 * note's byte pattern. Returns the number of matching notes (1 expected). */
size_t ksynth_note_build_id(const uint8_t *elf, size_t len, uint8_t id[20]);

#endif
