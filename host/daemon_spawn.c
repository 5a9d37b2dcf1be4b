// SPDX-License-Identifier: GPL-2.0
#include "host/daemon_spawn.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct spawn_job {
	int (*fn)(void *arg);		/* generic job, or NULL for rw_vm_start */
	void *arg;
	const struct rw_vm_config *cfg;
	struct rw_vm *vm;
	char *err;
	size_t errlen;
	int rc;
	bool done;
	struct spawn_job *next;
};

struct rw_spawner {
	pthread_mutex_t lock;
	pthread_cond_t cond;	/* a job was queued / finished, or stopping */
	struct spawn_job *head, *tail;
	bool stopping;
	pthread_t thread;
};

static void *spawner_main(void *arg)
{
	struct rw_spawner *sp = arg;

	pthread_mutex_lock(&sp->lock);
	for (;;) {
		struct spawn_job *job;

		while (!sp->head && !sp->stopping)
			pthread_cond_wait(&sp->cond, &sp->lock);
		if (!sp->head)
			break;
		job = sp->head;
		sp->head = job->next;
		if (!sp->head)
			sp->tail = NULL;
		pthread_mutex_unlock(&sp->lock);
		job->rc = job->fn ? job->fn(job->arg) :
			  rw_vm_start(job->cfg, job->vm, job->err, job->errlen);
		pthread_mutex_lock(&sp->lock);
		job->done = true;
		pthread_cond_broadcast(&sp->cond);
	}
	pthread_mutex_unlock(&sp->lock);
	return NULL;
}

int rw_spawner_start(struct rw_spawner **out, char *err, size_t errlen)
{
	struct rw_spawner *sp = calloc(1, sizeof(*sp));

	if (!sp) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutex_init(&sp->lock, NULL);
	pthread_cond_init(&sp->cond, NULL);
	if (pthread_create(&sp->thread, NULL, spawner_main, sp)) {
		snprintf(err, errlen, "cannot start the spawner thread");
		free(sp);
		return -1;
	}
	*out = sp;
	return 0;
}

static int run_job(struct rw_spawner *sp, struct spawn_job *jp);

int rw_spawner_call(struct rw_spawner *sp, int (*fn)(void *arg), void *arg)
{
	char err[64];
	struct spawn_job job = { .fn = fn, .arg = arg, .err = err, .errlen = sizeof(err), .rc = -1 };

	return run_job(sp, &job);
}

int rw_spawner_vm_start(struct rw_spawner *sp, const struct rw_vm_config *cfg,
			struct rw_vm *vm, char *err, size_t errlen)
{
	struct spawn_job job = { .cfg = cfg, .vm = vm, .err = err, .errlen = errlen, .rc = -1 };

	return run_job(sp, &job);
}

static int run_job(struct rw_spawner *sp, struct spawn_job *job)
{
	pthread_mutex_lock(&sp->lock);
	if (sp->stopping) {
		pthread_mutex_unlock(&sp->lock);
		snprintf(job->err, job->errlen, "ringwatchd is stopping");
		return -1;
	}
	if (sp->tail)
		sp->tail->next = job;
	else
		sp->head = job;
	sp->tail = job;
	pthread_cond_broadcast(&sp->cond);
	while (!job->done)
		pthread_cond_wait(&sp->cond, &sp->lock);
	pthread_mutex_unlock(&sp->lock);
	return job->rc;
}

void rw_spawner_stop(struct rw_spawner *sp)
{
	if (!sp)
		return;
	pthread_mutex_lock(&sp->lock);
	sp->stopping = true;
	pthread_cond_broadcast(&sp->cond);
	pthread_mutex_unlock(&sp->lock);
	pthread_join(sp->thread, NULL);	/* queued jobs finish first */
	pthread_mutex_destroy(&sp->lock);
	pthread_cond_destroy(&sp->cond);
	free(sp);
}
