#!/usr/bin/env bash
# run-bench.sh BINDIR OUTFILE
# The merger's benchmark: a kvt-gen trace of BENCH_REFS references (default
# 100M) over BENCH_PROCS processes (default 100), merged with basic and
# per-process, once with gzip in and out and once with zstd in and out
# (BENCH_CODECS, default "gzip-blocks zstd"; "gzip" is the single-stream
# form, which libkvt inflates in the reading thread).
# For each merge: wall and CPU seconds, references/s, the main thread's time
# (running / runnable but waiting for a CPU / blocked), peak RSS, peak
# anonymous RSS, peak live canonical pages and bytes per live page; and, in
# the same run, the time of the codec work alone: decompressing the two
# inputs (gzip -dc / zstd -dc) plus compressing the output's uncompressed
# bytes (gzip -1 / zstd -1), the level the merger's outputs use by default.
#   ratio      = merge wall time / codec wall time (goal: <= 1.0)
#   idle-ratio = max(main-thread CPU, all CPU / cores) / codec CPU: what the
#                ratio would be on an idle machine where the threads overlap
#                perfectly (the machine this runs on is usually shared)
# BENCH_REPEAT (default 1) repeats each measurement; the best wall is kept.
# BENCH_GEN_OPTS: more kvt-gen options (default "--fresh 10": a tenth of the
# references touch new pages, so that millions of pages are live at once and
# the bytes per live page mean something; "" for kvt-gen's plain shape).
set -u
bin=$1 out=$2
refs=${BENCH_REFS:-100M}
procs=${BENCH_PROCS:-100}
codecs=${BENCH_CODECS:-gzip-blocks zstd}
repeat=${BENCH_REPEAT:-1}
genopts=${BENCH_GEN_OPTS---fresh 10}
work=${BENCH_DIR:-build/bench/merger-work}
mkdir -p "$work" "$(dirname "$out")"
exec > >(tee "$out") 2>&1

ncpu=$(nproc)
load() { cut -d' ' -f1-3 /proc/loadavg; }
now() { date +%s.%N; }

echo "# merger benchmark: $refs references, $procs processes, kvt-gen" \
     "options '$genopts' ($ncpu cores, load $(load))"
for codec in $codecs; do
	tool=${codec%-blocks}	# gzip-blocks files are multi-member gzip
	k=$work/k.$codec r=$work/r.$codec
	params="$refs $procs $genopts $(cksum <"$bin/kvt-gen")"
	if [ ! -s "$r" ] || [ "$(cat "$work/params.$codec" 2>/dev/null)" != "$params" ]; then
		"$bin/kvt-gen" --seed 7 --refs "$refs" --procs "$procs" \
			$genopts --compress "$codec" "$k" "$r" || exit 1
		echo "$params" >"$work/params.$codec"
	fi
	echo "## inputs: $codec, $(stat -c %s "$k") + $(stat -c %s "$r") bytes"
	for type in basic per-process; do
		o=$work/out.$codec.$type
		best=
		for i in $(seq "$repeat"); do
			rm -rf "$o" "$o.raw"
			/usr/bin/time -f "%e %U %S %M" -o "$work/time" \
				"$bin/run-merger" -q -o compress="$codec" \
				"$type" auto "$r" "$k" "$o" 2>"$work/summary"
			st=$?
			read -r wall user sys rss <"$work/time"
			[ $st -eq 0 ] || { echo "run-merger failed ($st)"; \
					   cat "$work/summary"; exit 1; }
			if [ -z "$best" ] || awk -v a="$wall" -v b="$best" \
					     'BEGIN { exit !(a < b) }'; then
				best=$wall
				cp "$work/summary" "$work/summary.best"
				echo "$wall $user $sys $rss" >"$work/time.best"
			fi
		done
		read -r wall user sys rss <"$work/time.best"
		sum=$work/summary.best
		get() { sed -n "s/^$1: //p" "$sum"; }
		# the output's uncompressed bytes, for the codec-alone measure
		if [ $type = basic ]; then
			$tool -dc "$o" >"$o.raw"
		else
			find "$o" -name '*.kvt' -exec $tool -dc {} + >"$o.raw"
		fi
		cbest=
		for i in $(seq "$repeat"); do
			t0=$(now)
			/usr/bin/time -f "%U %S" -o "$work/ctime" bash -c \
				"$tool -dc '$k' >/dev/null &&
				 $tool -dc '$r' >/dev/null &&
				 $tool -1 -c <'$o.raw' >/dev/null" || exit 1
			t1=$(now)
			cw=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
			if [ -z "$cbest" ] || awk -v a="$cw" -v b="$cbest" \
					      'BEGIN { exit !(a < b) }'; then
				cbest=$cw
				read -r cu cs <"$work/ctime"
			fi
		done
		rawb=$(stat -c %s "$o.raw")
		rm -f "$o.raw"
		awk -v t="$type" -v c="$codec" -v w="$wall" -v u="$user" \
		    -v s="$sys" -v m="$rss" -v n="$(get references)" \
		    -v l="$(get peak-live-pages)" -v an="$(get peak-rss-anon-kb)" \
		    -v st="$(get page-state-bytes-per-live-page)" \
		    -v mc="$(get main-thread-cpu-seconds)" \
		    -v mr="$(get main-thread-runnable-seconds)" \
		    -v mb="$(get main-thread-blocked-seconds)" \
		    -v cw="$cbest" -v cc="$(awk -v a="$cu" -v b="$cs" \
					   'BEGIN { print a + b }')" \
		    -v ob="$rawb" -v nc="$ncpu" -v ld="$(load)" 'BEGIN {
			cpu = u + s
			ideal = mc > cpu / nc ? mc : cpu / nc
			printf "%-11s %-11s refs=%d wall=%.2fs cpu=%.2fs " \
			       "refs/s=%.0f main-thread: cpu=%.2fs " \
			       "runnable=%.2fs blocked=%.2fs\n", t, c, n, w, cpu,
			       n / (w > 0 ? w : 1), mc, mr, mb
			printf "%-23s codec-alone: wall=%.2fs cpu=%.2fs " \
			       "(output %d raw bytes) ratio=%.2f " \
			       "idle-ratio=%.2f\n", "", cw, cc, ob,
			       w / (cw > 0 ? cw : 1), ideal / (cc > 0 ? cc : 1)
			printf "%-23s peak-rss=%dKB peak-rss-anon=%dKB " \
			       "peak-live-pages=%d rss/live-page=%.0fB " \
			       "anon-rss/live-page=%.0fB page-state/live-page=%sB " \
			       "load=%s\n", "", m, an, l,
			       l ? m * 1024 / l : 0, l ? an * 1024 / l : 0, st,
			       ld }'
	done
done
