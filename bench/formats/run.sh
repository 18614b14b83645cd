#!/usr/bin/env bash
# run.sh KVT_GEN READBENCH OUTDIR: the formats benchmark (make bench-formats).
#
# Writes one reference stream with kvt-gen in each codec, timing the write,
# then reads each file with libkvt (bench/formats/readbench, 1 and 2
# decoding threads) and with gzip -dc / zstd -dc, in the same run, and
# prints a table (also written to OUTDIR/formats.txt).
#
# Environment: BENCH_REFS (references, default 100000000), BENCH_PROCS
# (default 100), BENCH_REPEAT (reads of each file, the fastest counts;
# default 2), BENCH_KEEP=1 keeps the trace files in OUTDIR/formats-data.
#
# Wall-clock rates depend on what else the machine runs; the CPU columns
# (user + system time of every thread) are the steadier figures.
set -euo pipefail
gen=$1 rb=$2 out=$3
refs=${BENCH_REFS:-100000000}
procs=${BENCH_PROCS:-100}
repeat=${BENCH_REPEAT:-2}
data=$out/formats-data
report=$out/formats.txt
codecs=(none gzip gzip-blocks zstd)

mkdir -p "$data"
rm -f "$data"/[kr].*
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvt-bench.XXXXXX")
trap 'rm -rf "$tmp"; [ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$data"' EXIT

# timed FILE CMD...: runs CMD, appends "wall user+sys" to FILE
timed() {
	local f=$1
	shift
	local TIMEFORMAT='%R %U %S'
	{ time "$@" >/dev/null; } 2>"$tmp/time.err"
	tail -n 1 "$tmp/time.err" | awk '{ printf "%.3f %.3f\n", $1, $2 + $3 }' \
		>>"$f"
}

# best FILE: the line with the least wall time
best() {
	sort -n "$1" | head -n 1
}

load=$(cut -d' ' -f1 /proc/loadavg)
{
	echo "kvmtrace formats benchmark: $refs references" \
	     "(kvt-gen --seed 1 --procs $procs), $(nproc) CPUs," \
	     "load $load at start, $(date -u +%Y-%m-%dT%H:%MZ)"
	echo
} >"$report"

declare -A wall cpu size
for c in "${codecs[@]}"; do
	: >"$tmp/w.$c"
	timed "$tmp/w.$c" "$gen" -q --seed 1 --refs "$refs" --procs "$procs" \
		--compress "$c" "$data/k.$c" "$data/r.$c"
	read -r wall[$c] cpu[$c] <"$tmp/w.$c"
	size[$c]=$(stat -c %s "$data/r.$c")
done
raw=${size[none]}

{
	echo "Writing (kvt-gen, both streams; sizes of the reference stream)"
	printf "%-12s %14s %10s %7s %9s %9s\n" codec bytes bytes/ref ratio \
		"wall s" "cpu s"
	for c in "${codecs[@]}"; do
		awk -v c="$c" -v b="${size[$c]}" -v n="$refs" -v raw="$raw" \
		    -v w="${wall[$c]}" -v u="${cpu[$c]}" 'BEGIN {
			printf "%-12s %14d %10.3f %7.2f %9.2f %9.2f\n",
			       c, b, n ? b / n : 0, b ? raw / b : 0, w, u
		}'
	done
	echo
	echo "Reading the reference stream (fastest of $repeat)"
	printf "%-26s %7s %8s %8s %11s %11s %9s %9s\n" reader threads \
		"wall s" "cpu s" "Mrec/s" "Mrec/cpu-s" "MB/s in" "MB/s raw"
} >>"$report"

# row NAME THREADS FILE WALL CPU RECORDS
row() {
	awk -v name="$1" -v th="$2" -v inb="$(stat -c %s "$3")" -v raw="$raw" \
	    -v w="$4" -v u="$5" -v n="$6" 'BEGIN {
		printf "%-26s %7s %8.2f %8.2f %11.2f %11.2f %9.1f %9.1f\n",
		       name, th, w, u, n / w / 1e6, n / u / 1e6, inb / w / 1e6,
		       raw / w / 1e6
	}' >>"$report"
}

declare -A rwall rcpu
for c in "${codecs[@]}"; do
	for th in 1 2; do
		line=$("$rb" --threads $th --repeat "$repeat" "$data/r.$c")
		recs=$(sed 's/.* records=\([0-9]*\) .*/\1/' <<<"$line")
		w=$(sed 's/.* seconds=\([0-9.]*\) .*/\1/' <<<"$line")
		u=$(sed 's/.* cpu-seconds=\([0-9.]*\) .*/\1/' <<<"$line")
		[ "$recs" -gt 0 ] || { echo "readbench: $line"; exit 1; }
		rwall[$c$th]=$w
		rcpu[$c$th]=$u
		row "libkvt $c" $th "$data/r.$c" "$w" "$u" "$recs"
	done
	tool=
	case $c in
	gzip | gzip-blocks) tool=gzip ;;
	zstd) tool=zstd ;;
	esac
	if [ -n "$tool" ]; then
		: >"$tmp/t.$c"
		for ((i = 0; i < repeat; i++)); do
			timed "$tmp/t.$c" $tool -dc "$data/r.$c"
		done
		read -r w u < <(best "$tmp/t.$c")
		rwall[$tool$c]=$w
		rcpu[$tool$c]=$u
		row "$tool -dc ($c file)" - "$data/r.$c" "$w" "$u" "$recs"
	fi
done

awk -v kw="${rwall[gzip-blocks2]}" -v kc="${rcpu[gzip-blocks2]}" \
    -v gw="${rwall[gzipgzip-blocks]}" -v gc="${rcpu[gzipgzip-blocks]}" \
    -v zw="${rwall[zstd2]}" -v zc="${rcpu[zstd2]}" \
    -v tw="${rwall[zstdzstd]}" -v tc="${rcpu[zstdzstd]}" 'BEGIN {
	print ""
	printf "Goal: libkvt reading gzip-blocks with 2 threads vs gzip -dc of " \
	       "the same file: %.2fx the speed (wall), %.2fx (cpu); %s\n",
	       gw / kw, gc / kc, (gw > kw ? "met" : "NOT met")
	printf "libkvt reading zstd with 2 threads vs zstd -dc of the same " \
	       "file: %.2fx (wall), %.2fx (cpu)\n", tw / zw, tc / zc
}' >>"$report"

cat "$report"
