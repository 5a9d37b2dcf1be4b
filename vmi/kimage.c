/* bzImage -> ELF vmlinux extraction. See kimage.h. */
#include "vmi/kimage.h"

#include <bzlib.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <lz4.h>
#include <lzma.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "vmi/err.h"

/* Offsets in the x86 boot protocol setup header (Documentation/arch/x86/boot.rst). */
#define HDR_SETUP_SECTS 0x1f1
#define HDR_BOOT_FLAG 0x1fe
#define HDR_MAGIC 0x202
#define HDR_VERSION 0x206
#define HDR_PAYLOAD_OFFSET 0x248
#define HDR_PAYLOAD_LENGTH 0x24c
#define HDR_END 0x250

#define LZ4_LEGACY_MAGIC 0x184c2102u
#define LZ4_LEGACY_BLOCK ((size_t)8 << 20) /* uncompressed bytes per block */
#define DECODER_MEMLIMIT ((uint64_t)256 << 20)

/* Errors: a code returned, the message into err (vmi/err.h). */
#define fail(...) vmi_seterr(__VA_ARGS__)

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

const char *vmi_kimage_strerror(int code)
{
	switch (code) {
	case VMI_KIMAGE_OK: return "ok";
	case VMI_KIMAGE_E_ARG: return "invalid argument";
	case VMI_KIMAGE_E_TOO_SMALL: return "image too small";
	case VMI_KIMAGE_E_NOT_BZIMAGE: return "not a bzImage or ELF";
	case VMI_KIMAGE_E_OLD_PROTOCOL: return "boot protocol too old";
	case VMI_KIMAGE_E_BAD_SETUP: return "bad setup_sects";
	case VMI_KIMAGE_E_BAD_PAYLOAD: return "payload outside image";
	case VMI_KIMAGE_E_UNKNOWN_COMPRESSION: return "unknown payload compression";
	case VMI_KIMAGE_E_UNSUPPORTED_COMPRESSION: return "unsupported payload compression";
	case VMI_KIMAGE_E_CORRUPT: return "corrupt compressed data";
	case VMI_KIMAGE_E_TRUNCATED: return "truncated compressed data";
	case VMI_KIMAGE_E_TOO_LARGE: return "decompressed size exceeds cap";
	case VMI_KIMAGE_E_SIZE_MISMATCH: return "decompressed size differs from size trailer";
	case VMI_KIMAGE_E_NOT_ELF: return "not an ELF64 image";
	case VMI_KIMAGE_E_WRONG_ARCH: return "ELF is not x86-64";
	case VMI_KIMAGE_E_NOMEM: return "out of memory";
	case VMI_KIMAGE_E_IO: return "I/O error";
	default: return "unknown error";
	}
}

const char *vmi_kimage_comp_name(enum vmi_kimage_comp c)
{
	switch (c) {
	case VMI_KIMAGE_COMP_NONE: return "none";
	case VMI_KIMAGE_COMP_GZIP: return "gzip";
	case VMI_KIMAGE_COMP_XZ: return "xz";
	case VMI_KIMAGE_COMP_LZMA: return "lzma";
	case VMI_KIMAGE_COMP_LZ4: return "lz4";
	case VMI_KIMAGE_COMP_ZSTD: return "zstd";
	case VMI_KIMAGE_COMP_BZIP2: return "bzip2";
	case VMI_KIMAGE_COMP_LZO: return "lzo";
	default: return "unknown";
	}
}

