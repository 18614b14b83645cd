# tests/: each area keeps its tests and their make rules in tests/AREA/
# (tests/AREA/build.mk appends its phony check targets to CHECKS).

# A test consumer that tests/merger and tests/diff load by path: references
# and pages_gone calls, in call order (tests/merger/gone-dump.c).  Built
# without sanitizers, so that both run-merger builds can load it.
GONE_DUMP_SO := $(BUILDROOT)/tests/gone-dump.so
$(GONE_DUMP_SO): tests/merger/gone-dump.c consumers/include/kvt/consumer.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -std=c11 $(WARN) -O2 -g -fPIC -shared -o $@ $<

include $(wildcard tests/*/build.mk)
