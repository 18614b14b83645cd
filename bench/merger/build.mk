# bench/merger/: run-merger on a kvt-gen trace (BENCH_REFS, default 100M
# references; BENCH_PROCS, default 100), basic and per-process, gzip and
# zstd; figures in build/bench/merger.txt.
.PHONY: bench-merger
bench-merger: $(BIN)/run-merger $(BIN)/kvt-gen
	@bash bench/merger/run-bench.sh $(BIN) build/bench/merger.txt

BENCHES += bench-merger
