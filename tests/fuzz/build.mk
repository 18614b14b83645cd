# tests/fuzz: libFuzzer targets for the trace reader, the text parser and
# the transport-record decoder (owned by formats/), and for the merger's
# state machine (records from any bytes, checked by a consumer that checks
# what it is given: tests/fuzz/fuzz-merger.c).  Built with clang into
# build/fuzz; make check runs each for FUZZ_SECONDS from a copy of its seed
# corpus (tests/fuzz/corpus/).
#
#   make check-fuzz                 build and run all three (make check)
#   make fuzz-reader FUZZ_SECONDS=600   a longer run of one target
FUZZ_SECONDS ?= 20
FUZZ_DIR := $(BUILDROOT)/fuzz
FUZZ_CC := clang
FUZZ_CFLAGS := -std=c11 -Wall -Wextra -Werror -O1 -g -fno-omit-frame-pointer \
	-fsanitize=address,undefined -fno-sanitize-recover=all -pthread \
	-D_GNU_SOURCE -Iformats/include
FUZZ_LIBSRCS = $(LIBKVT_SRCS)
FUZZ_TARGETS := reader text raw merger

$(FUZZ_DIR)/fuzz-%: tests/fuzz/fuzz-%.c $(LIBKVT_SRCS) \
		$(wildcard formats/src/*.h formats/include/kvt/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< \
		$(FUZZ_LIBSRCS) $(PKG_LIBS)

# the merger's target: its core sources too (a pattern rule of one more
# prerequisite would be ambiguous with the one above)
$(FUZZ_DIR)/fuzz-merger: tests/fuzz/fuzz-merger.c $(LIBKVT_SRCS) \
		$(MERGER_CORE_SRCS) $(wildcard merger/*.h) \
		$(wildcard formats/src/*.h formats/include/kvt/*.h) \
		consumers/include/kvt/consumer.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Iconsumers/include -fsanitize=fuzzer \
		-o $@ $< $(MERGER_CORE_SRCS) $(FUZZ_LIBSRCS) $(PKG_LIBS)

.PHONY: check-fuzz $(FUZZ_TARGETS:%=fuzz-%)
$(FUZZ_TARGETS:%=fuzz-%): fuzz-%: $(FUZZ_DIR)/fuzz-%
	@rm -rf $(FUZZ_DIR)/work-$* && mkdir -p $(FUZZ_DIR)/work-$*
	$(FUZZ_DIR)/fuzz-$* -max_total_time=$(FUZZ_SECONDS) -timeout=20 \
		-rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix=$(FUZZ_DIR)/crash-$*- \
		$(FUZZ_DIR)/work-$* tests/fuzz/corpus/$*

check-fuzz: $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz-%)
	@st=0; for t in $(FUZZ_TARGETS); do \
	  tests/lib/run-test build/test-results formats/fuzz-$$t \
	    $(MAKE) --no-print-directory fuzz-$$t || st=1; \
	done; exit $$st

CHECKS += check-fuzz