enum vmi_kimage_comp vmi_kimage_detect(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	if (!p)
		return VMI_KIMAGE_COMP_UNKNOWN;
	if (len >= 4 && memcmp(p, ELFMAG, SELFMAG) == 0)
		return VMI_KIMAGE_COMP_NONE;
	if (len >= 3 && p[0] == 0x1f && (p[1] == 0x8b || p[1] == 0x9e) && p[2] == 8)
		return VMI_KIMAGE_COMP_GZIP;
	if (len >= 6 && memcmp(p, "\xfd" "7zXZ\0", 6) == 0)
		return VMI_KIMAGE_COMP_XZ;
	if (len >= 4 && le32(p) == LZ4_LEGACY_MAGIC)
		return VMI_KIMAGE_COMP_LZ4;
	if (len >= 4 && le32(p) == 0xfd2fb528u)
		return VMI_KIMAGE_COMP_ZSTD;
	if (len >= 4 && p[0] == 'B' && p[1] == 'Z' && p[2] == 'h' && p[3] >= '1' && p[3] <= '9')
		return VMI_KIMAGE_COMP_BZIP2;
	if (len >= 4 && memcmp(p, "\x89LZO", 4) == 0)
		return VMI_KIMAGE_COMP_LZO;
	/* lzma-alone: properties byte (lc/lp/pb; the kernel's is 0x5d) then a
	 * little-endian dictionary size; the kernel's starts 5d 00 00. */
	if (len >= 13 && p[0] < 225 && p[0] == 0x5d && p[1] == 0 && p[2] == 0)
		return VMI_KIMAGE_COMP_LZMA;
	return VMI_KIMAGE_COMP_UNKNOWN;
}

int vmi_kimage_parse(const void *img, size_t len, struct vmi_kimage_info *info, char *err,
		     size_t errlen)
{
	const uint8_t *p = img;
	if (!p || !info)
		return fail(err, errlen, VMI_KIMAGE_E_ARG, "NULL argument");
	memset(info, 0, sizeof(*info));
	if (len < HDR_END)
		return fail(err, errlen, VMI_KIMAGE_E_TOO_SMALL,
			    "image is %zu bytes, a setup header needs %d", len, HDR_END);
	if (memcmp(p + HDR_MAGIC, "HdrS", 4) != 0 || le16(p + HDR_BOOT_FLAG) != 0xaa55)
		return fail(err, errlen, VMI_KIMAGE_E_NOT_BZIMAGE,
			    "no \"HdrS\" magic / 0xAA55 boot flag at the setup header");
	info->version = le16(p + HDR_VERSION);
	if (info->version < 0x0208)
		return fail(err, errlen, VMI_KIMAGE_E_OLD_PROTOCOL,
			    "boot protocol %u.%02u < 2.08 has no payload fields",
			    info->version >> 8, info->version & 0xff);
	info->setup_sects = p[HDR_SETUP_SECTS] ? p[HDR_SETUP_SECTS] : 4;
	size_t setup_size = ((size_t)info->setup_sects + 1) * 512;
	if (setup_size >= len)
		return fail(err, errlen, VMI_KIMAGE_E_BAD_SETUP,
			    "setup_sects %u (%zu bytes) reaches past the image end (%zu)",
			    info->setup_sects, setup_size, len);
	uint32_t poff = le32(p + HDR_PAYLOAD_OFFSET), plen = le32(p + HDR_PAYLOAD_LENGTH);
	size_t pm_len = len - setup_size;
	if (plen == 0 || poff > pm_len || plen > pm_len - poff)
		return fail(err, errlen, VMI_KIMAGE_E_BAD_PAYLOAD,
			    "payload [%#x, +%#x) outside protected-mode code of %zu bytes", poff,
			    plen, pm_len);
	info->payload_off = setup_size + poff;
	info->payload_len = plen;
	info->comp = vmi_kimage_detect(p + info->payload_off, plen);
	return VMI_KIMAGE_OK;
}

int vmi_kimage_check_elf(const void *buf, size_t len, char *err, size_t errlen)
{
	const uint8_t *p = buf;
	Elf64_Ehdr eh;
	if (!p || len < sizeof(eh) || memcmp(p, ELFMAG, SELFMAG) != 0)
		return fail(err, errlen, VMI_KIMAGE_E_NOT_ELF, "no ELF magic");
	memcpy(&eh, p, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_VERSION] != EV_CURRENT)
		return fail(err, errlen, VMI_KIMAGE_E_NOT_ELF, "not a version-1 ELF64 header");
	if (eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_X86_64)
		return fail(err, errlen, VMI_KIMAGE_E_WRONG_ARCH,
			    "ELF data %u machine %u, want little-endian x86-64",
			    eh.e_ident[EI_DATA], eh.e_machine);
	if (eh.e_ehsize < sizeof(eh))
		return fail(err, errlen, VMI_KIMAGE_E_NOT_ELF, "e_ehsize %u", eh.e_ehsize);
	if (eh.e_phnum) {
		if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phoff > len ||
		    (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > len - eh.e_phoff)
			return fail(err, errlen, VMI_KIMAGE_E_NOT_ELF,
				    "program headers outside the image");
	}
	if (eh.e_shnum) {
		if (eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shoff > len ||
		    (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr) > len - eh.e_shoff)
			return fail(err, errlen, VMI_KIMAGE_E_NOT_ELF,
				    "section headers outside the image");
	}
	return VMI_KIMAGE_OK;
}

