#include "host/vhost_user.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define VHU_CONFIG_HDR 12u

const char *vhu_request_name(uint32_t request)
{
	switch (request) {
	case VHU_GET_FEATURES: return "GET_FEATURES";
	case VHU_SET_FEATURES: return "SET_FEATURES";
	case VHU_SET_OWNER: return "SET_OWNER";
	case VHU_RESET_OWNER: return "RESET_OWNER";
	case VHU_SET_MEM_TABLE: return "SET_MEM_TABLE";
	case VHU_SET_LOG_BASE: return "SET_LOG_BASE";
	case VHU_SET_LOG_FD: return "SET_LOG_FD";
	case VHU_SET_VRING_NUM: return "SET_VRING_NUM";
	case VHU_SET_VRING_ADDR: return "SET_VRING_ADDR";
	case VHU_SET_VRING_BASE: return "SET_VRING_BASE";
	case VHU_GET_VRING_BASE: return "GET_VRING_BASE";
	case VHU_SET_VRING_KICK: return "SET_VRING_KICK";
	case VHU_SET_VRING_CALL: return "SET_VRING_CALL";
	case VHU_SET_VRING_ERR: return "SET_VRING_ERR";
	case VHU_GET_PROTOCOL_FEATURES: return "GET_PROTOCOL_FEATURES";
	case VHU_SET_PROTOCOL_FEATURES: return "SET_PROTOCOL_FEATURES";
	case VHU_GET_QUEUE_NUM: return "GET_QUEUE_NUM";
	case VHU_SET_VRING_ENABLE: return "SET_VRING_ENABLE";
	case VHU_SET_BACKEND_REQ_FD: return "SET_BACKEND_REQ_FD";
	case VHU_GET_CONFIG: return "GET_CONFIG";
	case VHU_SET_CONFIG: return "SET_CONFIG";
	case VHU_RESET_DEVICE: return "RESET_DEVICE";
	case VHU_GET_MAX_MEM_SLOTS: return "GET_MAX_MEM_SLOTS";
	case VHU_SET_STATUS: return "SET_STATUS";
	case VHU_GET_STATUS: return "GET_STATUS";
	default: return "UNKNOWN";
	}
}

static int fail(struct vhu_dev *dev, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct vhu_dev *dev, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(dev->error, sizeof(dev->error), fmt, ap);
	va_end(ap);
	return code;
}

static uint64_t offered_features(const struct vhu_dev *dev)
{
	return (1ull << VHU_F_VERSION_1) | (1ull << VHU_F_PROTOCOL_FEATURES) |
	       dev->ops.device_features;
}

