#!/usr/bin/env bash
# bad-input.sh BINDIR MKBAD DATA_DIR (tests/data: fork-cow.kvt, threads.kvt)
# run-merger on bad input and bad usage: the documented exit status and a
# one-line message naming the problem, never a crash.
set -u
bin=$1 mkbad=$2 sc=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
rm_=$bin/run-merger

# expect STATUS REGEX CMD...: exit status STATUS, stderr matching REGEX.
expect() {
	local want=$1 re=$2
	shift 2
	"$@" >"$tmp/out" 2>"$tmp/err"
	local st=$?
	if [ $st -ne "$want" ] || ! grep -Eq -- "$re" "$tmp/err"; then
		echo "FAIL: $* -> exit $st (want $want), stderr:"
		sed 's/^/    /' "$tmp/err" | head -10
		echo "    (wanted a line matching: $re)"
		fails=$((fails + 1))
	else
		echo "ok: $* -> $st"
	fi
}

"$bin/kvt-as" "$sc/fork-cow.kvt" "$tmp/k" "$tmp/r" || exit 1
"$bin/kvt-as" "$sc/threads.kvt" "$tmp/k2" "$tmp/r2" || exit 1

# usage: exit 2
expect 2 'want 5 arguments' $rm_ basic auto "$tmp/r" "$tmp/k"
expect 2 "unknown consumer 'nosuch'" $rm_ nosuch auto "$tmp/r" "$tmp/k" "$tmp/o"
# codec levels and threads are checked before the merge starts (per-process
# opens its first file in the middle of it), whole values not cut to an int
expect 2 "level=10: gzip-blocks takes 1 to 9" $rm_ -o level=10 per-process auto "$tmp/r" "$tmp/k" "$tmp/lv"
[ -e "$tmp/lv" ] && { echo "FAIL: a bad level left $tmp/lv behind"; fails=$((fails + 1)); }
expect 2 "level=99999999999: zstd takes 1 to" $rm_ -o compress=zstd -o level=99999999999 basic auto "$tmp/r" "$tmp/k" "$tmp/o"
expect 2 "threads=99999999999: want 0" $rm_ -o threads=99999999999 per-thread auto "$tmp/r" "$tmp/k" "$tmp/lv"
expect 2 "cannot load consumer" $rm_ ./nosuch.so auto "$tmp/r" "$tmp/k" "$tmp/o"
expect 2 "has no option 'colour'" $rm_ -o colour=red basic auto "$tmp/r" "$tmp/k" "$tmp/o"
expect 2 "not a SIZE" $rm_ -o buffer=lots per-process auto "$tmp/r" "$tmp/k" "$tmp/o"
expect 2 "want KEY=VALUE" $rm_ -o compress basic auto "$tmp/r" "$tmp/k" "$tmp/o"
expect 2 "not a codec" $rm_ -o compress=lzma basic auto "$tmp/r" "$tmp/k" "$tmp/o"
expect 2 "VERSION 'x1'" $rm_ basic x1 "$tmp/r" "$tmp/k" "$tmp/o"
# OUT - for per-process and per-thread: a tar on standard output, the
# same entries as the directory
for type in per-process per-thread; do
	$rm_ -q --text $type auto "$tmp/r" "$tmp/k" - >"$tmp/o.tar" 2>"$tmp/err" &&
		$rm_ -q --text $type auto "$tmp/r" "$tmp/k" "$tmp/odir" 2>>"$tmp/err" &&
		mkdir -p "$tmp/otar" && tar -xf "$tmp/o.tar" -C "$tmp/otar" &&
		diff -r "$tmp/odir" "$tmp/otar" >/dev/null ||
		{ echo "FAIL: $type to standard output:"; cat "$tmp/err"; fails=$((fails + 1)); }
	rm -rf "$tmp/odir" "$tmp/otar" "$tmp/o.tar"
done
expect 2 "usage:" $rm_ --bogus basic auto "$tmp/r" "$tmp/k" "$tmp/o"
expect 2 "--threads abc: want a whole number from 1 to 64" $rm_ --threads abc basic auto "$tmp/r" "$tmp/k" "$tmp/o"
expect 2 "--threads 0: want" $rm_ --threads 0 basic auto "$tmp/r" "$tmp/k" "$tmp/o"
expect 2 "--max-warnings 5x: want" $rm_ --max-warnings 5x basic auto "$tmp/r" "$tmp/k" "$tmp/o"
expect 2 "--max-warnings -1: want" $rm_ --max-warnings -1 basic auto "$tmp/r" "$tmp/k" "$tmp/o"
expect 2 "--helper-nice 20: want a whole number from 0 to 19" $rm_ --helper-nice 20 basic auto "$tmp/r" "$tmp/k" "$tmp/o"
expect 0 "^references: " $rm_ --threads 2 --max-warnings 0 --helper-nice 0 basic auto "$tmp/r" "$tmp/k" "$tmp/o"

