#!/usr/bin/env bash
# cli.sh BINDIR DATA_DIR (tests/data: threads.kvt, remap.kvt)
# kvt-as and kvt-dump on bad input and bad usage: exit statuses
# (formats/README.md), one-line messages that name the file and the place,
# nothing written on error.
set -u
bin=$1 scen=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

# expect STATUS PATTERN CMD...: exit status and a stderr line matching
expect() {
	local want=$1 pat=$2 st
	shift 2
	"$@" >"$tmp/stdout" 2>"$tmp/stderr"
	st=$?
	if [ $st -ne "$want" ]; then
		echo "FAIL: $* exited $st, want $want"; cat "$tmp/stderr"; fail=1
		return
	fi
	if [ -n "$pat" ] && ! grep -qE -- "$pat" "$tmp/stderr"; then
		echo "FAIL: $*: stderr lacks /$pat/:"; cat "$tmp/stderr"; fail=1
		return
	fi
	if [ "$(wc -l <"$tmp/stderr")" -gt 1 ]; then
		echo "FAIL: $*: more than one line on stderr:"; cat "$tmp/stderr"; fail=1
		return
	fi
	echo "ok: $*"
}

ok=$scen/threads.kvt

# kvt-as: usage, I/O, parse errors; nothing written
expect 2 "usage|arguments" "$bin/kvt-as"
expect 2 "usage|arguments" "$bin/kvt-as" a b
expect 2 "bad option or missing value in '--frob'" "$bin/kvt-as" --frob "$ok" a b
expect 2 "bad option or missing value in '--threads'" "$bin/kvt-dump" --threads
expect 2 "unknown codec 'lz4'" "$bin/kvt-as" --compress lz4 "$ok" "$tmp/k" "$tmp/r"
expect 2 "--level abc: want a level" "$bin/kvt-as" --level abc "$ok" "$tmp/k" "$tmp/r"
expect 2 "compression level 10: gzip takes 1 to 9" "$bin/kvt-as" --compress gzip --level 10 "$ok" "$tmp/k" "$tmp/r"
expect 2 "compression level 99: zstd takes 1 to [0-9]+" "$bin/kvt-as" --compress zstd --level 99 "$ok" "$tmp/k" "$tmp/r"
expect 2 "--threads 1000: want -1 \(none\) to 64" "$bin/kvt-as" --threads 1000 "$ok" "$tmp/k" "$tmp/r"
expect 2 "--block-records 0: want 1 to" "$bin/kvt-as" --block-records 0 "$ok" "$tmp/k" "$tmp/r"
expect 2 "--block-records 12x: want 1 to" "$bin/kvt-as" --block-records 12x "$ok" "$tmp/k" "$tmp/r"
expect 3 "nope.kvt: cannot open" "$bin/kvt-as" "$tmp/nope.kvt" "$tmp/k" "$tmp/r"
{ cat "$ok"; echo "read tid=1 addr=0x1000 colour=blue"; } >"$tmp/bad.kvt"
n=$(wc -l <"$tmp/bad.kvt")
expect 1 "bad.kvt:$n: read: unknown key colour=" "$bin/kvt-as" "$tmp/bad.kvt" "$tmp/k" "$tmp/r"
[ -e "$tmp/k" ] || [ -e "$tmp/r" ] && { echo "FAIL: kvt-as left output after a parse error"; fail=1; }
printf 'clone parent=1 child=2 flags=-\nmmap tid=2 addr=0x1001 len=0x1000 prot=rw- flags=private anon\n' >"$tmp/bad2.kvt"
expect 1 "bad2.kvt:2: mmap: addr=0x1001 is not a multiple of the page size" "$bin/kvt-as" "$tmp/bad2.kvt" "$tmp/k" "$tmp/r"
# a range may end at 2^64 exactly, not pass it
printf 'munmap tid=2 addr=0xfffffffffffff000 len=0x1000\nmunmap tid=2 addr=0xfffffffffffff000 len=0x2000\n' >"$tmp/top.kvt"
expect 1 "top.kvt:2: munmap: addr [+] len passes 2.64" "$bin/kvt-as" "$tmp/top.kvt" "$tmp/k" "$tmp/r"
expect 3 "cannot create" "$bin/kvt-as" "$ok" "$tmp/k" "$tmp/nodir/r"
[ -e "$tmp/k" ] && { echo "FAIL: kvt-as left a partial KTRACE behind"; fail=1; }
# a NUL byte; a '\' that ends a quoted value's line, and an unknown escape
# of a control byte: one line on stderr each (the byte is not echoed)
printf 'exit tid=1\nexit tid=1\0 x\n' >"$tmp/nul.kvt"
expect 1 "nul.kvt:2: NUL byte in the line" "$bin/kvt-as" "$tmp/nul.kvt" "$tmp/k" "$tmp/r"
printf 'exit tid=1\nmark text="abc\\\nexit tid=1\n' >"$tmp/bs.kvt"
expect 1 "bs.kvt:2: unterminated quoted value of text" "$bin/kvt-as" "$tmp/bs.kvt" "$tmp/k" "$tmp/r"
printf 'mark text="abc\\\r\n' >"$tmp/bscr.kvt"
expect 1 "bscr.kvt:1: unterminated quoted value of text" "$bin/kvt-as" "$tmp/bscr.kvt" "$tmp/k" "$tmp/r"
printf 'mark text="a\\\tb"\n' >"$tmp/esc.kvt"
expect 1 "esc.kvt:1: unknown escape .* byte 0x09 in the value of text" "$bin/kvt-as" "$tmp/esc.kvt" "$tmp/k" "$tmp/r"
# a byte-order mark or a carriage return inside a line: named, not echoed
printf '\xef\xbb\xbfclone parent=1 child=2 flags=-\n' >"$tmp/bom.kvt"
expect 1 "bom.kvt:1: unknown event '\\\\xef\\\\xbb\\\\xbfclone'" "$bin/kvt-as" "$tmp/bom.kvt" "$tmp/k" "$tmp/r"
printf 'exit tid=1\r # c\r\n' >"$tmp/cr.kvt"
expect 1 "cr.kvt:1: exit: tid: malformed number '1\\\\x0d'" "$bin/kvt-as" "$tmp/cr.kvt" "$tmp/k" "$tmp/r"
[ -e "$tmp/k" ] || [ -e "$tmp/r" ] && { echo "FAIL: kvt-as left output after a parse error"; fail=1; }
# CRLF line endings, no newline at the end, an empty file, comments only
printf 'clone parent=1 child=2 flags=- # c\r\n\r\n# x\r\nread tid=2 addr=0x10 ts=1\r\nexit tid=2' >"$tmp/crlf.kvt"
printf 'clone parent=1 child=2 flags=-\nread tid=2 addr=0x10 ts=1\nexit tid=2\n' >"$tmp/crlf.want"
"$bin/kvt-as" "$tmp/crlf.kvt" "$tmp/k" "$tmp/r" && "$bin/kvt-dump" "$tmp/k" "$tmp/r" |
	cmp -s - "$tmp/crlf.want" || { echo "FAIL: CRLF, no final newline"; fail=1; }
