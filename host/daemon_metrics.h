/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Prometheus text-format metrics of ringwatchd (GET /metrics):
 *   ringwatch_vm_state{vm}                       0 ok, 1 alert, 2 unknown, 3 gone
 *   ringwatch_check_status{vm,check}             0 ok, 1 alert, 2 unknown, 3 error
 *   ringwatch_vm_open_alerts{vm}                 unacknowledged alert events
 *   ringwatch_checks_run_total{check,result}     counter
 *   ringwatch_check_duration_seconds{check}      histogram
 *   ringwatch_events_total{severity}             counter (since the daemon started)
 * Channel health gauges are added by the channel when it attaches.
 */
#ifndef RW_HOST_DAEMON_METRICS_H
#define RW_HOST_DAEMON_METRICS_H

#include <stddef.h>

#include "host/check.h"
#include "host/daemon_store.h"

struct rw_daemon;
struct rw_metrics;

struct rw_metrics *rw_metrics_new(const struct rw_check_ops *const *checks, size_t nchecks);
void rw_metrics_free(struct rw_metrics *m);
void rw_metrics_check_run(struct rw_metrics *m, size_t check, enum rw_result r, double seconds);
void rw_metrics_event(struct rw_metrics *m, enum rw_severity sev);

/* The whole exposition text (malloc'd). */
char *rw_metrics_render(struct rw_daemon *d);

/* Serve GET /metrics on @addr ("HOST:PORT", numeric host) in a thread. */
int rw_metrics_listen(struct rw_daemon *d, const char *addr, char *err, size_t errlen);
/* The bound port (useful with port 0), or -1. */
int rw_metrics_port(struct rw_metrics *m);
void rw_metrics_shutdown(struct rw_metrics *m);

#endif
