# alimtalk: `make demo` and `make test` do everything on a fresh Debian 12 machine,
# installing the missing Debian packages first (idempotent; run as root).
#
#   make demo    send a templated AlimTalk end to end through the embedded sandbox
#   make test    lint + every busted spec on Lua 5.4 and on LuaJIT
#   make check   the C core specs again under ASan+UBSan and under valgrind
#   make bench   the benchmarks under bench/ (each prints ratios to its own baseline)
#   make fuzz    every fuzz target (libFuzzer over the C core, Lua property fuzzers) for
#                FUZZ_SECONDS each (default 60); see docs/reliability.md
#   make embed   examples/embed/: a C program embedding Lua 5.4 that sends through alimtalk

SHELL := /bin/bash
LUA54     ?= lua5.4
LUAJIT    ?= luajit
BUILD     := build
CC        ?= gcc
CWARN     := -std=c99 -Wall -Wextra -Wpedantic -Werror
COPT      ?= -O2 -g
SRCS      := $(wildcard src/*.c)
HDRS      := $(wildcard src/*.h)
CORE54    := $(BUILD)/lua5.4/alimtalk/core.so
COREJIT   := $(BUILD)/luajit/alimtalk/core.so
EMBED     := $(BUILD)/embed/alimtalk-embed
LIBS      := -lcurl -lcrypto -lhiredis

# Packages needed to build and run the library (make demo) and to test it (make test).
DEPS_RUN  := gcc make pkg-config lua5.4 liblua5.4-dev luajit2 libluajit2-5.1-dev lua-cjson \
             libcurl4-openssl-dev libssl-dev openssl ca-certificates lua-penlight lua-lpeg tzdata \
             libhiredis-dev
DEPS_TEST := $(DEPS_RUN) lua-busted lua-check nginx libnginx-mod-http-lua lua-resty-core \
             lua-resty-lrucache lua-luaossl valgrind wrk luarocks util-linux iproute2 \
             redis-server redis-tools lua-nginx-redis clang libclang-rt-14-dev

export LUA_PATH := $(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;;

FUZZ_SECONDS ?= 60

.PHONY: all deps deps-test build demo test lint specs check bench fuzz node-deps clean embed
all: build

define apt_ensure
	@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

deps:
	$(call apt_ensure,$(DEPS_RUN))

deps-test:
	$(call apt_ensure,$(DEPS_TEST))
	@# Node is optional (interoperability specs skip without it); a machine whose Node did not
	@# come from Debian already has npm, so only ask apt when both are missing.
	@command -v node >/dev/null || command -v npm >/dev/null || \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm || \
	  echo "nodejs/npm not installed: the Node interoperability specs will be skipped"

build: $(CORE54) $(COREJIT)

$(CORE54): $(SRCS) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CWARN) $(COPT) -fPIC -shared -fvisibility=hidden -I/usr/include/lua5.4 -o $@ $(SRCS) $(LIBS)

$(COREJIT): $(SRCS) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CWARN) $(COPT) -fPIC -shared -fvisibility=hidden -I/usr/include/luajit-2.1 -o $@ $(SRCS) $(LIBS)

# The embedding example (examples/embed/host.c): finds the checkout's lua/ and build/lua5.4/
# through ALIMTALK_ROOT, set at build time to this checkout (the environment may override it).
embed: $(EMBED) $(CORE54)

$(EMBED): examples/embed/host.c
	@mkdir -p $(dir $@)
	$(CC) $(CWARN) $(COPT) -I/usr/include/lua5.4 -DALIMTALK_ROOT='"$(CURDIR)"' -o $@ $< -llua5.4 -lm

demo: deps build
	LUA_CPATH="$(CURDIR)/$(BUILD)/lua5.4/?.so;;" $(LUA54) examples/demo.lua

# Node peers (an SDK no one here wrote) for the interoperability specs; skipped without Node.
node-deps:
	@if command -v node >/dev/null && command -v npm >/dev/null; then \
	  cd spec/node && { [ -d node_modules/@sinch/conversation ] || npm install --no-audit --no-fund --silent; } \
	  || echo "npm install failed: the Node interoperability specs will be skipped"; \
	fi

lint:
	luacheck -q lua spec bin examples bench

specs:
	tools/run-specs $(LUA54) $(LUAJIT)

test: deps-test build embed node-deps lint specs

check: deps-test
	LIBS="$(LIBS)" tools/check-c

bench: deps-test build node-deps
	tools/run-bench

fuzz: deps-test build
	FUZZ_SECONDS=$(FUZZ_SECONDS) LIBS="$(LIBS)" tools/run-fuzz

clean:
	rm -rf $(BUILD)
