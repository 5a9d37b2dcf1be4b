/* Kernel symbols: kallsyms decoder/locator and System.map parser.
 *
 * kallsyms layout written by scripts/kallsyms.c (every table starts 8-byte
 * aligned; only the order of whole tables varies between versions):
 *
 *   [kallsyms_offsets  s32[n] + kallsyms_relative_base u64]   (<= 6.3)
 *   kallsyms_num_syms   u32
 *   kallsyms_names      n x { len (1 or 2 byte ULEB128), len token indices }
 *   kallsyms_markers    u32[ceil(n/256)]  offset in names of every 256th symbol
 *   [kallsyms_seqs_of_names  3 bytes big-endian x n]            (6.2+, backports)
 *   kallsyms_token_table 256 NUL-terminated strings
 *   kallsyms_token_index u16[256]   offset of each token in the token table
 *   [kallsyms_offsets + kallsyms_relative_base]                  (newer kernels)
 *
 * See docs/vmi-kernel.md for how the locator anchors on these.
 */
#include "vmi/ksyms.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmi/err.h"

struct vmi_ksyms {
	struct vmi_ksym *sym; /* address order */
	size_t n;
	uint32_t *by_name;    /* indices into sym, sorted by (name, addr) */
	char *pool;
	size_t pool_len, pool_alloc;
};

#define ALIGN8(x) (((x) + 7) & ~(size_t)7)
#define KERNEL_HALF 0xffff800000000000ull
#define MAX_TOKEN_LEN 64          /* tokens are short substrings of names */
#define MAX_TOKEN_CANDIDATES 16
#define WORK_PER_BYTE 8           /* locator work budget: units per input byte */
#define WORK_BASE ((size_t)1 << 22)
#define SYSTEM_MAP_MAX ((size_t)256 << 20)

/* Errors: a code returned, the message into err (vmi/err.h). */
#define fail(...) vmi_seterr(__VA_ARGS__)

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

const char *vmi_ksyms_strerror(int code)
{
	switch (code) {
	case VMI_KSYMS_OK: return "ok";
	case VMI_KSYMS_E_ARG: return "invalid argument";
	case VMI_KSYMS_E_NO_TOKEN_TABLE: return "kallsyms token table not found";
	case VMI_KSYMS_E_NO_NAMES: return "kallsyms names table not found";
	case VMI_KSYMS_E_NO_ADDRESSES: return "kallsyms address table not found";
	case VMI_KSYMS_E_BAD_NAME: return "kallsyms name invalid";
	case VMI_KSYMS_E_NOMEM: return "out of memory";
	case VMI_KSYMS_E_IO: return "I/O error";
	case VMI_KSYMS_E_PARSE: return "malformed System.map";
	case VMI_KSYMS_E_EMPTY: return "no symbols";
	case VMI_KSYMS_E_NOT_FOUND: return "symbol not found";
	case VMI_KSYMS_E_BUDGET: return "kallsyms search work budget exhausted";
	default: return "unknown error";
	}
}

/* ---- table construction ---- */

static struct vmi_ksyms *ksyms_new(size_t n, size_t pool_hint)
{
	struct vmi_ksyms *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->sym = calloc(n ? n : 1, sizeof(*s->sym));
	s->pool_alloc = pool_hint ? pool_hint : 4096;
	s->pool = malloc(s->pool_alloc);
	if (!s->sym || !s->pool) {
		vmi_ksyms_free(s);
		return NULL;
	}
	return s;
}

void vmi_ksyms_free(struct vmi_ksyms *s)
{
	if (!s)
		return;
	free(s->sym);
	free(s->by_name);
	free(s->pool);
	free(s);
}

/* Append a name to the pool; returns its offset or SIZE_MAX. Names are stored
 * as offsets while the pool may still move, and turned into pointers last. */
