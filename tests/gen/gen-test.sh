#!/usr/bin/env bash
# gen-test.sh BINDIR TEST [READBENCH]: one test of kvt-gen (see build.mk).
# BINDIR holds kvt-gen, kvt-dump, kvt-as (and run-merger for "merge");
# READBENCH is bench/formats/readbench, for the test "readbench".
# Exit 0 when the test passes; on failure the last lines say why.
set -u
bin=$1 test=$2 readbench=${3:-}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvt-gen-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

fail() {
	echo "FAIL: $*"
	exit 1
}

# A small trace with every kind of event: short bursts, many processes.
SMALL=(--refs 200k --procs 40 --burst 64)

# gen NAME ARGS...: writes $tmp/NAME.k and $tmp/NAME.r
gen() {
	local name=$1
	shift
	"$bin/kvt-gen" "$@" "$tmp/$name.k" "$tmp/$name.r" ||
		fail "kvt-gen $* exited $?"
}

dump() {
	"$bin/kvt-dump" "$tmp/$1.k" "$tmp/$1.r" >"$tmp/$1.txt" ||
		fail "kvt-dump of $1 exited $?"
}

case $test in
determinism)
	gen a --seed 7 "${SMALL[@]}" --compress zstd
	gen b --seed 7 "${SMALL[@]}" --compress zstd
	gen c --seed 8 "${SMALL[@]}" --compress zstd
	dump a
	dump b
	dump c
	cmp -s "$tmp/a.txt" "$tmp/b.txt" || fail "seed 7 twice: dumps differ"
	cmp -s "$tmp/a.k" "$tmp/b.k" && cmp -s "$tmp/a.r" "$tmp/b.r" ||
		fail "seed 7 twice: files differ"
	cmp -s "$tmp/a.txt" "$tmp/c.txt" && fail "seeds 7 and 8: same dump"
	# --text writes what kvt-dump prints of the binary pair
	"$bin/kvt-gen" -q --text --seed 7 "${SMALL[@]}" >"$tmp/t.txt" ||
		fail "kvt-gen --text exited $?"
	cmp -s "$tmp/a.txt" "$tmp/t.txt" || fail "--text differs from kvt-dump"
	# the trace id follows the options
	"$bin/kvt-dump" --header "$tmp/a.k" | grep '^trace-id' >"$tmp/ida"
	"$bin/kvt-dump" --header "$tmp/c.k" | grep '^trace-id' >"$tmp/idc"
	cmp -s "$tmp/ida" "$tmp/idc" && fail "seeds 7 and 8: same trace id"
	echo "ok: $(wc -l <"$tmp/a.txt") lines, identical for one seed"
	;;
shape)
	gen s --seed 3 "${SMALL[@]}" --compress zstd
	dump s
	awk -v want_refs=200000 -v want_procs=40 -f tests/gen/shape.awk \
		"$tmp/s.txt" || fail "shape"
	;;
roundtrip)
	gen s --seed 5 "${SMALL[@]}" --compress gzip-blocks
	dump s
	"$bin/kvt-as" "$tmp/s.txt" "$tmp/as.k" "$tmp/as.r" ||
		fail "kvt-as of the dump exited $?"
	dump as
	cmp -s "$tmp/s.txt" "$tmp/as.txt" ||
		fail "kvt-as then kvt-dump does not reproduce the dump"
	echo "ok: $(wc -l <"$tmp/s.txt") lines reproduced"
	;;
codecs)
	"$bin/kvt-gen" -q --text --seed 11 "${SMALL[@]}" >"$tmp/t.txt" ||
		fail "kvt-gen --text exited $?"
	for c in none gzip gzip-blocks zstd; do
		ths="1 3"
		case $c in none | gzip) ths=1 ;; esac
		for th in $ths; do
			gen "$c$th" --seed 11 "${SMALL[@]}" --compress $c \
				--threads $th --block-records 5000
			dump "$c$th"
			cmp -s "$tmp/t.txt" "$tmp/$c$th.txt" ||
				fail "$c, $th threads: dump differs from --text"
		done
		"$bin/kvt-dump" --header "$tmp/${c}1.r" |
			grep -qx "codec: $c" || fail "$c: header names another codec"
		echo "ok: $c $(stat -c %s "$tmp/${c}1.r") bytes"
	done
	;;
