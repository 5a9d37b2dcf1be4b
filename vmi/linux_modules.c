/* Linux module walkers: the `modules` list and the module kset, through BTF
 * offsets, bounded against hostile lists. See linux.h. */
#include "vmi/linux.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- layout --------------------------------------------------------------- */

static int member(const struct vmi_kbtf *b, const char *path, size_t want_size, size_t *off,
		  size_t *size, char *err, size_t errlen)
{
	struct vmi_kbtf_member m;
	int rc = vmi_kbtf_member(b, path, &m);
	if (rc)
		return vmi_seterr(err, errlen, VMI_LINUX_E_BTF, "BTF: %s: %s", path,
				  vmi_kbtf_strerror(rc));
	if ((want_size && m.size != want_size) || (!want_size && m.size != 4 && m.size != 8))
		return vmi_seterr(err, errlen, VMI_LINUX_E_BTF, "BTF: %s has size %zu", path, m.size);
	*off = m.offset;
	if (size)
		*size = m.size;
	return 0;
}

int vmi_linux_layout_from_btf(const struct vmi_kbtf *b, struct vmi_linux_layout *l, char *err,
			      size_t errlen)
{
	if (!b || !l)
		return vmi_seterr(err, errlen, VMI_LINUX_E_ARG, "invalid argument");
	memset(l, 0, sizeof(*l));
	int rc = vmi_kbtf_struct_size(b, "module", &l->module_size);
	if (rc)
		return vmi_seterr(err, errlen, VMI_LINUX_E_BTF, "BTF: struct module: %s",
				  vmi_kbtf_strerror(rc));
	if (l->module_size == 0 || l->module_size > VMI_LINUX_MAX_STRUCT)
		return vmi_seterr(err, errlen, VMI_LINUX_E_BTF, "BTF: struct module size %zu",
				  l->module_size);
	struct vmi_kbtf_member name;
	if ((rc = vmi_kbtf_member(b, "module.name", &name)) != 0)
		return vmi_seterr(err, errlen, VMI_LINUX_E_BTF, "BTF: module.name: %s",
				  vmi_kbtf_strerror(rc));
	if (name.size < 8 || name.size >= VMI_LINUX_MODNAME_MAX)
		return vmi_seterr(err, errlen, VMI_LINUX_E_BTF, "BTF: module.name has size %zu",
				  name.size);
	l->module_name = name.offset;
	l->module_name_len = name.size;
	struct vmi_kbtf_member cl;
	if (vmi_kbtf_member(b, "module.core_layout", &cl) != 0)
		return vmi_seterr(err, errlen, VMI_LINUX_E_BTF,
				  "BTF: struct module has no core_layout (the module_memory "
				  "layout of kernels >= 6.4 is not supported)");
	if ((rc = member(b, "module.state", 4, &l->module_state, NULL, err, errlen)) ||
	    (rc = member(b, "module.list", 16, &l->module_list, NULL, err, errlen)) ||
	    (rc = member(b, "module.core_layout.base", 8, &l->module_core_base, NULL, err, errlen)) ||
	    (rc = member(b, "module.core_layout.size", 0, &l->module_core_size,
			 &l->module_core_size_len, err, errlen)) ||
	    (rc = member(b, "module.core_layout.text_size", 0, &l->module_text_size,
			 &l->module_text_size_len, err, errlen)) ||
	    (rc = member(b, "kobject.name", 8, &l->kobject_name, NULL, err, errlen)) ||
	    (rc = member(b, "kobject.entry", 16, &l->kobject_entry, NULL, err, errlen)) ||
	    (rc = member(b, "kset.list", 16, &l->kset_list, NULL, err, errlen)) ||
	    (rc = member(b, "module_kobject.mod", 8, &l->mkobj_mod, NULL, err, errlen)))
		return rc;
	struct vmi_kbtf_member kobj;
	if ((rc = vmi_kbtf_member(b, "module_kobject.kobj", &kobj)) != 0)
		return vmi_seterr(err, errlen, VMI_LINUX_E_BTF, "BTF: module_kobject.kobj: %s",
				  vmi_kbtf_strerror(rc));
	l->mkobj_kobj = kobj.offset;
	size_t ksize;
	if (vmi_kbtf_struct_size(b, "kobject", &ksize) || ksize < l->kobject_entry + 16 ||
	    ksize > VMI_LINUX_MAX_STRUCT)
		return vmi_seterr(err, errlen, VMI_LINUX_E_BTF, "BTF: struct kobject unusable");
	return 0;
}

