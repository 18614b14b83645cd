# tests/diff/lib.sh - shell functions shared by run-diff and minimize
# (sourced, not run).  Each takes the directory of the programs it runs.

CONSUMERS="basic basic-named per-process per-thread"
# Extra run-merger options for per-process and per-thread (run-diff sets
# "-o buffer=1K" on some seeds, so that their references spill to disk).
PERFILE_OPTS=

# The gone-dump test consumer (tests/merger/gone-dump.c, built as
# build/tests/gone-dump.so): when set, every merge also runs it, and its
# pages_gone lines (MERGEDIR/m/gone.txt) must equal the oracle's gone.txt;
# empty: gone.txt is not compared.
GONE_SO=${DIFF_GONE_SO:-}

# The 15 summary lines every merge prints (SEMANTICS.md, lead's order).
SUMMARY_NAMES='references|vm-reads|vm-writes|fs-reads|fs-writes|processes|tasks|canonical-pages|anon-pages|file-pages|cow-copies|unmapped|implicit-tasks|lost-kernel-events|lost-references'

# merge_one BINDIR SCENARIO OUTDIR [DUMP]
# kvt-as, then kvt-dump (must give DUMP back byte for byte; by default the
# scenario itself, which kvt-scengen writes in canonical form), then
# run-merger --text once per consumer into OUTDIR (OUTDIR/CONSUMER.err keeps each summary).  Prints
# what went wrong and returns 1 on a failure (a round trip that differs
# does not stop the merges).
merge_one() {
	local bin=$1 scen=$2 out=$3 dump=${4:-$2} c dst st rc=0 opts
	mkdir -p "$out"
	if ! "$bin/kvt-as" "$scen" "$out/k.kvt" "$out/r.kvt" 2>"$out/as.err"; then
		echo "kvt-as rejects the scenario: $(head -n 1 "$out/as.err")"
		return 1
	fi
	if ! "$bin/kvt-dump" "$out/k.kvt" "$out/r.kvt" >"$out/dump.txt" \
	    2>"$out/dump.err"; then
		echo "kvt-dump fails: $(head -n 1 "$out/dump.err")"
		return 1
	fi
	if ! cmp -s "$out/dump.txt" "$dump"; then
		echo "kvt-dump does not give $dump back:"
		diff "$dump" "$out/dump.txt" | head -n 4 | sed 's/^/  /'
		rc=1
	fi
	mkdir -p "$out/m"
	for c in $CONSUMERS; do
		case $c in
		basic*) dst=$out/m/$c.txt opts= ;;
		*) dst=$out/m/$c opts=$PERFILE_OPTS ;;
		esac
		# shellcheck disable=SC2086
		"$bin/run-merger" --threads 1 --text -q $opts "$c" auto "$out/r.kvt" \
			"$out/k.kvt" "$dst" 2>"$out/$c.err"
		st=$?
		if [ $st -ne 0 ]; then
			echo "run-merger $c exits $st: $(grep -v ': [0-9.]*$' \
				"$out/$c.err" | head -n 3)"
			return 1
		fi
	done
	if [ -n "$GONE_SO" ]; then
		"$bin/run-merger" --threads 1 -q "$GONE_SO" auto "$out/r.kvt" \
			"$out/k.kvt" "$out/gone-dump.txt" 2>"$out/gone.err"
		st=$?
		if [ $st -ne 0 ]; then
			echo "run-merger $GONE_SO exits $st: $(head -n 3 \
				"$out/gone.err")"
			return 1
		fi
		grep '^G ' "$out/gone-dump.txt" >"$out/m/gone.txt"
	fi
	return $rc
}

# compare ORACLEDIR MERGEDIR
# MERGEDIR is merge_one's OUTDIR.  Prints the first difference and returns
# 1 if the merger's outputs or summaries differ from the oracle's.
compare() {
	local o=$1 m=$2 c miss x=
	[ -n "$GONE_SO" ] || x="-x gone.txt"
	# shellcheck disable=SC2086
	if ! diff -r -x summary.txt -x dump.txt $x "$o" "$m/m" \
	    >"$m/diff.txt" 2>&1; then
		echo "outputs differ (first lines of diff -r ORACLE MERGER):"
		head -n 6 "$m/diff.txt" | sed 's/^/  /'
		return 1
	fi
	for c in $CONSUMERS; do
		miss=$(grep -Fxv -f "$m/$c.err" "$o/summary.txt")
		if [ -n "$miss" ]; then
			echo "summary of run-merger $c lacks (oracle's lines):"
			echo "$miss" | head -n 4 | sed 's/^/  /'
			echo "  merger says: $(grep -E "^($SUMMARY_NAMES): " \
				"$m/$c.err" | tr '\n' ' ')"
			return 1
		fi
	done
	return 0
}

# keep_failure DEST SCENARIO ORACLEDIR MERGEDIR WHY: what a mismatch leaves
# for a look: DEST/scenario.kvt, DEST/oracle/, DEST/merger/ (those that
# exist) and DEST/report.txt (WHY).
keep_failure() {
	rm -rf "$1"
	mkdir -p "$1"
	cp "$2" "$1/scenario.kvt"
	[ -d "$3" ] && cp -r "$3" "$1/oracle"
	[ -d "$4" ] && cp -r "$4" "$1/merger"
	printf '%s\n' "$5" >"$1/report.txt"
}

# check_one BINDIR SCENARIO WORKDIR: oracle + merger + compare.
check_one() {
	local bin=$1 scen=$2 w=$3
	rm -rf "$w"
	mkdir -p "$w"
	if ! "$bin/kvt-oracle" "$scen" "$w/oracle" 2>"$w/oracle.err"; then
		echo "kvt-oracle fails: $(head -n 1 "$w/oracle.err")"
		return 1
	fi
	check_merge "$bin" "$scen" "$w/oracle" "$w/merger"
}

# check_merge BINDIR SCENARIO EXPECTDIR WORKDIR: merger + compare against
# outputs made already (the oracle's, or a scenario's NAME.expect, whose
# dump.txt is then the round trip's reference).
check_merge() {
	local rc=0 dump=$2
	[ -f "$3/dump.txt" ] && dump=$3/dump.txt
	merge_one "$1" "$2" "$4" "$dump" || rc=1
	[ -d "$4/m" ] || return 1
	compare "$3" "$4" || rc=1
	return $rc
}
