#!/usr/bin/env bash
# scenario-roundtrip.sh BINDIR SCENARIO.kvt
# kvt-as then kvt-dump must give SCENARIO.expect/dump.txt byte for byte, for
# every codec; each codec's output must also read through standard input
# (a pipe: no mmap) and with one and with four decoding threads.
set -u
bin=$1 scen=$2
exp=${scen%.kvt}.expect/dump.txt
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
for codec in none gzip gzip-blocks zstd; do
	if ! "$bin/kvt-as" --compress "$codec" "$scen" "$tmp/k" "$tmp/r"; then
		echo "FAIL $codec: kvt-as exited $?"
		fail=1
		continue
	fi
	for threads in 1 2; do
		"$bin/kvt-dump" --threads "$threads" "$tmp/k" "$tmp/r" \
			>"$tmp/out" || { echo "FAIL $codec: kvt-dump exited $?"; fail=1; }
		if ! cmp -s "$tmp/out" "$exp"; then
			echo "FAIL $codec threads=$threads: output differs from $exp"
			diff "$tmp/out" "$exp" | head -20
			fail=1
		fi
	done
	# one stream at a time, from a pipe: its records in order
	cat "$tmp/k" | "$bin/kvt-dump" - >"$tmp/kout" || { echo "FAIL $codec: kvt-dump - (k)"; fail=1; }
	cat "$tmp/r" | "$bin/kvt-dump" - >"$tmp/rout" || { echo "FAIL $codec: kvt-dump - (r)"; fail=1; }
	if ! cmp -s <(sort "$tmp/kout" "$tmp/rout") <(sort "$exp"); then
		echo "FAIL $codec: the two streams alone do not hold the records"
		fail=1
	fi
	[ $fail -eq 0 ] && echo "ok $codec"
done
exit $fail
