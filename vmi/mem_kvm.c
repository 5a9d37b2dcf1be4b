/* A KVM VM held by this process: memslots (host userspace pointers) serve
 * guest-physical reads; vCPU fds give control registers and syscall MSRs via
 * KVM_GET_SREGS and KVM_GET_MSRS, tagged VMI_PROV_KVM_IOCTL. */
#include "vmi/mem.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmi/vcpu.h"

/* A VM has at most KVM_MAX_VCPUS (a few thousand); bound what we accept. */
#define VMI_KVM_MAX_VCPUS 4096

struct kvm_mem {
	struct vmi_mem base;
	int *vcpu_fds;
};

static void kvm_destroy(struct vmi_mem *m)
{
	struct kvm_mem *km = (struct kvm_mem *)m;
	free(km->vcpu_fds);
	free(m->regions);
	free(km);
}

static const uint32_t kvm_msr_list[] = {
	VMI_MSR_LSTAR,	      VMI_MSR_STAR,	    VMI_MSR_CSTAR,	  VMI_MSR_SFMASK,
	VMI_MSR_SYSENTER_CS, VMI_MSR_SYSENTER_ESP, VMI_MSR_SYSENTER_EIP, VMI_MSR_EFER,
};
#define KVM_NMSRS (sizeof(kvm_msr_list) / sizeof(kvm_msr_list[0]))

static struct vmi_val kvm_val(uint64_t v)
{
	return (struct vmi_val){ .v = v, .prov = VMI_PROV_KVM_IOCTL };
}

static int kvm_fill_vcpu(unsigned idx, const struct kvm_sregs *sr,
			 const struct kvm_msr_entry *ent, struct vmi_vcpu *out, char *err,
			 size_t errlen);

static int kvm_read_vcpu(struct vmi_mem *m, unsigned idx, struct vmi_vcpu *out, char *err,
			 size_t errlen)
{
	struct kvm_mem *km = (struct kvm_mem *)m;
	int fd = km->vcpu_fds[idx];
	struct kvm_sregs sr;
	memset(&sr, 0, sizeof(sr));
	if (ioctl(fd, KVM_GET_SREGS, &sr) != 0)
		return vmi_seterr(err, errlen, VMI_MEM_E_SYS, "vCPU %u: KVM_GET_SREGS: %s", idx,
				  strerror(errno));

	struct kvm_msrs *msrs = calloc(1, sizeof(*msrs) + KVM_NMSRS * sizeof(msrs->entries[0]));
	if (!msrs)
		return vmi_seterr(err, errlen, VMI_MEM_E_NOMEM, "out of memory");
	msrs->nmsrs = KVM_NMSRS;
	for (size_t i = 0; i < KVM_NMSRS; i++)
		msrs->entries[i].index = kvm_msr_list[i];
	int got = ioctl(fd, KVM_GET_MSRS, msrs);
	int rc = 0;
	if (got < 0)
		rc = vmi_seterr(err, errlen, VMI_MEM_E_SYS, "vCPU %u: KVM_GET_MSRS: %s", idx,
				strerror(errno));
	/* KVM stops at the first MSR it cannot read: got = entries filled. */
	else if ((size_t)got != KVM_NMSRS)
		rc = vmi_seterr(err, errlen, VMI_MEM_E_SYS,
				"vCPU %u: KVM_GET_MSRS read %d of %zu (MSR 0x%x refused)", idx,
				got, KVM_NMSRS, kvm_msr_list[got]);
	else
		rc = kvm_fill_vcpu(idx, &sr, msrs->entries, out, err, errlen);
	free(msrs);
	return rc;
}

