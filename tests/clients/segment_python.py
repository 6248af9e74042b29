#!/usr/bin/env python3
"""Drive Glint with the official Segment Python library (segment-analytics-python), unchanged.

    GLINT_URL=http://127.0.0.1:8080 GLINT_KEY=wk_test GLINT_N=50 GLINT_PREFIX=run1 \\
        tests/clients/.venv/bin/python tests/clients/segment_python.py

Sends: identify(<prefix>-u1, {birthday, tier}); N x track "Product Viewed"
{product_id: "p<i>", price: 10+i} with message_id "<prefix>-m<i>" (i = 0..N-1);
track "Order Completed" {revenue: 42}; page "Home". gzip=True. Then shutdown().
Prints a final line {"sent": N+3}; exits 1 if on_error was called.

The module-level API (analytics.write_key / analytics.host / analytics.gzip) builds the
same Client with a fixed batch size of 100; the Client is built directly here so that
upload_size can be small and several requests are made.

Optional: GLINT_FLUSH_AT (upload_size, default 10), GLINT_MAX_RETRIES (library default 10).
"""

import json
import os
import sys
import threading

from segment.analytics import Client


def main() -> int:
    url = os.environ.get("GLINT_URL")
    key = os.environ.get("GLINT_KEY")
    if not url or not key:
        print("segment_python: GLINT_URL and GLINT_KEY are required", file=sys.stderr)
        return 2
    n = int(os.environ.get("GLINT_N", "50"))
    prefix = os.environ.get("GLINT_PREFIX") or "segpy"
    user_id = f"{prefix}-u1"

    errors = []
    lock = threading.Lock()

    def on_error(err, batch):
        with lock:
            errors.append((err, len(batch)))
        print(f"segment_python: delivery error for {len(batch)} messages: {err}", file=sys.stderr)

    kwargs = {}
    if os.environ.get("GLINT_MAX_RETRIES"):
        kwargs["max_retries"] = int(os.environ["GLINT_MAX_RETRIES"])
    client = Client(
        key,
        host=url,
        gzip=True,
        upload_size=int(os.environ.get("GLINT_FLUSH_AT", "10")),
        upload_interval=0.2,
        on_error=on_error,
        **kwargs,
    )

    handed = 0
    client.identify(user_id, {"birthday": "1990-05-01", "tier": "gold"})
    handed += 1
    for i in range(n):
        client.track(user_id, "Product Viewed", {"product_id": f"p{i}", "price": 10 + i}, message_id=f"{prefix}-m{i}")
        handed += 1
    client.track(user_id, "Order Completed", {"order_id": f"{prefix}-o1", "revenue": 42, "currency": "USD"})
    handed += 1
    client.page(user_id, name="Home", properties={"path": "/", "url": "https://shop.example/"})
    handed += 1

    client.shutdown()  # flush (waits for the queue to drain, retries included) then join

    if errors:
        print(json.dumps({"sent": handed, "delivery_errors": sum(k for _, k in errors)}))
        return 1
    print(json.dumps({"sent": handed}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
