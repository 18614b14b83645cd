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
# see tests/diff/run-diff), and the same on DIFF_GEN_N kvt-gen recordings.
DIFF_GEN_N ?= 12
.PHONY: check-diff check-diff-oracle check-diff-random check-diff-gen
check-diff-oracle:
	@tests/lib/run-test build/test-results diff/oracle-scenarios \
	  tests/diff/check-oracle $(SANBIN)/kvt-oracle $(SCENARIO_DIRS)
	@tests/lib/run-test build/test-results diff/scenario-annotations \
	  tests/diff/check-annotations tests/scenarios
	@tests/lib/run-test build/test-results lib/scenario-set \
	  bash tests/lib/scenario-set.sh $(SANBIN)

check-diff: check-diff-random check-diff-gen

check-diff-random: $(GONE_DUMP_SO)
	@tests/lib/run-test build/test-results diff/random \
	  env DIFF_BIN=$(BIN) DIFF_SANBIN=$(SANBIN) \
	  DIFF_GONE_SO=$(GONE_DUMP_SO) tests/diff/run-diff

check-diff-gen: $(GONE_DUMP_SO)
	@tests/lib/run-test build/test-results diff/kvt-gen \
	  env DIFF_BIN=$(BIN) DIFF_SANBIN=$(SANBIN) \
	  DIFF_GONE_SO=$(GONE_DUMP_SO) DIFF_SOURCE=kvt-gen \
	  DIFF_N=$(DIFF_GEN_N) DIFF_WORK=build/diff-work-gen \
	  DIFF_FAILDIR=build/diff-fail-gen tests/diff/run-diff

CHECKS += check-diff-oracle check-diff
