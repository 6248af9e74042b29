#!/usr/bin/env python3
"""Wire-capture HTTP server (stdlib only).

Logs every request it receives -- method, path+query, all headers, whether the body is
gzip (Content-Encoding header or 1f 8b magic bytes), and the decoded body -- as one JSON
object per line, and answers like the real services do on success:

  * PostHog-looking paths (/batch/, /e/, /i/..., /capture/, /track/, /engage/, /s/,
    /decide/, /flags/)               -> 200 {"status": 1}
  * PostHog capture v1 (/i/v1/...)  -> 200 {"status": 1, "results": {}}
  * everything else (Segment /v1/..., GA4 /mp/collect, ...) -> 200 {"success": true}
  (204/304 answers carry no body; non-2xx answers carry {"code","message","detail"})

Failure injection, to see how client libraries retry:

  --statuses 503          first request answered 503, the rest with the default
  --statuses 503,503,200  a script: one status per request, in order, then the default
  --default-status 400    status for every request past the script (default 200)
  --retry-after 1         add "Retry-After: 1" to every non-2xx answer

Bounded by design: --max-seconds (default 600) and --max-requests stop it by itself.

Usage:
  python3 capture_server.py --port 0 --log /tmp/wire.jsonl [--port-file /tmp/port]
  (prints "listening http://127.0.0.1:PORT" on stdout once bound; --port 0 picks a free port)
"""

from __future__ import annotations

import argparse
import base64
import binascii
import gzip
import json
import os
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

POSTHOG_EXACT = {"/e", "/e/", "/batch", "/batch/", "/capture", "/capture/", "/track", "/track/",
                 "/engage", "/engage/", "/s", "/s/"}
POSTHOG_PREFIXES = ("/i/", "/decide", "/flags")
BODY_TEXT_MAX = 4000  # characters of decoded body kept in the log


def is_posthog_path(path: str) -> bool:
    return path in POSTHOG_EXACT or path.startswith(POSTHOG_PREFIXES)


def truncate(s: str, n: int = BODY_TEXT_MAX) -> str:
    return s if len(s) <= n else s[:n] + f"...<{len(s) - n} more chars>"


def try_json(raw: bytes):
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