for text in '' '# only a comment\n\n \t\n'; do
	printf "$text" >"$tmp/empty.kvt"
	"$bin/kvt-as" "$tmp/empty.kvt" "$tmp/k" "$tmp/r" &&
		[ -z "$("$bin/kvt-dump" "$tmp/k" "$tmp/r")" ] ||
		{ echo "FAIL: an input without records: want two empty streams"; fail=1; }
done
rm -f "$tmp/k" "$tmp/r"
# KTRACE and RTRACE one file: a usage error, nothing written
expect 2 "KTRACE and RTRACE are the same file" "$bin/kvt-as" "$ok" "$tmp/same" "$tmp/same"
[ -e "$tmp/same" ] && { echo "FAIL: kvt-as wrote one file as both streams"; fail=1; }
: >"$tmp/same"
ln "$tmp/same" "$tmp/same2"
expect 2 "KTRACE and RTRACE are the same file" "$bin/kvt-as" "$ok" "$tmp/same" "$tmp/same2"
# an output that is not a regular file (/dev/null, a FIFO) is written in
# place, not replaced by a renamed temporary file (FIFOs here: a regression
# must not replace the machine's /dev/null)
mkfifo "$tmp/fifo" "$tmp/fifo2"
expect 1 "bad.kvt:$n: read: unknown key colour=" timeout 20 "$bin/kvt-as" "$tmp/bad.kvt" "$tmp/fifo" "$tmp/fifo2"
timeout 20 cat "$tmp/fifo" >"$tmp/fifo.out" &
expect 0 "" timeout 20 "$bin/kvt-as" "$ok" "$tmp/fifo" "$tmp/r"
wait
[ -p "$tmp/fifo" ] || { echo "FAIL: kvt-as replaced a FIFO"; fail=1; }
"$bin/kvt-as" "$ok" "$tmp/k" "$tmp/r" && "$bin/kvt-dump" "$tmp/k" >"$tmp/want.k" &&
	"$bin/kvt-dump" "$tmp/fifo.out" | cmp -s - "$tmp/want.k" ||
	{ echo "FAIL: KTRACE through a FIFO reads differently"; fail=1; }
