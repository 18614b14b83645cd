#!/usr/bin/env bash
# make demo: record the sample workload and sort(1) of a generated file
# with `activator --valgrind`, merge each recording with run-merger (basic,
# per-process and reuse) and print the summaries and the page faults of an
# LRU memory of a few sizes.  Output in build/demo/valgrind.
set -eu
ACT=${ACT:-bin/activator}
WL=${WL:-bin/kvt-sample-workload}
MERGER=${MERGER:-bin/run-merger}
D=build/demo/valgrind
rm -rf "$D" && mkdir -p "$D/wd"
awk 'BEGIN { srand(7); for (i = 0; i < 200000; i++)
	printf "%08x line %d\n", int(rand() * 4294967295), i }' >"$D/lines.txt"
run() {		# run NAME COMMAND...
	local name=$1
	shift
	echo "== $name: activator --valgrind $D/$name.k $D/$name.r -- $*"
	"$ACT" --valgrind "$D/$name.k" "$D/$name.r" -- "$@" >"$D/$name.out"
	if [ -x "$MERGER" ]; then
		echo "-- run-merger basic"
		"$MERGER" basic auto "$D/$name.r" "$D/$name.k" "$D/$name.basic"
		echo "-- run-merger per-process"
		"$MERGER" --text per-process auto "$D/$name.r" "$D/$name.k" \
			"$D/$name.per-process" 2>/dev/null
		column -t "$D/$name.per-process/index.tsv" 2>/dev/null ||
			cat "$D/$name.per-process/index.tsv"
		echo "-- run-merger reuse: faults of an LRU memory of M pages"
		"$MERGER" -q reuse auto "$D/$name.r" "$D/$name.k" \
			"$D/$name.reuse" 2>/dev/null
		# the first row whose distance is M or more (cold: above all)
		awk -F'\t' 'NR > 1 { d[NR] = $1; f[NR] = $3; n = NR }
		END { for (m = 1; m <= 4096; m *= 4) {
			for (i = 2; i <= n; i++)
				if (d[i] == "cold" || d[i] + 0 >= m)
					break
			printf "M=%-5d %s faults\n", m, f[i] } }' "$D/$name.reuse"
	else
		echo "-- $MERGER not built: no merge"
	fi
}
run workload "$WL" "$D/wd" 256
run sort sort -o "$D/sorted.txt" "$D/lines.txt"
echo "== done: recordings and merged outputs in $D"
