/* The channel service inside ringwatchd: listens for guest streams and hands
 * them to channel_host.
 *
 *  - transport B: a unix socket that every VM's ringwatch-vsockd connects to
 *    (host/vsock_relay.h: one connection per guest stream after a preamble
 *    naming the VM, plus one control connection per vsockd carrying the guest
 *    RAM fds from SET_MEM_TABLE); the RAM becomes the VM's vmi_mem source, so
 *    the memory the device uses for its rings is the memory introspection
 *    reads;
 *  - transport A: an AF_VSOCK listener (host kernel vhost_vsock); the peer CID
 *    names the VM.
 *
 * A misbehaving stream (bad preamble, garbage frames, timeouts) is closed with
 * its reason logged; everything else carries on. Single-threaded: run
 * rw_channel_service_run_once from one loop. */
#ifndef RW_HOST_CHANNEL_SERVICE_H
#define RW_HOST_CHANNEL_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "host/channel_host.h"

struct vmi_mem;

struct rw_channel_service_config {
	const char *unix_path;  /* transport B listener (mode 0600), NULL = none */
	uint32_t vsock_port;    /* transport A: AF_VSOCK port, 0 = none */
	struct rw_ch_config ch; /* sink, app callbacks, logger, limits */
	/* VM name for a transport A peer; NULL: "cid-<cid>". Return 0 and fill
	 * name (< RW_CH_VM_NAME_MAX) to accept, non-zero to refuse. */
	int (*vm_for_cid)(void *ctx, uint32_t cid, char *name, size_t len);
	/* Guest RAM of a VM (transport B) mapped read-only; mem == NULL: gone.
	 * mem stays valid until the next call for this VM (or service free). */
	void (*on_ram)(void *ctx, const char *vm, struct vmi_mem *mem);
	void *ctx;
	unsigned preamble_timeout_ms; /* default 5000 */
	unsigned linger_ms;           /* flushing a closing connection, default 2000 */
	unsigned max_fds;             /* connections of all kinds, default 512 */
};

struct rw_channel_service;

/* NULL with a reason in err. */
struct rw_channel_service *rw_channel_service_new(const struct rw_channel_service_config *cfg,
						  char *err, size_t errlen);
void rw_channel_service_free(struct rw_channel_service *s);
/* Wait up to timeout_ms for events and handle them. 0 or -errno (poll). */
int rw_channel_service_run_once(struct rw_channel_service *s, int timeout_ms);

struct rw_ch_host *rw_channel_service_host(struct rw_channel_service *s);
/* The newest ready, not closing stream of @vm from @component, or NULL. */
struct rw_ch_conn *rw_channel_service_find(struct rw_channel_service *s, const char *vm,
					   uint8_t component);
/* RAM of a VM received over transport B, or NULL. */
struct vmi_mem *rw_channel_service_vm_mem(struct rw_channel_service *s, const char *vm);

struct rw_channel_service_stats {
	uint64_t accepted;       /* connections accepted (both transports) */
	uint64_t rejected;       /* bad preamble / control data / limits */
	uint64_t streams;        /* guest streams handed to channel_host */
	uint64_t ram_updates;    /* RAM tables received */
	unsigned open_fds;
};
void rw_channel_service_get_stats(const struct rw_channel_service *s,
				  struct rw_channel_service_stats *st);

#endif