rm -f "$tmp/k" "$tmp/r"

# a good pair, a second recording, a truncated copy, garbage
"$bin/kvt-as" "$ok" "$tmp/k" "$tmp/r" || { echo "FAIL: kvt-as $ok"; fail=1; }
"$bin/kvt-as" "$ok" "$tmp/k2" "$tmp/r2" || fail=1
"$bin/kvt-as" --compress none --block-records 2 "$ok" "$tmp/kn" "$tmp/rn" || fail=1
head -c 333 "$tmp/rn" >"$tmp/rcut"
echo "not a trace at all" >"$tmp/garbage"

expect 0 "" "$bin/kvt-dump" "$tmp/k" "$tmp/r"
expect 2 "usage|arguments" "$bin/kvt-dump"
expect 2 "usage|arguments" "$bin/kvt-dump" a b c
expect 2 "--threads 0: want 1 to 64" "$bin/kvt-dump" --threads 0 "$tmp/k"
expect 2 "--threads x: want 1 to 64" "$bin/kvt-dump" --threads x "$tmp/k"
expect 3 "missing: cannot open" "$bin/kvt-dump" "$tmp/missing"
expect 1 "garbage: offset 0: expected a kvmtrace stream" "$bin/kvt-dump" "$tmp/garbage"
expect 1 "not of one recording" "$bin/kvt-dump" "$tmp/k" "$tmp/r2"
expect 1 "expected a kernel-event stream, found a refs stream" "$bin/kvt-dump" "$tmp/r" "$tmp/k"
expect 4 "rcut: cut short at byte 333 inside the block at offset [0-9]+: 2 of its records lost" "$bin/kvt-dump" "$tmp/kn" "$tmp/rcut"
# everything complete was printed before the warning
"$bin/kvt-dump" "$tmp/rcut" >"$tmp/partial" 2>/dev/null
[ -s "$tmp/partial" ] || { echo "FAIL: nothing printed from a cut stream"; fail=1; }
head -c 100 "$tmp/rn" >"$tmp/rhdr"
expect 4 "cut short at byte 100 inside the header" "$bin/kvt-dump" "$tmp/rhdr"
# a flipped byte in a block
cp "$tmp/rn" "$tmp/rflip"
printf '\xff' | dd of="$tmp/rflip" bs=1 seek=300 conv=notrunc 2>/dev/null
expect 1 "rflip: offset [0-9]+: block checksum mismatch" "$bin/kvt-dump" "$tmp/rflip"
# --header names every field
"$bin/kvt-dump" --header "$tmp/k" "$tmp/r" >"$tmp/hdr" || fail=1
for f in file version stream codec page-size trace-id created kernel-release machine ncpus collector; do
	[ "$(grep -c "^$f: " "$tmp/hdr")" -eq 2 ] || { echo "FAIL: --header lacks $f"; fail=1; }
done
grep -q "^collector: kvt-as$" "$tmp/hdr" || { echo "FAIL: collector"; fail=1; }
[ "$(grep '^trace-id' "$tmp/hdr" | sort -u | wc -l)" -eq 1 ] || { echo "FAIL: trace ids differ"; fail=1; }
# the compressed forms decompress to the raw form with the stock tools, and
# the raw form compressed by them (one gzip member, two concatenated
# members, one zstd frame) reads back the same
"$bin/kvt-dump" "$tmp/k" "$tmp/r" >"$tmp/want"
for c in gzip-blocks zstd gzip; do
	"$bin/kvt-as" --compress $c --block-records 2 "$ok" "$tmp/kc" "$tmp/rc" || fail=1
	if [ $c = zstd ]; then zstd -q -dc "$tmp/rc" >"$tmp/rraw"; else gzip -dc "$tmp/rc" >"$tmp/rraw"; fi
	[ "$(head -c 8 "$tmp/rraw" | od -An -tx1 | tr -d ' ')" = 894b56540d0a1a0a ] ||
		{ echo "FAIL: $c does not decompress to the raw form"; fail=1; }
	"$bin/kvt-dump" "$tmp/kc" "$tmp/rraw" | cmp -s - "$tmp/want" ||
		{ echo "FAIL: $c decompressed by the stock tool reads differently"; fail=1; }
