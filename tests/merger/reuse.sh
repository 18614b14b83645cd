#!/usr/bin/env bash
# reuse.sh BINDIR DUMP_SO DATA_DIR [SCENARIO_DIR...] (tests/data: reuse.kvt,
# reuse-threads.kvt, gone.kvt, fork-cow.kvt, threads.kvt, remap.kvt)
# The reuse consumer and the pages_gone hook it relies on:
# - gone.kvt: the hand-derived pages_gone calls, through the gone-dump test
#   consumer (DUMP_SO);
# - reuse.kvt, reuse-threads.kvt: the hand-derived tables of every scope
#   and gone option (file and standard output) and summary lines;
# - the tables a plain LRU list gives (reuse-brute.awk, from gone-dump's
#   lines) on the fixtures and on kvt-gen traces whose pages outnumber the
#   first tree, so that its times are renumbered, for every option;
# - every scenario of the SCENARIO_DIRs: the same, and pages_gone's rules
#   (a page ends once, after a reference to it, and no reference names it
#   after);
# - an unknown option value, an OUT that cannot be written.
set -u
bin=$1 dump=$2 data=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# pages_gone, by hand (see the comments of gone.kvt)
"$bin/kvt-as" "$data/gone.kvt" "$tmp/k" "$tmp/r" || exit 1
"$bin/run-merger" -q "$dump" auto "$tmp/r" "$tmp/k" "$tmp/dump" 2>"$tmp/err" ||
	{ cat "$tmp/err"; fail "gone.kvt: exit $?"; }
printf 'G %s\n' '1 9' '2 10' '3 12' '5 17' '0 20' '6 22' '7 27' '8 27' \
	'4 29' '10 32' '12 39' >"$tmp/want"
grep '^G' "$tmp/dump" >"$tmp/got"
cmp -s "$tmp/want" "$tmp/got" ||
	{ fail "gone.kvt: pages_gone calls differ"; diff "$tmp/want" "$tmp/got"; }

# the tables of reuse.kvt, by hand (see its comments)
"$bin/kvt-as" "$data/reuse.kvt" "$tmp/k" "$tmp/r" || exit 1
table() {	# WANT-FILE OPTIONS...: compare, from a file and from stdout
	local want=$1
	shift
	"$bin/run-merger" -q "$@" reuse auto "$tmp/r" "$tmp/k" "$tmp/out" \
		2>"$tmp/err" || { fail "reuse.kvt $*: exit $?"; return; }
	cmp -s "$want" "$tmp/out" ||
		{ fail "reuse.kvt $*: table differs"; diff "$want" "$tmp/out"; }
	"$bin/run-merger" -q "$@" reuse auto "$tmp/r" "$tmp/k" - \
		>"$tmp/out2" 2>/dev/null || fail "reuse.kvt $* OUT -: exit $?"
	cmp -s "$want" "$tmp/out2" || fail "reuse.kvt $* OUT -: table differs"
}
t() { printf 'distance\treferences\tlru-faults\n'; printf '%s\t%s\t%s\n' "$@"; }
t 0 2 12  1 1 10  2 1 9  3 3 8  cold 5 5 >"$tmp/want"
table "$tmp/want"
for l in 'reuse-cold-references: 5' 'reuse-median-distance: 2' \
	 'reuse-max-distance: 3' 'reuse-renumberings: 0' \
	 'reuse-pages-gone: 1' 'references: 12'; do
	grep -qxF "$l" "$tmp/err" || fail "reuse.kvt: no '$l' in the summary"
done
t 0 2 12  1 1 10  2 1 9  3 2 8  4 1 6  cold 5 5 >"$tmp/want"
table "$tmp/want" -o gone=keep
# bins=log2: the same references by powers of two, the faults of a memory
# of each bin's least distance
t 0 2 12  1 1 10  2-3 4 9  cold 5 5 >"$tmp/want"
table "$tmp/want" -o bins=log2
t 0 2 12  1 1 10  2-3 3 9  4-7 1 6  cold 5 5 >"$tmp/want"
table "$tmp/want" -o bins=log2 -o gone=keep
t 0 2 12  1 2 10  2 2 8  cold 6 6 >"$tmp/want"
table "$tmp/want" -o scope=process
table "$tmp/want" -o scope=process -o gone=keep
# each process one task: the same stacks
table "$tmp/want" -o scope=thread
table "$tmp/want" -o scope=thread -o gone=keep

# the tables of reuse-threads.kvt, by hand (see its comments)
"$bin/kvt-as" "$data/reuse-threads.kvt" "$tmp/k" "$tmp/r" || exit 1
t 0 3 9  1 1 6  2 2 5  cold 3 3 >"$tmp/want"
table "$tmp/want"
table "$tmp/want" -o scope=process
t 1 3 9  cold 6 6 >"$tmp/want"
table "$tmp/want" -o scope=thread
table "$tmp/want" -o scope=thread -o gone=keep