/* ---- guest reads ---------------------------------------------------------- */

static uint64_t get_le(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = n; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

/* A pointer to a kernel object of len bytes: upper half, canonical, aligned
 * to align, and the object readable. */
static int check_ptr(struct vmi_x86 *x, uint64_t p, size_t align, const char *what, char *err,
		     size_t errlen)
{
	if (!(p >> 63) || !vmi_x86_canonical(x, p))
		return vmi_seterr(err, errlen, VMI_LINUX_E_BAD_POINTER,
				  "%s 0x%016" PRIx64 " is not a canonical kernel address", what, p);
	if (align && (p & (align - 1)))
		return vmi_seterr(err, errlen, VMI_LINUX_E_BAD_POINTER,
				  "%s 0x%016" PRIx64 " is misaligned", what, p);
	return 0;
}

static int read_obj(struct vmi_x86 *x, uint64_t va, void *buf, size_t len, const char *what,
		    char *err, size_t errlen)
{
	if (va + len < va)
		return vmi_seterr(err, errlen, VMI_LINUX_E_BAD_POINTER, "%s at 0x%016" PRIx64
				  " wraps the address space", what, va);
	int rc = vmi_x86_read(x, va, buf, len);
	if (rc)
		return vmi_seterr(err, errlen, rc == VMI_X86_E_NONCANONICAL ? VMI_LINUX_E_BAD_POINTER :
				  VMI_LINUX_E_READ, "%s at 0x%016" PRIx64 " (%zu bytes): %s", what, va,
				  len, vmi_x86_strerror(rc));
	return 0;
}

/* Copy a bounded C string from guest memory, replacing non-printable bytes. */
static int read_cstr(struct vmi_x86 *x, uint64_t va, char *out, size_t max)
{
	size_t n = 0;
	out[0] = '\0';
	while (n + 1 < max) {
		uint8_t c;
		if (vmi_x86_read(x, va + n, &c, 1) != 0)
			return -1;
		if (!c)
			break;
		out[n++] = (c < 0x20 || c > 0x7e) ? '?' : (char)c;
	}
	out[n] = '\0';
	return 0;
}

static void copy_name(char *dst, const uint8_t *src, size_t srclen)
{
	size_t n = 0;
	while (n < srclen && n + 1 < VMI_LINUX_MODNAME_MAX && src[n]) {
		dst[n] = (src[n] < 0x20 || src[n] > 0x7e) ? '?' : (char)src[n];
		n++;
	}
	dst[n] = '\0';
}

/* ---- visited set: cycle detection ------------------------------------------ */

struct seen {
	uint64_t *slot;
	size_t cap; /* power of two, > 2 * max entries */
};

static int seen_init(struct seen *s, size_t max)
{
	s->cap = 16;
	while (s->cap < 2 * max + 2)
		s->cap <<= 1;
	s->slot = calloc(s->cap, sizeof(*s->slot));
	return s->slot ? 0 : -1;
}

/* 1 if p was present, else adds it (p != 0: list nodes are kernel addresses). */
static int seen_add(struct seen *s, uint64_t p)
{
	size_t i = (size_t)((p >> 3) * 0x9e3779b97f4a7c15ull) & (s->cap - 1);
	while (s->slot[i]) {
		if (s->slot[i] == p)
			return 1;
		i = (i + 1) & (s->cap - 1);
	}
	s->slot[i] = p;
	return 0;
}

/* ---- list walk -------------------------------------------------------------- */

typedef int (*node_fn)(void *ctx, uint64_t node, char *err, size_t errlen);

/* Visit each node of the circular list headed at head (not the head itself). */
static int walk_list(struct vmi_x86 *x, uint64_t head, size_t max, const char *what, node_fn fn,
		     void *ctx, char *err, size_t errlen)
{
	struct seen s;
	uint8_t lh[16];
	int rc = check_ptr(x, head, 8, what, err, errlen);
	if (rc)
		return rc;
	if ((rc = read_obj(x, head, lh, sizeof(lh), what, err, errlen)))
		return rc;
	if (seen_init(&s, max))
		return vmi_seterr(err, errlen, VMI_LINUX_E_NOMEM, "out of memory");
	uint64_t cur = get_le(lh, 8);
	size_t count = 0;
	char label[96];
	while (cur != head) {
		snprintf(label, sizeof(label), "%s node %zu", what, count);
		if ((rc = check_ptr(x, cur, 8, label, err, errlen)))
			break;
		if (count == max) {
			rc = vmi_seterr(err, errlen, VMI_LINUX_E_TOO_MANY,
					"%s has more than %zu entries", what, max);
			break;
		}
		if (seen_add(&s, cur)) {
			rc = vmi_seterr(err, errlen, VMI_LINUX_E_LOOP,
					"%s loops: node %zu (0x%016" PRIx64 ") was visited before",
					what, count, cur);
			break;
		}
		if ((rc = read_obj(x, cur, lh, sizeof(lh), label, err, errlen)))
			break;
		count++;
		if ((rc = fn(ctx, cur, err, errlen)))
			break;
		cur = get_le(lh, 8);
	}
	free(s.slot);
	return rc;
}

struct walk_ctx {
	struct vmi_x86 *x;
	const struct vmi_linux_layout *l;
	struct vmi_linux_modules *out;
	size_t cap;
	uint8_t *mod;  /* struct module buffer, l->module_size bytes */
};

static struct vmi_linux_module *find_mod(struct vmi_linux_modules *m, uint64_t addr)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].addr == addr)
			return &m->v[i];
	return NULL;
}

