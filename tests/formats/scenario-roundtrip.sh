#!/usr/bin/env bash
# scenario-roundtrip.sh BINDIR SCENARIO.kvt
# kvt-as then kvt-dump must give SCENARIO.expect/dump.txt byte for byte, for
# every codec (blocks of two records, written with no helper thread or
# three, read with one or with two decoding threads); the gzip-blocks
# streams must also read one at a time from a pipe (no mmap) and hold the
# same records.
# A scenario without a dump.txt is held to what kvt-dump gives of it
# without compression, which must itself be canonical: kvt-as then kvt-dump
# of that text gives it back.
set -u
bin=$1 scen=$2
exp=${scen%.kvt}.expect/dump.txt
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
if [ ! -f "$exp" ]; then
	"$bin/kvt-as" --compress none "$scen" "$tmp/k0" "$tmp/r0" &&
		"$bin/kvt-dump" "$tmp/k0" "$tmp/r0" >"$tmp/self.txt" &&
		"$bin/kvt-as" --compress none "$tmp/self.txt" "$tmp/k1" "$tmp/r1" &&
		"$bin/kvt-dump" "$tmp/k1" "$tmp/r1" | cmp -s - "$tmp/self.txt" ||
		{ echo "FAIL: no $exp, and kvt-dump's text of it is not canonical"
		  exit 1; }
	exp=$tmp/self.txt
fi
threads=1
for codec in none gzip gzip-blocks zstd; do
	threads=$((3 - threads))
	# writers: no helper thread, or three compressing in parallel
	"$bin/kvt-as" --compress "$codec" --threads $((threads == 1 ? -1 : 3)) \
		--block-records 2 "$scen" "$tmp/k" "$tmp/r"
	st=$?
	if [ $st -ne 0 ]; then
		echo "FAIL $codec: kvt-as exited $st"
		fail=1
		continue
	fi
	"$bin/kvt-dump" --threads $threads "$tmp/k" "$tmp/r" >"$tmp/out"
	st=$?
	[ $st -eq 0 ] || { echo "FAIL $codec: kvt-dump exited $st"; fail=1; }
	if ! cmp -s "$tmp/out" "$exp"; then
		echo "FAIL $codec threads=$threads: output differs from $exp"
		diff "$tmp/out" "$exp" | head -20
		fail=1
	fi
	[ "$codec" = gzip-blocks ] || continue
	cat "$tmp/k" | "$bin/kvt-dump" - >"$tmp/kout" || { echo "FAIL $codec: kvt-dump - (k)"; fail=1; }
	cat "$tmp/r" | "$bin/kvt-dump" - >"$tmp/rout" || { echo "FAIL $codec: kvt-dump - (r)"; fail=1; }
	if ! cmp -s <(sort "$tmp/kout" "$tmp/rout") <(sort "$exp"); then
		echo "FAIL $codec: the two streams alone do not hold the records"
		fail=1
	fi
done
[ $fail -eq 0 ] && echo "ok: $scen"
exit $fail