# I/O: exit 3
expect 3 "nosuchfile" $rm_ basic auto "$tmp/nosuchfile" "$tmp/k" "$tmp/o"
expect 3 "$tmp/nodir/o" $rm_ basic auto "$tmp/r" "$tmp/k" "$tmp/nodir/o"
expect 3 "$tmp/nodir/o" $rm_ --text basic auto "$tmp/r" "$tmp/k" "$tmp/nodir/o"
expect 3 "$tmp/nodir/o" $rm_ per-process auto "$tmp/r" "$tmp/k" "$tmp/nodir/o"
expect 3 "$tmp/nodir/o.tar.gz" $rm_ per-thread auto "$tmp/r" "$tmp/k" "$tmp/nodir/o.tar.gz"
touch "$tmp/plainfile"
expect 3 "is not a directory" $rm_ per-process auto "$tmp/r" "$tmp/k" "$tmp/plainfile"

# bad input: exit 1
echo "not a trace at all, just some text" >"$tmp/text"
expect 1 "$tmp/text" $rm_ basic auto "$tmp/text" "$tmp/k" "$tmp/o"
expect 1 "." $rm_ basic auto "$tmp/r2" "$tmp/k" "$tmp/o"	# two recordings
expect 1 "given in the wrong order" $rm_ basic auto "$tmp/k" "$tmp/r" "$tmp/o"	# swapped
expect 1 "expected a reference stream, found a kernel" $rm_ basic auto "$tmp/k" "$tmp/k" "$tmp/o"
expect 3 "is a directory" $rm_ basic auto "$tmp" "$tmp/k" "$tmp/o"
expect 1 "/dev/null: cut short at byte 0 inside the header" $rm_ basic auto /dev/null "$tmp/k" "$tmp/o"
expect 1 "VERSION 9 given" $rm_ basic 9 "$tmp/r" "$tmp/k" "$tmp/o"
"$mkbad" order "$tmp/ko" "$tmp/ro" || exit 1
expect 1 "." $rm_ basic auto "$tmp/ro" "$tmp/ko" "$tmp/o"
# a flipped byte in the middle of the kernel stream
cp "$tmp/k" "$tmp/kc"
size=$(stat -c %s "$tmp/kc")
printf '\xff\x00\xff' | dd of="$tmp/kc" bs=1 seek=$((size / 2)) conv=notrunc status=none
"$rm_" -q basic auto "$tmp/r" "$tmp/kc" "$tmp/o" >/dev/null 2>"$tmp/err"
st=$?
if [ $st -ne 1 ] && [ $st -ne 4 ]; then
	echo "FAIL: corrupt kernel stream -> exit $st (want 1, or 4 if read as cut)"
	cat "$tmp/err"
	fails=$((fails + 1))
else
	echo "ok: corrupt kernel stream -> $st"
fi

# a flipped byte in the middle of a big reference stream: the records
# before the damaged block are merged and finished, and the summary says
# that the merge stopped there
"$bin/kvt-gen" --seed 1 --refs 300K --procs 3 "$tmp/kd" "$tmp/rd" 2>/dev/null || exit 1
size=$(stat -c %s "$tmp/rd")
printf '\xff\x00\xff' | dd of="$tmp/rd" bs=1 seek=$((size / 2)) conv=notrunc status=none
expect 1 "^note: the merge stopped at the input error above: the output and this summary hold what the [1-9][0-9]* input records before it made" \
	$rm_ --text basic auto "$tmp/rd" "$tmp/kd" "$tmp/o"
n=$(sed -n 's/^references: //p' "$tmp/err")
[ -n "$n" ] && [ "$n" -gt 0 ] && [ "$(wc -l <"$tmp/o")" -eq "$n" ] ||
	{ echo "FAIL: after the input error, want the summary's $n references in the output, got $(wc -l <"$tmp/o")"; fails=$((fails + 1)); }

# a reference numbered 2^64 - 1, after the kernel stream ended: merged, not
# taken for the end of the input
"$mkbad" seqmax "$tmp/ks" "$tmp/rs" || exit 1
expect 0 "^references: 2$" $rm_ --text basic auto "$tmp/rs" "$tmp/ks" "$tmp/o"
[ "$(tr '\n' ' ' <"$tmp/o")" = "R 0 R 0 " ] ||
	{ echo "FAIL: seqmax: want R 0, R 0, got:"; cat "$tmp/o"; fails=$((fails + 1)); }
# sequence numbers that wrap round past 2^64 - 1 inside a block (right
# checksums): corrupt, whichever path of the decoder reads them
"$mkbad" seqwrap "$tmp/kw" "$tmp/rw" || exit 1
expect 1 "offset 256: block record 2: sequence number 0 after 18446744073709551615" \
	$rm_ basic auto "$tmp/rw" "$tmp/kw" "$tmp/o"

