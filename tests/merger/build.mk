# tests/merger/: run-merger's tests (make check-merger, part of make check).
#   check-merger-unit       cmocka tests of the memory model, of the rules and
#                           of per-process's spill file
#   check-merger-scenarios  every scenario of $(SCENARIO_DIRS), all consumers,
#                           text, binary and archives
#   check-merger-bad        bad input and bad usage: exit statuses, messages
#   check-merger-plugin     install, build samples/consumer-example against the
#                           installed header with pkg-config, load it
#   check-merger-reuse      pages_gone and the reuse consumer: hand-derived
#                           traces, and a plain LRU list on kvt-gen traces
# Tests run the sanitizer build ($(SANBIN)).
MERGER_UNIT_TESTS := test-aspace test-rules test-perfile
MERGER_TEST_DIR := $(BUILDROOT)/san/tests/merger

$(BUILD)/tests/merger/test-%: $(OBJ)/tests/merger/test-%.o \
		$(MERGER_CORE_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ -lcmocka

# per-process's spill file, driven through the consumer interface
$(BUILD)/tests/merger/test-perfile: $(OBJ)/tests/merger/test-perfile.o \
		$(MERGER_CONSUMER_OBJS) $(LIBKVT_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $(filter %.o,$^) $(KVT_LIBS) -lcmocka

$(BUILD)/tests/merger/mkbad: $(OBJ)/tests/merger/mkbad.o $(LIBKVT_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(KVT_LIBS)

.PHONY: check-merger check-merger-unit check-merger-scenarios \
	check-merger-bad check-merger-plugin check-merger-reuse

check-merger: check-merger-unit check-merger-scenarios check-merger-bad \
	check-merger-plugin check-merger-reuse

check-merger-unit:
	@$(MAKE) --no-print-directory SAN=1 \
	  $(MERGER_UNIT_TESTS:%=$(MERGER_TEST_DIR)/%) >/dev/null
	@st=0; for t in $(MERGER_UNIT_TESTS); do \
	  tests/lib/run-test build/test-results merger/unit/$$t \
	    $(MERGER_TEST_DIR)/$$t || st=1; \
	done; exit $$st

check-merger-scenarios:
	@$(MAKE) --no-print-directory SAN=1 $(SANBIN)/run-merger \
	  $(SANBIN)/kvt-as $(SANBIN)/kvt-dump >/dev/null
	@tests/lib/each-scenario build/test-results merger/scenario \
	  $(SCENARIO_DIRS) -- bash tests/merger/scenario.sh $(SANBIN)

check-merger-bad:
	@$(MAKE) --no-print-directory SAN=1 $(SANBIN)/run-merger \
	  $(SANBIN)/kvt-as $(SANBIN)/kvt-gen $(MERGER_TEST_DIR)/mkbad >/dev/null
	@tests/lib/run-test build/test-results merger/bad-input \
	  bash tests/merger/bad-input.sh $(SANBIN) $(MERGER_TEST_DIR)/mkbad \
	  tests/data

check-merger-plugin:
	@tests/lib/run-test build/test-results merger/plugin \
	  bash tests/merger/plugin.sh "$(MAKE)" tests/data

check-merger-reuse: $(GONE_DUMP_SO)
	@$(MAKE) --no-print-directory SAN=1 $(SANBIN)/run-merger \
	  $(SANBIN)/kvt-as $(SANBIN)/kvt-gen >/dev/null
	@tests/lib/run-test build/test-results merger/reuse \
	  bash tests/merger/reuse.sh $(SANBIN) $(GONE_DUMP_SO) tests/data \
	  $(SCENARIO_DIRS)

CHECKS += check-merger
