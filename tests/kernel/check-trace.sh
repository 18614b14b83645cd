#!/usr/bin/env bash
# check-trace.sh OUTDIR PAGES [BINDIR]
# Checks what kpatch/guest/init (kvt.mode=check) left in OUTDIR: the sample
# workload (samples/workload/workload.c) traced by the activator in kernel
# mode must show in the kernel events what its source says it did.  Prints
# one line per check; exit status 1 if any failed.
set -u
d=$1 P=$2 bin=${3:-bin}
bad=0
ok() { echo "ok - $*"; }
no() { echo "not ok - $*"; bad=1; }
check() {	# check DESCRIPTION COMMAND...
	local what=$1
	shift
	if "$@"; then ok "$what"; else no "$what"; fi
}
val() { cat "$d/$1" 2>/dev/null; }

line=$(grep -o 'pages=[0-9]* processes=3 threads=2 check=[0-9a-f]*' "$d/untraced.out")
check "untraced workload ran (exit $(val untraced.rc))" \
	test "$(val untraced.rc)" = 0 -a -n "$line"
check "traced workload ran (exit $(val traced.rc)) and printed what it prints untraced" \
	test "$(val traced.rc)" = 0 -a -n "$line" -a "$(grep -c -F "$line" "$d/traced.out")" = 1
check "device refused to a user (exit $(val nonroot.rc)): $(head -n1 "$d/nonroot.out")" \
	test "$(val nonroot.rc)" = 3
check "second session in the same boot (exit $(val second.rc))" \
	test "$(val second.rc)" = 0

check "menu: 1 then 2 (exit $(val menu.rc))" test "$(val menu.rc)" = 0
for w in '  1  start reference tracing' 'reference tracing on' \
	'activator: stopping' '^records: [0-9]* kernel'; do
	grep -q -- "$w" "$d/menu.out" || no "menu output lacks '$w'"
done
check "menu: the trace marks references on" \
	grep -q '^mark text="references on"' <("$bin/kvt-dump" "$d/mk.kvt" 2>&1)

check "full disk: exit 4 ($(val full.rc)), said so: $(grep -m1 'disk full' "$d/full.out")" \
	test "$(val full.rc)" = 4 -a -n "$(grep -m1 'disk full' "$d/full.out")"
"$bin/kvt-dump" "$d/full-k.kvt" >"$d/full-dump.txt" 2>"$d/full-dump.err"
st=$?
check "full disk: the kernel-event file reads (exit $st, $(wc -l <"$d/full-dump.txt") records; $(head -c 160 "$d/full-dump.err"))" \
	test $st = 0 -o $st = 4
check "SIGTERM: exit 0 ($(val term.rc)), said so" \
	test "$(val term.rc)" = 0 -a -n "$(grep -m1 'Terminated: stopping' "$d/term.out")"
check "SIGTERM: the files are complete" \
	"$bin/kvt-dump" "$d/tk.kvt" "$d/tr.kvt" >/dev/null

if ! "$bin/kvt-dump" "$d/k.kvt" "$d/r.kvt" >"$d/dump.txt" 2>"$d/dump.err"; then
	no "kvt-dump reads the streams: $(head -n1 "$d/dump.err")"
	exit 1
fi
ok "kvt-dump reads the streams ($(wc -l <"$d/dump.txt") records)"
"$bin/kvt-dump" --header "$d/k.kvt" >"$d/header.txt" 2>&1
check "collector is kpatch" grep -q 'kpatch' "$d/header.txt"

# The facts, from the dump, in one awk pass.
awk -v P="$P" -v DEV="$(val dev)" -v WORK="/mnt/w1" '
function kv(   i, n, a) {
	delete f
	for (i = 2; i <= NF; i++) {
		n = index($i, "=")
		if (n)
			f[substr($i, 1, n - 1)] = substr($i, n + 1)
	}
}
function num(s,   i, c, v) {
	if (substr(s, 1, 2) != "0x")
		return s + 0
	v = 0
	for (i = 3; i <= length(s); i++) {
		c = index("0123456789abcdef", substr(s, i, 1))
		v = v * 16 + c - 1
	}
	return v
}
function need(tid) {
	if (!(tid in live) && tid != 0) {
		implicit++
		if (implicit <= 3)
			print "note: task " tid " used before it was introduced: " $0
		live[tid] = 1
	}
}
{ kv() }
$1 == "clone" {
	need(f["parent"])
	if (f["parent"] == 0)
		roots++
	live[f["child"]] = 1
	if (A != "" && f["parent"] == A) {
		if (f["flags"] == "vm,thread") threads++
		else if (f["flags"] == "-") { forks++; B = f["child"] }
		else if (f["flags"] == "vm") { spawns++; C = f["child"] }
	}
	next
}
{ if (f["cpu"] != "") cpus[f["cpu"]] = 1 }
$1 == "exit" { exited[f["tid"]] = 1; delete live[f["tid"]]; next }
$1 == "switch" || $1 == "lost" || $1 == "mark" || $1 == "inode-free" {
	if ($1 == "lost") lost += f["count"]
	if ($1 == "inode-free" && f["file"] == F) freed = 1
	next
}
{ need(f["tid"]) }
$1 == "exec" && f["path"] ~ /kvt-sample-workload$/ {
	if (A == "") A = f["tid"]
	else if (f["tid"] == C) cexec = 1
}
$1 == "mmap" && f["tid"] == A && f["path"] == WORK "/workload.dat" {
	if (f["flags"] == "shared" && f["prot"] == "r--") {
		F = f["file"]; flen = f["len"]
	}
	if (f["flags"] == "private" && f["prot"] == "rw-" && f["file"] == F)
		privrw = 1
}
$1 == "mmap" && f["tid"] == A && f["flags"] == "shared" && f["shmem"] != "" &&
    num(f["len"]) == P * 4096 { shm[f["shmem"]] = 1 }
