/* BTF struct layouts via libbpf. See kbtf.h. */
#include "vmi/kbtf.h"

#include <bpf/btf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmi/err.h"

#define MAX_PATH_DEPTH 16
#define MAX_ANON_DEPTH 8
#define MAX_NAME 128

struct vmi_kbtf {
	struct btf *btf;
};

/* Errors: a code returned, the message into err (vmi/err.h). */
#define fail(...) vmi_seterr(__VA_ARGS__)

const char *vmi_kbtf_strerror(int code)
{
	switch (code) {
	case VMI_KBTF_OK: return "ok";
	case VMI_KBTF_E_ARG: return "invalid argument";
	case VMI_KBTF_E_PARSE: return "BTF parse failed";
	case VMI_KBTF_E_NO_TYPE: return "no such struct or union";
	case VMI_KBTF_E_NO_MEMBER: return "no such member";
	case VMI_KBTF_E_NOT_COMPOSITE: return "member is not a struct or union";
	case VMI_KBTF_E_BITFIELD: return "member is a bitfield";
	case VMI_KBTF_E_PATH: return "malformed member path";
	default: return "unknown error";
	}
}

int vmi_kbtf_open(const void *data, size_t len, struct vmi_kbtf **out, char *err, size_t errlen)
{
	if (!data || !out)
		return fail(err, errlen, VMI_KBTF_E_ARG, "NULL argument");
	*out = NULL;
	if (len == 0 || len > UINT32_MAX)
		return fail(err, errlen, VMI_KBTF_E_PARSE, "BTF size %zu out of range", len);
	struct btf *btf = btf__new(data, (uint32_t)len);
	if (!btf)
		return fail(err, errlen, VMI_KBTF_E_PARSE, "btf__new: %s", strerror(errno));
	struct vmi_kbtf *b = calloc(1, sizeof(*b));
	if (!b) {
		btf__free(btf);
		return fail(err, errlen, VMI_KBTF_E_PARSE, "out of memory");
	}
	b->btf = btf;
	*out = b;
	return VMI_KBTF_OK;
}

void vmi_kbtf_close(struct vmi_kbtf *b)
{
	if (!b)
		return;
	btf__free(b->btf);
	free(b);
}

size_t vmi_kbtf_type_count(const struct vmi_kbtf *b)
{
	return b ? btf__type_cnt(b->btf) : 0;
}

static int find_composite(const struct btf *btf, const char *name)
{
	int id = btf__find_by_name_kind(btf, name, BTF_KIND_STRUCT);
	if (id < 0)
		id = btf__find_by_name_kind(btf, name, BTF_KIND_UNION);
	return id;
}

int vmi_kbtf_struct_size(const struct vmi_kbtf *b, const char *name, size_t *size)
{
	if (!b || !name || !size)
		return VMI_KBTF_E_ARG;
	int id = find_composite(b->btf, name);
	if (id < 0)
		return VMI_KBTF_E_NO_TYPE;
	*size = btf__type_by_id(b->btf, (uint32_t)id)->size;
	return VMI_KBTF_OK;
}

/* Strip typedef/const/volatile/restrict; returns the id or < 0. */
static int skip_mods(const struct btf *btf, uint32_t id)
{
	return btf__resolve_type(btf, id);
}

/* Find member `name` in composite type id, descending into anonymous
 * members. On success *bit_off is relative to the composite. */
static bool find_member(const struct btf *btf, uint32_t id, const char *name, int depth,
			uint64_t *bit_off, uint32_t *mtype, uint32_t *bitfield)
{
	const struct btf_type *t = btf__type_by_id(btf, id);
	if (!t || !btf_is_composite(t) || depth > MAX_ANON_DEPTH)
		return false;
	const struct btf_member *m = btf_members(t);
	int vlen = btf_vlen(t);
	for (int i = 0; i < vlen; i++, m++) {
		const char *mn = btf__name_by_offset(btf, m->name_off);
		if (mn && mn[0] && strcmp(mn, name) == 0) {
			*bit_off = btf_member_bit_offset(t, (uint32_t)i);
			*mtype = m->type;
			*bitfield = btf_member_bitfield_size(t, (uint32_t)i);
			return true;
		}
		if (!mn || !mn[0]) { /* anonymous struct/union member */
			int inner = skip_mods(btf, m->type);
			uint64_t sub;
			if (inner > 0 &&
			    find_member(btf, (uint32_t)inner, name, depth + 1, &sub, mtype, bitfield)) {
				*bit_off = btf_member_bit_offset(t, (uint32_t)i) + sub;
				return true;
			}
		}
	}
	return false;
}

