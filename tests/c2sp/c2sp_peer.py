#!/usr/bin/env python3
"""Independent outside party for the C2SP transparency-log witnessing specs.

A log client, a witness server and a note verifier written from the c2sp.org
specifications only (signed-note, tlog-checkpoint, tlog-cosignature,
tlog-witness) and RFC 6962 / RFC 9162 Merkle trees. The end-to-end tests run it
against the implementation under test, in either role.

Subcommands: keygen, vkey, witness, log, verify, selftest. Each prints exactly
one JSON object on stdout; human-readable messages go to stderr. The exit status
is 0 on success and 1 on failure, with {"ok": false, "error": "..."}.
"""

import argparse
import base64
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

EM_DASH = "\u2014"
TYPE_ED25519, TYPE_COSIGNATURE_V1 = 0x01, 0x04
KEY_TYPES = {"log": TYPE_ED25519, "witness": TYPE_COSIGNATURE_V1}
MAX_BODY = 64 * 1024
MAX_PROOF_LINES = 63
MAX_SIGNATURES = 64
MAX_TREE_SIZE = 2**64 - 1
DECIMAL = re.compile(r"0|[1-9][0-9]*")
KEY_NAME = re.compile(r"[^\s+]+")


class Failure(Exception):
    """A failed check or invalid input; extra fields go into the JSON report."""

    def __init__(self, message, **extra):
        super().__init__(message)
        self.extra = extra


def eprint(*args):
    """Print a human-readable message to stderr."""
    print(*args, file=sys.stderr, flush=True)


def b64e(data):
    """Standard base64 encoding as text."""
    return base64.b64encode(data).decode("ascii")


def b64d(text, length=None):
    """Strict, canonical standard base64 decoding, optionally of exactly `length` bytes."""
    data = base64.b64decode(text, validate=True)
    if b64e(data) != text or (length is not None and len(data) != length):
        raise ValueError(f"bad base64 value {text[:60]!r}")
    return data


def sha256(data):
    return hashlib.sha256(data).digest()


# --- Merkle trees (RFC 6962 section 2.1, RFC 9162 section 2.1.4) ---

def leaf_hash(data):
    return sha256(b"\x00" + data)


def node_hash(left, right):
    return sha256(b"\x01" + left + right)