# against the plain list
against_list() {	# NAME K R
	local scope gone
	"$bin/run-merger" -q "$dump" auto "$3" "$2" "$tmp/dump" 2>/dev/null ||
		{ fail "$1: gone-dump: exit $?"; return; }
	for scope in trace process thread; do
		for gone in drop keep; do
			"$bin/run-merger" -q -o scope=$scope -o gone=$gone \
				reuse auto "$3" "$2" "$tmp/got" 2>"$tmp/err" ||
				{ fail "$1 $scope $gone: exit $?"; continue; }
			awk -v scope=$scope -v gone=$gone \
				-f "$here/reuse-brute.awk" "$tmp/dump" >"$tmp/list"
			cmp -s "$tmp/list" "$tmp/got" ||
				{ fail "$1 $scope $gone: differs from the plain list";
				  diff "$tmp/list" "$tmp/got" | head -n 5; }
		done
	done
}
for s in reuse reuse-threads gone fork-cow threads remap; do
	"$bin/kvt-as" "$data/$s.kvt" "$tmp/k" "$tmp/r" || exit 1
	against_list "$s" "$tmp/k" "$tmp/r"
done
for dir in "$@"; do
	for sc in "$dir"/*.kvt; do
		[ -e "$sc" ] || continue
		name=${sc##*/}
		"$bin/kvt-as" "$sc" "$tmp/k" "$tmp/r" 2>/dev/null ||
			{ fail "$sc: kvt-as: exit $?"; continue; }
		against_list "$name" "$tmp/k" "$tmp/r"
		awk '$1 == "G" { if (!(($2) in seen) || ($2) in gone) exit 1
				 gone[$2] = 1; next }
		     { if (($2) in gone) exit 1; seen[$2] = 1 }' "$tmp/dump" ||
			fail "$name: a page ends twice, unseen, or is named after"
	done
done
for seed in 1 2 3; do
	"$bin/kvt-gen" --seed $seed --refs 20000 --procs 6 --fresh 5 \
		"$tmp/k" "$tmp/r" >/dev/null 2>&1 || exit 1
	against_list "kvt-gen seed $seed" "$tmp/k" "$tmp/r"
	n=$(sed -n 's/^reuse-renumberings: //p' "$tmp/err")
	[ "${n:-0}" -gt 0 ] ||
		fail "kvt-gen seed $seed: the times were never renumbered"
	n=$(sed -n 's/^reuse-pages-gone: //p' "$tmp/err")
	[ "${n:-0}" -gt 0 ] || fail "kvt-gen seed $seed: no page went away"
	# bins=log2 sums the rows of the exact table (the last against_list
	# wrote: scope=thread, gone=keep)
	"$bin/run-merger" -q -o scope=thread -o gone=keep -o bins=log2 reuse \
		auto "$tmp/r" "$tmp/k" "$tmp/log2" 2>/dev/null ||
		fail "kvt-gen seed $seed: bins=log2: exit $?"
	awk -F '\t' 'NR == 1 { print; next }
		$1 == "cold" { for (i = 1; i <= k; i++) { b = order[i]
				 print (b > 1 ? b "-" 2 * b - 1 : b) "\t" n[b] "\t" f[b] }
			       print; next }
		{ lo = $1; if (lo > 1) { lo = 1; while (lo * 2 <= $1) lo *= 2 }
		  if (!(lo in n)) { order[++k] = lo; f[lo] = $3 }
		  n[lo] += $2 }' "$tmp/got" >"$tmp/want"
	[ "$(wc -l <"$tmp/want")" -gt 4 ] && cmp -s "$tmp/want" "$tmp/log2" ||
		{ fail "kvt-gen seed $seed: bins=log2 is not the exact table binned"
		  diff "$tmp/want" "$tmp/log2" | head -n 5; }
done

for o in scope=task gone=free bins=log10; do
	"$bin/run-merger" -q -o $o reuse auto "$tmp/r" "$tmp/k" "$tmp/out" \
		2>"$tmp/err"
	st=$?
	[ $st -eq 2 ] || fail "-o $o: exit $st, not 2"
	grep -q "$o: expected" "$tmp/err" || fail "-o $o: no message naming it"
done
"$bin/run-merger" -q reuse auto "$tmp/r" "$tmp/k" "$tmp/no/such/out" \
	2>"$tmp/err"
st=$?
[ $st -eq 3 ] || fail "unwritable OUT: exit $st, not 3"
grep -q "cannot create $tmp/no/such/out" "$tmp/err" ||
	fail "unwritable OUT: no message naming it"

[ $fails -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "reuse: all checks passed"
