// SPDX-License-Identifier: GPL-2.0
/*
 * Build check for shared/rw_proto.c inside a kernel module: encodes a HELLO
 * and a HEARTBEAT and decodes them back at init. Only compiled by the test,
 * but loadable (it refuses to stay loaded: init returns the check result).
 */
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>
#include "shared/rw_proto.h"

static int __init rw_proto_kbuild_init(void)
{
	struct rw_msg *msg;
	u8 *buf;
	long n;
	int err = -ENOMEM;

	msg = kzalloc(sizeof(*msg), GFP_KERNEL);
	buf = kzalloc(RW_PROTO_HDR_LEN + 128, GFP_KERNEL);
	if (!msg || !buf)
		goto out;
	msg->hdr.type = RW_MSG_HEARTBEAT;
	msg->hdr.component = RW_COMP_KMOD;
	msg->hdr.seq = 1;
	msg->u.heartbeat.counter = 7;
	n = rw_proto_encode(msg, buf, RW_PROTO_HDR_LEN + 128);
	if (n < 0) {
		pr_err("rw_proto encode: %s\n", rw_proto_strerror((int)n));
		err = -EINVAL;
		goto out;
	}
	memset(msg, 0, sizeof(*msg));
	err = rw_proto_decode(buf, (size_t)n, msg);
	if (err || msg->u.heartbeat.counter != 7) {
		pr_err("rw_proto decode: %s\n", rw_proto_strerror(err));
		err = -EINVAL;
		goto out;
	}
	pr_info("rw_proto self-test passed\n");
	err = -EAGAIN; /* never stay loaded */
out:
	kfree(buf);
	kfree(msg);
	return err;
}

static void __exit rw_proto_kbuild_exit(void)
{
}

module_init(rw_proto_kbuild_init);
module_exit(rw_proto_kbuild_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("ringwatch: build check for the shared wire protocol code");
