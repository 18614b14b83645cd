# shape.awk: checks that a kvt-gen trace in canonical text form (kvt-dump)
# has the shape kvt-gen promises.  Variables (-v): want_refs, want_procs,
# lifecycle_only (only the task checks).  Prints what it counted; exits 1
# with "bad: ..." lines when something is off.

function val(key,    i, n, kv) {
	for (i = 2; i <= NF; i++) {
		n = index($i, "=")
		if (n && substr($i, 1, n - 1) == key)
			return substr($i, n + 1)
	}
	return ""
}

function has(word,    i) {
	for (i = 2; i <= NF; i++)
		if ($i == word)
			return 1
	return 0
}

function bad(msg) {
	print "bad: " msg
	nbad++
}

# the task a record names must be alive (task 1 becomes implicit once)
function need(tid) {
	if (tid in alive)
		return
	if (tid == 1 && !implicit_root) {
		implicit_root = 1
		alive[1] = 1
		proc[1] = 1
		return
	}
	if (nbad < 20)
		bad("line " NR ": task " tid " is not alive")
}

{
	ev = $1
	count[ev]++
	if (ev != "mark" && ev != "switch" && val("cpu") == "")
		nocpu++
	if (val("ts") == "")
		nots++
}

ev == "clone" {
	p = val("parent")
	c = val("child")
	f = val("flags")
	need(p)
	if (c in alive)
		bad("line " NR ": clone of live task " c)
	alive[c] = 1
	if (c in everalive)
		reused++
	everalive[c] = 1
	clones[f]++
	if (f == "vm,thread") {
		proc[c] = proc[p]
	} else {
		proc[c] = c
		if (f == "-" && hasshm[proc[p]]) {
			shm_forks++
			hasshm[c] = 1
		}
	}
	next
}

ev == "exit" {
	t = val("tid")
	if (!(t in alive))
		bad("line " NR ": exit of task " t " that is not alive")
	delete alive[t]
	next
}

ev == "exec" {
	need(val("tid"))
	if (val("path") !~ /^\//)
		bad("line " NR ": exec without an absolute path")
	hasshm[proc[val("tid")]] = 0
	next
}

ev == "inode-free" {
	freed[val("file")] = 1
	next
}

ev == "switch" || ev == "mark" || ev == "lost" {
	next
}

# every other record names a task
{
	t = val("tid")
	need(t)
}

ev == "mmap" {
	a = val("addr")
	if (has("anon")) {
		mm["anon"]++
		if (a ~ /^0x7ff/)
			stack++
	} else if (val("shmem") != "") {
		mm["shmem"]++
		hasshm[proc[t]] = 1
	} else if (val("flags") == "shared") {
		mm["file-shared"]++
	} else {
		mm["file-private"]++
		if (a == "0x400000")
			text++
		file = val("file")
		if (!((file, proc[t]) in mappers)) {
			mappers[file, proc[t]] = 1
			nmappers[file]++
		}
	}
	if (val("flags") == "shared" && has("anon"))
		bad("line " NR ": shared anon")
	next
}

ev == "read" || ev == "write" {
	if (val("addr") !~ /000$/)
		unaligned++
	next
}

ev == "fsread" || ev == "fswrite" {
	file = val("file")
	if (file in freed)
		after_free++
	next
}

END {
	live = 0
	for (t in alive)
		live++
	if (live)
		bad(live " tasks never exit")
	if (!implicit_root)
		bad("task 1 is not the implicit root")
	nproc = 1 + clones["-"] + clones["vm"]
	printf "processes %d (fork %d, vfork %d), threads %d, exec %d, exit %d\n",
	       nproc, clones["-"], clones["vm"], clones["vm,thread"],
	       count["exec"], count["exit"]
	if (nproc < want_procs)
		bad("fewer than " want_procs " processes")
	if (count["exit"] != count["clone"] + 1)
		bad("exits " count["exit"] " != clones + 1")
	if (lifecycle_only)
		exit nbad > 0

	refs = count["read"] + count["write"] + count["fsread"] + \
	       count["fswrite"]
	wf = count["write"] / (count["read"] + count["write"])
	printf "references %d: read %d write %d (%.3f) fsread %d fswrite %d\n",
	       refs, count["read"], count["write"], wf, count["fsread"],
	       count["fswrite"]
	printf "mmap anon %d file-private %d file-shared %d shmem %d; " \
	       "munmap %d mremap %d mprotect %d brk %d\n",
	       mm["anon"], mm["file-private"], mm["file-shared"], mm["shmem"],
	       count["munmap"], count["mremap"], count["mprotect"],
	       count["brk"]
	printf "inode-free %d (files used again %d), switch %d, " \
	       "shmem forks %d, pid reuse %d\n", count["inode-free"],
	       after_free, count["switch"], shm_forks, reused
	if (refs != want_refs)
		bad("references " refs " != " want_refs)
	if (wf < 0.23 || wf > 0.27)
		bad("write fraction " wf " outside 0.23..0.27")
	if (clones["-"] < 5 || clones["vm"] < 2 || clones["vm,thread"] < 2)
		bad("too few clones of some kind")
	if (count["exec"] < 5)
		bad("too few execs")
	for (k in mm)
		nk++
	if (mm["anon"] < 5 || mm["file-private"] < 5 || \
	    mm["file-shared"] < 1 || mm["shmem"] < 1)
		bad("too few mmaps of some kind")
	if (count["munmap"] < 1 || count["mremap"] < 1 || \
	    count["mprotect"] < 1 || count["brk"] < 1)
		bad("munmap, mremap, mprotect or brk missing")
	if (count["fsread"] < 10 || count["fswrite"] < 10)
		bad("too few fsread or fswrite")
	if (count["inode-free"] < 1 || after_free < 1)
		bad("no inode-free, or no file used again after one")
	if (count["switch"] < 10)
		bad("too few switches")
	if (shm_forks < 1)
		bad("no fork of a process that maps shmem")
	if (text < 5 || stack < 5)
		bad("no program text at 0x400000 or stack near 0x7ff...")
	shared_libs = 0
	for (f in nmappers)
		if (nmappers[f] >= 3)
			shared_libs++
	if (shared_libs < 2)
		bad("fewer than 2 files mapped by 3 processes or more")
	if (unaligned < 0.9 * (count["read"] + count["write"]))
		bad("references mostly page-aligned")
	if (nots)
		bad(nots " records without ts=")
	if (nocpu)
		bad(nocpu " records without cpu=")
	exit nbad > 0
}