/* ---- growable, capped output buffer ---- */

struct outbuf {
	uint8_t *p;
	size_t len, alloc;
	size_t cap; /* maximum len; the buffer may hold cap + 1 to detect overflow */
};

/* Make room for at least `want` free bytes (fewer if the cap stops us, but
 * always at least one byte past the cap so an overflow is detectable). */
static int outbuf_reserve(struct outbuf *o, size_t want)
{
	size_t hard = o->cap + 1;
	if (o->alloc - o->len >= want || o->alloc >= hard)
		return o->alloc > o->len ? 0 : VMI_KIMAGE_E_TOO_LARGE;
	size_t need = o->len + want;
	if (need < o->len || need > hard)
		need = hard;
	size_t n = o->alloc ? o->alloc : 1 << 20;
	while (n < need)
		n = n > hard / 2 ? hard : n * 2;
	if (n > hard)
		n = hard;
	uint8_t *q = realloc(o->p, n);
	if (!q)
		return VMI_KIMAGE_E_NOMEM;
	o->p = q;
	o->alloc = n;
	return 0;
}

#define STREAM_CHUNK ((size_t)1 << 20)

static int too_large(char *err, size_t errlen, size_t cap)
{
	return fail(err, errlen, VMI_KIMAGE_E_TOO_LARGE, "decompressed data exceeds cap of %zu bytes",
		    cap);
}

static int dec_gzip(const uint8_t *in, size_t inlen, struct outbuf *o, char *err, size_t errlen)
{
	z_stream s;
	memset(&s, 0, sizeof(s));
	if (inflateInit2(&s, 16 + MAX_WBITS) != Z_OK)
		return fail(err, errlen, VMI_KIMAGE_E_NOMEM, "inflateInit2 failed");
	size_t done = 0;
	int rc = VMI_KIMAGE_OK;
	for (;;) {
		int r = outbuf_reserve(o, STREAM_CHUNK);
		if (r) {
			rc = r == VMI_KIMAGE_E_TOO_LARGE ? too_large(err, errlen, o->cap)
							 : fail(err, errlen, r, "out of memory");
			break;
		}
		size_t in_step = inlen - done > UINT32_MAX ? UINT32_MAX : inlen - done;
		size_t out_step = o->alloc - o->len > UINT32_MAX ? UINT32_MAX : o->alloc - o->len;
		s.next_in = (Bytef *)(in + done);
		s.avail_in = (uInt)in_step;
		s.next_out = o->p + o->len;
		s.avail_out = (uInt)out_step;
		int zr = inflate(&s, Z_NO_FLUSH);
		done += in_step - s.avail_in;
		o->len += out_step - s.avail_out;
		if (o->len > o->cap) {
			rc = too_large(err, errlen, o->cap);
			break;
		}
		if (zr == Z_STREAM_END)
			break;
		if (zr == Z_OK)
			continue;
		if (zr == Z_BUF_ERROR && done == inlen) {
			rc = fail(err, errlen, VMI_KIMAGE_E_TRUNCATED, "gzip stream ends early");
			break;
		}
		if (zr == Z_MEM_ERROR)
			rc = fail(err, errlen, VMI_KIMAGE_E_NOMEM, "zlib out of memory");
		else
			rc = fail(err, errlen, VMI_KIMAGE_E_CORRUPT, "gzip: %s",
				  s.msg ? s.msg : "corrupt data");
		break;
	}
	inflateEnd(&s);
	return rc;
}

