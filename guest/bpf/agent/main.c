// SPDX-License-Identifier: GPL-2.0
/*
 * ringwatch-agent: the guest side of ringwatch's BPF LSM guard.
 *
 *   ringwatch-agent run [--policy FILE] [--no-console] [--port P] [--no-channel]
 *                       [--debug-ctl]
 *       load/pin (or reattach to) the programs, apply the default policy,
 *       drain the ring buffer, forward events to the host over the channel
 *       (AF_VSOCK CID 2, port 7391), apply the policy updates the host sends
 *       (POLICY_UPDATE), report health.  --debug-ctl also reads policy lines
 *       from the FIFO /run/ringwatch/agent.ctl: a test/debug facility only
 *       (anyone root in the guest could change the policy through it).
 *   ringwatch-agent boot-complete
 *       declare the boot finished (removable/USB mount rule takes effect)
 *
 * Runs as root from /etc/ringwatch/rc.d/50-ringwatch-agent, which restarts
 * it if it ever exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "guest/bpf/agent/bpfobj.h"
#include "guest/bpf/agent/ctl.h"
#include "guest/bpf/agent/event_json.h"
#include "guest/bpf/agent/forward.h"
#include "guest/bpf/agent/kmodreg.h"
#include "guest/bpf/agent/policy.h"
#include "shared/rw_chan.h"
#include "shared/rw_proto.h"

#define RW_RUN_DIR "/run/ringwatch"
#define RW_DEFAULT_POLICY "/etc/ringwatch/policy"
#define RW_HEALTH_PERIOD_S 10
#define RW_CHAN_STATUS RW_RUN_DIR "/agent-channel"
#define RW_CHAN_QUEUE 4096

struct agent {
	struct rw_agent_bpf bpf;
	struct rw_forward fwd;
	struct rw_ctl ctl;
	struct rw_chan *chan;
	struct rw_kmod_reg kmod;	/* registration with ringwatch.ko */
	char hooks[2048];		/* "hooks ..." for it, "" if unknown */
	bool debug_ctl;
	uint64_t heartbeats;
	uint64_t status_acked;		/* acked_seq last written to RW_CHAN_STATUS */
	struct ring_buffer *rb;
	unsigned long long events;
	unsigned long long bad_records;
	uint64_t drops_reported;
	time_t started;
	const char *policy_path;
	char policy_state[32];
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* {"agent":"<what>", ...extra} where @extra is ",\"k\":v..." or "". */
static void report(struct agent *a, const char *what, const char *extra)
{
	char line[RW_EVENT_JSON_MAX];

	snprintf(line, sizeof(line), "{\"agent\":\"%s\",\"pid\":%d%s}", what, (int)getpid(),
		 extra);
	rw_forward_report(&a->fwd, line);
}

/* Report with one string field, escaped. */
static void report_str(struct agent *a, const char *what, const char *key, const char *value,
		       const char *extra)
{
	char buf[RW_EVENT_JSON_MAX];
	size_t pos;

	pos = (size_t)snprintf(buf, sizeof(buf), ",\"%s\":", key);
	if (pos >= sizeof(buf) || rw_json_put_string(buf, sizeof(buf), &pos, value, 1024))
		snprintf(buf, sizeof(buf), ",\"%s\":\"(too long)\"", key);
	if (extra)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s", extra);
	report(a, what, buf);
}

/* Health: to the host when asked for (or when not ok); the periodic one stays
 * local and the host gets a HEARTBEAT instead (latest-state, not an event). */
