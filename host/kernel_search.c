// SPDX-License-Identifier: GPL-2.0
/* Finding a running kernel's image among known ones (host/kernel_search.h). */
#include "host/kernel_search.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/kernels.h"
#include "vmi/banner.h"
#include "vmi/kcat.h"

#define HEADER_BYTES 65536		/* the setup code holds the version string */
#define SETUP_HDRS_OFF 0x202
#define SETUP_VERSION_OFF 0x206
#define SETUP_KVER_OFF 0x20e
#define SETUP_KVER_BASE 0x200
#define KVER_MAX 256
#define ELF_SCAN_MAX (1ull << 30)	/* larger files are not kernels we scan */
#define ELF_BANNERS_MAX 8		/* "Linux version " strings compared per ELF file */
#define BANNER_PREFIX "Linux version "

static uint16_t le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

bool rw_ksearch_header_matches(const unsigned char *hdr, size_t len, const char *banner)
{
	size_t off, rel_len, plen = strlen(BANNER_PREFIX);
	const char *kver, *end, *builder_end, *version;
	char buf[KVER_MAX + 1];

	if (len < SETUP_KVER_OFF + 2 || memcmp(hdr + SETUP_HDRS_OFF, "HdrS", 4) ||
	    le16(hdr + SETUP_VERSION_OFF) < 0x200 || !le16(hdr + SETUP_KVER_OFF))
		return false;
	off = (size_t)le16(hdr + SETUP_KVER_OFF) + SETUP_KVER_BASE;
	if (off >= len)
		return false;
	kver = (const char *)hdr + off;
	end = memchr(kver, '\0', len - off < KVER_MAX ? len - off : KVER_MAX);
	if (!end || end == kver)
		return false;
	memcpy(buf, kver, (size_t)(end - kver));
	buf[end - kver] = '\0';
	/* "RELEASE (BUILDER) VERSION" against "Linux version RELEASE (BUILDER) (CC) VERSION". */
	rel_len = strcspn(buf, " ");
	if (strncmp(banner, BANNER_PREFIX, plen) || strncmp(banner + plen, buf, rel_len) ||
	    banner[plen + rel_len] != ' ')
		return false;
	builder_end = strstr(buf + rel_len, ") ");
	if (!builder_end)
		return !buf[rel_len];	/* only a release: it matched */
	/* The builder part, "(x@y)", follows the release in both. */
	if (strncmp(banner + plen + rel_len, buf + rel_len, (size_t)(builder_end + 1 - (buf + rel_len))))
		return false;
	version = builder_end + 2;
	return strlen(banner) >= strlen(version) &&
	       !strcmp(banner + strlen(banner) - strlen(version), version);
}

/* Does the ELF file mapped at @img hold @banner (as one of its first banners)? */
static bool elf_holds_banner(const unsigned char *img, size_t len, const char *banner)
{
	char found[RW_BANNER_MAX];
	long long off = 0;

	for (int i = 0; i < ELF_BANNERS_MAX; i++) {
		off = vmi_find_banner(img, len, (size_t)off, found, sizeof(found));
		if (off < 0)
			return false;
		if (!strcmp(found, banner))
			return true;
		off++;
	}
	return false;
}

/* Cheap look at one file: could it be the image of @banner? */
static bool candidate(const char *path, const char *banner)
{
	unsigned char *hdr = malloc(HEADER_BYTES);
	struct stat sb;
	bool match = false;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || !hdr || fstat(fd, &sb) || !S_ISREG(sb.st_mode))
		goto out;
	n = pread(fd, hdr, HEADER_BYTES, 0);
	if (n >= 4 && !memcmp(hdr, "\x7f" "ELF", 4)) {
		if ((uint64_t)sb.st_size <= ELF_SCAN_MAX) {
			void *img = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);

			if (img != MAP_FAILED) {
				match = elf_holds_banner(img, (size_t)sb.st_size, banner);
				munmap(img, (size_t)sb.st_size);
			}
		}
	} else if (n > 0) {
		match = rw_ksearch_header_matches(hdr, (size_t)n, banner);
	}
