# Kumo build. GNU make, pkg-config for every library.
#   make            build build/kumod, build/kumo-agent, build/kumo
#   make test       deps, build, format check, unit tests, fuzz smoke, e2e
#   make run        deps, build, start an all-in-one cloud on this machine
#   make fuzz       build and briefly run the libFuzzer harnesses
#   make SANITIZE=1 ASan + UBSan build (in build-san/)

CC      ?= cc
PKGS    := libmicrohttpd jansson sqlite3 libsodium inih uuid libcurl gnutls
SANITIZE ?=
ifeq ($(SANITIZE),1)
BUILD   ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD   ?= build
SANFLAGS :=
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow \
           -fstack-protector-strong -D_FORTIFY_SOURCE=2 -D_GNU_SOURCE \
           -Isrc $(PKG_CFLAGS) $(SANFLAGS) -MMD -MP
LDFLAGS += $(SANFLAGS)
LDLIBS  += $(PKG_LIBS) -lpthread -lm

COMMON_SRC := $(wildcard src/common/*.c)
KUMOD_SRC  := $(filter-out src/kumod/main.c,$(wildcard src/kumod/*.c))
AGENT_SRC  := $(filter-out src/agent/main.c,$(wildcard src/agent/*.c))
CLI_SRC    := $(filter-out src/cli/main.c,$(wildcard src/cli/*.c))

obj = $(patsubst src/%.c,$(BUILD)/obj/%.o,$(1))
COMMON_OBJ := $(call obj,$(COMMON_SRC))
KUMOD_OBJ  := $(call obj,$(KUMOD_SRC))
AGENT_OBJ  := $(call obj,$(AGENT_SRC))
CLI_OBJ    := $(call obj,$(CLI_SRC))

UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

BINS := $(BUILD)/kumod $(BUILD)/kumo-agent $(BUILD)/kumo

.PHONY: all deps test unit unit-bins e2e run fuzz fuzz-bins format format-check clean bench
all: $(BINS)

$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	@echo "  CC  $<"
	@$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/kumod: $(BUILD)/obj/kumod/main.o $(KUMOD_OBJ) $(COMMON_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/kumo-agent: $(BUILD)/obj/agent/main.o $(AGENT_OBJ) $(COMMON_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/kumo: $(BUILD)/obj/cli/main.o $(CLI_OBJ) $(COMMON_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Unit tests link the same objects as the daemons.
$(BUILD)/tests/test_%: tests/unit/test_%.c $(KUMOD_OBJ) $(AGENT_OBJ) $(CLI_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(KUMOD_OBJ) $(AGENT_OBJ) $(CLI_OBJ) $(COMMON_OBJ) $(LDLIBS) -lcmocka

deps:
	@bash scripts/deps.sh

unit-bins: $(UNIT_BIN)
unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(patsubst tests/fuzz/%.c,build-fuzz/%,$(FUZZ_SRC))
FUZZ_CFLAGS := -std=gnu11 -g -O1 -D_GNU_SOURCE -Isrc $(PKG_CFLAGS) -fsanitize=address,undefined
FUZZ_OBJ := $(patsubst src/%.c,build-fuzz/obj/%.o,$(COMMON_SRC) $(KUMOD_SRC))
.SECONDARY: $(FUZZ_OBJ)
build-fuzz/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<
build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJ)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) $(PKG_LIBS) -lpthread -lm
FUZZ_SECONDS ?= 10
fuzz-bins: $(FUZZ_BIN)
fuzz: $(FUZZ_BIN)
	@set -e; for f in $(FUZZ_BIN); do echo "== $$f ($(FUZZ_SECONDS)s)"; \
	  mkdir -p build-fuzz/corpus-$$(basename $$f); \
	  $$f -max_total_time=$(FUZZ_SECONDS) -max_len=4096 build-fuzz/corpus-$$(basename $$f) tests/fuzz/corpus/$$(basename $$f) 2>&1 | tail -2; done

e2e: all
	cd tests/e2e && KUMO_BUILD=$(abspath $(BUILD)) /usr/bin/python3 -m pytest -x -q $(PYTEST_ARGS) .

FORMAT_FILES = $(shell git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 2>/dev/null)
format:
	clang-format -i $(FORMAT_FILES)
format-check:
	@clang-format --dry-run --Werror $(FORMAT_FILES) && echo "format: ok"

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
test: deps
	$(MAKE) -j$(JOBS) all
	$(MAKE) format-check
	$(MAKE) -j$(JOBS) unit-bins
	$(MAKE) unit
	$(MAKE) -j$(JOBS) fuzz-bins
	$(MAKE) fuzz FUZZ_SECONDS=5
	$(MAKE) e2e

run: deps
	$(MAKE) -j$(JOBS) all
	@bash scripts/run.sh

bench: all
	@for b in bench/*.sh; do echo "== $$b"; bash $$b; done

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
