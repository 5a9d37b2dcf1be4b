// SPDX-License-Identifier: GPL-2.0
/*
 * Challenge: HMAC-SHA256, keyed with the host's 16-byte nonce, over a
 * guest-virtual range as this kernel sees it.  The host compares the answer
 * with the same hash over its own read of guest memory.
 *
 * Only kernel memory backed by RAM is read: the kernel image and direct map
 * (virt_addr_valid) or vmalloc/module pages with a valid page frame; each
 * chunk is read with copy_from_kernel_nofault, so an unmapped page ends the
 * request with -EFAULT instead of an oops.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <crypto/hash.h>
#include <linux/err.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <asm/pgtable.h>

#include "ringwatch.h"

#define RW_CHALLENGE_MAX_LEN	(64ULL << 20)

static struct crypto_shash *rw_hmac;
static DEFINE_MUTEX(rw_challenge_lock);	/* the key lives in the tfm */

static bool rw_page_is_ram(unsigned long addr)
{
	struct page *page;

	if (virt_addr_valid((void *)addr))
		return true;
	if (!is_vmalloc_addr((void *)addr) &&
	    !(addr >= MODULES_VADDR && addr < MODULES_END))
		return false;
	page = vmalloc_to_page((void *)addr);
	return page && pfn_valid(page_to_pfn(page));
}

static int rw_challenge_hash(struct shash_desc *desc, u8 *buf, u64 va, u64 len)
{
	u64 done = 0;
	int err;

	while (done < len) {
		unsigned long addr = va + done;
		size_t n = min_t(u64, len - done, PAGE_SIZE - offset_in_page(addr));

		if (!rw_page_is_ram(addr))
			return -EFAULT;
		if (copy_from_kernel_nofault(buf, (void *)addr, n))
			return -EFAULT;
		err = crypto_shash_update(desc, buf, n);
		if (err)
			return err;
		done += n;
		cond_resched();
	}
	return 0;
}

static int rw_challenge_compute(const u8 *nonce, u64 va, u64 len, u8 *digest)
{
	struct shash_desc *desc;
	u8 *buf;
	int err;

	if (!len)
		return -EINVAL;
	if (len > RW_CHALLENGE_MAX_LEN)
		return -E2BIG;
	if (va + len < va)
		return -EINVAL;
	if ((s64)va >= 0)	/* the lower half belongs to user space */
		return -EFAULT;

	buf = kmalloc(PAGE_SIZE, GFP_KERNEL);
	desc = kzalloc(sizeof(*desc) + crypto_shash_descsize(rw_hmac), GFP_KERNEL);
	if (!buf || !desc) {
		err = -ENOMEM;
		goto out;
	}
	desc->tfm = rw_hmac;
	mutex_lock(&rw_challenge_lock);
	err = crypto_shash_setkey(rw_hmac, nonce, RW_NONCE_LEN);
	if (!err)
		err = crypto_shash_init(desc);
	if (!err)
		err = rw_challenge_hash(desc, buf, va, len);
	if (!err)
		err = crypto_shash_final(desc, digest);
	mutex_unlock(&rw_challenge_lock);
out:
	kfree_sensitive(desc);
	kfree(buf);
	return err;
}

int rw_challenge_answer(const u8 nonce[RW_NONCE_LEN], u64 va, u64 len,
			u16 hash_alg, u64 host_seq)
{
	struct rw_challenge_answer a = {
		.va = va, .len = len, .hash_alg = hash_alg, .host_seq = host_seq,
	};

	memcpy(a.nonce, nonce, RW_NONCE_LEN);
	if (hash_alg != RW_CHAL_ALG_HMAC_SHA256)
		a.err = -EOPNOTSUPP;
	else
		a.err = rw_challenge_compute(nonce, va, len, a.digest);
	if (a.err)
		memset(a.digest, 0, sizeof(a.digest));
	rw_report_challenge(&a);
	return a.err;
}

int rw_challenge_init(void)
{
	rw_hmac = crypto_alloc_shash("hmac(sha256)", 0, 0);
	if (IS_ERR(rw_hmac)) {
		int err = PTR_ERR(rw_hmac);

		pr_err("hmac(sha256) unavailable: %d\n", err);
		rw_hmac = NULL;
		return err;
	}
	if (crypto_shash_digestsize(rw_hmac) != RW_DIGEST_LEN) {
		crypto_free_shash(rw_hmac);
		rw_hmac = NULL;
		return -EINVAL;
	}
	return 0;
}

void rw_challenge_exit(void)
{
	crypto_free_shash(rw_hmac);
}
