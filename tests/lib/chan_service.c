// SPDX-License-Identifier: GPL-2.0
#include "tests/lib/chan_service.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "host/channel_service.h"
#include "host/channel_store.h"
#include "vmi/banner.h"
#include "vmi/kcat.h"
#include "vmi/linux.h"
#include "vmi/mem.h"
#include "vmi/qmp.h"
#include "vmi/vcpu.h"
#include "vmi/x86.h"

static volatile sig_atomic_t stop_flag;

static void on_stop(int sig)
{
	(void)sig;
	stop_flag = 1;
}

#define MAX_PUSH_CONNS 16
#define CHAL_MAX_LEN (1u << 20)

/* A challenge sent, waiting for its response. */
struct chal_pending {
	bool active;
	uint64_t seq; /* host seq of the CHALLENGE */
	uint8_t nonce[RW_PROTO_NONCE_LEN];
	uint8_t expected[32];
};

struct pusher {
	const struct rw_test_chan_service *o;
	struct rw_ch_conn *conns[MAX_PUSH_CONNS]; /* ready connections */
	struct vmi_mem *mem;                      /* the VM's RAM (from vsockd) */
	struct vmi_kcat *kcat;
	struct chal_pending chal;
	/* the file store, wrapped to see CHALLENGE_RESPONSEs */
	struct rw_ch_sink_ops inner;
	void *inner_ctx;
};

/* per connection */
struct push_state {
	uint32_t first_gen; /* generation of host seq 1 on this connection */
	uint32_t next_gen;
	uint32_t acked_gen;
	char path[1024];
};

static void log_line(void *opaque, int level, const char *msg)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	struct timespec ts;

	(void)opaque;
	if (level > 2)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	fprintf(stderr, "%lld.%03ld chan-service[%d] %s: %s\n", (long long)ts.tv_sec,
		ts.tv_nsec / 1000000, (int)getpid(), names[level < 0 ? 0 : level > 3 ? 3 : level],
		msg);
}

static uint32_t read_mark(const char *path)
{
	char buf[32] = "";
	FILE *f = fopen(path, "r");

	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return (uint32_t)strtoul(buf, NULL, 10);
}

static void write_mark(const char *path, uint32_t v)
{
	char tmp[1100];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return;
	fprintf(f, "%u\n", v);
	fclose(f);
	rename(tmp, path); /* atomic: a kill leaves the old or the new mark */
}

static void push_more(struct pusher *p, struct rw_ch_conn *c)
{
	struct push_state *ps = rw_ch_conn_user(c);
	unsigned window = p->o->window ? p->o->window : 256;
	struct rw_ch_conn_stats st;

	if (!ps)
		return;
	/* downstream keeps pace with upstream: generation g only once the guest's
	 * g-th message is stored, so a kill interrupts both directions */
	rw_ch_conn_get_stats(c, &st);
	while (ps->next_gen <= p->o->host_msgs && ps->next_gen - ps->acked_gen <= window &&
	       ps->next_gen <= st.hwm) {
		struct rw_msg m;
		int64_t seq;

		memset(&m, 0, sizeof(m));
		m.hdr.type = RW_MSG_POLICY_UPDATE;
		m.u.policy.op = RW_POLICY_REPLACE;
		m.u.policy.list = RW_LIST_EXEC_DENY;
		m.u.policy.count = 0;
		m.u.policy.generation = ps->next_gen;
		seq = rw_ch_conn_send(c, &m);
		if (seq < 0)
			return; /* -EAGAIN: on_writable resumes */
		if ((uint64_t)seq != ps->next_gen - ps->first_gen + 1u) {
			fprintf(stderr, "chan-service: host seq %lld does not follow generation %u\n",
				(long long)seq, ps->next_gen);
			exit(3);
		}
		ps->next_gen++;
	}
}

static void on_ready(void *ctx, struct rw_ch_conn *c)
{
	struct pusher *p = ctx;
	struct push_state *ps = calloc(1, sizeof(*ps));
	char name[160];

	if (!ps)
		return;
	rw_ch_stream_name(rw_ch_conn_stream(c), name, sizeof(name));
	for (char *q = name; *q; q++)
		if (*q == '/')
			*q = '_';
	snprintf(ps->path, sizeof(ps->path), "%s/host-acked-%s", p->o->state_dir, name);
	ps->acked_gen = read_mark(ps->path);
	ps->first_gen = ps->acked_gen + 1;
	ps->next_gen = ps->first_gen;
	rw_ch_conn_set_user(c, ps);
	for (unsigned i = 0; i < MAX_PUSH_CONNS; i++)
		if (!p->conns[i]) {
			p->conns[i] = c;
			break;
		}
	push_more(p, c);
}

