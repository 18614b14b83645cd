#!/usr/bin/env bash
# run.sh KVT_GEN READBENCH OUTDIR [DECBENCH]: the formats benchmark (make
# bench-formats).
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
# Wall-clock rates depend on what else the machine runs.  The CPU columns
# (cpu: user + system time of every thread; main: the thread that reads
# the batches) do not, and give "idle": the wall time the same work takes
# on idle CPUs (the busiest thread, or all the CPU time spread over
# min(CPUs, threads)).  The goal is judged both ways.
set -euo pipefail
gen=$1 rb=$2 out=$3 db=${4:-}
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
	printf "%-27s %3s %7s %7s %7s %7s %8s %8s %8s %8s\n" reader thr \
		"wall s" "cpu s" "main s" "idle s" "Mrec/s" "Mrec/s" \
		"MB/s in" "MB/s raw"
	printf "%-27s %3s %7s %7s %7s %7s %8s %8s %8s %8s\n" "" "" "" "" "" \
		"" "(wall)" "(idle)" "(wall)" "(wall)"
} >>"$report"

# row NAME THREADS FILE WALL CPU MAINCPU RECORDS: one line of the table;
# "idle s" is what the CPU times allow on idle CPUs: the busiest thread, or
# the total spread over min(CPUs, threads).
row() {
	awk -v name="$1" -v th="$2" -v inb="$(stat -c %s "$3")" -v raw="$raw" \
	    -v w="$4" -v u="$5" -v m="$6" -v n="$7" -v ncpu="$(nproc)" 'BEGIN {
		par = th == "-" ? 1 : th
		if (par > ncpu)
			par = ncpu
		idle = u / par
		if (m > idle)
			idle = m
		printf "%-27s %3s %7.2f %7.2f %7.2f %7.2f %8.2f %8.2f %8.1f " \
		       "%8.1f\n", name, th, w, u, m, idle, n / w / 1e6,
		       n / idle / 1e6, inb / w / 1e6, raw / w / 1e6
		printf "%s\n", idle >"/dev/stderr"
	}' >>"$report" 2>"$tmp/idle"
	cat "$tmp/idle"
}

key() {
	sed "s/.* $1=\([0-9.]*\).*/\1/" <<<"$2"
}

declare -A rwall ridle
for c in "${codecs[@]}"; do
	for th in 1 2; do
		line=$("$rb" --threads $th --repeat "$repeat" "$data/r.$c")
		recs=$(key records "$line")
		[ "$recs" -gt 0 ] || { echo "readbench: $line"; exit 1; }
		w=$(key seconds "$line")
		rwall[$c$th]=$w
		ridle[$c$th]=$(row "libkvt $c" $th "$data/r.$c" "$w" \
			"$(key cpu-seconds "$line")" \
			"$(key main-cpu-seconds "$line")" "$recs")
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
		ridle[$tool$c]=$(row "$tool -dc ($c file)" - "$data/r.$c" \
			"$w" "$u" "$u" "$recs")
	fi
done
load=$(cut -d' ' -f1 /proc/loadavg)

# the block decoder alone (no reading, inflating or checksums), each block
# at its fastest of 3 passes: what one core needs per record
if [ -n "$db" ]; then
	line=$("$db" --blocks 100000 --repeat 3 "$data/r.none")
	echo >>"$report"
	echo "Decoding alone (decbench, raw file, each block at its fastest of 3):" \
	     "$(key ns-per-record "$line") ns per record" >>"$report"
fi

awk -v kw="${rwall[gzip-blocks2]}" -v ki="${ridle[gzip-blocks2]}" \
    -v gw="${rwall[gzipgzip-blocks]}" -v gi="${ridle[gzipgzip-blocks]}" \
    -v zw="${rwall[zstd2]}" -v zi="${ridle[zstd2]}" \
    -v tw="${rwall[zstdzstd]}" -v ti="${ridle[zstdzstd]}" \
    -v load="$load" 'BEGIN {
	print ""
	printf "Goal: libkvt reading gzip-blocks with 2 threads is faster " \
	       "than gzip -dc of the same file:\n  measured %.2fx (%s), " \
	       "on idle CPUs %.2fx (%s); load %s at the end\n",
	       gw / kw, (gw > kw ? "met" : "NOT met"), gi / ki,
	       (gi > ki ? "met" : "NOT met"), load
	printf "libkvt reading zstd with 2 threads vs zstd -dc of the same " \
	       "file: measured %.2fx, on idle CPUs %.2fx\n", tw / zw, ti / zi
}' >>"$report"

cat "$report"