static int dec_lzma_common(lzma_stream *s, const uint8_t *in, size_t inlen, struct outbuf *o,
			   const char *what, char *err, size_t errlen)
{
	s->next_in = in;
	s->avail_in = inlen;
	int rc = VMI_KIMAGE_OK;
	for (;;) {
		int r = outbuf_reserve(o, STREAM_CHUNK);
		if (r) {
			rc = r == VMI_KIMAGE_E_TOO_LARGE ? too_large(err, errlen, o->cap)
							 : fail(err, errlen, r, "out of memory");
			break;
		}
		size_t avail = o->alloc - o->len;
		s->next_out = o->p + o->len;
		s->avail_out = avail;
		lzma_ret lr = lzma_code(s, s->avail_in ? LZMA_RUN : LZMA_FINISH);
		o->len += avail - s->avail_out;
		if (o->len > o->cap) {
			rc = too_large(err, errlen, o->cap);
			break;
		}
		if (lr == LZMA_STREAM_END)
			break;
		if (lr == LZMA_OK)
			continue;
		if (lr == LZMA_BUF_ERROR)
			rc = fail(err, errlen, VMI_KIMAGE_E_TRUNCATED, "%s stream ends early", what);
		else if (lr == LZMA_MEM_ERROR || lr == LZMA_MEMLIMIT_ERROR)
			rc = fail(err, errlen, VMI_KIMAGE_E_NOMEM, "%s decoder needs too much memory",
				  what);
		else
			rc = fail(err, errlen, VMI_KIMAGE_E_CORRUPT, "%s: corrupt data (lzma_ret %d)",
				  what, (int)lr);
		break;
	}
	lzma_end(s);
	return rc;
}

static int dec_xz(const uint8_t *in, size_t inlen, struct outbuf *o, char *err, size_t errlen)
{
	lzma_stream s = LZMA_STREAM_INIT;
	if (lzma_stream_decoder(&s, DECODER_MEMLIMIT, 0) != LZMA_OK)
		return fail(err, errlen, VMI_KIMAGE_E_NOMEM, "lzma_stream_decoder failed");
	return dec_lzma_common(&s, in, inlen, o, "xz", err, errlen);
}

static int dec_lzma(const uint8_t *in, size_t inlen, struct outbuf *o, char *err, size_t errlen)
{
	lzma_stream s = LZMA_STREAM_INIT;
	if (lzma_alone_decoder(&s, DECODER_MEMLIMIT) != LZMA_OK)
		return fail(err, errlen, VMI_KIMAGE_E_NOMEM, "lzma_alone_decoder failed");
	return dec_lzma_common(&s, in, inlen, o, "lzma", err, errlen);
}

static int dec_bzip2(const uint8_t *in, size_t inlen, struct outbuf *o, char *err, size_t errlen)
{
	bz_stream s;
	memset(&s, 0, sizeof(s));
	if (BZ2_bzDecompressInit(&s, 0, 0) != BZ_OK)
		return fail(err, errlen, VMI_KIMAGE_E_NOMEM, "BZ2_bzDecompressInit failed");
	size_t done = 0;
	int rc = VMI_KIMAGE_OK;
	for (;;) {
		int r = outbuf_reserve(o, STREAM_CHUNK);
		if (r) {
			rc = r == VMI_KIMAGE_E_TOO_LARGE ? too_large(err, errlen, o->cap)
							 : fail(err, errlen, r, "out of memory");
			break;
		}
		size_t in_step = inlen - done > UINT32_MAX ? UINT32_MAX : inlen - done;
		size_t out_step = o->alloc - o->len > UINT32_MAX ? UINT32_MAX : o->alloc - o->len;
		s.next_in = (char *)(in + done);
		s.avail_in = (unsigned)in_step;
		s.next_out = (char *)(o->p + o->len);
		s.avail_out = (unsigned)out_step;
		int br = BZ2_bzDecompress(&s);
		done += in_step - s.avail_in;
		o->len += out_step - s.avail_out;
		if (o->len > o->cap) {
			rc = too_large(err, errlen, o->cap);
			break;
		}
		if (br == BZ_STREAM_END)
			break;
		if (br == BZ_OK) {
			/* No progress possible with all input consumed: truncated. */
			if (done == inlen && s.avail_out != 0) {
				rc = fail(err, errlen, VMI_KIMAGE_E_TRUNCATED, "bzip2 stream ends early");
				break;
			}
			continue;
		}
		if (br == BZ_MEM_ERROR)
			rc = fail(err, errlen, VMI_KIMAGE_E_NOMEM, "bzip2 out of memory");
		else
			rc = fail(err, errlen, VMI_KIMAGE_E_CORRUPT, "bzip2: corrupt data (%d)", br);
		break;
	}
	BZ2_bzDecompressEnd(&s);
	return rc;
}

