/* "info mtree -f" text -> RAM ranges of the system address space. */
#include "vmi/mtree.h"

#include <stdbool.h>
#include <string.h>

const char *vmi_mtree_strerror(int code)
{
	switch (code) {
	case VMI_MTREE_OK: return "ok";
	case VMI_MTREE_E_ARG: return "bad argument";
	case VMI_MTREE_E_NO_SYSTEM: return "no flat view rooted at \"system\"";
	case VMI_MTREE_E_AMBIGUOUS: return "several flat views rooted at \"system\"";
	case VMI_MTREE_E_SYNTAX: return "malformed range line";
	case VMI_MTREE_E_NO_RAM: return "no matching RAM range";
	case VMI_MTREE_E_TOO_MANY: return "too many RAM ranges";
	case VMI_MTREE_E_LAYOUT: return "ranges unsorted, overlapping or overflowing";
	case VMI_MTREE_E_TOO_LONG: return "input or line too long";
	}
	return "unknown mtree error";
}

/* A line as [p, end) without its newline. */
struct line {
	const char *p;
	size_t len;
};

static bool starts_with(struct line l, const char *s)
{
	size_t n = strlen(s);
	return l.len >= n && memcmp(l.p, s, n) == 0;
}

static struct line trim_left(struct line l)
{
	while (l.len && (*l.p == ' ' || *l.p == '\t')) {
		l.p++;
		l.len--;
	}
	return l;
}

