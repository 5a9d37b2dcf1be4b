// SPDX-License-Identifier: GPL-2.0
#include "host/cpio.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CPIO_MAX_DEPTH 32

struct cpio_writer {
	FILE *out;
	uint64_t offset;	/* bytes written, for 4-byte padding */
	unsigned int ino;
	char *err;
	size_t errlen;
};

static int put(struct cpio_writer *w, const void *p, size_t n)
{
	if (n && fwrite(p, 1, n, w->out) != n) {
		snprintf(w->err, w->errlen, "cpio write: %s", strerror(errno));
		return -1;
	}
	w->offset += n;
	return 0;
}

static int pad4(struct cpio_writer *w)
{
	static const char zeros[4];
	size_t n = (4 - (w->offset & 3)) & 3;

	return put(w, zeros, n);
}

static int put_entry(struct cpio_writer *w, const char *name, uint32_t mode,
		     const void *data, uint32_t size)
{
	char hdr[6 + 13 * 8 + 1];
	uint32_t namesize = (uint32_t)strlen(name) + 1;

	snprintf(hdr, sizeof(hdr),
		 "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		 ++w->ino, mode, 0u, 0u, 1u, 0u, size, 0u, 0u, 0u, 0u, namesize, 0u);
	if (put(w, hdr, 6 + 13 * 8) || put(w, name, namesize) || pad4(w))
		return -1;
	if (put(w, data, size) || pad4(w))
		return -1;
	return 0;
}

static int put_file(struct cpio_writer *w, const char *path, const char *name,
		    const struct stat *st)
{
	FILE *in;
	char *data;
	int rc;

	if (st->st_size > (off_t)UINT32_MAX) {
		snprintf(w->err, w->errlen, "%s: too large for cpio", path);
		return -1;
	}
	data = malloc(st->st_size ? (size_t)st->st_size : 1);
	if (!data) {
		snprintf(w->err, w->errlen, "%s: out of memory", path);
		return -1;
	}
	in = fopen(path, "rb");
	if (!in || fread(data, 1, (size_t)st->st_size, in) != (size_t)st->st_size) {
		snprintf(w->err, w->errlen, "%s: %s", path, in ? "short read" : strerror(errno));
		if (in)
			fclose(in);
		free(data);
		return -1;
	}
	fclose(in);
	rc = put_entry(w, name, (uint32_t)(S_IFREG | (st->st_mode & 07777)), data,
		       (uint32_t)st->st_size);
	free(data);
	return rc;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk(struct cpio_writer *w, const char *dir, const char *rel, int depth);

static int put_path(struct cpio_writer *w, const char *path, const char *name, int depth)
{
	struct stat st;
	char target[PATH_MAX];
	ssize_t n;

	if (lstat(path, &st) < 0) {
		snprintf(w->err, w->errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (S_ISDIR(st.st_mode)) {
		if (put_entry(w, name, (uint32_t)(S_IFDIR | (st.st_mode & 07777)), NULL, 0))
			return -1;
		return walk(w, path, name, depth + 1);
	}
	if (S_ISREG(st.st_mode))
		return put_file(w, path, name, &st);
	if (S_ISLNK(st.st_mode)) {
		n = readlink(path, target, sizeof(target));
		if (n < 0 || n >= (ssize_t)sizeof(target)) {
			snprintf(w->err, w->errlen, "%s: bad symlink", path);
			return -1;
		}
		return put_entry(w, name, S_IFLNK | 0777, target, (uint32_t)n);
	}
	snprintf(w->err, w->errlen, "%s: only files, directories and symlinks are allowed", path);
	return -1;
}

static int walk(struct cpio_writer *w, const char *dir, const char *rel, int depth)
{
	struct dirent *de;
	char **names = NULL;
	size_t count = 0, cap = 0, i;
	DIR *d;
	int rc = 0;

	if (depth > CPIO_MAX_DEPTH) {
		snprintf(w->err, w->errlen, "%s: nested deeper than %d", dir, CPIO_MAX_DEPTH);
		return -1;
	}
	d = opendir(dir);
	if (!d) {
		snprintf(w->err, w->errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (count == cap) {
			char **grown = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof(*names));

			if (!grown) {
				rc = -1;
				break;
			}
			names = grown;
		}
		names[count] = strdup(de->d_name);
		if (!names[count]) {
			rc = -1;
			break;
		}
		count++;
	}
	closedir(d);
	if (rc)
		snprintf(w->err, w->errlen, "%s: out of memory", dir);
	if (!rc)
		qsort(names, count, sizeof(*names), cmp_names);
	for (i = 0; !rc && i < count; i++) {
		char path[PATH_MAX], name[PATH_MAX];

		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >= sizeof(path) ||
		    (size_t)snprintf(name, sizeof(name), "%s%s%s", rel, *rel ? "/" : "",
				     names[i]) >= sizeof(name)) {
			snprintf(w->err, w->errlen, "%s/%s: path too long", dir, names[i]);
			rc = -1;
			break;
		}
		rc = put_path(w, path, name, depth);
	}
	for (i = 0; i < count; i++)
		free(names[i]);
	free(names);
	return rc;
}

int rw_cpio_write_dir(FILE *out, const char *dir, char *err, size_t errlen)
{
	struct cpio_writer w = { .out = out, .err = err, .errlen = errlen };
	struct stat st;

	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "overlay %s: not a directory", dir);
		return -1;
	}
	if (walk(&w, dir, "", 0))
		return -1;
	if (put_entry(&w, "TRAILER!!!", 0, NULL, 0))
		return -1;
	return fflush(out) ? -1 : 0;
}
