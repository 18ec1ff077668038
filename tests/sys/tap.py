"""tests/sys/tap.py: TAP plumbing for the python system tests, the
counterpart of tests/sys/tap.sh. A test script finds it beside itself:

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import tap
    from tap import ok, is_, diag

ok(), is_() and diag() print TAP lines on stdout (flushed, so they
interleave with a child's output in order); a failing check also says so
on stderr, as tap.sh does. done() prints the plan (at the end: the count
is known only then) and exits 0, or 1 if a check failed. BUILD is the
build tree ($LULL_BUILD, else build/ of this checkout).

Module state: the check and failure counts.
"""
import os
import socket
import sys
import time

BUILD = os.environ.get("LULL_BUILD") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../build")

n_tests = 0
n_failed = 0


def ok(cond, desc):
    global n_tests, n_failed
    n_tests += 1
    print("%sok %d - %s" % ("" if cond else "not ", n_tests, desc), flush=True)
    if not cond:
        n_failed += 1
        sys.stderr.write("# failed test %d: %s\n" % (n_tests, desc))
    return cond


def is_(got, want, desc):
    if not ok(got == want, desc):
        diag("got %r, want %r" % (got, want))


def diag(msg):
    for line in str(msg).splitlines() or [""]:
        print("# " + line, flush=True)


def failed():
    """How many checks failed so far."""
    return n_failed


def done():
    print("1..%d" % n_tests)
    sys.exit(1 if n_failed else 0)


def wait_until(cond, secs):
    """Poll cond every 50 ms for up to secs; its last value (not a timing
    claim: the bound only stops a broken test from hanging)."""
    end = time.time() + secs
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def closed_by_peer(s, timeout=5.0):
    """True if the peer closes (EOF or reset) within timeout; data is drained."""
    s.settimeout(timeout)
    try:
        while s.recv(1 << 16):
            pass
        return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
