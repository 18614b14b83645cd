#!/usr/bin/env bash
# With the default pool the recording keeps its shape and is much smaller;
# every write to a page after fork is seen again (copy-on-write).
. tests/valgrind/common.sh
P=64
"$ACT" --valgrind "$T/k" "$T/r" -- "$WL" --work $WK "$T/wd" $P >/dev/null 2>"$T/e512" || fail "pool 512"
"$ACT" --valgrind --pool 0 "$T/k0" "$T/r0" -- "$WL" --work $WK "$T/wd" $P >/dev/null 2>"$T/e0" || fail "pool 0"
n512=$(sed -n 's/^references: //p' "$T/e512")
n0=$(sed -n 's/^references: //p' "$T/e0")
echo "references: pool 512 $n512, pool 0 $n0"
[ "$n512" -gt 0 ] && [ $((n512 * 20)) -lt "$n0" ] || fail "the pool filters less than 95%"
"$DUMP" "$T/k" "$T/r" >"$T/dump.txt" || fail "kvt-dump"
python3 tests/valgrind/shape.py $P "$T/dump.txt" || fail "shape with pool 512"
if [ -x "$MERGER" ]; then
	"$MERGER" --text basic auto "$T/r" "$T/k" "$T/b.txt" 2>"$T/sum.txt" || fail "run-merger"
	cow=$(sed -n 's/^cow-copies: //p' "$T/sum.txt")
	echo "cow-copies: $cow"
	[ "$cow" -ge $P ] || fail "fewer than $P copy-on-write copies with the pool"
fi