def split_point(n):
    """Largest power of two strictly smaller than n (n >= 2)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(hashes):
    """Merkle Tree Hash of a list of leaf hashes, by the recursive definition."""
    if not hashes:
        return sha256(b"")
    if len(hashes) == 1:
        return hashes[0]
    k = split_point(len(hashes))
    return node_hash(mth(hashes[:k]), mth(hashes[k:]))


def consistency_proof(m, hashes):
    """PROOF(m, D[n]) of RFC 6962 section 2.1.2, for 0 < m <= n = len(hashes)."""
    def subproof(m, d, complete):
        if m == len(d):
            return [] if complete else [mth(d)]
        k = split_point(len(d))
        if m <= k:
            return subproof(m, d[:k], complete) + [mth(d[k:])]
        return subproof(m - k, d[k:], False) + [mth(d[:k])]
    return subproof(m, hashes, True)


def verify_consistency(m, n, old_root, new_root, proof):
    """Consistency proof verification of RFC 9162 section 2.1.4.2, for 0 < m <= n."""
    if not 0 < m <= n:
        return False
    if m == n:
        return not proof and old_root == new_root
    if not proof:
        return False
    if m & (m - 1) == 0:
        proof = [old_root] + list(proof)
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == old_root and sr == new_root and sn == 0


# --- Keys and signed notes (c2sp.org/signed-note, c2sp.org/tlog-cosignature) ---

def key_id(name, sig_type, public_key):
    return sha256(name.encode() + b"\n" + bytes([sig_type]) + public_key)[:4]


def raw_public(key):
    """Raw 32-byte public key of an Ed25519 private or public key."""
    if isinstance(key, Ed25519PrivateKey):
        key = key.public_key()
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def load_private_key(path):
    with open(path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise Failure(f"{path}: not an Ed25519 private key")
    return key


class VKey:
    """A verifier key: name, signature type (0x01 or 0x04) and Ed25519 public key."""

    def __init__(self, name, sig_type, public_key):
        if not KEY_NAME.fullmatch(name):
            raise Failure(f"invalid key name {name!r}")
        self.name, self.type, self.public_key = name, sig_type, public_key
        self.id = key_id(name, sig_type, public_key)

    @classmethod
    def parse(cls, text):
        """Parse "<name>+<hex key ID>+<base64(type || key)>"; the key ID must match."""
        parts = text.strip().split("+", 2)
        try:
            if len(parts) != 3 or not re.fullmatch(r"[0-9a-fA-F]{8}", parts[1]):
                raise ValueError("malformed")
            raw = b64d(parts[2])
        except ValueError as e:
            raise Failure(f"invalid vkey {text!r}: {e}") from None
        if len(raw) != 33 or raw[0] not in KEY_TYPES.values():
            raise Failure(f"unsupported vkey {text!r}")
        vkey = cls(parts[0], raw[0], raw[1:])
        if vkey.id.hex() != parts[1].lower():
            raise Failure(f"vkey {text!r}: key ID does not match name and key")
        return vkey

    def __str__(self):
        return f"{self.name}+{self.id.hex()}+{b64e(bytes([self.type]) + self.public_key)}"

    def matches(self, name, blob):
        return name == self.name and blob[:4] == self.id

    def verify(self, text, blob):
        """Verify a signature blob (key ID first) on note text; returns its timestamp or None."""
        timestamp, message = None, text.encode()
        if self.type == TYPE_COSIGNATURE_V1:
            if len(blob) != 4 + 8 + 64:
                raise Failure(f"cosignature by {self.name}: wrong length")
            timestamp = int.from_bytes(blob[4:12], "big")
            if timestamp > 2**63 - 1:
                raise Failure(f"cosignature by {self.name}: timestamp out of range")
            message = f"cosignature/v1\ntime {timestamp}\n".encode() + message
            signature = blob[12:]
        elif len(blob) != 4 + 64:
            raise Failure(f"signature by {self.name}: wrong length")
        else:
            signature = blob[4:]
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            raise Failure(f"signature by {self} does not verify") from None
        return timestamp


def parse_signature_line(line):
    """(key name, signature blob) of one note signature line without its newline."""
    m = re.fullmatch(EM_DASH + r" ([^\s+]+) (\S+)", line)
    if not m:
        raise ValueError(f"malformed signature line {line[:80]!r}")
    blob = b64d(m[2])
    if len(blob) < 5:
        raise ValueError("signature too short")
    return m[1], blob


def parse_note(data):
    """Split a signed note into its text and [(key name, signature blob)]; raises ValueError."""
    note = data.decode("utf-8") if isinstance(data, bytes) else data
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise ValueError("control character in note")
    split = note.rfind("\n\n")
    if split < 0:
        raise ValueError("note has no signature block")
    text, block = note[:split + 1], note[split + 2:]
    if not block.endswith("\n"):
        raise ValueError("signature block does not end in a newline")
    signatures = [parse_signature_line(line) for line in block[:-1].split("\n")]
    if len(signatures) > MAX_SIGNATURES:
        raise ValueError("too many signatures")
    return text, signatures


def verify_note(text, signatures, vkeys):
    """Every vkey must have at least one matching signature line, and all of them must verify."""
    verified = {}
    for vkey in vkeys:
        blobs = [blob for name, blob in signatures if vkey.matches(name, blob)]
        if not blobs:
            raise Failure(f"no signature by {vkey}")
        timestamps = [vkey.verify(text, blob) for blob in blobs]
        kind = "log" if vkey.type == TYPE_ED25519 else "cosignature/v1"
        verified[vkey.name] = {"type": kind, "timestamp": timestamps[0]}
    return verified


def signature_line(name, blob):
    return f"{EM_DASH} {name} {b64e(blob)}\n"


def parse_checkpoint(text):
    """Origin, tree size and root hash of checkpoint note text; raises ValueError."""
    lines = text[:-1].split("\n")
    if len(lines) < 3 or "" in lines:
        raise ValueError("checkpoint needs at least three non-empty lines")
    if not DECIMAL.fullmatch(lines[1]) or int(lines[1]) > MAX_TREE_SIZE:
        raise ValueError("bad tree size line")
    return lines[0], int(lines[1]), b64d(lines[2], 32)


def make_checkpoint(origin, size, root, key):
    """A checkpoint note signed with Ed25519 (type 0x01) under the name `origin`."""
    text = f"{origin}\n{size}\n{b64e(root)}\n"
    blob = key_id(origin, TYPE_ED25519, raw_public(key)) + key.sign(text.encode())
    return text + "\n" + signature_line(origin, blob)


# --- Witness (c2sp.org/tlog-witness) ---

class Witness:
    """The add-checkpoint logic: per-origin locking, state persisted before answering."""

    def __init__(self, key, name, logs, state_path):
        self.key, self.state_path = key, state_path
        self.vkey = VKey(name, TYPE_COSIGNATURE_V1, raw_public(key))
        self.logs = {}
        for vkey in logs:
            if vkey.type != TYPE_ED25519:
                raise Failure(f"log vkey {vkey} is not an Ed25519 (0x01) key")
            self.logs.setdefault(vkey.name, []).append(vkey)
        self.locks = {origin: threading.Lock() for origin in self.logs}
        self.save_lock, self.records_lock, self.records = threading.Lock(), threading.Lock(), []
        self.state = {}
        if os.path.exists(state_path):
            with open(state_path) as f:
                self.state = {o: (v["size"], b64d(v["root"], 32)) for o, v in json.load(f).items()}

    def record(self, origin, old, size, status):
        with self.records_lock:
            self.records.append({"origin": origin, "old": old, "size": size, "status": status})
        eprint(f"add-checkpoint origin={origin!r} old={old} size={size} -> {status}")

    def save(self, origin, size, root):
        """Update the state of one origin and write the whole state file atomically."""
        with self.save_lock:
            state = dict(self.state, **{origin: (size, root)})
            tmp = self.state_path + ".tmp"
            with open(tmp, "w") as f:
                json.dump({o: {"size": s, "root": b64e(r)} for o, (s, r) in state.items()}, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.state_path)
            self.state = state

    def cosign(self, text):
        timestamp = int(time.time())
        message = f"cosignature/v1\ntime {timestamp}\n".encode() + text.encode()
        blob = self.vkey.id + timestamp.to_bytes(8, "big") + self.key.sign(message)
        return signature_line(self.vkey.name, blob)

    def add_checkpoint(self, body):
        """Handle one request body; returns (status, response body, content type)."""
        info = {"origin": None, "old": None, "size": None}

        def answer(status, payload, ctype="text/plain; charset=utf-8"):
            self.record(info["origin"], info["old"], info["size"], status)
            return status, payload.encode(), ctype

        try:
            request = body.decode("utf-8")
            head, _, note = request.partition("\n\n")
            lines = head.split("\n")
            m = re.fullmatch(r"old (0|[1-9][0-9]*)", lines[0])
            if not m or int(m[1]) > MAX_TREE_SIZE:
                raise ValueError("bad old size line")
            info["old"] = old = int(m[1])
            if len(lines) - 1 > MAX_PROOF_LINES:
                raise ValueError("too many consistency proof lines")
            proof = [b64d(line, 32) for line in lines[1:]]
            text, signatures = parse_note(note)
            origin, size, root = parse_checkpoint(text)
            info.update(origin=origin, size=size)
        except ValueError as e:
            return answer(400, f"malformed request: {e}\n")
        if origin not in self.logs:
            return answer(404, "unknown log origin\n")
        known = [(vk, blob) for vk in self.logs[origin] for n, blob in signatures if vk.matches(n, blob)]
        try:
            if not known:
                raise Failure("no signature from a known log key")
            for vkey, blob in known:
                vkey.verify(text, blob)
        except Failure as e:
            return answer(403, f"{e}\n")
        if old > size:
            return answer(400, "old size is larger than the checkpoint size\n")
        with self.locks[origin]:
            latest_size, latest_root = self.state.get(origin, (0, sha256(b"")))
            if old != latest_size:
                return answer(409, f"{latest_size}\n", "text/x.tlog.size")
            if old == size:
                if proof:
                    return answer(422, "consistency proof must be empty for equal sizes\n")
                if root != latest_root:
                    return answer(409, "same size, different root hash\n")
            elif old == 0:
                if proof:
                    return answer(422, "consistency proof must be empty when old size is 0\n")
            elif not verify_consistency(old, size, latest_root, root, proof):
                return answer(422, "consistency proof does not verify\n")
            try:
                self.save(origin, size, root)
            except OSError as e:
                return answer(500, f"cannot persist state: {e}\n")
            return answer(200, self.cosign(text))


class WitnessHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 front end of a Witness (available as self.server.witness)."""

    protocol_version = "HTTP/1.1"
    server_version = "c2sp-peer"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, payload, ctype="text/plain; charset=utf-8", close=False):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(payload)

    def read_body(self):
        """Read a Content-Length or chunked body; returns (error status or None, body)."""
        if self.headers.get("Transfer-Encoding", "identity").lower() == "chunked":
            data = bytearray()
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return None, bytes(data)
                if len(data) + size > MAX_BODY:
                    return 413, None
                data += self.rfile.read(size)
                self.rfile.readline(1024)
        if "Content-Length" not in self.headers:
            return 411, None
        length = int(self.headers["Content-Length"])
        if length > MAX_BODY:
            if length <= 16 * MAX_BODY:
                self.rfile.read(length)
            return 413, None
        if length < 0:
            return 400, None
        return None, self.rfile.read(length)

    def do_POST(self):
        if urllib.parse.urlsplit(self.path).path != "/add-checkpoint":
            return self.reply(404, b"not found\n", close=True)
        try:
            error, body = self.read_body()
        except ValueError:
            error, body = 400, None
        if error:
            self.server.witness.record(None, None, None, error)
            return self.reply(error, b"request body missing, malformed or too large\n", close=True)
        self.reply(*self.server.witness.add_checkpoint(body))

    def do_GET(self):
        self.reply(404 if self.path != "/add-checkpoint" else 405, b"use POST /add-checkpoint\n", close=True)


