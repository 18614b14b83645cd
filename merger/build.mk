# merger/: run-merger and the merger's state machine.
MERGER_CORE_SRCS := merger/aspace.c merger/merger.c
MERGER_CORE_OBJS := $(MERGER_CORE_SRCS:%.c=$(OBJ)/%.o)

# -rdynamic: consumer .so files may use libkvt from run-merger itself.
$(BIN)/run-merger: $(OBJ)/merger/run-merger.o $(MERGER_CORE_OBJS) \
		$(CONSUMER_OBJS) $(LIBKVT_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -rdynamic -o $@ $(filter %.o,$^) $(KVT_LIBS) -ldl

PROGRAMS += $(BIN)/run-merger