static uint64_t offered_protocol_features(void)
{
	return (1ull << VHU_PROTO_F_MQ) | (1ull << VHU_PROTO_F_REPLY_ACK) |
	       (1ull << VHU_PROTO_F_CONFIG) | (1ull << VHU_PROTO_F_RESET_DEVICE);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void vhu_close_fds(int *fds, int nfds)
{
	for (int i = 0; i < nfds; i++)
		close_fd(&fds[i]);
}

static bool ring_usable(const struct vhu_dev *dev, const struct vhu_vring *vr)
{
	bool enabled = vr->enabled || !(dev->features & (1ull << VHU_F_PROTOCOL_FEATURES));
	return vr->started && enabled;
}

struct vhu_vring *vhu_dev_ring(struct vhu_dev *dev, unsigned idx)
{
	if (idx >= VHU_MAX_QUEUES || idx >= dev->ops.nqueues)
		return NULL;
	return ring_usable(dev, &dev->vr[idx]) ? &dev->vr[idx] : NULL;
}

const struct guest_ram_region *vhu_dev_regions(const struct vhu_dev *dev, unsigned *n)
{
	*n = dev->ram.n;
	return dev->ram.r;
}

void vhu_vring_notify(struct vhu_vring *vr)
{
	uint64_t one = 1;
	if (vr->call_fd >= 0 && write(vr->call_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: counter saturated, the front-end is notified anyway. */
	}
}

void vhu_vring_signal_error(struct vhu_vring *vr)
{
	uint64_t one = 1;
	if (vr->err_fd >= 0 && write(vr->err_fd, &one, sizeof(one)) < 0) {
		/* best effort */
	}
}

/* Runs fn with the usable state of ring idx observed before and after. */
static void ring_transition(struct vhu_dev *dev, unsigned idx, bool was_usable)
{
	bool now = ring_usable(dev, &dev->vr[idx]);
	if (was_usable && !now && dev->ops.ring_stop)
		dev->ops.ring_stop(dev->opaque, idx);
	if (!was_usable && now && dev->ops.ring_ready)
		dev->ops.ring_ready(dev->opaque, idx);
}

static void ring_stop(struct vhu_dev *dev, unsigned idx)
{
	struct vhu_vring *vr = &dev->vr[idx];
	bool was = ring_usable(dev, vr);
	if (!vr->started)
		return;
	vr->started = false;
	ring_transition(dev, idx, was);
	vr->base = vr->vq.last_avail;
	vq_destroy(&vr->vq);
}

static void ring_clear(struct vhu_dev *dev, unsigned idx)
{
	struct vhu_vring *vr = &dev->vr[idx];
	ring_stop(dev, idx);
	close_fd(&vr->kick_fd);
	close_fd(&vr->call_fd);
	close_fd(&vr->err_fd);
	memset(vr, 0, sizeof(*vr));
	vr->kick_fd = vr->call_fd = vr->err_fd = -1;
}

void vhu_dev_init(struct vhu_dev *dev, const struct vhu_dev_ops *ops, void *opaque,
		  const struct vhu_logger *log)
{
	memset(dev, 0, sizeof(*dev));
	dev->ops = *ops;
	if (dev->ops.nqueues > VHU_MAX_QUEUES)
		dev->ops.nqueues = VHU_MAX_QUEUES;
	dev->opaque = opaque;
	if (log)
		dev->log = *log;
	else
		dev->log.max_level = VHU_LOG_WARN;
	for (unsigned i = 0; i < VHU_MAX_QUEUES; i++)
		dev->vr[i].kick_fd = dev->vr[i].call_fd = dev->vr[i].err_fd = -1;
	for (unsigned i = 0; i < GUEST_RAM_MAX_REGIONS; i++)
		dev->ram.r[i].fd = -1;
}

void vhu_dev_reset(struct vhu_dev *dev)
{
	for (unsigned i = 0; i < VHU_MAX_QUEUES; i++)
		ring_clear(dev, i);
	if (dev->ram.n) {
		guest_ram_release(&dev->ram);
		if (dev->ops.mem_changed)
			dev->ops.mem_changed(dev->opaque, dev->ram.r, 0);
	}
	dev->features = 0;
	dev->protocol_features = 0;
	dev->owner = false;
	dev->nmsgs = 0;
}

/* Translates the ring's three parts to host pointers. */
static int ring_map(struct vhu_dev *dev, unsigned idx, void **desc, void **avail, void **used)
{
	struct vhu_vring *vr = &dev->vr[idx];
	*desc = guest_ram_uva(&dev->ram, vr->addr.desc_user_addr, VQ_DESC_BYTES(vr->num));
	*avail = guest_ram_uva(&dev->ram, vr->addr.avail_user_addr, VQ_AVAIL_BYTES(vr->num));
	*used = guest_ram_uva(&dev->ram, vr->addr.used_user_addr, VQ_USED_BYTES(vr->num));
	if (!*desc || !*avail || !*used)
		return fail(dev, VHU_E_RING,
			    "ring %u: desc 0x%llx avail 0x%llx used 0x%llx (num %u) not inside guest RAM",
			    idx, (unsigned long long)vr->addr.desc_user_addr,
			    (unsigned long long)vr->addr.avail_user_addr,
			    (unsigned long long)vr->addr.used_user_addr, vr->num);
	return 0;
}

static int ring_start(struct vhu_dev *dev, unsigned idx)
{
	struct vhu_vring *vr = &dev->vr[idx];
	void *desc, *avail, *used;
	uint16_t resumed;

	if (vr->started)
		return 0;
	if (!vr->num || !vr->addr_set)
		return fail(dev, VHU_E_STATE, "ring %u kicked before SET_VRING_NUM/ADDR", idx);
	int rc = ring_map(dev, idx, &desc, &avail, &used);
	if (rc)
		return rc;
	bool was = ring_usable(dev, vr);
	rc = vq_init(&vr->vq, (uint16_t)vr->num, desc, avail, used, vr->base, &resumed);
	if (rc != VQ_OK)
		return fail(dev, VHU_E_RING, "ring %u: %s", idx, vq_strerror(rc));
	if (resumed != vr->base)
		vhu_logf(&dev->log, VHU_LOG_INFO,
			 "ring %u: front-end base %u, resuming from used index %u in guest memory",
			 idx, vr->base, resumed);
	vr->started = true;
	ring_transition(dev, idx, was);
	return 0;
}

static int vring_index(struct vhu_dev *dev, uint32_t index)
{
	if (index >= dev->ops.nqueues)
		return fail(dev, VHU_E_INVAL, "vring index %u out of range (device has %u)",
			    index, dev->ops.nqueues);
	return (int)index;
}

static int need_size(struct vhu_dev *dev, const struct vhu_msg *msg, uint32_t size)
{
	if (msg->size != size)
		return fail(dev, VHU_E_PROTO, "%s: payload size %u, expected %u",
			    vhu_request_name(msg->request), msg->size, size);
	return 0;
}

static int need_fds(struct vhu_dev *dev, const struct vhu_msg *msg, int nfds, int want)
{
	if (nfds != want)
		return fail(dev, VHU_E_FDS, "%s: %d fds received, expected %d",
			    vhu_request_name(msg->request), nfds, want);
	return 0;
}

static void reply_u64(const struct vhu_msg *msg, struct vhu_msg *reply, uint64_t v)
{
	reply->size = sizeof(uint64_t);
	reply->payload.u64 = v;
	(void)msg;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

static int set_mem_table(struct vhu_dev *dev, const struct vhu_msg *msg, int *fds, int nfds)
{
	const struct vhu_mem_table *mt = &msg->payload.mem;
	struct guest_ram fresh;
	long page = sysconf(_SC_PAGESIZE);
	int rc;

	if (msg->size < 8)
		return fail(dev, VHU_E_PROTO, "SET_MEM_TABLE: payload %u bytes", msg->size);
	if (mt->nregions > GUEST_RAM_MAX_REGIONS)
		return fail(dev, VHU_E_MEM, "SET_MEM_TABLE: %u regions (max %u)", mt->nregions,
			    GUEST_RAM_MAX_REGIONS);
	if ((rc = need_size(dev, msg, 8 + mt->nregions * (uint32_t)sizeof(mt->regions[0]))))
		return rc;
	if ((rc = need_fds(dev, msg, nfds, (int)mt->nregions)))
		return rc;

	memset(&fresh, 0, sizeof(fresh));
	for (unsigned i = 0; i < GUEST_RAM_MAX_REGIONS; i++)
		fresh.r[i].fd = -1;
	for (uint32_t i = 0; i < mt->nregions; i++) {
		const struct vhu_mem_region_desc *d = &mt->regions[i];
		if (d->memory_size == 0 ||
		    d->guest_phys_addr + d->memory_size < d->guest_phys_addr ||
		    d->userspace_addr + d->memory_size < d->userspace_addr ||
		    d->mmap_offset + d->memory_size < d->mmap_offset ||
		    d->mmap_offset + d->memory_size > (uint64_t)INT64_MAX)
			return fail(dev, VHU_E_MEM,
				    "SET_MEM_TABLE: region %u size 0x%llx gpa 0x%llx uva 0x%llx off 0x%llx invalid",
				    i, (unsigned long long)d->memory_size,
				    (unsigned long long)d->guest_phys_addr,
				    (unsigned long long)d->userspace_addr,
				    (unsigned long long)d->mmap_offset);
		for (uint32_t j = 0; j < i; j++) {
			const struct vhu_mem_region_desc *e = &mt->regions[j];
			if (ranges_overlap(d->guest_phys_addr, d->memory_size, e->guest_phys_addr,
					   e->memory_size) ||
			    ranges_overlap(d->userspace_addr, d->memory_size, e->userspace_addr,
					   e->memory_size))
				return fail(dev, VHU_E_MEM, "SET_MEM_TABLE: regions %u and %u overlap",
					    j, i);
		}
		struct stat st;
		if (fstat(fds[i], &st) != 0 || !S_ISREG(st.st_mode))
			return fail(dev, VHU_E_MEM, "SET_MEM_TABLE: region %u fd is not a memory file", i);
		if ((uint64_t)st.st_size < d->mmap_offset + d->memory_size)
			return fail(dev, VHU_E_MEM,
				    "SET_MEM_TABLE: region %u needs 0x%llx bytes, file has 0x%llx", i,
				    (unsigned long long)(d->mmap_offset + d->memory_size),
				    (unsigned long long)st.st_size);
	}
	for (uint32_t i = 0; i < mt->nregions; i++) {
		const struct vhu_mem_region_desc *d = &mt->regions[i];
		struct guest_ram_region *r = &fresh.r[i];
		uint64_t map_off = d->mmap_offset & ~((uint64_t)page - 1);
		uint64_t lead = d->mmap_offset - map_off;
		r->map_len = (size_t)(d->memory_size + lead);
		r->map_base = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
				   fds[i], (off_t)map_off);
		if (r->map_base == MAP_FAILED) {
			int e = errno;
			r->map_base = NULL;
			guest_ram_release(&fresh);
			return fail(dev, VHU_E_MEM, "SET_MEM_TABLE: mmap region %u (0x%llx bytes): %s",
				    i, (unsigned long long)r->map_len, strerror(e));
		}
		r->host = (uint8_t *)r->map_base + lead;
		r->guest_phys_addr = d->guest_phys_addr;
		r->memory_size = d->memory_size;
		r->userspace_addr = d->userspace_addr;
		r->mmap_offset = d->mmap_offset;
		r->fd = -1; /* adopted from fds[] only once the whole table is accepted */
		fresh.n = i + 1;
	}
	/* Re-translate running rings before the old mappings go away. */
	for (unsigned q = 0; q < dev->ops.nqueues; q++) {
		struct vhu_vring *vr = &dev->vr[q];
		if (!vr->started)
			continue;
		void *desc = guest_ram_uva(&fresh, vr->addr.desc_user_addr, VQ_DESC_BYTES(vr->num));
		void *avail = guest_ram_uva(&fresh, vr->addr.avail_user_addr, VQ_AVAIL_BYTES(vr->num));
		void *used = guest_ram_uva(&fresh, vr->addr.used_user_addr, VQ_USED_BYTES(vr->num));
		if (!desc || !avail || !used) {
			guest_ram_release(&fresh);
			return fail(dev, VHU_E_MEM, "SET_MEM_TABLE: running ring %u not inside new table", q);
		}
		vr->vq.desc = desc;
		vr->vq.avail = avail;
		vr->vq.used = used;
	}
	for (uint32_t i = 0; i < fresh.n; i++) {
		fresh.r[i].fd = fds[i];
		fds[i] = -1; /* kept */
	}
	guest_ram_release(&dev->ram);
	dev->ram = fresh;
	for (uint32_t i = 0; i < dev->ram.n; i++)
		vhu_logf(&dev->log, VHU_LOG_INFO,
			 "guest RAM region %u: gpa 0x%llx size 0x%llx uva 0x%llx offset 0x%llx", i,
			 (unsigned long long)dev->ram.r[i].guest_phys_addr,
			 (unsigned long long)dev->ram.r[i].memory_size,
			 (unsigned long long)dev->ram.r[i].userspace_addr,
			 (unsigned long long)dev->ram.r[i].mmap_offset);
	if (dev->ops.mem_changed)
		dev->ops.mem_changed(dev->opaque, dev->ram.r, dev->ram.n);
	return 0;
}

/* SET_VRING_KICK/CALL/ERR: u64 index | NOFD flag, one fd unless NOFD. */
static int set_vring_fd(struct vhu_dev *dev, const struct vhu_msg *msg, int *fds, int nfds)
{
	int rc;
	if ((rc = need_size(dev, msg, 8)))
		return rc;
	uint64_t v = msg->payload.u64;
	if (v & ~(uint64_t)(VHU_VRING_IDX_MASK | VHU_VRING_NOFD_MASK))
		return fail(dev, VHU_E_INVAL, "%s: unknown bits in 0x%llx",
			    vhu_request_name(msg->request), (unsigned long long)v);
	bool nofd = (v & VHU_VRING_NOFD_MASK) != 0;
	if ((rc = need_fds(dev, msg, nfds, nofd ? 0 : 1)))
		return rc;
	int idx = vring_index(dev, (uint32_t)(v & VHU_VRING_IDX_MASK));
	if (idx < 0)
		return idx;
	struct vhu_vring *vr = &dev->vr[idx];
	int *slot = msg->request == VHU_SET_VRING_KICK ? &vr->kick_fd
		    : msg->request == VHU_SET_VRING_CALL ? &vr->call_fd : &vr->err_fd;
	close_fd(slot);
	if (!nofd) {
		*slot = fds[0];
		fds[0] = -1;
	}
	if (msg->request == VHU_SET_VRING_KICK)
		return ring_start(dev, (unsigned)idx);
	return 0;
}

static int get_config(struct vhu_dev *dev, const struct vhu_msg *msg, struct vhu_msg *reply)
{
	const struct vhu_config *c = &msg->payload.config;
	reply->size = 0; /* zero-length payload = error, per spec */
	if (msg->size < VHU_CONFIG_HDR || c->size > VHU_MAX_CONFIG ||
	    msg->size != VHU_CONFIG_HDR + c->size) {
		fail(dev, VHU_E_PROTO, "GET_CONFIG: payload %u with config size %u", msg->size,
		     msg->size >= VHU_CONFIG_HDR ? c->size : 0);
		return VHU_SEND_REPLY;
	}
	if (!dev->ops.get_config ||
	    dev->ops.get_config(dev->opaque, c->offset, reply->payload.config.region, c->size) != 0) {
		fail(dev, VHU_E_INVAL, "GET_CONFIG: offset %u size %u not readable", c->offset, c->size);
		return VHU_SEND_REPLY;
	}
	reply->payload.config.offset = c->offset;
	reply->payload.config.size = c->size;
	reply->payload.config.flags = c->flags;
	reply->size = VHU_CONFIG_HDR + c->size;
	return VHU_SEND_REPLY;
}

/* Returns 0 / VHU_SEND_REPLY on success, negative vhu_err on failure. */
static int dispatch(struct vhu_dev *dev, const struct vhu_msg *msg, int *fds, int nfds,
		    struct vhu_msg *reply)
{
	int rc, idx;
	bool fd_msg = msg->request == VHU_SET_MEM_TABLE || msg->request == VHU_SET_VRING_KICK ||
		      msg->request == VHU_SET_VRING_CALL || msg->request == VHU_SET_VRING_ERR;

	if (!fd_msg && nfds != 0)
		return fail(dev, VHU_E_FDS, "%s: %d unexpected fds", vhu_request_name(msg->request), nfds);

	switch (msg->request) {
	case VHU_GET_FEATURES:
		if ((rc = need_size(dev, msg, 0)))
			return rc;
		reply_u64(msg, reply, offered_features(dev));
		return VHU_SEND_REPLY;
	case VHU_SET_FEATURES: {
		if ((rc = need_size(dev, msg, 8)))
			return rc;
		uint64_t f = msg->payload.u64;
		if (f & ~offered_features(dev))
			return fail(dev, VHU_E_INVAL, "SET_FEATURES 0x%llx has bits not offered (0x%llx)",
				    (unsigned long long)f, (unsigned long long)offered_features(dev));
		bool was[VHU_MAX_QUEUES];
		for (unsigned q = 0; q < dev->ops.nqueues; q++)
			was[q] = ring_usable(dev, &dev->vr[q]);
		dev->features = f;
		for (unsigned q = 0; q < dev->ops.nqueues; q++)
			ring_transition(dev, q, was[q]);
		return 0;
	}
	case VHU_GET_PROTOCOL_FEATURES:
		if ((rc = need_size(dev, msg, 0)))
			return rc;
		reply_u64(msg, reply, offered_protocol_features());
		return VHU_SEND_REPLY;
	case VHU_SET_PROTOCOL_FEATURES:
		if ((rc = need_size(dev, msg, 8)))
			return rc;
		if (msg->payload.u64 & ~offered_protocol_features())
			return fail(dev, VHU_E_INVAL, "SET_PROTOCOL_FEATURES 0x%llx not offered",
				    (unsigned long long)msg->payload.u64);
		dev->protocol_features = msg->payload.u64;
		return 0;
	case VHU_SET_OWNER:
		if ((rc = need_size(dev, msg, 0)))
			return rc;
		dev->owner = true;
		return 0;
	case VHU_RESET_OWNER:
	case VHU_RESET_DEVICE:
		if ((rc = need_size(dev, msg, 0)))
			return rc;
		/* Deprecated RESET_OWNER: disable rings only (spec recommendation). */
		for (unsigned q = 0; q < dev->ops.nqueues; q++)
			ring_stop(dev, q);
		if (msg->request == VHU_RESET_DEVICE) {
			for (unsigned q = 0; q < VHU_MAX_QUEUES; q++)
				ring_clear(dev, q);
			dev->features = 0;
		}
		return 0;
	case VHU_SET_MEM_TABLE:
		return set_mem_table(dev, msg, fds, nfds);
	case VHU_SET_VRING_NUM:
		if ((rc = need_size(dev, msg, sizeof(struct vhu_vring_state))))
			return rc;
		if ((idx = vring_index(dev, msg->payload.state.index)) < 0)
			return idx;
		if (dev->vr[idx].started)
			return fail(dev, VHU_E_STATE, "SET_VRING_NUM on running ring %d", idx);
		{
			uint32_t num = msg->payload.state.num;
			if (num == 0 || num > VQ_MAX_SIZE || (num & (num - 1)))
				return fail(dev, VHU_E_INVAL, "SET_VRING_NUM %u invalid", num);
			dev->vr[idx].num = num;
		}
		return 0;
	case VHU_SET_VRING_ADDR: {
		const struct vhu_vring_addr *a = &msg->payload.addr;
		if ((rc = need_size(dev, msg, sizeof(struct vhu_vring_addr))))
			return rc;
		if ((idx = vring_index(dev, a->index)) < 0)
			return idx;
		if (a->flags != 0)
			return fail(dev, VHU_E_INVAL, "SET_VRING_ADDR flags 0x%x (dirty log not supported)",
				    a->flags);
		if (dev->vr[idx].started)
			return fail(dev, VHU_E_STATE, "SET_VRING_ADDR on running ring %d", idx);
		dev->vr[idx].addr = *a;
		dev->vr[idx].addr_set = true;
		return 0;
	}
	case VHU_SET_VRING_BASE:
		if ((rc = need_size(dev, msg, sizeof(struct vhu_vring_state))))
			return rc;
		if ((idx = vring_index(dev, msg->payload.state.index)) < 0)
			return idx;
		if (dev->vr[idx].started)
			return fail(dev, VHU_E_STATE, "SET_VRING_BASE on running ring %d", idx);
		if (msg->payload.state.num > 0xffff)
			return fail(dev, VHU_E_INVAL, "SET_VRING_BASE %u > 0xffff", msg->payload.state.num);
		dev->vr[idx].base = (uint16_t)msg->payload.state.num;
		return 0;
	case VHU_GET_VRING_BASE:
		if ((rc = need_size(dev, msg, sizeof(struct vhu_vring_state))))
			return rc;
		if ((idx = vring_index(dev, msg->payload.state.index)) < 0)
			return idx;
		ring_stop(dev, (unsigned)idx);
		/* The front-end re-sends kick/call with the next start. */
		close_fd(&dev->vr[idx].kick_fd);
		close_fd(&dev->vr[idx].call_fd);
		reply->size = sizeof(struct vhu_vring_state);
		reply->payload.state.index = (uint32_t)idx;
		reply->payload.state.num = dev->vr[idx].base;
		return VHU_SEND_REPLY;
	case VHU_SET_VRING_KICK:
	case VHU_SET_VRING_CALL:
	case VHU_SET_VRING_ERR:
		return set_vring_fd(dev, msg, fds, nfds);
	case VHU_GET_QUEUE_NUM:
		if ((rc = need_size(dev, msg, 0)))
			return rc;
		reply_u64(msg, reply, dev->ops.nqueues);
		return VHU_SEND_REPLY;
	case VHU_SET_VRING_ENABLE: {
		if ((rc = need_size(dev, msg, sizeof(struct vhu_vring_state))))
			return rc;
		if ((idx = vring_index(dev, msg->payload.state.index)) < 0)
			return idx;
		if (msg->payload.state.num > 1)
			return fail(dev, VHU_E_INVAL, "SET_VRING_ENABLE %u", msg->payload.state.num);
		bool was = ring_usable(dev, &dev->vr[idx]);
		dev->vr[idx].enabled = msg->payload.state.num == 1;
		ring_transition(dev, (unsigned)idx, was);
		return 0;
	}
	case VHU_GET_CONFIG:
		return get_config(dev, msg, reply);
	case VHU_SET_CONFIG:
		return fail(dev, VHU_E_INVAL, "SET_CONFIG: device config space is read-only");
	default:
		return fail(dev, VHU_E_UNKNOWN, "unsupported request %u (%s)", msg->request,
			    vhu_request_name(msg->request));
	}
}

static bool request_has_reply(uint32_t request)
{
	return request == VHU_GET_FEATURES || request == VHU_GET_PROTOCOL_FEATURES ||
	       request == VHU_GET_VRING_BASE || request == VHU_GET_QUEUE_NUM ||
	       request == VHU_GET_CONFIG;
}

int vhu_handle_msg(struct vhu_dev *dev, const struct vhu_msg *msg, int *fds, int nfds,
		   struct vhu_msg *reply)
{
	memset(reply, 0, VHU_HDR_SIZE + sizeof(uint64_t));
	reply->request = msg->request;
	reply->flags = VHU_FLAG_VERSION | VHU_FLAG_REPLY;
	dev->error[0] = 0;
	dev->nmsgs++;

	if (nfds < 0 || nfds > VHU_MAX_FDS)
		return fail(dev, VHU_E_FDS, "%d fds", nfds);
	if ((msg->flags & VHU_FLAG_VERSION_MASK) != VHU_FLAG_VERSION ||
	    (msg->flags & VHU_FLAG_REPLY) || msg->size > VHU_MAX_PAYLOAD)
		return fail(dev, VHU_E_PROTO, "bad header: request %u flags 0x%x size %u",
			    msg->request, msg->flags, msg->size);

	vhu_logf(&dev->log, VHU_LOG_DEBUG, "%s (%u) size %u fds %d flags 0x%x",
		 vhu_request_name(msg->request), msg->request, msg->size, nfds, msg->flags);

	int rc = dispatch(dev, msg, fds, nfds, reply);
	if (rc == VHU_SEND_REPLY)
		return rc;
	if ((msg->flags & VHU_FLAG_NEED_REPLY) && !request_has_reply(msg->request)) {
		if (rc < 0)
			vhu_logf(&dev->log, VHU_LOG_WARN, "%s failed (acked as error): %s",
				 vhu_request_name(msg->request), dev->error);
		reply_u64(msg, reply, rc < 0 ? 1 : 0);
		return VHU_SEND_REPLY;
	}
	if (rc < 0)
		vhu_logf(&dev->log, VHU_LOG_ERR, "%s failed: %s", vhu_request_name(msg->request),
			 dev->error);
	return rc;
}

/* ---- socket I/O ---- */

static int read_full(int sock, void *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = recv(sock, (uint8_t *)buf + done, len - done, MSG_WAITALL);
		if (n == 0)
			return VHU_E_EOF;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return VHU_E_IO;
		}
		done += (size_t)n;
	}
	return 0;
}

