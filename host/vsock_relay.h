/* ringwatch-vsockd's core: the vhost-user-vsock device of one VM (vhu_server)
 * relaying guest streams to the channel service in ringwatchd over unix
 * sockets, and handing the guest RAM fds to it.
 *
 * Why a separate process: QEMU 7.2 never redoes the vhost-user handshake of
 * vhost-user-vsock, so the device must outlive ringwatchd restarts. vsockd
 * holds no policy and no protocol state beyond byte relaying; ringwatchd can
 * be killed and restarted while the VM runs (docs/vhost-user-vsock.md).
 *
 * Upstream wire (unix SOCK_STREAM to ringwatchd's channel socket; vsockd
 * connects, ringwatchd listens, so a restarted ringwatchd just listens again):
 *   every connection starts with a 96-byte preamble
 *     0 u32 magic "RWR1" | 4 u16 version 1 | 6 u16 kind (1 stream, 2 control)
 *     8 u32 guest cid | 12 u32 guest port | 16 u32 host port | 20 u32 0
 *     24 char vm[64] (NUL-padded, [A-Za-z0-9._-]) | 88 u64 0
 *   kind stream: then the guest's bytes, both ways, unchanged; either side
 *     closing ends the guest connection (vsockd: RST/SHUTDOWN to the guest).
 *   kind control (one per vsockd): vsockd -> ringwatchd records
 *     u32 magic "RWM1" | u32 n (0..8) | n x { u64 gpa, u64 size, u64 fd_offset }
 *     sent with one sendmsg carrying the n region fds (SCM_RIGHTS), after
 *     connecting and on every SET_MEM_TABLE (n = 0: RAM gone). */
#ifndef RW_HOST_VSOCK_RELAY_H
#define RW_HOST_VSOCK_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "host/vhu_log.h"
#include "host/vhu_server.h"

#define RW_RELAY_MAGIC 0x31525752u     /* "RWR1" */
#define RW_RELAY_MEM_MAGIC 0x314d5752u /* "RWM1" */
#define RW_RELAY_VERSION 1u
#define RW_RELAY_PREAMBLE_LEN 96u
#define RW_RELAY_VM_MAX 64u
#define RW_RELAY_MAX_REGIONS 8u
#define RW_RELAY_MEM_HDR 8u
#define RW_RELAY_MEM_REGION 24u
#define RW_RELAY_MEM_MAX (RW_RELAY_MEM_HDR + RW_RELAY_MAX_REGIONS * RW_RELAY_MEM_REGION)

enum rw_relay_kind { RW_RELAY_STREAM = 1, RW_RELAY_CONTROL = 2 };

struct rw_relay_preamble {
	uint16_t kind;
	uint32_t cid, guest_port, host_port;
	char vm[RW_RELAY_VM_MAX];
};

struct rw_relay_region {
	uint64_t gpa, size, fd_offset;
};

void rw_relay_preamble_encode(const struct rw_relay_preamble *p, uint8_t out[RW_RELAY_PREAMBLE_LEN]);
/* 0, or a negative code with *why set: bad magic/version/kind/name/reserved. */
int rw_relay_preamble_decode(const uint8_t in[RW_RELAY_PREAMBLE_LEN], struct rw_relay_preamble *p,
			     const char **why);
/* Encodes a MEM record; returns its length. n <= RW_RELAY_MAX_REGIONS. */
size_t rw_relay_mem_encode(const struct rw_relay_region *r, unsigned n, uint8_t *out);

struct vsock_relay_config {
	const char *vm_name;       /* required, [A-Za-z0-9._-]{1,63} */
	const char *vhost_socket;  /* where QEMU connects (vhost-user) */
	const char *upstream;      /* ringwatchd's channel socket */
	uint64_t guest_cid;        /* >= 3 */
	const uint32_t *ports;     /* host ports relayed; default { 7391 } */
	unsigned nports;
	size_t up_buf;             /* guest->host bytes buffered per stream (default 1 MiB) */
	struct vsock_dev_config vsock; /* guest_cid is filled from guest_cid */
	struct vhu_logger log;
};

struct vsock_relay;

struct vsock_relay *vsock_relay_new(const struct vsock_relay_config *cfg);
void vsock_relay_free(struct vsock_relay *r);
/* One batch of events (device, upstream sockets, timers). 0 or -errno. */
int vsock_relay_run_once(struct vsock_relay *r, int timeout_ms);

struct vsock_relay_stats {
	uint64_t streams_opened;   /* guest connections relayed */
	uint64_t streams_refused;  /* refused: upstream unavailable */
	uint64_t streams_reset;    /* ended because the upstream went away */
	uint64_t overflows;        /* guest data beyond up_buf (stream reset) */
	uint64_t bytes_up, bytes_down;
	uint64_t control_connects; /* control connections made */
	uint64_t mem_sent;         /* MEM records sent */
	unsigned streams;          /* open now */
	bool control_up;
};
void vsock_relay_get_stats(const struct vsock_relay *r, struct vsock_relay_stats *st);
struct vhu_server *vsock_relay_server(struct vsock_relay *r);

#endif
