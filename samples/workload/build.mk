# samples/workload/: the sample workload (no libkvt; also builds with
# plain `cc -static -pthread samples/workload/workload.c`).
$(BIN)/kvt-sample-workload: $(OBJ)/samples/workload/workload.o
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^

PROGRAMS += $(BIN)/kvt-sample-workload