static int dec_zstd(const uint8_t *in, size_t inlen, struct outbuf *o, char *err, size_t errlen)
{
	ZSTD_DCtx *d = ZSTD_createDCtx();
	if (!d)
		return fail(err, errlen, VMI_KIMAGE_E_NOMEM, "ZSTD_createDCtx failed");
	/* The kernel compresses with -22 --ultra: window up to 2^27. */
	ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, 27);
	ZSTD_inBuffer ib = {in, inlen, 0};
	int rc = VMI_KIMAGE_OK;
	for (;;) {
		int r = outbuf_reserve(o, STREAM_CHUNK);
		if (r) {
			rc = r == VMI_KIMAGE_E_TOO_LARGE ? too_large(err, errlen, o->cap)
							 : fail(err, errlen, r, "out of memory");
			break;
		}
		ZSTD_outBuffer ob = {o->p + o->len, o->alloc - o->len, 0};
		size_t zr = ZSTD_decompressStream(d, &ob, &ib);
		o->len += ob.pos;
		if (ZSTD_isError(zr)) {
			rc = fail(err, errlen, VMI_KIMAGE_E_CORRUPT, "zstd: %s", ZSTD_getErrorName(zr));
			break;
		}
		if (o->len > o->cap) {
			rc = too_large(err, errlen, o->cap);
			break;
		}
		if (zr == 0)
			break; /* frame complete */
		if (ib.pos == ib.size && ob.pos < ob.size) {
			rc = fail(err, errlen, VMI_KIMAGE_E_TRUNCATED, "zstd stream ends early");
			break;
		}
	}
	ZSTD_freeDCtx(d);
	return rc;
}

/* LZ4 legacy frame: magic, then blocks of [le32 compressed size][data], each
 * decompressing to at most 8 MiB. A repeated magic starts a new frame. The
 * kernel build appends a le32 size trailer, so `trailer` bytes at the very
 * end are not a block. */
static int dec_lz4(const uint8_t *in, size_t inlen, size_t trailer, struct outbuf *o, char *err,
		   size_t errlen)
{
	size_t pos = 4, end = inlen - trailer;
	size_t blocks = 0;
	while (pos < end) {
		if (end - pos < 4)
			return fail(err, errlen, VMI_KIMAGE_E_TRUNCATED,
				    "lz4: %zu stray bytes before the end", end - pos);
		uint32_t bsz = le32(in + pos);
		pos += 4;
		if (bsz == LZ4_LEGACY_MAGIC)
			continue;
		if (bsz == 0 || bsz > (uint32_t)LZ4_compressBound((int)LZ4_LEGACY_BLOCK))
			return fail(err, errlen, VMI_KIMAGE_E_CORRUPT,
				    "lz4: block %zu size %u out of range", blocks, bsz);
		if (bsz > end - pos)
			return fail(err, errlen, VMI_KIMAGE_E_TRUNCATED,
				    "lz4: block %zu needs %u bytes, %zu left", blocks, bsz, end - pos);
		if (o->len >= o->cap + 1)
			return too_large(err, errlen, o->cap);
		/* Room for a whole block, even past the cap: LZ4 cannot tell "output
		 * full" from corrupt, so decode fully, then compare with the cap. */
		if (o->alloc - o->len < LZ4_LEGACY_BLOCK) {
			size_t n = o->alloc ? o->alloc : LZ4_LEGACY_BLOCK;
			while (n - o->len < LZ4_LEGACY_BLOCK)
				n *= 2;
			uint8_t *q = realloc(o->p, n);
			if (!q)
				return fail(err, errlen, VMI_KIMAGE_E_NOMEM, "out of memory");
			o->p = q;
			o->alloc = n;
		}
		int n = LZ4_decompress_safe((const char *)in + pos, (char *)o->p + o->len, (int)bsz,
					    (int)LZ4_LEGACY_BLOCK);
		if (n < 0)
			return fail(err, errlen, VMI_KIMAGE_E_CORRUPT, "lz4: block %zu corrupt", blocks);
		o->len += (size_t)n;
		if (o->len > o->cap)
			return too_large(err, errlen, o->cap);
		pos += bsz;
		blocks++;
	}
	if (!blocks)
		return fail(err, errlen, VMI_KIMAGE_E_TRUNCATED, "lz4: no data blocks");
	return VMI_KIMAGE_OK;
}

