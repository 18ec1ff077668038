#!/usr/bin/env python3
"""fakexmon: a scripted fake xmon server for the system tests (stdlib only).

  fakexmon.py --log FILE [--port-file FILE] [--host ADDR] [--port N] [--ctl FIFO]
              [--rcvbuf BYTES] [--conn N:OPTS]... [--default OPTS]

Parses what clients send with its own reading of docs/xmon-protocol.md 2.1-2.5
(independent of lull's codec) and writes one JSON line per event to --log:
listen, accept, msg (every field, the raw hex, "rx": which recv completed it),
send (what the server wrote), fault, close, error. Every event has "t", the
time.monotonic() (CLOCK_MONOTONIC) of the event, and "c", the connection number
(1, 2, ... in accept order).

OPTS, per connection (--conn N:OPTS for the Nth, --default for the others, or
"next OPTS" on the control FIFO for the next one), comma-separated:
  hb=S|logon|never|manual  heartbeat every S seconds (default "logon": the
                           interval the logon asked for, 0 meaning 5 s)
  first=S                  delay of the first heartbeat after the logon (0)
  hbmax=N                  stop heartbeating after N heartbeats
  fault=F[,at=N][,on=status]  right after heartbeat N (default 1), or with
                           on=status when status update N arrives, do fault F:
     close      graceful close          reset  close with SO_LINGER 0 (RST)
     unknown    send type 0x2           badid  send 0x101 with id "abc"
     big        send 0x101 with a 60 KB app type
     half       send half of a 0x101 frame, then stall (no more heartbeats)
     halfclose  send half of a 0x101 frame, then close
     stall      stop reading the connection (heartbeats go on), so that the
                client's writes fill the socket buffers
Control FIFO lines act on the newest live connection: hb, bin ID,
binchild TYPE INSTANCE IDTEXT, raw HEX, stophb, one of the faults, next OPTS,
resetfull (once the bytes waiting unread in the receive buffer, FIONREAD, have
not grown for 1 s: log "full" with that count, then close with a reset).
--rcvbuf sets SO_RCVBUF on the listening socket (so on every connection).

  fakexmon.py query LOG FILTER [FORMAT]
prints the events of LOG for which the python expression FILTER holds (e is
the event; a missing key reads as None), formatted by FORMAT (default: the
line), so that tests need no jq.
"""
import argparse, array, fcntl, json, os, selectors, socket, struct, sys, termios, time

LAYOUTS = {  # client messages after the int32 type: (field, kind)
    0x100: [("res1", "i32"), ("hostname", "str"), ("res2", "u8"), ("res3", "u8"), ("res4", "i16"),
            ("app_type", "str"), ("app_instance", "str"), ("heap", "i64"), ("threads", "i32"),
            ("errors", "i32"), ("mood", "i32"), ("details", "str")],
    0x1: [("res1", "i32"), ("heap", "i64"), ("threads", "i32"), ("errors", "i32"), ("mood", "i32")],
    0x3: [("id", "i64")],
    0x4: [("id", "i64"), ("binnable", "u8"), ("message", "str")],
    0x5: [("id", "i64"), ("binnable", "u8"), ("message", "str")],
    0x103: [("app_type", "str"), ("app_instance", "str"), ("id", "str")],
    0x104: [("app_type", "str"), ("app_instance", "str"), ("id", "str"), ("binnable", "i32"),
            ("message", "str"), ("json", "str")],
}
LAYOUTS[0x105] = LAYOUTS[0x104]
LOGON = [("magic", "i16"), ("version", "i32"), ("type", "i32"), ("res1", "i32"), ("hostname", "str"),
         ("interval", "u8"), ("res2", "u8"), ("res3", "i16"), ("app_type", "str"),
         ("app_instance", "str"), ("heap", "i64"), ("threads", "i32"), ("errors", "i32"),
         ("mood", "i32"), ("details", "str")]
NAMES = {0x0: "logon", 0x100: "child_logon", 0x1: "status", 0x3: "clear", 0x4: "create",
         0x5: "update", 0x103: "clear_child", 0x104: "create_child", 0x105: "update_child"}
