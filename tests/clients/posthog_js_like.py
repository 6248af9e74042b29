#!/usr/bin/env python3
"""Reproduce what posthog-js (the browser library) sends -- a REPRODUCTION, not the library.

posthog-js needs a browser (window, document, fetch + CompressionStream), so instead of
running it this stdlib-only script rebuilds its capture requests byte-for-byte in shape,
from reading the package sources (see WIRE.md, "posthog-js"). Four encodings, one per
request in rotation so a single run covers all of them:

  gzip           posthog-js 1.449.x (current) fetch/XHR transport:
                 POST /e/   (no query string)
                 Content-Type: text/plain, body = gzip(JSON), no Content-Encoding header
                 JSON = {"api_key": token, "batch": [events with ISO "timestamp"], "sent_at": ISO}
  base64         posthog-js 1.449.x sendBeacon transport (page unload):
                 POST /e/?compression=base64
                 Content-Type: application/x-www-form-urlencoded
                 body = "data=" + encodeURIComponent(base64(utf8(JSON)))  (same JSON as above)
  legacy-gzip    posthog-js ~1.1xx-1.2xx (checked in 1.250.0):
                 POST /e/?_=<ms>&ver=<version>&compression=gzip-js
                 Content-Type: text/plain, body = gzip(JSON array of events); batched events
                 carry "offset" (ms before sending) instead of "timestamp"
  legacy-base64  posthog-js 1.100.0 before /decide/ enabled gzip:
                 POST /e/?ip=1&_=<ms>&ver=<version>
                 Content-Type: application/x-www-form-urlencoded
                 body = "data=" + encodeURIComponent(base64(utf8(JSON array of events)))

Every event carries the project key as properties.token and the person as
properties.distinct_id, like posthog-js. Browser-like User-Agent, Origin and Referer
headers are sent; the answer must be HTTP 200 (posthog-js retries anything that is
neither 200 nor 4xx).

Usage:
    GLINT_URL=http://127.0.0.1:8080 GLINT_KEY=phc_test GLINT_N=50 GLINT_PREFIX=run1 \\
        python3 tests/clients/posthog_js_like.py

Sends: "$identify" for <prefix>-u1 ($anon_distinct_id "<prefix>-anon", top-level $set
{birthday, tier}); N x "Product Viewed" {product_id "p<i>", price 10+i} with uuid
uuid5(NAMESPACE_URL, "<prefix>-m<i>") (i = 0..N-1); "Order Completed" {revenue 42};
"$pageview". Batches of GLINT_FLUSH_AT (default 10) events per request. Prints a final
line {"sent": N+3}; exits 1 if a request still fails after retries.

Optional: GLINT_PHJS_MODES (comma list from gzip,base64,legacy-gzip,legacy-base64; default
all four, rotated per request), GLINT_MAX_RETRIES (default 3; posthog-js allows 10),
GLINT_RETRY_DELAY_MS (default 500; posthog-js waits ~3 s * 2^n with jitter). Retries add
retry_count=<n> to the query string, as posthog-js does.
"""

import base64
import gzip
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timezone

MODERN_VERSION = "1.449.2"
LEGACY_GZIP_VERSION = "1.250.0"
LEGACY_B64_VERSION = "1.100.0"
ALL_MODES = ("gzip", "base64", "legacy-gzip", "legacy-base64")
UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
ORIGIN = "https://shop.example"