int vhu_recv_msg(int sock, struct vhu_msg *msg, int *fds, int *nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VHU_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = msg, .iov_len = VHU_HDR_SIZE };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
	ssize_t n;

	*nfds = 0;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_WAITALL);
	while (n < 0 && errno == EINTR);
	/* Collect fds first so that every error path closes them. */
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); n >= 0 && c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < cnt; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*nfds < VHU_MAX_FDS)
				fds[(*nfds)++] = fd;
			else
				close(fd);
		}
	}
	if (n == 0)
		return VHU_E_EOF;
	if (n < 0) {
		vhu_close_fds(fds, *nfds);
		*nfds = 0;
		return VHU_E_IO;
	}
	int rc = 0;
	if ((size_t)n < VHU_HDR_SIZE)
		rc = read_full(sock, (uint8_t *)msg + n, VHU_HDR_SIZE - (size_t)n);
	if (rc == 0 && (mh.msg_flags & MSG_CTRUNC))
		rc = VHU_E_PROTO;
	if (rc == 0 && msg->size > VHU_MAX_PAYLOAD)
		rc = VHU_E_PROTO;
	if (rc == 0 && msg->size)
		rc = read_full(sock, &msg->payload, msg->size);
	if (rc) {
		vhu_close_fds(fds, *nfds);
		*nfds = 0;
	}
	return rc;
}

int vhu_send_msg(int sock, const struct vhu_msg *msg, const int *fds, int nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VHU_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	uint8_t wire[VHU_HDR_SIZE + VHU_MAX_PAYLOAD];
	if (msg->size > VHU_MAX_PAYLOAD || nfds < 0 || nfds > VHU_MAX_FDS)
		return VHU_E_PROTO;
	/* The wire header is 12 bytes; in struct vhu_msg the payload is 8-aligned. */
	memcpy(wire, msg, VHU_HDR_SIZE);
	memcpy(wire + VHU_HDR_SIZE, &msg->payload, msg->size);
	struct iovec iov = { .iov_base = wire, .iov_len = VHU_HDR_SIZE + msg->size };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (nfds > 0) {
		memset(ctl.buf, 0, sizeof(ctl.buf));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	size_t total = iov.iov_len, done = 0;
	while (done < total) {
		ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return VHU_E_IO;
		}
		done += (size_t)n;
		iov.iov_base = (uint8_t *)iov.iov_base + n;
		iov.iov_len -= (size_t)n;
		mh.msg_control = NULL; /* fds go with the first byte only */
		mh.msg_controllen = 0;
	}
	return 0;
}