int vmi_kbtf_member(const struct vmi_kbtf *b, const char *path, struct vmi_kbtf_member *out)
{
	if (!b || !path || !out)
		return VMI_KBTF_E_ARG;
	char comp[MAX_NAME];
	const char *p = path;
	int id = -1;
	uint64_t bits = 0;
	uint32_t mtype = 0, bitfield = 0;
	for (int depth = 0; depth <= MAX_PATH_DEPTH; depth++) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		if (n == 0 || n >= sizeof(comp))
			return VMI_KBTF_E_PATH;
		memcpy(comp, p, n);
		comp[n] = '\0';
		if (depth == 0) {
			id = find_composite(b->btf, comp);
			if (id < 0)
				return VMI_KBTF_E_NO_TYPE;
			if (!dot)
				return VMI_KBTF_E_PATH; /* a path needs at least one member */
		} else {
			if (bitfield)
				return VMI_KBTF_E_NOT_COMPOSITE;
			uint64_t sub;
			if (!find_member(b->btf, (uint32_t)id, comp, 0, &sub, &mtype, &bitfield))
				return VMI_KBTF_E_NO_MEMBER;
			bits += sub;
			int next = skip_mods(b->btf, mtype);
			if (next < 0)
				return VMI_KBTF_E_NO_MEMBER;
			if (!dot) {
				if (bitfield || bits % 8)
					return VMI_KBTF_E_BITFIELD;
				long long sz = btf__resolve_size(b->btf, mtype);
				out->offset = (size_t)(bits / 8);
				out->size = sz < 0 ? 0 : (size_t)sz;
				out->type_id = (uint32_t)next;
				return VMI_KBTF_OK;
			}
			const struct btf_type *nt = btf__type_by_id(b->btf, (uint32_t)next);
			if (!nt || !btf_is_composite(nt))
				return VMI_KBTF_E_NOT_COMPOSITE;
			id = next;
		}
		p = dot + 1;
	}
	return VMI_KBTF_E_PATH;
}

int vmi_kbtf_offset(const struct vmi_kbtf *b, const char *path, size_t *offset)
{
	struct vmi_kbtf_member m;
	int rc = vmi_kbtf_member(b, path, &m);
	if (rc == VMI_KBTF_OK && offset)
		*offset = m.offset;
	return rc;
}

int vmi_kbtf_enum_value(const struct vmi_kbtf *b, const char *enum_name, const char *enumerator,
			int64_t *value)
{
	const struct btf_type *t;
	int id;

	if (!b || !enum_name || !enumerator || !value)
		return VMI_KBTF_E_ARG;
	id = btf__find_by_name_kind(b->btf, enum_name, BTF_KIND_ENUM);
	if (id < 0)
		return VMI_KBTF_E_NO_TYPE;
	t = btf__type_by_id(b->btf, (uint32_t)id);
	if (!t)
		return VMI_KBTF_E_NO_TYPE;
	for (uint16_t i = 0; i < btf_vlen(t); i++) {
		const struct btf_enum *e = btf_enum(t) + i;
		const char *n = btf__name_by_offset(b->btf, e->name_off);

		if (n && !strcmp(n, enumerator)) {
			/* kflag: signed enum */
			*value = btf_kflag(t) ? (int64_t)e->val : (int64_t)(uint32_t)e->val;
			return VMI_KBTF_OK;
		}
	}
	return VMI_KBTF_E_NO_MEMBER;
}