static size_t pool_add(struct vmi_ksyms *s, const char *name, size_t len)
{
	if (s->pool_alloc - s->pool_len < len + 1) {
		size_t n = s->pool_alloc;
		while (n - s->pool_len < len + 1)
			n *= 2;
		char *p = realloc(s->pool, n);
		if (!p)
			return SIZE_MAX;
		s->pool = p;
		s->pool_alloc = n;
	}
	size_t off = s->pool_len;
	memcpy(s->pool + off, name, len);
	s->pool[off + len] = '\0';
	s->pool_len += len + 1;
	return off;
}

static int cmp_by_name(const void *a, const void *b, void *ctx)
{
	const struct vmi_ksyms *s = ctx;
	const struct vmi_ksym *x = &s->sym[*(const uint32_t *)a];
	const struct vmi_ksym *y = &s->sym[*(const uint32_t *)b];
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return *(const uint32_t *)a < *(const uint32_t *)b ? -1 : 1;
}

static int cmp_by_addr(const void *a, const void *b)
{
	const struct vmi_ksym *x = a, *y = b;
	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	/* Stable on the original position, which finish() stashed in name. */
	return (uintptr_t)x->name < (uintptr_t)y->name ? -1 : (uintptr_t)x->name > (uintptr_t)y->name;
}

/* Turn pool offsets (stored in name) into pointers, sort, index by name. */
static int ksyms_finish(struct vmi_ksyms *s, bool sort_addr)
{
	if (sort_addr) {
		/* name holds the pool offset, which grows with input order. */
		qsort(s->sym, s->n, sizeof(*s->sym), cmp_by_addr);
	}
	for (size_t i = 0; i < s->n; i++)
		s->sym[i].name = s->pool + (uintptr_t)s->sym[i].name;
	s->by_name = malloc((s->n ? s->n : 1) * sizeof(*s->by_name));
	if (!s->by_name)
		return VMI_KSYMS_E_NOMEM;
	for (size_t i = 0; i < s->n; i++)
		s->by_name[i] = (uint32_t)i;
	qsort_r(s->by_name, s->n, sizeof(*s->by_name), cmp_by_name, s);
	return VMI_KSYMS_OK;
}

/* ---- lookups ---- */

size_t vmi_ksyms_count(const struct vmi_ksyms *s) { return s ? s->n : 0; }

const struct vmi_ksym *vmi_ksyms_at(const struct vmi_ksyms *s, size_t i)
{
	return s && i < s->n ? &s->sym[i] : NULL;
}

