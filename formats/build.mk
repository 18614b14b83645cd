# formats/: libkvt and the tools that convert traces (owned by formats/).
LIBKVT_SRCS := $(wildcard formats/src/*.c)
LIBKVT_OBJS := $(LIBKVT_SRCS:%.c=$(OBJ)/%.o)
LIBKVT_A := $(LIBDIR)/libkvt.a
INSTALL_HEADERS := formats/include/kvt/kvt.h formats/include/kvt/record.h \
	$(wildcard consumers/include/kvt/consumer.h)
# Link line for a program that uses libkvt.
KVT_LIBS = $(LIBKVT_A) $(PKG_LIBS) -lm

$(LIBKVT_A): $(LIBKVT_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(BIN)/kvt-%: $(OBJ)/formats/tools/kvt-%.o $(LIBKVT_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(KVT_LIBS)

PROGRAMS += $(BIN)/kvt-as $(BIN)/kvt-dump $(BIN)/kvt-gen
