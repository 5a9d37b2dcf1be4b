# Userspace build of ringwatch, one variant per invocation.
#   rel   - gcc -O2, what ships and what e2e tests drive
#   asan  - clang, AddressSanitizer + UndefinedBehaviorSanitizer, for unit tests
#   fuzz  - clang, libFuzzer + ASan + UBSan, for tests/fuzz/fuzz_*.c
# Sources are found by directory, so adding a file needs no edit here:
#   shared/*.c vmi/*.c host/*.c  -> libringwatch.a (host/ mains excluded)
#   tests/lib/*.c                -> libringwatch-test.a
#   tests/unit/test_*.c          -> one cmocka program each
#   tests/e2e/e2e_*.c            -> one e2e program each
#   tests/fuzz/fuzz_*.c          -> one libFuzzer target each (fuzz variant)
#   tests/bench/bench_*.c        -> one benchmark program each

TOP := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)
VARIANT ?= rel
O := $(TOP)/build/$(VARIANT)

ifeq ($(VARIANT),rel)
CC := gcc
OPT := -O2 -g
SAN :=
else ifeq ($(VARIANT),asan)
CC := clang
OPT := -O1 -g -fno-omit-frame-pointer
SAN := -fsanitize=address,undefined -fno-sanitize-recover=all
else ifeq ($(VARIANT),fuzz)
CC := clang
OPT := -O1 -g -fno-omit-frame-pointer -DRW_FUZZING=1
SAN := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
else
$(error unknown VARIANT '$(VARIANT)': use rel, asan or fuzz)
endif

PKGS := libelf libbpf jansson sqlite3 zlib liblzma liblz4 libzstd libxxhash cmocka
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow \
	-Wno-missing-field-initializers $(OPT) $(SAN) -I$(TOP) $(PKG_CFLAGS) -MMD -MP
LDFLAGS := $(SAN)
LDLIBS := $(PKG_LIBS) -lbz2 -lcrypto -lpthread -lm

HOST_MAINS := host/ringwatchd.c host/ringwatch.c host/ringwatch-vsockd.c
LIB_SRCS := $(wildcard $(TOP)/shared/*.c) $(wildcard $(TOP)/vmi/*.c) \
	$(filter-out $(addprefix $(TOP)/,$(HOST_MAINS)),$(wildcard $(TOP)/host/*.c))
TLIB_SRCS := $(wildcard $(TOP)/tests/lib/*.c)
UNIT_SRCS := $(wildcard $(TOP)/tests/unit/test_*.c)
E2E_SRCS := $(wildcard $(TOP)/tests/e2e/e2e_*.c)
FUZZ_SRCS := $(wildcard $(TOP)/tests/fuzz/fuzz_*.c)
BENCH_SRCS := $(wildcard $(TOP)/tests/bench/bench_*.c)

obj = $(patsubst $(TOP)/%.c,$(O)/obj/%.o,$(1))
LIB := $(O)/lib/libringwatch.a
TLIB := $(O)/lib/libringwatch-test.a
BINS := $(patsubst $(TOP)/host/%.c,$(O)/bin/%,$(wildcard $(addprefix $(TOP)/,$(HOST_MAINS))))
UNIT_BINS := $(patsubst $(TOP)/tests/unit/%.c,$(O)/tests/unit/%,$(UNIT_SRCS))
E2E_BINS := $(patsubst $(TOP)/tests/e2e/%.c,$(O)/tests/e2e/%,$(E2E_SRCS))
FUZZ_BINS := $(patsubst $(TOP)/tests/fuzz/%.c,$(O)/tests/fuzz/%,$(FUZZ_SRCS))
BENCH_BINS := $(patsubst $(TOP)/tests/bench/%.c,$(O)/tests/bench/%,$(BENCH_SRCS))

.PHONY: all bins unit e2e fuzz bench
all: bins
bins: $(BINS)
unit: $(UNIT_BINS)
e2e: $(E2E_BINS)
fuzz: $(FUZZ_BINS)
bench: $(BENCH_BINS)

$(O)/obj/%.o: $(TOP)/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(LIB): $(call obj,$(LIB_SRCS))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(TLIB): $(call obj,$(TLIB_SRCS))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(O)/bin/%: $(O)/obj/host/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(O)/tests/unit/%: $(O)/obj/tests/unit/%.o $(TLIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(O)/tests/e2e/%: $(O)/obj/tests/e2e/%.o $(TLIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(O)/tests/bench/%: $(O)/obj/tests/bench/%.o $(TLIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(O)/tests/fuzz/%: $(O)/obj/tests/fuzz/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

-include $(shell find $(O)/obj -name '*.d' 2>/dev/null)
