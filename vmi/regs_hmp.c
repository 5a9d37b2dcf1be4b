/* QEMU HMP "info registers -a" text -> struct vmi_vcpu.
 *
 * Per CPU (QEMU 7.2, x86-64 target, any CPU mode), the lines used are:
 *   CPU#1
 *   TR =0040 fffffe000003e000 00004087 00008900 DPL=0 TSS64-avl
 *   GDT=     fffffe000003c000 0000007f
 *   IDT=     fffffe0000000000 00000fff
 *   CR0=80050033 CR2=0000000000000000 CR3=000000001d610000 CR4=00751ea0
 *   EFER=0000000000000d01
 * Everything else (GPRs, segments, FPU/SSE state) is ignored. */
#include "vmi/vcpu.h"

#include <stdbool.h>
#include <string.h>

#include "vmi/mem.h"

const char *vmi_prov_name(enum vmi_prov p)
{
	switch (p) {
	case VMI_PROV_NONE: return "none";
	case VMI_PROV_QMP_INFO_REGISTERS: return "qmp-info-registers";
	case VMI_PROV_KVM_IOCTL: return "kvm-ioctl";
	case VMI_PROV_GUEST_REPORT: return "guest-report";
	}
	return "unknown";
}

const char *vmi_regs_strerror(int code)
{
	switch (code) {
	case VMI_REGS_OK: return "ok";
	case VMI_REGS_E_ARG: return "bad argument";
	case VMI_REGS_E_SYNTAX: return "malformed register line";
	case VMI_REGS_E_NO_CPU: return "no CPU#N section";
	case VMI_REGS_E_DUP_CPU: return "duplicate CPU section";
	case VMI_REGS_E_DUP_FIELD: return "duplicate register field";
	case VMI_REGS_E_MISSING: return "required register field missing";
	case VMI_REGS_E_TOO_MANY: return "too many CPU sections";
	case VMI_REGS_E_TOO_LONG: return "input or line too long";
	}
	return "unknown registers error";
}

struct cursor {
	const char *p;
	size_t len;
};

static bool cur_lit(struct cursor *c, const char *s)
{
	size_t n = strlen(s);
	if (c->len < n || memcmp(c->p, s, n) != 0)
		return false;
	c->p += n;
	c->len -= n;
	return true;
}

