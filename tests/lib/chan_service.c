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

#include "host/channel_service.h"
#include "host/channel_store.h"
#include "vmi/banner.h"
#include "vmi/mem.h"

static volatile sig_atomic_t stop_flag;

static void on_stop(int sig)
{
	(void)sig;
	stop_flag = 1;
}

#define MAX_PUSH_CONNS 16

struct pusher {
	const struct rw_test_chan_service *o;
	struct rw_ch_conn *conns[MAX_PUSH_CONNS]; /* ready connections */
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
	rw_ch_file_store_sink(store, &cfg.ch.sink, &cfg.ch.sink_ctx);
	cfg.ch.app.on_ready = on_ready;
	cfg.ch.app.on_peer_ack = on_peer_ack;
	cfg.ch.app.on_writable = on_writable;
	cfg.ch.app.on_close = on_close;
	cfg.ch.app_ctx = &p;
	cfg.ch.log.fn = log_line;
	cfg.ch.capabilities = RW_CAP_POLICY;
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
	}
	rw_channel_service_free(svc);
	rw_ch_file_store_close(store);
	return e < 0 ? 1 : 0;
}
