# activator/vgtool/: the kvtrace Valgrind tool, built out of tree against
# Debian's valgrind package, linked as Valgrind's link_tool_exe_linux links
# its own tools (static, no libc, text at 0x58000000).  Not C11, not
# sanitized: it is built once into build/vgtool/ (the tool directory that
# `activator --valgrind` points VALGRIND_LIB at) for every variant.
VGTOOL_DIR := build/vgtool
VGTOOL := $(VGTOOL_DIR)/kvtrace-amd64-linux
VG_INC ?= /usr/include/valgrind
VG_LIBDIR ?= $(shell pkg-config --variable=libdir valgrind 2>/dev/null || \
	echo /usr/lib/x86_64-linux-gnu)/valgrind
VG_PRELOAD ?= $(firstword $(wildcard \
	/usr/libexec/valgrind/vgpreload_core-amd64-linux.so \
	$(VG_LIBDIR)/vgpreload_core-amd64-linux.so \
	/usr/local/libexec/valgrind/vgpreload_core-amd64-linux.so))
VGTOOL_CFLAGS := -O2 -g -Wall -Wextra -Wno-unused-parameter -Werror \
	-Wno-sign-compare -fno-strict-aliasing -fno-builtin \
	-fno-stack-protector -fno-pic -fno-pie \
	-DVGA_amd64=1 -DVGO_linux=1 -DVGP_amd64_linux=1 \
	-DVGPV_amd64_linux_vanilla=1 -I$(VG_INC) -Iformats/include \
	-Iactivator/vgtool
VGTOOL_LDFLAGS := -static -nodefaultlibs -nostartfiles -no-pie \
	-Wl,-Ttext-segment=0x58000000 -Wl,--build-id=none

$(VGTOOL_DIR)/kvtrace.o: activator/vgtool/kvtrace.c activator/vgtool/vgproto.h \
		formats/include/kvt/record.h
	@mkdir -p $(dir $@)
	$(CC) $(VGTOOL_CFLAGS) -c -o $@ $<

$(VGTOOL): $(VGTOOL_DIR)/kvtrace.o
	$(CC) $(VGTOOL_LDFLAGS) -o $@ $< \
		$(VG_LIBDIR)/libcoregrind-amd64-linux.a \
		$(VG_LIBDIR)/libvex-amd64-linux.a -lgcc \
		$(VG_LIBDIR)/libgcc-sup-amd64-linux.a
	@if [ -z "$(VG_PRELOAD)" ]; then \
	  echo "vgtool: vgpreload_core-amd64-linux.so not found (install valgrind)" >&2; \
	  exit 1; fi
	ln -sf $(VG_PRELOAD) $(VGTOOL_DIR)/vgpreload_core-amd64-linux.so

.PHONY: vgtool
vgtool: $(VGTOOL)

# The activator finds the tool directory by itself (see valgrind.c); the
# build tree's copy is compiled in as the last resort.
$(OBJ)/activator/valgrind.o: CPPFLAGS += \
	-DKVT_VGTOOL_BUILD_DIR='"$(abspath $(VGTOOL_DIR))"'
$(BIN)/activator: | $(VGTOOL)

# make install: the tool directory beside the installed programs.
.PHONY: install-vgtool
install: install-vgtool
install-vgtool: $(VGTOOL)
	install -d $(DESTDIR)$(PREFIX)/lib/kvmtrace/valgrind
	install -m 755 $(VGTOOL) $(DESTDIR)$(PREFIX)/lib/kvmtrace/valgrind/
	ln -sf $(VG_PRELOAD) \
		$(DESTDIR)$(PREFIX)/lib/kvmtrace/valgrind/vgpreload_core-amd64-linux.so