static void report_health(struct agent *a, bool to_host)
{
	struct rw_agent_health h;
	struct rw_chan_stats cs = { 0 };
	char extra[1280], line[RW_EVENT_JSON_MAX];
	bool ok;

	if (rw_bpf_health(&a->bpf, &h)) {
		report(a, "health", ",\"ok\":false,\"error\":\"cannot read the BPF maps\"");
		return;
	}
	if (a->chan)
		rw_chan_get_stats(a->chan, &cs);
	ok = h.links_pinned == h.links_expected;
	snprintf(extra, sizeof(extra),
		 ",\"ok\":%s,\"mode\":\"%s\",\"uptime_s\":%lld,\"links\":%u,\"links_expected\":%u,"
		 "\"events\":%llu,\"bad_records\":%llu,\"ringbuf_drops\":%llu,"
		 "\"forward_failures\":%llu,\"module_allow\":%u,\"module_enforce\":%s,"
		 "\"exec_deny\":%u,\"env_watch\":%u,\"boot_complete\":%s,\"usb_mount_deny\":%s,"
		 "\"ima\":\"%s\",\"policy\":\"%s\",\"channel\":\"%s\",\"channel_acked\":%llu,"
		 "\"channel_lost\":%llu,\"kmod\":\"%s\"",
		 ok ? "true" : "false",
		 a->bpf.reattached ? "reattached" : "loaded",
		 (long long)(time(NULL) - a->started), h.links_pinned, h.links_expected, a->events,
		 a->bad_records, (unsigned long long)h.ringbuf_drops, a->fwd.failures,
		 h.module_allow, h.module_enforce ? "true" : "false", h.exec_deny, h.env_watch,
		 h.boot_complete ? "true" : "false", h.usb_mount_deny ? "true" : "false",
		 a->bpf.ima, a->policy_state, a->chan ? rw_chan_state_name(cs.state) : "off",
		 (unsigned long long)cs.acked_seq, (unsigned long long)cs.lost, a->kmod.state);
	if (to_host || !ok) {
		report(a, "health", extra);
		return;
	}
	snprintf(line, sizeof(line), "{\"agent\":\"health\",\"pid\":%d%s}", (int)getpid(), extra);
	rw_forward_local(&a->fwd, line);
}

/* Periodic liveness for the host: a HEARTBEAT (stored as latest state). */
static void send_heartbeat(struct agent *a)
{
	struct rw_msg m;
	struct timespec ts;

	if (!a->chan)
		return;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	memset(&m, 0, sizeof(m));
	m.hdr.type = RW_MSG_HEARTBEAT;
	m.u.heartbeat.counter = ++a->heartbeats;
	m.u.heartbeat.uptime_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	rw_chan_send(a->chan, &m);
}

/* Register with ringwatch.ko when not registered; report state changes. */
static void kmod_register(struct agent *a)
{
	if (a->hooks[0] && rw_kmod_register(&a->kmod, a->hooks))
		report_str(a, "kmod", "state", a->kmod.state, "");
}

/* Lost events are reported as soon as the counter moves. */
static void check_overflow(struct agent *a)
{
	struct rw_agent_health h;
	char extra[128];

	if (rw_bpf_health(&a->bpf, &h) || h.ringbuf_drops == a->drops_reported)
		return;
	snprintf(extra, sizeof(extra), ",\"lost\":%llu,\"total_lost\":%llu",
		 (unsigned long long)(h.ringbuf_drops - a->drops_reported),
		 (unsigned long long)h.ringbuf_drops);
	a->drops_reported = h.ringbuf_drops;
	report(a, "overflow", extra);
}

static int on_record(void *ctx, void *data, size_t len)
{
	struct agent *a = ctx;
	char json[RW_EVENT_JSON_MAX];

	if (rw_event_to_json(data, len, json, sizeof(json)) < 0) {
		a->bad_records++;
		return 0;
	}
	a->events++;
	rw_forward_event(&a->fwd, data, json);
	return 0;
}

static void apply_line(struct agent *a, const char *line, const char *origin, int lineno,
		       bool runtime)
{
	struct rw_policy_cmd cmd;
	char err[256], extra[96];
	int rc;

	snprintf(extra, sizeof(extra), ",\"origin\":\"%s\",\"line\":%d", origin, lineno);
	if (!strcmp(line, "\x01overlong")) {
		report_str(a, "policy-error", "error", "line too long or with a NUL byte", extra);
		return;
	}
	rc = rw_policy_parse_line(line, &cmd, err, sizeof(err));
	if (rc == 0)
		return;
	if (rc > 0 && !runtime && rw_policy_runtime_only(cmd.op)) {
		snprintf(err, sizeof(err), "command is for runtime updates only");
		rc = -1;
	}
	if (rc > 0 && cmd.op == RW_POL_HEALTH) {
		report_health(a, true);
		return;
	}
	if (rc > 0 && cmd.op == RW_POL_RESTART) {
		report_str(a, "policy-applied", "command", line, extra);
		stop_requested = 1;
		return;
	}
	if (rc > 0)
		rc = rw_bpf_apply(&a->bpf, &cmd, err, sizeof(err)) ? -1 : 1;
	if (rc < 0) {
		report_str(a, "policy-error", "error", err, extra);
		return;
	}
	if (runtime)
		report_str(a, "policy-applied", "command", line, extra);
}

static void on_ctl_line(void *arg, const char *line)
{
	struct agent *a = arg;
	static int lineno;

	apply_line(a, line, "ctl", ++lineno, true);
}