def summarize_json(value, depth: int = 0):
    """Keep the shape, clip long arrays/strings so the log stays readable."""
    if depth > 6:
        return "<...>"
    if isinstance(value, dict):
        return {k: summarize_json(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        head = [summarize_json(v, depth + 1) for v in value[:3]]
        if len(value) > 3:
            head.append(f"<{len(value) - 3} more items; {len(value)} total>")
        return head
    if isinstance(value, str) and len(value) > 300:
        return value[:300] + "..."
    return value


def decode_body(raw: bytes, headers, query: dict) -> dict:
    """Undo every encoding these clients use; report which layers were found."""
    info: dict = {"raw_bytes": len(raw), "layers": []}
    ce = (headers.get("Content-Encoding") or "").lower()
    magic_gzip = raw[:2] == b"\x1f\x8b"
    info["gzip_header"] = "gzip" in ce
    info["gzip_magic"] = magic_gzip
    info["gzip"] = info["gzip_header"] or magic_gzip
    data = raw
    if magic_gzip:
        try:
            data = gzip.decompress(raw)
            info["layers"].append("gzip")
        except (OSError, EOFError, zlib.error) as e:
            info["error"] = f"gzip: {e}"
            return info
    elif "deflate" in ce:
        try:
            data = zlib.decompress(raw)
            info["layers"].append("deflate")
        except zlib.error as e:
            info["error"] = f"deflate: {e}"
            return info

    ctype = (headers.get("Content-Type") or "").lower()
    text = None
    if data and (ctype.startswith("application/x-www-form-urlencoded") or data[:5] == b"data="):
        # posthog-js base64 / legacy form encoding: data=<urlencoded base64(json)>[&compression=...]
        try:
            form = parse_qs(data.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            form = {}
        if "data" in form:
            info["layers"].append("form:data=")
            info["form_keys"] = sorted(form.keys())
            payload = form["data"][0]
            decoded = None
            try:
                b = base64.b64decode(payload + "=" * (-len(payload) % 4), validate=False)
                if b[:1] in (b"{", b"["):
                    decoded = b
                    info["layers"].append("base64")
            except (ValueError, binascii.Error):
                pass
            data = decoded if decoded is not None else payload.encode("utf-8")

    parsed = try_json(data)
    if parsed is not None:
        info["json"] = summarize_json(parsed)
        info["json_full_size"] = len(data)
        if isinstance(parsed, dict):
            info["top_level_keys"] = sorted(parsed.keys())
            batch = parsed.get("batch") if isinstance(parsed.get("batch"), list) else parsed.get("events")
            if isinstance(batch, list):
                info["batch_len"] = len(batch)
        elif isinstance(parsed, list):
            info["top_level_keys"] = "<array>"
            info["batch_len"] = len(parsed)
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = "<binary " + data[:32].hex() + "...>"
        info["text"] = truncate(text)
    return info


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.count = 0
        self.script = [int(s) for s in args.statuses.split(",") if s.strip()] if args.statuses else []
        self.log = open(args.log, "a", encoding="utf-8") if args.log else None
        self.started = time.monotonic()

    def next_status(self) -> tuple[int, int]:
        with self.lock:
            n = self.count
            self.count += 1
        status = self.script[n] if n < len(self.script) else self.args.default_status
        return n, status

    def write(self, rec: dict):
        line = json.dumps(rec, sort_keys=False, default=str)
        with self.lock:
            if self.log:
                self.log.write(line + "\n")
                self.log.flush()
            if self.args.echo:
                print(line, flush=True)


def make_handler(state: State):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "glint-capture/1"

        def log_message(self, fmt, *a):  # silence default stderr logging
            pass

        def _handle(self):
            n, status = state.next_status()
            length = int(self.headers.get("Content-Length") or 0)
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                raw = self._read_chunked()
            else:
                raw = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            query = parse_qs(parts.query, keep_blank_values=True)
            rec = {
                "n": n,
                "t": round(time.time(), 3),
                "method": self.command,
                "path": parts.path,
                "query": {k: v if len(v) > 1 else v[0] for k, v in query.items()},
                "raw_path": self.path,
                "headers": {k: v for k, v in self.headers.items()},
                "status_sent": status,
            }
            if raw:
                rec["body"] = decode_body(raw, self.headers, query)
            state.write(rec)

            if 200 <= status < 300:
                if parts.path.startswith("/i/v1/"):
                    # PostHog capture v1: per-event results keyed by uuid; absent uuids count as ok.
                    payload = {"status": 1, "results": {}}
                elif is_posthog_path(parts.path):
                    payload = {"status": 1}
                else:
                    payload = {"success": True}
            elif status == 400:
                payload = {"code": "bad_request", "message": "injected 400", "detail": "injected 400"}
            else:
                payload = {"code": "injected", "message": f"injected {status}", "detail": f"injected {status}"}
            body = b"" if status in (204, 304) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Access-Control-Allow-Origin", self.headers.get("Origin") or "*")
            if status >= 300 and state.args.retry_after is not None:
                self.send_header("Retry-After", str(state.args.retry_after))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            if state.args.max_requests and state.count >= state.args.max_requests:
                threading.Thread(target=self.server.shutdown, daemon=True).start()

        def _read_chunked(self) -> bytes:
            out = b""
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

    return Handler


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log", default="wire.jsonl", help="JSONL file to append to ('' for none)")
    ap.add_argument("--port-file", help="write the bound port here once listening")
    ap.add_argument("--statuses", default="", help="comma-separated statuses for the first requests")
    ap.add_argument("--default-status", type=int, default=200)
    ap.add_argument("--retry-after", type=int, default=None)
    ap.add_argument("--max-requests", type=int, default=0, help="stop after this many requests (0: no limit)")
    ap.add_argument("--max-seconds", type=float, default=600.0, help="stop after this long (safety bound)")
    ap.add_argument("--echo", action="store_true", help="also print each record to stdout")
    args = ap.parse_args(argv)

    state = State(args)
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(state))
    srv.daemon_threads = True
    port = srv.server_address[1]
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(port))
        os.replace(args.port_file + ".tmp", args.port_file)
    print(f"listening http://127.0.0.1:{port}", flush=True)
    timer = threading.Timer(args.max_seconds, srv.shutdown)
    timer.daemon = True
    timer.start()
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        timer.cancel()
        srv.server_close()
        if state.log:
            state.log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
