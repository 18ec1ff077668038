#!/usr/bin/env python3
"""xmondpeer: raw-protocol and API checks against a running xmond (stdlib only).

  xmondpeer.py CHECK PROTO_PORT HTTP_PORT [ARGS...]

Prints one line per check, "ok DESC" or "not ok DESC", plus "# ..." notes;
tests/sys/xmond.t turns them into TAP. Frames are built here from the
protocol document's tables (docs/xmon-protocol.md sections 2-5), independently
of lull's codec; the section 5 frames are read from the document itself.

Checks:
  frames DOC          section 5 frames byte for byte: answers and API state
  bad LOG             wrong magic/version, unknown type, cut frames, limits
  limit LOG           10 000 open alerts on one instance, the next refused
  notice              binned notices taken by a dying connection are sent again
  notice_hold INST    log on as INST, raise binnable id 9, bin it, never read:
                      prints "binned KEY", then holds the connection
  notice_get INST     log on as INST: ok when the heartbeat and the notice of
                      id 9 come, and it is then recorded delivered
  load SEED           50 clients creating/updating/clearing until killed
  compare BEFORE AFTER   two GET /api/alerts?state=all answers: nothing lost
  api PATH            print a GET answer (JSON) for the shell
"""
import json, os, random, re, socket, struct, sys, time, urllib.request

PP, HP = 0, 0


def out(ok, desc):
    print(("ok " if ok else "not ok ") + desc, flush=True)
    return ok


def note(s):
    print("# " + str(s).replace("\n", "\n# "), flush=True)


def s16(b):
    if isinstance(b, str):
        b = b.encode()
    return struct.pack(">H", len(b)) + b


def logon(host, interval, app_type, inst, magic=0x54, version=4):
    return (struct.pack(">hii", magic, version, 0) + struct.pack(">i", 0) + s16(host) +
            struct.pack(">BBh", interval, 0, 0) + s16(app_type) + s16(inst) +
            struct.pack(">qiii", 0, 0, 0, 0) + s16(b""))


def child_logon(host, app_type, inst):
    return (struct.pack(">ii", 0x100, 0) + s16(host) + struct.pack(">BBh", 0, 0, 0) + s16(app_type) +
            s16(inst) + struct.pack(">qiii", 0, 0, 0, 0) + s16(b""))


def status():
    return struct.pack(">iiqiii", 1, 0, 0, 0, 0, 0)


def create(i, binnable, msg, typ=4):
    return struct.pack(">iqB", typ, i, binnable) + s16(msg)


def clear(i):
    return struct.pack(">iq", 3, i)


def child(typ, app_type, inst, idtext, binnable=0, msg=b""):
    if typ == 0x103:
        return struct.pack(">i", typ) + s16(app_type) + s16(inst) + s16(idtext)
    return (struct.pack(">i", typ) + s16(app_type) + s16(inst) + s16(idtext) + struct.pack(">i", binnable) +
            s16(msg) + s16(b""))


def api(path, method="GET", token=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (HP, path), method=method,
                                 data=b"" if method == "POST" else None)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        body = e.read()
        try:
            return e.code, json.loads(body)
        except ValueError:
            return e.code, body


def alerts(state="all", **kw):
    q = "&".join("%s=%s" % (k, urllib.request.quote(v)) for k, v in kw.items())
    return api("/api/alerts?state=%s%s" % (state, "&" + q if q else ""))[1]["alerts"]


def find(inst, alert_id, state="all"):
    for a in alerts(state, instance=inst):
        if a["alert_id"] == alert_id:
            return a
    return None


def wait(cond, secs=10):
    end = time.time() + secs
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.02)
    return None