const struct vmi_ksym *vmi_ksyms_lookup(const struct vmi_ksyms *s, const char *name, size_t *dups)
{
	if (dups)
		*dups = 0;
	if (!s || !name)
		return NULL;
	size_t lo = 0, hi = s->n;
	while (lo < hi) { /* first entry with name >= wanted */
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(s->sym[s->by_name[mid]].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == s->n || strcmp(s->sym[s->by_name[lo]].name, name) != 0)
		return NULL;
	if (dups) {
		size_t k = lo;
		while (k < s->n && strcmp(s->sym[s->by_name[k]].name, name) == 0)
			k++;
		*dups = k - lo;
	}
	return &s->sym[s->by_name[lo]];
}

int vmi_ksyms_addr(const struct vmi_ksyms *s, const char *name, uint64_t *addr)
{
	const struct vmi_ksym *k = vmi_ksyms_lookup(s, name, NULL);
	if (!k)
		return VMI_KSYMS_E_NOT_FOUND;
	if (addr)
		*addr = k->addr;
	return VMI_KSYMS_OK;
}

static bool is_absolute(const struct vmi_ksym *k) { return k->type == 'A' || k->type == 'a'; }

const struct vmi_ksym *vmi_ksyms_find(const struct vmi_ksyms *s, uint64_t addr, int percpu,
				      uint64_t *off)
{
	if (!s || !s->n)
		return NULL;
	size_t lo = 0, hi = s->n;
	while (lo < hi) { /* first entry with address > addr */
		size_t mid = lo + (hi - lo) / 2;
		if (s->sym[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* lo-1 is the last entry <= addr; skip absolutes, then go to the first
	 * entry of that address. */
	size_t i = lo;
	while (i > 0 && !percpu && is_absolute(&s->sym[i - 1]))
		i--;
	if (i == 0)
		return NULL;
	i--;
	uint64_t a = s->sym[i].addr;
	while (i > 0 && s->sym[i - 1].addr == a && (percpu || !is_absolute(&s->sym[i - 1])))
		i--;
	if (off)
		*off = addr - a;
	return &s->sym[i];
}

/* ---- kallsyms locator ---- */

struct tokens {
	size_t table_off, index_off;
	uint16_t idx[256];
	uint8_t len[256];
};

static bool token_char_ok(uint8_t c) { return c >= 0x20 && c < 0x7f; }

/* Bounded work on hostile input: every inner-loop step costs one unit. */
struct budget {
	size_t left;
};

static bool spend(struct budget *bg, size_t units)
{
	if (bg->left < units) {
		bg->left = 0;
		return false;
	}
	bg->left -= units;
	return true;
}

/* Is there a token index at I whose token table ends just before it? */
static bool match_token_tables(const uint8_t *b, size_t len, size_t I, struct tokens *t,
			       struct budget *bg)
{
	if (I + 512 > len || le16(b + I) != 0)
		return false;
	uint16_t prev = 0;
	for (int k = 0; k < 256; k++) {
		t->idx[k] = le16(b + I + 2 * k);
		if (k && (t->idx[k] <= prev || t->idx[k] - prev > MAX_TOKEN_LEN + 1))
			return false;
		prev = t->idx[k];
	}
	/* The table is [T, T + idx[255] + strlen(last) + 1) with T 8-aligned,
	 * followed by zero padding up to I. */
	size_t min_sz = (size_t)t->idx[255] + 1;
	for (size_t span = ALIGN8(min_sz); span <= ALIGN8(min_sz + MAX_TOKEN_LEN); span += 8) {
		if (span > I || !spend(bg, 16))
			return false;
		size_t T = I - span;
		size_t last_end = T + t->idx[255];
		while (last_end < I && b[last_end])
			last_end++;
		if (last_end >= I || ALIGN8(last_end + 1 - T) != span)
			continue;
		bool ok = true;
		int nonempty = 0;
		for (int k = 0; k < 256 && ok; k++) {
			size_t start = T + t->idx[k];
			size_t end = k < 255 ? T + t->idx[k + 1] - 1 : last_end; /* its NUL */
			if (!spend(bg, end - start + 1) || b[end] != 0) {
				ok = false;
				break;
			}
			for (size_t p = start; p < end && ok; p++)
				ok = token_char_ok(b[p]);
			t->len[k] = (uint8_t)(end - start);
			nonempty += end > start;
		}
		for (size_t p = last_end + 1; ok && p < I; p++)
			ok = b[p] == 0;
		if (ok && nonempty >= 128) {
			t->table_off = T;
			t->index_off = I;
			return true;
		}
	}
	return false;
}

/* Decode one name at b[pos] (names end at `end`); returns bytes consumed, 0
 * if invalid. Every token must be non-empty and the expansion at most
 * VMI_KSYM_NAME_MAX bytes. If out is set (VMI_KSYM_NAME_MAX + 1 bytes) it
 * gets the expansion and *outlen its length. */
static size_t decode_name(const uint8_t *b, size_t pos, size_t end, const struct tokens *t,
			  char *out, size_t *outlen)
{
	if (pos >= end)
		return 0;
	size_t hdr = 1, n = b[pos];
	if (n & 0x80) { /* "big" symbols: two-byte ULEB128 length */
		if (pos + 1 >= end || b[pos + 1] == 0 || (b[pos + 1] & 0x80))
			return 0;
		n = (n & 0x7f) | ((size_t)b[pos + 1] << 7);
		hdr = 2;
	}
	if (n == 0 || n > end - pos - hdr)
		return 0;
	size_t o = 0;
	for (size_t k = 0; k < n; k++) {
		uint8_t tok = b[pos + hdr + k];
		size_t tl = t->len[tok];
		if (tl == 0 || o + tl > VMI_KSYM_NAME_MAX)
			return 0;
		if (out)
			memcpy(out + o, b + t->table_off + t->idx[tok], tl);
		o += tl;
	}
	if (out) {
		out[o] = '\0';
		*outlen = o;
	}
	return hdr + n;
}

struct names {
	size_t num_off, names_off, markers_off, seqs_off;
	uint32_t n;
	bool seqs;
};

/* Check the num_syms candidate at P with the markers/seqs geometry implied
 * by the token table position; walk the names stream against the markers. */
static bool match_names(const uint8_t *b, const struct tokens *t, size_t P, bool seqs,
			struct names *nm, struct budget *bg)
{
	uint32_t n = le32(b + P);
	size_t T = t->table_off, N = P + 8;
	if (n == 0 || le32(b + P + 4) != 0 || N >= T || n > (T - N) / 2)
		return false;
	size_t m = ((size_t)n + 255) / 256;
	size_t S = seqs ? ALIGN8((size_t)n * 3) : 0;
	if (S + ALIGN8(4 * m) > T - N)
		return false;
	size_t seq_off = T - S, M = seq_off - ALIGN8(4 * m);
	if (M < N + 2 * (size_t)n || le32(b + M) != 0)
		return false;
	for (size_t i = 1; i < m; i++)
		if (!spend(bg, 1) || le32(b + M + 4 * i) < (uint64_t)le32(b + M + 4 * (i - 1)) + 512)
			return false;
	if (le32(b + M + 4 * (m - 1)) >= M - N)
		return false;
	/* Padding after the markers and after the seqs is zero. */
	for (size_t p = M + 4 * m; p < seq_off; p++)
		if (b[p])
			return false;
	if (seqs)
		for (size_t p = seq_off + 3 * (size_t)n; p < T; p++)
			if (b[p])
				return false;
	size_t pos = N;
	for (size_t i = 0; i < n; i++) {
		if (!spend(bg, 1))
			return false;
		if (i % 256 == 0 && le32(b + M + 4 * (i / 256)) != pos - N)
			return false;
		size_t used = decode_name(b, pos, M, t, NULL, NULL);
		if (!used)
			return false;
		pos += used;
	}
	if (ALIGN8(pos) != M)
		return false;
	for (size_t p = pos; p < M; p++)
		if (b[p])
			return false;
	nm->num_off = P;
	nm->names_off = N;
	nm->markers_off = M;
	nm->seqs_off = seqs ? seq_off : 0;
	nm->n = n;
	nm->seqs = seqs;
	return true;
}

/* Seqs must be a permutation of 0..n-1. */
static bool seqs_valid(const uint8_t *b, const struct names *nm)
{
	uint8_t *seen = calloc(((size_t)nm->n + 7) / 8, 1);
	if (!seen)
		return false;
	bool ok = true;
	for (size_t i = 0; i < nm->n && ok; i++) {
		const uint8_t *p = b + nm->seqs_off + 3 * i;
		uint32_t v = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
		if (v >= nm->n || (seen[v / 8] & (1u << (v % 8))))
			ok = false;
		else
			seen[v / 8] |= (uint8_t)(1u << (v % 8));
	}
	free(seen);
	return ok;
}

static bool find_names(const uint8_t *b, const struct tokens *t, struct names *nm,
		       struct budget *bg)
{
	if (t->table_off < 16)
		return false;
	for (size_t P = (t->table_off - 16) & ~(size_t)7;; P -= 8) {
		for (int seqs = 1; seqs >= 0; seqs--)
			if (match_names(b, t, P, seqs, nm, bg) &&
			    (!seqs || (spend(bg, nm->n) && seqs_valid(b, nm))))
				return true;
		if (P < 8 || !spend(bg, 1))
			return false;
	}
}

/* Decode the address table at off (relative s32 + base, or absolute u64);
 * addresses must be non-decreasing and end in the kernel half. */
static bool try_addresses(const uint8_t *b, size_t len, size_t off, uint32_t n, bool relative,
			  bool old_layout, struct vmi_kallsyms_layout *lay, uint64_t *addrs)
{
	size_t tab = relative ? 4 * (size_t)n : 8 * (size_t)n;
	if (off > len || tab > len - off || (off & 7))
		return false;
	uint64_t base = 0;
	size_t base_off = 0;
	bool abs_percpu = false;
	if (relative) {
		base_off = old_layout ? off + ALIGN8(tab) : ALIGN8(off + tab);
		if (base_off > len || len - base_off < 8)
			return false;
		base = le64(b + base_off);
		if (base < KERNEL_HALF)
			return false;
		for (size_t i = 0; i < n && !abs_percpu; i++)
			abs_percpu = (int32_t)le32(b + off + 4 * i) < 0;
	}
	uint64_t prev = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t a;
		if (!relative) {
			a = le64(b + off + 8 * i);
		} else {
			int32_t o = (int32_t)le32(b + off + 4 * i);
			if (!abs_percpu)
				a = base + (uint32_t)o;
			else if (o >= 0)
				a = (uint64_t)o;
			else
				a = base - 1 - (uint64_t)(int64_t)o;
		}
		if (a < prev)
			return false;
		addrs[i] = prev = a;
	}
	if (prev < KERNEL_HALF)
		return false;
	lay->addrs_off = off;
	lay->relative_base_off = base_off;
	lay->relative_base = base;
	lay->base_relative = relative;
	lay->absolute_percpu = abs_percpu;
	lay->addrs_after_tokens = !old_layout;
	return true;
}

static bool find_addresses(const uint8_t *b, size_t len, const struct tokens *t,
			   const struct names *nm, struct vmi_kallsyms_layout *lay, uint64_t *addrs)
{
	size_t n = nm->n, P = nm->num_off;
	size_t after = t->index_off + 512;
	/* Older layout: offsets, relative_base, then num_syms. */
	if (P >= 8 + ALIGN8(4 * n) &&
	    try_addresses(b, len, P - 8 - ALIGN8(4 * n), nm->n, true, true, lay, addrs))
		return true;
	if (try_addresses(b, len, after, nm->n, true, false, lay, addrs))
		return true;
	if (P >= 8 * n && try_addresses(b, len, P - 8 * n, nm->n, false, true, lay, addrs))
		return true;
	return try_addresses(b, len, after, nm->n, false, false, lay, addrs);
}

static int decode_all(const uint8_t *b, const struct tokens *t, const struct names *nm,
		      const uint64_t *addrs, struct vmi_ksyms **out, char *err, size_t errlen)
{
	struct vmi_ksyms *s = ksyms_new(nm->n, (nm->markers_off - nm->names_off) * 3 + 16);
	if (!s)
		return fail(err, errlen, VMI_KSYMS_E_NOMEM, "out of memory");
	char name[VMI_KSYM_NAME_MAX + 1];
	size_t pos = nm->names_off;
	for (size_t i = 0; i < nm->n; i++) {
		size_t nl = 0;
		size_t used = decode_name(b, pos, nm->markers_off, t, name, &nl);
		if (!used || nl < 2) {
			vmi_ksyms_free(s);
			return fail(err, errlen, VMI_KSYMS_E_BAD_NAME,
				    "kallsyms name %zu at +%#zx does not decode", i, pos);
		}
		pos += used;
		size_t off = pool_add(s, name + 1, nl - 1);
		if (off == SIZE_MAX) {
			vmi_ksyms_free(s);
			return fail(err, errlen, VMI_KSYMS_E_NOMEM, "out of memory");
		}
		s->sym[i].addr = addrs[i];
		s->sym[i].type = name[0];
		s->sym[i].name = (const char *)(uintptr_t)off;
		s->n = i + 1;
	}
	int rc = ksyms_finish(s, false);
	if (rc) {
		vmi_ksyms_free(s);
		return fail(err, errlen, rc, "out of memory");
	}
	*out = s;
	return VMI_KSYMS_OK;
}

int vmi_ksyms_from_kallsyms(const void *buf, size_t len, struct vmi_ksyms **out,
			    struct vmi_kallsyms_layout *layout, char *err, size_t errlen)
{
	if (out)
		*out = NULL;
	if (!buf || !out)
		return fail(err, errlen, VMI_KSYMS_E_ARG, "NULL argument");
	const uint8_t *b = buf;
	int found_tokens = 0, found_names = 0;
	struct tokens t;
	struct budget bg = {WORK_PER_BYTE * len + WORK_BASE};
	for (size_t I = 8; I + 512 <= len && found_tokens < MAX_TOKEN_CANDIDATES; I += 8) {
		if (!spend(&bg, 1))
			break;
		if (b[I] || b[I + 1] || !match_token_tables(b, len, I, &t, &bg))
			continue;
		found_tokens++;
		struct names nm;
		if (!find_names(b, &t, &nm, &bg))
			continue;
		found_names++;
		uint64_t *addrs = malloc((size_t)nm.n * sizeof(*addrs));
		if (!addrs)
			return fail(err, errlen, VMI_KSYMS_E_NOMEM, "out of memory");
		struct vmi_kallsyms_layout lay;
		memset(&lay, 0, sizeof(lay));
		if (!find_addresses(b, len, &t, &nm, &lay, addrs)) {
			free(addrs);
			continue;
		}
		lay.num_syms_off = nm.num_off;
		lay.names_off = nm.names_off;
		lay.markers_off = nm.markers_off;
		lay.seqs_off = nm.seqs_off;
		lay.has_seqs = nm.seqs;
		lay.token_table_off = t.table_off;
		lay.token_index_off = t.index_off;
		lay.num_syms = nm.n;
		int rc = decode_all(b, &t, &nm, addrs, out, err, errlen);
		free(addrs);
		if (rc)
			return rc;
		if (layout)
			*layout = lay;
		return VMI_KSYMS_OK;
	}
	if (bg.left == 0)
		return fail(err, errlen, VMI_KSYMS_E_BUDGET,
			    "kallsyms search gave up after its work budget (%zu bytes searched)", len);
	if (!found_tokens)
		return fail(err, errlen, VMI_KSYMS_E_NO_TOKEN_TABLE,
			    "no kallsyms_token_table/token_index pair in %zu bytes", len);
	if (!found_names)
		return fail(err, errlen, VMI_KSYMS_E_NO_NAMES,
			    "%d token table candidate(s), none preceded by a valid "
			    "num_syms/names/markers chain",
			    found_tokens);
	return fail(err, errlen, VMI_KSYMS_E_NO_ADDRESSES,
		    "kallsyms names found, but no sorted kallsyms_offsets/addresses table");
}

/* ---- System.map ---- */

static bool is_space(char c) { return c == ' ' || c == '\t'; }

int vmi_ksyms_parse_system_map(const char *text, size_t len, struct vmi_ksyms **out, char *err,
			       size_t errlen)
{
	if (!text || !out)
		return fail(err, errlen, VMI_KSYMS_E_ARG, "NULL argument");
	*out = NULL;
	size_t lines = 0;
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	struct vmi_ksyms *s = ksyms_new(lines + 1, len + 1);
	if (!s)
		return fail(err, errlen, VMI_KSYMS_E_NOMEM, "out of memory");
	size_t pos = 0, lineno = 0;
	int rc = VMI_KSYMS_OK;
	while (pos < len) {
		size_t eol = pos;
		while (eol < len && text[eol] != '\n')
			eol++;
		lineno++;
		size_t p = pos, e = eol;
		pos = eol + 1;
		if (e > p && text[e - 1] == '\r')
			e--;
		if (p == e)
			continue;
		uint64_t addr = 0;
		size_t digits = 0;
		for (; p < e && digits <= 16; p++, digits++) {
			char c = text[p];
			int v = c >= '0' && c <= '9' ? c - '0'
				: c >= 'a' && c <= 'f' ? c - 'a' + 10
				: c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
			if (v < 0)
				break;
			addr = addr << 4 | (uint64_t)v;
		}
		if (digits == 0 || digits > 16 || p >= e || !is_space(text[p])) {
			rc = fail(err, errlen, VMI_KSYMS_E_PARSE, "line %zu: bad address", lineno);
			break;
		}
		while (p < e && is_space(text[p]))
			p++;
		char type = p < e ? text[p++] : 0;
		if (!((type >= 'a' && type <= 'z') || (type >= 'A' && type <= 'Z')) || p >= e ||
		    !is_space(text[p])) {
			rc = fail(err, errlen, VMI_KSYMS_E_PARSE, "line %zu: bad type", lineno);
			break;
		}
		while (p < e && is_space(text[p]))
			p++;
		size_t ns = p;
		while (p < e && !is_space(text[p]))
			p++;
		size_t nl = p - ns;
		while (p < e && is_space(text[p]))
			p++;
		/* Only an optional "[module]" may follow the name. */
		bool tail_ok = p == e || (text[p] == '[' && text[e - 1] == ']');
		if (nl == 0 || nl > VMI_KSYM_NAME_MAX || !tail_ok) {
			rc = fail(err, errlen, VMI_KSYMS_E_PARSE,
				  "line %zu: expected \"<addr> <type> <name>\"", lineno);
			break;
		}
		for (size_t k = ns; k < ns + nl; k++)
			if (!token_char_ok((uint8_t)text[k])) {
				rc = fail(err, errlen, VMI_KSYMS_E_PARSE,
					  "line %zu: non-printable name", lineno);
				break;
			}
		if (rc)
			break;
		size_t off = pool_add(s, text + ns, nl);
		if (off == SIZE_MAX) {
			rc = fail(err, errlen, VMI_KSYMS_E_NOMEM, "out of memory");
			break;
		}
		s->sym[s->n].addr = addr;
		s->sym[s->n].type = type;
		s->sym[s->n].name = (const char *)(uintptr_t)off;
		s->n++;
	}
	if (!rc && s->n == 0)
		rc = fail(err, errlen, VMI_KSYMS_E_EMPTY, "System.map holds no symbols");
	if (!rc && s->n > UINT32_MAX)
		rc = fail(err, errlen, VMI_KSYMS_E_PARSE, "too many symbols");
	if (!rc && ksyms_finish(s, true))
		rc = fail(err, errlen, VMI_KSYMS_E_NOMEM, "out of memory");
	if (rc) {
		vmi_ksyms_free(s);
		return rc;
	}
	*out = s;
	return VMI_KSYMS_OK;
}

int vmi_ksyms_load_system_map(const char *path, struct vmi_ksyms **out, char *err, size_t errlen)
{
	if (!path || !out)
		return fail(err, errlen, VMI_KSYMS_E_ARG, "NULL argument");
	*out = NULL;
	FILE *f = fopen(path, "re");
	if (!f)
		return fail(err, errlen, VMI_KSYMS_E_IO, "open %s: %s", path, strerror(errno));
	size_t alloc = 1 << 20, len = 0;
	char *buf = malloc(alloc);
	int rc = VMI_KSYMS_OK;
	while (buf) {
		if (alloc - len < 65536) {
			if (alloc >= SYSTEM_MAP_MAX) {
				rc = fail(err, errlen, VMI_KSYMS_E_IO, "%s: larger than %zu bytes", path,
					  SYSTEM_MAP_MAX);
				break;
			}
			char *nb = realloc(buf, alloc * 2);
			if (!nb)
				break;
			buf = nb;
			alloc *= 2;
		}
		size_t r = fread(buf + len, 1, alloc - len, f);
		len += r;
		if (r == 0) {
			if (ferror(f))
				rc = fail(err, errlen, VMI_KSYMS_E_IO, "read %s: %s", path,
					  strerror(errno));
			break;
		}
	}
	fclose(f);
	if (!buf)
		return fail(err, errlen, VMI_KSYMS_E_NOMEM, "out of memory");
	if (!rc)
		rc = vmi_ksyms_parse_system_map(buf, len, out, err, errlen);
	free(buf);
	return rc;
}