INT = {"u8": ">B", "i16": ">h", "i32": ">i", "i64": ">q"}
FAULTS = ("close", "reset", "unknown", "badid", "big", "half", "halfclose", "stall")


class NeedMore(Exception):
    pass


class ProtoError(Exception):
    pass


def decode(buf, pos, fields, out):
    for name, kind in fields:
        if kind == "str":
            if len(buf) < pos + 2:
                raise NeedMore()
            n = struct.unpack_from(">H", buf, pos)[0]
            if len(buf) < pos + 2 + n:
                raise NeedMore()
            out[name] = buf[pos + 2:pos + 2 + n].decode("latin-1")
            pos += 2 + n
        else:
            size = struct.calcsize(INT[kind])
            if len(buf) < pos + size:
                raise NeedMore()
            out[name] = struct.unpack_from(INT[kind], buf, pos)[0]
            pos += size
    return pos


def parse_one(buf, pos, logged_on):
    """(message dict, end) of the message at buf[pos:]; NeedMore or ProtoError."""
    msg = {}
    if not logged_on:
        decode(buf, pos, LOGON[:3], msg)
        if msg["magic"] != 0x54 or msg["version"] != 4 or msg["type"] != 0:
            raise ProtoError("bad logon head: magic 0x%x version %d type 0x%x"
                             % (msg["magic"], msg["version"], msg["type"]))
        end = decode(buf, pos, LOGON, msg)
    else:
        if len(buf) < pos + 4:
            raise NeedMore()
        msg["type"] = struct.unpack_from(">I", buf, pos)[0]
        if msg["type"] not in LAYOUTS:
            raise ProtoError("unknown client message type 0x%x" % msg["type"])
        end = decode(buf, pos + 4, LAYOUTS[msg["type"]], msg)
    msg["name"] = NAMES[msg["type"]]
    return msg, end


def xstr(b):
    return struct.pack(">H", len(b)) + b


def parse_opts(s):
    o = {"hb": "logon", "first": 0.0, "hbmax": None, "fault": None, "at": 1, "on": "hb"}
    for kv in filter(None, s.split(",")):
        k, _, v = kv.partition("=")
        if k not in o:
            raise SystemExit("fakexmon: unknown option %r" % k)
        o[k] = v
    o["first"] = float(o["first"])
    o["at"] = int(o["at"])
    if o["hbmax"] is not None:
        o["hbmax"] = int(o["hbmax"])
    if o["on"] not in ("hb", "status"):
        raise SystemExit("fakexmon: on=%r: hb or status" % o["on"])
    if o["fault"] is not None and o["fault"] not in FAULTS:
        raise SystemExit("fakexmon: unknown fault %r" % o["fault"])
    return o


