# bench/kernel/: guest time of the sample workload and of a syscall-heavy
# program, untraced against kernel events traced (bench/kernel/run.sh).
# Output: build/bench/kernel.txt.
.PHONY: bench-kernel
bench-kernel:
	bash kpatch/build-kernel.sh $(KBED)
	$(MAKE) --no-print-directory $(KBED)/initramfs.cpio.gz
	@mkdir -p build/bench
	bash bench/kernel/run.sh $(KBED)/bzImage $(KBED)/initramfs.cpio.gz \
		build/bench/kernel.txt

BENCHES += bench-kernel