/* Host -> guest frames from the channel: POLICY_UPDATE goes through the same
 * code path as the policy file and the debug FIFO. */
static void on_host_message(void *ctx, const struct rw_msg *msg)
{
	struct agent *a = ctx;
	struct rw_policy_entry e;
	uint32_t iter = 0;
	char line[RW_POLICY_LINE_MAX], err[200], extra[96];

	if (msg->hdr.type != RW_MSG_POLICY_UPDATE) {
		snprintf(extra, sizeof(extra), ",\"origin\":\"host\",\"type\":%u", msg->hdr.type);
		report_str(a, "policy-error", "error", "host message not handled by the agent", extra);
		return;
	}
	while (rw_proto_policy_next(&msg->u.policy, &iter, &e) == 1) {
		if (rw_policy_update_line(&msg->u.policy, &e, line, sizeof(line), err, sizeof(err))) {
			snprintf(extra, sizeof(extra), ",\"origin\":\"host\",\"line\":%u",
				 msg->u.policy.generation);
			report_str(a, "policy-error", "error", err, extra);
			continue;
		}
		apply_line(a, line, "host", (int)msg->u.policy.generation, true);
	}
}

/* GNU build ID of the running kernel from /sys/kernel/notes (ELF notes). */
static uint8_t kernel_build_id(uint8_t out[RW_PROTO_BUILD_ID_MAX])
{
	uint8_t buf[4096];
	ssize_t n;
	size_t off = 0;
	int fd = open("/sys/kernel/notes", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	while (n > 0 && off + 12 <= (size_t)n) {
		uint32_t namesz, descsz, type;
		size_t name_off = off + 12, desc_off;

		memcpy(&namesz, buf + off, 4);
		memcpy(&descsz, buf + off + 4, 4);
		memcpy(&type, buf + off + 8, 4);
		if (namesz > 64 || descsz > 1024)
			break;
		desc_off = name_off + ((namesz + 3u) & ~3u);
		if (desc_off + descsz > (size_t)n)
			break;
		if (type == 3 && namesz == 4 && !memcmp(buf + name_off, "GNU", 4) && descsz) {
			uint8_t len = descsz > RW_PROTO_BUILD_ID_MAX ? RW_PROTO_BUILD_ID_MAX
								     : (uint8_t)descsz;

			memcpy(out, buf + desc_off, len);
			return len;
		}
		off = desc_off + ((descsz + 3u) & ~3u);
	}
	return 0;
}

static struct rw_chan *open_channel(struct agent *a, unsigned int port, char *err, size_t errlen)
{
	struct rw_chan_config cfg;
	struct rw_chan *c;
	int e = 0;

	memset(&cfg, 0, sizeof(cfg));
	cfg.transport = RW_CHAN_VSOCK;
	cfg.vsock_port = port;
	cfg.component = RW_COMP_AGENT;
	if (getrandom(cfg.session_id, sizeof(cfg.session_id), 0) != sizeof(cfg.session_id)) {
		snprintf(err, errlen, "getrandom: %s", strerror(errno));
		return NULL;
	}
	cfg.build_id_len = kernel_build_id(cfg.build_id);
	cfg.capabilities = RW_CAP_LSM | RW_CAP_POLICY | RW_CAP_RESUME;
	cfg.queue_capacity = RW_CHAN_QUEUE;
	cfg.backoff_max_ms = 2000;
	cfg.on_message = on_host_message;
	cfg.cb_ctx = a;
	c = rw_chan_new(&cfg, &e);
	if (!c)
		snprintf(err, errlen, "channel: %s", strerror(-e));
	return c;
}

/* "STATE acked_seq next_seq lost" for tests and operators, when it changed. */
static void write_channel_status(struct agent *a, bool force)
{
	struct rw_chan_stats st;
	char text[160];
	int fd;

	if (!a->chan)
		return;
	rw_chan_get_stats(a->chan, &st);
	if (!force && st.acked_seq == a->status_acked)
		return;
	a->status_acked = st.acked_seq;
	snprintf(text, sizeof(text), "%s %llu %llu %llu\n", rw_chan_state_name(st.state),
		 (unsigned long long)st.acked_seq, (unsigned long long)st.next_seq,
		 (unsigned long long)st.lost);
	fd = open(RW_CHAN_STATUS ".tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (write(fd, text, strlen(text)) == (ssize_t)strlen(text))
		rename(RW_CHAN_STATUS ".tmp", RW_CHAN_STATUS);
	close(fd);
}

static void load_policy_file(struct agent *a)
{
	char line[RW_POLICY_LINE_MAX + 2];
	FILE *f = fopen(a->policy_path, "re");
	int lineno = 0, errors = 0;

	if (!f) {
		snprintf(a->policy_state, sizeof(a->policy_state), "missing");
		report_str(a, "policy-error", "error", strerror(errno), ",\"origin\":\"file\"");
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		size_t len = strlen(line);

		lineno++;
		if (len && line[len - 1] == '\n') {
			line[len - 1] = '\0';
		} else if (!feof(f)) {
			int c;

			while ((c = fgetc(f)) != EOF && c != '\n')
				;
			apply_line(a, "\x01overlong", "file", lineno, false);
			errors++;
			continue;
		}
		apply_line(a, line, "file", lineno, false);
	}
	fclose(f);
	snprintf(a->policy_state, sizeof(a->policy_state), "loaded");
	(void)errors;
}

static int write_small_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

struct run_opts {
	const char *policy;
	bool console;
	bool channel;
	bool debug_ctl;
	unsigned int port;
};

static int run(const struct run_opts *o)
{
	struct agent a;
	struct pollfd pfd[4];
	char err[512], pid[32];
	time_t last_health;
	int lock_fd, rc = 1;

	memset(&a, 0, sizeof(a));
	a.ctl.fd = -1;
	rw_kmod_reg_init(&a.kmod);
	a.policy_path = o->policy;
	a.debug_ctl = o->debug_ctl;
	a.started = time(NULL);
	snprintf(a.policy_state, sizeof(a.policy_state), "kept");
	libbpf_set_print(libbpf_quiet);
	if (mkdir(RW_RUN_DIR, 0700) && errno != EEXIST) {
		fprintf(stderr, "ringwatch-agent: mkdir %s: %s\n", RW_RUN_DIR, strerror(errno));
		return 1;
	}
	lock_fd = open(RW_RUN_DIR "/agent.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB)) {
		fprintf(stderr, "ringwatch-agent: another agent is running\n");
		return 1;
	}
	if (o->channel && !(a.chan = open_channel(&a, o->port, err, sizeof(err))))
		fprintf(stderr, "ringwatch-agent: %s (events stay local)\n", err);
	if (rw_forward_open(&a.fwd, RW_AGENT_EVENT_LOG, o->console ? stdout : NULL, a.chan, err,
			    sizeof(err))) {
		fprintf(stderr, "ringwatch-agent: %s\n", err);
		rw_chan_free(a.chan);
		return 1;
	}
	if (rw_bpf_setup(&a.bpf, err, sizeof(err))) {
		report_str(&a, "failed", "error", err, "");
		goto out;
	}
	if (!a.bpf.reattached) {
		load_policy_file(&a);
		if (rw_bpf_enforce_modules(&a.bpf, err, sizeof(err))) {
			report_str(&a, "failed", "error", err, "");
			goto out;
		}
	}
	a.rb = ring_buffer__new(a.bpf.map_fd[RW_MAP_EVENTS], on_record, &a, NULL);
	if (!a.rb) {
		report_str(&a, "failed", "error", "cannot open the ring buffer", "");
		goto out;
	}
	if (a.debug_ctl && rw_ctl_open(&a.ctl, RW_AGENT_CTL, err, sizeof(err))) {
		report_str(&a, "failed", "error", err, "");
		goto out;
	}
	if (!a.debug_ctl)
		unlink(RW_AGENT_CTL);	/* a FIFO left by a debug run: nobody reads it */
	/* Events queued while no agent ran come first. */
	ring_buffer__consume(a.rb);
	snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	write_small_file(RW_RUN_DIR "/agent.pid", pid);
	write_small_file(RW_RUN_DIR "/agent.ready", "ready\n");
	report(&a, "started", a.bpf.reattached ? ",\"mode\":\"reattached\""
					       : ",\"mode\":\"loaded\"");
	if (rw_bpf_lsm_hooks(&a.bpf, a.hooks, sizeof(a.hooks), err, sizeof(err))) {
		a.hooks[0] = '\0';
		report_str(&a, "kmod", "state", "not registering", "");
		report_str(&a, "kmod", "error", err, "");
	}
	kmod_register(&a);
	report_health(&a, true);
	send_heartbeat(&a);
	write_channel_status(&a, true);
	last_health = time(NULL);
	while (!stop_requested) {
		int n = 0, timeout = 1000;

		pfd[n++] = (struct pollfd){ .fd = ring_buffer__epoll_fd(a.rb), .events = POLLIN };
		if (a.ctl.fd >= 0)
			pfd[n++] = (struct pollfd){ .fd = a.ctl.fd, .events = POLLIN };
		if (a.kmod.fd >= 0)
			pfd[n++] = (struct pollfd){ .fd = a.kmod.fd, .events = POLLIN };
		if (a.chan) {
			struct rw_chan_stats cs;

			rw_chan_get_stats(a.chan, &cs);
			if (rw_chan_fd(a.chan) >= 0)
				pfd[n++] = (struct pollfd){ .fd = rw_chan_fd(a.chan),
							    .events = rw_chan_poll_events(a.chan) };
			if (cs.state != RW_CHAN_READY)
				timeout = 100;	/* reconnect backoff runs in rw_chan_poll */
		}
		if (poll(pfd, (nfds_t)n, timeout) < 0 && errno != EINTR) {
			report_str(&a, "failed", "error", strerror(errno), "");
			goto out;
		}
		/* Drain events before commands: a command's ack follows every
		 * event committed before it was written. */
		ring_buffer__consume(a.rb);
		if (a.chan)
			rw_chan_poll(a.chan, 0);	/* send, ACKs, policy updates */
		if (a.ctl.fd >= 0 && rw_ctl_read(&a.ctl, on_ctl_line, &a) < 0)
			report_str(&a, "ctl-error", "error", strerror(errno), "");
		check_overflow(&a);
		for (int i = 0; i < n; i++)
			if (a.kmod.fd >= 0 && pfd[i].fd == a.kmod.fd &&
			    (pfd[i].revents & (POLLHUP | POLLERR))) {
				rw_kmod_release(&a.kmod);	/* disarmed: let it go */
				report_str(&a, "kmod", "state", a.kmod.state, "");
			}
		if (time(NULL) - last_health >= RW_HEALTH_PERIOD_S) {
			kmod_register(&a);
			report_health(&a, false);
			send_heartbeat(&a);
			last_health = time(NULL);
		}
		if (a.chan) {
			rw_chan_poll(a.chan, 0);	/* what the handlers above queued */
			write_channel_status(&a, false);
		}
	}
	ring_buffer__consume(a.rb);
	report(&a, "stopping", "");
	if (a.chan) {
		rw_chan_flush(a.chan, 2000);	/* best effort: the host gets the goodbye */
		write_channel_status(&a, true);
		rw_chan_disconnect(a.chan, RW_BYE_RESTART);
	}
	rw_kmod_goodbye(&a.kmod);
	rc = 0;
out:
	ring_buffer__free(a.rb);
	rw_ctl_close(&a.ctl);
	rw_bpf_close(&a.bpf);
	rw_forward_close(&a.fwd);
	rw_chan_free(a.chan);
	rw_kmod_reg_close(&a.kmod);
	unlink(RW_RUN_DIR "/agent.ready");
	close(lock_fd);
	return rc;
}

static int usage(void)
{
	fprintf(stderr, "usage: ringwatch-agent run [--policy FILE] [--no-console] [--port P]\n"
			"                           [--no-channel] [--debug-ctl]\n"
			"       ringwatch-agent boot-complete\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct run_opts o = { .policy = RW_DEFAULT_POLICY, .console = true, .channel = true,
			      .port = RW_CHAN_DEFAULT_PORT };
	struct sigaction sa;
	char err[512];

	if (argc < 2)
		return usage();
	if (!strcmp(argv[1], "boot-complete") && argc == 2) {
		if (rw_bpf_boot_complete_via_pins(err, sizeof(err))) {
			fprintf(stderr, "ringwatch-agent: %s\n", err);
			return 1;
		}
		return 0;
	}
	if (strcmp(argv[1], "run"))
		return usage();
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--policy") && i + 1 < argc) {
			o.policy = argv[++i];
		} else if (!strcmp(argv[i], "--no-console")) {
			o.console = false;
		} else if (!strcmp(argv[i], "--no-channel")) {
			o.channel = false;
		} else if (!strcmp(argv[i], "--debug-ctl")) {
			o.debug_ctl = true;
		} else if (!strcmp(argv[i], "--port") && i + 1 < argc) {
			char *end;
			unsigned long v = strtoul(argv[++i], &end, 10);

			if (*end || !v || v > 0xfffffffful)
				return usage();
			o.port = (unsigned int)v;
		} else {
			return usage();
		}
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return run(&o);
}
