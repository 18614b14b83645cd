# kpatch/: the Linux 6.1 patch series (CONFIG_KVMTRACE), the test-bed kernel
# and `make kernel-check` (boots it under QEMU and traces the sample
# workload).  See kpatch/README.md.
KBED := build/kernel/bed
KSTATIC := build/kernel/static
KCHECK_PAGES ?= 64
# Static programs for the initramfs (release objects, static archives).
KSTATIC_LIBS := $(LIBKVT_A) -lzstd -lz -lxxhash -lm

.PHONY: kernel-image kernel-check kernel-checkpatch kernel-initramfs

kernel-image:
	bash kpatch/build-kernel.sh $(KBED)

$(KSTATIC)/activator: $(ACTIVATOR_OBJS) $(LIBKVT_A)
	@mkdir -p $(dir $@)
	$(CC) -static -pthread -o $@ $(ACTIVATOR_OBJS) $(KSTATIC_LIBS)

$(KSTATIC)/kvt-sample-workload: samples/workload/workload.c
	@mkdir -p $(dir $@)
	$(CC) -static -O2 -pthread -D_GNU_SOURCE -o $@ $<

$(KSTATIC)/kvt-syscall-bench: bench/kernel/syscalls.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(WARN) -static -O2 -D_GNU_SOURCE -o $@ $<

$(KSTATIC)/kvt-time: bench/kernel/ktime.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(WARN) -static -O2 -D_GNU_SOURCE -o $@ $<

KSTATIC_PROGS := $(KSTATIC)/activator $(KSTATIC)/kvt-sample-workload \
	$(KSTATIC)/kvt-syscall-bench $(KSTATIC)/kvt-time

# The initramfs needs the kernel tree (for usr/gen_init_cpio.c).
$(KBED)/initramfs.cpio.gz: $(KSTATIC_PROGS) kpatch/guest/init \
		kpatch/mkinitramfs.sh | kernel-image
	bash kpatch/mkinitramfs.sh $@ $(KBED)/linux $(KSTATIC_PROGS)

kernel-initramfs: $(KBED)/initramfs.cpio.gz

# The patch series passes the kernel's checkpatch.pl, and carries the
# project's headers unchanged.
kernel-checkpatch:
	tests/lib/run-test build/test-results kernel/checkpatch \
		bash tests/kernel/checkpatch.sh $(KBED)/linux

kernel-check: $(BIN)/kvt-dump $(BIN)/run-merger $(BIN)/activator \
		$(BIN)/kvt-as $(BIN)/kvt-oracle $(GONE_DUMP_SO)
	tests/lib/run-test build/test-results kernel/build \
		bash kpatch/build-kernel.sh $(KBED)
	tests/lib/run-test build/test-results kernel/initramfs \
		$(MAKE) --no-print-directory $(KBED)/initramfs.cpio.gz
	tests/lib/run-test build/test-results kernel/checkpatch \
		bash tests/kernel/checkpatch.sh $(KBED)/linux
	tests/lib/run-test build/test-results kernel/boot-trace \
		bash tests/kernel/kernel-check.sh $(KBED)/bzImage \
		$(KBED)/initramfs.cpio.gz build/kernel/check $(KCHECK_PAGES) \
		$(BIN)
	tests/lib/run-test build/test-results kernel/valgrind-agrees \
		bash tests/kernel/compare-valgrind.sh \
		build/kernel/check/guest/out/dump.txt $(KCHECK_PAGES) \
		$(KSTATIC)/kvt-sample-workload $(BIN)
	tests/lib/run-test build/test-results kernel/oracle-agrees \
		env DIFF_GONE_SO=$(GONE_DUMP_SO) tests/diff/check-recording \
		$(BIN) build/kernel/check/guest/out/k.kvt \
		build/kernel/check/guest/out/r.kvt kernel

# Builds the kernel on a fresh machine (minutes), boots it for seconds.
CHECKS += kernel-check
