# tests/valgrind/: `activator --valgrind` and the kvtrace tool (about 1
# minute).  The traced program is the release workload (sanitizers do not
# run under Valgrind); the activator and the tools are the sanitizer ones.
# oracle.sh also loads the gone-dump test consumer.
VG_LRU := $(BUILD)/tests/kvt-lru

$(VG_LRU): $(OBJ)/tests/valgrind/kvt-lru.o $(LIBKVT_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(KVT_LIBS)

VG_POOLSIM := $(BUILD)/tests/kvt-poolsim

$(VG_POOLSIM): $(OBJ)/tests/valgrind/kvt-poolsim.o $(LIBKVT_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(KVT_LIBS)

all: $(VG_LRU) $(VG_POOLSIM)

VG_TESTS := shape pool lackey fidelity exact errors oracle

.PHONY: check-valgrind
check-valgrind: $(GONE_DUMP_SO)
	@st=0; for t in $(VG_TESTS); do \
	  tests/lib/run-test build/test-results valgrind/$$t \
	    bash tests/valgrind/$$t.sh || st=1; \
	done; exit $$st

CHECKS += check-valgrind