merge)
	# the merger accepts the trace: only task 1 is implicit, few
	# references to unmapped pages, copy-on-write happens, all tasks end
	gen m --seed 9 --refs 400k --procs 60 --burst 128 --compress zstd
	"$bin/run-merger" basic auto "$tmp/m.r" "$tmp/m.k" "$tmp/m.out" \
		2>"$tmp/sum" || { cat "$tmp/sum"; fail "run-merger exited"; }
	cat "$tmp/sum"
	awk -F': ' '{ v[$1] = $2 }
	END {
		bad = 0
		if (v["references"] != 400000) { print "references"; bad = 1 }
		if (v["implicit-tasks"] != 1) { print "implicit"; bad = 1 }
		if (v["processes"] < 60) { print "processes"; bad = 1 }
		if (v["unmapped"] > 400) { print "unmapped"; bad = 1 }
		if (v["cow-copies"] < 100) { print "cow-copies"; bad = 1 }
		if (v["file-pages"] < 100) { print "file-pages"; bad = 1 }
		if ("live-tasks-at-end" in v && v["live-tasks-at-end"] != 0) {
			print "live tasks at end"; bad = 1
		}
		exit bad
	}' "$tmp/sum" || fail "merger summary out of shape"
	;;
pid-reuse)
	# pids wrap at --pid-max: a later process gets an earlier one's pid
	"$bin/kvt-gen" -q --text --seed 2 --refs 100k --procs 300 \
		--burst 64 --pid-max 400 >"$tmp/t.txt" || fail "kvt-gen exited $?"
	awk '$1 == "clone" {
		split($3, c, "="); if (seen[c[2]]++) reused++
	}
	END { print reused + 0, "pids reused"; exit !(reused > 0) }' \
		"$tmp/t.txt" || fail "no pid reused"
	awk -f tests/gen/shape.awk -v want_refs=100000 -v want_procs=300 \
		-v lifecycle_only=1 "$tmp/t.txt" || fail "lifecycle"
	;;
usage)
	"$bin/kvt-gen" --refs 10x a b 2>"$tmp/e"
	[ $? -eq 2 ] || fail "bad --refs: want exit 2"
	grep -q -- "--refs" "$tmp/e" || fail "bad --refs: message"
	"$bin/kvt-gen" --compress lz4 a b 2>"$tmp/e"
	[ $? -eq 2 ] || fail "bad --compress: want exit 2"
	grep -q "lz4" "$tmp/e" || fail "bad --compress: message"
	"$bin/kvt-gen" "$tmp/only-one" 2>/dev/null
	[ $? -eq 2 ] || fail "one file: want exit 2"
	"$bin/kvt-gen" --refs 1000 "$tmp/no/such/dir/k" "$tmp/r" 2>"$tmp/e"
	[ $? -eq 1 ] || fail "unwritable output: want exit 1"
	grep -q "no/such/dir" "$tmp/e" || fail "unwritable output: message"
	"$bin/kvt-gen" --text --refs 1000 "$tmp/no/such/t" 2>"$tmp/e"
	[ $? -eq 1 ] || fail "unwritable text output: want exit 1"
	"$bin/kvt-gen" --help | grep -q -- "--procs" || fail "--help"
	# an empty reference stream is still a valid trace
	gen z --refs 0 --procs 3
	dump z
	grep -q '^exit tid=1$\|^exit tid=1 ' "$tmp/z.txt" || fail "refs 0"
	echo ok
	;;
readbench)
	"$bin/kvt-gen" -q --text --seed 4 "${SMALL[@]}" >"$tmp/t.txt" ||
		fail "kvt-gen --text exited $?"
	nr=$(grep -c '^\(read\|write\|fsread\|fswrite\) ' "$tmp/t.txt")
	nk=$(($(wc -l <"$tmp/t.txt") - nr))
	for c in none gzip gzip-blocks zstd; do
		gen $c --seed 4 "${SMALL[@]}" --compress $c
		for th in 1 2; do
			"$readbench" --threads $th --repeat 2 "$tmp/$c.r" \
				"$tmp/$c.k" >"$tmp/rb" || fail "readbench exited $?"
			cat "$tmp/rb"
			grep -q "^file=$tmp/$c.r codec=$c threads=$th records=$nr " \
				"$tmp/rb" || fail "$c: reference records"
			grep -q "^file=$tmp/$c.k codec=$c threads=$th records=$nk " \
				"$tmp/rb" || fail "$c: kernel records"
		done
	done
	# a file cut short is an error
	head -c 100000 "$tmp/zstd.r" >"$tmp/cut.r"
	"$readbench" "$tmp/cut.r" 2>"$tmp/e" && fail "cut file: exit 0"
	grep -q "cut" "$tmp/e" || fail "cut file: message"
	"$readbench" --threads x "$tmp/cut.r" 2>/dev/null
	[ $? -eq 2 ] || fail "bad --threads: want exit 2"
	echo ok
	;;
*)
	fail "unknown test $test"
	;;
esac
