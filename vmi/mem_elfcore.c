/* ELF64 core files as memory sources: QEMU dump-guest-memory (ELF format) and
 * virsh dump --memory-only. Each PT_LOAD segment backs
 * [p_paddr, p_paddr + p_memsz); bytes beyond p_filesz read as zeros.
 *
 * The file is untrusted: header sizes, table bounds, segment file ranges and
 * guest-physical ranges are all checked, overlapping segments are rejected. */
#include "vmi/mem.h"

#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

struct elfcore_mem {
	struct vmi_mem base;
	void *map; /* whole file when opened from an fd, else NULL */
	size_t maplen;
};

static void elfcore_destroy(struct vmi_mem *m)
{
	struct elfcore_mem *em = (struct elfcore_mem *)m;
	if (em->map)
		munmap(em->map, em->maplen);
	free(m->regions);
	free(em);
}

static const struct vmi_mem_ops elfcore_ops = {
	.kind = "elfcore",
	.destroy = elfcore_destroy,
};

/* Number of program headers, resolving PN_XNUM (count in section 0 sh_info). */
static int elfcore_phnum(const uint8_t *b, size_t len, const Elf64_Ehdr *eh, uint64_t *phnum,
			 char *err, size_t errlen)
{
	if (eh->e_phnum != PN_XNUM) {
		*phnum = eh->e_phnum;
		return 0;
	}
	Elf64_Shdr sh0;
	if (eh->e_shoff == 0 || eh->e_shentsize != sizeof(Elf64_Shdr) ||
	    eh->e_shoff > len || len - eh->e_shoff < sizeof(Elf64_Shdr))
		return vmi_seterr(err, errlen, VMI_MEM_E_FORMAT,
				  "e_phnum is PN_XNUM but section header 0 is missing or bad");
	memcpy(&sh0, b + eh->e_shoff, sizeof(sh0));
	*phnum = sh0.sh_info;
	return 0;
}

static int elfcore_parse(const uint8_t *b, size_t len, struct vmi_mem_region **out_tab,
			 size_t *out_n, char *err, size_t errlen)
{
	Elf64_Ehdr eh;
	if (len < sizeof(eh))
		return vmi_seterr(err, errlen, VMI_MEM_E_FORMAT, "file too short (%zu bytes)",
				  len);
	memcpy(&eh, b, sizeof(eh));
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
		return vmi_seterr(err, errlen, VMI_MEM_E_FORMAT, "not an ELF file");
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh.e_ident[EI_VERSION] != EV_CURRENT)
		return vmi_seterr(err, errlen, VMI_MEM_E_FORMAT,
				  "not a little-endian ELF64 version-1 file");
	if (eh.e_type != ET_CORE)
		return vmi_seterr(err, errlen, VMI_MEM_E_FORMAT, "e_type %u is not ET_CORE",
				  eh.e_type);
	if (eh.e_machine != EM_X86_64)
		return vmi_seterr(err, errlen, VMI_MEM_E_FORMAT, "e_machine %u is not x86-64",
				  eh.e_machine);
	if (eh.e_ehsize < sizeof(eh))
		return vmi_seterr(err, errlen, VMI_MEM_E_FORMAT, "e_ehsize %u too small",
				  eh.e_ehsize);
	if (eh.e_phentsize != sizeof(Elf64_Phdr))
		return vmi_seterr(err, errlen, VMI_MEM_E_FORMAT, "e_phentsize %u != %zu",
				  eh.e_phentsize, sizeof(Elf64_Phdr));
	uint64_t phnum = 0;
	int rc = elfcore_phnum(b, len, &eh, &phnum, err, errlen);
	if (rc)
		return rc;
	if (phnum == 0)
		return vmi_seterr(err, errlen, VMI_MEM_E_FORMAT, "no program headers");
	/* phnum <= 2^32 and phentsize is 56: the product cannot overflow. */
	if (eh.e_phoff > len || (len - eh.e_phoff) / sizeof(Elf64_Phdr) < phnum)
		return vmi_seterr(err, errlen, VMI_MEM_E_FORMAT,
				  "program header table (%llu entries @0x%llx) beyond file end",
				  (unsigned long long)phnum, (unsigned long long)eh.e_phoff);

	size_t nload = 0;
	for (uint64_t i = 0; i < phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, b + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		if (ph.p_filesz > ph.p_memsz)
			return vmi_seterr(err, errlen, VMI_MEM_E_FORMAT,
					  "segment %llu: p_filesz > p_memsz",
					  (unsigned long long)i);
		if (ph.p_offset > len || len - ph.p_offset < ph.p_filesz)
			return vmi_seterr(err, errlen, VMI_MEM_E_FORMAT,
					  "segment %llu: file range 0x%llx+0x%llx beyond file end",
					  (unsigned long long)i, (unsigned long long)ph.p_offset,
					  (unsigned long long)ph.p_filesz);
		nload += (ph.p_filesz && ph.p_filesz < ph.p_memsz) ? 2 : 1;
		if (nload > VMI_MEM_MAX_REGIONS)
			return vmi_seterr(err, errlen, VMI_MEM_E_TOO_MANY,
					  "more than %u PT_LOAD regions", VMI_MEM_MAX_REGIONS);
	}
	if (nload == 0)
		return vmi_seterr(err, errlen, VMI_MEM_E_FORMAT, "no PT_LOAD segments");

	struct vmi_mem_region *tab = calloc(nload, sizeof(*tab));
	if (!tab)
		return vmi_seterr(err, errlen, VMI_MEM_E_NOMEM, "out of memory");
	size_t k = 0;
	for (uint64_t i = 0; i < phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, b + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		if (ph.p_filesz) {
			tab[k].gpa = ph.p_paddr;
			tab[k].size = ph.p_filesz;
			tab[k].host = b + ph.p_offset;
			k++;
		}
		if (ph.p_filesz < ph.p_memsz) {
			/* Zero-fill tail; overflow of p_paddr + p_filesz is caught as
			 * a wrapped (overlapping or overflowing) region below. */
			tab[k].gpa = ph.p_paddr + ph.p_filesz;
			tab[k].size = ph.p_memsz - ph.p_filesz;
			tab[k].host = NULL;
			if (tab[k].gpa < ph.p_paddr) {
				free(tab);
				return vmi_seterr(err, errlen, VMI_MEM_E_FORMAT,
						  "segment %llu: p_paddr + p_memsz overflows",
						  (unsigned long long)i);
			}
			k++;
		}
	}
	rc = vmi_mem_regions_check(tab, k, err, errlen);
	if (rc) {
		free(tab);
		return rc == VMI_MEM_E_LAYOUT ? VMI_MEM_E_FORMAT : rc;
	}
	*out_tab = tab;
	*out_n = k;
	return 0;
}