def connect():
    s = socket.create_connection(("127.0.0.1", PP), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exact(s, n, secs=5):
    """n bytes, or fewer when the peer closes or secs pass."""
    s.settimeout(secs)
    b = b""
    while len(b) < n:
        try:
            c = s.recv(n - len(b))
        except (socket.timeout, ConnectionResetError):
            break
        if not c:
            break
        b += c
    return b


def closed_by_peer(s, secs=5):
    """True when the server closes the connection (EOF or reset) within secs, having sent nothing."""
    s.settimeout(secs)
    try:
        return s.recv(100) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def doc_frames(path):
    doc = open(path).read()
    sec = lambda t: doc[doc.index(t):]
    f = {}
    s = sec("### 5.1")
    s = s[s.index("one continuous hex string"):]
    s = s[s.index("```") + 3:]
    f["logon"] = bytes.fromhex("".join(s[:s.index("```")].split()))
    f["create_parent"] = bytes.fromhex(re.search(r"One line: `([0-9a-f]+)`", sec("### 5.2")).group(1))
    s = sec("### 5.3")
    s = s[s.index("```") + 3:]
    h = ""
    for line in s[:s.index("```")].splitlines():
        toks = line.split()
        if line[:1] != " ":
            toks = toks[1:]
        for t in toks:
            if not re.fullmatch(r"[0-9a-f]{2}", t):
                break
            h += t
    f["create_child"] = bytes.fromhex(h)
    rows = {"status": "status update (client)", "clear_parent": "clear, parent form, id 1",
            "update_parent": 'update, parent form, id 7, message "x"', "too_many": '"too many alerts" create (id 0)',
            "heartbeat": "heartbeat (server)", "binned": "alert binned, id 1 (server)"}
    for key, label in rows.items():
        cell = [l for l in sec("### 5.4").splitlines() if l.startswith("| " + label)][0].split("|")[2]
        hx = re.search(r"`([0-9a-f ]+)`", cell).group(1).replace(" ", "")
        m = re.search(r"followed by the \d+ ASCII bytes of `([^`]*)`", cell)
        f[key] = bytes.fromhex(hx) + (m.group(1).encode() if m else b"")
    cell = [l for l in sec("### 5.4").splitlines() if l.startswith("| child alert binned (server)")][0]
    hx = re.search(r"`([^`]+)`", cell.split("|")[2]).group(1)
    b = b""
    for tok in hx.split():
        if tok.startswith("<"):
            b += tok[1:-1].encode()
        else:
            b += bytes.fromhex(tok)
    f["binned_child"] = b
    return f


# ---- checks ---------------------------------------------------------------------------

def check_frames(docpath):
    F = doc_frames(docpath)
    INST, CRIT, DAY, NEVER = "eggsshard_007_0@node7", "restech_eggsfs.critical", "restech_eggsfs.daytime", "restech_eggsfs.never"
    out(len(F["logon"]) == 269 and len(F["create_parent"]) == 24 and len(F["create_child"]) == 66,
        "frames: the document's frames read back at the sizes it states")
    s = connect()
    s.sendall(F["logon"])
    t0 = time.time()
    hb = recv_exact(s, 4)
    out(hb == F["heartbeat"], "frames: 5.1 logon (269 bytes) answered by the heartbeat 00000000 (%.1f ms)" %
        ((time.time() - t0) * 1e3))
    ins = wait(lambda: [i for i in api("/api/instances")[1]["instances"] if i["instance"] == INST and i["state"] == "up"] or None)
    types = sorted(i["app_type"] for i in (ins or []))
    out(types == sorted([CRIT, DAY, NEVER]), "frames: the instance is up under the parent and both child types")
    s.sendall(F["status"])
    s.sendall(F["create_parent"])
    a = wait(lambda: find(INST, "1"))
    out(a is not None and (a["app_type"], a["binnable"], a["message"], a["state"], a["form"]) ==
        (CRIT, True, "disk full", "open", "parent"), "frames: 5.2 parent create -> critical, id \"1\", binnable, \"disk full\"")
    s.sendall(F["create_child"])
    a = wait(lambda: find(INST, "2"))
    out(a is not None and (a["app_type"], a["binnable"], a["message"], a["form"]) == (DAY, False, "slow", "child"),
        "frames: 5.3 child create -> daytime, id \"2\", not binnable, \"slow\"")
    s.sendall(F["update_parent"])
    a = wait(lambda: find(INST, "7"))
    out(a is not None and (a["app_type"], a["message"], a["state"]) == (CRIT, "x", "open"),
        "frames: 5.4 update of an unknown id 7 creates it with \"x\"")
    s.sendall(F["too_many"])
    a = wait(lambda: find(INST, "0"))
    out(a is not None and (a["binnable"], a["message"]) == (True, "too many alerts, alerts dropped"),
        "frames: 5.4 \"too many alerts\" create, id 0")
    # duplicate create: idempotent
    s.sendall(F["create_parent"])
    s.sendall(clear(7))
    wait(lambda: (find(INST, "7") or {}).get("state") == "cleared")
    n1 = [x for x in alerts("all", instance=INST) if x["alert_id"] == "1"]
    out(len(n1) == 1, "frames: the same create twice is one alert")
    a = find(INST, "7")
    out(a is not None and a["state"] == "cleared", "frames: clear (parent form) of id 7 closes it as cleared")
    # bin the parent alert: the 12 bytes of 5.4 come back
    a1 = find(INST, "1")
    st, body = api("/api/alerts/%s/bin" % a1["key"], "POST")
    out(st == 200 and body.get("state") == "binned", "frames: POST /api/alerts/KEY/bin -> 200, binned")
    got = recv_exact(s, 12)
    out(got == F["binned"], "frames: binned notice, parent form: 00000001 0000000000000001 (%s)" % got.hex())
    st, body = api("/api/alerts/%s/bin" % a1["key"], "POST")
    out(st == 409, "frames: binning it again -> 409")
    a2 = find(INST, "2")
    st, body = api("/api/alerts/%s/bin" % a2["key"], "POST")
    out(st == 409 and "not binnable" in json.dumps(body), "frames: binning a non-binnable alert -> 409")
    st, _ = api("/api/alerts/999999999/bin", "POST")
    out(st == 404, "frames: binning an unknown key -> 404")
    # child form binnable on "never", id text "42": the child notice of 5.4
    s.sendall(child(0x104, NEVER, INST, "42", 1, "m"))
    a = wait(lambda: find(INST, "42"))
    st, _ = api("/api/alerts/%s/bin" % a["key"], "POST")
    got = recv_exact(s, len(F["binned_child"]))
    out(got == F["binned_child"], "frames: binned notice, child form, never / instance / \"42\" as in 5.4")
    # child form clear of the daytime alert
    s.sendall(child(0x103, DAY, INST, "2"))
    a = wait(lambda: (find(INST, "2") or {}).get("state") == "cleared")
    out(bool(a), "frames: child clear (0x103) of id \"2\" closes it")
    # history of one alert
    st, h = api("/api/alerts/%s" % a1["key"])
    ev = [e["event"] for e in h.get("history", [])]
    out(st == 200 and ev[:2] == ["created", "binned"] and "notified" in ev,
        "frames: GET /api/alerts/KEY has the history created, binned, notified (%s)" % ",".join(ev))
    keys = set(h)
    need = {"key", "app_type", "instance", "alert_id", "binnable", "message", "state", "created", "updated"}
    out(need <= keys and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", h["created"]) is not None,
        "frames: an alert object has key, app_type, instance, alert_id, binnable, message, state, created, updated (RFC 3339 UTC)")
    s.close()


def check_bad(logpath):
    def logtail():
        return open(logpath, errors="replace").read()
    good = logon("h", 10, "bad.t", "bad-good")
    # wrong magic / version / not a logon / unknown type
    for name, frame, want in [("magic 'U'", logon("h", 10, "bad.t", "x", magic=0x55), "bad magic"),
                              ("version 3", logon("h", 10, "bad.t", "x", version=3), "unsupported version 3"),
                              ("HTTP request", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "bad magic")]:
        s = connect()
        s.sendall(frame)
        c = closed_by_peer(s)
        s.close()
        out(c and wait(lambda: want in logtail(), 5) is not None, "bad: %s: closed, the log says \"%s\"" % (name, want))
    s = connect()
    s.sendall(good)
    hb = recv_exact(s, 4)
    s.sendall(struct.pack(">i", 2))
    c = closed_by_peer(s)
    out(hb == b"\0\0\0\0" and c and "unknown message type 0x2" in logtail(), "bad: unknown type 0x2 after the logon: closed, logged")
    s.close()
    s = connect()
    s.sendall(good + good[6:])
    hb = recv_exact(s, 4)
    out(closed_by_peer(s), "bad: a second logon on the same connection: closed")
    s.close()
    # a frame cut at every byte offset, then the connection dropped
    frame = logon("h", 10, "bad.cut", "cut") + create(5, 0, "cut message")
    for k in range(1, len(frame)):
        s = connect()
        s.sendall(frame[:k])
        s.close()
    time.sleep(0.2)
    out(find("cut", "5") is None, "bad: %d connections each cut at one byte offset of logon+create: no alert" % (len(frame) - 1))
    s = connect()
    s.sendall(frame)
    recv_exact(s, 4)
    out(wait(lambda: find("cut", "5")) is not None, "bad: the whole frame afterwards creates the alert")
    s.close()
    # strings at and over the limit (4096)
    s = connect()
    s.sendall(logon("h", 10, "bad.t", "limits"))
    recv_exact(s, 4)
    s.sendall(create(1, 0, "a" * 4096) + create(2, 0, "b" * 4097) + create(3, 0, "c" * 16000))
    a1 = wait(lambda: find("limits", "3"))
    a1 = find("limits", "1")
    a2 = find("limits", "2")
    a3 = find("limits", "3")
    out(a1 and len(a1["message"]) == 4096, "bad: a 4096-byte message (the limit) is kept whole")
    out(a2 and len(a2["message"]) == 4096 and a3 and len(a3["message"]) == 4096,
        "bad: 4097- and 16000-byte messages are cut to 4096")
    s.close()
    s = connect()
    s.sendall(logon("h", 10, "t" * 4097, "limits2"))
    out(closed_by_peer(s) and "app type of 4097 bytes" in logtail(), "bad: a 4097-byte app type: closed, logged")
    s.close()
    s = connect()
    s.sendall(logon("h", 10, "bad.t", "toolong") + struct.pack(">iqB", 4, 1, 0) + struct.pack(">H", 65535))
    hb = recv_exact(s, 4)
    out(closed_by_peer(s) and "longer than 16384" in logtail(), "bad: a message announcing a 65535-byte string: closed at once")
    s.close()
    # still serving
    s = connect()
    s.sendall(good)
    out(recv_exact(s, 4) == b"\0\0\0\0", "bad: xmond still answers a good logon afterwards")
    s.close()


def check_limit(logpath):
    s = connect()
    s.sendall(logon("h", 10, "lim.t", "tenk"))
    recv_exact(s, 4)
    buf = b"".join(create(i, 0, "alert %d" % i) for i in range(1, 10002))
    t0 = time.time()
    s.sendall(buf)
    n = wait(lambda: (lambda l: len(l) if len(l) >= 10000 else None)(alerts("open", instance="tenk")), 30)
    out(n == 10000, "limit: 10 001 creates on one instance: 10 000 open (%s), %.2f s" % (n, time.time() - t0))
    out(find("tenk", "10001", "open") is None, "limit: the 10 001st is refused")
    out(wait(lambda: "holds 10000 open alerts, the limit" in open(logpath).read(), 5) is not None,
        "limit: the limit is logged")
    # a clear makes room
    s.sendall(clear(1) + create(10001, 0, "now it fits"))
    out(wait(lambda: find("tenk", "10001", "open")) is not None, "limit: after a clear the next create fits")
    s2 = connect()
    s2.sendall(logon("h", 10, "lim.t", "other"))
    out(recv_exact(s2, 4) == b"\0\0\0\0", "limit: other clients still served")
    s2.close()
    s.close()


def spike(n):
    """n alerts raised on one instance, then all cleared: a spike."""
    s = connect()
    s.sendall(logon("h", 10, "spike.t", "spike"))
    recv_exact(s, 4)
    s.sendall(b"".join(create(i, 0, "spike alert %d, a message of some length" % i) for i in range(1, n + 1)))
    m = wait(lambda: (lambda l: len(l) if len(l) >= n else None)(alerts("open", instance="spike")), 30)
    out(m == n, "spike: %d alerts open on one instance (%s)" % (n, m))
    s.sendall(b"".join(clear(i) for i in range(1, n + 1)))
    out(wait(lambda: not alerts("open", instance="spike") or None, 30) is not None, "spike: all %d cleared" % n)
    s.close()


def notice_state(key):
    st, h = api("/api/alerts/%s" % key)
    return h.get("notice_pending"), [e["event"] for e in h.get("history", [])]


def check_notice():
    """A binned notice written to a connection that dies before the peer
    surely has it stays pending and goes to the instance's next connection."""
    binned = lambda i: struct.pack(">iq", 1, i)
    # 1. the peer's kernel takes the notice, the peer never reads it and
    #    resets the connection (closing with unread bytes sends a RST)
    s = connect()
    s.sendall(logon("h", 10, "notice.t", "n1"))
    recv_exact(s, 4)
    s.sendall(create(5, 1, "bin me"))
    a = wait(lambda: find("n1", "5", "open"))
    st, _ = api("/api/alerts/%s/bin" % a["key"], "POST")
    time.sleep(0.3)  # the 12 bytes reach the peer's receive buffer, unread
    pend, ev = notice_state(a["key"])
    out(st == 200 and pend is True and "notified" not in ev,
        "notice: written but the peer has not spoken since: still pending (%s, %s)" % (pend, ",".join(ev)))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    wait(lambda: [i for i in api("/api/instances")[1]["instances"] if i["instance"] == "n1" and i["state"] == "down"])
    pend, ev = notice_state(a["key"])
    out(pend is True and "notified" not in ev,
        "notice: the connection was reset with the notice unread: it stays pending (%s, %s)" % (pend, ",".join(ev)))
    s = connect()
    s.sendall(logon("h", 10, "notice.t", "n1"))
    got = recv_exact(s, 16)
    out(got == b"\0\0\0\0" + binned(5), "notice: the next connection gets the heartbeat and the notice again (%s)" % got.hex())
    s.sendall(status())
    ok = wait(lambda: notice_state(a["key"])[0] is False)
    pend, ev = notice_state(a["key"])
    out(ok and ev.count("notified") == 1,
        "notice: once the peer spoke after it, it is recorded delivered, once (%s, %s)" % (pend, ",".join(ev)))
    s.close()
    # 2. xmond closes the connection holding the notice: a newer connection
    #    of the same instance replaces it before the peer answered
    s1 = connect()
    s1.sendall(logon("h", 10, "notice.t", "n2"))
    recv_exact(s1, 4)
    s1.sendall(create(6, 1, "bin me too"))
    a = wait(lambda: find("n2", "6", "open"))
    api("/api/alerts/%s/bin" % a["key"], "POST")
    time.sleep(0.3)
    s2 = connect()
    s2.sendall(logon("h", 10, "notice.t", "n2"))
    got = recv_exact(s2, 16)
    out(got == b"\0\0\0\0" + binned(6),
        "notice: a newer connection replaces the one the notice went to: it gets the notice again (%s)" % got.hex())
    s2.sendall(status())
    ok = wait(lambda: notice_state(a["key"])[0] is False)
    out(ok and notice_state(a["key"])[1].count("notified") == 1, "notice: and it is recorded delivered once")
    s1.close()
    s2.close()
    # 3. a peer that reads and answers: delivered at its next message
    s = connect()
    s.sendall(logon("h", 10, "notice.t", "n3"))
    recv_exact(s, 4)
    s.sendall(create(7, 1, "bin me three"))
    a = wait(lambda: find("n3", "7", "open"))
    api("/api/alerts/%s/bin" % a["key"], "POST")
    got = recv_exact(s, 12)
    s.sendall(status())
    ok = wait(lambda: notice_state(a["key"])[0] is False)
    out(got == binned(7) and ok, "notice: read and answered on a live connection: delivered")
    s.close()


def notice_hold(inst):
    s = connect()
    s.sendall(logon("h", 10, "notice.t", inst))
    recv_exact(s, 4)
    s.sendall(create(9, 1, "bin me across a restart"))
    a = wait(lambda: find(inst, "9", "open"))
    api("/api/alerts/%s/bin" % a["key"], "POST")
    print("binned %s" % a["key"], flush=True)
    time.sleep(600)


def notice_get(inst):
    s = connect()
    s.sendall(logon("h", 10, "notice.t", inst))
    got = recv_exact(s, 16)
    out(got == b"\0\0\0\0" + struct.pack(">iq", 1, 9),
        "notice: after the restart, the next connection gets the notice (%s)" % got.hex())
    s.sendall(status())
    a = find(inst, "9")
    ok = wait(lambda: notice_state(a["key"])[0] is False)
    out(ok and notice_state(a["key"])[1].count("notified") == 1, "notice: then it is recorded delivered, once")
    s.close()


def check_heartbeat(logpath):
    """Interval 1 s: heartbeats at once and every second; no status updates
    for two intervals: closed, instance down."""
    s = connect()
    s.sendall(logon("h", 1, "hb.t", "hb1"))
    t0 = time.time()
    times = []
    s.settimeout(5)
    while len(times) < 3:
        b = recv_exact(s, 4)
        if b != b"\0\0\0\0":
            break
        times.append(time.time() - t0)
        s.sendall(status())
    gaps = [round(b - a, 2) for a, b in zip(times, times[1:])]
    out(len(times) == 3 and times[0] < 0.5 and all(0.8 < g < 1.3 for g in gaps),
        "heartbeat: first at once (%.0f ms), then every 1 s as the logon asked (%s)" % (times[0] * 1e3 if times else -1, gaps))
    t1 = time.time()
    s.settimeout(10)
    n = 0
    try:
        while True:
            b = s.recv(4)
            if not b:
                break
            n += 1
    except ConnectionResetError:
        pass
    dt = time.time() - t1
    out(2.0 < dt < 3.5 and "no status update for two heartbeat intervals" in open(logpath).read(),
        "heartbeat: no status update for two intervals: closed after %.2f s (%d heartbeats unanswered), logged" % (dt, n))
    st, body = api("/api/instances")
    out([i["state"] for i in body["instances"] if i["instance"] == "hb1"] == ["down"], "heartbeat: the instance is down")
    # interval byte 0 means 5 s
    s = connect()
    s.sendall(logon("h", 0, "hb.t", "hb0"))
    recv_exact(s, 4)
    t0 = time.time()
    b = recv_exact(s, 4, 8)
    out(b == b"\0\0\0\0" and 4.7 < time.time() - t0 < 5.6, "heartbeat: interval 0 means 5 s (%.2f s)" % (time.time() - t0))
    s.close()
    # a connection that never logs on is closed at --logon-timeout
    s = connect()
    s.sendall(b"\x00")
    t0 = time.time()
    c = closed_by_peer(s, 10)
    out(c and "no logon in time" in open(logpath).read(), "slowloris: a connection that never completes its logon is closed (%.2f s)" % (time.time() - t0))


def idle(n, interval, secs, ready):
    """n instances logged on with `interval`, answering every heartbeat,
    for secs seconds; prints how many heartbeats each got."""
    import selectors
    sel = selectors.DefaultSelector()
    conns = []
    for k in range(n):
        s = connect()
        s.sendall(logon("h", interval, "idle.t", "idle-%d" % k))
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        conns.append(s)
    beats = 0
    end = time.time() + secs
    readied = False
    while time.time() < end:
        for key, _ in sel.select(timeout=0.2):
            try:
                b = key.fileobj.recv(4096)
            except BlockingIOError:
                continue
            for _ in range(len(b) // 4):
                beats += 1
                key.fileobj.sendall(status())
        if not readied and beats >= n:
            open(ready, "w").close()
            readied = True
    print("heartbeats=%d" % beats, flush=True)


def load(seed, ready):
    """50 clients, each a connection: create / update / clear at random, forever;
    touches `ready` once every client has its first heartbeat."""
    rnd = random.Random(seed)
    conns = []
    for k in range(50):
        s = connect()
        s.sendall(logon("h", 10, "load.t", "load-%d" % k))
        conns.append([s, [], 0])
    for c in conns:
        recv_exact(c[0], 4)
        c[0].setblocking(False)
    open(ready, "w").close()
    base = int(seed) * 1000000
    n = 0
    while True:
        for c in conns:
            s, open_ids, _ = c
            r = rnd.random()
            if r < 0.45 or not open_ids:
                n += 1
                i = base + n
                open_ids.append(i)
                m = create(i, 0, "load %d v0" % i)
            elif r < 0.8:
                i = rnd.choice(open_ids)
                m = create(i, 0, "load %d v%d" % (i, rnd.randrange(1000)), typ=5)
            else:
                i = open_ids.pop(rnd.randrange(len(open_ids)))
                m = clear(i)
            try:
                s.sendall(m)
            except (BlockingIOError, OSError):
                pass
            try:
                while s.recv(4096):
                    pass
            except (BlockingIOError, OSError):
                pass
        time.sleep(0.04)


def ts(t):
    import datetime
    return datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()


def compare(before_path, after_path, history=None):
    """Every alert of `before` is in `after`, as new or newer; with a
    history of H seconds, closed alerts that may have expired (closed more
    than H - 1 s ago) are not expected."""
    before = json.load(open(before_path))["alerts"]
    if history is not None:
        limit = time.time() - float(history) + 1.0
        before = [b for b in before if b["state"] == "open" or ts(b["closed"]) > limit]
    after = json.load(open(after_path))["alerts"]
    A = {a["key"]: a for a in after}
    lost, regressed = [], []
    for b in before:
        a = A.get(b["key"])
        if a is None:
            lost.append(b["key"])
            continue
        same = all(a[k] == b[k] for k in ("app_type", "instance", "alert_id", "created"))
        if not same or a["updated"] < b["updated"] or (a["updated"] == b["updated"] and
                                                        (a["message"], a["state"]) != (b["message"], b["state"])):
            regressed.append(b["key"])
        if b["state"] != "open" and a["state"] != b["state"]:
            regressed.append(b["key"])
    keys = [a["key"] for a in after]
    idents = [(a["app_type"], a["instance"], a["alert_id"]) for a in after if a["state"] == "open"]
    dup = len(keys) - len(set(keys)) + len(idents) - len(set(idents))
    print("before=%d after=%d lost=%d regressed=%d duplicates=%d" % (len(before), len(after), len(lost), len(regressed), dup))
    if lost or regressed or dup:
        print("lost %s regressed %s" % (lost[:10], regressed[:10]))
        sys.exit(1)


def main():
    global PP, HP
    cmd = sys.argv[1]
    if cmd == "compare":
        return compare(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)
    PP, HP = int(sys.argv[2]), int(sys.argv[3])
    if cmd == "frames":
        check_frames(sys.argv[4])
    elif cmd == "bad":
        check_bad(sys.argv[4])
    elif cmd == "limit":
        check_limit(sys.argv[4])
    elif cmd == "spike":
        spike(int(sys.argv[4]))
    elif cmd == "idle":
        idle(int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]), sys.argv[7])
    elif cmd == "notice":
        check_notice()
    elif cmd == "notice_hold":
        notice_hold(sys.argv[4])
    elif cmd == "notice_get":
        notice_get(sys.argv[4])
    elif cmd == "heartbeat":
        check_heartbeat(sys.argv[4])
    elif cmd == "load":
        load(sys.argv[4], sys.argv[5])
    elif cmd == "api":
        st, body = api(sys.argv[4])
        print(json.dumps(body))
    else:
        sys.exit("unknown check " + cmd)


if __name__ == "__main__":
    main()
