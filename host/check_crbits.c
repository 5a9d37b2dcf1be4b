// SPDX-License-Identifier: GPL-2.0
/*
 * cr-bits: the protection bits a running kernel never clears stay set on
 * every vCPU: CR0.WP, CR4.SMEP, CR4.SMAP, CR4.UMIP, EFER.NXE.
 *
 * The baseline of a vCPU is the set of these bits seen set since it entered
 * long mode (bits the CPU model lacks are never in it).  A bit in the
 * baseline that is now clear is an alert.  A vCPU out of long mode (reset,
 * reboot, not yet started) drops its baseline: it is re-learnt on the way up.
 * Source: QEMU "info registers -a" through QMP (vmi/regs_hmp.c parses it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/check.h"
#include "vmi/qmp.h"
#include "vmi/vcpu.h"

#define CRBITS_MAX_CPUS 512u

#define CR0_WP (1ull << 16)
#define CR0_PG (1ull << 31)
#define CR4_UMIP (1ull << 11)
#define CR4_SMEP (1ull << 20)
#define CR4_SMAP (1ull << 21)
#define EFER_LMA (1ull << 10)
#define EFER_NXE (1ull << 11)

struct watched_bit {
	const char *reg;
	const char *bit;
	unsigned int which;	/* 0 CR0, 1 CR4, 2 EFER */
	uint64_t mask;
};

static const struct watched_bit watched[] = {
	{ "CR0", "WP", 0, CR0_WP },
	{ "CR4", "SMEP", 1, CR4_SMEP },
	{ "CR4", "SMAP", 1, CR4_SMAP },
	{ "CR4", "UMIP", 1, CR4_UMIP },
	{ "EFER", "NXE", 2, EFER_NXE },
};
#define NWATCHED (sizeof(watched) / sizeof(watched[0]))

struct crbits_state {
	uint8_t have[CRBITS_MAX_CPUS];		/* baseline: watched[] bits seen set (bitmask) */
	bool in_long_mode[CRBITS_MAX_CPUS];
};

static uint64_t reg_value(const struct vmi_vcpu *c, unsigned int which)
{
	return which == 0 ? c->cr0.v : which == 1 ? c->cr4.v : c->efer.v;
}

static uint8_t bits_set(const struct vmi_vcpu *c)
{
	uint8_t set = 0;

	for (unsigned int i = 0; i < NWATCHED; i++)
		if (reg_value(c, watched[i].which) & watched[i].mask)
			set |= (uint8_t)(1u << i);
	return set;
}

static void report_lost(struct rw_check_result *res, const struct vmi_vcpu *c, uint8_t lost)
{
	for (unsigned int i = 0; i < NWATCHED; i++) {
		char val[24];

		if (!(lost & (1u << i)))
			continue;
		snprintf(val, sizeof(val), "0x%llx",
			 (unsigned long long)reg_value(c, watched[i].which));
		rw_check_add_finding(res, json_pack("{s:i,s:s,s:s,s:s}", "cpu", (int)c->index,
						    "register", watched[i].reg, "bit",
						    watched[i].bit, "value", val));
	}
}

/* Compare one vCPU with its baseline; returns the lost bits. */
static uint8_t judge_cpu(struct crbits_state *st, const struct vmi_vcpu *c, bool *booting)
{
	unsigned int i = c->index;
	uint8_t now, lost;

	if (!(c->cr0.v & CR0_PG) || !(c->efer.v & EFER_LMA)) {
		st->have[i] = 0;	/* reset or not up yet: re-learn */
		st->in_long_mode[i] = false;
		*booting = true;
		return 0;
	}
	now = bits_set(c);
	lost = (uint8_t)(st->have[i] & ~now);
	st->have[i] |= now;
	st->in_long_mode[i] = true;
	return lost;
}

static int parse_vcpus(struct rw_check_ctx *ctx, struct vmi_vcpu *cpus, size_t *n,
		       struct rw_check_result *res)
{
	char err[256];
	struct rw_qmp *qmp = rw_check_qmp(ctx, err, sizeof(err));
	char *text;
	int rc;

	if (!qmp) {
		rw_check_set(res, RW_RESULT_ERROR, "qmp", "QMP not answering: %s", err);
		return -1;
	}
	text = rw_qmp_hmp(qmp, "info registers -a", ctx->qmp_timeout_ms, err, sizeof(err));
	if (!text) {
		rw_check_set(res, RW_RESULT_ERROR, "qmp", "info registers: %s", err);
		return -1;
	}
	rc = vmi_regs_hmp_parse(text, strlen(text), cpus, CRBITS_MAX_CPUS, n, err, sizeof(err));
	free(text);
	if (rc) {
		rw_check_set(res, RW_RESULT_ERROR, "qmp", "info registers: %s (%s)",
			     vmi_regs_strerror(rc), err);
		return -1;
	}
	return 0;
}

static int crbits_run(struct rw_check_ctx *ctx, struct rw_check_result *res)
{
	struct crbits_state *st = ctx->state;
	struct vmi_vcpu *cpus;
	size_t n = 0, lost_cpus = 0;
	bool booting = false;

	if (!st && !(st = ctx->state = calloc(1, sizeof(*st)))) {
		rw_check_set(res, RW_RESULT_ERROR, "qmp", "out of memory");
		return 0;
	}
	cpus = calloc(CRBITS_MAX_CPUS, sizeof(*cpus));
	if (!cpus) {
		rw_check_set(res, RW_RESULT_ERROR, "qmp", "out of memory");
		return 0;
	}
	if (parse_vcpus(ctx, cpus, &n, res) == 0) {
		for (size_t i = 0; i < n; i++) {
			uint8_t lost;

			if (cpus[i].index >= CRBITS_MAX_CPUS) {
				/* The parser bounds the count, not the numbers. */
				rw_check_set(res, RW_RESULT_ERROR, "qmp",
					     "CPU#%u beyond the %u vCPUs this check tracks",
					     cpus[i].index, CRBITS_MAX_CPUS);
				free(cpus);
				return 0;
			}
			lost = judge_cpu(st, &cpus[i], &booting);
			if (lost) {
				lost_cpus++;
				report_lost(res, &cpus[i], lost);
			}
		}
		if (lost_cpus)
			rw_check_set(res, RW_RESULT_ALERT, "qmp",
				     "protection bit cleared on %zu of %zu vCPUs", lost_cpus, n);
		else if (booting || n == 0)
			rw_check_set(res, RW_RESULT_UNKNOWN, "qmp",
				     "vCPU out of long mode (booting or reset): baseline re-learnt");
		else
			rw_check_set(res, RW_RESULT_OK, "qmp",
				     "%zu vCPUs: baseline protection bits set", n);
	}
	free(cpus);
	return 0;
}

const struct rw_check_ops rw_check_cr_bits = {
	.name = "cr-bits",
	.description = "CR0.WP, CR4.SMEP/SMAP/UMIP and EFER.NXE stay set once seen set",
	.run = crbits_run,
	.free_state = free,
};
