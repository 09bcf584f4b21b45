#!/usr/bin/env python3
"""A vLLM-format KV event peer on the ZeroMQ C library (pyzmq), for tests.

  zmq_peer.py pub   binds a PUB and a ROUTER replay socket on loopback,
                    prints {"endpoint": ..., "replay": ...}, then reads one
                    JSON command per stdin line:
                      {"events": [...], "encoding": "map"|"array",
                       "send": true, "hash_bytes": false}
                    and publishes it as vLLM's ZmqEventPublisher does
                    (topic, 8-byte big-endian seq, msgpack EventBatch),
                    keeping every batch for replay ("send": false keeps it
                    only there: a lost message). {"restart": true} starts
                    the sequence again at 0 with an empty buffer. Prints
                    {"seq": n} per batch.
  zmq_peer.py sub ENDPOINT REPLAY N
                    subscribes, receives N live batches, then asks for a
                    replay from 0 with a DEALER socket and prints {"live": [[seq, batch]...],
                    "replay": [[seq, batch]...]} with the decoded batches.

Events in commands are JSON objects in vLLM's field names with a "type";
"hash_bytes" turns each block hash h into 32 bytes (h in the last 8,
big-endian), the digest form.
"""
import json
import select
import sys

import msgpack
import zmq

STORED = ["block_hashes", "parent_block_hash", "token_ids", "block_size", "lora_id", "medium", "lora_name"]
REMOVED = ["block_hashes", "medium"]


def as_hash(h, as_bytes):
    if h is None or not as_bytes:
        return h
    return bytes(24) + h.to_bytes(8, "big")


def encode(events, encoding, hash_bytes, ts):
    out = []
    for ev in events:
        ev = dict(ev)
        if "block_hashes" in ev:
            ev["block_hashes"] = [as_hash(h, hash_bytes) for h in ev["block_hashes"]]
        if "parent_block_hash" in ev:
            ev["parent_block_hash"] = as_hash(ev["parent_block_hash"], hash_bytes)
        tag = ev.pop("type")
        if encoding == "array":
            fields = STORED if tag == "BlockStored" else REMOVED if tag == "BlockRemoved" else []
            out.append([tag] + [ev.get(f) for f in fields])
        else:
            m = {"type": tag}
            m.update(ev)
            out.append(m)
    if encoding == "array":
        return msgpack.packb([ts, out, 0], use_bin_type=True)
    return msgpack.packb({"ts": ts, "events": out, "data_parallel_rank": 0}, use_bin_type=True)


def pub():
    ctx = zmq.Context.instance()
    s = ctx.socket(zmq.PUB)
    port = s.bind_to_random_port("tcp://127.0.0.1")
    r = ctx.socket(zmq.ROUTER)
    rport = r.bind_to_random_port("tcp://127.0.0.1")
    print(json.dumps({"endpoint": f"tcp://127.0.0.1:{port}", "replay": f"tcp://127.0.0.1:{rport}"}), flush=True)
    buf, seq = [], 0
    stdin = sys.stdin
    while True:
        ready, _, _ = select.select([stdin, r.getsockopt(zmq.FD)], [], [], 0.05)
        while r.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            frames = r.recv_multipart()
            if len(frames) != 3:
                continue
            cid, _, start = frames
            start = int.from_bytes(start, "big")
            for sq, payload in buf:
                if sq >= start:
                    r.send_multipart((cid, b"", sq.to_bytes(8, "big"), payload))
            r.send_multipart((cid, b"", (-1).to_bytes(8, "big", signed=True), b""))
        if stdin in ready:
            line = stdin.readline()
            if not line:
                return
            cmd = json.loads(line)
            if cmd.get("restart"):
                buf, seq = [], 0
                print(json.dumps({"seq": -1}), flush=True)
                continue
            payload = encode(cmd["events"], cmd.get("encoding", "map"), cmd.get("hash_bytes", False), cmd.get("ts", 1.5))
            buf.append((seq, payload))
            if cmd.get("send", True):
                s.send_multipart((cmd.get("topic", "").encode(), seq.to_bytes(8, "big"), payload))
            print(json.dumps({"seq": seq}), flush=True)
            seq += 1


def jsonable(v):
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    return v


def sub(endpoint, replay, n):
    ctx = zmq.Context.instance()
    s = ctx.socket(zmq.SUB)
    s.setsockopt(zmq.SUBSCRIBE, b"")
    s.connect(endpoint)
    print(json.dumps({"ready": True}), flush=True)
    live = []
    while len(live) < n:
        if not s.poll(20000):
            break
        topic, sq, payload = s.recv_multipart()
        live.append([int.from_bytes(sq, "big"), msgpack.unpackb(payload, raw=False)])
    rep = []
    q = ctx.socket(zmq.DEALER)
    q.connect(replay)
    q.send_multipart((b"", (0).to_bytes(8, "big")))
    while q.poll(5000):
        frames = q.recv_multipart()
        _, sq, payload = frames
        if int.from_bytes(sq, "big", signed=True) == -1:
            break
        rep.append([int.from_bytes(sq, "big"), msgpack.unpackb(payload, raw=False)])
    print(json.dumps({"live": jsonable(live), "replay": jsonable(rep)}), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "pub":
        pub()
    else:
        sub(sys.argv[2], sys.argv[3], int(sys.argv[4]))
