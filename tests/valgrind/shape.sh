#!/usr/bin/env bash
# The sample workload's recording shows what its source says (shape.py).
. tests/valgrind/common.sh
P=64
# --work 0: the shape is that of steps [1]..[14] without the working-set
# loops (pool.sh checks it again with them); shape.py reads every reference.
"$ACT" --valgrind --pool 0 "$T/k" "$T/r" -- "$WL" --work 0 "$T/wd" $P >"$T/out" 2>"$T/err" ||
	{ cat "$T/err"; fail "activator exit $?"; }
cat "$T/err"
grep -qx "processes: 3" "$T/err" || fail "summary: 3 processes"
grep -qx "tasks: 5" "$T/err" || fail "summary: 5 tasks (A, 2 threads, B, C)"
grep -qx "lost-records: 0" "$T/err" || fail "records lost"
"$DUMP" "$T/k" "$T/r" >"$T/dump.txt" || fail "kvt-dump"
if [ -x "$MERGER" ]; then
	"$MERGER" --text basic-named auto "$T/r" "$T/k" "$T/bn.txt" 2>"$T/sum.txt" ||
		fail "run-merger"
	python3 tests/valgrind/shape.py $P "$T/dump.txt" "$T/bn.txt" "$T/sum.txt"
else
	echo "note: $MERGER not built: checking the dump only"
	python3 tests/valgrind/shape.py $P "$T/dump.txt"
fi