static struct vmi_linux_module *new_entry(struct walk_ctx *c)
{
	if (c->out->n == c->cap) {
		size_t ncap = c->cap ? 2 * c->cap : 64;
		struct vmi_linux_module *v = realloc(c->out->v, ncap * sizeof(*v));
		if (!v)
			return NULL;
		c->out->v = v;
		c->cap = ncap;
	}
	struct vmi_linux_module *e = &c->out->v[c->out->n++];
	memset(e, 0, sizeof(*e));
	return e;
}

/* Fill e from the struct module at addr. */
static int read_module(struct walk_ctx *c, uint64_t addr, struct vmi_linux_module *e, char *err,
		       size_t errlen)
{
	const struct vmi_linux_layout *l = c->l;
	int rc = read_obj(c->x, addr, c->mod, l->module_size, "struct module", err, errlen);
	if (rc)
		return rc;
	e->addr = addr;
	copy_name(e->name, c->mod + l->module_name, l->module_name_len);
	e->state = (int32_t)get_le(c->mod + l->module_state, 4);
	e->core_base = get_le(c->mod + l->module_core_base, 8);
	e->core_size = get_le(c->mod + l->module_core_size, l->module_core_size_len);
	e->text_size = get_le(c->mod + l->module_text_size, l->module_text_size_len);
	return 0;
}

static int on_list_node(void *ctx, uint64_t node, char *err, size_t errlen)
{
	struct walk_ctx *c = ctx;
	uint64_t addr = node - c->l->module_list;
	struct vmi_linux_module *e = new_entry(c);
	if (!e)
		return vmi_seterr(err, errlen, VMI_LINUX_E_NOMEM, "out of memory");
	int rc = read_module(c, addr, e, err, errlen);
	if (rc) {
		c->out->n--;
		return rc;
	}
	e->on_list = true;
	return 0;
}