def start_witness_server(witness, host, port):
    """Bind and serve a witness in a background thread; returns the server."""
    server_class = ThreadingHTTPServer
    if ":" in host:
        server_class = type("V6Server", (ThreadingHTTPServer,), {"address_family": socket.AF_INET6})
    server = server_class((host, port), WitnessHandler)
    server.daemon_threads, server.witness = True, witness
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# --- Log client ---

class Client:
    """Keep-alive HTTP(S) client for POST <prefix>/add-checkpoint."""

    def __init__(self, url, cafile=None):
        self.url = urllib.parse.urlsplit(url)
        if self.url.scheme not in ("http", "https") or not self.url.hostname:
            raise Failure(f"unsupported witness URL {url!r}")
        self.path = self.url.path.rstrip("/") + "/add-checkpoint"
        self.context = ssl.create_default_context(cafile=cafile) if self.url.scheme == "https" else None
        self.conn = None

    def connect(self):
        host, port = self.url.hostname, self.url.port
        if self.context:
            return http.client.HTTPSConnection(host, port or 443, context=self.context, timeout=30)
        return http.client.HTTPConnection(host, port or 80, timeout=30)

    def post(self, body):
        """POST a body; returns (status, content type, response body)."""
        for _ in range(2):
            reused = self.conn is not None
            self.conn = self.conn or self.connect()
            try:
                self.conn.request("POST", self.path, body=body)
                response = self.conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = None
                if reused:
                    continue
                raise
            if response.will_close:
                self.conn.close()
                self.conn = None
            return response.status, response.getheader("Content-Type") or "", data
        raise Failure("connection to the witness failed")


