#!/usr/bin/env python3
"""A webhook receiver for a Tulpar subscription, standard library only.

    python3 webhook_receiver.py --port 8099 --secret whsec_...   (or WEBHOOK_SECRET in the environment)

It answers every POST: 204 when the signature holds (Standard Webhooks, checked with
tulpar_client.verify_webhook), 401 when it does not, so the node keeps the event and retries.
Each event is printed once as a line: ledger index, type, alert id. Delivery is at least once, so a
webhook-id already seen is acknowledged again and not printed again.

`--expect alert.sent,alert.acknowledged` exits 0 once an event of every listed type has arrived (1 if
`--timeout` seconds pass first); `--refuse-first N` answers 503 to the first N requests, to watch the
node retry.
"""

import argparse
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tulpar_client import verify_webhook  # noqa: E402

# Largest body read; an alert with attachments stays well under it.
MAX_BODY = 32 * 1024 * 1024


class Receiver:
    """What the receiver has seen: webhook-ids (for deduplication) and event types."""

    def __init__(self, secret, expect, refuse_first):
        self.secret = secret
        self.expect = set(expect)
        self.refusals_left = refuse_first
        self.seen_ids = set()
        self.seen_types = set()
        self.lock = threading.Lock()
        self.done = threading.Event()

    def handle(self, headers, body):
        """The HTTP status to answer a delivery with."""
        with self.lock:
            if self.refusals_left > 0:
                self.refusals_left -= 1
                return 503
        try:
            valid = verify_webhook(self.secret, headers, body)
        except (KeyError, ValueError):
            valid = False
        if not valid:
            print("refused: bad or missing signature", flush=True)
            return 401
        event = json.loads(body)
        with self.lock:
            if headers["webhook-id"] in self.seen_ids:
                return 204
            self.seen_ids.add(headers["webhook-id"])
            self.seen_types.add(event["type"])
            data = event.get("data", {})
            # proto3 JSON leaves out zeros: the ledger's first entry has no ledgerIndex.
            index = data.get("ledgerIndex", "0")
            print(f"{index} {event['type']} {data.get('alertId', '-')}", flush=True)
            if self.expect and self.expect <= self.seen_types:
                self.done.set()
        return 204


def serve(receiver, port):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (the standard library's name)
            length = int(self.headers.get("content-length", "0"))
            if length > MAX_BODY:
                self.send_response(413)
                self.end_headers()
                return
            body = self.rfile.read(length)
            headers = {name.lower(): value for name, value in self.headers.items()}
            self.send_response(receiver.handle(headers, body))
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--secret", default=os.environ.get("WEBHOOK_SECRET"))
    parser.add_argument("--expect", default="", help="comma-separated event types to wait for")
    parser.add_argument("--refuse-first", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args()
    if not args.secret or not args.secret.startswith("whsec_"):
        parser.error("--secret (or WEBHOOK_SECRET) must be the subscription's whsec_ secret")
    expect = [kind for kind in args.expect.split(",") if kind]
    receiver = Receiver(args.secret, expect, args.refuse_first)
    server = serve(receiver, args.port)
    print(f"listening on http://127.0.0.1:{args.port}/", flush=True)
    try:
        if expect:
            arrived = receiver.done.wait(args.timeout)
            if not arrived:
                missing = ", ".join(sorted(receiver.expect - receiver.seen_types))
                print(f"timed out waiting for {missing}", file=sys.stderr)
            return 0 if arrived else 1
        threading.Event().wait()
    except KeyboardInterrupt:
        return 0
    finally:
        server.shutdown()


if __name__ == "__main__":
    sys.exit(main())
