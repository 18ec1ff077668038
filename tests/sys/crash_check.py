#!/usr/bin/env python3
"""crash_check.py: the engine of tests/sys/crash.t.

Runs every crashme build variant in every scenario (each run in its own
directory, with RLIMIT_CORE raised and a 20 s bound), runs the same binary
under gdb for a reference backtrace, and checks the crash reports against
gdb, addr2line and the documented format (include/lull/crash.h).

Usage: crash_check.py --out DIR --tmp DIR [--variants a,b,..] [--dual N]
  DIR/<variant>/crashme is the binary, DIR/<base variant>/obj/**.o its
  objects (the "own" functions: everything that is not libc).

Prints one result per line for crash.t to turn into TAP:
  ok<TAB>desc | nok<TAB>desc | skip<TAB>desc<TAB>reason
  todo<TAB>0|1<TAB>desc<TAB>reason | diag<TAB>text
"""
import argparse
import concurrent.futures
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time

FULL = ['musl-O0', 'musl-O2', 'musl-O2-fp', 'clang-O2-dw4', 'clang-O2-dw5', 'glibc-O2']
# degraded variants: the variant whose objects, gdb reference and debug info they share
DEGRADED = {'musl-O2-nohdr': 'musl-O2', 'musl-O2-strip': 'musl-O2'}
GLIBC_REF = 'glibc-O2'
# variants whose cores gdb must read (strip -s leaves gdb no names)
CORE_VARIANTS = FULL + ['musl-O2-nohdr']
RUN_TIMEOUT = 20
GDB_TIMEOUT = 90
MAX_FRAMES = 64

MAIN_NAMES = {'main', 'crashme'}   # the main thread: its loop name or its comm
# scenario: signal, accepted si_code names, fault address (None: any),
# crashing thread names, kind of backtrace check
SCEN = {
    'segv': ('SIGSEGV', {'SEGV_MAPERR'}, '0x0', MAIN_NAMES, 'chain'),
    'memcpy': ('SIGSEGV', {'SEGV_MAPERR'}, None, MAIN_NAMES, 'chain'),
    'strlen': ('SIGSEGV', {'SEGV_MAPERR'}, '0x10', MAIN_NAMES, 'chain'),
    'abort': ('SIGABRT', {'SI_TKILL'}, None, MAIN_NAMES, 'chain'),
    'assert': ('SIGABRT', {'SI_TKILL'}, None, MAIN_NAMES, 'chain'),
    'kill': ('SIGSEGV', {'SI_USER'}, None, MAIN_NAMES, 'chain'),
    'fpe': ('SIGFPE', {'FPE_INTDIV'}, None, MAIN_NAMES, 'chain'),
    'ill': ('SIGILL', {'ILL_ILLOPN', 'ILL_ILLOPC'}, None, MAIN_NAMES, 'chain'),
    'bus': ('SIGBUS', {'BUS_ADRERR'}, None, MAIN_NAMES, 'chain'),
    'nullcall': ('SIGSEGV', {'SEGV_MAPERR'}, '0x0', MAIN_NAMES, 'chain'),
    'overflow': ('SIGSEGV', {'SEGV_MAPERR', 'SEGV_ACCERR'}, None, MAIN_NAMES, 'overflow'),
    'overflow-thread': ('SIGSEGV', {'SEGV_MAPERR', 'SEGV_ACCERR'}, None, {'deep'}, 'overflow'),
    'insig': ('SIGSEGV', {'SEGV_MAPERR'}, '0x0', MAIN_NAMES, 'chain'),
    'smash': ('SIGSEGV', {'SEGV_MAPERR'}, '0x41414000', MAIN_NAMES, 'smash'),
    'logbusy': ('SIGSEGV', {'SEGV_MAPERR'}, '0x0', MAIN_NAMES, 'chain'),
    'dual': ('SIGSEGV', {'SEGV_MAPERR'}, '0x0', {'crasher-0', 'crasher-1'}, 'dual'),
    'thread': ('SIGSEGV', {'SEGV_MAPERR'}, '0x0', {'crasher'}, 'tchain'),
    'qsort': ('SIGSEGV', {'SEGV_MAPERR'}, '0x0', MAIN_NAMES, 'chain'),
    'bsearch': ('SIGSEGV', {'SEGV_MAPERR'}, '0x0', MAIN_NAMES, 'chain'),
    'tsearch': ('SIGSEGV', {'SEGV_MAPERR'}, '0x0', MAIN_NAMES, 'chain'),
    'twalk': ('SIGSEGV', {'SEGV_MAPERR'}, '0x0', MAIN_NAMES, 'chain'),
    'once': ('SIGSEGV', {'SEGV_MAPERR'}, '0x0', MAIN_NAMES, 'chain'),
    'atexit': ('SIGSEGV', {'SEGV_MAPERR'}, '0x0', MAIN_NAMES, 'chain'),
}
# Callbacks: libc calls a function of crashme, which crashes. The libc
# frames allowed between the callback and callback_here, which called
# libc (musl's names; 'libc' is glibc's libc.so.6+0x.. without a symbol):
# anything else there is a stale return address taken for a frame.
CALLBACK_LIBC = {
    'qsort': {'sift', 'trinkle', '__qsort_r', 'qsort', 'qsort_r', 'wrapper_cmp', 'libc'},
    'bsearch': {'bsearch', 'libc'},
    'tsearch': {'tsearch', '__tsearch', 'libc'},
    'twalk': {'twalk', 'walk', 'libc'},
    'once': {'__pthread_once_full', 'pthread_once', '__pthread_once', 'libc'},
    'atexit': {'__funcs_on_exit', 'exit', '__run_exit_handlers', 'libc'},
}
ORDER = list(SCEN)
# scenarios whose chain gdb gives as reference (the others borrow one)
GDB_SCEN = ['segv', 'memcpy', 'strlen', 'abort', 'assert', 'kill', 'fpe', 'ill', 'bus',
            'nullcall', 'overflow', 'overflow-thread', 'insig', 'logbusy', 'thread'] + list(CALLBACK_LIBC)
THREAD_SCEN = {'thread', 'dual', 'overflow-thread'}
# where gdb cannot unwind musl's libc (no CFI): the reference is gdb on glibc
MUSL_NO_GDB = {'abort', 'assert', 'insig'} | set(CALLBACK_LIBC)

def emit(*fields):
    print('\t'.join(str(f).replace('\t', ' ').replace('\n', ' ') for f in fields), flush=True)


def ok(cond, desc, *diags):
    emit('ok' if cond else 'nok', desc)
    if not cond:
        for d in diags:
            for line in str(d).splitlines() or ['']:
                emit('diag', '  ' + line)
    return cond


def todo(cond, desc, reason, *diags):
    emit('todo', 0 if cond else 1, desc, reason)
    if not cond:
        for d in diags:
            for line in str(d).splitlines() or ['']:
                emit('diag', '  ' + line)


def skip(desc, reason):
    emit('skip', desc, reason)


def diag(text):
    for line in str(text).splitlines() or ['']:
        emit('diag', line)


def base_name(fn):
    """crash_here.cold / level4.isra.0 / level2s.constprop.0 -> the C name."""
    return fn.split('.', 1)[0] if fn and not fn.startswith('.') else fn


def sh(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          errors='replace', **kw).stdout


# ---- runs ----------------------------------------------------------------

