"""Byte-level mutations of real samples: flips, inserts, deletions, truncation, duplication, and the
splice of a self-contained dangerous opcode sequence at a random offset."""

from __future__ import annotations

import pickletools
import random

# GLOBAL os.system, MARK, UNICODE 'true', TUPLE, REDUCE, POP: leaves the stack as it found it, so it
# can sit between any two opcodes of a pickle (as a loader reads it) without breaking the rest.
SPLICE = b"cos\nsystem\n(Vtrue\ntR0"
SPLICE_STACK = b"\x8c\x02os\x94\x8c\x06system\x94\x93(\x8c\x04truetR0"  # STACK_GLOBAL form (protocol 4)


def splice_at_boundary(program: bytes, rng: random.Random) -> bytes:
    """`program` with SPLICE inserted between two of its opcodes (after the PROTO header and FRAME
    openings, where a loader would run it), or at the start for a headerless pickle."""
    cuts = [0]
    for op, _, pos in pickletools.genops(program):  # our own bytes: parsing, not loading
        if pos is not None and op.name not in ("PROTO", "FRAME", "STOP") and pos > 0:
            cuts.append(pos)
    at = rng.choice(cuts[1:] or cuts)
    return program[:at] + rng.choice([SPLICE, SPLICE_STACK]) + program[at:]


def mutate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One byte-level mutation of `data`; returns the bytes and the mutation's name."""
    kind = rng.choice(["flip", "insert", "delete", "truncate", "duplicate", "splice"])
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
