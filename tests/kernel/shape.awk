# shape.awk: the shape of the sample workload's trace (kvt-dump output),
# free of addresses, tids and inode numbers, for comparing two collectors.
# Tasks are named by role: A (the workload as started), T (its threads),
# B (its fork child), C (its posix_spawn child, which execs the workload).
# Usage: awk -v FILE=workload.dat -f shape.awk DUMP | sort
function kv(   i, n) {
	delete f
	for (i = 2; i <= NF; i++) {
		n = index($i, "=")
		if (n)
			f[substr($i, 1, n - 1)] = substr($i, n + 1)
	}
}
function base(p,   n) {
	n = split(p, a, "/")
	return a[n]
}
function role(t) {
	return (t in r) ? r[t] : ""
}
{ kv() }
$1 == "exec" && base(f["path"]) == "kvt-sample-workload" {
	if (A == "") { A = f["tid"]; r[A] = "A"; print "exec A kvt-sample-workload" }
	else if (role(f["tid"]) == "C") print "exec C kvt-sample-workload"
	next
}
A == "" { next }
$1 == "clone" && f["parent"] == A {
	if (f["flags"] == "vm,thread") { r[f["child"]] = "T"; print "clone A thread" }
	else if (!seenB) { seenB = 1; r[f["child"]] = "B"; print "clone A process" }
	else { r[f["child"]] = "C"; print "clone A process" }
	next
}
$1 == "exit" && role(f["tid"]) != "" { print "exit " role(f["tid"]); next }
role(f["tid"]) == "" { next }
$1 == "mmap" && base(f["path"]) == FILE {
	files[f["file"]] = 1
	print "mmap " role(f["tid"]) " " FILE " " f["flags"] " " f["prot"] " len=" f["len"] " pgoff=" f["pgoff"]
	next
}
$1 == "mmap" && f["shmem"] != "" {
	print "mmap " role(f["tid"]) " shmem " f["prot"] " len=" f["len"]
	next
}
$1 == "mremap" { print "mremap " role(f["tid"]) " oldlen=" f["oldlen"] " newlen=" f["newlen"]; next }
($1 == "fsread" || $1 == "fswrite") && (f["file"] in files || !nfiles) {
	# Pages of workload.dat: the file is known from its mapping, which
	# comes after the writes; keep them by file and decide at the end.
	fs[$1 " " role(f["tid"]) " " f["file"] " " f["pgoff"]] = 1
	next
}
END {
	for (k in fs) {
		split(k, a, " ")
		if (a[3] in files)
			n[a[1] " " a[2]]++
	}
	for (k in n)
		print k " " FILE " pages=" n[k]
}