class Run:
    def __init__(self, variant, scen, args, rundir):
        self.variant, self.scen, self.args, self.dir = variant, scen, args, rundir
        self.status = None
        self.timed_out = False
        self.secs = 0.0
        self.log = self.stderr = ''
        self.cores = []
        self.core = None
        self.core_check = False   # gdb's thread apply all bt on its core is checked

    @property
    def label(self):
        extra = ' '.join(a for a in self.args[1:] if a != '--log' and not a.endswith('crash.log'))
        return f'{self.variant}/{self.scen}' + (f' {extra}' if extra else '')

    def signame(self):
        if self.timed_out:
            return 'timed out after %d s (killed)' % RUN_TIMEOUT
        if self.status is None:
            return 'not run'
        if os.WIFSIGNALED(self.status):
            s = os.WTERMSIG(self.status)
            try:
                return signal.Signals(s).name + (' (core dumped)' if os.WCOREDUMP(self.status) else '')
            except ValueError:
                return 'signal %d' % s
        return 'exit %d' % os.WEXITSTATUS(self.status)

    def killed_by(self):
        if self.timed_out or self.status is None or not os.WIFSIGNALED(self.status):
            return None
        try:
            return signal.Signals(os.WTERMSIG(self.status)).name
        except ValueError:
            return None


def do_run(binary, r, env_extra=None, keep_core=False):
    if os.path.exists(r.dir):
        shutil.rmtree(r.dir)
    os.makedirs(r.dir)
    env = dict(os.environ)
    for k in ('LULL_DEBUG', 'JOURNAL_STREAM', 'LULL_CRASH_INJECT', 'NOTIFY_SOCKET', 'WATCHDOG_USEC'):
        env.pop(k, None)
    env.update(env_extra or {})
    t0 = time.monotonic()
    with open(os.path.join(r.dir, 'stdout'), 'w') as so, open(os.path.join(r.dir, 'stderr'), 'w') as se:
        p = subprocess.Popen([binary] + r.args, cwd=r.dir, stdout=so, stderr=se, env=env,
                             stdin=subprocess.DEVNULL, start_new_session=True)
    while True:
        pid, status, _ = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() - t0 > RUN_TIMEOUT:
            r.timed_out = True
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            pid, status, _ = os.wait4(p.pid, 0)
            break
        time.sleep(0.002)
    p.returncode = status   # reaped here, not by Popen
    r.secs = time.monotonic() - t0
    r.status = status
    r.log = read(os.path.join(r.dir, 'crash.log'))
    r.stderr = read(os.path.join(r.dir, 'stderr'))
    for f in os.listdir(r.dir):
        if re.fullmatch(r'core(\.\d+)?', f):
            r.cores.append(f)
            if keep_core and r.core is None:
                r.core = os.path.join(r.dir, f)   # for gdb on the core
            else:
                os.unlink(os.path.join(r.dir, f))   # big, and checked already
    return r


def read(path):
    try:
        with open(path, errors='replace') as f:
            return f.read()
    except OSError:
        return ''


# ---- report parsing ----------------------------------------------------------

HDR = re.compile(r"^\*\*\* lull crash: (SIG[A-Z]+) \((.*?)\) (?:at address (0x[0-9a-f]+)|from pid (\d+)) "
                 r"in thread '(.*)' \(tid (\d+), pid (\d+)\)$")
EXE = re.compile(r'^\*\*\* executable (\S+) build-id (\S+) load bias (0x[0-9a-f]+)$')
FRAME = re.compile(r'^#(\d+) +0x([0-9a-f]{16}) (\S+)(?: \((\S+):(\d+)\))?( <signal handler called>)?'
                   r'(?: \[(scan|sp|fp|guess)\])?( \[after guess\])?$')
REPEAT = re.compile(r'^    \.\.\. the frame above repeated (\d+) more times$')
TITLE = re.compile(r"^\*\*\* backtrace of thread '(.*)' \(tid (\d+)\)(, from the interrupted context)?:$")
NOANSWER = re.compile(r"^\*\*\* thread '(.*)' \(tid (\d+)\) did not answer")
CRASHED_TOO = re.compile(r"^\*\*\* thread '(.*)' \(tid (\d+)\) crashed too")
A2L = re.compile(r'^\*\*\* addr2line -f -i -e (\S+)((?: 0x[0-9a-f]+)*)$')
END = re.compile(r'^\*\*\* end of crash report: (SIG[A-Z]+)')


class Frame:
    def __init__(self, m):
        self.n = int(m.group(1))
        self.pc = int(m.group(2), 16)
        tok = m.group(3)
        if tok == '??':
            self.sym, self.off = None, None
        elif '+0x' in tok:
            self.sym, off = tok.rsplit('+', 1)
            self.off = int(off, 16)
        else:
            self.sym, self.off = tok, None
        self.name = base_name(self.sym) if self.sym else None
        self.file = m.group(4)
        self.line = int(m.group(5)) if m.group(5) else None
        self.sigframe = bool(m.group(6))
        self.tag = m.group(7)
        self.after_guess = bool(m.group(8))
        self.repeats = 0
        self.text = m.group(0)


class Section:
    def __init__(self, name, tid, crashing):
        self.name, self.tid, self.crashing = name, tid, crashing
        self.frames = []
        self.notes = []


class Report:
    def __init__(self, m, idx):
        self.sig, self.code, self.addr, self.from_pid = m.group(1), m.group(2), m.group(3), m.group(4)
        self.thread, self.tid, self.pid = m.group(5), int(m.group(6)), int(m.group(7))
        self.start = idx
        self.end_idx = None
        self.end_sig = None
        self.exe = self.build_id = None
        self.bias = 0
        self.registers = []
        self.sections = []
        self.a2l_bin = None
        self.a2l = []
        self.noanswer = []
        self.crashed_too = []
        self.raw_fault = False
        self.malformed = []
        self.interleaved = False
        self.foreign = []   # lines between header and end that are not the report's

    @property
    def crashing(self):
        for s in self.sections:
            if s.crashing:
                return s
        return None

    def section(self, name):
        return [s for s in self.sections if s.name == name and not s.crashing]


def parse_reports(text):
    reports, cur, sec = [], None, None
    for i, line in enumerate(text.splitlines()):
        m = HDR.match(line)
        if m:
            if cur is not None and cur.end_idx is None:
                cur.interleaved = True   # a header before the previous end
            cur = Report(m, i)
            reports.append(cur)
            sec = None
            continue
        if line.startswith('*** lull crash:'):
            if cur is not None:
                cur.malformed.append(line)
            continue
        if cur is None or cur.end_idx is not None:
            if line.startswith('*** ') or FRAME.match(line):
                # report lines outside a report
                if reports:
                    reports[-1].malformed.append('after end: ' + line)
            continue
        if line.startswith('*** executable '):
            m = EXE.match(line)
            if m:
                cur.exe, cur.build_id, cur.bias = m.group(1), m.group(2), int(m.group(3), 16)
            else:
                cur.malformed.append(line)
        elif line.startswith('*** registers: ') or (line.startswith('***  ') and sec is None):
            cur.registers.append(line)
        elif line.startswith('*** backtrace of thread'):
            m = TITLE.match(line)
            if m:
                sec = Section(m.group(1), int(m.group(2)), bool(m.group(3)))
                cur.sections.append(sec)
            else:
                cur.malformed.append(line)
        elif line.startswith('*** addr2line'):
            m = A2L.match(line)
            if m:
                cur.a2l_bin = m.group(1)
                cur.a2l = [int(a, 16) for a in m.group(2).split()]
            else:
                cur.malformed.append(line)
        elif line.startswith('*** fault inside the crash handler'):
            cur.raw_fault = True
            if sec is not None:
                sec.notes.append(line)
        elif NOANSWER.match(line):
            m = NOANSWER.match(line)
            cur.noanswer.append(m.group(1))
            sec = None
        elif CRASHED_TOO.match(line):
            cur.crashed_too.append(CRASHED_TOO.match(line).group(1))
            sec = None
        elif line.startswith('*** end of crash report'):
            m = END.match(line)
            cur.end_idx = i
            cur.end_sig = m.group(1) if m else None
            sec = None
        elif line.startswith('#'):
            m = FRAME.match(line)
            if m and sec is not None:
                sec.frames.append(Frame(m))
            else:
                cur.malformed.append(line)
        elif REPEAT.match(line) and sec is not None and sec.frames:
            sec.frames[-1].repeats += int(REPEAT.match(line).group(1))
            sec.frames[-1].text += ' (+%s repeats)' % REPEAT.match(line).group(1)
        elif line.startswith('    (') and sec is not None:
            sec.notes.append(line.strip())
        elif line.startswith('***'):
            cur.malformed.append(line)
        else:
            # a log record of another thread (logbusy): the other threads
            # are stopped before the report starts, so there must be none
            cur.foreign.append(line)
    return reports


