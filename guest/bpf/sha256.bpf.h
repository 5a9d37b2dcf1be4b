/* SPDX-License-Identifier: GPL-2.0 */
/*
 * SHA-256 (FIPS 180-4) of a kernel buffer, inside a BPF program.
 *
 * Used for module images, which the kernel hands to the post-read/post-load
 * LSM hooks as a buffer (no file to give to bpf_ima_file_hash for
 * init_module).  Full blocks are processed by bpf_loop, one 64-byte block
 * per callback, so the cost is linear and the verifier sees one block.
 * Working state lives in a hash map keyed by thread id: the hooks that use
 * it are not sleepable, but a per-CPU buffer could still be shared with a
 * preempted thread on a fully preemptible kernel.
 */
#ifndef RW_GUEST_BPF_SHA256_BPF_H
#define RW_GUEST_BPF_SHA256_BPF_H

#define RW_SHA256_MAX_INPUT (256ull << 20)	/* 256 MiB; bpf_loop caps at 8M blocks */

struct rw_sha256_state {
	__u32 h[8];
	__u32 w[64];
	__u8 blk[128];			/* current block; two for the final padding */
	__u64 buf;			/* input address */
	__u32 failed;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u64);		/* pid_tgid of the hashing thread */
	__type(value, struct rw_sha256_state);
} rw_sha_work SEC(".maps");

/* Zero template for new work entries (never written). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rw_sha256_state);
} rw_sha_zero SEC(".maps");

static const __u32 rw_sha256_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
	0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
	0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
	0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
	0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
	0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
	0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
	0xc67178f2,
};

static __always_inline __u32 rw_ror32(__u32 x, int n)
{
	return (x >> n) | (x << (32 - n));
}

/* Compress the block at s->blk + (second ? 64 : 0) into s->h. */
static __noinline int rw_sha256_compress(struct rw_sha256_state *s, int second)
{
	__u32 a, b, c, d, e, f, g, h, t1, t2;
	__u8 *p;
	int i;

	if (!s)
		return 0;
	p = second ? s->blk + 64 : s->blk;
#pragma unroll
	for (i = 0; i < 16; i++)
		s->w[i] = ((__u32)p[4 * i] << 24) | ((__u32)p[4 * i + 1] << 16) |
			  ((__u32)p[4 * i + 2] << 8) | (__u32)p[4 * i + 3];
#pragma unroll
	for (i = 16; i < 64; i++) {
		__u32 w15 = s->w[i - 15], w2 = s->w[i - 2];
		__u32 s0 = rw_ror32(w15, 7) ^ rw_ror32(w15, 18) ^ (w15 >> 3);
		__u32 s1 = rw_ror32(w2, 17) ^ rw_ror32(w2, 19) ^ (w2 >> 10);

		s->w[i] = s->w[i - 16] + s0 + s->w[i - 7] + s1;
	}
	a = s->h[0]; b = s->h[1]; c = s->h[2]; d = s->h[3];
	e = s->h[4]; f = s->h[5]; g = s->h[6]; h = s->h[7];
#pragma unroll
	for (i = 0; i < 64; i++) {
		t1 = h + (rw_ror32(e, 6) ^ rw_ror32(e, 11) ^ rw_ror32(e, 25)) +
		     ((e & f) ^ (~e & g)) + rw_sha256_k[i] + s->w[i];
		t2 = (rw_ror32(a, 2) ^ rw_ror32(a, 13) ^ rw_ror32(a, 22)) +
		     ((a & b) ^ (a & c) ^ (b & c));
		h = g; g = f; f = e; e = d + t1;
		d = c; c = b; b = a; a = t1 + t2;
	}
	s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d;
	s->h[4] += e; s->h[5] += f; s->h[6] += g; s->h[7] += h;
	return 0;
}

static long rw_sha256_block_cb(__u64 index, void *ctx)
{
	__u64 key = bpf_get_current_pid_tgid();
	struct rw_sha256_state *s = bpf_map_lookup_elem(&rw_sha_work, &key);

	(void)ctx;
	if (!s)
		return 1;
	if (bpf_probe_read_kernel(s->blk, 64, (const void *)(s->buf + index * 64))) {
		s->failed = 1;
		return 1;
	}
	rw_sha256_compress(s, 0);
	return 0;
}

/* SHA-256 of @size bytes at kernel address @buf into @out; 0 or -1. */
static __noinline int rw_sha256_kernel(const void *buf, __u64 size, __u8 out[32])
{
	__u64 key = bpf_get_current_pid_tgid(), bits = size * 8;
	__u32 zero = 0, nblocks, rem;
	struct rw_sha256_state *tmpl, *s;
	int i, ret = -1;

	if (size > RW_SHA256_MAX_INPUT)
		return -1;
	tmpl = bpf_map_lookup_elem(&rw_sha_zero, &zero);
	if (!tmpl || bpf_map_update_elem(&rw_sha_work, &key, tmpl, BPF_ANY))
		return -1;
	s = bpf_map_lookup_elem(&rw_sha_work, &key);
	if (!s)
		goto out;
	s->h[0] = 0x6a09e667; s->h[1] = 0xbb67ae85; s->h[2] = 0x3c6ef372; s->h[3] = 0xa54ff53a;
	s->h[4] = 0x510e527f; s->h[5] = 0x9b05688c; s->h[6] = 0x1f83d9ab; s->h[7] = 0x5be0cd19;
	s->buf = (__u64)buf;
	nblocks = (__u32)(size / 64);
	rem = (__u32)(size % 64);
	if (bpf_loop(nblocks, rw_sha256_block_cb, NULL, 0) != (long)nblocks || s->failed)
		goto out;
	/* Final block(s): the remaining bytes, 0x80, zeros, the bit length. */
#pragma unroll
	for (i = 0; i < 128; i++)
		s->blk[i] = 0;
	rem &= 63;
	if (rem && bpf_probe_read_kernel(s->blk, rem, (const void *)(s->buf + (__u64)nblocks * 64)))
		goto out;
	s->blk[rem] = 0x80;
	if (rem < 56) {
#pragma unroll
		for (i = 0; i < 8; i++)
			s->blk[63 - i] = (__u8)(bits >> (8 * i));
		rw_sha256_compress(s, 0);
	} else {
#pragma unroll
		for (i = 0; i < 8; i++)
			s->blk[127 - i] = (__u8)(bits >> (8 * i));
		rw_sha256_compress(s, 0);
		rw_sha256_compress(s, 1);
	}
#pragma unroll
	for (i = 0; i < 8; i++) {
		out[4 * i] = (__u8)(s->h[i] >> 24);
		out[4 * i + 1] = (__u8)(s->h[i] >> 16);
		out[4 * i + 2] = (__u8)(s->h[i] >> 8);
		out[4 * i + 3] = (__u8)s->h[i];
	}
	ret = 0;
out:
	bpf_map_delete_elem(&rw_sha_work, &key);
	return ret;
}

#endif
