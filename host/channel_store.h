/* File-backed event store for channel_host (rw_ch_sink_ops): one append-only
 * log per guest stream, <dir>/<vm>_<component>_<sessionhex>.log.
 *
 * Record: u32 magic "RWS1", u32 frame_len, u64 seq, frame bytes (the raw
 * protocol frame), u64 XXH64 over everything before it; little-endian.
 *
 * Store-then-ack: on_message stages the record in memory; commit appends the
 * staged records in order and returns only once they are written (fdatasync
 * with sync = true, for power loss; without it the log survives the daemon
 * being killed, not the host crashing). The stream's mark is the seq of the
 * last complete record, so the stored messages and the mark are one thing and
 * cannot disagree: a commit torn by a crash leaves a prefix of whole records
 * plus a torn tail, which the next load cuts off.
 *
 * The daemon backs the same interface with its SQLite event store. */
#ifndef RW_HOST_CHANNEL_STORE_H
#define RW_HOST_CHANNEL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "host/channel_host.h"

struct rw_ch_file_store;

/* dir must exist. NULL with *err = -errno. */
struct rw_ch_file_store *rw_ch_file_store_open(const char *dir, bool sync, int *err);
void rw_ch_file_store_close(struct rw_ch_file_store *s);
/* Sink callbacks for rw_ch_config (ctx = the store). */
void rw_ch_file_store_sink(struct rw_ch_file_store *s, struct rw_ch_sink_ops *ops, void **ctx);

/* Path of a stream's log (buf >= 4096 recommended). */
int rw_ch_file_store_path(const char *dir, const struct rw_ch_stream_id *id, char *buf,
			  size_t len);

/* Read a log: calls fn for each complete record, in order; stops at the first
 * torn or corrupt record (*torn set when there was one) or when fn returns
 * non-zero. Returns the number of records read or -errno. */
typedef int (*rw_ch_record_fn)(void *ctx, uint64_t seq, const uint8_t *frame, size_t len);
long rw_ch_file_store_scan(const char *path, rw_ch_record_fn fn, void *ctx, bool *torn);

#endif
