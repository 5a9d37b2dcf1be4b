/* Kernel image extraction: bzImage (x86 boot protocol) -> ELF vmlinux.
 *
 * The input is untrusted: every header field and every byte of the
 * compressed payload is bounded and validated, and the decompressed output is
 * capped. Errors are distinct negative codes plus a message in err.
 */
#ifndef RW_VMI_KIMAGE_H
#define RW_VMI_KIMAGE_H

#include <stddef.h>
#include <stdint.h>

enum vmi_kimage_err {
	VMI_KIMAGE_OK = 0,
	VMI_KIMAGE_E_ARG = -1,             /* NULL pointer / bad argument */
	VMI_KIMAGE_E_TOO_SMALL = -2,       /* input shorter than a setup header */
	VMI_KIMAGE_E_NOT_BZIMAGE = -3,     /* neither ELF nor boot-protocol "HdrS" */
	VMI_KIMAGE_E_OLD_PROTOCOL = -4,    /* boot protocol < 2.08 (no payload fields) */
	VMI_KIMAGE_E_BAD_SETUP = -5,       /* setup_sects points outside the file */
	VMI_KIMAGE_E_BAD_PAYLOAD = -6,     /* payload_offset/length outside the file */
	VMI_KIMAGE_E_UNKNOWN_COMPRESSION = -7, /* payload magic not recognised */
	VMI_KIMAGE_E_UNSUPPORTED_COMPRESSION = -8, /* recognised (LZO) but no decoder */
	VMI_KIMAGE_E_CORRUPT = -9,         /* decoder reported corrupt data */
	VMI_KIMAGE_E_TRUNCATED = -10,      /* compressed stream ends early */
	VMI_KIMAGE_E_TOO_LARGE = -11,      /* output would exceed the cap */
	VMI_KIMAGE_E_SIZE_MISMATCH = -12,  /* output size != size trailer */
	VMI_KIMAGE_E_NOT_ELF = -13,        /* output is not a valid ELF64 header */
	VMI_KIMAGE_E_WRONG_ARCH = -14,     /* ELF but not little-endian x86-64 */
	VMI_KIMAGE_E_NOMEM = -15,
	VMI_KIMAGE_E_IO = -16,             /* file read/write failed (_file API) */
};

enum vmi_kimage_comp {
	VMI_KIMAGE_COMP_NONE = 0, /* input already ELF */
	VMI_KIMAGE_COMP_GZIP,
	VMI_KIMAGE_COMP_XZ,
	VMI_KIMAGE_COMP_LZMA,
	VMI_KIMAGE_COMP_LZ4,      /* LZ4 legacy frame, as the kernel build writes */
	VMI_KIMAGE_COMP_ZSTD,
	VMI_KIMAGE_COMP_BZIP2,
	VMI_KIMAGE_COMP_LZO,      /* detected only: no decoder */
	VMI_KIMAGE_COMP_UNKNOWN,
};

/* Default cap on the decompressed size (512 MiB). */
#define VMI_KIMAGE_DEFAULT_CAP ((size_t)512 << 20)

/* Where the payload sits in a bzImage, as parsed from its setup header. */
struct vmi_kimage_info {
	uint16_t version;       /* boot protocol version, e.g. 0x020f */
	unsigned setup_sects;   /* effective (0 means 4) */
	size_t payload_off;     /* file offset of the compressed payload */
	size_t payload_len;
	enum vmi_kimage_comp comp;
};

/* Parse and validate the boot-protocol setup header of img. */
int vmi_kimage_parse(const void *img, size_t len, struct vmi_kimage_info *info,
		     char *err, size_t errlen);

/* Detect the compression of a payload by its leading magic. */
enum vmi_kimage_comp vmi_kimage_detect(const void *buf, size_t len);
const char *vmi_kimage_comp_name(enum vmi_kimage_comp c);

/* Check that buf is a little-endian ELF64 x86-64 image whose program and
 * section header tables lie within len. Returns 0 or E_NOT_ELF / E_WRONG_ARCH. */
int vmi_kimage_check_elf(const void *buf, size_t len, char *err, size_t errlen);

/* Extract the ELF vmlinux from a bzImage (or copy an input that already is
 * an x86-64 ELF). On success *elf_out is a malloc'd buffer the caller frees.
 * The output is the full decompressed payload: the ELF plus whatever the
 * build appended after it (the KASLR relocation table on x86). */
int vmi_kimage_extract(const void *img, size_t len, void **elf_out, size_t *elf_len,
		       char *err, size_t errlen);

/* Same with an explicit output cap (bytes). */
int vmi_kimage_extract_capped(const void *img, size_t len, size_t cap, void **elf_out,
			      size_t *elf_len, char *err, size_t errlen);

/* Read path, extract, write the ELF to out_path (atomically via a temp file
 * and rename). */
int vmi_kimage_extract_file(const char *path, const char *out_path, char *err, size_t errlen);

/* Read a whole regular file (at most max bytes) into a malloc'd buffer. */
int vmi_kimage_read_file(const char *path, size_t max, void **buf, size_t *len,
			 char *err, size_t errlen);

const char *vmi_kimage_strerror(int code);

#endif