static int on_kset_node(void *ctx, uint64_t node, char *err, size_t errlen)
{
	struct walk_ctx *c = ctx;
	const struct vmi_linux_layout *l = c->l;
	uint64_t kobj = node - l->kobject_entry;
	uint64_t mkobj = kobj - l->mkobj_kobj;
	uint8_t p[8];
	char kname[VMI_LINUX_MODNAME_MAX];
	int rc;

	if ((rc = read_obj(c->x, mkobj + l->mkobj_mod, p, 8, "module_kobject.mod", err, errlen)))
		return rc;
	uint64_t mod = get_le(p, 8);
	if ((rc = read_obj(c->x, kobj + l->kobject_name, p, 8, "kobject.name", err, errlen)))
		return rc;
	uint64_t name_ptr = get_le(p, 8);
	char discard[160];
	if (check_ptr(c->x, name_ptr, 1, "kobject name", discard, sizeof(discard)) ||
	    read_cstr(c->x, name_ptr, kname, sizeof(kname)))
		snprintf(kname, sizeof(kname), "?");
	if (!mod) {
		c->out->kset_builtin++;
		return 0;
	}
	struct vmi_linux_module *e = find_mod(c->out, mod);
	if (!e) {
		e = new_entry(c);
		if (!e)
			return vmi_seterr(err, errlen, VMI_LINUX_E_NOMEM, "out of memory");
		if (check_ptr(c->x, mod, 8, "module_kobject.mod", discard, sizeof(discard)) ||
		    read_module(c, mod, e, discard, sizeof(discard))) {
			memset(e, 0, sizeof(*e));
			e->addr = mod;
			e->unreadable = true;
			snprintf(e->name, sizeof(e->name), "%s", kname);
		}
	}
	e->in_kset = true;
	e->name_mismatch = !e->unreadable && strcmp(e->name, kname) != 0;
	return 0;
}

int vmi_linux_walk_modules(struct vmi_x86 *x, const struct vmi_linux_layout *l,
			   uint64_t modules_va, uint64_t module_kset_var_va, size_t max_entries,
			   struct vmi_linux_modules *out, char *err, size_t errlen)
{
	if (!out)
		return vmi_seterr(err, errlen, VMI_LINUX_E_ARG, "invalid argument");
	memset(out, 0, sizeof(*out));
	if (!x || !l || !max_entries || max_entries > VMI_LINUX_MAX_MODULES ||
	    !l->module_size || l->module_size > VMI_LINUX_MAX_STRUCT ||
	    l->module_list + 16 > l->module_size || l->module_name + l->module_name_len > l->module_size ||
	    l->module_state + 4 > l->module_size || l->module_core_base + 8 > l->module_size ||
	    l->module_core_size_len > 8 || l->module_text_size_len > 8 ||
	    l->module_core_size + l->module_core_size_len > l->module_size ||
	    l->module_text_size + l->module_text_size_len > l->module_size)
		return vmi_seterr(err, errlen, VMI_LINUX_E_ARG, "invalid walker arguments");
	struct walk_ctx c = { .x = x, .l = l, .out = out };
	c.mod = malloc(l->module_size);
	if (!c.mod)
		return vmi_seterr(err, errlen, VMI_LINUX_E_NOMEM, "out of memory");
	int rc = walk_list(x, modules_va, max_entries, "modules list", on_list_node, &c, err, errlen);
	if (!rc) {
		uint8_t p[8];
		rc = read_obj(x, module_kset_var_va, p, 8, "module_kset", err, errlen);
		uint64_t kset = get_le(p, 8);
		if (!rc)
			rc = check_ptr(x, kset, 8, "module_kset", err, errlen);
		if (!rc)
			rc = walk_list(x, kset + l->kset_list, max_entries, "module kset", on_kset_node,
				       &c, err, errlen);
	}
	free(c.mod);
	return rc;
}

void vmi_linux_modules_free(struct vmi_linux_modules *m)
{
	if (!m)
		return;
	free(m->v);
	m->v = NULL;
	m->n = 0;
}
