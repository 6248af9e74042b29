#!/usr/bin/env python3
"""Send GA4 Measurement Protocol traffic to Glint (stdlib urllib only).

Google ships no official server-side Measurement Protocol library, so this driver builds
the documented request itself:

    POST ${GLINT_URL}/mp/collect?measurement_id=G-TEST&api_secret=${GLINT_KEY}
    Content-Type: application/json
    {"client_id": "...", "user_id": "<prefix>-u1", "timestamp_micros": ...,
     "user_properties": {"tier": {"value": "gold"}, ...},      (first request only)
     "events": [{"name": "view_item", "params": {...}}, ...]}   (at most 25 per request)

Usage:
    GLINT_URL=http://127.0.0.1:8080 GLINT_KEY=secret GLINT_N=50 GLINT_PREFIX=run1 \\
        python3 tests/clients/ga4_mp.py

Sends N "view_item" events (params: currency, value 10+i, items [{item_id "p<i>", price
10+i}], session_id, engagement_time_msec; i = 0..N-1) batched 25 per request, then one
"purchase" (transaction_id "<prefix>-o1", value 42, items). The first request also carries
user_properties {birthday, tier} -- GA4's only way to set user traits; Glint turns it into one
identify. Prints a final line {"sent": N+1} (events; the user_properties are not an event).
Exits 1 on any non-2xx answer or connection error (no retries: GA4 has no client retry rules).

Optional: GLINT_MEASUREMENT_ID (default G-TEST), GLINT_GZIP=1 to gzip the bodies
(Content-Encoding: gzip; not something Google documents for MP).
"""

import gzip
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib

BATCH_MAX = 25  # GA4 Measurement Protocol: at most 25 events per request


def post(url: str, body: dict, use_gzip: bool) -> int:
    data = json.dumps(body, separators=(",", ":")).encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": "glint-ga4-mp-driver/1"}
    if use_gzip:
        data = gzip.compress(data)
        headers["Content-Encoding"] = "gzip"
    req = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=15) as res:
            res.read()
            return res.status
    except urllib.error.HTTPError as e:
        return e.code


def main() -> int:
    base = os.environ.get("GLINT_URL")
    key = os.environ.get("GLINT_KEY")
    if not base or not key:
        print("ga4_mp: GLINT_URL and GLINT_KEY are required", file=sys.stderr)
        return 2
    n = int(os.environ.get("GLINT_N", "50"))
    prefix = os.environ.get("GLINT_PREFIX") or "ga4"
    mid = os.environ.get("GLINT_MEASUREMENT_ID", "G-TEST")
    use_gzip = os.environ.get("GLINT_GZIP", "") not in ("", "0")
    query = urllib.parse.urlencode({"measurement_id": mid, "api_secret": key})
    url = base.rstrip("/") + "/mp/collect?" + query

    now_s = int(time.time())
    # gtag's client_id format: <random 31-bit int>.<first-visit unix seconds>; one per run.
    client_id = f"{zlib.crc32(prefix.encode()) & 0x7FFFFFFF}.{now_s}"
    session_id = str(now_s)
    common = {"session_id": session_id, "engagement_time_msec": 100}

    events = [
        {
            "name": "view_item",
            "params": {
                "currency": "USD",
                "value": 10 + i,
                "items": [{"item_id": f"p{i}", "item_name": f"Product {i}", "price": 10 + i, "quantity": 1}],
                **common,
            },
        }
        for i in range(n)
    ]
    events.append(
        {
            "name": "purchase",
            "params": {
                "transaction_id": f"{prefix}-o1",
                "currency": "USD",
                "value": 42,
                "items": [
                    {"item_id": "p0", "item_name": "Product 0", "price": 20, "quantity": 1},
                    {"item_id": "p1", "item_name": "Product 1", "price": 22, "quantity": 1},
                ],
                **common,
            },
        }
    )

    sent = 0
    for start in range(0, len(events), BATCH_MAX):
        chunk = events[start : start + BATCH_MAX]
        body = {
            "client_id": client_id,
            "user_id": f"{prefix}-u1",
            "timestamp_micros": int(time.time() * 1_000_000),
            "events": chunk,
        }
        if start == 0:
            body["user_properties"] = {"birthday": {"value": "1990-05-01"}, "tier": {"value": "gold"}}
        try:
            status = post(url, body, use_gzip)
        except (urllib.error.URLError, OSError) as e:
            print(f"ga4_mp: request failed: {e}", file=sys.stderr)
            print(json.dumps({"sent": sent, "delivery_errors": len(events) - sent}))
            return 1
        if not 200 <= status < 300:
            print(f"ga4_mp: HTTP {status} for events {start}..{start + len(chunk) - 1}", file=sys.stderr)
            print(json.dumps({"sent": sent, "delivery_errors": len(events) - sent}))
            return 1
        sent += len(chunk)

    print(json.dumps({"sent": sent}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
