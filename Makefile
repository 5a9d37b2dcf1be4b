# ringwatch top-level Makefile.
#   make          build host binaries (build/rel/bin)
#   make kit      fetch + unpack the Debian guest kernel, build the initramfs
#   make test     everything: unit (ASan/UBSan), short fuzz runs, e2e in real guests
#   make demo     build what is missing, boot the demo guest, show its state
#   make fuzz     long fuzz runs (FUZZ_SECONDS per target)
#   make bench    benchmarks, printing ratios measured side by side
#   make lint     kernel coding style of guest/kmod (checkpatch.pl from linux-source)
# All outputs go to build/ (BUILD is not configurable: scripts rely on it).

TOP := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
BUILD := $(TOP)/build
KIT_FLAVOR ?= cloud-amd64
KIT := $(BUILD)/kit/$(KIT_FLAVOR)
# The generic kernel with USB storage, for the BPF mount-rule tests.
USB_KIT := $(BUILD)/kit/amd64
USB_KIT_MODULES := xhci_pci usb_storage sd_mod vfat nls_cp437 nls_iso8859_1 nls_utf8
FUZZ_SECONDS ?= 300
DEPS_STAMP := $(BUILD)/.deps-installed
SUBMAKE = $(MAKE) --no-print-directory -f $(TOP)/mk/build.mk

export KIT_FLAVOR

.PHONY: all deps build build-asan build-fuzz kit usb-kit payloads test unit-test e2e-test \
	fuzz-smoke fuzz bench demo lint checkpatch clean distclean

all: build

# Re-run the installer whenever it changes; it is cheap when nothing is missing.
$(DEPS_STAMP): $(TOP)/scripts/install-deps
	$(TOP)/scripts/install-deps
	@mkdir -p $(BUILD) && touch $@
deps: $(DEPS_STAMP)

build: $(DEPS_STAMP)
	+$(SUBMAKE) VARIANT=rel bins e2e bench
build-asan: $(DEPS_STAMP)
	+$(SUBMAKE) VARIANT=asan bins unit
build-fuzz: $(DEPS_STAMP)
	+$(SUBMAKE) VARIANT=fuzz fuzz

kit: build
	$(TOP)/scripts/mkkit $(KIT_FLAVOR) $(KIT)

usb-kit: build
	RW_KIT_EXTRA_MODULES="$(USB_KIT_MODULES)" $(TOP)/scripts/mkkit amd64 $(USB_KIT)

payloads: kit
	$(TOP)/scripts/build-payloads $(KIT) $(BUILD)/payloads
	$(TOP)/scripts/build-guest-bpf $(KIT) $(BUILD)/payloads

test: build build-asan build-fuzz kit usb-kit payloads checkpatch
	$(TOP)/tests/run-all

unit-test: build-asan
	RW_ONLY=unit $(TOP)/tests/run-all
e2e-test: build kit usb-kit payloads
	RW_ONLY=e2e $(TOP)/tests/run-all
fuzz-smoke: build-fuzz
	RW_ONLY=fuzz $(TOP)/tests/run-all

fuzz: build-fuzz
	$(TOP)/tests/fuzz/run $(FUZZ_SECONDS)

# checkpatch.pl comes from Debian's linux-source package (not in any kit package).
checkpatch: $(DEPS_STAMP)
	$(TOP)/scripts/fetch-checkpatch $(BUILD)/tools/checkpatch >/dev/null
lint: checkpatch
	$(TOP)/scripts/lint-kmod

bench: build kit payloads
	$(TOP)/tests/bench/run

demo: build kit payloads
	$(TOP)/scripts/demo

clean:
	rm -rf $(BUILD)/rel $(BUILD)/asan $(BUILD)/fuzz $(BUILD)/payloads
distclean:
	rm -rf $(BUILD)
