#!/usr/bin/env python3
"""Drive Glint with the official PostHog Python library (posthog), unchanged.

    GLINT_URL=http://127.0.0.1:8080 GLINT_KEY=phc_test GLINT_N=50 GLINT_PREFIX=run1 \\
        tests/clients/.venv/bin/python tests/clients/posthog_python.py

Sends: one identify -- posthog-python 7 has no identify(); its set() is the identify
call and sends a "$set" event with the traits in a top-level "$set" -- for <prefix>-u1
with {birthday, tier}; N x capture "Product Viewed" {product_id: "p<i>", price: 10+i}
(i = 0..N-1) with uuid = uuid5(NAMESPACE_URL, "<prefix>-m<i>") (the library accepts only
real UUIDs); capture "Order Completed" {revenue: 42}; capture "$pageview". gzip=True.
Then shutdown(). Prints a final line {"sent": N+3}; exits 1 if on_error was called.

Optional: GLINT_FLUSH_AT (flush_at, default 10), GLINT_MAX_RETRIES (library default 3).
POSTHOG_CAPTURE_MODE=v1 is read by the library itself (POST /i/v1/analytics/events).
"""

import json
import os
import sys
import threading
import uuid

from posthog import Posthog


def main() -> int:
    url = os.environ.get("GLINT_URL")
    key = os.environ.get("GLINT_KEY")
    if not url or not key:
        print("posthog_python: GLINT_URL and GLINT_KEY are required", file=sys.stderr)
        return 2
    n = int(os.environ.get("GLINT_N", "50"))
    prefix = os.environ.get("GLINT_PREFIX") or "phpy"
    distinct_id = f"{prefix}-u1"

    errors = []
    lock = threading.Lock()

    def on_error(err, batch):
        with lock:
            errors.append((err, len(batch)))
        print(f"posthog_python: delivery error for {len(batch)} messages: {err}", file=sys.stderr)

    kwargs = {}
    if os.environ.get("GLINT_MAX_RETRIES"):
        kwargs["max_retries"] = int(os.environ["GLINT_MAX_RETRIES"])
    client = Posthog(
        key,
        host=url,
        gzip=True,
        flush_at=int(os.environ.get("GLINT_FLUSH_AT", "10")),
        flush_interval=0.2,
        on_error=on_error,
        **kwargs,
    )

    handed = 0
    if client.set(distinct_id=distinct_id, properties={"birthday": "1990-05-01", "tier": "gold"}) is None:
        print("posthog_python: set() enqueued nothing", file=sys.stderr)
        return 1
    handed += 1
    for i in range(n):
        client.capture(
            "Product Viewed",
            distinct_id=distinct_id,
            properties={"product_id": f"p{i}", "price": 10 + i},
            uuid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{prefix}-m{i}")),
        )
        handed += 1
    client.capture(
        "Order Completed",
        distinct_id=distinct_id,
        properties={"order_id": f"{prefix}-o1", "revenue": 42, "currency": "USD"},
    )
    handed += 1
    client.capture("$pageview", distinct_id=distinct_id, properties={"$current_url": "https://shop.example/", "$pathname": "/"})
    handed += 1

    client.shutdown()

    if errors:
        print(json.dumps({"sent": handed, "delivery_errors": sum(k for _, k in errors)}))
        return 1
    print(json.dumps({"sent": handed}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
