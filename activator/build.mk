# activator/: ./activator KTRACE RTRACE (kernel device) and
# ./activator --valgrind ... (Valgrind collector).  Every activator/*.c is
# part of the program; the Valgrind tool builds from activator/vgtool/.
ACTIVATOR_SRCS := $(wildcard activator/*.c)
ACTIVATOR_OBJS := $(ACTIVATOR_SRCS:%.c=$(OBJ)/%.o)

$(BIN)/activator: $(ACTIVATOR_OBJS) $(LIBKVT_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $(ACTIVATOR_OBJS) $(KVT_LIBS)

PROGRAMS += $(BIN)/activator
include $(wildcard activator/*/build.mk)
