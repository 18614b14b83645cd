#!/usr/bin/env bash
# reuse.sh BINDIR DATA_DIR (tests/data: reuse.kvt, fork-cow.kvt, threads.kvt,
# remap.kvt)
# The reuse consumer: the hand-derived tables of reuse.kvt (scope=trace and
# scope=process; file and standard output) and summary lines; the same
# tables as a plain list gives (reuse-brute.awk, from the text output of
# basic, or of per-process for scope=process) on the fixtures and on kvt-gen
# traces whose pages outnumber the first tree, so that its times are
# renumbered; an unknown scope; an OUT that cannot be written.
set -u
bin=$1 data=$2
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

"$bin/kvt-as" "$data/reuse.kvt" "$tmp/k" "$tmp/r" || exit 1
printf 'distance\treferences\tlru-faults\n0\t2\t12\n1\t1\t10\n2\t1\t9\n3\t2\t8\n4\t1\t6\ncold\t5\t5\n' \
	>"$tmp/want"
"$bin/run-merger" -q reuse auto "$tmp/r" "$tmp/k" "$tmp/out" 2>"$tmp/err" ||
	fail "reuse.kvt: exit $?"
cmp -s "$tmp/want" "$tmp/out" ||
	{ fail "reuse.kvt: table differs"; diff "$tmp/want" "$tmp/out"; }
for l in 'reuse-cold-references: 5' 'reuse-median-distance: 2' \
	 'reuse-max-distance: 4' 'reuse-renumberings: 0' 'references: 12'; do
	grep -qxF "$l" "$tmp/err" || fail "reuse.kvt: no '$l' in the summary"
done
"$bin/run-merger" -q reuse auto "$tmp/r" "$tmp/k" - >"$tmp/out2" \
	2>/dev/null || fail "OUT -: exit $?"
cmp -s "$tmp/want" "$tmp/out2" || fail "OUT -: table differs"
printf 'distance\treferences\tlru-faults\n0\t2\t12\n1\t2\t10\n2\t2\t8\ncold\t6\t6\n' \
	>"$tmp/want"
"$bin/run-merger" -q -o scope=process reuse auto "$tmp/r" "$tmp/k" \
	"$tmp/out" 2>/dev/null || fail "reuse.kvt, scope=process: exit $?"
cmp -s "$tmp/want" "$tmp/out" ||
	{ fail "reuse.kvt, scope=process: table differs";
	  diff "$tmp/want" "$tmp/out"; }

# against the plain list
against_list() {	# NAME K R
	rm -rf "$tmp/pp"
	"$bin/run-merger" -q --text basic auto "$3" "$2" "$tmp/basic" \
		2>/dev/null || { fail "$1: basic: exit $?"; return; }
	"$bin/run-merger" -q --text per-process auto "$3" "$2" "$tmp/pp" \
		2>/dev/null || { fail "$1: per-process: exit $?"; return; }
	"$bin/run-merger" -q -o scope=process reuse auto "$3" "$2" \
		"$tmp/got-p" 2>/dev/null ||
		{ fail "$1: reuse scope=process: exit $?"; return; }
	awk -f "$here/reuse-brute.awk" "$tmp/pp"/*.txt >"$tmp/list"
	cmp -s "$tmp/list" "$tmp/got-p" ||
		{ fail "$1: scope=process differs from the plain lists";
		  diff "$tmp/list" "$tmp/got-p" | head -n 5; }
	"$bin/run-merger" -q reuse auto "$3" "$2" "$tmp/got" 2>"$tmp/err" ||
		{ fail "$1: reuse: exit $?"; return; }
	awk -f "$here/reuse-brute.awk" "$tmp/basic" >"$tmp/list"
	cmp -s "$tmp/list" "$tmp/got" ||
		{ fail "$1: differs from the plain list";
		  diff "$tmp/list" "$tmp/got" | head -n 5; }
}
for s in reuse fork-cow threads remap; do
	"$bin/kvt-as" "$data/$s.kvt" "$tmp/k" "$tmp/r" || exit 1
	against_list "$s" "$tmp/k" "$tmp/r"
done
for seed in 1 2 3; do
	"$bin/kvt-gen" --seed $seed --refs 30000 --procs 6 --fresh 5 \
		"$tmp/k" "$tmp/r" >/dev/null 2>&1 || exit 1
	against_list "kvt-gen seed $seed" "$tmp/k" "$tmp/r"
	n=$(sed -n 's/^reuse-renumberings: //p' "$tmp/err")
	[ "${n:-0}" -gt 0 ] ||
		fail "kvt-gen seed $seed: the times were never renumbered"
done

"$bin/run-merger" -q reuse auto "$tmp/r" "$tmp/k" "$tmp/no/such/out" \
	2>"$tmp/err"
st=$?
[ $st -eq 3 ] || fail "unwritable OUT: exit $st, not 3"
grep -q "cannot create $tmp/no/such/out" "$tmp/err" ||
	fail "unwritable OUT: no message naming it"
"$bin/run-merger" -q -o scope=task reuse auto "$tmp/r" "$tmp/k" "$tmp/out" \
	2>"$tmp/err"
st=$?
[ $st -eq 2 ] || fail "scope=task: exit $st, not 2"
grep -q "scope=task: expected trace or process" "$tmp/err" ||
	fail "scope=task: no message naming it"

[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "reuse: all checks passed"
