# samples/workload/: the sample workload (no libkvt; also builds with
# plain `cc -static -pthread samples/workload/workload.c`).
$(BIN)/kvt-sample-workload: $(OBJ)/samples/workload/workload.o
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^

PROGRAMS += $(BIN)/kvt-sample-workload

# make demo: record the workload and sort(1) through Valgrind, merge them.
.PHONY: demo-valgrind
demo-valgrind:
	@bash samples/workload/demo.sh

DEMOS += demo-valgrind