static void on_peer_ack(void *ctx, struct rw_ch_conn *c, uint64_t acked_seq)
{
	struct push_state *ps = rw_ch_conn_user(c);

	if (!ps)
		return;
	ps->acked_gen = ps->first_gen + (uint32_t)acked_seq - 1;
	write_mark(ps->path, ps->acked_gen);
	push_more(ctx, c);
}

static void on_writable(void *ctx, struct rw_ch_conn *c)
{
	push_more(ctx, c);
}

static void on_close(void *ctx, struct rw_ch_conn *c, const char *reason)
{
	struct pusher *p = ctx;

	(void)reason;
	for (unsigned i = 0; i < MAX_PUSH_CONNS; i++)
		if (p->conns[i] == c)
			p->conns[i] = NULL;
	free(rw_ch_conn_user(c));
	rw_ch_conn_set_user(c, NULL);
}

/* Look for the kernel banner in every region of the VM's RAM. */
static void on_ram(void *ctx, const char *vm, struct vmi_mem *mem)
{
	struct pusher *p = ctx;
	char banner[RW_BANNER_MAX] = "", path[1100];
	size_t total = 0;
	int found = 0;
	FILE *f;

	p->mem = mem;
	if (!mem)
		return;
	for (size_t i = 0; i < mem->nregions && !found; i++) {
		const void *host;

		total += mem->regions[i].size;
		if (vmi_mem_direct(mem, mem->regions[i].gpa, mem->regions[i].size, &host) != 0)
			continue;
		found = vmi_find_banner(host, mem->regions[i].size, 0, banner, sizeof(banner)) >= 0;
	}
	snprintf(path, sizeof(path), "%s/banner-%d.txt", p->o->state_dir, (int)getpid());
	f = fopen(path, "w");
	if (f) {
		fprintf(f, "vm=%s regions=%zu bytes=%zu found=%d\n%s\n", vm, mem->nregions, total,
			found, banner);
		fclose(f);
	}
	fprintf(stderr, "chan-service[%d]: RAM of %s: %zu regions, banner %s\n", (int)getpid(), vm,
		mem->nregions, found ? banner : "NOT FOUND");
}

static void hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
	out[2 * n] = '\0';
}

static void write_text(const char *dir, const char *name, const char *text)
{
	char path[1100], tmp[1200];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
	rename(tmp, path);
}

static void chal_fail(struct pusher *p, const char *why)
{
	char line[1200];

	snprintf(line, sizeof(line), "error=%s\n", why);
	write_text(p->o->state_dir, "challenge.result", line);
	fprintf(stderr, "chan-service[%d]: challenge: %s\n", (int)getpid(), why);
}

/* The host's own answer: guest RAM from vsockd, VA translated by attaching
 * to the kernel (registers over QMP, the kit catalog). */
