"""The whole exchange over HTTP/JSON, as a customs system would run it, against a live federation:
KZ raises an alert to Uzbekistan, UZ's officer watches it arrive, acknowledges it and reports that
nothing was found, KZ sees the outcome, and KZ's focal point proves the alert's ledger entry included in
the signed checkpoint. Exits non-zero on the first thing that does not hold.

    python3 example.py --kz URL --kz-ca FILE --kz-token T --kz-focal-token T \
                       --uz URL --uz-ca FILE --uz-token T --example deploy/examples/alert-drugs-precursors.json
"""

import argparse
import base64
import hashlib
import json
import sys
import threading
import time
import uuid

from tulpar_client import Node, TulparError, verify_webhook


def main():
    parser = argparse.ArgumentParser()
    for name in ["kz", "kz-ca", "kz-token", "kz-focal-token", "uz", "uz-ca", "uz-token", "example"]:
        parser.add_argument(f"--{name}", required=True)
    args = parser.parse_args()
    kz = Node(args.kz, args.kz_ca, args.kz_token)
    uz = Node(args.uz, args.uz_ca, args.uz_token)
    focal = Node(args.kz, args.kz_ca, args.kz_focal_token)

    # The webhook verifier against the specification's known answer.
    assert verify_webhook(
        "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        {
            "webhook-id": "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            "webhook-timestamp": "1649367553",
            "webhook-signature": "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
        },
        b'{"email":"test@example.com","username":"test_user"}',
        now=1649367553,
    )

    # UZ's officer watches before the alert is raised.
    arrived = []
    ready = threading.Event()

    def watch():
        for event in uz.watch():
            ready.set()
            if event.get("kind") == "ALERT_EVENT_KIND_ALERT_RECEIVED":
                arrived.append(event)
                return

    threading.Thread(target=watch, daemon=True).start()
    time.sleep(0.5)

    content = json.load(open(args.example))
    key = f"example-{uuid.uuid4()}"
    raised = kz.submit(content, idempotency_key=key)
    alert_id = raised["alertId"]
    print(f"raised {alert_id} at ledger index {raised.get('ledgerIndex', '0')}")
    assert kz.submit(content, idempotency_key=key)["replayed"] is True
    try:
        kz.submit(dict(content, narrative="other content"), idempotency_key=key)
        raise AssertionError("other content under a used key was accepted")
    except TulparError as error:
        assert error.http_status == 409 and key in error.status["message"], error

    deadline = time.time() + 30
    while not arrived and time.time() < deadline:
        time.sleep(0.1)
    assert arrived and arrived[0]["alertId"] == alert_id, "UZ's watcher saw the alert arrive"
    print(f"UZ received it (UZ ledger index {arrived[0].get('ledgerIndex', '0')})")

    uz.acknowledge(alert_id, key=f"{key}-ack")
    report = b"Inspection report: 40 cartons opened, nothing irregular found.\n"
    attachment = {
        "fileName": "inspection-report.txt",
        "mediaType": "text/plain",
        "sha256": hashlib.sha256(report).hexdigest(),
        "sizeBytes": str(len(report)),
        "content": base64.b64encode(report).decode(),
    }
    found = {"nothingFound": {}, "attachments": [attachment]}
    first = uz.record_outcome(alert_id, found, key=f"{key}-outcome")
    print("UZ acknowledged it and reported that nothing was found, with its inspection report")
    correction = {
        "didNotArrive": {},
        "correction": {
            "correctsResponseId": first["responseId"],
            "reason": "The report was for another container; this one never arrived",
        },
    }
    corrected = uz.record_outcome(alert_id, correction, key=f"{key}-correction")
    print("UZ corrected the outcome: the consignment did not arrive")

    deadline = time.time() + 30
    while time.time() < deadline:
        record = kz.alert(alert_id)
        answers = [e.get("response", {}) for e in record["recipients"][0].get("timeline", [])]
        if any(a.get("responseId") == corrected["responseId"] for a in answers):
            break
        time.sleep(0.2)
    else:
        raise AssertionError("KZ never saw the corrected outcome")
    name, media_type, content = kz.response_attachment(alert_id, first["responseId"], 0)
    assert (name, media_type, content) == ("inspection-report.txt", "text/plain", report)
    print("KZ sees both outcomes, the correction last, and fetched the report attached to the first")

    entry, checkpoint = focal.verified_entry(int(record.get("ledgerIndex", "0")))
    assert entry["entry"]["alertId"] == alert_id
    print(f"KZ's focal point proved entry {entry.get('index', '0')} in checkpoint of size {checkpoint['size']}")

    try:
        kz.submit({"priority": 7})
        raise AssertionError("a wrongly typed field was accepted")
    except TulparError as error:
        assert error.http_status == 400 and error.field_violations()[0][0] == "content.priority", error
    print("every step held")


if __name__ == "__main__":
    try:
        main()
    except (AssertionError, TulparError, ValueError) as error:
        print(f"failed: {error}", file=sys.stderr)
        sys.exit(1)