$1 == "mmap" && f["tid"] == C && f["file"] == F && f["flags"] == "private" &&
    f["prot"] == "r--" { cmap = 1 }
$1 == "mmap" && f["tid"] == A && f["path"] ~ /kvt-sample-workload$/ { elf++ }
$1 == "mmap" && f["tid"] == A && f["path"] == "[stack]" { stack = 1 }
$1 == "mmap" && f["tid"] == A && f["path"] == "[vdso]" { vdso = 1 }
$1 == "brk" && f["tid"] == A {
	if (num(f["new"]) - num(f["old"]) >= P * 4096) brkup = 1
	if (num(f["old"]) - num(f["new"]) >= P / 2 * 4096) brkdown = 1
}
$1 == "mremap" && f["tid"] == A && num(f["oldlen"]) == P / 4 * 4096 &&
    num(f["newlen"]) == P / 2 * 4096 { mremap = 1 }
$1 == "munmap" && f["tid"] == A && num(f["len"]) == P * 4096 { munmaps++ }
# The file is known from its mapping, which comes after the writes: keep
# the pages by file and decide at the end.
($1 == "fswrite" || $1 == "fsread") && (f["tid"] == A || f["tid"] == C) {
	fs[$1 " " (f["tid"] == A ? "A" : "C") " " f["file"] " " f["pgoff"]] = 1
}
END {
	for (k in fs) {
		split(k, a, " ")
		if (a[3] != F)
			continue
		if (a[1] == "fswrite" && a[2] == "A") fw[a[4]] = 1
		if (a[1] == "fsread" && a[2] == "A") fr[a[4]] = 1
		if (a[1] == "fsread" && a[2] == "C") cfr[a[4]] = 1
	}
	split(F, fd, ":")
	printf "A=%s B=%s C=%s file=%s\n", A, B, C, F
	printf "%s - workload process A found\n", A != "" ? "ok" : "not ok"
	printf "%s - A has 2 threads (%d)\n", threads == 2 ? "ok" : "not ok", threads
	printf "%s - A forks B once (%d)\n", forks == 1 ? "ok" : "not ok", forks
	printf "%s - A spawns C (clone vm) which execs the workload (%d, exec %d)\n", spawns == 1 && cexec ? "ok" : "not ok", spawns, cexec
	printf "%s - A, B, C and the threads exit\n", (A in exited) && (B in exited) && (C in exited) ? "ok" : "not ok"
	printf "%s - workload.dat mapped shared read-only, P pages, on the disk (dev %s = %s)\n", num(flen) == P * 4096 && fd[1] == DEV ? "ok" : "not ok", fd[1], DEV
	printf "%s - workload.dat mapped private read-write by A\n", privrw ? "ok" : "not ok"
	printf "%s - workload.dat mapped private read-only by C\n", cmap ? "ok" : "not ok"
	printf "%s - 3 shmem objects of P pages (anonymous shared, memfd, SysV): %d\n", length(shm) == 3 ? "ok" : "not ok", length(shm)
	printf "%s - ELF loader mappings of the program after exec (%d)\n", (elf >= 2) ? "ok" : "not ok", elf
	printf "%s - the stack and the vdso are mapped\n", stack && vdso ? "ok" : "not ok"
	printf "%s - brk up by P pages and down by P/2\n", brkup && brkdown ? "ok" : "not ok"
	printf "%s - mremap of P/4 pages to P/2\n", mremap ? "ok" : "not ok"
	printf "%s - munmap of the P-page regions at the end (%d)\n", (munmaps >= 4) ? "ok" : "not ok", munmaps
	printf "%s - fswrite of every page of workload.dat by A (%d of %d)\n", length(fw) == P ? "ok" : "not ok", length(fw), P
	printf "%s - fsread of every page of workload.dat by A (%d of %d)\n", length(fr) == P ? "ok" : "not ok", length(fr), P
	printf "%s - fsread of page 0 by C\n", (0 in cfr) ? "ok" : "not ok"
	printf "%s - inode-free of workload.dat after it was removed\n", freed ? "ok" : "not ok"
	printf "%s - no task used before it was introduced (%d; roots from tid 0: %d)\n", implicit == 0 ? "ok" : "not ok", implicit, roots
	printf "%s - no lost records (%d)\n", lost == 0 ? "ok" : "not ok", lost
	printf "%s - records from %d CPUs, merged by sequence number\n", (length(cpus) >= 2) ? "ok" : "not ok", length(cpus)
}' "$d/dump.txt" >"$d/facts.txt"
cat "$d/facts.txt"
grep -q '^not ok' "$d/facts.txt" && bad=1

if [ -x "$bin/run-merger" ]; then
	rm -rf "$d/merged"
	if "$bin/run-merger" --text -q per-process auto "$d/r.kvt" "$d/k.kvt" \
		"$d/merged" 2>"$d/merge.txt"; then
		roots=$(grep -c '^clone parent=0 ' "$d/dump.txt")
		imp=$(sed -n 's/^implicit-tasks: //p' "$d/merge.txt")
		check "run-merger: implicit tasks $imp (= clones from tid 0: $roots)" \
			test "$imp" = "$roots"
		check "run-merger: no lost records" \
			grep -q '^lost-kernel-events: 0$' "$d/merge.txt"
		fsr=$(sed -n 's/^fs-reads: //p' "$d/merge.txt")
		check "run-merger: fs-reads $fsr >= P" test "${fsr:-0}" -ge "$P"
	else
		no "run-merger merges the trace: $(tail -n1 "$d/merge.txt")"
	fi
fi
exit $bad
