/* vhost-user back-end protocol (QEMU docs/interop/vhost-user.rst) as a state
 * machine: vhu_handle_msg() applies one front-end message to a struct vhu_dev
 * and fills the reply. Socket helpers move messages and SCM_RIGHTS fds.
 *
 * Scope: split rings, no IOMMU, no dirty logging, no back-end request channel,
 * at most VHU_MAX_QUEUES rings, at most GUEST_RAM_MAX_REGIONS memory regions. */
#ifndef RW_HOST_VHOST_USER_H
#define RW_HOST_VHOST_USER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "host/guest_ram.h"
#include "host/vhu_log.h"
#include "host/virtqueue.h"

enum vhu_request {
	VHU_GET_FEATURES = 1,
	VHU_SET_FEATURES = 2,
	VHU_SET_OWNER = 3,
	VHU_RESET_OWNER = 4,
	VHU_SET_MEM_TABLE = 5,
	VHU_SET_LOG_BASE = 6,
	VHU_SET_LOG_FD = 7,
	VHU_SET_VRING_NUM = 8,
	VHU_SET_VRING_ADDR = 9,
	VHU_SET_VRING_BASE = 10,
	VHU_GET_VRING_BASE = 11,
	VHU_SET_VRING_KICK = 12,
	VHU_SET_VRING_CALL = 13,
	VHU_SET_VRING_ERR = 14,
	VHU_GET_PROTOCOL_FEATURES = 15,
	VHU_SET_PROTOCOL_FEATURES = 16,
	VHU_GET_QUEUE_NUM = 17,
	VHU_SET_VRING_ENABLE = 18,
	VHU_SET_BACKEND_REQ_FD = 21,
	VHU_GET_CONFIG = 24,
	VHU_SET_CONFIG = 25,
	VHU_RESET_DEVICE = 34,
	VHU_GET_MAX_MEM_SLOTS = 36,
	VHU_SET_STATUS = 39,
	VHU_GET_STATUS = 40,
};

#define VHU_FLAG_VERSION 0x1u
#define VHU_FLAG_VERSION_MASK 0x3u
#define VHU_FLAG_REPLY 0x4u
#define VHU_FLAG_NEED_REPLY 0x8u

/* virtio / vhost feature bits we know about */
#define VHU_F_NOTIFY_ON_EMPTY 24
#define VHU_F_INDIRECT_DESC 28
#define VHU_F_EVENT_IDX 29
#define VHU_F_PROTOCOL_FEATURES 30
#define VHU_F_VERSION_1 32
#define VHU_F_ACCESS_PLATFORM 33

#define VHU_PROTO_F_MQ 0
#define VHU_PROTO_F_REPLY_ACK 3
#define VHU_PROTO_F_CONFIG 9
#define VHU_PROTO_F_RESET_DEVICE 13

#define VHU_VRING_IDX_MASK 0xffu
#define VHU_VRING_NOFD_MASK 0x100u

#define VHU_MAX_QUEUES 3
#define VHU_MAX_FDS 8 /* most fds accepted with one message */
#define VHU_HDR_SIZE 12u
#define VHU_MAX_PAYLOAD 512u /* largest payload we accept (mem table is 264) */
#define VHU_MAX_CONFIG 256u

struct vhu_vring_state {
	uint32_t index;
	uint32_t num;
};

struct vhu_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc_user_addr;
	uint64_t used_user_addr;
	uint64_t avail_user_addr;
	uint64_t log_guest_addr;
};

struct vhu_mem_region_desc {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t mmap_offset;
};

struct vhu_mem_table {
	uint32_t nregions;
	uint32_t padding;
	struct vhu_mem_region_desc regions[GUEST_RAM_MAX_REGIONS];
};

struct vhu_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t region[VHU_MAX_CONFIG];
};

struct vhu_msg {
	uint32_t request;
	uint32_t flags;
	uint32_t size; /* payload bytes */
	union {
		uint64_t u64;
		struct vhu_vring_state state;
		struct vhu_vring_addr addr;
		struct vhu_mem_table mem;
		struct vhu_config config;
		uint8_t raw[VHU_MAX_PAYLOAD];
	} payload;
};

