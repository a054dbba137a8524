"""A pickle writer, opcode by opcode, and a random grammar of pickle programs.

`Program` emits opcodes itself (not `pickle.dumps`) so that a case controls what real files vary in
and scanners may get wrong: GLOBAL vs STACK_GLOBAL (operands inline or from the memo), Python 2
names, the memo, PROTO opcodes in mid-stream, FRAMEs, REDUCE / NEWOBJ / INST / OBJ calls, BUILD.

`generate(rng, features)` draws a program: a top-level dict or list whose items are expressions
mixing allowlisted globals (torch rebuild functions, collections.OrderedDict, numpy reconstruct,
builtins containers) and, when the `dangerous` feature is on, calls that run code (catalogue
`DANGEROUS`). The features a program used are recorded on it, so results can be counted per
feature and the random test can leave out what the old scanner is known to miss.
"""

from __future__ import annotations

import importlib.util
import random
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

# Python 3 name -> Python 2 spelling the unpickler maps back when the protocol in force is < 3.
PY2_NAMES = {
    ("builtins", "eval"): ("__builtin__", "eval"),
    ("builtins", "exec"): ("__builtin__", "exec"),
    ("builtins", "getattr"): ("__builtin__", "getattr"),
    ("builtins", "__import__"): ("__builtin__", "__import__"),
    ("builtins", "set"): ("__builtin__", "set"),
    ("builtins", "list"): ("__builtin__", "list"),
    ("copyreg", "_reconstructor"): ("copy_reg", "_reconstructor"),
}