static int decompress(enum vmi_kimage_comp comp, const uint8_t *in, size_t inlen, size_t cap,
		      void **out, size_t *outlen, char *err, size_t errlen)
{
	struct outbuf o = {NULL, 0, 0, cap};
	/* Every kernel payload ends with the le32 uncompressed size. */
	uint32_t trailer = inlen >= 8 ? le32(in + inlen - 4) : 0;
	/* Pre-size from the trailer only when plausible (kernels compress
	 * about 3-5x), so a lying trailer cannot force a huge allocation. */
	if (trailer && trailer <= cap && trailer / 32 <= inlen) {
		int r = outbuf_reserve(&o, (size_t)trailer + 1);
		if (r) {
			free(o.p);
			return fail(err, errlen, r, "out of memory");
		}
	}
	int rc;
	switch (comp) {
	case VMI_KIMAGE_COMP_GZIP: rc = dec_gzip(in, inlen, &o, err, errlen); break;
	case VMI_KIMAGE_COMP_XZ: rc = dec_xz(in, inlen, &o, err, errlen); break;
	case VMI_KIMAGE_COMP_LZMA: rc = dec_lzma(in, inlen, &o, err, errlen); break;
	case VMI_KIMAGE_COMP_BZIP2: rc = dec_bzip2(in, inlen, &o, err, errlen); break;
	case VMI_KIMAGE_COMP_ZSTD: rc = dec_zstd(in, inlen, &o, err, errlen); break;
	case VMI_KIMAGE_COMP_LZ4:
		rc = inlen >= 8 ? dec_lz4(in, inlen, 4, &o, err, errlen)
				: fail(err, errlen, VMI_KIMAGE_E_TRUNCATED, "lz4 payload too short");
		break;
	case VMI_KIMAGE_COMP_LZO:
		rc = fail(err, errlen, VMI_KIMAGE_E_UNSUPPORTED_COMPRESSION,
			  "LZO payloads are not supported (no decoder library)");
		break;
	default:
		rc = fail(err, errlen, VMI_KIMAGE_E_UNKNOWN_COMPRESSION,
			  "unknown payload magic %02x %02x %02x %02x", inlen > 0 ? in[0] : 0,
			  inlen > 1 ? in[1] : 0, inlen > 2 ? in[2] : 0, inlen > 3 ? in[3] : 0);
		break;
	}
	if (rc == VMI_KIMAGE_OK && o.len != trailer)
		rc = fail(err, errlen, VMI_KIMAGE_E_SIZE_MISMATCH,
			  "%s payload decompressed to %zu bytes, size trailer says %u",
			  vmi_kimage_comp_name(comp), o.len, trailer);
	if (rc != VMI_KIMAGE_OK) {
		free(o.p);
		return rc;
	}
	/* Trim the slack; keep the original block if shrinking fails. */
	uint8_t *q = o.len ? realloc(o.p, o.len) : o.p;
	*out = q ? q : o.p;
	*outlen = o.len;
	return VMI_KIMAGE_OK;
}