out:
	if (fd >= 0)
		close(fd);
	free(hdr);
	return match;
}

static bool image_name(const char *name)
{
	return !strncmp(name, "vmlinuz", 7) || !strncmp(name, "vmlinux", 7) ||
	       !strncmp(name, "bzImage", 7);
}

struct search {
	struct rw_kernels *k;
	const char *banner;
	size_t looked, errors;
	char first_error[300];
	char *found;
	size_t foundlen;
};

/* Pre-filter, then confirm on the catalog.  0 found, 1 not this one. */
static int try_file(struct search *s, const char *path)
{
	const struct vmi_kcat *cat;
	char err[400];

	if (s->looked >= RW_KSEARCH_MAX_FILES)
		return 1;
	s->looked++;
	if (!candidate(path, s->banner))
		return 1;
	if (rw_kernels_get(s->k, path, &cat, err, sizeof(err))) {
		if (!s->errors++)
			snprintf(s->first_error, sizeof(s->first_error), "%.290s", err);
		return 1;
	}
	if (!vmi_kcat_banner(cat) || strcmp(vmi_kcat_banner(cat), s->banner))
		return 1;
	snprintf(s->found, s->foundlen, "%s", path);
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

static int try_dir(struct search *s, const char *dir)
{
	char (*names)[256] = calloc(RW_KSEARCH_MAX_FILES, sizeof(*names));
	char path[1024];
	struct dirent *de;
	size_t n = 0;
	DIR *d = opendir(dir);
	int rc = 1;

	if (!d || !names) {
		if (d)
			closedir(d);
		free(names);
		return 1;
	}
	while ((de = readdir(d)) && n < RW_KSEARCH_MAX_FILES)
		if (image_name(de->d_name))
			snprintf(names[n++], sizeof(names[0]), "%s", de->d_name);
	closedir(d);
	/* In name order: a search gives the same answer every time. */
	qsort(names, n, sizeof(names[0]), by_name);
	for (size_t i = 0; i < n && rc; i++)
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, names[i]) < sizeof(path))
			rc = try_file(s, path);
	free(names);
	return rc;
}

int rw_kernel_search(struct rw_kernels *k, const char *const *paths, size_t npaths,
		     const char *banner, char *found, size_t foundlen, char *why, size_t whylen)
{
	struct search s = { .k = k, .banner = banner, .found = found, .foundlen = foundlen };
	char where[600] = "";

	if (!banner || strncmp(banner, BANNER_PREFIX, strlen(BANNER_PREFIX))) {
		snprintf(why, whylen, "no kernel banner in guest RAM yet (booting?)");
		return -1;
	}
	if (k && rw_kernels_find_banner(k, banner, found, foundlen) == 0)
		return 0;
	for (size_t i = 0; i < npaths; i++) {
		struct stat sb;

		snprintf(where + strlen(where), sizeof(where) - strlen(where), "%s%s",
			 i ? ", " : "", paths[i]);
		if (stat(paths[i], &sb))
			continue;
		if ((S_ISDIR(sb.st_mode) ? try_dir(&s, paths[i]) : try_file(&s, paths[i])) == 0)
			return 0;
	}
	/* The release names it; the full banner is in the daemon's event. */
	snprintf(why, whylen,
		 "unknown kernel %.*s: its banner is none of the known images (%zu file%s looked "
		 "at%s%s)%s%.200s",
		 (int)strcspn(banner + strlen(BANNER_PREFIX), " ") < 64 ?
		 (int)strcspn(banner + strlen(BANNER_PREFIX), " ") : 64,
		 banner + strlen(BANNER_PREFIX), s.looked, s.looked == 1 ? "" : "s",
		 npaths ? " in kernel-search " : "; no kernel-search path configured",
		 npaths ? where : "", s.errors ? "; " : "", s.errors ? s.first_error : "");
	return -1;
}
