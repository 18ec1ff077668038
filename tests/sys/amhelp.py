#!/usr/bin/env python3
"""tests/sys/amhelp.py: helpers for alertmanager.t (loopback only).

  amhelp.py alerts PORT
      print the alerts Alertmanager on 127.0.0.1:PORT lists (GET /api/v2/alerts,
      so active, silenced and inhibited; resolved alerts are not listed), one per
      line: alertname app_type instance alert_id binnable severity state key
  amhelp.py wait PORT [--present ID]... [--absent ID]... [--timeout S] [--since NS]
      poll every 20 ms until every --present alert_id is listed and no --absent
      one is; exit 0 and print the milliseconds since --since (CLOCK_REALTIME
      ns, default: the start), or exit 1 after --timeout seconds
  amhelp.py watch DIR PORT...
      one poller thread per replica (every 10 ms): DIR/PORT.tsv holds the
      listing as `alerts` prints it (replaced after each answer; left alone
      while the replica does not answer), DIR/events gets one line per change:
      "NS PORT appeared|gone ALERT_ID" (NS: CLOCK_REALTIME ns). One process
      for the whole test: starting python costs seconds on a loaded machine.
  amhelp.py hook PORT OUTFILE
      a webhook receiver on 127.0.0.1:PORT: every POSTed body appended to
      OUTFILE as one JSON line, answered 200
  amhelp.py silent PORTFILE
      a replica that accepts connections, reads the requests and never answers;
      writes its port to PORTFILE, counts connections on stdout
"""
import json
import socket
import sys
import threading
import time
import urllib.request


def get_alerts(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/api/v2/alerts" % port, timeout=5) as r:
        return json.load(r)


def tsv(alerts):
    out = []
    for a in alerts:
        lb, an = a["labels"], a["annotations"]
        out.append("\t".join([lb.get("alertname", ""), lb.get("app_type", ""), lb.get("instance", ""),
                              lb.get("alert_id", ""), lb.get("binnable", ""), lb.get("severity", ""),
                              an.get("state", ""), an.get("xmond_key", ""), an.get("link", ""),
                              an.get("message", "").replace("\n", "\\n")]))
    return out


def cmd_alerts(port):
    for line in tsv(get_alerts(port)):
        print(line)


def cmd_watch(d, ports):
    import os
    lock = threading.Lock()

    def poll(port):
        known = set()
        while True:
            try:
                alerts = get_alerts(port)
            except (OSError, ValueError):
                time.sleep(0.05)
                continue
            now = time.time_ns()
            ids = {a["labels"].get("alert_id", "") for a in alerts}
            with open("%s/%d.tsv.tmp" % (d, port), "w") as f:
                f.write("".join(l + "\n" for l in tsv(alerts)))
            os.rename("%s/%d.tsv.tmp" % (d, port), "%s/%d.tsv" % (d, port))
            ev = ["%d %d appeared %s\n" % (now, port, i) for i in sorted(ids - known)] + \
                 ["%d %d gone %s\n" % (now, port, i) for i in sorted(known - ids)]
            if ev:
                with lock, open(d + "/events", "a") as f:
                    f.write("".join(ev))
            known = ids
            time.sleep(0.01)

    for p in ports:
        threading.Thread(target=poll, args=(int(p),), daemon=True).start()
    while True:
        time.sleep(3600)


def cmd_wait(port, args):
    present, absent, timeout, since = [], [], 30.0, time.time_ns()
    i = 0
    while i < len(args):
        k, v = args[i], args[i + 1]
        i += 2
        if k == "--present":
            present.append(v)
        elif k == "--absent":
            absent.append(v)
        elif k == "--timeout":
            timeout = float(v)
        elif k == "--since":
            since = int(v)
    end = time.monotonic() + timeout
    while True:
        try:
            ids = {a["labels"].get("alert_id") for a in get_alerts(port)}
        except OSError:
            ids = None
        if ids is not None and all(p in ids for p in present) and not any(a in ids for a in absent):
            print("%.1f" % ((time.time_ns() - since) / 1e6))
            return 0
        if time.monotonic() > end:
            print("timeout: listed %s" % (sorted(ids) if ids is not None else "nothing (no answer)"))
            return 1
        time.sleep(0.02)


def cmd_silent(portfile):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    with open(portfile + ".tmp", "w") as f:
        f.write("%d\n" % s.getsockname()[1])
    import os
    os.rename(portfile + ".tmp", portfile)
    conns = []
    n = 0

    def drain(c):
        try:
            while c.recv(65536):
                pass
        except OSError:
            pass

    while True:
        c, _ = s.accept()
        n += 1
        print(n, flush=True)
        conns.append(c)   # kept open, never answered
        threading.Thread(target=drain, args=(c,), daemon=True).start()


def cmd_hook(port, out):
    import http.server

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with open(out, "a") as f:
                f.write(json.dumps(json.loads(body)) + "\n")
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    http.server.ThreadingHTTPServer(("127.0.0.1", port), Hook).serve_forever()


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    cmd = sys.argv[1]
    if cmd == "alerts":
        cmd_alerts(int(sys.argv[2]))
        return 0
    if cmd == "wait":
        return cmd_wait(int(sys.argv[2]), sys.argv[3:])
    if cmd == "watch":
        cmd_watch(sys.argv[2], sys.argv[3:])
        return 0
    if cmd == "hook":
        cmd_hook(int(sys.argv[2]), sys.argv[3])
        return 0
    if cmd == "silent":
        cmd_silent(sys.argv[2])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
