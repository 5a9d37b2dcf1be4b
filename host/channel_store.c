/* File-backed event store for channel_host; see channel_store.h. */
#include "host/channel_store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define REC_MAGIC 0x31535752u /* "RWS1" */
#define REC_HDR 16u
#define REC_TRAILER 8u
#define MAX_OPEN_STREAMS 128u

struct stream_log {
	struct rw_ch_stream_id id;
	int fd;
	uint64_t hwm;  /* last record written */
	off_t size;    /* file size after the last complete commit */
	uint8_t *stage;
	size_t stage_len, stage_cap;
	uint64_t stage_hwm;
	uint64_t last_use;
};

struct rw_ch_file_store {
	char dir[PATH_MAX];
	bool sync;
	struct stream_log logs[MAX_OPEN_STREAMS];
	unsigned nlogs;
	uint64_t clock;
};

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

int rw_ch_file_store_path(const char *dir, const struct rw_ch_stream_id *id, char *buf,
			  size_t len)
{
	char hex[2 * RW_PROTO_SESSION_ID_LEN + 1];
	int n;

	if (!rw_ch_vm_name_ok(id->vm))
		return -EINVAL;
	for (unsigned i = 0; i < RW_PROTO_SESSION_ID_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", id->session_id[i]);
	n = snprintf(buf, len, "%s/%s_%u_%s.log", dir, id->vm, id->component, hex);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

long rw_ch_file_store_scan(const char *path, rw_ch_record_fn fn, void *ctx, bool *torn)
{
	uint8_t hdr[REC_HDR], trailer[REC_TRAILER];
	uint8_t *frame;
	long count = 0;
	uint64_t last_seq = 0;
	FILE *f;

	if (torn)
		*torn = false;
	f = fopen(path, "rb");
	if (!f)
		return -errno;
	frame = malloc(RW_PROTO_MAX_FRAME);
	if (!frame) {
		fclose(f);
		return -ENOMEM;
	}
	for (;;) {
		size_t got = fread(hdr, 1, REC_HDR, f);
		uint32_t flen;
		uint64_t seq;
		XXH64_state_t *h;

		if (got == 0)
			break;
		if (got < REC_HDR || get_le(hdr, 4) != REC_MAGIC)
			goto torn;
		flen = (uint32_t)get_le(hdr + 4, 4);
		seq = get_le(hdr + 8, 8);
		if (flen < RW_PROTO_HDR_LEN || flen > RW_PROTO_MAX_FRAME || seq <= last_seq)
			goto torn;
		if (fread(frame, 1, flen, f) != flen || fread(trailer, 1, REC_TRAILER, f) != REC_TRAILER)
			goto torn;
		h = XXH64_createState();
		if (!h)
			goto torn;
		XXH64_reset(h, 0);
		XXH64_update(h, hdr, REC_HDR);
		XXH64_update(h, frame, flen);
		if (XXH64_digest(h) != get_le(trailer, 8)) {
			XXH64_freeState(h);
			goto torn;
		}
		XXH64_freeState(h);
		last_seq = seq;
		count++;
		if (fn && fn(ctx, seq, frame, flen))
			break;
	}
	free(frame);
	fclose(f);
	return count;
torn:
	if (torn)
		*torn = true;
	free(frame);
	fclose(f);
	return count;
}

struct scan_end {
	uint64_t seq;
	off_t end;
};

static int note_end(void *ctx, uint64_t seq, const uint8_t *frame, size_t len)
{
	struct scan_end *e = ctx;

	(void)frame;
	e->seq = seq;
	e->end += (off_t)(REC_HDR + len + REC_TRAILER);
	return 0;
}

static void log_close(struct stream_log *l)
{
	if (l->fd >= 0)
		close(l->fd);
	free(l->stage);
	memset(l, 0, sizeof(*l));
	l->fd = -1;
}

static struct stream_log *find_log(struct rw_ch_file_store *s, const struct rw_ch_stream_id *id)
{
	for (unsigned i = 0; i < s->nlogs; i++)
		if (!memcmp(&s->logs[i].id, id, sizeof(*id))) {
			s->logs[i].last_use = ++s->clock;
			return &s->logs[i];
		}
	return NULL;
}

/* Open (or re-open) a stream's log: scan it, cut a torn tail, set the mark. */
static int open_log(struct rw_ch_file_store *s, const struct rw_ch_stream_id *id,
		    struct stream_log **out)
{
	char path[PATH_MAX + 128];
	struct scan_end end = { 0, 0 };
	struct stream_log *l;
	bool torn;
	long n;
	int r, fd;

	r = rw_ch_file_store_path(s->dir, id, path, sizeof(path));
	if (r)
		return r;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	n = rw_ch_file_store_scan(path, note_end, &end, &torn);
	if (n < 0) {
		close(fd);
		return (int)n;
	}
	if (torn && ftruncate(fd, end.end) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	if (lseek(fd, end.end, SEEK_SET) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	l = find_log(s, id);
	if (!l) {
		if (s->nlogs < MAX_OPEN_STREAMS) {
			l = &s->logs[s->nlogs++];
		} else { /* reuse the least recently used slot */
			l = &s->logs[0];
			for (unsigned i = 1; i < s->nlogs; i++)
				if (s->logs[i].last_use < l->last_use)
					l = &s->logs[i];
		}
		log_close(l);
	} else {
		if (l->fd >= 0)
			close(l->fd);
		l->fd = -1;
	}
	l->id = *id;
	l->fd = fd;
	l->hwm = end.seq;
	l->size = end.end;
	l->stage_len = 0;
	l->stage_hwm = end.seq;
	l->last_use = ++s->clock;
	*out = l;
	return 0;
}

static int store_load(void *ctx, const struct rw_ch_stream_id *id, uint64_t *hwm)
{
	struct stream_log *l;
	int r = open_log(ctx, id, &l);

	if (r)
		return r;
	*hwm = l->hwm;
	return 0;
}

static int store_message(void *ctx, const struct rw_ch_stream_id *id, const struct rw_msg *msg,
			 const uint8_t *frame, size_t len)
{
	struct rw_ch_file_store *s = ctx;
	struct stream_log *l = find_log(s, id);
	size_t need = REC_HDR + len + REC_TRAILER;
	uint8_t *p;
	int r;

	if (!l) {
		r = open_log(s, id, &l);
		if (r)
			return r;
	}
	if (len < RW_PROTO_HDR_LEN || len > RW_PROTO_MAX_FRAME || msg->hdr.seq <= l->stage_hwm)
		return -EINVAL;
	if (l->stage_cap - l->stage_len < need) {
		size_t cap = l->stage_cap ? l->stage_cap : 65536;
		uint8_t *nb;

		while (cap - l->stage_len < need)
			cap *= 2;
		nb = realloc(l->stage, cap);
		if (!nb)
			return -ENOMEM;
		l->stage = nb;
		l->stage_cap = cap;
	}
	p = l->stage + l->stage_len;
	put_le(p, REC_MAGIC, 4);
	put_le(p + 4, len, 4);
	put_le(p + 8, msg->hdr.seq, 8);
	memcpy(p + REC_HDR, frame, len);
	put_le(p + REC_HDR + len, XXH64(p, REC_HDR + len, 0), 8);
	l->stage_len += need;
	l->stage_hwm = msg->hdr.seq;
	return 0;
}

static int store_commit(void *ctx, const struct rw_ch_stream_id *id, uint64_t hwm)
{
	struct rw_ch_file_store *s = ctx;
	struct stream_log *l = find_log(s, id);
	size_t done = 0;
	int r;

	if (!l || hwm != l->stage_hwm)
		return -EINVAL; /* the caller's mark must be what was staged */
	while (done < l->stage_len) {
		ssize_t n = write(l->fd, l->stage + done, l->stage_len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			/* keep the file a sequence of whole records */
			if (ftruncate(l->fd, l->size) < 0 || lseek(l->fd, l->size, SEEK_SET) < 0)
				r = -EIO;
			l->stage_len = 0;
			l->stage_hwm = l->hwm;
			return r;
		}
		done += (size_t)n;
	}
	if (s->sync && l->stage_len && fdatasync(l->fd) < 0)
		return -errno;
	l->size += (off_t)l->stage_len;
	l->stage_len = 0;
	l->hwm = hwm;
	return 0;
}

struct rw_ch_file_store *rw_ch_file_store_open(const char *dir, bool sync, int *err)
{
	struct rw_ch_file_store *s;
	struct stat st;

	if (!dir || strlen(dir) >= PATH_MAX - 200) {
		if (err)
			*err = -EINVAL;
		return NULL;
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		if (err)
			*err = errno ? -errno : -ENOTDIR;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		if (err)
			*err = -ENOMEM;
		return NULL;
	}
	snprintf(s->dir, sizeof(s->dir), "%s", dir);
	s->sync = sync;
	for (unsigned i = 0; i < MAX_OPEN_STREAMS; i++)
		s->logs[i].fd = -1;
	return s;
}

void rw_ch_file_store_close(struct rw_ch_file_store *s)
{
	if (!s)
		return;
	for (unsigned i = 0; i < s->nlogs; i++)
		log_close(&s->logs[i]);
	free(s);
}

void rw_ch_file_store_sink(struct rw_ch_file_store *s, struct rw_ch_sink_ops *ops, void **ctx)
{
	ops->load = store_load;
	ops->on_message = store_message;
	ops->commit = store_commit;
	*ctx = s;
}
