#!/usr/bin/env python3
# shape.py PAGES DUMP [BASIC_NAMED SUMMARY]
# Checks a --pool 0 recording of `kvt-sample-workload DIR PAGES` against
# what samples/workload/workload.c says it does (steps [1]..[14]).  With
# the merger's basic-named output and summary, also checks the canonical
# pages: shared file pages, shared shmem pages, copy-on-write after fork.
import re
import sys

P = int(sys.argv[1])
PG = 4096
dump = [l.split() for l in open(sys.argv[2])]
errors = []


def check(cond, what):
    if not cond:
        errors.append(what)


def kv(words):
    if words[0] in ('read', 'write') and len(words) == 3:
        # the bulk of the lines: "read tid=T addr=A", parsed quickly
        return {'tid': words[1][4:], 'addr': words[2][5:]}
    return dict(w.split('=', 1) for w in words[1:] if '=' in w)


recs = [(w[0], kv(w), w) for w in dump]
clones = [(r['parent'], r['child'], r['flags']) for e, r, _ in recs
          if e == 'clone']
execs = [(r['tid'], r['path']) for e, r, _ in recs if e == 'exec']
check(len(execs) == 2, 'two execs (A at start, C after posix_spawn)')
A = execs[0][0]
threads = [c for p, c, f in clones if p == A and f == 'vm,thread']
forks = [c for p, c, f in clones if p == A and f == '-']
check(len(threads) == 2, 'A starts two threads: %s' % threads)
check(len(forks) == 2, 'A forks twice (B, C): %s' % forks)
B, C = forks[0], forks[1]
check(execs[1][0] == C, 'C execs')
check(execs[0][1] == execs[1][1], 'C runs the same program')
exits = {r['tid'] for e, r, _ in recs if e == 'exit'}
for t in [A, B, C] + threads:
    check(t in exits, 'task %s exits' % t)

mm = [(r, w) for e, r, w in recs if e == 'mmap']
dat = [r for r, w in mm if r.get('path', '').endswith('/workload.dat')]
check(len(dat) == 3, 'workload.dat mapped 3 times (A shared, A private, C)')
files = {r['file'] for r in dat}
check(len(files) == 1, 'one file identity for workload.dat')
F = dat[0]['file'] if dat else None
a_sh = [r for r in dat if r['tid'] == A and r['flags'] == 'shared']
a_pr = [r for r in dat if r['tid'] == A and r['flags'] == 'private']
c_pr = [r for r in dat if r['tid'] == C]
check(len(a_sh) == 1 and len(a_pr) == 1 and len(c_pr) == 1,
      'A maps it shared and private, C private')
shm = [(r, w) for r, w in mm if r['tid'] == A and 'shmem' in r
       and int(r['len'], 16) == P * PG]
check(len(shm) == 3, '[5] [6] [7]: three shmem mappings of P pages')
check(len({r['shmem'] for r, w in shm}) == 3, 'three distinct shmem ids')
# [8] ANON: mapped before the threads start ([11] maps its working set
# later, and it may have any size).
first_thread = next((i for i, (e, r, _) in enumerate(recs) if e == 'clone'
                     and r['flags'] == 'vm,thread'), len(recs))
anon = [r for i, (e, r, w) in enumerate(recs) if e == 'mmap'
        and i < first_thread and r['tid'] == A and 'anon' in w
        and r['flags'] == 'private' and int(r['len'], 16) == P * PG]
check(len(anon) >= 1, '[8] an anonymous region of P pages')
brks = [r for e, r, _ in recs if e == 'brk' and r['tid'] == A]
check(any(int(r['new'], 16) - int(r['old'], 16) >= P * PG for r in brks),
      '[2] brk grows by P pages')
check(any(int(r['new'], 16) < int(r['old'], 16) for r in brks),
      '[2] brk shrinks')
check(any(e == 'mremap' and r['tid'] == A for e, r, _ in recs), '[9] mremap')
fsw = {int(r['pgoff']) for e, r, _ in recs
       if e == 'fswrite' and r.get('file') == F and r['tid'] == A}
fsr = {int(r['pgoff']) for e, r, _ in recs
       if e == 'fsread' and r.get('file') == F and r['tid'] == A}
check(fsw == set(range(P)), '[1] A writes every page of the file')
check(fsr == set(range(P)), '[1] A reads every page of the file')
check(any(e == 'fsread' and r.get('file') == F and r['tid'] == C
          for e, r, _ in recs), '[13] C preads the file')

if len(sys.argv) > 3:
    named = [l.split() for l in open(sys.argv[3])]
    refs = [(e, r) for e, r, _ in recs
            if e in ('read', 'write', 'fsread', 'fswrite')]
    check(len(refs) == len(named), 'one merged line per reference')
    A_tasks = {A} | set(threads)

    # The VM references by page: [(tid, read/write, merged line)].
    by_page = {}
    for (e, r), n in zip(refs, named):
        if e in ('read', 'write'):
            by_page.setdefault(int(r['addr'], 16) // PG, []).append(
                (r['tid'], e, n))

    def pages_in(tasks, m, kind=None, lo=0, hi=None):
        base = int(m['addr'], 16) // PG
        out = {}
        for i in range(lo, hi if hi is not None else P):
            for tid, e, n in by_page.get(base + i, ()):
                if tid in tasks and (not kind or e == kind):
                    out.setdefault(i, set()).add((n[1], n[2]))
        return out

    if a_sh and c_pr:
        fa = pages_in(A_tasks, a_sh[0])
        fc = pages_in({C}, c_pr[0])
        check(len(fa) == P and len(fc) == P,
              'A and C read every page of their mappings')
        check(all(fa[i] == fc[i] for i in range(P) if i in fa and i in fc),
              'A and C reach the same canonical file pages')
        check(all(x[1] == 'file' for s in fa.values() for x in s),
              'A\'s shared file pages are file pages')
        fsnum = {}
        for (e, r), n in zip(refs, named):
            if e == 'fsread' and r.get('file') == F and r['tid'] == A:
                fsnum.setdefault(int(r['pgoff']), set()).add(n[1])
        check(all({x[0] for x in fa[i]} == fsnum.get(i) for i in fa),
              'fsread reaches the mapped file pages')
    for m, w in shm:
        sa = pages_in(A_tasks, m)
        sb = pages_in({B}, m, 'write')
        check(len(sb) == P, 'B writes every page of shmem %s' % m['shmem'])
        check(all(sb[i] <= sa.get(i, set()) for i in sb),
              'shmem %s: B\'s pages are A\'s' % m['shmem'])
    if anon:
        m = anon[-1]
        aa = pages_in(A_tasks, m)
        bw = pages_in({B}, m, 'write', 0, P // 2)
        br = pages_in({B}, m, 'read', P // 2, P)
        check(len(bw) == P // 2, 'B writes half of ANON')
        check(all(not (bw[i] & aa.get(i, set())) for i in bw),
              'B\'s writes to ANON are copy-on-write copies')
        check(all(br[i] <= aa.get(i, set()) for i in br),
              'B reads A\'s unwritten ANON pages (no copy)')
    summ = dict(l.strip().split(': ', 1) for l in open(sys.argv[4])
                if ': ' in l)
    check(int(summ.get('cow-copies', 0)) >= P,
          'at least P copy-on-write copies (P/2 file, P/2 after fork)')
    check(summ.get('unmapped') == '0', 'no reference to an unmapped page')

for e in errors:
    print('FAIL:', e)
print('shape: %d checks failed' % len(errors))
sys.exit(1 if errors else 0)