def add_checkpoint_body(old, proof, note):
    return (f"old {old}\n" + "".join(b64e(h) + "\n" for h in proof) + "\n" + note).encode()


def check_cosignature(note, response, wvkey):
    """Check a 200 answer; returns (note with the witness's lines appended, timestamp)."""
    text = response.decode("utf-8")
    lines = text[:-1].split("\n") if text.endswith("\n") else [""]
    if not all(line.startswith(EM_DASH + " ") for line in lines):
        raise Failure(f"response is not a sequence of signature lines: {text[:200]!r}")
    body, signatures = parse_note(note + text)
    timestamp = verify_note(body, signatures, [wvkey])[wvkey.name]["timestamp"]
    if abs(time.time() - timestamp) > 600:
        raise Failure(f"cosignature timestamp {timestamp} is not within 600 s of now")
    mine = [line + "\n" for line in lines if wvkey.matches(*parse_signature_line(line))]
    return note + "".join(mine), timestamp


def run_log(key, origin, url, cafile, wvkey, entries):
    """Drive a witness through the add-checkpoint cases, checking every answer."""
    if entries < 2:
        raise Failure("--entries must be at least 2")
    if wvkey.type != TYPE_COSIGNATURE_V1:
        raise Failure("--witness-vkey must be a cosignature/v1 (0x04) key")
    hashes = [leaf_hash(f"entry {i}".encode()) for i in range(entries)]
    half = entries // 2
    half_root, full_root = mth(hashes[:half]), mth(hashes)
    client, checks = Client(url, cafile), {}

    def expect(label, status, body):
        got, ctype, data = client.post(body)
        checks[label] = got
        eprint(f"{label}: {got} {data[:120]!r}")
        if got != status:
            raise Failure(f"{label}: expected {status}, got {got}: {data[:300]!r}", checks=checks)
        return ctype, data

    half_note = make_checkpoint(origin, half, half_root, key)
    full_note = make_checkpoint(origin, entries, full_root, key)
    expect("unknown_origin", 404, add_checkpoint_body(0, [], make_checkpoint(origin + "-other", half, half_root, key)))
    stranger = Ed25519PrivateKey.generate()
    expect("unknown_key", 403, add_checkpoint_body(0, [], make_checkpoint(origin, half, half_root, stranger)))
    _, data = expect("first", 200, add_checkpoint_body(0, [], half_note))
    _, first_ts = check_cosignature(half_note, data, wvkey)
    ctype, data = expect("old_mismatch", 409, add_checkpoint_body(0, [], half_note))
    if ctype.split(";")[0].strip().lower() != "text/x.tlog.size" or data != f"{half}\n".encode():
        raise Failure(f"old_mismatch: bad answer {ctype!r} {data!r}", checks=checks)
    proof = consistency_proof(half, hashes)
    bad = [bytes([proof[0][0] ^ 1]) + proof[0][1:]] + proof[1:]
    if not proof or verify_consistency(half, entries, half_root, full_root, bad):
        raise Failure("internal error: corrupted proof verifies")
    expect("bad_proof", 422, add_checkpoint_body(half, bad, full_note))
    _, data = expect("extend", 200, add_checkpoint_body(half, proof, full_note))
    cosigned, full_ts = check_cosignature(full_note, data, wvkey)
    expect("old_too_large", 400, add_checkpoint_body(entries + 1, [], full_note))
    return {"ok": True, "cosigned": [half, entries], "checks": checks,
            "timestamps": [first_ts, full_ts], "cosigned_note": cosigned}


