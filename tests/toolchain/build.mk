# The whole tree must build warning-free (-Werror) with clang as with gcc.
.PHONY: check-clang
check-clang:
	@tests/lib/run-test build/test-results toolchain/clang-build \
	  $(MAKE) --no-print-directory CC=clang BUILDROOT=build/clang \
	    BIN=build/clang/bin all

CHECKS += check-clang
