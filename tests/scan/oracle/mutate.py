"""Byte-level mutations of real samples: flips, inserts, deletions, truncation, duplication, and the
splice of a self-contained dangerous opcode sequence at a random offset."""

from __future__ import annotations

import random

# GLOBAL os.system, MARK, UNICODE 'true', TUPLE, REDUCE, POP: leaves the stack as it found it, so it
# can sit between any two opcodes of a pickle (as a loader reads it) without breaking the rest.
SPLICE = b"cos\nsystem\n(Vtrue\ntR0"
SPLICE_STACK = b"\x8c\x02os\x94\x8c\x06system\x94\x93(\x8c\x04truetR0"  # STACK_GLOBAL form (protocol 4)


def mutate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One mutation of `data`; returns the bytes and the mutation's name."""
    kind = rng.choice(["flip", "insert", "delete", "truncate", "duplicate", "splice", "splice"])
    out = bytearray(data)
    at = rng.randrange(len(out) + 1)
    if kind == "flip" and out:
        for _ in range(rng.randrange(1, 4)):
            i = rng.randrange(len(out))
            out[i] ^= 1 << rng.randrange(8)
    elif kind == "insert":
        out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9)))
    elif kind == "delete":
        del out[at : at + rng.randrange(1, 17)]
    elif kind == "truncate":
        del out[at:]
    elif kind == "duplicate":
        end = min(len(out), at + rng.randrange(1, 65))
        out[at:at] = out[at:end]
    else:
        out[at:at] = rng.choice([SPLICE, SPLICE_STACK])
    return bytes(out), kind
