/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ringwatchd's durable state: SQLite in WAL mode with synchronous=FULL, in
 * <state-dir>/ringwatch.db.  Every write is one transaction that is committed
 * (WAL fsynced) before the call returns, so whatever a caller acknowledges or
 * shows after a successful return survives kill -9 of the daemon and a host
 * crash.
 *
 * Tables:
 *   vms(name, kind, qmp, mem, kernel, kernel_version, state, interval_ms,
 *       paused_by_us, run_dir, pid, added_ms, changed_ms)
 *   events(id, vm, time_ms, source, check_name, severity, detail JSON, ack_ms)
 *   check_status(vm, check_name, result, source, summary, time_ms)
 *
 * One connection, serialised by a mutex: safe to call from any thread.
 */
#ifndef RW_HOST_DAEMON_STORE_H
#define RW_HOST_DAEMON_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

enum rw_severity {
	RW_SEV_INFO = 0,
	RW_SEV_WARNING = 1,
	RW_SEV_ALERT = 2,
	RW_SEV_ERROR = 3,
};
#define RW_SEV_COUNT 4

const char *rw_severity_name(enum rw_severity s);
/* 0 and *out, or -1 for an unknown name. */
int rw_severity_parse(const char *name, enum rw_severity *out);

struct rw_store;

/* Open (creating) <dir>/ringwatch.db.  Returns 0, or -1 with @err. */
int rw_store_open(const char *dir, struct rw_store **out, char *err, size_t errlen);
void rw_store_close(struct rw_store *st);

/* Longest detail JSON accepted (bytes); bigger details are replaced by a note. */
#define RW_STORE_MAX_DETAIL (64u << 10)

/*
 * Append an event and commit it.  Returns the event id (> 0) only once the
 * commit is durable, or -1 with @err.  @detail may be NULL (stored as {}); it
 * is not consumed.  @time_ms_out (may be NULL) gets the stored time (Unix ms).
 */
int64_t rw_store_append_event(struct rw_store *st, const char *vm, const char *source,
			      const char *check, enum rw_severity sev, json_t *detail,
			      int64_t *time_ms_out, char *err, size_t errlen);

struct rw_event_query {
	const char *vm;		/* NULL: every VM */
	int64_t since_ms;	/* events at or after this time (0: all) */
	int64_t after_id;	/* events with a larger id (0: all) */
	unsigned int limit;	/* at most this many, newest kept (0: 1000) */
};

/*
 * Events matching @q in id order, as a JSON array of objects
 * {id, vm, time_ms, source, check, severity, detail, acked}.  Returns 0 or -1.
 */
int rw_store_events(struct rw_store *st, const struct rw_event_query *q, json_t **out,
		    char *err, size_t errlen);

/* Highest event id (0 when empty), or -1. */
int64_t rw_store_last_event_id(struct rw_store *st);

/* Unacknowledged alert events of @vm (NULL: all VMs), or -1. */
int64_t rw_store_open_alerts(struct rw_store *st, const char *vm);

/*
 * Acknowledge @vm's open alerts: the one with @id, or all when @id is 0.
 * Returns the number acknowledged, or -1 with @err.
 */
int64_t rw_store_ack(struct rw_store *st, const char *vm, int64_t id, char *err,
		     size_t errlen);

/* A VM record as persisted. */
struct rw_store_vm {
	char name[64];
	char kind[16];		/* "attached" | "launched" */
	char qmp[300];
	char mem[300];
	char kernel[512];
	char kernel_version[128];
	char state[16];		/* "active" | "gone" */
	unsigned int interval_ms;	/* 0: the daemon's default */
	bool paused_by_us;
	char run_dir[256];	/* launched: the launcher's run dir */
	int64_t pid;		/* launched: QEMU pid */
	int64_t added_ms;
	int64_t changed_ms;
};

int rw_store_vm_put(struct rw_store *st, const struct rw_store_vm *vm, char *err,
		    size_t errlen);
int rw_store_vm_delete(struct rw_store *st, const char *name, char *err, size_t errlen);
/* Every VM, name order, into a malloc'd array. Returns 0 or -1. */
int rw_store_vm_list(struct rw_store *st, struct rw_store_vm **out, size_t *n, char *err,
		     size_t errlen);

struct rw_store_check {
	char check[48];
	char result[16];
	char source[32];
	char summary[256];
	int64_t time_ms;
};

int rw_store_check_put(struct rw_store *st, const char *vm, const struct rw_store_check *c,
		       char *err, size_t errlen);
/* Last persisted status of each check of @vm, malloc'd array. */
int rw_store_check_list(struct rw_store *st, const char *vm, struct rw_store_check **out,
			size_t *n, char *err, size_t errlen);

/*
 * Guest channel streams (host/daemon_channel.c).  A stream is (vm, component,
 * session hex); its mark is the highest sequence number stored.
 *   channel_streams(vm, component, session, hwm, time_ms)
 *   channel_state(vm, component, kind, key, seq, count, time_ms, detail JSON)
 *     latest-state rows (heartbeat, cpu-state per CPU...): replaced, not appended.
 */
struct rw_store_chan_event {
	const char *check;
	enum rw_severity sev;
	json_t *detail;		/* not consumed; NULL = {} */
	int64_t id;		/* out: event id after the commit */
	int64_t time_ms;	/* out */
};

struct rw_store_chan_state {
	const char *kind;	/* "heartbeat", "cpu-state", ... */
	char key[32];		/* "" or e.g. the CPU number */
	uint64_t seq;
	uint64_t count;		/* messages folded into this row since the last commit */
	json_t *detail;		/* not consumed */
};

/* The stream's mark (0 for a stream never seen).  0 or -1. */
int rw_store_channel_mark(struct rw_store *st, const char *vm, const char *component,
			  const char *session, uint64_t *hwm, char *err, size_t errlen);

/*
 * One transaction: append @nev events (source = @component), upsert @nst
 * state rows and set the stream's mark to @hwm.  Returns 0 once committed
 * (fsynced), filling each event's id and time, or -1 with nothing stored.
 */
int rw_store_channel_commit(struct rw_store *st, const char *vm, const char *component,
			    const char *session, uint64_t hwm, struct rw_store_chan_event *ev,
			    size_t nev, const struct rw_store_chan_state *states, size_t nst,
			    char *err, size_t errlen);

/* Latest-state rows of @vm as a JSON array of {component, kind, key, seq, count, time_ms,
 * detail}. 0 or -1. */
int rw_store_channel_states(struct rw_store *st, const char *vm, json_t **out, char *err,
			    size_t errlen);

/* Wall-clock now in Unix milliseconds. */
int64_t rw_now_ms(void);

#endif
