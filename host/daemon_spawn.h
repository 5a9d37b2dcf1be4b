/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The spawner thread: every QEMU the daemon launches is forked by this one
 * long-lived thread.  QEMU gets PR_SET_PDEATHSIG from the launcher, and the
 * kernel sends it when the *thread* that forked QEMU exits; forking from a
 * short-lived control-connection thread would kill the guest as soon as the
 * request finished.
 */
#ifndef RW_HOST_DAEMON_SPAWN_H
#define RW_HOST_DAEMON_SPAWN_H

#include <stddef.h>

#include "host/launcher.h"

struct rw_spawner;

int rw_spawner_start(struct rw_spawner **out, char *err, size_t errlen);
/* rw_vm_start() run by the spawner thread; blocks the caller until it returns. */
int rw_spawner_vm_start(struct rw_spawner *sp, const struct rw_vm_config *cfg,
			struct rw_vm *vm, char *err, size_t errlen);
/* Run @fn(@arg) on the spawner thread (children it forks die with that thread); its result. */
int rw_spawner_call(struct rw_spawner *sp, int (*fn)(void *arg), void *arg);
void rw_spawner_stop(struct rw_spawner *sp);

#endif
