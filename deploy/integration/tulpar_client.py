"""A small client of a Tulpar node's HTTP/JSON API, standard library only.

    from tulpar_client import Node
    kz = Node("https://127.0.0.1:7401", ca_file="kz/node/tls-ca.crt", token="...")
    alert = kz.submit(content, idempotency_key="my-system-0001")
    for event in kz.watch():            # newline-delimited JSON, one event per line
        ...

Every error is raised as TulparError carrying the node's google.rpc.Status (code, message, details).
The routes and messages are those of /v1/openapi.json; JSON follows the proto3 JSON mapping (64-bit
integers are strings, fields at their default value are left out).
"""

import base64
import hashlib
import hmac
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request


class TulparError(Exception):
    """A refusal by the node: the HTTP status and the google.rpc.Status it sent."""

    def __init__(self, http_status, status):
        self.http_status = http_status
        self.status = status
        super().__init__(f"{http_status}: {status.get('message', '')}")

    def field_violations(self):
        """The (field, description) pairs of a google.rpc.BadRequest detail, if any."""
        for detail in self.status.get("details", []):
            if detail.get("@type", "").endswith("google.rpc.BadRequest"):
                return [(v.get("field"), v.get("description")) for v in detail.get("fieldViolations", [])]
        return []


class Node:
    """One node's client API, as one caller (a bearer token)."""

    def __init__(self, base_url, ca_file, token, timeout=30):
        self.base = base_url.rstrip("/")
        self.context = ssl.create_default_context(cafile=ca_file)
        self.token = token
        self.timeout = timeout

    def _open(self, method, path, body=None, headers=None, query=None):
        url = self.base + path
        if query:
            url += "?" + urllib.parse.urlencode(query, doseq=True)
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            return urllib.request.urlopen(request, context=self.context, timeout=self.timeout)
        except urllib.error.HTTPError as error:
            raise TulparError(error.code, json.loads(error.read() or b"{}")) from None

    def call(self, method, path, body=None, headers=None, query=None):
        """One request; the answer as JSON."""
        with self._open(method, path, body, headers, query) as response:
            return json.loads(response.read())

    def submit(self, content, idempotency_key=None):
        """SubmitAlert: raises an alert; a retry under the same key returns the first answer."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return self.call("POST", "/v1/alerts", content, headers)

    def alert(self, alert_id):
        """GetAlert: the alert with its lifecycle per recipient."""
        return self.call("GET", f"/v1/alerts/{urllib.parse.quote(alert_id)}")

    def alerts(self, **filters):
        """ListAlerts, one page; filters are query parameters such as pageSize or direction."""
        return self.call("GET", "/v1/alerts", query=filters)

    def acknowledge(self, alert_id, decision="ACKNOWLEDGEMENT_DECISION_ACCEPTED", note="", key=None):
        """Acknowledge a received alert."""
        body = {"acknowledgement": {"decision": decision, "note": note}}
        headers = {"Idempotency-Key": key} if key else None
        return self.call("POST", f"/v1/alerts/{urllib.parse.quote(alert_id)}:acknowledge", body, headers)

    def record_outcome(self, alert_id, outcome, key=None):
        """RecordOutcome of an acknowledged alert; `outcome` is an Outcome message as JSON."""
        headers = {"Idempotency-Key": key} if key else None
        return self.call(
            "POST", f"/v1/alerts/{urllib.parse.quote(alert_id)}:recordOutcome", {"outcome": outcome}, headers
        )

    def response_attachment(self, alert_id, response_id, index=0):
        """GetResponseAttachment: a photo or document of an outcome, as (file name, media type, bytes),
        checked against its SHA-256 (GetAlert's timeline lists attachments without their bytes)."""
        path = "/v1/alerts/{}/responses/{}/attachments/{}".format(
            urllib.parse.quote(alert_id), urllib.parse.quote(response_id), int(index)
        )
        attachment = self.call("GET", path)
        content = base64.b64decode(attachment.get("content", ""))
        if hashlib.sha256(content).hexdigest() != attachment.get("sha256"):
            raise ValueError(f"attachment {index} of response {response_id} does not match its SHA-256")
        return attachment["fileName"], attachment["mediaType"], content

    def watch(self, resume_from=None):
        """WatchAlerts: yields events as they come (newline-delimited JSON); ends on an error line."""
        query = {"resumeFrom": resume_from} if resume_from is not None else None
        with self._open("GET", "/v1/alerts:watch", query=query) as response:
            for line in response:
                event = json.loads(line)
                if "error" in event:
                    raise TulparError(200, event["error"])
                yield event

    def verified_entry(self, index):
        """An audit entry (focal points) proven included in the latest signed checkpoint, per RFC 9162."""
        checkpoint = self.call("GET", "/v1/audit/checkpoints/latest")["checkpoint"]
        size = int(checkpoint.get("size", "0"))
        root = base64.b64decode(checkpoint["rootHash"])
        entries = self.call("GET", "/v1/audit/entries", query={"start": index, "end": index + 1})["entries"]
        raw = base64.b64decode(entries[0]["raw"])
        proof = self.call(
            "GET", f"/v1/audit/entries/{index}/inclusionProof", query={"treeSize": size}
        )
        hashes = [base64.b64decode(h) for h in proof.get("hashes", [])]
        if not verify_inclusion(raw, index, size, hashes, root):
            raise ValueError(f"entry {index} is not included in the checkpoint of size {size}")
        return entries[0], checkpoint


def verify_inclusion(leaf, index, size, proof, root):
    """RFC 9162 section 2.1.3.2: whether `proof` leads from `leaf` at `index` to `root` of `size`."""
    if index >= size:
        return False
    fn, sn = index, size - 1
    r = hashlib.sha256(b"\x00" + leaf).digest()
    for p in proof:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            while fn % 2 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    return sn == 0 and hmac.compare_digest(r, root)


def verify_webhook(secret, headers, body, tolerance=300, now=None):
    """Standard Webhooks: whether `body` (bytes) carries a valid `webhook-signature` under `secret`
    ("whsec_" + base64), signed over "{webhook-id}.{webhook-timestamp}.{body}" with HMAC-SHA256, and
    sent within `tolerance` seconds of `now`."""
    import time

    key = base64.b64decode(secret.removeprefix("whsec_"))
    message_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs((now if now is not None else time.time()) - int(timestamp)) > tolerance:
        return False
    signed = f"{message_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for candidate in headers["webhook-signature"].split():
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return True
    return False
