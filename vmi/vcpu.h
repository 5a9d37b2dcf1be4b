/* Per-vCPU control state that ringwatch checks, each value tagged with where it
 * came from. A value with provenance NONE was not obtained and must not be used.
 *
 * Sources:
 *   QMP_INFO_REGISTERS  QEMU HMP "info registers -a" text (vmi/regs_hmp.c):
 *                       CRs, EFER, GDT/IDT, TR; never the syscall MSRs.
 *   KVM_IOCTL           KVM_GET_SREGS / KVM_GET_MSRS on a vCPU fd we hold
 *                       (vmi/mem_kvm.c): everything.
 *   GUEST_REPORT        the guest module's rdmsr report: only trusted while the
 *                       reporting code is verified intact (decided above vmi/).
 */
#ifndef RW_VMI_VCPU_H
#define RW_VMI_VCPU_H

#include <stddef.h>
#include <stdint.h>

enum vmi_prov {
	VMI_PROV_NONE = 0,
	VMI_PROV_QMP_INFO_REGISTERS,
	VMI_PROV_KVM_IOCTL,
	VMI_PROV_GUEST_REPORT,
};

struct vmi_val {
	uint64_t v;
	enum vmi_prov prov;
};

struct vmi_vcpu {
	unsigned index; /* vCPU number (CPU#N in HMP, position in the fd list for KVM) */
	struct vmi_val cr0, cr2, cr3, cr4, efer;
	struct vmi_val idtr_base, idtr_limit;
	struct vmi_val gdtr_base, gdtr_limit;
	struct vmi_val tr_sel, tr_base;
	/* MSRs */
	struct vmi_val lstar, star, cstar, sfmask;
	struct vmi_val sysenter_cs, sysenter_esp, sysenter_eip;
};

/* MSR numbers (Intel SDM vol. 4). */
#define VMI_MSR_SYSENTER_CS 0x174u
#define VMI_MSR_SYSENTER_ESP 0x175u
#define VMI_MSR_SYSENTER_EIP 0x176u
#define VMI_MSR_EFER 0xc0000080u
#define VMI_MSR_STAR 0xc0000081u
#define VMI_MSR_LSTAR 0xc0000082u
#define VMI_MSR_CSTAR 0xc0000083u
#define VMI_MSR_SFMASK 0xc0000084u

const char *vmi_prov_name(enum vmi_prov p);

/* --- HMP "info registers -a" text (vmi/regs_hmp.c) --------------------------- */

enum vmi_regs_err {
	VMI_REGS_OK = 0,
	VMI_REGS_E_ARG = -1,       /* NULL pointer */
	VMI_REGS_E_SYNTAX = -2,    /* malformed value / line */
	VMI_REGS_E_NO_CPU = -3,    /* no "CPU#N" section at all */
	VMI_REGS_E_DUP_CPU = -4,   /* the same CPU number twice */
	VMI_REGS_E_DUP_FIELD = -5, /* a field twice in one CPU section */
	VMI_REGS_E_MISSING = -6,   /* a CPU section lacks a required field */
	VMI_REGS_E_TOO_MANY = -7,  /* more CPU sections than the output array */
	VMI_REGS_E_TOO_LONG = -8,  /* input or a line over the limit */
};

/* Max accepted input (bytes) and line length. */
#define VMI_REGS_MAX_TEXT (16u << 20)
#define VMI_REGS_MAX_LINE 4096u

/* Parse the text into out[0..*n). Each section starting with "CPU#N" must
 * carry CR0, CR2, CR3, CR4, EFER, GDT, IDT and TR (what qemu-system-x86_64
 * prints in every mode); their values get provenance QMP_INFO_REGISTERS, the
 * MSR fields stay NONE. Output is in text order; index = N. */
int vmi_regs_hmp_parse(const char *text, size_t len, struct vmi_vcpu *out, size_t max,
		       size_t *n, char *err, size_t errlen);

const char *vmi_regs_strerror(int code);

#endif