int vmi_kimage_extract_capped(const void *img, size_t len, size_t cap, void **elf_out,
			      size_t *elf_len, char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	if (!img || !elf_out || !elf_len)
		return fail(err, errlen, VMI_KIMAGE_E_ARG, "NULL argument");
	*elf_out = NULL;
	*elf_len = 0;
	const uint8_t *p = img;
	if (len >= SELFMAG && memcmp(p, ELFMAG, SELFMAG) == 0) {
		int rc = vmi_kimage_check_elf(p, len, err, errlen);
		if (rc)
			return rc;
		if (len > cap)
			return too_large(err, errlen, cap);
		void *copy = malloc(len);
		if (!copy)
			return fail(err, errlen, VMI_KIMAGE_E_NOMEM, "out of memory");
		memcpy(copy, p, len);
		*elf_out = copy;
		*elf_len = len;
		return VMI_KIMAGE_OK;
	}
	struct vmi_kimage_info info;
	int rc = vmi_kimage_parse(p, len, &info, err, errlen);
	if (rc)
		return rc;
	void *out = NULL;
	size_t outlen = 0;
	rc = decompress(info.comp, p + info.payload_off, info.payload_len, cap, &out, &outlen, err,
			errlen);
	if (rc)
		return rc;
	rc = vmi_kimage_check_elf(out, outlen, err, errlen);
	if (rc) {
		free(out);
		return rc;
	}
	*elf_out = out;
	*elf_len = outlen;
	return VMI_KIMAGE_OK;
}

int vmi_kimage_extract(const void *img, size_t len, void **elf_out, size_t *elf_len, char *err,
		       size_t errlen)
{
	return vmi_kimage_extract_capped(img, len, VMI_KIMAGE_DEFAULT_CAP, elf_out, elf_len, err,
					 errlen);
}

int vmi_kimage_read_file(const char *path, size_t max, void **buf, size_t *len, char *err,
			 size_t errlen)
{
	if (!path || !buf || !len)
		return fail(err, errlen, VMI_KIMAGE_E_ARG, "NULL argument");
	*buf = NULL;
	*len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(err, errlen, VMI_KIMAGE_E_IO, "open %s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail(err, errlen, VMI_KIMAGE_E_IO, "%s: not a regular file", path);
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return fail(err, errlen, VMI_KIMAGE_E_TOO_LARGE, "%s: %lld bytes exceeds %zu", path,
			    (long long)st.st_size, max);
	}
	size_t n = (size_t)st.st_size;
	uint8_t *b = malloc(n ? n : 1);
	if (!b) {
		close(fd);
		return fail(err, errlen, VMI_KIMAGE_E_NOMEM, "out of memory");
	}
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, b + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int e = r < 0 ? errno : EIO;
			free(b);
			close(fd);
			return fail(err, errlen, VMI_KIMAGE_E_IO, "read %s: %s", path,
				    r < 0 ? strerror(e) : "file shrank");
		}
		got += (size_t)r;
	}
	close(fd);
	*buf = b;
	*len = n;
	return VMI_KIMAGE_OK;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int vmi_kimage_extract_file(const char *path, const char *out_path, char *err, size_t errlen)
{
	if (!path || !out_path)
		return fail(err, errlen, VMI_KIMAGE_E_ARG, "NULL argument");
	void *img;
	size_t len;
	int rc = vmi_kimage_read_file(path, VMI_KIMAGE_DEFAULT_CAP, &img, &len, err, errlen);
	if (rc)
		return rc;
	void *elf;
	size_t elf_len;
	rc = vmi_kimage_extract(img, len, &elf, &elf_len, err, errlen);
	free(img);
	if (rc)
		return rc;
	size_t tl = strlen(out_path) + 16;
	char *tmp = malloc(tl);
	if (!tmp) {
		free(elf);
		return fail(err, errlen, VMI_KIMAGE_E_NOMEM, "out of memory");
	}
	snprintf(tmp, tl, "%s.tmpXXXXXX", out_path);
	int fd = mkstemp(tmp);
	if (fd < 0) {
		rc = fail(err, errlen, VMI_KIMAGE_E_IO, "create %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (write_all(fd, elf, elf_len) < 0 || fchmod(fd, 0644) < 0 || fsync(fd) < 0) {
		rc = fail(err, errlen, VMI_KIMAGE_E_IO, "write %s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		goto out;
	}
	if (close(fd) < 0 || rename(tmp, out_path) < 0) {
		rc = fail(err, errlen, VMI_KIMAGE_E_IO, "rename to %s: %s", out_path, strerror(errno));
		unlink(tmp);
		goto out;
	}
out:
	free(tmp);
	free(elf);
	return rc;
}
