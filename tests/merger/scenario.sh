#!/usr/bin/env bash
# scenario.sh BINDIR NAME.kvt
# Runs one scenario (NAME.kvt with NAME.expect/ beside it, see
# ../shared/scenarios/README.md) through run-merger with every built-in
# consumer: text outputs byte for byte, binary outputs through kvt-dump,
# per-process/per-thread also as .tar, .tar.gz and .tar.zst archives
# (entry by entry), and every summary.txt line present on stderr.
# Only the expected files that exist are checked.  To keep make check
# fast, each codec and archive kind is checked in one combination; FULL=1
# checks every combination.
set -u
full=${FULL:-0}
bin=$1
kvt=$2
exp=${kvt%.kvt}.expect
name=$(basename "${kvt%.kvt}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

fail() {
	echo "FAIL $name: $*"
	fails=$((fails + 1))
}

# With sanitizer builds, LeakSanitizer's check at exit takes about half
# of a scenario's time: it runs on the first merge of each consumer, not
# on the repeats of one merge in other forms nor on kvt-dump (whose leaks
# the round trip of every scenario checks, tests/formats).  leaked: the
# consumers merged so far.
leaked=" "
lsan=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1
nolsan=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0

# merge TYPE OUT [ARGS...]: run-merger, check exit 0 and the summary.
merge() {
	local type=$1 out=$2 opts=$nolsan
	shift 2
	case $leaked in
	*" $type "*) ;;
	*) opts=$lsan leaked="$leaked$type " ;;
	esac
	ASAN_OPTIONS=$opts "$bin/run-merger" -q "$@" "$type" auto "$tmp/r" "$tmp/k" "$out" \
		2>"$tmp/stderr"
	local st=$?
	if [ $st -ne 0 ]; then
		fail "run-merger $* $type exited $st:"
		sed 's/^/    /' "$tmp/stderr"
		return 1
	fi
	if [ -f "$exp/summary.txt" ]; then
		local missing
		missing=$(grep -vxFf "$tmp/stderr" "$exp/summary.txt")
		if [ -n "$missing" ]; then
			fail "$type $*: summary lines missing or different:"
			echo "$missing" | sed 's/^/    want: /'
			grep -f <(echo "$missing" | sed 's/:.*/:/; s/^/^/') \
				"$tmp/stderr" | sed 's/^/    got:  /'
		fi
	fi
	return 0
}

# same WANT GOT WHAT
same() {
	if ! cmp -s "$1" "$2"; then
		fail "$3 differs:"
		diff "$1" "$2" | head -20 | sed 's/^/    /'
	fi
}

# A directory tree of binary outputs turned into the text form: every
# .kvt becomes .txt through kvt-dump; index.tsv gets .kvt -> .txt.
bin2text() {
	local src=$1 dst=$2 f rel
	mkdir -p "$dst"
	(cd "$src" && find . -type f) | while read -r rel; do
		rel=${rel#./}
		mkdir -p "$dst/$(dirname "$rel")"
		case $rel in
		*.kvt)
			if ! ASAN_OPTIONS=$nolsan "$bin/kvt-dump" "$src/$rel" \
				>"$dst/${rel%.kvt}.txt" 2>"$tmp/dump.err"; then
				echo "kvt-dump $rel failed:" >&2
				cat "$tmp/dump.err" >&2
			fi ;;
		index.tsv)
			sed 's/\.kvt\t/.txt\t/' "$src/$rel" >"$dst/$rel" ;;
		*)
			cp "$src/$rel" "$dst/$rel" ;;
		esac
	done
}

samedir() {
	local want=$1 got=$2 what=$3
	if ! diff -r "$want" "$got" >"$tmp/diff" 2>&1; then
		fail "$what differs:"
		head -30 "$tmp/diff" | sed 's/^/    /'
	fi
}

"$bin/kvt-as" "$kvt" "$tmp/k" "$tmp/r" || { echo "FAIL: kvt-as $kvt"; exit 1; }

for type in basic basic-named; do
	[ -f "$exp/$type.txt" ] || continue
	merge $type "$tmp/$type.txt" --text &&
		same "$exp/$type.txt" "$tmp/$type.txt" "$type --text"
	if [ $type = basic ] || [ $full = 1 ]; then
		merge $type - --text >"$tmp/$type.stdout" &&
		same "$exp/$type.txt" "$tmp/$type.stdout" "$type --text to stdout"
	fi
	codecs="gzip-blocks zstd none"
	if [ $full != 1 ]; then
		[ $type = basic ] && codecs=gzip-blocks || codecs="zstd none"
	fi
	for codec in $codecs; do
		merge $type "$tmp/$type.$codec.kvt" -o compress=$codec &&
		ASAN_OPTIONS=$nolsan "$bin/kvt-dump" "$tmp/$type.$codec.kvt" \
			>"$tmp/$type.dump" &&
		same "$exp/$type.txt" "$tmp/$type.dump" \
			"$type (binary, $codec, through kvt-dump)"
	done
done

for type in per-process per-thread; do
	[ -d "$exp/$type" ] || continue
	merge $type "$tmp/$type" --text &&
		samedir "$exp/$type" "$tmp/$type" "$type --text"
	if [ $type = per-process ] || [ $full = 1 ]; then
		merge $type "$tmp/$type.bin" && {
			bin2text "$tmp/$type.bin" "$tmp/$type.bin.txt"
			samedir "$exp/$type" "$tmp/$type.bin.txt" \
				"$type (binary)"
		}
	fi
	exts="tar tar.gz tar.zst"
	[ $type = per-thread ] && [ $full != 1 ] && exts="tar.gz tar.zst"
	for ext in $exts; do
		modes="text bin"
		if [ $full != 1 ]; then
			case $ext in
			tar.gz) modes=bin ;;
			*) modes=text ;;
			esac
		fi
		for mode in $modes; do
			out="$tmp/$type.$mode.$ext"
			if [ $mode = text ]; then
				merge $type "$out" --text || continue
			else
				merge $type "$out" || continue
			fi
			mkdir -p "$tmp/x.$type.$mode.$ext"
			if ! tar -xf "$out" -C "$tmp/x.$type.$mode.$ext"; then
				fail "tar cannot read $out"
				continue
			fi
			# The entries are exactly the files (no duplicates).
			n_entries=$(tar -tf "$out" | wc -l)
			n_files=$(find "$tmp/x.$type.$mode.$ext" -type f | wc -l)
			[ "$n_entries" = "$n_files" ] ||
				fail "$type.$ext: $n_entries entries, $n_files files"
			if [ $mode = text ]; then
				samedir "$exp/$type" "$tmp/x.$type.$mode.$ext" \
					"$type --text .$ext"
			else
				bin2text "$tmp/x.$type.$mode.$ext" "$tmp/y.$type.$mode.$ext"
				samedir "$exp/$type" "$tmp/y.$type.$mode.$ext" \
					"$type binary .$ext"
			fi
		done
	done
done

# A scenario that expects no output but a summary still has it checked.
[ "$leaked" != " " ] || [ ! -f "$exp/summary.txt" ] ||
	merge basic "$tmp/summary-only.txt" --text

if [ $fails -ne 0 ]; then
	echo "$name: $fails failures"
	exit 1
fi
echo "$name: all outputs match"
