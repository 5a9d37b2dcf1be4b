/* Struct layouts of one kernel build from its .BTF section (libbpf). */
#ifndef RW_VMI_KBTF_H
#define RW_VMI_KBTF_H

#include <stddef.h>
#include <stdint.h>

enum vmi_kbtf_err {
	VMI_KBTF_OK = 0,
	VMI_KBTF_E_ARG = -1,
	VMI_KBTF_E_PARSE = -2,      /* libbpf rejected the BTF blob */
	VMI_KBTF_E_NO_TYPE = -3,    /* no struct/union of that name */
	VMI_KBTF_E_NO_MEMBER = -4,  /* path component not a member */
	VMI_KBTF_E_NOT_COMPOSITE = -5, /* path descends into a non-struct member */
	VMI_KBTF_E_BITFIELD = -6,   /* member is a bitfield (no byte offset) */
	VMI_KBTF_E_PATH = -7,       /* malformed path */
};

struct vmi_kbtf;

struct vmi_kbtf_member {
	size_t offset;  /* bytes from the start of the outermost struct */
	size_t size;    /* size of the member's type (resolved through typedefs etc.) */
	uint32_t type_id;
};

/* Parse raw .BTF section bytes (copied; data may be freed afterwards). */
int vmi_kbtf_open(const void *data, size_t len, struct vmi_kbtf **out, char *err, size_t errlen);
void vmi_kbtf_close(struct vmi_kbtf *b);

/* Size of "struct name" (or union). */
int vmi_kbtf_struct_size(const struct vmi_kbtf *b, const char *name, size_t *size);

/* Member by dotted path "struct.member[.member...]", e.g. "module.mkobj.kobj".
 * Members of anonymous structs/unions are found transparently. */
int vmi_kbtf_member(const struct vmi_kbtf *b, const char *path, struct vmi_kbtf_member *m);
/* Convenience: just the byte offset. */
int vmi_kbtf_offset(const struct vmi_kbtf *b, const char *path, size_t *offset);

/* Value of @enumerator in "enum @enum_name" (e.g. "system_states", "SYSTEM_RUNNING"):
 * VMI_KBTF_E_NO_TYPE without that enum, VMI_KBTF_E_NO_MEMBER without that name. */
int vmi_kbtf_enum_value(const struct vmi_kbtf *b, const char *enum_name, const char *enumerator,
			int64_t *value);

/* Number of types in the blob (for sanity checks). */
size_t vmi_kbtf_type_count(const struct vmi_kbtf *b);

const char *vmi_kbtf_strerror(int code);

#endif