static int kvm_fill_vcpu(unsigned idx, const struct kvm_sregs *sr,
			 const struct kvm_msr_entry *ent, struct vmi_vcpu *out, char *err,
			 size_t errlen)
{
	memset(out, 0, sizeof(*out));
	out->index = idx;
	out->cr0 = kvm_val(sr->cr0);
	out->cr2 = kvm_val(sr->cr2);
	out->cr3 = kvm_val(sr->cr3);
	out->cr4 = kvm_val(sr->cr4);
	out->efer = kvm_val(sr->efer);
	out->idtr_base = kvm_val(sr->idt.base);
	out->idtr_limit = kvm_val(sr->idt.limit);
	out->gdtr_base = kvm_val(sr->gdt.base);
	out->gdtr_limit = kvm_val(sr->gdt.limit);
	out->tr_sel = kvm_val(sr->tr.selector);
	out->tr_base = kvm_val(sr->tr.base);
	for (size_t i = 0; i < KVM_NMSRS; i++) {
		uint64_t v = ent[i].data;
		switch (ent[i].index) {
		case VMI_MSR_LSTAR: out->lstar = kvm_val(v); break;
		case VMI_MSR_STAR: out->star = kvm_val(v); break;
		case VMI_MSR_CSTAR: out->cstar = kvm_val(v); break;
		case VMI_MSR_SFMASK: out->sfmask = kvm_val(v); break;
		case VMI_MSR_SYSENTER_CS: out->sysenter_cs = kvm_val(v); break;
		case VMI_MSR_SYSENTER_ESP: out->sysenter_esp = kvm_val(v); break;
		case VMI_MSR_SYSENTER_EIP: out->sysenter_eip = kvm_val(v); break;
		case VMI_MSR_EFER:
			if (v != sr->efer)
				return vmi_seterr(err, errlen, VMI_MEM_E_SYS,
						  "vCPU %u: EFER from sregs 0x%llx != MSR 0x%llx",
						  idx, (unsigned long long)sr->efer,
						  (unsigned long long)v);
			break;
		default:
			return vmi_seterr(err, errlen, VMI_MEM_E_SYS,
					  "vCPU %u: KVM returned unexpected MSR 0x%x", idx,
					  ent[i].index);
		}
	}
	return 0;
}

static const struct vmi_mem_ops kvm_ops = {
	.kind = "kvm",
	.destroy = kvm_destroy,
	.read_vcpu = kvm_read_vcpu,
};

int vmi_mem_open_kvm(const struct vmi_kvm_slot *slots, size_t nslots, const int *vcpu_fds,
		     size_t nvcpus, struct vmi_mem **out, char *err, size_t errlen)
{
	if (!out || (!slots && nslots) || (!vcpu_fds && nvcpus))
		return vmi_seterr(err, errlen, VMI_MEM_E_ARG, "NULL argument");
	*out = NULL;
	if (nslots > VMI_MEM_MAX_REGIONS || nvcpus > VMI_KVM_MAX_VCPUS)
		return vmi_seterr(err, errlen, VMI_MEM_E_TOO_MANY, "%zu slots, %zu vCPUs", nslots,
				  nvcpus);
	for (size_t i = 0; i < nslots; i++)
		if (!slots[i].host)
			return vmi_seterr(err, errlen, VMI_MEM_E_ARG, "slot %zu has no host address",
					  i);
	for (size_t i = 0; i < nvcpus; i++)
		if (vcpu_fds[i] < 0)
			return vmi_seterr(err, errlen, VMI_MEM_E_ARG, "vCPU %zu: bad fd", i);

	struct kvm_mem *km = calloc(1, sizeof(*km));
	struct vmi_mem_region *tab = calloc(nslots ? nslots : 1, sizeof(*tab));
	int *fds = calloc(nvcpus ? nvcpus : 1, sizeof(*fds));
	if (!km || !tab || !fds) {
		free(km);
		free(tab);
		free(fds);
		return vmi_seterr(err, errlen, VMI_MEM_E_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < nslots; i++) {
		tab[i].gpa = slots[i].gpa;
		tab[i].size = slots[i].size;
		tab[i].host = slots[i].host;
	}
	int rc = vmi_mem_regions_check(tab, nslots, err, errlen);
	if (rc) {
		free(km);
		free(tab);
		free(fds);
		return rc;
	}
	if (nvcpus)
		memcpy(fds, vcpu_fds, nvcpus * sizeof(*fds));
	km->base.ops = &kvm_ops;
	km->base.regions = tab;
	km->base.nregions = nslots;
	km->base.nvcpus = (unsigned)nvcpus;
	km->vcpu_fds = fds;
	*out = &km->base;
	return 0;
}
