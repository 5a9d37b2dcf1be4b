// SPDX-License-Identifier: GPL-2.0
/* Registry of kernel catalogs (by file identity and build ID) + the shared integrity cache. */
#include "host/kernels.h"

#include "host/integrity.h"
#include "vmi/kcat.h"

#include <errno.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define KERNELS_MAX_PATHS 64
#define KERNELS_PATH_MAX 512

/* One path as last seen, and the catalog it resolved to. */
struct kpath {
	char path[KERNELS_PATH_MAX];
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	struct vmi_kcat *cat;	/* owned by cats[] */
};

struct rw_kernels {
	pthread_mutex_t lock;
	struct vmi_kcat *cats[RW_KERNELS_MAX];
	size_t ncats;
	struct kpath paths[KERNELS_MAX_PATHS];
	size_t npaths;
	struct rw_integrity_cache *cache;
};

struct rw_kernels *rw_kernels_new(void)
{
	struct rw_kernels *k = calloc(1, sizeof(*k));

	if (!k)
		return NULL;
	k->cache = rw_integrity_cache_new();
	if (!k->cache) {
		free(k);
		return NULL;
	}
	pthread_mutex_init(&k->lock, NULL);
	return k;
}

void rw_kernels_free(struct rw_kernels *k)
{
	if (!k)
		return;
	rw_integrity_cache_free(k->cache);
	for (size_t i = 0; i < k->ncats; i++)
		vmi_kcat_close(k->cats[i]);
	pthread_mutex_destroy(&k->lock);
	free(k);
}

struct rw_integrity_cache *rw_kernels_integrity_cache(struct rw_kernels *k)
{
	return k->cache;
}

size_t rw_kernels_count(struct rw_kernels *k)
{
	size_t n;

	pthread_mutex_lock(&k->lock);
	n = k->ncats;
	pthread_mutex_unlock(&k->lock);
	return n;
}

static bool same_file(const struct kpath *p, const struct stat *sb)
{
	return p->dev == sb->st_dev && p->ino == sb->st_ino && p->size == sb->st_size &&
	       p->mtime.tv_sec == sb->st_mtim.tv_sec && p->mtime.tv_nsec == sb->st_mtim.tv_nsec;
}

/* The registered catalog with @kc's build ID, or NULL. */
static struct vmi_kcat *find_build(struct rw_kernels *k, const struct vmi_kcat *kc)
{
	for (size_t i = 0; i < k->ncats; i++)
		if (!strcmp(vmi_kcat_build_id_hex(k->cats[i]), vmi_kcat_build_id_hex(kc)))
			return k->cats[i];
	return NULL;
}

/* Open @path and return the registry's catalog for its build (lock held). */
static int open_locked(struct rw_kernels *k, const char *path, struct vmi_kcat **out, char *err,
		       size_t errlen)
{
	struct vmi_kcat *kc, *known;
	char why[512];
	int rc;

	rc = vmi_kcat_open(path, &kc, why, sizeof(why));
	if (rc) {
		snprintf(err, errlen, "kernel image %s: %s (%s)", path, vmi_kcat_strerror(rc), why);
		return -1;
	}
	known = find_build(k, kc);
	if (known) {
		vmi_kcat_close(kc);
		*out = known;
		return 0;
	}
	if (k->ncats == RW_KERNELS_MAX) {
		vmi_kcat_close(kc);
		snprintf(err, errlen, "kernel image %s: more than %d distinct kernel builds in use",
			 path, RW_KERNELS_MAX);
		return -1;
	}
	k->cats[k->ncats++] = kc;
	*out = kc;
	return 0;
}

int rw_kernels_get(struct rw_kernels *k, const char *path, const struct vmi_kcat **out,
		   char *err, size_t errlen)
{
	struct kpath *slot = NULL;
	struct vmi_kcat *kc;
	struct stat sb;
	int rc = -1;

	if (!k || !path || !*path || strlen(path) >= KERNELS_PATH_MAX) {
		snprintf(err, errlen, "no usable kernel image path");
		return -1;
	}
	if (stat(path, &sb)) {
		snprintf(err, errlen, "kernel image %s: %s", path, strerror(errno));
		return -1;
	}
	pthread_mutex_lock(&k->lock);
	for (size_t i = 0; i < k->npaths; i++) {
		if (strcmp(k->paths[i].path, path))
			continue;
		slot = &k->paths[i];
		if (same_file(slot, &sb)) {
			*out = slot->cat;
			rc = 0;
			goto out;
		}
		break;	/* the file changed: read it again */
	}
	if (!slot && k->npaths == KERNELS_MAX_PATHS) {
		snprintf(err, errlen, "kernel image %s: more than %d kernel image paths in use",
			 path, KERNELS_MAX_PATHS);
		goto out;
	}
	if (open_locked(k, path, &kc, err, errlen))
		goto out;
	if (!slot) {
		slot = &k->paths[k->npaths++];
		snprintf(slot->path, sizeof(slot->path), "%s", path);
	}
	slot->dev = sb.st_dev;
	slot->ino = sb.st_ino;
	slot->size = sb.st_size;
	slot->mtime = sb.st_mtim;
	slot->cat = kc;
	*out = kc;
	rc = 0;
out:
	pthread_mutex_unlock(&k->lock);
	return rc;
}

int rw_kernels_find_banner(struct rw_kernels *k, const char *banner, char *path,
			   size_t pathlen)
{
	int rc = -1;

	pthread_mutex_lock(&k->lock);
	for (size_t i = 0; i < k->npaths && rc; i++) {
		const char *b = vmi_kcat_banner(k->paths[i].cat);

		if (b && !strcmp(b, banner)) {
			snprintf(path, pathlen, "%s", k->paths[i].path);
			rc = 0;
		}
	}
	pthread_mutex_unlock(&k->lock);
	return rc;
}
