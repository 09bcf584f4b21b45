"""The calls LMCache's redis:// remote connector makes, through redis-py.

Run by node/clients_test.go (TestRedisPyLMCacheSequence) against a live
node: python3 lmcache_redis.py HOST PORT. Exits non-zero on any mismatch.
"""
import asyncio
import os
import sys

import redis
import redis.asyncio as aioredis


def sync_sequence(host, port):
    r = redis.Redis(host=host, port=port)
    assert r.ping()
    for chunk in range(4):
        key = "vllm@meta-llama/Llama-3-8B@1@0@%016x" % (0xABCDEF0000 + chunk)
        kv_bytes = os.urandom((1 << 20) + chunk * 4099)
        metadata = bytes([0, 0, 0, 1, 0, 0, 1, 0, 13, 10, 255, chunk])
        assert r.exists(key + "metadata") == 0
        assert r.set(key + "kv_bytes", kv_bytes)
        assert r.set(key + "metadata", metadata)
        assert r.exists(key + "metadata") == 1
        assert r.get(key + "metadata") == metadata
        assert r.get(key + "kv_bytes") == kv_bytes
        assert r.delete(key + "metadata", key + "kv_bytes") == 2
        assert r.get(key + "kv_bytes") is None
    # redis-py pipelines are MULTI/EXEC transactions by default.
    with r.pipeline() as p:
        p.set("pk", b"\x00v").get("pk").exists("pk", "nope")
        assert p.execute() == [True, b"\x00v", 1]
    keys = set(r.scan_iter(match="pk*", count=100))
    assert keys == {b"pk"}, keys
    r.close()


async def async_sequence(host, port):
    r = aioredis.Redis(host=host, port=port)
    key = "async-chunk"
    kv_bytes = os.urandom(3 << 20)
    await r.set(key + "kv_bytes", kv_bytes)
    await r.set(key + "metadata", b"meta")
    assert await r.exists(key + "metadata") == 1
    got = await asyncio.gather(r.get(key + "metadata"), r.get(key + "kv_bytes"))
    assert got == [b"meta", kv_bytes]
    await r.close()


if __name__ == "__main__":
    host, port = sys.argv[1], int(sys.argv[2])
    sync_sequence(host, port)
    asyncio.run(async_sequence(host, port))
    print("ok")