# --- Subcommands ---

def cmd_keygen(args):
    key = Ed25519PrivateKey.generate()
    vkey = VKey(args.name, KEY_TYPES[args.type], raw_public(key))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(pem)
    return {"ok": True, "vkey": str(vkey)}


def cmd_vkey(args):
    with open(args.public_key_pem, "rb") as f:
        key = serialization.load_pem_public_key(f.read())
    if not isinstance(key, Ed25519PublicKey):
        raise Failure("not an Ed25519 public key")
    return {"ok": True, "vkey": str(VKey(args.name, KEY_TYPES[args.type], raw_public(key)))}


def cmd_witness(args):
    host, _, port = args.listen.rpartition(":")
    host = host.strip("[]")
    witness = Witness(load_private_key(args.key), args.name, [VKey.parse(v) for v in args.log], args.state)
    server = start_witness_server(witness, host, int(port))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    eprint(f"listening on {host}:{server.server_address[1]}")
    deadline = time.monotonic() + args.duration if args.duration else None
    while not stop.wait(0.2):
        if deadline is not None and time.monotonic() >= deadline:
            break
    server.shutdown()
    server.server_close()
    return {"ok": True, "requests": witness.records}


def cmd_log(args):
    return run_log(load_private_key(args.key), args.name, args.url, args.ca,
                   VKey.parse(args.witness_vkey), args.entries)


