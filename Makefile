# kvmtrace - top-level Makefile (plain GNU make).
#
#   make            build every user-space program into bin/, libkvt into lib/
#   make check      install missing Debian packages, build, run every test
#   make bench      run the benchmarks (figures, not pass/fail)
#   make demo       install, build, trace a sample workload and merge it
#   make install    PREFIX=/usr/local (programs, libkvt, headers, kvt.pc)
#
# Each folder contributes a fragment (FOLDER/build.mk) that appends to:
#   PROGRAMS  programs to build (under $(BIN))
#   PLUGINS   consumer .so files to build (under $(PLUGINDIR))
#   CHECKS    phony targets run by "make check" (each records its results
#             through tests/lib/run-test)
#   BENCHES   phony targets run by "make bench"
#   DEMOS     phony targets run by "make demo"
#
# SAN=1 builds the same sources with AddressSanitizer and UBSan into
# build/san/ (make check runs its tests with those binaries).

SHELL := /bin/bash
CC ?= cc
ifeq ($(origin CC),default)
CC := cc
endif
PREFIX ?= /usr/local
SAN ?= 0

BUILDROOT ?= build
ifeq ($(SAN),1)
BUILD := $(BUILDROOT)/san
BIN := $(BUILD)/bin
OPTFLAGS := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all \
	    -fno-omit-frame-pointer
SANLDFLAGS := -fsanitize=address,undefined
else
BUILD := $(BUILDROOT)/rel
BIN ?= bin
OPTFLAGS := -O2 -g
SANLDFLAGS :=
endif
OBJ := $(BUILD)/obj
# Sanitizer binaries, for the check targets (which run with SAN=0).
SANBIN := build/san/bin
KVT_VERSION := 0.1.0
# The project's contract (spec and scenarios) lives beside the clone.
SHARED ?= $(abspath ../shared)
SCENARIO_DIRS := $(SHARED)/scenarios tests/scenarios
LIBDIR := $(BUILD)/lib
PLUGINDIR := $(BUILD)/plugins

PKGS := zlib libarchive libxxhash libzstd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lz -larchive -lxxhash -lzstd)

WARN := -Wall -Wextra -Werror
CPPFLAGS += -D_GNU_SOURCE -Iformats/include -Iconsumers/include
CFLAGS ?=
ALL_CFLAGS = -std=c11 $(WARN) $(OPTFLAGS) -fPIC -pthread $(PKG_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = -pthread $(SANLDFLAGS) $(LDFLAGS)

PROGRAMS :=
PLUGINS :=
CHECKS :=
BENCHES :=
DEMOS :=

.PHONY: all check check-build check-run bench demo deps install clean \
	check-summary
all:

# Keep objects that pattern chains build (no rebuild on every make).
.SECONDARY:

# Objects: $(OBJ)/dir/file.o from dir/file.c, with header dependencies.
$(OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

include formats/build.mk
-include merger/build.mk
-include consumers/build.mk
-include activator/build.mk
-include samples/build.mk
-include tests/build.mk
-include bench/build.mk
-include kpatch/build.mk

all: $(PROGRAMS) $(PLUGINS)

-include $(shell find $(OBJ) -name '*.d' 2>/dev/null)

deps:
	@bash scripts/setup-deps.sh

# make check: set-up, release build, sanitizer build, then every test.
check: deps
	@rm -rf build/test-results && mkdir -p build/test-results
	$(MAKE) --no-print-directory all
	$(MAKE) --no-print-directory SAN=1 all
	$(MAKE) --no-print-directory -k check-run; \
	  st=$$?; bash tests/lib/summary build/test-results; st2=$$?; \
	  [ $$st -eq 0 ] && [ $$st2 -eq 0 ]

check-run: $(CHECKS)

bench: deps
	$(MAKE) --no-print-directory all
	$(MAKE) --no-print-directory bench-run

bench-run: $(BENCHES)

demo: deps
	$(MAKE) --no-print-directory all
	$(MAKE) --no-print-directory demo-run

demo-run: $(DEMOS)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib \
		$(DESTDIR)$(PREFIX)/include/kvt \
		$(DESTDIR)$(PREFIX)/lib/pkgconfig \
		$(DESTDIR)$(PREFIX)/lib/kvmtrace/consumers
	install -m 755 $(PROGRAMS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(LIBKVT_A) $(DESTDIR)$(PREFIX)/lib/
	install -m 644 $(INSTALL_HEADERS) $(DESTDIR)$(PREFIX)/include/kvt/
	$(if $(PLUGINS),install -m 755 $(PLUGINS) $(DESTDIR)$(PREFIX)/lib/kvmtrace/consumers/)
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(KVT_VERSION)|g' \
		formats/kvt.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/kvt.pc

clean:
	rm -rf build bin
