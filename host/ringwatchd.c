// SPDX-License-Identifier: GPL-2.0
/*
 * ringwatchd: the host daemon.  Option parsing, configuration, the state
 * directory lock, daemonizing and signals (SIGTERM/SIGINT stop, SIGHUP
 * reloads the configuration); the work is in host/daemon_*.c.
 * Exit status: 0 clean stop, 1 runtime failure, 2 usage or configuration error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/daemon.h"
#include "host/daemon_control.h"
#include "host/launcher.h"

#define DEFAULT_STATE_DIR "/var/lib/ringwatch"
#define DEFAULT_CONTROL "/run/ringwatch/control.sock"
#define DEFAULT_CONFIG "/etc/ringwatch/ringwatch.conf"

struct options {
	const char *state_dir;
	const char *control;
	const char *config;
	bool config_given;
	bool foreground;
	const char *json_log;
	const char *metrics;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: ringwatchd [--state-dir DIR] [--control PATH] [--config FILE]\n"
		"                  [--foreground] [--json-log FILE|-] [--metrics HOST:PORT|off]\n"
		"  --state-dir DIR    database, dumps, launcher run dirs (default %s)\n"
		"  --control PATH     control socket, mode 0600 (default %s)\n"
		"  --config FILE      configuration (default %s, optional)\n"
		"  --foreground       stay in the foreground, diagnostics on stderr\n"
		"  --json-log FILE|-  events as JSON lines (overrides the config)\n"
		"  --metrics ADDR     Prometheus endpoint (overrides the config)\n"
		"SIGHUP re-reads the configuration (a bad file keeps the running one).\n",
		DEFAULT_STATE_DIR, DEFAULT_CONTROL, DEFAULT_CONFIG);
}

static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option opts[] = {
		{ "state-dir", required_argument, NULL, 's' },
		{ "control", required_argument, NULL, 'c' },
		{ "config", required_argument, NULL, 'f' },
		{ "foreground", no_argument, NULL, 'F' },
		{ "json-log", required_argument, NULL, 'j' },
		{ "metrics", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct options){ .state_dir = DEFAULT_STATE_DIR, .control = DEFAULT_CONTROL,
			       .config = DEFAULT_CONFIG };
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': o->state_dir = optarg; break;
		case 'c': o->control = optarg; break;
		case 'f': o->config = optarg; o->config_given = true; break;
		case 'F': o->foreground = true; break;
		case 'j': o->json_log = optarg; break;
		case 'm': o->metrics = optarg; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "ringwatchd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return -1;
	}
	return 0;
}

static int load_config(const struct options *o, struct rw_config *cfg)
{
	char err[768];

	rw_config_defaults(cfg);
	if (rw_config_load(o->config, !o->config_given, cfg, err, sizeof(err))) {
		fprintf(stderr, "ringwatchd: %s\n", err);
		return -1;
	}
	if (o->json_log)
		snprintf(cfg->json_log, sizeof(cfg->json_log), "%s", o->json_log);
	if (o->metrics)
		snprintf(cfg->metrics, sizeof(cfg->metrics), "%s",
			 strcmp(o->metrics, "off") ? o->metrics : "");
	if (!o->foreground && !strcmp(cfg->json_log, "-")) {
		fprintf(stderr, "ringwatchd: --json-log - needs --foreground\n");
		return -1;
	}
	return 0;
}

static int make_dir(const char *path, mode_t mode)
{
	if (mkdir(path, mode) && errno != EEXIST) {
		fprintf(stderr, "ringwatchd: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* One daemon per state directory. */
static int lock_state_dir(const char *dir)
{
	char path[1024];
	int fd;

	snprintf(path, sizeof(path), "%s/ringwatchd.lock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "ringwatchd: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		fprintf(stderr, "ringwatchd: another ringwatchd uses %s\n", dir);
		close(fd);
		return -1;
	}
	/* The lock file names the daemon holding it. */
	if (ftruncate(fd, 0) == 0)
		dprintf(fd, "%d\n", (int)getpid());
	return fd;
}