def cmd_verify(args):
    with open(args.note_file, "rb") as f:
        data = f.read()
    try:
        text, signatures = parse_note(data)
    except ValueError as e:
        raise Failure(f"malformed note: {e}") from None
    return {"ok": True, "verified": verify_note(text, signatures, [VKey.parse(v) for v in args.vkey])}


def require(condition, context):
    """Selftest check that survives python -O."""
    if not condition:
        raise Failure(f"selftest check failed: {context!r}")


def selftest_merkle(limit=40):
    """Check proofs against brute-force roots (two ways) for all 1 <= m <= n <= limit."""
    hashes = [leaf_hash(f"entry {i}".encode()) for i in range(limit + 1)]
    roots = [mth(hashes[:n]) for n in range(limit + 2)]
    for n in range(1, limit + 1):
        level = hashes[:n]
        while len(level) > 1:
            level = [node_hash(*level[i:i + 2]) if i + 1 < len(level) else level[i]
                     for i in range(0, len(level), 2)]
        require(level[0] == roots[n], n)
        for m in range(1, n + 1):
            proof = consistency_proof(m, hashes[:n])
            require(verify_consistency(m, n, roots[m], roots[n], proof), (m, n))
            require((m == n) == (not proof), (m, n))
            require(not verify_consistency(m, n + 1, roots[m], roots[n + 1], proof), (m, n))
            require(not verify_consistency(m, n, roots[m - 1], roots[n], proof), (m, n))
            require(not verify_consistency(m, n, roots[m], roots[n], proof + [roots[1]]), (m, n))
            for i in range(len(proof)):
                bad = list(proof)
                bad[i] = bad[i][:5] + bytes([bad[i][5] ^ 0x80]) + bad[i][6:]
                require(not verify_consistency(m, n, roots[m], roots[n], bad), (m, n, i))
    return limit * (limit + 1) // 2


