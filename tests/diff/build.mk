# tests/diff/: kvt-oracle, a second and deliberately simple implementation
# of ../shared/spec/SEMANTICS.md; kvt-scengen, a random scenario generator;
# and the differential test that compares both with run-merger.
KVT_ORACLE_OBJS := $(OBJ)/tests/diff/oracle.o
KVT_SCENGEN_OBJS := $(OBJ)/tests/diff/gen.o

$(BIN)/kvt-oracle: $(KVT_ORACLE_OBJS) $(LIBKVT_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $(KVT_ORACLE_OBJS) $(KVT_LIBS)

$(BIN)/kvt-scengen: $(KVT_SCENGEN_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $(KVT_SCENGEN_OBJS)

PROGRAMS += $(BIN)/kvt-oracle $(BIN)/kvt-scengen

# The oracle against every scenario's expected outputs (its own test), the
# scenario tests on a folder unlike ../shared/scenarios
# (tests/lib/scenario-set.sh), then the differential test (DIFF_N seeds;
# see tests/diff/run-diff).
.PHONY: check-diff check-diff-oracle
check-diff-oracle:
	@tests/lib/run-test build/test-results diff/oracle-scenarios \
	  tests/diff/check-oracle $(SANBIN)/kvt-oracle $(SCENARIO_DIRS)
	@tests/lib/run-test build/test-results diff/scenario-annotations \
	  tests/diff/check-annotations tests/scenarios
	@tests/lib/run-test build/test-results lib/scenario-set \
	  bash tests/lib/scenario-set.sh $(SANBIN)

check-diff: $(GONE_DUMP_SO)
	@tests/lib/run-test build/test-results diff/random \
	  env DIFF_BIN=$(BIN) DIFF_SANBIN=$(SANBIN) \
	  DIFF_GONE_SO=$(GONE_DUMP_SO) tests/diff/run-diff

CHECKS += check-diff-oracle check-diff