done
# a unit whose size was damaged runs past the end of the file, as the last
# unit of a cut file does; but whole units follow it: corrupt, not cut
# (patch3 FILE OFFSET V: three bytes of V, little-endian, at OFFSET)
patch3() {
	printf "$(printf '\\%03o\\%03o\\%03o' $(($3 & 255)) $(($3 >> 8 & 255)) $(($3 >> 16 & 255)))" |
		dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
byte() { od -An -tu1 -j "$2" -N1 "$1" | tr -d ' '; }
for c in gzip-blocks zstd; do
	"$bin/kvt-as" --compress $c --block-records 2 "$ok" "$tmp/ku" "$tmp/ru" || fail=1
	if [ $c = gzip-blocks ]; then magic='\x1f\x8b\x08\x04'; else magic='\x28\xb5\x2f\xfd'; fi
	offs=$(LC_ALL=C grep -obUaP "$magic" "$tmp/ru" | cut -d: -f1)
	n=$(echo "$offs" | wc -l)
	[ "$n" -ge 4 ] || { echo "FAIL: $c: want 4 units or more, found $n"; fail=1; continue; }
	at=$(echo "$offs" | sed -n "$((n / 2))p")
	cp "$tmp/ru" "$tmp/rbad"
	if [ $c = gzip-blocks ]; then
		# the member size in the 'KV' field: 8 MiB more
		printf '\x7f' | dd of="$tmp/rbad" bs=1 seek=$((at + 18)) conv=notrunc status=none
	else
		# the frame's first block header: the largest block size
		fhd=$(byte "$tmp/rbad" $((at + 4)))
		fcs=$(( (fhd >> 6) == 0 ? (fhd >> 5 & 1) : 1 << (fhd >> 6) ))
		did=$(( (fhd & 3) == 3 ? 4 : fhd & 3 ))
		b=$((at + 5 + (fhd >> 5 & 1 ? 0 : 1) + did + fcs))
		v=$(( $(byte "$tmp/rbad" $b) | $(byte "$tmp/rbad" $((b + 1))) << 8 ))
		patch3 "$tmp/rbad" $b $(( (v & 7) | 0x1ffff << 3 ))
	fi
	expect 1 "rbad: offset $at: corrupt .*: it runs past the end of the file, but a whole one follows at offset [0-9]+" \
		"$bin/kvt-dump" "$tmp/ku" "$tmp/rbad"
	head -c $(( $(stat -c %s "$tmp/ru") - 20 )) "$tmp/ru" >"$tmp/rcut2"
	expect 4 "rcut2: cut short at byte [0-9]+ inside the" "$bin/kvt-dump" "$tmp/ku" "$tmp/rcut2"
done
gzip -c "$tmp/rraw" >"$tmp/r.gz"
size=$(stat -c %s "$tmp/rraw")
head -c $((size / 2)) "$tmp/rraw" | gzip -c >"$tmp/r2.gz"
tail -c +$((size / 2 + 1)) "$tmp/rraw" | gzip -c >>"$tmp/r2.gz"
zstd -q -c "$tmp/rraw" >"$tmp/r.zst"
for f in r.gz r2.gz r.zst; do
	"$bin/kvt-dump" "$tmp/kc" "$tmp/$f" | cmp -s - "$tmp/want" ||
		{ echo "FAIL: $f reads differently"; fail=1; }
done
# a closed standard output is an I/O error
"$bin/kvt-as" --compress none "$scen/remap.kvt" "$tmp/k3" "$tmp/r3"
"$bin/kvt-dump" "$tmp/k3" "$tmp/r3" >/dev/full 2>"$tmp/stderr"
st=$?
[ $st -eq 3 ] || { echo "FAIL: writing to /dev/full exited $st, want 3"; fail=1; }
# ... also for a record longer than the output buffer, printed on its own
{ printf 'mark text='; head -c 1048576 /dev/zero | tr '\0' a; echo; } >"$tmp/longmark.kvt"
"$bin/kvt-as" "$tmp/longmark.kvt" "$tmp/k4" "$tmp/r4" || { echo "FAIL: kvt-as of a long mark"; fail=1; }
expect 3 "standard output" sh -c '"$1" "$2" "$3" >/dev/full' sh "$bin/kvt-dump" "$tmp/k4" "$tmp/r4"
[ "$("$bin/kvt-dump" "$tmp/k4" "$tmp/r4" | wc -c)" -eq 1048587 ] ||
	{ echo "FAIL: a long mark reads back differently"; fail=1; }
exit $fail