# a record of a type this version does not know: skipped, counted, said
"$mkbad" unknown "$tmp/ku" "$tmp/ru" || exit 1
expect 0 "^skipped-records: 1$" $rm_ --text basic auto "$tmp/ru" "$tmp/ku" "$tmp/o"
expect 0 "ru: 1 records of types this version does not know were skipped" \
	$rm_ --text basic auto "$tmp/ru" "$tmp/ku" "$tmp/o"
[ "$(tr '\n' ' ' <"$tmp/o")" = "R 0 R 0 " ] ||
	{ echo "FAIL: unknown: want R 0, R 0, got:"; cat "$tmp/o"; fails=$((fails + 1)); }
expect 0 "^skipped-records: 0$" $rm_ --text basic auto "$tmp/rs" "$tmp/ks" "$tmp/o"
if [ -x "$bin/kvt-dump" ]; then
	expect 0 "ru: 1 records of types this version does not know" \
		"$bin/kvt-dump" "$tmp/ku" "$tmp/ru"
	[ "$("$bin/kvt-dump" --stats "$tmp/ru" 2>/dev/null | grep skipped)" = \
	  "records-skipped: 1" ] ||
		{ echo "FAIL: kvt-dump --stats: want records-skipped: 1"; fails=$((fails + 1)); }
fi

# standard output that cannot be written: an I/O error, said
expect 3 "standard output: No space left" sh -c "$rm_ --list >/dev/full"
expect 3 "No space left" sh -c "$rm_ -q basic auto $tmp/r $tmp/k - >/dev/full"
# a consumer that fails in the middle of the merge: the summary still
# says what was merged up to it
"$bin/kvt-gen" --seed 1 --refs 300K --procs 3 "$tmp/kf" "$tmp/rf" 2>/dev/null || exit 1
expect 3 "^note: the merge stopped at the consumer's error" \
	sh -c "$rm_ --text basic auto $tmp/rf $tmp/kf - >/dev/full"
grep -Eq "^references: [1-9]" "$tmp/err" ||
	{ echo "FAIL: no summary after the consumer's error"; fails=$((fails + 1)); }
if [ -x "$bin/kvt-dump" ]; then
	expect 3 "standard output: No space left" sh -c "$bin/kvt-dump --stats $tmp/r >/dev/full"
	expect 3 "standard output: No space left" sh -c "$bin/kvt-dump --header $tmp/k $tmp/r >/dev/full"
fi

# records that cannot be applied: counted warnings, exit 0
"$mkbad" misaligned "$tmp/km" "$tmp/rm" || exit 1
expect 0 "^warnings: 1$" $rm_ --text basic auto "$tmp/rm" "$tmp/km" "$tmp/o"
grep -q "not a multiple of the page size" "$tmp/err" ||
	{ echo "FAIL: no message for the misaligned mmap"; fails=$((fails + 1)); }
"$mkbad" huge "$tmp/kh" "$tmp/rh" || exit 1
expect 0 "^warnings: 2$" $rm_ --text basic auto "$tmp/rh" "$tmp/kh" "$tmp/o"
[ "$(tr '\n' ' ' <"$tmp/o")" = "R 0 R 1 " ] ||
	{ echo "FAIL: huge: want R 0, R 1, got:"; cat "$tmp/o"; fails=$((fails + 1)); }
grep -q "beyond 2^63, where no Linux user space is (resolved as any other)" "$tmp/err" &&
grep -q "ends past 2^64: record ignored" "$tmp/err" ||
	{ echo "FAIL: huge: the warnings:"; cat "$tmp/err"; fails=$((fails + 1)); }

# a stream cut short: merged up to its last complete block, exit 4
if [ -x "$bin/kvt-gen" ]; then
	"$bin/kvt-gen" --seed 3 --refs 200000 --procs 4 "$tmp/kg" "$tmp/rg" >/dev/null 2>&1
	size=$(stat -c %s "$tmp/rg")
	head -c $((size * 2 / 3)) "$tmp/rg" >"$tmp/rg.cut"
	expect 4 "^truncated: " $rm_ --text basic auto "$tmp/rg.cut" "$tmp/kg" "$tmp/o"
	refs=$(grep '^references: ' "$tmp/err" | cut -d' ' -f2)
	lines=$(wc -l <"$tmp/o")
	[ "$refs" = "$lines" ] && [ "$refs" -gt 0 ] ||
		{ echo "FAIL: cut stream: $refs references, $lines lines"; fails=$((fails + 1)); }
	# a block length that runs past the end block (byte 2 of the first
	# block's length, in a raw stream) is corrupt input, not a cut
	"$bin/kvt-gen" --seed 3 --refs 2000 --procs 2 --compress none \
		"$tmp/kn" "$tmp/rn" >/dev/null 2>&1
	printf '\x10' | dd of="$tmp/kn" bs=1 seek=262 conv=notrunc status=none
	expect 1 "offset 256: block payload length [0-9]+ runs past the end block at offset [0-9]+: a corrupt length" \
		$rm_ basic auto "$tmp/rn" "$tmp/kn" "$tmp/o"
fi

echo "$fails failures"
[ $fails -eq 0 ]
