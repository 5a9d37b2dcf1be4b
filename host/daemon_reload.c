// SPDX-License-Identifier: GPL-2.0
/*
 * Configuration reload (SIGHUP).  The new configuration is parsed and
 * checked completely before anything changes; then the outputs switch and
 * d->cfg is swapped in one atomic store.  Threads read d->cfg at each use and
 * may still hold the previous one, so superseded configurations are kept
 * until the daemon stops (each is what its file defines: a few KiB).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "host/daemon.h"
#include "host/daemon_output.h"

struct rw_config_gen {
	struct rw_config cfg;
	struct rw_config_gen *prev;
};

#define DAEMON_EVENT_VM "-"	/* daemon-wide events: not a valid VM name */

static void config_event(struct rw_daemon *d, enum rw_severity sev, json_t *detail)
{
	char err[256];

	if (rw_daemon_event(d, DAEMON_EVENT_VM, "ringwatchd", "config", sev, detail, err,
			    sizeof(err)) < 0)
		rw_daemon_log(d, LOG_ERR, "config event: %s", err);
	json_decref(detail);
}

static bool same_rules(const struct rw_config *a, const struct rw_config *b)
{
	if (a->nrules != b->nrules)
		return false;
	for (size_t i = 0; i < a->nrules; i++)
		if (strcmp(a->rules[i].check, b->rules[i].check) ||
		    strcmp(a->rules[i].severity, b->rules[i].severity) ||
		    a->rules[i].actions != b->rules[i].actions)
			return false;
	return true;
}

static bool same_overrides(const struct rw_config *a, const struct rw_config *b)
{
	if (a->nvms != b->nvms)
		return false;
	for (size_t i = 0; i < a->nvms; i++)
		if (strcmp(a->vms[i].name, b->vms[i].name) ||
		    a->vms[i].interval_ms != b->vms[i].interval_ms)
			return false;
	return true;
}

/* Directives that take effect now and differ between @old and @new. */
static json_t *changed_directives(const struct rw_config *old, const struct rw_config *new)
{
	json_t *a = json_array();

#define CHANGED(cond, name) do { if (cond) json_array_append_new(a, json_string(name)); } while (0)
	CHANGED(old->interval_ms != new->interval_ms, "interval");
	CHANGED(!same_overrides(old, new), "vm");
	CHANGED(old->qmp_timeout_ms != new->qmp_timeout_ms, "qmp-timeout");
	CHANGED(old->launch_timeout_ms != new->launch_timeout_ms, "launch-timeout");
	CHANGED(old->dump_timeout_ms != new->dump_timeout_ms, "dump-timeout");
	CHANGED(strcmp(old->json_log, new->json_log), "json-log");
	CHANGED(old->syslog != new->syslog, "syslog");
	CHANGED(strcmp(old->vsockd, new->vsockd), "vsockd");
	CHANGED(!same_rules(old, new), "respond");
	CHANGED(old->nkernel_search != new->nkernel_search ||
		memcmp(old->kernel_search, new->kernel_search, sizeof(old->kernel_search)),
		"kernel-search");
	CHANGED(old->nhook_allow != new->nhook_allow ||
		memcmp(old->hook_allow, new->hook_allow, sizeof(old->hook_allow)), "hook-allow");
#undef CHANGED
	return a;
}

/*
 * Directives bound to threads or sockets made at start: keep the running
 * value in @new (so d->cfg tells what is in force) and name them.
 */
static json_t *keep_restart_only(const struct rw_config *old, struct rw_config *new)
{
	json_t *a = json_array();

	if (old->workers != new->workers) {
		json_array_append_new(a, json_string("workers"));
		new->workers = old->workers;
	}
	if (strcmp(old->metrics, new->metrics)) {
		json_array_append_new(a, json_string("metrics"));
		memcpy(new->metrics, old->metrics, sizeof(new->metrics));
	}
	if (old->channel_vsock_port != new->channel_vsock_port) {
		json_array_append_new(a, json_string("channel-vsock-port"));
		new->channel_vsock_port = old->channel_vsock_port;
	}
	return a;
}

static int load_new(struct rw_daemon *d, const struct rw_reload_src *src, struct rw_config *cfg,
		    char *err, size_t errlen)
{
	rw_config_defaults(cfg);
	if (rw_config_load(src->path, src->optional, cfg, err, errlen))
		return -1;
	if (src->json_log)
		snprintf(cfg->json_log, sizeof(cfg->json_log), "%s", src->json_log);
	if (src->metrics)
		snprintf(cfg->metrics, sizeof(cfg->metrics), "%s",
			 strcmp(src->metrics, "off") ? src->metrics : "");
	if (!strcmp(cfg->json_log, "-") && !d->log_to_stderr) {
		snprintf(err, errlen, "%s: json-log - needs ringwatchd --foreground", src->path);
		return -1;
	}
	return 0;
}

static int reject(struct rw_daemon *d, const struct rw_reload_src *src, const char *why)
{
	rw_daemon_log(d, LOG_ERR, "configuration reload failed, keeping the current one: %s", why);
	config_event(d, RW_SEV_ERROR,
		     json_pack("{s:s,s:s,s:s,s:s}", "action", "reload", "result", "rejected",
			       "file", src->path, "error", why));
	return -1;
}

int rw_daemon_reload(struct rw_daemon *d, const struct rw_reload_src *src, char *err,
		     size_t errlen)
{
	struct rw_config_gen *gen = calloc(1, sizeof(*gen));
	const struct rw_config *old = d->cfg;
	json_t *changed, *restart;
	char list[512];

	if (!gen) {
		snprintf(err, errlen, "out of memory");
		return reject(d, src, err);
	}
	if (load_new(d, src, &gen->cfg, err, errlen))
		goto rejected;
	restart = keep_restart_only(old, &gen->cfg);
	changed = changed_directives(old, &gen->cfg);
	/* The JSON log is reopened even when unchanged: log rotation. */
	if (rw_outputs_reconfigure(d->out, gen->cfg.json_log, gen->cfg.syslog, err, errlen)) {
		json_decref(restart);
		json_decref(changed);
		goto rejected;
	}
	pthread_mutex_lock(&d->lock);
	gen->prev = d->cfg_gens;
	d->cfg_gens = gen;
	d->cfg = &gen->cfg;
	rw_sched_kick(d);	/* intervals may have changed */
	pthread_mutex_unlock(&d->lock);

	list[0] = '\0';
	for (size_t i = 0; i < json_array_size(changed); i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "",
			 json_string_value(json_array_get(changed, i)));
	rw_daemon_log(d, LOG_INFO, "configuration reloaded from %s (changed: %s)%s", src->path,
		      list[0] ? list : "nothing",
		      json_array_size(restart) ? "; workers/metrics/channel-vsock-port changes "
						 "need a restart" : "");
	config_event(d, RW_SEV_INFO,
		     json_pack("{s:s,s:s,s:s,s:o,s:o}", "action", "reload", "result", "applied",
			       "file", src->path, "changed", changed, "restart_needed", restart));
	return 0;
rejected:
	rw_config_free(&gen->cfg);
	free(gen);
	return reject(d, src, err);
}

void rw_daemon_free_configs(struct rw_daemon *d)
{
	while (d->cfg_gens) {
		struct rw_config_gen *g = d->cfg_gens;

		d->cfg_gens = g->prev;
		rw_config_free(&g->cfg);
		free(g);
	}
}
