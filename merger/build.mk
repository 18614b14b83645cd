# merger/: run-merger and the merger's state machine.
MERGER_CORE_SRCS := merger/aspace.c merger/merger.c
MERGER_CORE_OBJS := $(MERGER_CORE_SRCS:%.c=$(OBJ)/%.o)
# The built-in consumers (consumers/*.c; merger/build.mk is read before
# consumers/build.mk, so the list is made here).
MERGER_CONSUMER_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(wildcard consumers/*.c))

# -rdynamic: consumer .so files may use libkvt from run-merger itself.
$(BIN)/run-merger: $(OBJ)/merger/run-merger.o $(MERGER_CORE_OBJS) \
		$(MERGER_CONSUMER_OBJS) $(LIBKVT_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -rdynamic -o $@ $(filter %.o,$^) $(KVT_LIBS) -ldl

PROGRAMS += $(BIN)/run-merger
