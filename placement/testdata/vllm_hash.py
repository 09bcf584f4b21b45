#!/usr/bin/env python3
"""Independent check of the vllm hash scheme (docs/hashing.md).

Reads JSON cases on stdin, one per line: {"seed": S, "block_size": N,
"tokens": [...], "extras": {"lora_name": ..., "cache_salt": ..., "mm":
[{"identifier": ..., "offset": ..., "length": ...}]}} and prints, per case,
one JSON line {"cbor2": [hex...], "hand": [hex...]}: the block hashes
computed with Debian's python3-cbor2 (canonical=True, as vLLM's sha256_cbor
calls it; null when cbor2 is not installed) and with the minimal canonical
CBOR encoder below, written from RFC 8949 for the four types the scheme
uses. Both must equal what placement.VLLMHasher computes.
"""
import hashlib
import json
import struct
import sys

try:
    import cbor2
except ImportError:  # the hand encoder still runs
    cbor2 = None


def _head(major, n):
    if n < 24:
        return bytes([major << 5 | n])
    if n < 1 << 8:
        return bytes([major << 5 | 24, n])
    if n < 1 << 16:
        return bytes([major << 5 | 25]) + struct.pack(">H", n)
    if n < 1 << 32:
        return bytes([major << 5 | 26]) + struct.pack(">I", n)
    return bytes([major << 5 | 27]) + struct.pack(">Q", n)


def hand_cbor(v):
    if v is None:
        return b"\xf6"
    if isinstance(v, bool):
        raise TypeError("bool")
    if isinstance(v, int):
        return _head(0, v) if v >= 0 else _head(1, -1 - v)
    if isinstance(v, bytes):
        return _head(2, len(v)) + v
    if isinstance(v, str):
        b = v.encode("utf-8")
        return _head(3, len(b)) + b
    if isinstance(v, (list, tuple)):
        return _head(4, len(v)) + b"".join(hand_cbor(x) for x in v)
    raise TypeError(type(v))


def block_extra_keys(extras, start, end):
    keys = []
    if extras.get("lora_name"):
        keys.append(extras["lora_name"])
    for m in extras.get("mm") or []:
        if end > m["offset"] and start < m["offset"] + m["length"]:
            keys.append((m["identifier"], m["offset"] - start))
    if start == 0 and extras.get("cache_salt"):
        keys.append(extras["cache_salt"])
    return tuple(keys) if keys else None


def hashes(enc, case):
    none = hashlib.sha256(enc(case["seed"])).digest()
    bs, toks, extras = case["block_size"], case["tokens"], case.get("extras") or {}
    out, parent = [], none
    for start in range(0, len(toks) - bs + 1, bs):
        x = block_extra_keys(extras, start, start + bs)
        parent = hashlib.sha256(enc((parent, tuple(toks[start:start + bs]), x))).digest()
        out.append(parent.hex())
    return out


for line in sys.stdin:
    if not line.strip():
        continue
    case = json.loads(line)
    res = {"hand": hashes(hand_cbor, case), "cbor2": None}
    if cbor2 is not None:
        res["cbor2"] = hashes(lambda v: cbor2.dumps(v, canonical=True), case)
    print(json.dumps(res))
