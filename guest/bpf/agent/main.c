// SPDX-License-Identifier: GPL-2.0
/*
 * ringwatch-agent: the guest side of ringwatch's BPF LSM guard.
 *
 *   ringwatch-agent run [--policy FILE] [--no-console]
 *       load/pin (or reattach to) the programs, apply the default policy,
 *       drain the ring buffer, apply policy updates, report health
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
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "guest/bpf/agent/bpfobj.h"
#include "guest/bpf/agent/ctl.h"
#include "guest/bpf/agent/event_json.h"
#include "guest/bpf/agent/forward.h"
#include "guest/bpf/agent/policy.h"

#define RW_RUN_DIR "/run/ringwatch"
#define RW_DEFAULT_POLICY "/etc/ringwatch/policy"
#define RW_HEALTH_PERIOD_S 10

struct agent {
	struct rw_agent_bpf bpf;
	struct rw_forward fwd;
	struct rw_ctl ctl;
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
	rw_forward_line(&a->fwd, line);
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

static void report_health(struct agent *a)
{
	struct rw_agent_health h;
	char extra[1024];

	if (rw_bpf_health(&a->bpf, &h)) {
		report(a, "health", ",\"ok\":false,\"error\":\"cannot read the BPF maps\"");
		return;
	}
	snprintf(extra, sizeof(extra),
		 ",\"ok\":%s,\"mode\":\"%s\",\"uptime_s\":%lld,\"links\":%u,\"links_expected\":%u,"
		 "\"events\":%llu,\"bad_records\":%llu,\"ringbuf_drops\":%llu,"
		 "\"forward_failures\":%llu,\"module_allow\":%u,\"module_enforce\":%s,"
		 "\"exec_deny\":%u,\"env_watch\":%u,\"boot_complete\":%s,\"usb_mount_deny\":%s,"
		 "\"ima\":\"%s\",\"policy\":\"%s\"",
		 h.links_pinned == h.links_expected ? "true" : "false",
		 a->bpf.reattached ? "reattached" : "loaded",
		 (long long)(time(NULL) - a->started), h.links_pinned, h.links_expected, a->events,
		 a->bad_records, (unsigned long long)h.ringbuf_drops, a->fwd.failures,
		 h.module_allow, h.module_enforce ? "true" : "false", h.exec_deny, h.env_watch,
		 h.boot_complete ? "true" : "false", h.usb_mount_deny ? "true" : "false",
		 a->bpf.ima, a->policy_state);
	report(a, "health", extra);
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
	rw_forward_line(&a->fwd, json);
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
		report_health(a);
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

static int run(const char *policy_path, bool console)
{
	struct agent a;
	struct epoll_event ev, evs[4];
	char err[512], pid[32];
	time_t last_health;
	int lock_fd, ep = -1, rc = 1;

	memset(&a, 0, sizeof(a));
	a.ctl.fd = -1;
	a.policy_path = policy_path;
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
	if (rw_forward_open(&a.fwd, RW_AGENT_EVENT_LOG, console ? stdout : NULL, err,
			    sizeof(err))) {
		fprintf(stderr, "ringwatch-agent: %s\n", err);
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
	if (rw_ctl_open(&a.ctl, RW_AGENT_CTL, err, sizeof(err))) {
		report_str(&a, "failed", "error", err, "");
		goto out;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	ev.events = EPOLLIN;
	ev.data.u32 = 0;
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, ring_buffer__epoll_fd(a.rb), &ev)) {
		report_str(&a, "failed", "error", "epoll setup", "");
		goto out;
	}
	ev.data.u32 = 1;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, a.ctl.fd, &ev)) {
		report_str(&a, "failed", "error", "epoll setup", "");
		goto out;
	}
	/* Events queued while no agent ran come first. */
	ring_buffer__consume(a.rb);
	snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	write_small_file(RW_RUN_DIR "/agent.pid", pid);
	write_small_file(RW_RUN_DIR "/agent.ready", "ready\n");
	report(&a, "started", a.bpf.reattached ? ",\"mode\":\"reattached\""
					       : ",\"mode\":\"loaded\"");
	report_health(&a);
	last_health = time(NULL);
	while (!stop_requested) {
		int n = epoll_wait(ep, evs, 4, 1000);

		if (n < 0 && errno != EINTR) {
			report_str(&a, "failed", "error", strerror(errno), "");
			goto out;
		}
		/* Drain events before commands: a command's ack follows every
		 * event committed before it was written. */
		ring_buffer__consume(a.rb);
		if (rw_ctl_read(&a.ctl, on_ctl_line, &a) < 0)
			report_str(&a, "ctl-error", "error", strerror(errno), "");
		check_overflow(&a);
		if (time(NULL) - last_health >= RW_HEALTH_PERIOD_S) {
			report_health(&a);
			last_health = time(NULL);
		}
	}
	ring_buffer__consume(a.rb);
	report(&a, "stopping", "");
	rc = 0;
out:
	if (ep >= 0)
		close(ep);
	ring_buffer__free(a.rb);
	rw_ctl_close(&a.ctl);
	rw_bpf_close(&a.bpf);
	rw_forward_close(&a.fwd);
	unlink(RW_RUN_DIR "/agent.ready");
	close(lock_fd);
	return rc;
}

static int usage(void)
{
	fprintf(stderr, "usage: ringwatch-agent run [--policy FILE] [--no-console]\n"
			"       ringwatch-agent boot-complete\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *policy = RW_DEFAULT_POLICY;
	bool console = true;
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
		if (!strcmp(argv[i], "--policy") && i + 1 < argc)
			policy = argv[++i];
		else if (!strcmp(argv[i], "--no-console"))
			console = false;
		else
			return usage();
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return run(policy, console);
}