class Conn:
    def __init__(self, srv, sock, n, opts):
        self.srv, self.sock, self.n, self.opts = srv, sock, n, opts
        self.buf, self.rx, self.logon, self.hbs, self.next_hb = b"", 0, None, 0, None
        self.statuses = 0
        self.open = True
        self.stalled = False
        self.full_watch = None   # resetfull: [last FIONREAD, monotonic time it last grew]

    def child_binned(self, idtext):
        kind = self.logon["app_type"].encode("latin-1") if self.logon else b"x"
        inst = self.logon["app_instance"].encode("latin-1") if self.logon else b"x"
        return struct.pack(">I", 0x101) + xstr(kind) + xstr(inst) + xstr(idtext)

    def send(self, what, data):
        self.srv.log("send", self.n, what=what, hex=data.hex())
        try:
            self.sock.sendall(data)
        except OSError as e:
            self.srv.log("error", self.n, what="send", error=str(e))
            self.close("send failed")

    def close(self, why, reset=False):
        if not self.open:
            return
        self.open = False
        if reset:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        if not self.stalled:
            self.srv.sel.unregister(self.sock)
        self.sock.close()
        self.srv.log("close", self.n, why=why)

    def heartbeat(self):
        self.hbs += 1
        self.send("hb", b"\0\0\0\0")
        o = self.opts
        if o["hbmax"] is not None and self.hbs >= o["hbmax"]:
            self.next_hb = None
        if o["fault"] and o["on"] == "hb" and self.hbs == o["at"] and self.open:
            self.fault(o["fault"])

    def fault(self, f):
        self.srv.log("fault", self.n, what=f)
        if f in ("close", "reset"):
            self.close("fault " + f, reset=(f == "reset"))
        elif f == "unknown":
            self.send("unknown", struct.pack(">I", 2))
        elif f == "badid":
            self.send("badid", self.child_binned(b"abc"))
        elif f == "big":
            self.send("big", struct.pack(">I", 0x101) + xstr(b"A" * 60000) + xstr(b"i") + xstr(b"1"))
        elif f == "stall":
            if not self.stalled:
                self.stalled = True
                self.srv.sel.unregister(self.sock)
        elif f in ("half", "halfclose"):
            frame = self.child_binned(b"1")
            self.next_hb = None
            self.send(f, frame[:len(frame) // 2])
            if f == "halfclose":
                self.close("fault halfclose")

    def unread(self):
        buf = array.array("i", [0])
        fcntl.ioctl(self.sock, termios.FIONREAD, buf)
        return buf[0]

    def check_full(self, now):
        n = self.unread()
        if self.full_watch is None or n > self.full_watch[0]:
            self.full_watch = [n, now]
        elif now - self.full_watch[1] >= 1.0:
            self.srv.log("full", self.n, unread=n)
            self.full_watch = None
            self.close("reset when full", reset=True)

    def readable(self):
        try:
            data = self.sock.recv(65536)
        except OSError as e:
            return self.close("recv: " + str(e))
        if not data:
            return self.close("eof")
        self.rx += 1
        self.buf += data
        pos = 0
        while self.open and pos < len(self.buf):
            try:
                msg, end = parse_one(self.buf, pos, self.logon is not None)
            except NeedMore:
                break
            except ProtoError as e:
                self.srv.log("error", self.n, what="parse", error=str(e), hex=self.buf[pos:].hex())
                return self.close("protocol error")
            raw, pos = self.buf[pos:end], end
            self.srv.log("msg", self.n, rx=self.rx, hex=raw.hex(), **msg)
            if msg["name"] == "status":
                self.statuses += 1
                o = self.opts
                if o["fault"] and o["on"] == "status" and self.statuses == o["at"]:
                    self.fault(o["fault"])
            if msg["name"] == "logon":
                self.logon = msg
                hb = self.opts["hb"]
                if hb not in ("never", "manual"):
                    self.period = float(hb) if hb != "logon" else (msg["interval"] or 5)
                    self.next_hb = time.monotonic() + self.opts["first"]
        self.buf = self.buf[pos:]


class Server:
    def __init__(self, a):
        self.a, self.conns, self.nconn, self.next_opts = a, [], 0, None
        self.logf = open(a.log, "a", buffering=1)
        self.sel = selectors.DefaultSelector()
        fam = socket.AF_INET6 if ":" in a.host else socket.AF_INET
        self.lsock = socket.socket(fam, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if a.rcvbuf:
            self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, a.rcvbuf)
        self.lsock.bind((a.host, a.port))
        self.lsock.listen(64)
        self.sel.register(self.lsock, selectors.EVENT_READ, "listen")
        self.ctl = None
        if a.ctl:
            self.ctl = os.open(a.ctl, os.O_RDWR | os.O_NONBLOCK)   # RDWR: no EOF when writers leave
            self.sel.register(self.ctl, selectors.EVENT_READ, "ctl")
            self.ctlbuf = b""
        port = self.lsock.getsockname()[1]
        self.log("listen", 0, port=port)
        if a.port_file:
            with open(a.port_file + ".tmp", "w") as f:
                f.write("%d\n" % port)
            os.rename(a.port_file + ".tmp", a.port_file)

    def log(self, ev, c, **kw):
        kw.update(t=time.monotonic(), ev=ev, c=c)
        self.logf.write(json.dumps(kw, sort_keys=True) + "\n")

    def accept(self):
        sock, peer = self.lsock.accept()
        self.nconn += 1
        spec = self.conn_specs.get(self.nconn, self.a.default)
        if self.next_opts is not None:
            spec, self.next_opts = self.next_opts, None
        c = Conn(self, sock, self.nconn, parse_opts(spec))
        self.conns.append(c)
        self.sel.register(sock, selectors.EVENT_READ, c)
        self.log("accept", c.n, peer=str(peer[0]), opts=spec)

    def command(self, line):
        words = line.split()
        live = [c for c in self.conns if c.open]
        c = live[-1] if live else None
        self.log("ctl", c.n if c else 0, line=line)
        if not words:
            return
        if words[0] == "next":
            self.next_opts = words[1] if len(words) > 1 else ""
            parse_opts(self.next_opts)   # a typo stops the server here, loudly
        elif c is None:
            self.log("error", 0, what="ctl", error="no live connection for %r" % line)
        elif words[0] == "hb":
            c.heartbeat()
        elif words[0] == "stophb":
            c.next_hb = None
        elif words[0] == "bin":
            c.send("bin", struct.pack(">Iq", 1, int(words[1])))
        elif words[0] == "binchild":
            b = [w.encode("latin-1") for w in words[1:4]]
            c.send("binchild", struct.pack(">I", 0x101) + xstr(b[0]) + xstr(b[1]) + xstr(b[2]))
        elif words[0] == "raw":
            c.send("raw", bytes.fromhex(words[1]))
        elif words[0] in FAULTS:
            c.fault(words[0])
        elif words[0] == "resetfull":
            c.check_full(time.monotonic())
        else:
            self.log("error", c.n, what="ctl", error="unknown command %r" % line)

    def run(self):
        self.conn_specs = {}
        for spec in self.a.conn:
            n, _, o = spec.partition(":")
            self.conn_specs[int(n)] = o
        while True:
            now = time.monotonic()
            due = [c.next_hb for c in self.conns if c.open and c.next_hb is not None]
            due += [now + 0.1 for c in self.conns if c.open and c.full_watch is not None]
            timeout = max(0.0, min(due) - now) if due else None
            for key, _ in self.sel.select(timeout):
                if key.data == "listen":
                    self.accept()
                elif key.data == "ctl":
                    self.ctlbuf += os.read(self.ctl, 4096)
                    while b"\n" in self.ctlbuf:
                        line, self.ctlbuf = self.ctlbuf.split(b"\n", 1)
                        self.command(line.decode().strip())
                elif key.data.open:
                    key.data.readable()
            now = time.monotonic()
            for c in list(self.conns):
                if c.open and c.full_watch is not None:
                    c.check_full(now)
                if c.open and c.next_hb is not None and c.next_hb <= now:
                    c.next_hb += c.period   # a fixed schedule, no drift
                    c.heartbeat()
            self.conns = [c for c in self.conns if c.open]


class Event(dict):
    __getattr__ = dict.get


def query(path, flt, fmt=None):
    try:
        lines = open(path).read().splitlines()
    except FileNotFoundError:
        lines = []
    for line in lines:
        try:
            e = Event(json.loads(line))
        except ValueError:
            continue   # the last line, still being written
        if eval(flt, {}, {"e": e}):
            print(eval(fmt, {}, {"e": e}) if fmt else line)


def main():
    if sys.argv[1:2] == ["query"]:
        return query(*sys.argv[2:5])
    p = argparse.ArgumentParser(description="a scripted fake xmon server")
    p.add_argument("--log", required=True)
    p.add_argument("--port-file")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--ctl")
    p.add_argument("--rcvbuf", type=int, default=0)
    p.add_argument("--conn", action="append", default=[])
    p.add_argument("--default", default="")
    a = p.parse_args()
    parse_opts(a.default)
    for spec in a.conn:
        parse_opts(spec.partition(":")[2])
    Server(a).run()


if __name__ == "__main__":
    main()
