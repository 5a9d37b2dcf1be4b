/* Synthetic kernel images and kallsyms tables for tests. */
#include "tests/lib/ksynth.h"

#include <bzlib.h>
#include <elf.h>
#include <lz4.h>
#include <lzma.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

uint8_t *ksynth_fake_elf(size_t len, uint16_t machine)
{
	if (len < sizeof(Elf64_Ehdr))
		return NULL;
	uint8_t *b = malloc(len);
	if (!b)
		return NULL;
	for (size_t i = 0; i < len; i++) /* compressible but not trivial */
		b[i] = (uint8_t)((i * 7) ^ (i >> 9));
	Elf64_Ehdr eh;
	memset(&eh, 0, sizeof(eh));
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_EXEC;
	eh.e_machine = machine;
	eh.e_version = EV_CURRENT;
	eh.e_ehsize = sizeof(eh);
	memcpy(b, &eh, sizeof(eh));
	return b;
}

static uint8_t *gzip_buf(const uint8_t *src, size_t len, size_t *outlen)
{
	z_stream s;
	memset(&s, 0, sizeof(s));
	if (deflateInit2(&s, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return NULL;
	size_t cap = deflateBound(&s, len) + 4;
	uint8_t *o = malloc(cap);
	s.next_in = (Bytef *)src;
	s.avail_in = (uInt)len;
	s.next_out = o;
	s.avail_out = (uInt)cap;
	if (!o || deflate(&s, Z_FINISH) != Z_STREAM_END) {
		deflateEnd(&s);
		free(o);
		return NULL;
	}
	*outlen = s.total_out;
	deflateEnd(&s);
	return o;
}

static uint8_t *lzma_buf(bool xz, const uint8_t *src, size_t len, size_t *outlen)
{
	size_t cap = len + len / 2 + 4096;
	uint8_t *o = malloc(cap);
	if (!o)
		return NULL;
	lzma_stream s = LZMA_STREAM_INIT;
	lzma_ret r;
	if (xz) {
		r = lzma_easy_encoder(&s, 6, LZMA_CHECK_CRC32);
	} else {
		lzma_options_lzma opt;
		lzma_lzma_preset(&opt, 6);
		r = lzma_alone_encoder(&s, &opt);
	}
	if (r != LZMA_OK) {
		free(o);
		return NULL;
	}
	s.next_in = src;
	s.avail_in = len;
	s.next_out = o;
	s.avail_out = cap;
	r = lzma_code(&s, LZMA_FINISH);
	*outlen = cap - s.avail_out;
	lzma_end(&s);
	if (r != LZMA_STREAM_END) {
		free(o);
		return NULL;
	}
	return o;
}

static uint8_t *lz4_legacy_buf(const uint8_t *src, size_t len, size_t *outlen)
{
	const size_t chunk = (size_t)8 << 20;
	size_t nchunks = len / chunk + 1;
	size_t cap = 4 + nchunks * (4 + (size_t)LZ4_compressBound((int)chunk));
	uint8_t *o = malloc(cap);
	if (!o)
		return NULL;
	put32(o, 0x184c2102u);
	size_t pos = 4;
	for (size_t off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;
		int c = LZ4_compress_default((const char *)src + off, (char *)o + pos + 4, (int)n,
					     LZ4_compressBound((int)n));
		if (c <= 0) {
			free(o);
			return NULL;
		}
		put32(o + pos, (uint32_t)c);
		pos += 4 + (size_t)c;
	}
	*outlen = pos;
	return o;
}

static uint8_t *zstd_buf(const uint8_t *src, size_t len, size_t *outlen)
{
	size_t cap = ZSTD_compressBound(len);
	uint8_t *o = malloc(cap);
	if (!o)
		return NULL;
	/* With a content checksum, as the zstd CLI the kernel build uses. */
	ZSTD_CCtx *c = ZSTD_createCCtx();
	size_t r = c ? ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1) : 1;
	if (c && !ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 19);
	if (c && !ZSTD_isError(r))
		r = ZSTD_compress2(c, o, cap, src, len);
	ZSTD_freeCCtx(c);
	if (!c || ZSTD_isError(r)) {
		free(o);
		return NULL;
	}
	*outlen = r;
	return o;
}

static uint8_t *bzip2_buf(const uint8_t *src, size_t len, size_t *outlen)
{
	unsigned cap = (unsigned)(len + len / 100 + 600);
	uint8_t *o = malloc(cap);
	if (!o)
		return NULL;
	if (BZ2_bzBuffToBuffCompress((char *)o, &cap, (char *)src, (unsigned)len, 9, 0, 0) != BZ_OK) {
		free(o);
		return NULL;
	}
	*outlen = cap;
	return o;
}

uint8_t *ksynth_compress(enum vmi_kimage_comp comp, const uint8_t *src, size_t len,
			 size_t *outlen)
{
	uint8_t *c = NULL;
	size_t n = 0;
	switch (comp) {
	case VMI_KIMAGE_COMP_GZIP: c = gzip_buf(src, len, &n); break;
	case VMI_KIMAGE_COMP_XZ: c = lzma_buf(true, src, len, &n); break;
	case VMI_KIMAGE_COMP_LZMA: c = lzma_buf(false, src, len, &n); break;
	case VMI_KIMAGE_COMP_LZ4: c = lz4_legacy_buf(src, len, &n); break;
	case VMI_KIMAGE_COMP_ZSTD: c = zstd_buf(src, len, &n); break;
	case VMI_KIMAGE_COMP_BZIP2: c = bzip2_buf(src, len, &n); break;
	default: return NULL;
	}
	if (!c)
		return NULL;
	uint8_t *o = realloc(c, n + 4);
	if (!o) {
		free(c);
		return NULL;
	}
	put32(o + n, (uint32_t)len); /* the kernel build's size_append */
	*outlen = n + 4;
	return o;
}

uint8_t *ksynth_bzimage(const uint8_t *payload, size_t plen, uint16_t version, size_t *outlen)
{
	const unsigned setup_sects = 4;
	const size_t setup = (setup_sects + 1) * 512, poff = 0x180;
	size_t len = setup + poff + plen + 0x40;
	uint8_t *b = calloc(1, len);
	if (!b)
		return NULL;
	b[0x1f1] = (uint8_t)setup_sects;
	put16(b + 0x1fe, 0xaa55);
	memcpy(b + 0x202, "HdrS", 4);
	put16(b + 0x206, version);
	put32(b + 0x248, (uint32_t)poff);
	put32(b + 0x24c, (uint32_t)plen);
	memcpy(b + setup + poff, payload, plen);
	*outlen = len;
	return b;
}

/* ---- kallsyms ---- */

struct blob {
	uint8_t *p;
	size_t len, cap;
};

static int blob_room(struct blob *b, size_t n)
{
	if (b->cap - b->len >= n)
		return 0;
	size_t c = b->cap ? b->cap : 4096;
	while (c - b->len < n)
		c *= 2;
	uint8_t *q = realloc(b->p, c);
	if (!q)
		return -1;
	memset(q + b->cap, 0, c - b->cap);
	b->p = q;
	b->cap = c;
	return 0;
}

static size_t blob_put(struct blob *b, const void *d, size_t n)
{
	if (blob_room(b, n))
		return SIZE_MAX;
	size_t at = b->len;
	memcpy(b->p + at, d, n);
	b->len += n;
	return at;
}

static void blob_align8(struct blob *b)
{
	static const uint8_t z[8];
	if (b->len % 8)
		blob_put(b, z, 8 - b->len % 8);
}

/* Token i: a single printable char for 0x21..0x7e, a two-char string
 * otherwise (never used by the encoder, but present as a real table is). */
static size_t token_of(int i, char *out)
{
	if (i >= 0x21 && i <= 0x7e) {
		out[0] = (char)i;
		return 1;
	}
	out[0] = (char)('a' + i % 26);
	out[1] = (char)('A' + i / 26 % 26);
	return 2;
}

static void put_addresses(struct blob *b, const struct ksynth_sym *syms, size_t n, bool absolute,
			  uint64_t base)
{
	blob_align8(b);
	for (size_t i = 0; i < n; i++) {
		uint8_t v[8];
		if (absolute) {
			put64(v, syms[i].addr);
			blob_put(b, v, 8);
		} else {
			/* ABSOLUTE_PERCPU encoding: kernel addresses as base - 1 - off. */
			int32_t o = syms[i].addr >= base ? (int32_t)(-(int64_t)(syms[i].addr - base) - 1)
							 : (int32_t)syms[i].addr;
			put32(v, (uint32_t)o);
			blob_put(b, v, 4);
		}
	}
	if (!absolute) {
		uint8_t v[8];
		blob_align8(b);
		put64(v, base);
		blob_put(b, v, 8);
	}
}

static int cmp_idx_name(const void *a, const void *b, void *ctx)
{
	const struct ksynth_sym *s = ctx;
	return strcmp(s[*(const uint32_t *)a].name, s[*(const uint32_t *)b].name);
}

uint8_t *ksynth_kallsyms(const struct ksynth_sym *syms, size_t n, enum ksynth_layout layout,
			 uint64_t relative_base, size_t lead, size_t *outlen)
{
	struct blob b = {0};
	if (blob_room(&b, lead + 8))
		return NULL;
	for (size_t i = 0; i < lead; i++)
		b.p[i] = (uint8_t)(i * 13 + 1);
	b.len = lead;
	bool absolute = layout == KSYNTH_ABSOLUTE;
	if (layout != KSYNTH_NEW_SEQS)
		put_addresses(&b, syms, n, absolute, relative_base);
	blob_align8(&b);
	uint8_t v[8] = {0};
	put32(v, (uint32_t)n);
	blob_put(&b, v, 4);
	blob_align8(&b);
	size_t names = b.len;
	size_t m = (n + 255) / 256;
	uint32_t *markers = calloc(m ? m : 1, sizeof(*markers));
	if (!markers) {
		free(b.p);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		if (i % 256 == 0)
			markers[i / 256] = (uint32_t)(b.len - names);
		size_t nl = strlen(syms[i].name) + 1;
		uint8_t hdr[2];
		size_t hl = 1;
		if (nl < 0x80) {
			hdr[0] = (uint8_t)nl;
		} else {
			hdr[0] = (uint8_t)(0x80 | (nl & 0x7f));
			hdr[1] = (uint8_t)(nl >> 7);
			hl = 2;
		}
		blob_put(&b, hdr, hl);
		blob_put(&b, &syms[i].type, 1);
		blob_put(&b, syms[i].name, nl - 1);
	}
	blob_align8(&b);
	for (size_t i = 0; i < m; i++) {
		put32(v, markers[i]);
		blob_put(&b, v, 4);
	}
	free(markers);
	blob_align8(&b);
	if (layout == KSYNTH_OLD_SEQS || layout == KSYNTH_NEW_SEQS) {
		uint32_t *idx = malloc((n ? n : 1) * sizeof(*idx));
		if (!idx) {
			free(b.p);
			return NULL;
		}
		for (size_t i = 0; i < n; i++)
			idx[i] = (uint32_t)i;
		qsort_r(idx, n, sizeof(*idx), cmp_idx_name, (void *)syms);
		for (size_t i = 0; i < n; i++) {
			uint8_t s3[3] = {(uint8_t)(idx[i] >> 16), (uint8_t)(idx[i] >> 8), (uint8_t)idx[i]};
			blob_put(&b, s3, 3);
		}
		free(idx);
		blob_align8(&b);
	}
	size_t table = b.len;
	uint16_t tidx[256];
	for (int i = 0; i < 256; i++) {
		char t[3];
		size_t tl = token_of(i, t);
		tidx[i] = (uint16_t)(b.len - table);
		blob_put(&b, t, tl);
		blob_put(&b, "", 1);
	}
	blob_align8(&b);
	for (int i = 0; i < 256; i++) {
		put16(v, tidx[i]);
		blob_put(&b, v, 2);
	}
	if (layout == KSYNTH_NEW_SEQS)
		put_addresses(&b, syms, n, false, relative_base);
	blob_put(&b, "\0\0\0\0\0\0\0\0trailing", 16);
	if (!b.p)
		return NULL;
	*outlen = b.len;
	return b.p;
}

size_t ksynth_note_build_id(const uint8_t *elf, size_t len, uint8_t id[20])
{
	static const uint8_t pat[] = {4, 0, 0, 0, 20, 0, 0, 0, 3, 0, 0, 0, 'G', 'N', 'U', 0};
	Elf64_Ehdr eh;
	if (len < sizeof(eh))
		return 0;
	memcpy(&eh, elf, sizeof(eh));
	if (eh.e_shoff > len || (size_t)eh.e_shnum * sizeof(Elf64_Shdr) > len - eh.e_shoff)
		return 0;
	size_t hits = 0;
	for (size_t i = 0; i < eh.e_shnum; i++) {
		Elf64_Shdr sh;
		memcpy(&sh, elf + eh.e_shoff + i * sizeof(sh), sizeof(sh));
		if (sh.sh_type != SHT_NOTE || sh.sh_offset > len || sh.sh_size > len - sh.sh_offset)
			continue;
		for (size_t o = 0; o + sizeof(pat) + 20 <= sh.sh_size; o += 4)
			if (memcmp(elf + sh.sh_offset + o, pat, sizeof(pat)) == 0) {
				if (!hits)
					memcpy(id, elf + sh.sh_offset + o + sizeof(pat), 20);
				hits++;
			}
	}
	return hits;
}
