# tests/kernel/: the activator's kernel mode without a device (quick, part
# of make check); the QEMU checks are `make kernel-check` (kpatch/build.mk).
.PHONY: check-kernel-activator
check-kernel-activator: $(SANBIN)/activator
	tests/lib/run-test build/test-results kernel/activator-cli \
		bash tests/kernel/activator-cli.sh $(SANBIN)/activator

CHECKS += check-kernel-activator