def show_frames(frames, limit=20):
    out = [f.text for f in frames[:limit]]
    if len(frames) > limit:
        out.append('... (%d frames)' % len(frames))
    return '\n'.join(out) if out else '(no frames)'


# ---- gdb -----------------------------------------------------------------

GDB_FRAME = re.compile(r'^#(\d+)\s+(?:0x[0-9a-f]+ in )?(\S+) \(')
OUTER_MARK = '@@outermost frames@@'


def parse_gdb_frames(text):
    """[(number, name)] of gdb's backtrace lines; name None for ??."""
    out = []
    for line in text.splitlines():
        if not line.startswith('#'):
            continue
        num = int(re.match(r'#(\d+)', line).group(1))
        if '<signal handler called>' in line:
            out.append((num, '<signal handler called>'))
            continue
        m = GDB_FRAME.match(line)
        out.append((num, base_name(m.group(2)) if m and m.group(2) != '??' else None))
    return out


GDB_SRC = re.compile(r'^#\d+\s+(?:0x[0-9a-f]+ in )?(\S+) \(.*\) at (\S+):\d+$')


def gdb_inlined_own(raw, root):
    """Functions gdb shows at a source line of ours (lib/, tests/): with
    the objects' symbols, what counts as our code. This adds the inlined
    ones (level3_inl), which have no symbol."""
    names = set()
    for line in raw.splitlines():
        m = GDB_SRC.match(line)
        if m and m.group(2).startswith(root + '/'):
            names.add(base_name(m.group(1)))
    return names


def run_gdb(cmds, target, rundir):
    """gdb -batch with cmds on target (['--args', bin, ...] or [bin, core])."""
    if not os.path.isdir(rundir):
        os.makedirs(rundir)
    cmd = ['gdb', '-nx', '-batch', '-iex', 'set debuginfod enabled off',
           '-ex', 'set width 0', '-ex', 'set pagination off', '-ex', 'set confirm off',
           '-ex', 'set filename-display absolute', '-ex', 'handle SIGUSR1 nostop noprint pass']
    for c in cmds:
        cmd += ['-ex', c]
    env = dict(os.environ)
    env.pop('LULL_CRASH_INJECT', None)
    env['DEBUGINFOD_URLS'] = ''
    try:
        out = subprocess.run(cmd + target, cwd=rundir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, errors='replace', timeout=GDB_TIMEOUT, env=env,
                             stdin=subprocess.DEVNULL).stdout
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors='replace') if isinstance(e.stdout, bytes) else (e.stdout or '')
        out += '\n(gdb timed out)'
    with open(os.path.join(rundir, 'gdb.out'), 'a') as f:
        f.write(' '.join(cmd + target) + '\n' + out)
    return out


BT = 'bt -frame-arguments none %d' % MAX_FRAMES


def gdb_trace(binary, scen, rundir, extra=()):
    """gdb's backtrace at the crash, the program run under gdb: (names, raw)."""
    out = run_gdb(['run', BT], ['--args', binary, scen] + list(extra) +
                  ['--log', os.path.join(rundir, 'gdb-crash.log')], rundir)
    return [n for _, n in parse_gdb_frames(out)], out


def gdb_core_depth(binary, core, rundir):
    """gdb on a core: (innermost names, raw, [(number, name)] outermost)."""
    out = run_gdb([BT, 'echo %s\\n' % OUTER_MARK, 'bt -frame-arguments none -12'], [binary, core], rundir)
    inner, _, outer = out.partition(OUTER_MARK)
    return [n for _, n in parse_gdb_frames(inner)], out, parse_gdb_frames(outer)


CORE_MARK = '@@core@@'


def gdb_cores_threads(binary, cores, rundir):
    """gdb's thread apply all bt on each of cores (of one binary), in one gdb
    session: {core: ({tid: [names]}, raw)}."""
    cmds = []
    for c in cores:
        cmds += ['echo %s %s\\n' % (CORE_MARK, c), 'core-file ' + c, 'thread apply all ' + BT]
    out = run_gdb(cmds, [binary], rundir)
    res = {}
    for chunk in out.split(CORE_MARK + ' ')[1:]:
        core, _, text = chunk.partition('\n')
        threads, cur = {}, None
        for line in text.splitlines():
            m = re.match(r'^Thread \d+ \(.*LWP (\d+)\)', line)
            if m:
                cur = threads.setdefault(int(m.group(1)), [])
            elif line.startswith('#') and cur is not None:
                cur.append(line)
        res[core.strip()] = ({t: [n for _, n in parse_gdb_frames('\n'.join(ls))] for t, ls in threads.items()},
                             text)
    return res


def gdb_all_threads(binary, scen, rundir):
    """Every thread's backtrace at the crash: [names per thread], raw."""
    out = run_gdb(['run', 'thread apply all ' + BT],
                  ['--args', binary, scen, '--threads', '4', '--log', os.path.join(rundir, 'gdb-crash.log')],
                  rundir)
    threads, cur = [], None
    for line in out.splitlines():
        if line.startswith('Thread '):
            cur = []
            threads.append(cur)
        elif line.startswith('#') and cur is not None:
            cur.append(line)
    return [[n for _, n in parse_gdb_frames('\n'.join(t))] for t in threads], out


# ---- symbols -------------------------------------------------------------

def own_functions(objdir):
    """Function names defined in the variant's own objects (crashme + lib)."""
    objs = []
    for d, _, files in os.walk(objdir):
        objs += [os.path.join(d, f) for f in files if f.endswith('.o')]
    return own_functions_of(objs)


def own_functions_of(objs):
    names = set()
    if not objs:
        return names
    for line in sh(['nm', '--defined-only'] + objs).splitlines():
        p = line.split()
        if len(p) == 3 and p[1] in 'tTwW':
            names.add(base_name(p[2]))
    return names


def binary_functions(binary):
    names = set()
    for line in sh(['nm', '--defined-only', binary]).splitlines():
        p = line.split()
        if len(p) == 3 and p[1] in 'tTwWiI':
            names.add(base_name(p[2]))
    return names


def build_id(binary):
    m = re.search(r'Build ID: ([0-9a-f]+)', sh(['readelf', '-n', binary]))
    return m.group(1) if m else None


# ---- comparisons -----------------------------------------------------------

def own_chain(names, own, terminal):
    out = []
    for n in names:
        if n in own:
            out.append(n)
            if n == terminal:
                break
    return out


def intruders(frames, own, terminal, scen=None):
    """Frames that are not our code between our first frame and the
    terminal one: libc has no business there, except in insig, where the
    signal frame and raise() sit between usr1_handler and crash_here, and
    in the callback scenarios, where the libc function that calls back
    (CALLBACK_LIBC names only) sits between the callback and
    callback_here."""
    names = [f.name for f in frames]
    firsts = [k for k, n in enumerate(names) if n in own]
    if not firsts:
        return []
    end = names.index(terminal) if terminal in names else len(names)
    lo = hi = -1
    allowed = None
    if scen == 'insig' and 'usr1_handler' in names and 'crash_here' in names:
        lo, hi = names.index('usr1_handler'), names.index('crash_here')
    if scen in CALLBACK_LIBC and 'callback_here' in names:
        lo, hi, allowed = firsts[0], names.index('callback_here'), CALLBACK_LIBC[scen]
    return [frames[k].text for k in range(firsts[0], end)
            if names[k] not in own and not (lo < k < hi and (allowed is None or names[k] in allowed))]


