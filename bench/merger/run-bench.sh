#!/usr/bin/env bash
# run-bench.sh BINDIR OUTFILE
# The merger's benchmark: a kvt-gen trace of BENCH_REFS references (default
# 100M) over BENCH_PROCS processes (default 100), merged with basic and
# per-process, once with gzip in and out and once with zstd in and out.
# For each merge: wall and CPU seconds, references/s, peak RSS, peak live
# canonical pages and bytes per live page; and, in the same run, the time of
# the codec work alone: decompressing the two inputs (gzip -dc / zstd -dc)
# plus compressing the output's uncompressed bytes (gzip -1 / zstd -1).
# ratio = merge wall time / codec wall time (goal: <= 1.0).
set -u
bin=$1 out=$2
refs=${BENCH_REFS:-100M}
procs=${BENCH_PROCS:-100}
work=${BENCH_DIR:-build/bench/merger-work}
mkdir -p "$work" "$(dirname "$out")"
exec > >(tee "$out") 2>&1

secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
now() { date +%s.%N; }

echo "# merger benchmark: $refs references, $procs processes ($(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"
for codec in gzip zstd; do
	k=$work/k.$codec r=$work/r.$codec
	if [ ! -s "$r" ] || [ "$(cat "$work/params.$codec" 2>/dev/null)" != "$refs $procs" ]; then
		"$bin/kvt-gen" --seed 7 --refs "$refs" --procs "$procs" \
			--compress $codec "$k" "$r" >/dev/null || exit 1
		echo "$refs $procs" >"$work/params.$codec"
	fi
	echo "## inputs: $codec, $(stat -c %s "$k") + $(stat -c %s "$r") bytes"
	for type in basic per-process; do
		o=$work/out.$codec.$type
		rm -rf "$o" "$o.raw"
		/usr/bin/time -f "%e %U %S %M" -o "$work/time" \
			"$bin/run-merger" -q -o compress=$codec $type auto \
			"$r" "$k" "$o" 2>"$work/summary"
		st=$?
		read -r wall user sys rss <"$work/time"
		[ $st -eq 0 ] || { echo "run-merger failed ($st)"; cat "$work/summary"; exit 1; }
		nrefs=$(sed -n 's/^references: //p' "$work/summary")
		live=$(sed -n 's/^peak-live-pages: //p' "$work/summary")
		state=$(sed -n 's/^page-state-bytes-per-live-page: //p' "$work/summary")
		# the output's uncompressed bytes, for the codec-alone measure
		if [ $type = basic ]; then
			${codec} -dc "$o" >"$o.raw"
		else
			find "$o" -name '*.kvt' -exec ${codec} -dc {} + >"$o.raw"
		fi
		t0=$(now)
		${codec} -dc "$k" >/dev/null
		${codec} -dc "$r" >/dev/null
		${codec} -1 -c <"$o.raw" >/dev/null
		t1=$(now)
		codec_s=$(secs "$t0" "$t1")
		rm -f "$o.raw"
		awk -v t="$type" -v c="$codec" -v w="$wall" -v u="$user" \
		    -v s="$sys" -v m="$rss" -v n="$nrefs" -v l="$live" \
		    -v st="$state" -v cs="$codec_s" 'BEGIN {
			printf "%-11s %-4s refs=%d wall=%.2fs cpu=%.2fs " \
			       "refs/s=%.0f codec-alone=%.2fs ratio=%.2f " \
			       "peak-rss=%dKB peak-live-pages=%d " \
			       "rss/live-page=%.0fB page-state/live-page=%sB\n",
			       t, c, n, w, u + s, n / (w > 0 ? w : 1), cs,
			       w / (cs > 0 ? cs : 1), m, l,
			       l ? m * 1024 / l : 0, st }'
	done
done
