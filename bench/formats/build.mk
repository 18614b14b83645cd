# bench/formats: reading and writing speed and size of each codec
# (make bench-formats, part of make bench).  BENCH_REFS scales the
# reference stream (default 100M); the table also goes to
# build/bench/formats.txt.
FORMATS_READBENCH := $(BUILD)/bench/formats/readbench
# decbench: the block decoder alone (FILE of codec none), for tuning it
FORMATS_DECBENCH := $(BUILD)/bench/formats/decbench

$(FORMATS_DECBENCH): $(OBJ)/bench/formats/decbench.o $(LIBKVT_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(KVT_LIBS)

$(FORMATS_READBENCH): $(OBJ)/bench/formats/readbench.o $(LIBKVT_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(KVT_LIBS)

.PHONY: bench-formats
bench-formats: $(BIN)/kvt-gen $(FORMATS_READBENCH) $(FORMATS_DECBENCH)
	@bash bench/formats/run.sh $(BIN)/kvt-gen $(FORMATS_READBENCH) \
	  build/bench $(FORMATS_DECBENCH)

BENCHES += bench-formats