@dataclass
class Program:
    """A pickle under construction: opcodes are kept apart so FRAMEs and PROTOs can be placed at
    opcode boundaries afterwards."""

    proto: int
    """The protocol of the PROTO header (0 and 1 have none)."""
    ops: list[bytes] = field(default_factory=list)
    """The opcodes, one per item, in order (STOP excluded)."""
    memo_next: int = 0
    """The next free memo index."""
    features: set[str] = field(default_factory=set)
    """Grammar features this program used (for counting and for disabling)."""
    legacy_storage: bool = False
    """Tensor storages are written as torch's legacy stream names them (with view metadata)."""

    # ---- literals -------------------------------------------------------------------------------
    def none(self) -> None:
        self.ops.append(b"N")

    def boolean(self, v: bool) -> None:
        if self.proto >= 2:
            self.ops.append(b"\x88" if v else b"\x89")
        else:
            self.ops.append(b"I01\n" if v else b"I00\n")

    def integer(self, v: int) -> None:
        if self.proto == 0:
            self.ops.append(b"I%d\n" % v)
        elif 0 <= v < 256:
            self.ops.append(b"K" + bytes([v]))
        elif -(2**31) <= v < 2**31:
            self.ops.append(b"J" + struct.pack("<i", v))
        elif self.proto >= 2:
            raw = v.to_bytes((v.bit_length() + 8) // 8, "little", signed=True)
            size = bytes([len(raw)]) if len(raw) < 256 else struct.pack("<I", len(raw))
            self.ops.append((b"\x8a" if len(raw) < 256 else b"\x8b") + size + raw)
        else:
            self.ops.append(b"L%dL\n" % v)

    def floating(self, v: float) -> None:
        self.ops.append(b"G" + struct.pack(">d", v) if self.proto >= 1 else b"F" + repr(v).encode() + b"\n")

    def string(self, v: str) -> None:
        raw = v.encode("utf-8", "surrogatepass")
        if self.proto >= 4 and len(raw) < 256:
            self.ops.append(b"\x8c" + bytes([len(raw)]) + raw)
        elif self.proto >= 1:
            self.ops.append(b"X" + struct.pack("<I", len(raw)) + raw)
        else:
            self.ops.append(
                b"V"
                + v.encode("raw-unicode-escape").replace(b"\\", b"\\u005c").replace(b"\n", b"\\u000a")
                + b"\n"
            )

    def raw_bytes(self, v: bytes) -> None:
        if self.proto >= 3:
            self.ops.append(
                b"C" + bytes([len(v)]) + v if len(v) < 256 else b"B" + struct.pack("<I", len(v)) + v
            )
        else:  # as pickle does before protocol 3: _codecs.encode(str, 'latin1')
            self.global_("_codecs", "encode")
            self.mark()
            self.string(v.decode("latin1"))
            self.string("latin1")
            self.ops.append(b"t")
            self.ops.append(b"R")

    def mark(self) -> None:
        self.ops.append(b"(")

    # ---- containers (the items are pushed by the callbacks) --------------------------------------
    def tuple_(self, items: list[Callable[[], None]]) -> None:
        if not items and self.proto >= 1:
            self.ops.append(b")")
        elif self.proto >= 2 and len(items) <= 3:
            for item in items:
                item()
            self.ops.append(bytes([0x84 + len(items)]))
        else:
            self.mark()
            for item in items:
                item()
            self.ops.append(b"t")

    def list_(self, items: list[Callable[[], None]]) -> None:
        if self.proto == 0:
            self.mark()
            for item in items:
                item()
            self.ops.append(b"l")
            return
        self.ops.append(b"]")
        if items:
            self.mark()
            for item in items:
                item()
            self.ops.append(b"e")

    def dict_(self, items: list[tuple[Callable[[], None], Callable[[], None]]]) -> None:
        if self.proto == 0:
            self.mark()
            for k, v in items:
                k()
                v()
            self.ops.append(b"d")
            return
        self.ops.append(b"}")
        if items:
            self.mark()
            for k, v in items:
                k()
                v()
            self.ops.append(b"u")

    # ---- globals, calls, memo -------------------------------------------------------------------
    def global_(self, module: str, name: str, *, stack: bool | None = None, py2: bool = False) -> None:
        """Push `module.name`: GLOBAL (any protocol) or STACK_GLOBAL (protocol 4+)."""
        if py2 and (module, name) in PY2_NAMES:
            module, name = PY2_NAMES[(module, name)]
            self.features.add("py2-name")
        if stack is None:
            stack = self.proto >= 4
        if stack:
            self.features.add("stack-global")
            self.string(module)
            self.string(name)
            self.ops.append(b"\x93")
        else:
            self.ops.append(b"c" + module.encode() + b"\n" + name.encode() + b"\n")

    def memoize(self) -> int:
        index = self.memo_next
        self.memo_next += 1
        if self.proto >= 4:
            self.ops.append(b"\x94")
        elif self.proto >= 1:
            self.ops.append(b"q" + bytes([index]) if index < 256 else b"r" + struct.pack("<I", index))
        else:
            self.ops.append(b"p%d\n" % index)
        return index

    def get(self, index: int) -> None:
        if self.proto == 0:
            self.ops.append(b"g%d\n" % index)
        else:
            self.ops.append(b"h" + bytes([index]) if index < 256 else b"j" + struct.pack("<I", index))

    def pop(self) -> None:
        self.ops.append(b"0")

    def reduce(self) -> None:
        self.ops.append(b"R")

    def build(self) -> None:
        self.ops.append(b"b")

    def newobj(self) -> None:
        self.ops.append(b"\x81")

    def persid(self) -> None:
        self.ops.append(b"Q")

    def inst(self, module: str, name: str, args: list[Callable[[], None]]) -> None:
        """INST (protocol 0): `module.name(*args)` with the name inline."""
        self.features.add("inst")
        self.mark()
        for a in args:
            a()
        self.ops.append(b"i" + module.encode() + b"\n" + name.encode() + b"\n")

    def obj(self, module: str, name: str, args: list[Callable[[], None]]) -> None:
        """OBJ (protocol 1): `callable(*args)` with the callable pushed after the MARK."""
        self.features.add("obj")
        self.mark()
        self.global_(module, name, stack=False)
        for a in args:
            a()
        self.ops.append(b"o")

    # ---- output ---------------------------------------------------------------------------------
    def to_bytes(self, *, frames: bool = False, proto_switches: dict[int, int] | None = None) -> bytes:
        """The pickle: PROTO header (protocol 2+... and 1 none), the opcodes with `proto_switches`
        ({opcode index: protocol}) inserted before those opcodes, FRAMEs (protocol 4+) and STOP."""
        ops = list(self.ops)
        for at in sorted(proto_switches or {}, reverse=True):
            ops.insert(min(at, len(ops)), b"\x80" + bytes([(proto_switches or {})[at]]))
        ops.append(b".")
        head = b"\x80" + bytes([self.proto]) if self.proto >= 2 else b""
        if not frames or self.proto < 4:
            return head + b"".join(ops)
        out = bytearray(head)
        chunk = bytearray()
        for op in ops:
            chunk += op
            if len(chunk) >= 64:
                out += b"\x95" + struct.pack("<Q", len(chunk)) + chunk
                chunk = bytearray()
        if chunk:
            out += b"\x95" + struct.pack("<Q", len(chunk)) + chunk
        return bytes(out)


# --------------------------------------------------------------------------------------------------
# the grammar

SKLEARN = importlib.util.find_spec("sklearn") is not None  # found, not imported


@dataclass(frozen=True)
class Danger:
    """A payload: pushes one value whose construction runs something a load must never run."""

    name: str
    """Stable name, used in counts and in known_bypasses."""
    emit: Callable[[Program, random.Random], None]
    """Writes the opcodes of the payload."""
    min_proto: int = 0
    """Lowest protocol the payload can be written in."""
    feature: str = "dangerous"
    """The grammar feature that enables it."""


def _call(p: Program, module: str, name: str, args: list[Callable[[], None]], *, rng: random.Random) -> None:
    """`module.name(*args)` in one of the encodings a loader accepts."""
    style = rng.choice(["reduce", "reduce", "inst", "obj"] if p.proto <= 1 else ["reduce"])
    if style == "inst":
        p.inst(module, name, args)
    elif style == "obj":
        p.obj(module, name, args)
    else:
        p.global_(module, name, stack=None if p.proto >= 4 and rng.random() < 0.7 else False)
        if rng.random() < 0.3:  # memo trick: store the callable, drop it, fetch it back
            p.features.add("memo")
            index = p.memoize()
            p.pop()
            p.get(index)
        p.tuple_(args)
        p.reduce()


def _s(p: Program, text: str) -> Callable[[], None]:
    return lambda: p.string(text)


def _system(p: Program, rng: random.Random) -> None:
    module = rng.choice(["os", "posix"])
    _call(p, module, "system", [_s(p, "true")], rng=rng)


def _eval(p: Program, rng: random.Random) -> None:
    _call(p, "builtins", rng.choice(["eval", "exec"]), [_s(p, "len('x')")], rng=rng)


def _subprocess(p: Program, rng: random.Random) -> None:
    name = rng.choice(["check_output", "Popen", "call", "run", "getoutput"])
    arg = (lambda: p.string("true")) if name == "getoutput" else (lambda: p.list_([_s(p, "true")]))
    _call(p, "subprocess", name, [arg], rng=rng)


def _import_module(p: Program, rng: random.Random) -> None:
    target = rng.choice(["idlelib", "lib2to3", "this", "antigravity"])
    if rng.random() < 0.5:
        _call(p, "importlib", "import_module", [_s(p, target)], rng=rng)
    else:
        _call(p, "builtins", "__import__", [_s(p, target)], rng=rng)


def _getattr_chain(p: Program, rng: random.Random) -> None:
    """getattr(__import__('os'), 'system')('true'): the callable is built, then REDUCE calls it."""
    p.features.add("getattr-chain")
    p.global_("builtins", "getattr")
    p.mark()
    p.global_("builtins", "__import__")
    p.tuple_([_s(p, "os")])
    p.reduce()
    p.string("system")
    p.ops.append(b"t")
    p.reduce()
    p.tuple_([_s(p, "true")])
    p.reduce()


def _partial(p: Program, rng: random.Random) -> None:
    """functools.partial(os.system, 'true')() — the dangerous callable is an argument, not a call."""
    p.global_("functools", "partial")
    p.tuple_([lambda: p.global_("os", "system"), _s(p, "true")])
    p.reduce()
    p.tuple_([])
    p.reduce()


def _attrgetter(p: Program, rng: random.Random) -> None:
    """operator.attrgetter('system')(importlib.import_module('os'))('true')."""
    p.global_("operator", rng.choice(["attrgetter"]))
    p.tuple_([_s(p, "system")])
    p.reduce()
    p.mark()
    p.global_("importlib", "import_module")
    p.tuple_([_s(p, "os")])
    p.reduce()
    p.ops.append(b"t")
    p.reduce()
    p.tuple_([_s(p, "true")])
    p.reduce()


def _nested_loads(p: Program, rng: random.Random) -> None:
    """pickle.loads(<a pickle calling os.system>): the payload is a bytes argument."""
    p.features.add("nested")
    inner = Program(proto=rng.choice([2, 4]))
    _system(inner, rng)
    data = inner.to_bytes()
    p.global_(rng.choice(["pickle", "_pickle"]), "loads")
    p.tuple_([lambda: p.raw_bytes(data)])
    p.reduce()


def _map_list(p: Program, rng: random.Random) -> None:
    """list(map(os.system, ['true'])): the call happens inside an allowlisted constructor."""
    p.global_("builtins", "list")
    p.mark()
    p.global_("builtins", "map")
    p.tuple_([lambda: p.global_("os", "system"), lambda: p.list_([_s(p, "true")])])
    p.reduce()
    p.ops.append(b"t")
    p.reduce()


def _open_write(p: Program, rng: random.Random) -> None:
    _call(p, "builtins", "open", [_s(p, "pwned.txt"), _s(p, "w")], rng=rng)


def _py2_eval(p: Program, rng: random.Random) -> None:
    """`__builtin__.eval` — mapped to builtins.eval by the loader when the protocol in force is < 3."""
    p.global_("builtins", "eval", stack=False, py2=True)
    p.tuple_([_s(p, "len('x')")])
    p.reduce()


def _timeit(p: Program, rng: random.Random) -> None:
    _call(p, "timeit", "timeit", [_s(p, "len('x')")], rng=rng)


def _torch_collect_env(p: Program, rng: random.Random) -> None:
    _call(p, "torch.utils.collect_env", "run", [_s(p, "true")], rng=rng)


def _numpy_runstring(p: Program, rng: random.Random) -> None:
    p.global_("numpy.testing._private.utils", "runstring")
    p.tuple_([_s(p, "len('x')"), lambda: p.dict_([])])
    p.reduce()


def _sklearn_check_output(p: Program, rng: random.Random) -> None:
    """sklearn.utils._testing.check_output is subprocess.check_output (a re-export)."""
    _call(p, "sklearn.utils._testing", "check_output", [lambda: p.list_([_s(p, "true")])], rng=rng)


def _setstate_unpickles(p: Program, rng: random.Random) -> None:
    """NEWOBJ + BUILD on a class whose __setstate__ runs pickle.loads on the state's bytes."""
    inner = Program(proto=2)
    _system(inner, rng)
    data = inner.to_bytes()
    p.global_("torch.utils.data.dataloader", "_IterDataPipeSerializationWrapper")
    p.tuple_([])
    p.newobj()
    p.tuple_([lambda: p.raw_bytes(data), lambda: p.boolean(False)])
    p.build()


def _file_handler(p: Program, rng: random.Random) -> None:
    _call(p, "logging", "FileHandler", [_s(p, "pwned.log")], rng=rng)


def _stdlib_exec_module(p: Program, rng: random.Random) -> None:
    module, name = rng.choice(
        [
            ("idlelib.calltip", "get_entity"),
            ("lib2to3.pgen2.driver", "Driver"),
            ("_osx_support", "_read_output"),
        ]
    )
    _call(p, module, name, [_s(p, "true")], rng=rng)


def _swap_module_attribute(p: Program, rng: random.Random) -> None:
    """setattr(<the os module, as torch's dataloader imported it>, 'getcwd', len): no audit event."""
    p.global_("builtins", "setattr", stack=False)
    p.tuple_(
        [
            lambda: p.global_("torch.utils.data.dataloader", "os", stack=False),
            _s(p, "getcwd"),
            lambda: p.global_("builtins", "len", stack=False),
        ]
    )
    p.reduce()


DANGEROUS: tuple[Danger, ...] = (
    Danger("os.system", _system),
    Danger("builtins.eval", _eval),
    Danger("subprocess", _subprocess),
    Danger("import_module", _import_module),
    Danger("getattr-chain", _getattr_chain, min_proto=1),
    Danger("functools.partial", _partial, min_proto=1),
    Danger("operator.attrgetter", _attrgetter, min_proto=1),
    Danger("pickle.loads", _nested_loads, min_proto=1),
    Danger("map-in-list", _map_list, min_proto=1),
    Danger("open-write", _open_write),
    Danger("py2-eval", _py2_eval, feature="py2-name"),
    Danger("timeit", _timeit),
    Danger("torch.utils.collect_env", _torch_collect_env),
    Danger("numpy.testing.runstring", _numpy_runstring, min_proto=1),
    Danger("setstate-unpickles", _setstate_unpickles, min_proto=2),
    Danger("logging.FileHandler", _file_handler),
    Danger("stdlib-exec-module", _stdlib_exec_module),
    Danger("module-setattr", _swap_module_attribute),
) + ((Danger("sklearn.check_output", _sklearn_check_output, min_proto=1),) if SKLEARN else ())


# ---- benign expressions ---------------------------------------------------------------------------


def _literal(p: Program, rng: random.Random, depth: int) -> None:
    kind = rng.choice(["int", "str", "none", "bool", "float", "bytes", "list", "tuple", "dict"])
    if depth > 2 and kind in ("list", "tuple", "dict"):
        kind = "int"
    if kind == "int":
        p.integer(rng.choice([0, 1, 255, 256, -3, 2**31 - 1, 2**40]))
    elif kind == "str":
        p.string(rng.choice(["weight", "layer.0.bias", "", "é", "a\nb"]))
    elif kind == "none":
        p.none()
    elif kind == "bool":
        p.boolean(rng.random() < 0.5)
    elif kind == "float":
        p.floating(rng.choice([0.5, -1e-3, 3.0]))
    elif kind == "bytes":
        p.raw_bytes(bytes(rng.randrange(256) for _ in range(rng.randrange(6))))
    elif kind == "list":
        p.list_([(lambda: _literal(p, rng, depth + 1)) for _ in range(rng.randrange(3))])
    elif kind == "tuple":
        p.tuple_([(lambda: _literal(p, rng, depth + 1)) for _ in range(rng.randrange(4))])
    else:
        p.dict_([(_s(p, f"k{i}"), lambda: _literal(p, rng, depth + 1)) for i in range(rng.randrange(3))])


def _ordered_dict(p: Program, rng: random.Random, depth: int) -> None:
    """collections.OrderedDict() then items set with SETITEMS, as pickle writes it."""
    p.global_("collections", "OrderedDict", stack=None if p.proto >= 4 else False)
    p.tuple_([])
    p.reduce()
    if p.proto >= 1:
        p.mark()
        p.string("a")
        _literal(p, rng, depth + 1)
        p.ops.append(b"u")


def _set(p: Program, rng: random.Random, depth: int) -> None:
    p.global_("builtins", "set", py2=p.proto < 3 and rng.random() < 0.5)
    p.tuple_([lambda: p.list_([lambda: p.integer(1), lambda: p.integer(2)])])
    p.reduce()


def _numpy_array(p: Program, rng: random.Random, depth: int) -> None:
    """numpy's own pickling of a small float64 array: _reconstruct + BUILD (state with a dtype)."""
    module = "numpy._core.multiarray" if rng.random() < 0.7 else "numpy.core.multiarray"
    p.global_(module, "_reconstruct")
    p.tuple_(
        [
            lambda: p.global_("numpy", "ndarray"),
            lambda: p.tuple_([lambda: p.integer(0)]),
            lambda: p.raw_bytes(b"b"),
        ]
    )
    p.reduce()

    def dtype() -> None:
        p.global_("numpy", "dtype")
        p.tuple_([_s(p, "f8"), lambda: p.boolean(False), lambda: p.boolean(True)])
        p.reduce()
        p.mark()  # dtype state: (version, byte order, subarray, names, fields, elsize, alignment, flags)
        p.integer(3)
        p.string("<")
        p.none()
        p.none()
        p.none()
        p.integer(-1)
        p.integer(-1)
        p.integer(0)
        p.ops.append(b"t")
        p.build()

    p.mark()
    state: tuple[Callable[[], None], ...] = (
        lambda: p.integer(1),
        lambda: p.tuple_([lambda: p.integer(2)]),
        dtype,
        lambda: p.boolean(False),
        lambda: p.raw_bytes(struct.pack("<2d", 1.0, 2.0)),
    )
    for op in state:
        op()
    p.ops.append(b"t")
    p.build()


def _torch_tensor(p: Program, rng: random.Random, depth: int) -> None:
    """torch._utils._rebuild_tensor_v2(<persistent storage '0'>, 0, (2,), (1,), False, OrderedDict())
    — only inside a torch container, whose archive holds storage '0' (4 float32)."""
    p.features.add("torch-tensor")
    p.global_("torch._utils", "_rebuild_tensor_v2")

    def storage() -> None:
        items = [
            _s(p, "storage"),
            lambda: p.global_("torch", "FloatStorage"),
            _s(p, "0"),
            _s(p, "cpu"),
            lambda: p.integer(4),
        ]
        if p.legacy_storage:  # torch's legacy (non-zip) stream adds view metadata
            items.append(p.none)
        p.tuple_(items)
        p.persid()

    def hooks() -> None:
        p.global_("collections", "OrderedDict")
        p.tuple_([])
        p.reduce()

    p.mark()
    for op in (
        storage,
        lambda: p.integer(0),
        lambda: p.tuple_([lambda: p.integer(2)]),
        lambda: p.tuple_([lambda: p.integer(1)]),
        lambda: p.boolean(False),
        hooks,
    ):
        op()
    p.ops.append(b"t")
    p.reduce()


def _sklearn_estimator(p: Program, rng: random.Random, depth: int) -> None:
    """A fitted-looking sklearn LinearRegression: NEWOBJ, then BUILD with its attribute dict."""
    p.features.add("sklearn")
    p.global_("sklearn.linear_model._base", "LinearRegression")
    p.tuple_([])
    p.newobj()
    p.dict_(
        [
            (_s(p, "fit_intercept"), lambda: p.boolean(True)),
            (_s(p, "coef_"), lambda: _numpy_array(p, rng, depth + 1)),
        ]
    )
    p.build()


BENIGN: tuple[tuple[str, Callable[[Program, random.Random, int], None], int], ...] = (
    ("literal", _literal, 0),
    ("OrderedDict", _ordered_dict, 0),
    ("set", _set, 0),
    ("numpy-array", _numpy_array, 2),
) + ((("sklearn", _sklearn_estimator, 2),) if SKLEARN else ())


def generate(
    rng: random.Random,
    features: frozenset[str],
    *,
    proto: int | None = None,
    torch_storage: bool = False,
    legacy_storage: bool = False,
    dangerous: Danger | None = None,
) -> Program:
    """A random program: a dict (or list) of benign expressions, plus the payload `dangerous` (if
    any) at a random position."""
    if proto is None:
        proto = rng.randrange(0, 6)
    p = Program(proto=proto, legacy_storage=legacy_storage)
    n_items = rng.randrange(1, 6)
    makers: list[Callable[[], None]] = []
    for _ in range(n_items):
        choices = [b for b in BENIGN if proto >= b[2]]
        _, fn, _ = rng.choice(choices)
        makers.append(lambda fn=fn: fn(p, rng, 1))  # type: ignore[misc]
    if torch_storage:
        makers.append(lambda: _torch_tensor(p, rng, 1))
    if dangerous is not None:
        payload = dangerous
        makers.insert(rng.randrange(len(makers) + 1), lambda: payload.emit(p, rng))
        p.features.add("danger:" + payload.name)
    if rng.random() < 0.5 or proto == 0:
        p.dict_([(_s(p, f"item{i}"), m) for i, m in enumerate(makers)])
    else:
        p.list_(makers)
    return p


def render(p: Program, rng: random.Random, features: frozenset[str]) -> bytes:
    """The program's bytes, with FRAMEs and mid-stream PROTO opcodes when those features are on."""
    frames = "frames" in features and p.proto >= 4 and rng.random() < 0.6
    switches: dict[int, int] = {}
    if "proto-switch" in features and rng.random() < 0.4 and p.ops:
        for _ in range(rng.randrange(1, 3)):
            switches[rng.randrange(len(p.ops))] = rng.randrange(0, 6)
    if frames:
        p.features.add("frames")
    if switches:
        p.features.add("proto-switch")
    return p.to_bytes(frames=frames, proto_switches=switches)
