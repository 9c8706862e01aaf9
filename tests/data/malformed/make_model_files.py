#!/usr/bin/env python3
"""Writes the small GGUF files of this directory that are well formed as GGUF but wrong
as models or as text (issue 16 item 9). Run from this directory; the outputs are committed.

  model-head-count-0.gguf     qwen3moe hyper-parameters with attention.head_count 0
  model-no-tensors.gguf       qwen3moe hyper-parameters that are fine, and no tensors
  overlapping-tensors.gguf    tensors 'a' and 'b' whose data ranges overlap
  escape-in-metadata.gguf     general.name carries a terminal escape sequence
"""
import struct

U32, F32, STRING = 4, 6, 8
F32_TYPE = 0


def s(text):
    b = text.encode()
    return struct.pack("<Q", len(b)) + b


def kv(key, typ, value):
    out = s(key) + struct.pack("<I", typ)
    if typ == U32:
        out += struct.pack("<I", value)
    elif typ == F32:
        out += struct.pack("<f", value)
    else:
        out += s(value)
    return out


def write(path, kvs, tensors=(), data=b""):
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    head += b"".join(kv(*x) for x in kvs)
    for name, ne, offset in tensors:
        head += s(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", n) for n in ne)
        head += struct.pack("<IQ", F32_TYPE, offset)
    head += b"\0" * (-len(head) % 32)
    with open(path, "wb") as f:
        f.write(head + data)


def qwen3moe(head_count):
    return [
        ("general.architecture", STRING, "qwen3moe"),
        ("qwen3moe.block_count", U32, 1),
        ("qwen3moe.embedding_length", U32, 64),
        ("qwen3moe.attention.head_count", U32, head_count),
        ("qwen3moe.attention.head_count_kv", U32, 2),
        ("qwen3moe.attention.key_length", U32, 16),
        ("qwen3moe.attention.value_length", U32, 16),
        ("qwen3moe.expert_count", U32, 4),
        ("qwen3moe.expert_used_count", U32, 2),
        ("qwen3moe.expert_feed_forward_length", U32, 32),
        ("qwen3moe.context_length", U32, 256),
    ]


write("model-head-count-0.gguf", qwen3moe(0))
write("model-no-tensors.gguf", qwen3moe(4))
write("overlapping-tensors.gguf", [("general.architecture", STRING, "none")],
      [("a", [16], 0), ("b", [8], 32)], b"\0" * 64)  # a: bytes 0..63, b: 32..63
write("escape-in-metadata.gguf", [("general.name", STRING, "\x1b[31mred\x1b[0m\x07")])