static int chal_expected(struct pusher *p, uint64_t va, size_t len, const uint8_t *nonce,
			 uint8_t out[32], char *err, size_t errlen)
{
	struct vmi_vcpu vcpus[16];
	struct vmi_linux *lx = NULL;
	struct rw_qmp *qmp = NULL;
	char e[1024], *regs;
	uint8_t *buf = NULL;
	unsigned int mdlen = 0;
	size_t n = 0;
	int rc = -1;

	if (!p->mem) {
		snprintf(err, errlen, "no guest RAM from vsockd yet");
		return -1;
	}
	if (!p->kcat && vmi_kcat_open(p->o->vmlinux, &p->kcat, e, sizeof(e))) {
		snprintf(err, errlen, "catalog %s: %s", p->o->vmlinux, e);
		return -1;
	}
	if (rw_qmp_connect(p->o->qmp_path, 5000, &qmp, e, sizeof(e))) {
		snprintf(err, errlen, "QMP %s: %s", p->o->qmp_path, e);
		return -1;
	}
	regs = rw_qmp_hmp(qmp, "info registers -a", 10000, e, sizeof(e));
	rw_qmp_close(qmp);
	if (!regs) {
		snprintf(err, errlen, "info registers: %s", e);
		return -1;
	}
	if (vmi_regs_hmp_parse(regs, strlen(regs), vcpus, 16, &n, e, sizeof(e))) {
		snprintf(err, errlen, "registers: %s", e);
		goto out;
	}
	if (vmi_linux_attach(p->mem, vcpus, n, p->kcat, &lx, NULL, e, sizeof(e))) {
		snprintf(err, errlen, "attach: %s", e);
		goto out;
	}
	buf = malloc(len);
	if (!buf) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (vmi_x86_read(vmi_linux_x86(lx), va, buf, len)) {
		snprintf(err, errlen, "cannot read 0x%llx+%zu through the guest page tables",
			 (unsigned long long)va, len);
		goto out;
	}
	if (!HMAC(EVP_sha256(), nonce, RW_PROTO_NONCE_LEN, buf, len, out, &mdlen) || mdlen != 32) {
		snprintf(err, errlen, "HMAC failed");
		goto out;
	}
	rc = 0;
out:
	free(buf);
	if (lx)
		vmi_linux_detach(lx);
	free(regs);
	return rc;
}

static struct rw_ch_conn *kmod_conn(struct pusher *p)
{
	for (unsigned i = 0; i < MAX_PUSH_CONNS; i++)
		if (p->conns[i] && rw_ch_conn_stream(p->conns[i])->component == RW_COMP_KMOD)
			return p->conns[i];
	return NULL;
}

/* state_dir/challenge.req present and a kmod stream ready: challenge it. */
static void chal_poll(struct pusher *p)
{
	char path[1100], sent[1100], nonce_hex[64] = "", err[1400];
	unsigned long long va = 0;
	struct rw_ch_conn *c;
	size_t len = 0;
	struct rw_msg m;
	int64_t seq;
	FILE *f;
	int k;

	if (!p->o->qmp_path || !p->o->vmlinux || p->chal.active)
		return;
	snprintf(path, sizeof(path), "%s/challenge.req", p->o->state_dir);
	if (access(path, F_OK) != 0 || !(c = kmod_conn(p)))
		return;
	f = fopen(path, "r");
	if (!f)
		return;
	k = fscanf(f, "%llx %zu %40s", &va, &len, nonce_hex);
	fclose(f);
	snprintf(sent, sizeof(sent), "%s/challenge.sent", p->o->state_dir);
	rename(path, sent);
	memset(&m, 0, sizeof(m));
	if (k != 3 || !len || len > CHAL_MAX_LEN || strlen(nonce_hex) != 32) {
		chal_fail(p, "bad request (want '<va hex> <len> <32 hex nonce>')");
		return;
	}
	for (unsigned i = 0; i < RW_PROTO_NONCE_LEN; i++)
		if (sscanf(nonce_hex + 2 * i, "%2hhx", &m.u.challenge.nonce[i]) != 1) {
			chal_fail(p, "bad nonce");
			return;
		}
	if (chal_expected(p, va, len, m.u.challenge.nonce, p->chal.expected, err, sizeof(err))) {
		chal_fail(p, err);
		return;
	}
	m.hdr.type = RW_MSG_CHALLENGE;
	m.u.challenge.gva_start = va;
	m.u.challenge.length = (uint32_t)len;
	m.u.challenge.hash_alg = RW_HASH_SHA256;
	seq = rw_ch_conn_send(c, &m);
	if (seq < 0) {
		snprintf(err, sizeof(err), "send: %s", strerror((int)-seq));
		chal_fail(p, err);
		return;
	}
	p->chal.active = true;
	p->chal.seq = (uint64_t)seq;
	memcpy(p->chal.nonce, m.u.challenge.nonce, RW_PROTO_NONCE_LEN);
	fprintf(stderr, "chan-service[%d]: CHALLENGE seq %lld va 0x%llx len %zu sent\n",
		(int)getpid(), (long long)seq, va, len);
}