static struct line trim_right(struct line l)
{
	while (l.len && (l.p[l.len - 1] == ' ' || l.p[l.len - 1] == '\t' ||
			 l.p[l.len - 1] == '\r'))
		l.len--;
	return l;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* 1..16 hex digits at *l; advances l. */
static bool take_hex(struct line *l, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;
	while (i < l->len && hexval(l->p[i]) >= 0) {
		if (i == 16)
			return false;
		v = (v << 4) | (uint64_t)hexval(l->p[i]);
		i++;
	}
	if (i == 0)
		return false;
	l->p += i;
	l->len -= i;
	*out = v;
	return true;
}

static bool take_lit(struct line *l, const char *s)
{
	if (!starts_with(*l, s))
		return false;
	size_t n = strlen(s);
	l->p += n;
	l->len -= n;
	return true;
}

struct range_line {
	uint64_t start, last;
	bool is_ram, is_rom;
	struct line name;
	uint64_t offset;
};

/* "START-LAST (prio N, TYPE): NAME[ @OFF][ more...]" (already left-trimmed). */
static bool parse_range_line(struct line l, struct range_line *r)
{
	if (!take_hex(&l, &r->start) || !take_lit(&l, "-") || !take_hex(&l, &r->last) ||
	    !take_lit(&l, " (prio "))
		return false;
	if (l.len && *l.p == '-') { /* priorities are signed */
		l.p++;
		l.len--;
	}
	size_t digits = 0;
	while (l.len && *l.p >= '0' && *l.p <= '9' && digits < 11) {
		l.p++;
		l.len--;
		digits++;
	}
	if (digits == 0 || !take_lit(&l, ", "))
		return false;
	/* TYPE runs up to "): " (types may contain spaces: "rom device"). */
	size_t t = 0;
	while (t + 1 < l.len && !(l.p[t] == ')' && l.p[t + 1] == ':'))
		t++;
	if (t + 1 >= l.len)
		return false;
	r->is_ram = (t == 3 && memcmp(l.p, "ram", 3) == 0);
	r->is_rom = (t == 3 && memcmp(l.p, "rom", 3) == 0);
	l.p += t + 2;
	l.len -= t + 2;
	if (!take_lit(&l, " "))
		return false;
	size_t nl = 0;
	while (nl < l.len && l.p[nl] != ' ')
		nl++;
	if (nl == 0)
		return false;
	r->name.p = l.p;
	r->name.len = nl;
	l.p += nl;
	l.len -= nl;
	r->offset = 0;
	if (take_lit(&l, " @")) {
		if (!take_hex(&l, &r->offset))
			return false;
		if (l.len && *l.p != ' ')
			return false;
	}
	return true;
}

static bool name_eq(struct line name, const char *s)
{
	size_t n = strlen(s);
	return name.len == n && memcmp(name.p, s, n) == 0;
}

int vmi_mtree_parse_ram(const char *text, size_t len, const char *ram_name,
			struct vmi_mtree_range *out, size_t max, size_t *n, char *err,
			size_t errlen)
{
	if (!text || !out || !n)
		return vmi_seterr(err, errlen, VMI_MTREE_E_ARG, "NULL argument");
	*n = 0;
	if (ram_name && (ram_name[0] == '\0' || strlen(ram_name) >= VMI_MTREE_NAME_MAX))
		return vmi_seterr(err, errlen, VMI_MTREE_E_ARG, "bad RAM region name");
	if (len > VMI_MTREE_MAX_TEXT)
		return vmi_seterr(err, errlen, VMI_MTREE_E_TOO_LONG, "input of %zu bytes", len);

	char chosen[VMI_MTREE_NAME_MAX] = "";
	if (ram_name)
		memcpy(chosen, ram_name, strlen(ram_name) + 1);

	int systems = 0;
	bool saw_ram = false; /* a ROM-only region (pc.bios) is not RAM */
	bool in_system = false, first_in_view = false;
	uint64_t prev_last = 0;
	size_t lineno = 0, count = 0;
	const char *p = text, *end = text + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		struct line l = { p, (size_t)(le - p) };
		p = nl ? nl + 1 : end;
		lineno++;
		if (l.len > VMI_MTREE_MAX_LINE)
			return vmi_seterr(err, errlen, VMI_MTREE_E_TOO_LONG,
					  "line %zu: %zu bytes", lineno, l.len);
		l = trim_right(trim_left(l));

		if (starts_with(l, "FlatView #") || l.len == 0) {
			in_system = false;
			continue;
		}
		if (take_lit(&l, "Root memory region: ")) {
			in_system = (l.len == 6 && memcmp(l.p, "system", 6) == 0);
			if (in_system && ++systems > 1)
				return vmi_seterr(err, errlen, VMI_MTREE_E_AMBIGUOUS,
						  "line %zu: second flat view rooted at system",
						  lineno);
			first_in_view = true;
			continue;
		}
		if (!in_system)
			continue;

		struct range_line r;
		if (!parse_range_line(l, &r))
			return vmi_seterr(err, errlen, VMI_MTREE_E_SYNTAX,
					  "line %zu: not a flat-view range", lineno);
		if (r.last < r.start || (r.start == 0 && r.last == UINT64_MAX))
			return vmi_seterr(err, errlen, VMI_MTREE_E_LAYOUT,
					  "line %zu: bad range", lineno);
		if (!first_in_view && r.start <= prev_last)
			return vmi_seterr(err, errlen, VMI_MTREE_E_LAYOUT,
					  "line %zu: range not above the previous one", lineno);
		bool was_first = first_in_view;
		first_in_view = false;
		prev_last = r.last;
		uint64_t size = r.last - r.start + 1;

		if (!ram_name && was_first) {
			/* Auto mode: main RAM is what is mapped at guest-physical 0. */
			if (r.start != 0 || !r.is_ram)
				return vmi_seterr(err, errlen, VMI_MTREE_E_NO_RAM,
						  "line %zu: no RAM at guest-physical 0", lineno);
			if (r.name.len >= VMI_MTREE_NAME_MAX)
				return vmi_seterr(err, errlen, VMI_MTREE_E_TOO_LONG,
						  "line %zu: region name too long", lineno);
			memcpy(chosen, r.name.p, r.name.len);
			chosen[r.name.len] = '\0';
		}
		/* "rom" pieces of the main RAM region are RAM the guest mapped
		 * read-only (PAM-shadowed BIOS areas below 1 MiB): still RAM. */
		if (!(r.is_ram || r.is_rom) || !name_eq(r.name, chosen))
			continue;
		if (r.offset + (size - 1) < r.offset)
			return vmi_seterr(err, errlen, VMI_MTREE_E_LAYOUT,
					  "line %zu: offset + size overflows", lineno);
		saw_ram = saw_ram || r.is_ram;
		if (count && out[count - 1].gpa + out[count - 1].size == r.start &&
		    out[count - 1].offset + out[count - 1].size == r.offset) {
			out[count - 1].size += size; /* continues the previous range */
			continue;
		}
		if (count == max)
			return vmi_seterr(err, errlen, VMI_MTREE_E_TOO_MANY,
					  "more than %zu RAM ranges", max);
		out[count].gpa = r.start;
		out[count].size = size;
		out[count].offset = r.offset;
		memcpy(out[count].name, chosen, strlen(chosen) + 1);
		count++;
	}
	if (systems == 0)
		return vmi_seterr(err, errlen, VMI_MTREE_E_NO_SYSTEM,
				  "no \"Root memory region: system\" flat view");
	if (count == 0 || !saw_ram)
		return vmi_seterr(err, errlen, VMI_MTREE_E_NO_RAM, "no ram range named \"%s\"",
				  chosen[0] ? chosen : "(auto)");
	*n = count;
	return 0;
}

void vmi_mtree_to_ram_regions(const struct vmi_mtree_range *r, size_t n, int fd,
			      struct vmi_ram_region *out)
{
	for (size_t i = 0; i < n; i++) {
		out[i].gpa = r[i].gpa;
		out[i].size = r[i].size;
		out[i].fd = fd;
		out[i].fd_offset = r[i].offset;
	}
}