def iso_ms(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"


def js_json(value) -> str:
    # JSON.stringify: no spaces, non-ASCII kept as UTF-8.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def b64_form(value) -> bytes:
    b64 = base64.b64encode(js_json(value).encode("utf-8")).decode("ascii")
    return ("data=" + urllib.parse.quote(b64, safe="-_.!~*'()")).encode("ascii")  # encodeURIComponent


class Browser:
    """The per-page state posthog-js keeps: ids, session, super properties."""

    def __init__(self, token: str, prefix: str):
        self.token = token
        self.prefix = prefix
        self.distinct_id = f"{prefix}-u1"
        self.anon_id = f"{prefix}-anon"
        self.session_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{prefix}-session"))
        self.window_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{prefix}-window"))

    def event(self, name: str, props: dict, *, uid: str, path: str, version: str, ts: float, **top) -> dict:
        url = ORIGIN + path
        properties = {
            **props,
            "$os": "Mac OS X",
            "$os_version": "10.15.7",
            "$browser": "Chrome",
            "$browser_version": 131,
            "$device_type": "Desktop",
            "$current_url": url,
            "$host": "shop.example",
            "$pathname": path,
            "$raw_user_agent": UA,
            "$browser_language": "en-US",
            "$screen_height": 1117,
            "$screen_width": 1728,
            "$viewport_height": 961,
            "$viewport_width": 1728,
            "$lib": "web",
            "$lib_version": version,
            "$insert_id": uid.replace("-", "")[:16],
            "$time": round(ts, 3),
            "distinct_id": self.distinct_id,
            "$device_id": self.anon_id,
            "$referrer": "$direct",
            "$referring_domain": "$direct",
            "$session_id": self.session_id,
            "$window_id": self.window_id,
            "token": self.token,
        }
        return {"uuid": uid, "event": name, "properties": properties, "timestamp": ts, **top}


def encode(mode: str, events: list, token: str, now: float):
    """Return (path+query, content_type, body) the way posthog-js builds them."""
    ms = str(int(now * 1000))
    if mode in ("gzip", "base64"):
        batch = [dict(e, timestamp=iso_ms(e["timestamp"])) for e in events]
        payload = {"api_key": token, "batch": batch, "sent_at": iso_ms(now)}
        if mode == "gzip":
            return "/e/", "text/plain", gzip.compress(js_json(payload).encode("utf-8"), mtime=0)
        return "/e/?compression=base64", "application/x-www-form-urlencoded", b64_form(payload)
    # legacy request queue: timestamp replaced by offset (ms before the flush)
    batch = []
    for e in events:
        e = dict(e)
        e["offset"] = max(0, int((now - e.pop("timestamp")) * 1000))
        batch.append(e)
    if mode == "legacy-gzip":
        q = urllib.parse.urlencode({"_": ms, "ver": LEGACY_GZIP_VERSION, "compression": "gzip-js"})
        return f"/e/?{q}", "text/plain", gzip.compress(js_json(batch).encode("utf-8"), mtime=0)
    q = urllib.parse.urlencode({"ip": "1", "_": ms, "ver": LEGACY_B64_VERSION})
    return f"/e/?{q}", "application/x-www-form-urlencoded", b64_form(batch)


def send(base: str, path: str, ctype: str, body: bytes, retries: int, delay_s: float) -> int:
    status = 0
    for attempt in range(retries + 1):
        p = path
        if attempt:
            p += ("&" if "?" in p else "?") + f"retry_count={attempt}"
        req = urllib.request.Request(
            base + p,
            data=body,
            method="POST",
            headers={"Content-Type": ctype, "User-Agent": UA, "Origin": ORIGIN, "Referer": ORIGIN + "/"},
        )
        try:
            with urllib.request.urlopen(req, timeout=15) as res:
                res.read()
                status = res.status
        except urllib.error.HTTPError as e:
            status = e.code
        except (urllib.error.URLError, OSError) as e:
            print(f"posthog_js_like: {e}", file=sys.stderr)
            status = 0
        # posthog-js RetryQueue: done on 200; dropped on 4xx; retried otherwise (incl. 0, 2xx != 200)
        if status == 200 or 400 <= status < 500:
            return status
        if attempt < retries:
            time.sleep(delay_s)
    return status


def main() -> int:
    base = os.environ.get("GLINT_URL")
    token = os.environ.get("GLINT_KEY")
    if not base or not token:
        print("posthog_js_like: GLINT_URL and GLINT_KEY are required", file=sys.stderr)
        return 2
    base = base.rstrip("/")
    n = int(os.environ.get("GLINT_N", "50"))
    prefix = os.environ.get("GLINT_PREFIX") or "phjs"
    flush_at = max(1, int(os.environ.get("GLINT_FLUSH_AT", "10")))
    modes = [m.strip() for m in os.environ.get("GLINT_PHJS_MODES", ",".join(ALL_MODES)).split(",") if m.strip()]
    bad = [m for m in modes if m not in ALL_MODES]
    if bad or not modes:
        print(f"posthog_js_like: unknown mode(s) {bad}; choose from {ALL_MODES}", file=sys.stderr)
        return 2
    retries = int(os.environ.get("GLINT_MAX_RETRIES", "3"))
    delay_s = int(os.environ.get("GLINT_RETRY_DELAY_MS", "500")) / 1000.0

    b = Browser(token, prefix)
    t = time.time()
    events = []

    def rid(name):
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{prefix}-{name}"))

    # Every event is built with the version of the mode that will carry it; patched below.
    events.append(
        b.event(
            "$identify",
            {"$anon_distinct_id": b.anon_id},
            uid=rid("identify"),
            path="/account",
            version=MODERN_VERSION,
            ts=t,
            **{"$set": {"birthday": "1990-05-01", "tier": "gold"}, "$set_once": {}},
        )
    )
    for i in range(n):
        events.append(
            b.event(
                "Product Viewed",
                {"product_id": f"p{i}", "price": 10 + i},
                uid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{prefix}-m{i}")),
                path=f"/products/p{i}",
                version=MODERN_VERSION,
                ts=t + 0.001 * (i + 1),
            )
        )
    events.append(
        b.event(
            "Order Completed",
            {"order_id": f"{prefix}-o1", "revenue": 42, "currency": "USD"},
            uid=rid("order"),
            path="/checkout/done",
            version=MODERN_VERSION,
            ts=t + 0.001 * (n + 1),
        )
    )
    events.append(
        b.event("$pageview", {"title": "Home"}, uid=rid("pageview"), path="/", version=MODERN_VERSION, ts=t + 0.001 * (n + 2))
    )

    sent = 0
    failed = 0
    for k, start in enumerate(range(0, len(events), flush_at)):
        mode = modes[k % len(modes)]
        chunk = events[start : start + flush_at]
        version = {"legacy-gzip": LEGACY_GZIP_VERSION, "legacy-base64": LEGACY_B64_VERSION}.get(mode, MODERN_VERSION)
        for e in chunk:
            e["properties"]["$lib_version"] = version
        path, ctype, body = encode(mode, chunk, token, time.time())
        status = send(base, path, ctype, body, retries, delay_s)
        if status == 200:
            sent += len(chunk)
        else:
            failed += len(chunk)
            print(f"posthog_js_like: {mode} request for {len(chunk)} events ended with HTTP {status}", file=sys.stderr)

    if failed:
        print(json.dumps({"sent": sent, "delivery_errors": failed}))
        return 1
    print(json.dumps({"sent": sent}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