def is_subsequence(rep, ref):
    it = iter(ref)
    return all(any(n == a for a in it) for n in rep)


def chain_matches(rep, ref, optional):
    """rep must be ref with some optional (inlined) names left out."""
    i = 0
    for n in ref:
        if i < len(rep) and rep[i] == n:
            i += 1
        elif n not in optional:
            return False
    return i == len(rep)


def collapse(names):
    out = []
    for n in names:
        if not out or out[-1] != n:
            out.append(n)
    return out


def fmt_chain(ref, optional):
    return ' '.join('[%s]' % n if n in optional else n for n in ref)


# ---- the checker ------------------------------------------------------------

class Checker:
    def __init__(self, a):
        self.a = a
        self.out = a.out
        self.tmp = a.tmp
        self.variants = [v for v in a.variants.split(',') if v]
        self.info = {}
        self.gdb = {}        # (variant, scen) -> (names, raw)
        self.gdb_core = {}   # run label -> (names, raw, outer frames): overflow runs
        self.gdb_threads = {}   # scen -> {'idle': chain, 'main': chain}, from glibc
        self.core_threads = {}  # run dir -> ({tid: names}, raw): gdb on the run's core
        self.core_ok, self.core_why = core_allowed()

    def binary(self, v):
        return os.path.join(self.out, v, 'crashme')

    def base(self, v):
        return DEGRADED.get(v, v)

    def setup(self):
        for v in self.variants:
            b = self.base(v)
            self.info[v] = {
                'own': own_functions(os.path.join(self.out, b, 'obj')),
                'funcs': binary_functions(self.binary(b)),
                'musl': not v.startswith('glibc'),
                'build_id': build_id(self.binary(v)),
            }

    # -- running
    def plan_runs(self):
        runs = []

        def add(v, s, extra, name, env=None):
            d = os.path.join(self.tmp, 'runs', v, name)
            runs.append((self.binary(v), Run(v, s, [s] + extra + ['--log', os.path.join(d, 'crash.log')], d), env))

        for v in self.variants:
            for s in ORDER:
                n = {'dual': self.a.dual, 'logbusy': self.a.logbusy}.get(s, 1)
                for k in range(n):
                    add(v, s, [], s + ('.%d' % k if n > 1 else ''))
                    runs[-1][1].core_check = k == 0 and v in CORE_VARIANTS
            add(v, 'segv', ['--threads', '4'], 'segv-threads')
            runs[-1][1].core_check = v in CORE_VARIANTS
            add(v, 'thread', ['--threads', '4'], 'thread-threads')
            runs[-1][1].core_check = v in CORE_VARIANTS
            if v in FULL or v == 'musl-O2-nohdr':
                for s in ('segv', 'abort'):
                    add(v, s, ['--inject', '2'], s + '-inject', {'LULL_CRASH_INJECT': '2'})
                # the fault also hits every other thread's own backtrace
                add(v, 'segv', ['--inject', '2', '--threads', '4'], 'segv-inject-threads',
                    {'LULL_CRASH_INJECT': '2'})
        return runs

    def run_all(self):
        runs = self.plan_runs()
        t0 = time.monotonic()
        for binary, r, env in runs:   # one at a time: thread timing must not suffer
            do_run(binary, r, env, keep_core=(r.scen.startswith('overflow') and len(r.args) == 3) or r.core_check)
        diag('%d crash runs in %.1f s' % (len(runs), time.monotonic() - t0))
        self.runs = [r for _, r, _ in runs]

        t0 = time.monotonic()
        jobs, threads_raw, core_runs = {}, {}, {}
        with concurrent.futures.ThreadPoolExecutor(max_workers=self.a.jobs) as ex:
            for v in self.variants:
                if v not in FULL:
                    continue
                for s in GDB_SCEN:
                    if self.info[v]['musl'] and s in MUSL_NO_GDB:
                        continue   # reference() takes the glibc build's
                    d = os.path.join(self.tmp, 'gdb', v, s)
                    jobs[('live', v, s)] = ex.submit(gdb_trace, self.binary(v), s, d)
            for r in self.runs:
                if r.core and r.scen.startswith('overflow') and len(r.args) == 3:
                    jobs[('core', r.label)] = ex.submit(gdb_core_depth, self.binary(self.base(r.variant)),
                                                        r.core, r.dir)
            by_bin = {}
            for r in self.runs:
                if r.core and r.core_check:
                    by_bin.setdefault(self.binary(self.base(r.variant)), []).append(r)
            for b, rs in by_bin.items():
                jobs[('corethreads', b)] = ex.submit(gdb_cores_threads, b, [r.core for r in rs],
                                                     os.path.join(self.tmp, 'gdb-cores', os.path.basename(os.path.dirname(b))))
                core_runs[b] = rs
            if GLIBC_REF in self.variants:
                for s in ('segv', 'thread'):
                    d = os.path.join(self.tmp, 'gdb', GLIBC_REF, s + '-threads')
                    jobs[('threads', s)] = ex.submit(gdb_all_threads, self.binary(GLIBC_REF), s, d)
            for k, f in jobs.items():
                res = f.result()
                if k[0] == 'live':
                    self.gdb[k[1:]] = res
                elif k[0] == 'core':
                    self.gdb_core[k[1]] = res
                elif k[0] == 'corethreads':
                    for r in core_runs[k[1]]:
                        if r.core in res:
                            self.core_threads[r.dir] = res[r.core]
                else:
                    threads_raw[k[1]] = res
        for r in self.runs:
            if r.core:
                os.unlink(r.core)
        inl = set()
        for res in list(self.gdb.values()) + list(self.gdb_core.values()) + list(threads_raw.values()):
            inl |= gdb_inlined_own(res[1], self.a.root)
        for v in self.variants:
            self.info[v]['own'] |= inl
        for scen, res in threads_raw.items():
            self.gdb_threads[scen] = self.thread_refs(res)
        diag('%d gdb runs in %.1f s' % (len(jobs), time.monotonic() - t0))
        for r in self.runs:
            if r.variant == 'musl-O2-strip':
                self.resolve_stripped(r)

    def thread_refs(self, res):
        """The own chains of an idle loop and of the main thread in loop_main,
        from gdb's `thread apply all bt` of the glibc build."""
        threads, raw = res
        own = self.info[GLIBC_REF]['own']
        refs = {'raw': raw}
        for names in threads:
            if '<signal handler called>' in names:
                names = names[len(names) - names[::-1].index('<signal handler called>'):]
            if 'idle_loop' in names:
                refs.setdefault('idle', own_chain(names, own, 'loop_start'))
            elif 'loop_main' in names:
                refs.setdefault('main', own_chain(names, own, 'main'))
        return refs

    def resolve_stripped(self, r):
        """strip -s: the report has raw addresses; name the frames offline
        with addr2line on the unstripped build (same code, same addresses)."""
        r.reports = parse_reports(r.log)
        for rep in r.reports:
            for sec in rep.sections:
                addrs = []
                for k, f in enumerate(sec.frames):
                    exact = k == 0 or sec.frames[k - 1].sigframe
                    addrs.append(f.pc - rep.bias - (0 if exact else 1))
                for f, chain in zip(sec.frames, a2l_functions(self.binary(self.base(r.variant)), addrs)):
                    f.name = chain[-1] if chain else None   # the outermost: the real frame

    def reports(self, r):
        if getattr(r, 'reports', None) is None:
            r.reports = parse_reports(r.log)
        return r.reports

    # -- references
    def reference(self, v, scen):
        """(own chain, terminal, where from) of gdb's backtrace for scen on v."""
        b = self.base(v)
        src = {'dual': 'thread', 'smash': 'segv'}.get(scen, scen)
        terminal = 'loop_start' if scen in THREAD_SCEN else 'main'
        own = self.info[v]['own']
        cands = []
        # gdb cannot unwind musl's raise(), nor the libc functions that
        # call back: they have no CFI (research 11)
        musl_raise = self.info[v]['musl'] and src in MUSL_NO_GDB
        if not musl_raise:
            cands.append((b, 'gdb on %s' % b))
        if GLIBC_REF in self.variants and b != GLIBC_REF:
            cands.append((GLIBC_REF, 'gdb on %s minus libc frames' % GLIBC_REF))
        why = []
        for cv, desc in cands:
            g = self.gdb.get((cv, src))
            if not g:
                why.append('%s: no gdb run' % cv)
                continue
            chain = own_chain(g[0], own, terminal)
            if chain and chain[-1] == terminal:
                if musl_raise:
                    desc += ", as gdb loses the frames after musl's raise() or qsort() etc., which have no CFI"
                elif why:
                    desc += ' (' + '; '.join(why) + ')'
                return chain, terminal, desc
            why.append('gdb on %s does not reach %s: %s' % (cv, terminal, ' '.join(str(n) for n in g[0][:16])))
        return None, terminal, '; '.join(why) or 'no gdb reference'

    def optional(self, v, ref):
        """Inlined functions: in gdb's trace, not in the binary's symbols."""
        return {n for n in (ref or []) if n not in self.info[v]['funcs']}

    # -- checks
    def check_all(self):
        by = {}
        for r in self.runs:
            by.setdefault((r.variant, r.scen, tuple(r.args[1:-2])), []).append(r)
        for v in self.variants:
            emit('diag', '---- %s (%s)' % (v, self.binary(v)))
            for s in ORDER:
                rs = by.get((v, s, ()), [])
                if s == 'dual':
                    self.check_dual(v, rs)
                else:
                    self.check_one(v, s, rs[0])
                if s == 'logbusy':
                    self.check_loggers(v, rs)
            self.check_threads(v, by.get((v, 'segv', ('--threads', '4')), [None])[0])
            self.check_threads(v, by.get((v, 'thread', ('--threads', '4')), [None])[0])
            for r in self.runs:
                if r.variant == v and r.core_check:
                    self.check_core(v, r)
            for s, args in (('segv', ('--inject', '2')), ('abort', ('--inject', '2')),
                            ('segv', ('--inject', '2', '--threads', '4'))):
                rs = by.get((v, s, args))
                if rs:
                    self.check_inject(v, s, rs[0])

    def check_basic(self, r, nreports=1):
        """exit status, report complete (log and stderr), core. Returns the reports."""
        sig, codes, addr, threads, _ = SCEN[r.scen]
        L = r.label
        got = r.killed_by()
        ok(got == sig and not r.timed_out, '%s: killed by %s (no hang)' % (L, sig),
           'got: %s after %.1f s' % (r.signame(), r.secs), 'stderr: ' + r.stderr[-600:])
        reps = self.reports(r)
        problems = []
        if len(reps) != nreports:
            problems.append('%d reports in the log, want %d' % (len(reps), nreports))
        for rep in reps[:nreports]:
            problems += self.report_problems(r, rep, sig, codes, addr, threads)
        ok(not problems, "%s: complete report in the log (%s, thread %s, frames, addr2line line, end line)"
           % (L, sig, '/'.join(sorted(threads))), *problems, 'log (head):\n' + head_of(r.log))
        ereps = parse_reports(r.stderr)
        ok(len(ereps) == nreports and all(e.end_idx is not None for e in ereps),
           '%s: the report is on stderr too (log is a file)' % L,
           '%d reports on stderr, ends: %s' % (len(ereps), [e.end_idx is not None for e in ereps]),
           'stderr (tail):\n' + r.stderr[-800:])
        if not self.core_ok:
            skip('%s: core dumped' % L, self.core_why)
        else:
            dumped = r.status is not None and os.WIFSIGNALED(r.status) and os.WCOREDUMP(r.status)
            ok(dumped and r.cores, '%s: core dumped' % L,
               'wait status: %s, core files in the run dir: %s' % (r.signame(), r.cores or 'none'))
        return reps

    def report_problems(self, r, rep, sig, codes, addr, threads):
        p = []
        if rep.sig != sig:
            p.append('header signal %s, want %s' % (rep.sig, sig))
        code = rep.code.split(':')[0]
        if code not in codes:
            p.append('header code %r, want one of %s' % (rep.code, sorted(codes)))
        if addr is not None and rep.addr != addr:
            p.append('header fault address %s, want %s' % (rep.addr, addr))
        if code in ('SI_USER', 'SI_TKILL') and rep.from_pid != str(rep.pid):
            p.append('a signal the process sent itself: "from pid %s", want %d' % (rep.from_pid, rep.pid))
        if rep.thread not in threads:
            p.append("header thread '%s', want %s" % (rep.thread, sorted(threads)))
        if rep.exe is None:
            p.append('no "*** executable ... build-id ... load bias" line')
        elif os.path.realpath(rep.exe) != os.path.realpath(self.binary(r.variant)):
            p.append('executable %s, want %s' % (rep.exe, self.binary(r.variant)))
        elif rep.build_id != self.info[r.variant]['build_id']:
            p.append('build-id %s, readelf says %s' % (rep.build_id, self.info[r.variant]['build_id']))
        if not rep.registers or 'rip 0x' not in rep.registers[0] or 'rsp 0x' not in rep.registers[0]:
            p.append('no "*** registers: rip .. rsp .." line')
        cs = rep.crashing
        if cs is None:
            p.append('no "backtrace of thread ..., from the interrupted context" section')
        else:
            if cs.tid != rep.tid:
                p.append('crashing section tid %d, header tid %d' % (cs.tid, rep.tid))
            if not cs.frames:
                p.append('no frames for the crashing thread')
            else:
                m = re.search(r'rip (0x[0-9a-f]+)', rep.registers[0] if rep.registers else '')
                if m and int(m.group(1), 16) != cs.frames[0].pc:
                    p.append('frame 0 pc %#x is not the interrupted rip %s' % (cs.frames[0].pc, m.group(1)))
                if [f.n for f in cs.frames] != list(range(len(cs.frames))):
                    p.append('frame numbers not 0..n-1: %s' % [f.n for f in cs.frames])
            if rep.a2l_bin is None and any(f.sym for f in cs.frames):
                # (a trace of only '??' frames, as a return into a smashed
                # address, has no address of the executable to list)
                p.append('no "*** addr2line -f -i -e BIN ADDR..." line')
        if rep.raw_fault:
            p.append('"fault inside the crash handler": the handler itself faulted')
        guessed = [f.text for sec in rep.sections for f in sec.frames if f.tag == 'guess' or f.after_guess]
        if guessed:
            p.append('guessed frames (a return address that does not validate is not a frame): %s' % guessed[:3])
        if rep.malformed:
            p.append('malformed or misplaced report lines: %s' % rep.malformed[:5])
        if rep.interleaved:
            p.append('another report began before this one ended')
        if rep.foreign and not rep.noanswer:
            p.append('the report is not one block: %d log records inside it, e.g. %s'
                     % (len(rep.foreign), rep.foreign[:2]))
        if rep.end_idx is None:
            p.append('no "*** end of crash report" line: the report is cut')
        elif rep.end_sig != sig:
            p.append('end line names %s, want %s' % (rep.end_sig, sig))
        return p

    def check_one(self, v, s, r):
        reps = self.check_basic(r)
        rep = reps[0] if reps else None
        cs = rep.crashing if rep else None
        kind = SCEN[s][4]
        if kind == 'overflow':
            self.check_overflow(v, s, r, cs)
        elif kind == 'smash':
            self.check_smash(v, s, r, cs)
        else:
            self.check_chain(v, s, r.label, cs)
        if v != 'musl-O2-strip':
            self.check_lines(v, r.label, rep)

    def check_loggers(self, v, rs):
        """logbusy, repeated: each logger-K, caught anywhere inside
        log_info (formatting in musl's printf, or in write), writes its own
        stack: functions of log.c/time.c/format.c, then logger_loop, loop_start."""
        objdir = os.path.join(self.out, self.base(v), 'obj', 'lib')
        logfns = own_functions_of([os.path.join(objdir, f) for f in ('log.o', 'time.o', 'format.o')])
        own = self.info[v]['own']
        L = '%s/logbusy x%d' % (v, len(rs))
        bad_exit = [(i, r.signame()) for i, r in enumerate(rs)
                    if r.killed_by() != 'SIGSEGV' or len(self.reports(r)) != 1 or self.reports(r)[0].end_idx is None]
        ok(rs and not bad_exit, '%s: killed by SIGSEGV after one complete report every time' % L,
           'runs: %s' % bad_exit)
        problems, wrong, nbad = [], False, 0
        for i, r in enumerate(rs):
            reps = self.reports(r)
            if not reps:
                continue
            rep, pr = reps[0], []
            for k in range(4):
                name = 'logger-%d' % k
                secs = rep.section(name)
                if name in rep.noanswer and not secs:
                    diag("  %s run %d: '%s' named as not answering" % (L, i, name))
                    continue
                if len(secs) != 1:
                    pr.append("'%s': %d sections" % (name, len(secs)))
                    wrong = True
                    continue
                got = own_chain([f.name for f in secs[0].frames], own, 'loop_start')
                head, tail = got[:-2], got[-2:]
                intr = intruders(secs[0].frames, own, 'loop_start')
                if not set(head) <= logfns or 'logger_loop' in head or intr:
                    wrong = True
                if tail != ['logger_loop', 'loop_start'] or not set(head) <= logfns or intr:
                    pr.append("'%s' (own frames): %s\n  frames:\n%s"
                              % (name, ' '.join(got), show_frames(secs[0].frames)))
            if pr:
                nbad += 1
                if len(problems) < 6:
                    problems += ['run %d: %s' % (i, x) for x in pr[:2]]
        self.name_result(v, rs and not nbad, '%s: names: logger-0..logger-3 each with its own backtrace '
                         '(log.c functions, logger_loop, loop_start)' % L,
                         '%d of %d runs bad' % (nbad, len(rs)), *problems, subseq=not wrong)

    def check_chain(self, v, s, L, cs):
        ref, terminal, src = self.reference(v, s)
        optional = self.optional(v, ref)
        desc = '%s: names match gdb (%s)' % (L, fmt_chain(ref, optional) if ref else 'no reference')
        if ref is None:
            return self.name_result(v, False, desc, 'no gdb reference: ' + src)
        if cs is None or not cs.frames:
            return self.name_result(v, False, desc, 'no frames in the report', 'reference from ' + src)
        got = own_chain([f.name for f in cs.frames], self.info[v]['own'], terminal)
        intr = intruders(cs.frames, self.info[v]['own'], terminal, s)
        good = chain_matches(got, ref, optional) and not intr
        # Degraded binaries may show frames they are unsure of, marked
        # [guess] / [after guess]: those may be wrong; the others may not.
        sure = [f for f in cs.frames if f.tag != 'guess' and not f.after_guess]
        got_sure = own_chain([f.name for f in sure], self.info[v]['own'], terminal)
        # frames between ours count only once the sure chain is whole
        intr_sure = intruders(sure, self.info[v]['own'], terminal, s) if terminal in got_sure else []
        return self.name_result(v, good, desc,
                                'report (own frames): ' + ' '.join(got),
                                'gdb    (own frames): ' + fmt_chain(ref, optional) + '  [from ' + src + ']',
                                *(['frames of no function of ours inside the chain: %s' % intr] if intr else []),
                                'report frames:\n' + show_frames(cs.frames),
                                subseq=is_subsequence(got_sure, ref) and not intr_sure)

    def name_result(self, v, good, desc, *diags, subseq=None):
        """Full variants: the names must match. Degraded ones (no
        .eh_frame_hdr, strip -s) may lose frames (a TODO when they do) but
        must not show wrong ones: `subseq` says whether what they show is
        in the reference, in order."""
        if v in DEGRADED:
            if v == 'musl-O2-strip':
                desc = desc.replace(': names', ': names (by addr2line on the unstripped build)', 1)
            why = 'without .eh_frame_hdr' if v.endswith('nohdr') else 'strip -s:'
            if subseq is not None:
                ok(subseq, desc.replace(' match gdb', ' match gdb or are missing', 1) + ': no wrong frames',
                   *diags)
            todo(good, desc, why + ' fewer frames are allowed', *diags)
        else:
            ok(good, desc, *diags)
        return good

    def check_overflow(self, v, s, r, cs):
        """The recursion is collapsed ("the frame above repeated N more
        times") and the report goes on to main / the thread start: compare
        the collapsed chain and the depth with gdb on the core of the same
        run (a separate run under gdb has a different depth: environment,
        stack randomization)."""
        terminal = 'loop_start' if s in THREAD_SCEN else 'main'
        own = self.info[v]['own']
        g = self.gdb_core.get(r.label)
        L = r.label
        if not g or not g[0] or not g[2]:
            why = 'no core of this run (%s)' % (self.core_why or 'not dumped') if not g else \
                'gdb on the core:\n' + g[1][-2000:]
            return self.name_result(v, False, '%s: names match gdb on its core (overflow_rec..., %s)'
                                    % (L, terminal), why)
        top, outer = g[0], g[2]
        gchain = collapse([n for n in top if n in own] + [n for _, n in outer if n in own])
        if terminal in gchain:
            gchain = gchain[:gchain.index(terminal) + 1]
        optional = self.optional(v, gchain)
        # gdb numbers inlined functions as frames of their own: not a report's
        gdepth = next((num + 1 - sum(1 for k, m in outer if k < num and m in optional)
                       for num, n in outer if n == terminal), None)
        frames = cs.frames if cs else []
        rchain, rdepth = [], 0
        for f in frames:
            rdepth += 1 + f.repeats
            if f.name in own:
                rchain.append(f.name)
                if f.name == terminal:
                    break
        rchain = collapse(rchain)
        self.name_result(v, chain_matches(rchain, gchain, optional) and gchain[-1:] == [terminal],
                         '%s: names match gdb on its core (%s)' % (L, fmt_chain(gchain, optional)),
                         'report (own, collapsed): ' + ' '.join(rchain),
                         'report frames:\n' + show_frames(frames),
                         'gdb outermost: %s' % outer,
                         subseq=is_subsequence(rchain, gchain))
        self.name_result(v, gdepth is not None and rdepth == gdepth,
                         "%s: names: frames to %s counting the repeats = gdb's on the core (%s)"
                         % (L, terminal, gdepth),
                         'report: %d frames counting the repeats; gdb: %s' % (rdepth, gdepth),
                         'report frames:\n' + show_frames(frames))

    def check_smash(self, v, s, r, cs):
        ref, terminal, src = self.reference(v, s)
        if ref is None:
            ok(False, '%s: names: no wrong frames' % r.label, 'no reference: ' + src)
            return
        # smash_here's return address (into crash_here) was destroyed:
        # what can be recovered is level4 and up (crash_here and smash_here
        # only by luck, from stale stack words).
        above = ref[ref.index('level4'):] if 'level4' in ref else ref
        allowed = ['smash_here', 'crash_here'] + above
        optional = self.optional(v, ref)
        got = own_chain([f.name for f in cs.frames] if cs else [], self.info[v]['own'], terminal)
        ok(is_subsequence(got, allowed), '%s: names: no wrong frames (each named one in %s, in order)'
           % (r.label, fmt_chain(allowed, optional)),
           'report (own frames): ' + ' '.join(got),
           'report frames:\n' + show_frames(cs.frames if cs else []))
        notes = cs.notes if cs else []
        ok(terminal in got or any('validates as a call to' in n or 'no further frames' in n for n in notes),
           '%s: a trace that stops at the damage says so in one line, with no guesses' % r.label,
           'notes: %s' % notes, 'report frames:\n' + show_frames(cs.frames if cs else []))
        need = [n for n in above if n not in optional]
        todo([n for n in got if n in need] == need,
             '%s: names: frames above the damage recovered (%s)' % (r.label, ' '.join(need)),
             'research 15.8 expects them; the issue and docs/crash-reports.md allow the trace to end at the damage',
             'report (own frames): ' + ' '.join(got),
             'report frames:\n' + show_frames(cs.frames if cs else []))

    def check_lines(self, v, L, rep):
        """file:line where printed == addr2line on the same (link-time) address."""
        if rep is None or rep.crashing is None or not rep.crashing.frames:
            return
        frames = rep.crashing.frames
        if not any(f.sym for f in frames):
            skip('%s: file:line equals addr2line' % L, 'no frame in the executable (%s)' % frames[0].text)
            return
        bias = rep.bias
        # which address each frame stands for: the addr2line line lists,
        # in order, one per frame of the executable: pc (frame 0, or a
        # frame interrupted by a signal) or pc-1 (a return address).
        j, addr_of, problems = 0, {}, []
        for k, f in enumerate(frames):
            if j < len(rep.a2l) and rep.a2l[j] in (f.pc - bias, f.pc - 1 - bias):
                if k == 0 and rep.a2l[j] != f.pc - bias:
                    problems.append('frame 0 listed as pc-1 (%#x), want its pc %#x' % (rep.a2l[j], f.pc - bias))
                addr_of[k] = rep.a2l[j]
                j += 1
        if j != len(rep.a2l):
            problems.append('addr2line line lists %d addresses, only %d match frames in order: %s'
                            % (len(rep.a2l), j, ' '.join('%#x' % a for a in rep.a2l)))
        with_line = [k for k, f in enumerate(frames) if f.line is not None]
        unmapped = [k for k in with_line if k not in addr_of]
        if unmapped:
            problems.append('frames with file:line but no address in the addr2line line: %s' % unmapped)
        check = [k for k in with_line if k in addr_of]
        if check:
            res = a2l_lines(self.binary(self.base(v)), [addr_of[k] for k in check])
            for k, want in zip(check, res):
                gotl = '%s:%d' % (frames[k].file, frames[k].line)
                if gotl != want:
                    problems.append('frame %d (%s, address %#x): report %s, addr2line %s'
                                    % (k, frames[k].sym, addr_of[k], gotl, want))
        ok(not problems and check, '%s: file:line of %d frames equals addr2line' % (L, len(check)),
           *(problems or ['no frame has file:line']), 'report frames:\n' + show_frames(frames))
        own = self.info[v]['own']
        missing = [f.text for f in frames if f.name in own and f.line is None]
        ok(not missing, '%s: every frame in own code has file:line (the binary has .debug_line)' % L,
           'without file:line:\n' + '\n'.join(missing[:10]))

    def check_dual(self, v, rs):
        """Two loop threads fault at once. A run where the dump of the
        first report caught the other crasher before its fault (still in
        crasher_loop, not in crash_here: the scheduler kept it off the CPU
        for the whole first report) did not test two crashes at once; it
        is counted apart and must be rare."""
        L = '%s/dual x%d' % (v, len(rs))
        bad_exit = [(i, r.signame()) for i, r in enumerate(rs) if r.killed_by() != 'SIGSEGV' or r.timed_out]
        ok(rs and not bad_exit, '%s: killed by SIGSEGV every time (no hang)' % L, 'runs: %s' % bad_exit)
        bad, chains_bad, stderr_bad, late = [], [], [], []
        ref, terminal, src = self.reference(v, 'dual')
        optional = self.optional(v, ref)
        for i, r in enumerate(rs):
            reps = self.reports(r)
            if len(reps) == 1 and reps[0].end_idx is not None:
                other = [sec for sec in reps[0].sections if not sec.crashing and sec.name.startswith('crasher-')]
                names = [f.name for f in other[0].frames] if other else []
                if 'crasher_loop' in names and 'crash_here' not in names and 'level1' not in names:
                    late.append((i, other[0].name, ' '.join(str(n) for n in names)))
                    continue
            p = []
            if len(reps) != 2:
                p.append('%d reports' % len(reps))
            for rep in reps:
                p += self.report_problems(r, rep, 'SIGSEGV', {'SEGV_MAPERR'}, '0x0', {'crasher-0', 'crasher-1'})
            if len(reps) == 2:
                if reps[0].end_idx is None or reps[1].start < reps[0].end_idx:
                    p.append('the second report starts before the first one ends')
                if {reps[0].thread, reps[1].thread} != {'crasher-0', 'crasher-1'}:
                    p.append('threads %s, want crasher-0 and crasher-1' % [x.thread for x in reps])
            if p:
                bad.append((i, p, r))
            for rep in reps:
                if ref is None or rep.crashing is None:
                    chains_bad.append((i, 'no reference (%s) or no frames' % src, False))
                    continue
                got = own_chain([f.name for f in rep.crashing.frames], self.info[v]['own'], terminal)
                intr = intruders(rep.crashing.frames, self.info[v]['own'], terminal)
                if intr:
                    chains_bad.append((i, "'%s': frames of no function of ours inside the chain: %s"
                                       % (rep.thread, intr), False))
                elif not chain_matches(got, ref, optional):
                    chains_bad.append((i, "'%s': %s (gdb: %s)" % (rep.thread, ' '.join(got), fmt_chain(ref, optional)),
                                       is_subsequence(got, ref)))
            if len(parse_reports(r.stderr)) != len(reps):
                stderr_bad.append(i)
        d = []
        for i, p, r in bad[:3]:
            d.append('run %d: %s' % (i, '; '.join(p)))
            d.append('log (head):\n' + head_of(r.log, 60))
        n = len(rs) - len(late)
        for i, name, names in late:
            diag("  %s run %d: not simultaneous: '%s' was still before its fault when dumped (%s)"
                 % (L, i, name, names))
        ok(rs and not bad, '%s: 2 complete reports (crasher-0, crasher-1), the second after the first, '
           'in all %d runs where both crashed' % (L, n), '%d of %d runs bad' % (len(bad), n), *d)
        ok(n >= (len(rs) + 1) // 2, '%s: both threads crashed at once in at least half of the runs (%d)' % (L, n),
           'the scheduler kept the second crasher off the CPU in %d runs' % len(late))
        self.name_result(v, rs and not chains_bad,
                         '%s: names: both crashing chains match gdb (%s)' % (L, fmt_chain(ref or [], optional)),
                         *['run %d: %s' % c[:2] for c in chains_bad[:4]],
                         subseq=not [c for c in chains_bad if not c[2]])
        ok(rs and not stderr_bad, '%s: the reports are on stderr too' % L, 'runs: %s' % stderr_bad)
        if self.core_ok:
            nocore = [i for i, r in enumerate(rs) if not r.cores]
            ok(rs and not nocore, '%s: core dumped every time' % L, 'runs without core: %s' % nocore)
        else:
            skip('%s: core dumped' % L, self.core_why)

    def check_threads(self, v, r):
        """--threads 4: every idle loop writes its own stack (or is named as
        not answering); in the thread scenario the main thread shows
        loop_main. References: gdb's `thread apply all bt` on the glibc build."""
        if r is None:
            return
        L = r.label
        reps = self.reports(r)
        rep = reps[0] if reps else None
        ok(r.killed_by() == 'SIGSEGV' and rep is not None and rep.end_idx is not None and len(reps) == 1,
           '%s: killed by SIGSEGV, one complete report' % L, 'got: %s' % r.signame(), head_of(r.log))
        if rep is None:
            return
        refs = self.gdb_threads.get(r.scen, {})
        own = self.info[v]['own']
        problems, wrong = [], False
        iref = refs.get('idle')
        iopt = self.optional(v, iref)
        for k in range(4):
            name = 'idle-%d' % k
            secs = rep.section(name)
            if name in rep.noanswer and not secs:
                diag("  %s: '%s' named as not answering" % (L, name))
                continue
            if len(secs) != 1:
                problems.append("'%s': %d backtrace sections, named as not answering: %s"
                                % (name, len(secs), name in rep.noanswer))
                continue
            got = own_chain([f.name for f in secs[0].frames], own, 'loop_start')
            intr = intruders(secs[0].frames, own, 'loop_start')
            if intr:
                wrong = True
                problems.append("'%s': frames of no function of ours inside the chain: %s" % (name, intr))
            if iref is None:
                problems.append('no gdb reference for an idle loop: %s' % refs.get('raw', 'no glibc build')[-1500:])
            elif not chain_matches(got, iref, iopt):
                wrong = wrong or not is_subsequence(got, iref)
                problems.append("'%s' (own frames): %s\n  frames:\n%s" % (name, ' '.join(got), show_frames(secs[0].frames)))
        tids = [sec.tid for sec in rep.sections]
        if len(tids) != len(set(tids)):
            problems.append('a thread has two sections: %s' % tids)
        self.name_result(v, not problems, '%s: names: idle-0..idle-3 each with its own backtrace as gdb (%s)'
                         % (L, fmt_chain(iref, iopt) if iref else '?'),
                         *problems, 'gdb (glibc build): %s' % (fmt_chain(iref, iopt) if iref else None),
                         'sections: %s' % [(sec.name, len(sec.frames)) for sec in rep.sections],
                         'not answering: %s' % rep.noanswer,
                         subseq=iref is not None and not wrong)
        if r.scen == 'thread':
            mref = refs.get('main')
            mopt = self.optional(v, mref)
            secs = [sec for sec in rep.sections if not sec.crashing and sec.name in MAIN_NAMES]
            got = own_chain([f.name for f in secs[0].frames], own, 'main') if secs else []
            good = (len(secs) == 1 and mref is not None and chain_matches(got, mref, mopt)) or \
                (not secs and any(n in MAIN_NAMES for n in rep.noanswer))
            self.name_result(v, good, "%s: names: the main thread's backtrace as gdb (%s)"
                             % (L, fmt_chain(mref, mopt) if mref else '?'),
                             'report (own frames): %s' % ' '.join(got),
                             'frames:\n' + (show_frames(secs[0].frames) if secs else '(none)'),
                             'not answering: %s' % rep.noanswer,
                             subseq=good or (mref is not None and is_subsequence(got, mref)))

    def check_core(self, v, r):
        """gdb's `thread apply all bt` on the run's core shows every thread
        where the report says it was: the crashing thread reaches the
        innermost function of ours in the report's crashing chain, every
        other thread that wrote its stack the innermost function of ours
        in it, and no thread sits in libc's syscall()/pause()."""
        L = r.label + (' (%s)' % os.path.basename(r.dir) if r.scen in ('dual', 'logbusy') else '')
        desc = '%s: gdb on the core: each thread where the report says it was' % L
        if not self.core_ok:
            return skip(desc, self.core_why)
        g = self.core_threads.get(r.dir)
        if g is None:
            return ok(False, desc, 'no core (%s)' % r.signame())
        threads, raw = g
        own = self.info[v]['own']
        problems, seen = [], []
        for rep in self.reports(r):
            for sec in rep.sections:
                want = next((f.name for f in sec.frames if f.name in own), None)
                tid = rep.tid if sec.crashing else sec.tid
                if want is None:
                    diag("  %s: thread '%s' has no frame of ours in the report: not compared" % (L, sec.name))
                    continue
                got = threads.get(tid)
                seen.append("'%s' %s" % (sec.name, want))
                if got is None:
                    problems.append("thread '%s' (tid %d): not in the core (threads %s)"
                                    % (sec.name, tid, sorted(threads)))
                elif want not in got:
                    problems.append("thread '%s' (tid %d): gdb does not reach %s: %s"
                                    % (sec.name, tid, want, ' '.join(str(n) for n in got[:12])))
                elif got and got[0] in ('syscall', 'pause', '__syscall_cp_c', '__syscall_cp_asm'):
                    problems.append("thread '%s' (tid %d): stopped in libc's %s"
                                    % (sec.name, tid, got[0]))
        if not seen and not problems:
            return skip(desc, 'no thread has a frame of ours in the report')
        ok(not problems, desc + ' (%s)' % ', '.join(seen[:6]), *problems,
           'gdb:\n' + '\n'.join(l for l in raw.splitlines() if l.startswith(('#', 'Thread')))[-3000:])

    def check_inject(self, v, s, r):
        sig = SCEN[s][0]
        L = r.label
        reps = self.reports(r)
        rep = reps[0] if reps else None
        ok(r.killed_by() == sig and not r.timed_out, '%s: killed by %s, not by the injected fault' % (L, sig),
           'got: %s' % r.signame())
        good = rep is not None and rep.raw_fault and rep.end_idx is not None and \
            rep.crashing is not None and len(rep.crashing.frames) >= 1
        ok(good, '%s: report degrades to raw context after the fault in the handler, and still ends' % L,
           'log (head):\n' + head_of(r.log))

    def summary(self):
        slow = sorted(self.runs, key=lambda r: -r.secs)[:3]
        diag('slowest runs: ' + ', '.join('%s %.2fs' % (r.label, r.secs) for r in slow))