/* Device-specific part supplied by the device (vsock). All callbacks optional. */
struct vhu_dev_ops {
	uint64_t device_features; /* virtio feature bits offered besides VERSION_1 */
	unsigned nqueues;         /* rings this device processes (<= VHU_MAX_QUEUES) */
	/* Fill buf[0..size) with config space bytes at offset; 0 or -1. */
	int (*get_config)(void *opaque, uint32_t offset, uint8_t *buf, uint32_t size);
	/* Ring idx became usable (started and enabled) / stops being usable. */
	void (*ring_ready)(void *opaque, unsigned idx);
	void (*ring_stop)(void *opaque, unsigned idx);
	/* The guest RAM table changed (also called with n == 0 on teardown).
	 * Region fds stay owned by vhu_dev: dup() them to keep them. */
	void (*mem_changed)(void *opaque, const struct guest_ram_region *r, unsigned n);
};

struct vhu_vring {
	uint32_t num;        /* 0 = not set */
	bool addr_set;
	struct vhu_vring_addr addr;
	uint16_t base;       /* from SET_VRING_BASE */
	int kick_fd;         /* -1 when none (then the ring is polled) */
	int call_fd;
	int err_fd;
	bool started;        /* kick received; rings mapped */
	bool enabled;
	struct vq vq;
};

struct vhu_dev {
	struct vhu_dev_ops ops;
	void *opaque;
	struct vhu_logger log;
	uint64_t features;          /* acknowledged by SET_FEATURES */
	uint64_t protocol_features; /* acknowledged by SET_PROTOCOL_FEATURES */
	bool owner;
	unsigned nmsgs;
	struct guest_ram ram;
	struct vhu_vring vr[VHU_MAX_QUEUES];
	char error[192]; /* reason for the last failed message */
};

/* Return values of vhu_handle_msg. */
#define VHU_NO_REPLY 0
#define VHU_SEND_REPLY 1

enum vhu_err {
	VHU_E_PROTO = -1,    /* malformed message (size/version/flags) */
	VHU_E_UNKNOWN = -2,  /* request we do not implement */
	VHU_E_FDS = -3,      /* wrong number of fds with the message */
	VHU_E_INVAL = -4,    /* bad argument (index, size, features...) */
	VHU_E_MEM = -5,      /* memory table invalid or mmap failed */
	VHU_E_RING = -6,     /* ring cannot be set up over guest RAM */
	VHU_E_STATE = -7,    /* message not valid in the current state */
	VHU_E_IO = -8,       /* socket error */
	VHU_E_EOF = -9,      /* peer closed */
};

const char *vhu_request_name(uint32_t request);

void vhu_dev_init(struct vhu_dev *dev, const struct vhu_dev_ops *ops, void *opaque,
		  const struct vhu_logger *log);
/* Drops the session: stops rings, closes fds, unmaps RAM; the struct can be reused
 * for the next connection. */
void vhu_dev_reset(struct vhu_dev *dev);

/* Applies msg. fds[0..nfds) are the fds received with it; the handler takes
 * ownership of those it keeps by replacing them with -1, and the caller must
 * close the rest. Returns VHU_NO_REPLY, VHU_SEND_REPLY (reply filled), or a
 * negative vhu_err meaning the connection must be dropped (dev->error says
 * why). Errors on messages sent with NEED_REPLY are reported in the ack
 * instead (VHU_SEND_REPLY, dev->error set). */
int vhu_handle_msg(struct vhu_dev *dev, const struct vhu_msg *msg, int *fds, int nfds,
		   struct vhu_msg *reply);

/* The ring if it is started and enabled, else NULL. */
struct vhu_vring *vhu_dev_ring(struct vhu_dev *dev, unsigned idx);
/* Signals the ring's call eventfd (if any). */
void vhu_vring_notify(struct vhu_vring *vr);
/* Reports a ring as broken to the front-end through its err eventfd (if any). */
void vhu_vring_signal_error(struct vhu_vring *vr);
/* Current guest RAM regions. */
const struct guest_ram_region *vhu_dev_regions(const struct vhu_dev *dev, unsigned *n);

/* Socket I/O. vhu_recv_msg reads one message and at most VHU_MAX_FDS fds
 * (O_CLOEXEC); on error no fd is left open. Returns 0, VHU_E_EOF, VHU_E_IO or
 * VHU_E_PROTO. */
int vhu_recv_msg(int sock, struct vhu_msg *msg, int *fds, int *nfds);
int vhu_send_msg(int sock, const struct vhu_msg *msg, const int *fds, int nfds);
void vhu_close_fds(int *fds, int nfds);

#endif