static void chal_check(struct pusher *p, const struct rw_msg_challenge_response *r)
{
	char exp[65], got[65], line[400];
	bool match;

	if (!p->chal.active || r->challenge_seq != p->chal.seq ||
	    memcmp(r->nonce, p->chal.nonce, RW_PROTO_NONCE_LEN))
		return;
	p->chal.active = false;
	match = r->status == RW_CHAL_OK && r->hash_len == 32 &&
		!memcmp(r->hash, p->chal.expected, 32);
	hex(p->chal.expected, 32, exp);
	hex(r->hash, r->hash_len <= 32 ? r->hash_len : 32, got);
	snprintf(line, sizeof(line), "seq=%llu status=%u match=%d expected=%s got=%s\n",
		 (unsigned long long)r->challenge_seq, r->status, match, exp, got);
	write_text(p->o->state_dir, "challenge.result", line);
	fprintf(stderr, "chan-service[%d]: CHALLENGE_RESPONSE %s", (int)getpid(), line);
}

/* The store, plus a look at CHALLENGE_RESPONSEs. */
static int wrap_load(void *ctx, const struct rw_ch_stream_id *id, uint64_t *hwm)
{
	struct pusher *p = ctx;

	return p->inner.load(p->inner_ctx, id, hwm);
}

static int wrap_on_message(void *ctx, const struct rw_ch_stream_id *id, const struct rw_msg *msg,
			   const uint8_t *frame, size_t len)
{
	struct pusher *p = ctx;

	if (msg->hdr.type == RW_MSG_CHALLENGE_RESPONSE)
		chal_check(p, &msg->u.chal_resp);
	return p->inner.on_message(p->inner_ctx, id, msg, frame, len);
}

static int wrap_commit(void *ctx, const struct rw_ch_stream_id *id, uint64_t hwm)
{
	struct pusher *p = ctx;

	return p->inner.commit(p->inner_ctx, id, hwm);
}

int rw_test_chan_service_run(const struct rw_test_chan_service *o)
{
	struct rw_channel_service_config cfg;
	struct rw_channel_service *svc;
	struct rw_ch_file_store *store;
	struct pusher p = { o };
	struct sigaction sa;
	char err[256];
	int e = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	store = rw_ch_file_store_open(o->store_dir, false, &e);
	if (!store) {
		fprintf(stderr, "chan-service: store %s: %s\n", o->store_dir, strerror(-e));
		return 1;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.unix_path = o->unix_path;
	cfg.vsock_port = o->vsock_port;
	rw_ch_file_store_sink(store, &p.inner, &p.inner_ctx);
	cfg.ch.sink.load = wrap_load;
	cfg.ch.sink.on_message = wrap_on_message;
	cfg.ch.sink.commit = wrap_commit;
	cfg.ch.sink_ctx = &p;
	cfg.ch.app.on_ready = on_ready;
	cfg.ch.app.on_peer_ack = on_peer_ack;
	cfg.ch.app.on_writable = on_writable;
	cfg.ch.app.on_close = on_close;
	cfg.ch.app_ctx = &p;
	cfg.ch.log.fn = log_line;
	cfg.ch.capabilities = RW_CAP_POLICY | RW_CAP_CHALLENGE_SHA256;
	if (getrandom(cfg.ch.instance_id, sizeof(cfg.ch.instance_id), 0) < 0)
		memset(cfg.ch.instance_id, 0x42, sizeof(cfg.ch.instance_id));
	cfg.on_ram = on_ram;
	cfg.ctx = &p;
	svc = rw_channel_service_new(&cfg, err, sizeof(err));
	if (!svc) {
		fprintf(stderr, "chan-service: %s\n", err);
		rw_ch_file_store_close(store);
		return 1;
	}
	fprintf(stderr, "chan-service[%d]: listening on %s\n", (int)getpid(),
		o->unix_path ? o->unix_path : "vsock");
	while (!stop_flag) {
		e = rw_channel_service_run_once(svc, 20);
		if (e < 0) {
			fprintf(stderr, "chan-service: %s\n", strerror(-e));
			break;
		}
		for (unsigned i = 0; i < MAX_PUSH_CONNS; i++)
			if (p.conns[i])
				push_more(&p, p.conns[i]);
		chal_poll(&p);
	}
	rw_channel_service_free(svc);
	vmi_kcat_close(p.kcat);
	rw_ch_file_store_close(store);
	return e < 0 ? 1 : 0;
}