static int prepare_dirs(const struct options *o)
{
	char parent[512];

	snprintf(parent, sizeof(parent), "%s", o->control);
	if (make_dir(o->state_dir, 0700) || make_dir(dirname(parent), 0755))
		return -1;
	return 0;
}

/*
 * Background mode: the parent waits until the child reports it is serving
 * (or why it failed), so "ringwatchd && ringwatch list" works.  Returns in
 * the child with the pipe's write end in *notify_fd.
 */
static void daemonize(int *notify_fd)
{
	int p[2];
	pid_t pid;
	char msg[1024];
	ssize_t n;

	if (pipe2(p, O_CLOEXEC) || (pid = fork()) < 0) {
		fprintf(stderr, "ringwatchd: fork: %s\n", strerror(errno));
		exit(1);
	}
	if (pid > 0) {
		close(p[1]);
		n = read(p[0], msg, sizeof(msg) - 1);
		if (n > 0 && msg[0] == '+')
			exit(0);
		msg[n > 0 ? n : 0] = '\0';
		fprintf(stderr, "%s", n > 0 ? msg : "ringwatchd: failed to start\n");
		exit(1);
	}
	close(p[0]);
	setsid();
	*notify_fd = p[1];
}

/* Background child: report readiness and drop the terminal. */
static void detach_stdio(int notify_fd)
{
	int null = open("/dev/null", O_RDWR);

	if (write(notify_fd, "+", 1) != 1)
		_exit(1);
	close(notify_fd);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		if (null > 2)
			close(null);
	}
}

static int serve(const struct options *o, const struct rw_config *cfg, int notify_fd)
{
	struct rw_daemon_opts dopts = { .state_dir = o->state_dir, .cfg = cfg,
					.log_to_stderr = o->foreground };
	struct rw_daemon *d;
	struct rw_control *ctl;
	char err[1024];
	sigset_t sigs;
	int sig, lfd;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);	/* inherited by every thread */
	signal(SIGPIPE, SIG_IGN);
	if (rw_daemon_start(&dopts, &d, err, sizeof(err))) {
		dprintf(notify_fd >= 0 ? notify_fd : STDERR_FILENO, "ringwatchd: %s\n", err);
		return 1;
	}
	lfd = rw_control_bind(o->control, err, sizeof(err));
	if (lfd < 0 || rw_control_start(d, lfd, o->control, &ctl, err, sizeof(err))) {
		dprintf(notify_fd >= 0 ? notify_fd : STDERR_FILENO, "ringwatchd: %s\n", err);
		rw_daemon_stop(d);
		return 1;
	}
	rw_daemon_log(d, 6, "serving %s (state %s, %u workers)", o->control, o->state_dir,
		      d->nworkers);
	if (notify_fd >= 0)
		detach_stdio(notify_fd);
	for (;;) {
		struct rw_reload_src src = { .path = o->config, .optional = !o->config_given,
					     .json_log = o->json_log, .metrics = o->metrics };

		if (sigwait(&sigs, &sig) || sig != SIGHUP)
			break;
		/* Reload: a bad file keeps the running configuration (logged, and an event). */
		rw_daemon_reload(d, &src, err, sizeof(err));
	}
	rw_daemon_log(d, 6, "stopping on signal %d", sig);
	rw_control_stop(ctl);
	rw_daemon_stop(d);
	return 0;
}

int main(int argc, char **argv)
{
	struct options o;
	struct rw_config cfg;
	int lock_fd, notify_fd = -1, rc;

	if (parse_options(argc, argv, &o) || load_config(&o, &cfg))
		return 2;
	if (prepare_dirs(&o))
		return 1;
	if (!o.foreground)
		daemonize(&notify_fd);
	lock_fd = lock_state_dir(o.state_dir);
	if (lock_fd < 0) {
		if (notify_fd >= 0)
			dprintf(notify_fd, "ringwatchd: another ringwatchd uses %s\n", o.state_dir);
		return 1;
	}
	atexit(rw_vm_kill_all);
	rc = serve(&o, &cfg, notify_fd);
	rw_config_free(&cfg);
	close(lock_fd);
	return rc;
}
