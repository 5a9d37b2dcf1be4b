// SPDX-License-Identifier: GPL-2.0
/* ringwatch-agent: event forwarding (host channel, log file, console). */
#include "guest/bpf/agent/forward.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "guest/bpf/agent/event_json.h"
#include "shared/rw_chan.h"
#include "shared/rw_proto.h"

int rw_forward_open(struct rw_forward *fw, const char *log_path, FILE *console,
		    struct rw_chan *chan, char *err, size_t errlen)
{
	memset(fw, 0, sizeof(*fw));
	fw->log_fd = -1;
	fw->console = console;
	fw->chan = chan;
	if (log_path) {
		fw->log_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (fw->log_fd < 0) {
			snprintf(err, errlen, "cannot open event log %s: %s", log_path,
				 strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* One write() per line, so concurrent appenders never interleave inside it.
 * The line is {"seq":N, followed by the object's members. */
static int write_line(int fd, unsigned long long seq, const char *json)
{
	char buf[RW_EVENT_JSON_MAX + 64];
	int n;
	ssize_t w;

	if (json[0] != '{')
		return -1;
	n = snprintf(buf, sizeof(buf), "{\"seq\":%llu,%s\n", seq, json + 1);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -1;
	do {
		w = write(fd, buf, (size_t)n);
	} while (w < 0 && errno == EINTR);
	return w == n ? 0 : -1;
}

static int local_copy(struct rw_forward *fw, unsigned long long seq, const char *json)
{
	int rc = 0;

	if (fw->log_fd >= 0 && write_line(fw->log_fd, seq, json))
		rc = -1;
	if (fw->console) {
		if (fprintf(fw->console, "ringwatch-agent: %s\n", json) < 0 || fflush(fw->console))
			rc = -1;
	}
	return rc;
}

static uint16_t lsm_kind_of(unsigned int kind)
{
	switch (kind) {
	case RW_EV_MODULE_DENIED:
	case RW_EV_MODULE_REQUEST_DENIED:
		return RW_LSM_MODULE_LOAD;
	case RW_EV_MOUNT_DENIED:
		return RW_LSM_MOUNT;
	case RW_EV_SELF_UNLINK:
	case RW_EV_GUARD_PIN:
	case RW_EV_GUARD_AGENT_EXE:
		return RW_LSM_FILE_OPEN;
	case RW_EV_GUARD_BPF:
		return RW_LSM_BPF_PROG_LOAD;
	case RW_EV_GUARD_SIGNAL:
	case RW_EV_GUARD_PTRACE:
		return RW_LSM_PTRACE;
	default:	/* exec deny/unhashed/env, env scan, credential changes */
		return RW_LSM_EXEC;
	}
}

/* Queue @msg (path = @json) on the channel; returns its seq, 0 when not sent. */
static unsigned long long send_msg(struct rw_forward *fw, struct rw_msg *msg, const char *json)
{
	size_t len = strlen(json);
	int rc;

	if (!fw->chan)
		return 0;
	if (len >= RW_PROTO_MAX_PATH)
		len = 0;	/* never happens: RW_EVENT_JSON_MAX is smaller */
	msg->hdr.type = RW_MSG_LSM_EVENT;
	msg->u.lsm.path = len ? json : NULL;
	msg->u.lsm.path_len = (uint16_t)len;
	rc = rw_chan_send(fw->chan, msg);
	if (rc == -ENOBUFS) {
		fw->queue_full++;	/* counted by rw_chan, reported to the host as LOSS */
		return msg->hdr.seq;
	}
	if (rc) {
		fw->failures++;
		return 0;
	}
	return msg->hdr.seq;
}

/* The CRED_CHANGE path of a credential-change record, 0 for an unknown source. */
static uint16_t cred_via_of(uint32_t source)
{
	switch (source) {
	case RW_CRED_SETID: return RW_VIA_TASK_FIX_SETUID;
	case RW_CRED_SETGID: return RW_VIA_TASK_FIX_SETGID;
	case RW_CRED_EXEC: return RW_VIA_EXEC;
	}
	return 0;
}

/*
 * A credential change goes to the host as CRED_CHANGE, the message the host
 * pairs with ringwatch.ko's report of the same commit (its cross-check).
 * Returns the seq, 0 when not sent.
 */
static unsigned long long send_cred_change(struct rw_forward *fw, const struct rw_bpf_event *ev)
{
	struct rw_msg msg;
	struct rw_msg_cred_change *c = &msg.u.cred_change;
	int rc;

	if (!fw->chan)
		return 0;
	memset(&msg, 0, sizeof(msg));
	msg.hdr.type = RW_MSG_CRED_CHANGE;
	c->pid = ev->pid;
	c->tgid = ev->tgid;
	memcpy(c->comm, ev->comm, sizeof(c->comm) - 1);
	c->via = cred_via_of(ev->arg[0]);
	c->flags = c->via == RW_VIA_EXEC ? RW_CRED_CHANGE_F_EXEC : 0;
	c->syscall_nr = -1;
	memcpy(c->old_ids, ev->cred.old_ids, sizeof(c->old_ids));
	memcpy(c->new_ids, ev->cred.new_ids, sizeof(c->new_ids));
	rc = rw_chan_send(fw->chan, &msg);
	if (rc == -ENOBUFS) {
		fw->queue_full++;	/* counted by rw_chan, reported to the host as LOSS */
		return msg.hdr.seq;
	}
	if (rc) {
		fw->failures++;
		return 0;
	}
	return msg.hdr.seq;
}

int rw_forward_event(struct rw_forward *fw, const struct rw_bpf_event *ev, const char *json)
{
	struct rw_msg msg;
	unsigned long long seq;
	bool has_sha = false;
	int rc;

	if (ev->kind == RW_EV_CRED_CHANGE && cred_via_of(ev->arg[0])) {
		seq = send_cred_change(fw, ev);
		rc = local_copy(fw, seq, json);
		fw->lines++;
		if (rc)
			fw->failures++;
		return rc;
	}
	memset(&msg, 0, sizeof(msg));
	msg.u.lsm.kind = lsm_kind_of(ev->kind);
	msg.u.lsm.verdict = ev->verdict < 0 && ev->verdict >= RW_LSM_VERDICT_MIN ? ev->verdict :
			    ev->verdict ? -EPERM : 0;
	msg.u.lsm.pid = ev->pid;
	msg.u.lsm.uid = ev->uid;
	memcpy(msg.u.lsm.comm, ev->comm, sizeof(msg.u.lsm.comm) - 1);
	for (size_t i = 0; i < sizeof(ev->sha256); i++)
		has_sha |= ev->sha256[i] != 0;
	if (has_sha) {
		msg.u.lsm.flags = RW_LSM_F_SHA256;
		memcpy(msg.u.lsm.sha256, ev->sha256, sizeof(msg.u.lsm.sha256));
	}
	seq = send_msg(fw, &msg, json);
	rc = local_copy(fw, seq, json);
	fw->lines++;
	if (rc)
		fw->failures++;
	return rc;
}

int rw_forward_report(struct rw_forward *fw, const char *json)
{
	struct rw_msg msg;
	unsigned long long seq;
	int rc;

	memset(&msg, 0, sizeof(msg));
	msg.u.lsm.kind = RW_LSM_BPF_PROG_LOAD;	/* about the guard itself */
	msg.u.lsm.pid = (uint32_t)getpid();
	msg.u.lsm.uid = (uint32_t)getuid();
	snprintf(msg.u.lsm.comm, sizeof(msg.u.lsm.comm), "ringwatch-agent");
	seq = send_msg(fw, &msg, json);
	rc = local_copy(fw, seq, json);
	fw->lines++;
	if (rc)
		fw->failures++;
	return rc;
}

int rw_forward_local(struct rw_forward *fw, const char *json)
{
	int rc = local_copy(fw, 0, json);

	fw->lines++;
	if (rc)
		fw->failures++;
	return rc;
}

void rw_forward_close(struct rw_forward *fw)
{
	if (fw->log_fd >= 0)
		close(fw->log_fd);
	fw->log_fd = -1;
}