static void cur_spaces(struct cursor *c)
{
	while (c->len && (*c->p == ' ' || *c->p == '\t')) {
		c->p++;
		c->len--;
	}
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* 1..16 hex digits followed by a space or the end. */
static bool cur_hex(struct cursor *c, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;
	while (i < c->len && hexval(c->p[i]) >= 0) {
		if (i == 16)
			return false;
		v = (v << 4) | (uint64_t)hexval(c->p[i]);
		i++;
	}
	if (i == 0 || (i < c->len && c->p[i] != ' ' && c->p[i] != '\t'))
		return false;
	c->p += i;
	c->len -= i;
	*out = v;
	return true;
}

/* Fields a CPU section must have (bit per field). */
enum {
	F_CR0 = 1 << 0,
	F_CR2 = 1 << 1,
	F_CR3 = 1 << 2,
	F_CR4 = 1 << 3,
	F_EFER = 1 << 4,
	F_GDT = 1 << 5,
	F_IDT = 1 << 6,
	F_TR = 1 << 7,
	F_ALL = (1 << 8) - 1,
};

struct section {
	struct vmi_vcpu *cpu;
	unsigned seen;
	size_t start_line;
};

static void set_val(struct vmi_val *dst, uint64_t v)
{
	dst->v = v;
	dst->prov = VMI_PROV_QMP_INFO_REGISTERS;
}

static int mark(struct section *s, unsigned f, size_t lineno, char *err, size_t errlen)
{
	if (s->seen & f)
		return vmi_seterr(err, errlen, VMI_REGS_E_DUP_FIELD,
				  "line %zu: field repeated in CPU#%u", lineno, s->cpu->index);
	s->seen |= f;
	return 0;
}

static int parse_cr_line(struct cursor c, struct section *s, size_t lineno, char *err,
			 size_t errlen)
{
	static const struct {
		const char *key;
		unsigned flag;
	} keys[] = { { "CR0=", F_CR0 }, { "CR2=", F_CR2 }, { "CR3=", F_CR3 }, { "CR4=", F_CR4 } };
	while (c.len) {
		size_t k;
		for (k = 0; k < 4; k++)
			if (cur_lit(&c, keys[k].key))
				break;
		uint64_t v;
		if (k == 4 || !cur_hex(&c, &v))
			return vmi_seterr(err, errlen, VMI_REGS_E_SYNTAX,
					  "line %zu: bad control-register field", lineno);
		int rc = mark(s, keys[k].flag, lineno, err, errlen);
		if (rc)
			return rc;
		struct vmi_val *dst = k == 0 ? &s->cpu->cr0 : k == 1 ? &s->cpu->cr2 :
				     k == 2 ? &s->cpu->cr3 : &s->cpu->cr4;
		set_val(dst, v);
		cur_spaces(&c);
	}
	return 0;
}

/* "GDT=     base limit" / "IDT=     base limit" (after the key). */
static int parse_table_line(struct cursor c, struct vmi_val *base, struct vmi_val *limit,
			    size_t lineno, char *err, size_t errlen)
{
	uint64_t b, l;
	cur_spaces(&c);
	if (!cur_hex(&c, &b))
		goto bad;
	cur_spaces(&c);
	if (!cur_hex(&c, &l) || l > 0xffff)
		goto bad;
	cur_spaces(&c);
	if (c.len)
		goto bad;
	set_val(base, b);
	set_val(limit, l);
	return 0;
bad:
	return vmi_seterr(err, errlen, VMI_REGS_E_SYNTAX, "line %zu: bad descriptor-table line",
			  lineno);
}

/* "TR =sel base limit flags [...]" (after "TR ="). */
static int parse_tr_line(struct cursor c, struct section *s, size_t lineno, char *err,
			 size_t errlen)
{
	uint64_t sel, base, limit, flags;
	if (!cur_hex(&c, &sel) || sel > 0xffff)
		goto bad;
	cur_spaces(&c);
	if (!cur_hex(&c, &base))
		goto bad;
	cur_spaces(&c);
	if (!cur_hex(&c, &limit))
		goto bad;
	cur_spaces(&c);
	if (!cur_hex(&c, &flags))
		goto bad;
	set_val(&s->cpu->tr_sel, sel);
	set_val(&s->cpu->tr_base, base);
	return 0;
bad:
	return vmi_seterr(err, errlen, VMI_REGS_E_SYNTAX, "line %zu: bad TR line", lineno);
}

static int parse_field_line(struct cursor c, struct section *s, size_t lineno, char *err,
			    size_t errlen)
{
	int rc;
	uint64_t v;
	if (c.len >= 4 && memcmp(c.p, "CR0=", 4) == 0)
		return parse_cr_line(c, s, lineno, err, errlen);
	if (cur_lit(&c, "EFER=")) {
		cur_spaces(&c);
		if (!cur_hex(&c, &v) || c.len)
			return vmi_seterr(err, errlen, VMI_REGS_E_SYNTAX, "line %zu: bad EFER",
					  lineno);
		if ((rc = mark(s, F_EFER, lineno, err, errlen)))
			return rc;
		set_val(&s->cpu->efer, v);
		return 0;
	}
	if (cur_lit(&c, "GDT=")) {
		if ((rc = mark(s, F_GDT, lineno, err, errlen)))
			return rc;
		return parse_table_line(c, &s->cpu->gdtr_base, &s->cpu->gdtr_limit, lineno, err,
					errlen);
	}
	if (cur_lit(&c, "IDT=")) {
		if ((rc = mark(s, F_IDT, lineno, err, errlen)))
			return rc;
		return parse_table_line(c, &s->cpu->idtr_base, &s->cpu->idtr_limit, lineno, err,
					errlen);
	}
	if (cur_lit(&c, "TR =")) {
		if ((rc = mark(s, F_TR, lineno, err, errlen)))
			return rc;
		return parse_tr_line(c, s, lineno, err, errlen);
	}
	return 0; /* a line we do not use */
}

static const char *missing_name(unsigned seen)
{
	static const char *const names[] = { "CR0", "CR2", "CR3", "CR4",
					     "EFER", "GDT", "IDT", "TR" };
	for (unsigned i = 0; i < 8; i++)
		if (!(seen & (1u << i)))
			return names[i];
	return "?";
}

static int close_section(const struct section *s, char *err, size_t errlen)
{
	if (s->cpu && s->seen != F_ALL)
		return vmi_seterr(err, errlen, VMI_REGS_E_MISSING,
				  "CPU#%u (line %zu): no %s", s->cpu->index, s->start_line,
				  missing_name(s->seen));
	return 0;
}

static bool is_field_line(struct cursor c)
{
	return (c.len >= 4 && (memcmp(c.p, "CR0=", 4) == 0 || memcmp(c.p, "GDT=", 4) == 0 ||
			       memcmp(c.p, "IDT=", 4) == 0 || memcmp(c.p, "TR =", 4) == 0)) ||
	       (c.len >= 5 && memcmp(c.p, "EFER=", 5) == 0);
}

int vmi_regs_hmp_parse(const char *text, size_t len, struct vmi_vcpu *out, size_t max,
		       size_t *n, char *err, size_t errlen)
{
	if (!text || !out || !n)
		return vmi_seterr(err, errlen, VMI_REGS_E_ARG, "NULL argument");
	*n = 0;
	if (len > VMI_REGS_MAX_TEXT)
		return vmi_seterr(err, errlen, VMI_REGS_E_TOO_LONG, "input of %zu bytes", len);

	struct section s = { 0 };
	size_t count = 0, lineno = 0;
	const char *p = text, *end = text + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		struct cursor c = { p, (size_t)(le - p) };
		p = nl ? nl + 1 : end;
		lineno++;
		if (c.len > VMI_REGS_MAX_LINE)
			return vmi_seterr(err, errlen, VMI_REGS_E_TOO_LONG, "line %zu: %zu bytes",
					  lineno, c.len);
		cur_spaces(&c);
		while (c.len && (c.p[c.len - 1] == ' ' || c.p[c.len - 1] == '\t' ||
				 c.p[c.len - 1] == '\r'))
			c.len--;

		if (cur_lit(&c, "CPU#")) {
			uint64_t idx = 0;
			size_t d = 0;
			while (d < c.len && c.p[d] >= '0' && c.p[d] <= '9' && d < 6) {
				idx = idx * 10 + (uint64_t)(c.p[d] - '0');
				d++;
			}
			if (d == 0 || d < c.len)
				return vmi_seterr(err, errlen, VMI_REGS_E_SYNTAX,
						  "line %zu: bad CPU#N header", lineno);
			int rc = close_section(&s, err, errlen);
			if (rc)
				return rc;
			for (size_t i = 0; i < count; i++)
				if (out[i].index == idx)
					return vmi_seterr(err, errlen, VMI_REGS_E_DUP_CPU,
							  "line %zu: CPU#%u twice", lineno,
							  (unsigned)idx);
			if (count == max)
				return vmi_seterr(err, errlen, VMI_REGS_E_TOO_MANY,
						  "more than %zu CPUs", max);
			memset(&out[count], 0, sizeof(out[count]));
			out[count].index = (unsigned)idx;
			s.cpu = &out[count];
			s.seen = 0;
			s.start_line = lineno;
			count++;
			continue;
		}
		if (!s.cpu) {
			if (is_field_line(c))
				return vmi_seterr(err, errlen, VMI_REGS_E_NO_CPU,
						  "line %zu: register line before any CPU#N "
						  "header (use \"info registers -a\")",
						  lineno);
			continue;
		}
		int rc = parse_field_line(c, &s, lineno, err, errlen);
		if (rc)
			return rc;
	}
	int rc = close_section(&s, err, errlen);
	if (rc)
		return rc;
	if (count == 0)
		return vmi_seterr(err, errlen, VMI_REGS_E_NO_CPU, "no CPU#N section");
	*n = count;
	return 0;
}