def head_of(text, n=40):
    lines = [l for l in text.splitlines() if not re.match(r'^\d{4}-\d\d-\d\dT.* logger ', l)]
    return '\n'.join(lines[:n])


def a2l_lines(binary, addrs):
    out = sh(['addr2line', '-e', binary] + ['%#x' % a for a in addrs]).splitlines()
    return [re.sub(r' \(discriminator \d+\)$', '', l) for l in out]


def a2l_functions(binary, addrs):
    """addr2line -a -f -i: for each address its function chain, innermost
    (inlined) first, outermost (the real frame) last."""
    if not addrs:
        return []
    out = sh(['addr2line', '-a', '-f', '-i', '-e', binary] + ['%#x' % a for a in addrs]).splitlines()
    res, cur = [], None
    for i, line in enumerate(out):
        if re.fullmatch(r'0x[0-9a-f]+', line):
            cur = []
            res.append(cur)
        elif cur is not None:
            cur.append(line)
    # each chain alternates function, file:line
    return [[base_name(c[k]) for k in range(0, len(c), 2) if c[k] != '??'] for c in res]


def core_allowed():
    try:
        pat = open('/proc/sys/kernel/core_pattern').read().strip()
    except OSError:
        return False, 'cannot read /proc/sys/kernel/core_pattern'
    if pat.startswith('|'):
        return False, 'core_pattern pipes cores to %s (no file in the run dir)' % pat.split()[0]
    if '/' in pat:
        return False, 'core_pattern %r writes outside the run directory' % pat
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
    except (ValueError, OSError) as e:
        return False, 'cannot raise RLIMIT_CORE: %s' % e
    if hard != resource.RLIM_INFINITY and hard < (64 << 20):
        return False, 'RLIMIT_CORE hard limit is %d' % hard
    if not re.fullmatch(r'core(\.%p)?', pat) and pat != 'core':
        return False, 'core_pattern %r: core file name not predictable' % pat
    return True, ''


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', required=True)
    ap.add_argument('--root', default=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    ap.add_argument('--tmp', required=True)
    ap.add_argument('--variants', default=','.join(FULL + list(DEGRADED)))
    ap.add_argument('--dual', type=int, default=40)
    ap.add_argument('--logbusy', type=int, default=10)
    ap.add_argument('--jobs', type=int, default=2)
    a = ap.parse_args()
    c = Checker(a)
    if not c.core_ok:
        diag('cores: ' + c.core_why)
    c.setup()
    c.run_all()
    c.check_all()
    c.summary()
    emit('done')


if __name__ == '__main__':
    sys.exit(main())