static int elfcore_open(const uint8_t *b, size_t len, void *map, struct vmi_mem **out,
			char *err, size_t errlen)
{
	struct vmi_mem_region *tab = NULL;
	size_t n = 0;
	int rc = elfcore_parse(b, len, &tab, &n, err, errlen);
	if (rc)
		return rc;
	struct elfcore_mem *em = calloc(1, sizeof(*em));
	if (!em) {
		free(tab);
		return vmi_seterr(err, errlen, VMI_MEM_E_NOMEM, "out of memory");
	}
	em->base.ops = &elfcore_ops;
	em->base.regions = tab;
	em->base.nregions = n;
	em->map = map;
	em->maplen = map ? len : 0;
	*out = &em->base;
	return 0;
}

int vmi_mem_open_elfcore_buf(const void *buf, size_t len, struct vmi_mem **out, char *err,
			     size_t errlen)
{
	if (!out || !buf)
		return vmi_seterr(err, errlen, VMI_MEM_E_ARG, "NULL argument");
	*out = NULL;
	return elfcore_open(buf, len, NULL, out, err, errlen);
}

int vmi_mem_open_elfcore_fd(int fd, struct vmi_mem **out, char *err, size_t errlen)
{
	if (!out || fd < 0)
		return vmi_seterr(err, errlen, VMI_MEM_E_ARG, "bad argument");
	*out = NULL;
	struct stat st;
	if (fstat(fd, &st) != 0)
		return vmi_seterr(err, errlen, VMI_MEM_E_SYS, "fstat: %s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return vmi_seterr(err, errlen, VMI_MEM_E_ARG, "ELF core is not a regular file");
	if (st.st_size < (off_t)sizeof(Elf64_Ehdr) || (uint64_t)st.st_size > SIZE_MAX)
		return vmi_seterr(err, errlen, VMI_MEM_E_FORMAT, "file size %lld unusable",
				  (long long)st.st_size);
	size_t len = (size_t)st.st_size;
	/* MAP_PRIVATE: a core file is a snapshot; later writes by others are not
	 * wanted, but a truncation would still SIGBUS (documented). */
	void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED)
		return vmi_seterr(err, errlen, VMI_MEM_E_SYS, "mmap: %s", strerror(errno));
	int rc = elfcore_open(map, len, map, out, err, errlen);
	if (rc)
		munmap(map, len);
	return rc;
}
