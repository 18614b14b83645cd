# bench/valgrind/: activator --valgrind against native, --tool=none and
# lackey (figures, not pass/fail); also written to build/bench/valgrind.txt.
.PHONY: bench-valgrind
bench-valgrind: $(VG_LRU)
	@mkdir -p build/bench
	bash bench/valgrind/bench.sh | tee build/bench/valgrind.txt

BENCHES += bench-valgrind
