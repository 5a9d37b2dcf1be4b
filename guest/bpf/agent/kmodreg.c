// SPDX-License-Identifier: GPL-2.0
/* ringwatch-agent: registration with ringwatch.ko (see kmodreg.h). */
#include "guest/bpf/agent/kmodreg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void rw_kmod_reg_init(struct rw_kmod_reg *r)
{
	r->fd = -1;
	snprintf(r->state, sizeof(r->state), "absent");
}

int rw_kmod_hook_of_section(const char *sec, char *out, size_t outlen)
{
	const char *name;
	size_t len;

	if (!strncmp(sec, "lsm/", 4))
		name = sec + 4;
	else if (!strncmp(sec, "lsm.s/", 6))
		name = sec + 6;
	else
		return -1;
	len = strlen(name);
	if (!len || len > RW_KMOD_HOOK_MAX || len >= outlen)
		return -1;
	for (size_t i = 0; i < len; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
		      name[i] == '_'))
			return -1;
	memcpy(out, name, len + 1);
	return 0;
}

static bool set_state(struct rw_kmod_reg *r, const char *state)
{
	if (!strcmp(r->state, state))
		return false;
	snprintf(r->state, sizeof(r->state), "%s", state);
	return true;
}

static bool refused(struct rw_kmod_reg *r, const char *what, int e)
{
	char text[sizeof(r->state)];

	/* ENOENT: no module (yet); EPERM: disarmed or not armed. */
	if (e == ENOENT)
		return set_state(r, "absent");
	snprintf(text, sizeof(text), "refused: %s: %s", what, strerror(e));
	return set_state(r, text);
}

bool rw_kmod_register(struct rw_kmod_reg *r, const char *hooks)
{
	size_t len = strlen(hooks);
	ssize_t n;

	if (r->fd >= 0)
		return false;
	r->fd = open(RW_KMOD_AGENT_FILE, O_RDWR | O_CLOEXEC);
	if (r->fd < 0)
		return refused(r, "open", errno);
	n = write(r->fd, hooks, len);
	if (n != (ssize_t)len) {
		int e = n < 0 ? errno : EIO;

		/* Keep the registration: the agent's life is still watched. */
		return refused(r, "hooks", e);
	}
	return set_state(r, "registered");
}

void rw_kmod_release(struct rw_kmod_reg *r)
{
	rw_kmod_reg_close(r);
	set_state(r, "released");
}

void rw_kmod_goodbye(struct rw_kmod_reg *r)
{
	if (r->fd >= 0 && write(r->fd, "bye\n", 4) != 4)
		set_state(r, "bye refused");
	rw_kmod_reg_close(r);
}

void rw_kmod_reg_close(struct rw_kmod_reg *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
}
