// SPDX-License-Identifier: GPL-2.0
/*
 * /sys/kernel/security/ringwatch/, root only:
 *   status   (r) parameters, shadow and report counters, key=value lines
 *   events   (r) the last reports, oldest first, one per line
 *   request  (w) "cpus" | "scan" | "describe" |
 *                "challenge <32 hex nonce> <hex va> <decimal len>"
 *   disarm   (w) the disarm token
 *   agent    (rw) ringwatch-agent's registration (agent.c)
 * "request" stands in for host requests (tests, debugging); the host's own
 * come over the channel (chan.c).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/kernel.h>
#include <linux/security.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "ringwatch.h"

#define RW_REQUEST_MAX	128

static struct dentry *rw_dir;
static struct dentry *rw_files[4];

struct dentry *rw_fs_dir(void)
{
	return rw_dir;
}

static int rw_status_show(struct seq_file *m, void *v)
{
	seq_printf(m, "armed=%d\n", rw_selfprot_armed());
	seq_printf(m, "enforce=%d\n", rw_param_enforce);
	seq_printf(m, "scan_interval_ms=%u\n", rw_param_scan_ms);
	seq_printf(m, "cpu_interval_ms=%u\n", rw_param_cpu_ms);
	rw_cred_show_status(m);
	rw_report_show_counters(m);
	rw_kchan_show_status(m);
	rw_agent_show_status(m);
	return 0;
}

static int rw_events_show(struct seq_file *m, void *v)
{
	rw_report_show_events(m);
	return 0;
}

static int rw_status_open(struct inode *inode, struct file *file)
{
	return single_open(file, rw_status_show, NULL);
}

static int rw_events_open(struct inode *inode, struct file *file)
{
	/* The ring can hold RW_REPORT_RING full lines. */
	return single_open_size(file, rw_events_show, NULL,
				RW_REPORT_RING * (RW_REPORT_LINE_MAX + 1));
}

/* Copy a short write into a NUL-terminated, trimmed kernel string. */
static char *rw_fetch_write(const char __user *ubuf, size_t count)
{
	char *buf;

	if (!capable(CAP_SYS_ADMIN))
		return ERR_PTR(-EPERM);
	if (!count || count > RW_REQUEST_MAX)
		return ERR_PTR(-EINVAL);
	buf = memdup_user_nul(ubuf, count);
	if (IS_ERR(buf))
		return buf;
	strim(buf);
	return buf;
}

static int rw_request_challenge(const char *args)
{
	char hex[2 * RW_NONCE_LEN + 1];
	u8 nonce[RW_NONCE_LEN];
	unsigned long long va, len;
	char extra;

	if (sscanf(args, "%32s %llx %llu %c", hex, &va, &len, &extra) != 3)
		return -EINVAL;
	if (strlen(hex) != 2 * RW_NONCE_LEN || hex2bin(nonce, hex, RW_NONCE_LEN))
		return -EINVAL;
	rw_challenge_answer(nonce, va, len, RW_CHAL_ALG_HMAC_SHA256, 0);
	return 0;	/* the outcome, error or digest, is in the report */
}

static int rw_request(const char *cmd)
{
	if (!strcmp(cmd, "cpus")) {
		rw_cpu_report_all(RW_CPUREP_REQUEST);
		return 0;
	}
	if (!strcmp(cmd, "scan")) {
		rw_cred_scan_all(true);
		return 0;
	}
	if (!strcmp(cmd, "describe")) {
		rw_selfprot_describe();
		return 0;
	}
	if (str_has_prefix(cmd, "challenge "))
		return rw_request_challenge(cmd + strlen("challenge "));
	return -EINVAL;
}

static ssize_t rw_request_write(struct file *file, const char __user *ubuf,
				size_t count, loff_t *ppos)
{
	char *cmd = rw_fetch_write(ubuf, count);
	int err;

	if (IS_ERR(cmd))
		return PTR_ERR(cmd);
	err = rw_request(cmd);
	kfree(cmd);
	return err ? err : count;
}

static ssize_t rw_disarm_write(struct file *file, const char __user *ubuf,
			       size_t count, loff_t *ppos)
{
	char *token = rw_fetch_write(ubuf, count);
	int err;

	if (IS_ERR(token))
		return PTR_ERR(token);
	err = rw_selfprot_disarm(token, strlen(token));
	kfree_sensitive(token);
	return err ? err : count;
}

static const struct file_operations rw_status_fops = {
	.owner = THIS_MODULE,
	.open = rw_status_open,
	.read = seq_read,
	.llseek = seq_lseek,
	.release = single_release,
};

static const struct file_operations rw_events_fops = {
	.owner = THIS_MODULE,
	.open = rw_events_open,
	.read = seq_read,
	.llseek = seq_lseek,
	.release = single_release,
};

static const struct file_operations rw_request_fops = {
	.owner = THIS_MODULE,
	.write = rw_request_write,
	.llseek = noop_llseek,
};

static const struct file_operations rw_disarm_fops = {
	.owner = THIS_MODULE,
	.write = rw_disarm_write,
	.llseek = noop_llseek,
};

void rw_fs_exit(void)
{
	int i;

	for (i = ARRAY_SIZE(rw_files) - 1; i >= 0; i--) {
		securityfs_remove(rw_files[i]);
		rw_files[i] = NULL;
	}
	securityfs_remove(rw_dir);
	rw_dir = NULL;
}

int rw_fs_init(void)
{
	static const struct {
		const char *name;
		umode_t mode;
		const struct file_operations *fops;
	} files[] = {
		{ "status", 0400, &rw_status_fops },
		{ "events", 0400, &rw_events_fops },
		{ "request", 0200, &rw_request_fops },
		{ "disarm", 0200, &rw_disarm_fops },
	};
	unsigned int i;

	BUILD_BUG_ON(ARRAY_SIZE(files) != ARRAY_SIZE(rw_files));
	rw_dir = securityfs_create_dir(KBUILD_MODNAME, NULL);
	if (IS_ERR(rw_dir)) {
		int err = PTR_ERR(rw_dir);

		rw_dir = NULL;
		return err;
	}
	for (i = 0; i < ARRAY_SIZE(files); i++) {
		struct dentry *d = securityfs_create_file(files[i].name, files[i].mode,
							  rw_dir, NULL, files[i].fops);

		if (IS_ERR(d)) {
			rw_fs_exit();
			return PTR_ERR(d);
		}
		rw_files[i] = d;
	}
	return 0;
}