def cmd_selftest(args):
    pairs = selftest_merkle()
    example = VKey.parse("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k")
    note = ("This is an example message.\n\n" + EM_DASH + " example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tna"
            "gv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n")
    verify_note(*parse_note(note), [example])
    try:
        verify_note(*parse_note(note.replace("example", "sample", 1)), [example])
        raise AssertionError("tampered example note verifies")
    except Failure:
        pass
    tmp = tempfile.mkdtemp(prefix="c2sp-peer-")
    wkey, lkey = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    wvkey = VKey("witness.example/selftest", TYPE_COSIGNATURE_V1, raw_public(wkey))
    sizes = [13, 8, 2]
    lvkeys = [VKey(f"log.example/selftest-{n}", TYPE_ED25519, raw_public(lkey)) for n in sizes]
    state = os.path.join(tmp, "state.json")
    witness = Witness(wkey, wvkey.name, [VKey.parse(str(v)) for v in lvkeys], state)
    server = start_witness_server(witness, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        for n, lvkey in zip(sizes, lvkeys):
            result = run_log(lkey, lvkey.name, url, None, VKey.parse(str(wvkey)), n)
            path = os.path.join(tmp, f"note-{n}")
            with open(path, "w") as f:
                f.write(result["cosigned_note"])
            verified = cmd_verify(argparse.Namespace(note_file=path, vkey=[str(lvkey), str(wvkey)]))
            require(verified["verified"][wvkey.name]["type"] == "cosignature/v1", verified)
        origin, n = lvkeys[0].name, sizes[0]
        hashes = [leaf_hash(f"entry {i}".encode()) for i in range(n + 1)]
        client = Client(url)
        same = make_checkpoint(origin, n, mth(hashes[:n]), lkey)
        extra = [
            ("same size, same root", add_checkpoint_body(n, [], same), 200),
            ("same size, other root", add_checkpoint_body(n, [], make_checkpoint(origin, n, hashes[0], lkey)), 409),
            ("64 proof lines", add_checkpoint_body(n, [hashes[0]] * 64, same), 400),
            ("63 bogus proof lines", add_checkpoint_body(
                n, [hashes[0]] * 63, make_checkpoint(origin, n + 1, mth(hashes), lkey)), 422),
            ("garbage", b"hello\n", 400),
            ("non-canonical old size", add_checkpoint_body("013", [], same), 400),
            ("oversized body", b"old 0\n\n" + b"x" * MAX_BODY, 413),
        ]
        for label, body, status in extra:
            got = client.post(body)[0]
            require(got == status, (label, got, status))
        with open(state) as f:
            saved = json.load(f)
        require(saved[origin] == {"size": n, "root": b64e(mth(hashes[:n]))}, saved)
    finally:
        server.shutdown()
        server.server_close()
    return {"ok": True, "merkle_pairs": pairs, "log_sizes": sizes, "witness_requests": len(witness.records)}


class Parser(argparse.ArgumentParser):
    """Argument parser reporting usage errors as failures (JSON on stdout, exit 1)."""

    def error(self, message):
        raise Failure(f"usage: {message}")


def main(argv=None):
    parser = Parser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    key_type = {"choices": KEY_TYPES}
    commands = [
        (cmd_keygen, "keygen", "generate an Ed25519 key", {"--name": {}, "--type": key_type, "--out": {}}),
        (cmd_vkey, "vkey", "vkey of a PEM Ed25519 public key",
         {"--name": {}, "--type": key_type, "--public-key-pem": {}}),
        (cmd_witness, "witness", "serve the tlog-witness protocol",
         {"--key": {}, "--name": {}, "--listen": {}, "--log": {"action": "append"}, "--state": {},
          "--duration": {"type": float, "required": False}}),
        (cmd_log, "log", "act as a log against a witness",
         {"--key": {}, "--name": {}, "--url": {}, "--ca": {"required": False}, "--witness-vkey": {},
          "--entries": {"type": int}}),
        (cmd_verify, "verify", "verify a signed note", {"--note-file": {}, "--vkey": {"action": "append"}}),
        (cmd_selftest, "selftest", "run the built-in tests", {}),
    ]
    for func, name, description, options in commands:
        p = sub.add_parser(name, help=description)
        p.set_defaults(func=func)
        for flag, kwargs in options.items():
            p.add_argument(flag, **{"required": True, **kwargs})
    try:
        args = parser.parse_args(argv)
        result = args.func(args)
    except Failure as e:
        result = {"ok": False, "error": str(e), **e.extra}
    except Exception as e:  # any other failure is still reported as JSON
        result = {"ok": False, "error": f"{type(e).__name__}: {e}"}
    if not result.get("ok"):
        eprint(f"error: {result['error']}")
    print(json.dumps(result), flush=True)
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
