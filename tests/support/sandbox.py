"""A sandbox that loads one model file with a real loader and reports what the load tried to do.

Tests never load untrusted bytes in the pytest process. `Sandbox` starts one child process (the
*server*: `python -m tests.support.sandbox serve`, in its own network namespace when `unshare -n`
works), which imports the loaders once and then, for every request, forks a throwaway *worker* that:

- runs in a fresh temporary directory: `sample/` (its cwd) holds a copy of the sample, `tmp/` is its
  `TMPDIR` and `HOME` (the only place where a loader's own temporary files are allowed);
- has no network: its own network namespace (only a down loopback) when available, and in any case
  every `socket.*` audit event is refused;
- has a CPU-time, address-space and file-size rlimit, and is killed at a wall-clock timeout;
- baseline: the modules loaded before the hook (the server preloads the loaders and warms each up on
  benign files it writes itself, so that lazily imported modules are part of it);
- installs a `sys.addaudithook` hook just before the load that records every dangerous audit event
  (process creation, code compilation/execution, imports outside the baseline, file writes and
  deletions, reads outside the sandbox, sockets, ctypes, tampering) and *raises* on it, so that a
  malicious sample is stopped at its first harmful step while the attempt is still on record.

Events are written to a pipe as they happen (one JSON line each), so a worker that dies mid-load
still leaves its trail. The server answers each request with one JSON line (`LoadResult`).

Loaders (`LOADERS`): `pickle` (pickle.load), `torch` (torch.load, weights_only=False), `numpy`
(numpy.load, allow_pickle=True, every member of an .npz read), `joblib` (joblib.load) and `keras`
(keras.saving.load_model, safe_mode=False).

Manual use: `python -m tests.support.sandbox load FILE --loader torch` prints the LoadResult.
"""

from __future__ import annotations

import argparse
import ast
import importlib.machinery
import importlib.util
import json
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

LOADERS = ("pickle", "torch", "numpy", "joblib", "keras")
PRELOADED = ("pickle", "torch", "numpy", "joblib")
REPO = Path(__file__).resolve().parents[2]
DEFAULT_TIMEOUT = 20.0
# Address space the worker may add on top of what the server already maps (torch maps a lot).
MEMORY_HEADROOM = 1 << 30
MAX_WRITE_BYTES = 16 << 20  # RLIMIT_FSIZE: a write that slipped through cannot fill the disk
CPU_SECONDS = 30

# Top-level packages whose own submodules a loader may import lazily: importing library code is not
# attacker code (reaching something harmful through it raises its own event). Any other import of a
# module that was not loaded before the hook was installed is dangerous.
TRUSTED_PACKAGES = frozenset(
    {
        "torch", "numpy", "joblib", "keras", "sklearn", "scipy", "transformers", "accelerate",
        "xgboost", "lightgbm", "safetensors", "h5py", "ml_dtypes", "optree", "absl", "rich",
        "namex", "packaging", "sympy", "mpmath", "networkx", "jinja2", "markupsafe", "filelock",
        "fsspec", "typing_extensions", "huggingface_hub", "tokenizers", "tqdm", "yaml",
        "encodings",  # codec tables, looked up lazily by str.encode and the protocol-0 opcodes
    }
)  # fmt: skip
# Stdlib modules that allowlisted globals live in: imported before the hook so that resolving them
# raises no import event.
BASELINE_IMPORTS = (
    "argparse", "collections", "copyreg", "_codecs", "codecs", "datetime", "decimal", "fractions",
    "uuid", "random", "pathlib", "enum", "typing", "types", "functools", "operator", "zipfile",
    "tarfile", "io", "struct", "pickle", "json", "numbers",
)  # fmt: skip

# Libraries imported up front when installed, as a script that loads their models would have.
OPTIONAL_PRELOADS = ("sklearn", "sklearn.linear_model")

# Audit events that are dangerous whatever their arguments (prefix match when ending in ".").
DANGEROUS_EVENTS = {
    "exec": "code execution",
    "compile": "code compilation",
    "code.__new__": "code object creation",
    "marshal.load": "code object creation",
    "marshal.loads": "code object creation",
    "function.__new__": "function creation",
    "os.system": "command execution",
    "os.exec": "process execution",
    "os.spawn": "process execution",
    "os.posix_spawn": "process execution",
    "os.fork": "process creation",
    "os.forkpty": "process creation",
    "subprocess.Popen": "process execution",
    "pty.spawn": "process execution",
    "os.kill": "signal",
    "os.killpg": "signal",
    "signal.pthread_kill": "signal",
    "os.remove": "file deletion",
    "os.rmdir": "file deletion",
    "os.rename": "file rename",
    "os.link": "file link",
    "os.symlink": "file link",
    "os.mkdir": "file creation",
    "os.chmod": "file permission change",
    "os.chown": "file owner change",
    "os.chflags": "file flag change",
    "os.truncate": "file truncation",
    "os.utime": "file time change",
    "os.setxattr": "file attribute change",
    "os.removexattr": "file attribute change",
    "os.chdir": "working directory change",
    "os.putenv": "environment change",
    "os.unsetenv": "environment change",
    "shutil.": "file operation",
    "tempfile.mkstemp": "file creation",
    "tempfile.mkdtemp": "file creation",
    "sqlite3.connect": "database file",
    "socket.": "network",
    "urllib.Request": "network",
    "http.client.": "network",
    "ftplib.": "network",
    "smtplib.": "network",
    "poplib.": "network",
    "imaplib.": "network",
    "nntplib.": "network",
    "telnetlib.": "network",
    "webbrowser.open": "browser",
    "ctypes.": "native code",
    "sys.addaudithook": "sandbox tampering",
    "sys.settrace": "sandbox tampering",
    "sys.setprofile": "sandbox tampering",
    "gc.get_objects": "sandbox tampering",
    "gc.get_referrers": "sandbox tampering",
    "gc.get_referents": "sandbox tampering",
    "resource.setrlimit": "sandbox tampering",
    "resource.prlimit": "sandbox tampering",
    "object.__setattr__": "type modification",
    "object.__delattr__": "type modification",
    "builtins.input": "reads the terminal",
    "cpython.run_": "code execution",
    "syslog.": "system log",
}
# Events about paths that a loader may cause on its own temporary files (torch extracts legacy .tar
# checkpoints to a temporary folder and removes it): dangerous only outside the worker's TMPDIR.
# Each maps to the positions of its path arguments and of the directory descriptor each is relative
# to (None: relative to the cwd).
SCRATCH_EVENTS: dict[str, tuple[tuple[int, int | None], ...]] = {
    "tempfile.mkdtemp": ((0, None),),
    "tempfile.mkstemp": ((0, None),),
    "os.mkdir": ((0, 2),),
    "os.remove": ((0, 1),),
    "os.rmdir": ((0, 1),),
    "os.rename": ((0, 2), (1, 3)),
    "os.chmod": ((0, 2),),
    "os.chown": ((0, 3),),
    "os.utime": ((0, 3),),
    "shutil.rmtree": ((0, 1),),
    "shutil.copyfile": ((0, None), (1, None)),
    "shutil.copymode": ((0, None), (1, None)),
    "shutil.copystat": ((0, None), (1, None)),
}
RECORDED_EVENTS = ("pickle.find_class",)
# Modules whose attributes must be the same object after a load as before.
WATCHED_MODULES = (
    "builtins", "os", "posix", "sys", "io", "pickle", "_pickle", "copyreg", "subprocess", "importlib",
    "shutil", "tempfile", "functools", "operator", "collections", "json", "torch", "torch.serialization",
    "torch._utils", "numpy", "joblib", "joblib.numpy_pickle", "keras",
)  # fmt: skip  # informative: what the unpickler resolved
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


@dataclass
class Event:
    """One audit event seen during a load."""

    event: str
    """The audit event name (`os.system`, `import`, `open`, ...)."""
    detail: str
    """A bounded summary of the event's arguments (never the repr of an arbitrary object)."""
    dangerous: bool
    """True when the event is one a model load must never cause."""
    reason: str = ""
    """Why it is dangerous (`command execution`, `file write`, ...); empty when it is not."""


@dataclass
class LoadResult:
    """What one sandboxed load did."""

    loader: str
    """Which loader ran (one of LOADERS)."""
    entry: str
    """The file loaded, relative to the sample."""
    events: list[Event] = field(default_factory=list)
    """Dangerous events (each one aborted by the hook) and informative ones (`pickle.find_class`)."""
    completed: bool = False
    """The loader returned normally."""
    error: str = ""
    """The exception the load ended with (type and bounded message), if any."""
    timed_out: bool = False
    """The worker was killed at the timeout."""
    exit_status: int | None = None
    """The worker's raw wait status when it ended abnormally (a signal, os._exit from the payload)."""
    seconds: float = 0.0
    """Wall time of the load."""

    @property
    def dangerous(self) -> list[Event]:
        return [e for e in self.events if e.dangerous]

    @property
    def triggered(self) -> bool:
        """The load tried something dangerous."""
        return bool(self.dangerous)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LoadResult:
        events = [Event(**e) for e in data.pop("events", [])]
        return cls(events=events, **data)


def _summary(value: Any, budget: int = 400) -> str:
    """A bounded summary of an audit argument: plain values are shown, other objects by type only
    (their repr is attacker code)."""
    if isinstance(value, (str, bytes, int, float, bool, type(None))):
        text = repr(value) if not isinstance(value, int) or value.bit_length() < 256 else "<big int>"
    elif isinstance(value, (list, tuple)):
        text = (
            "(" + ", ".join(_summary(v, 160) for v in value[:6]) + (", ..." if len(value) > 6 else "") + ")"
        )
    elif isinstance(value, os.PathLike):
        text = f"<path {_summary(os.fspath(value), budget)}>"
    else:
        text = f"<{type(value).__module__}.{type(value).__qualname__}>"
    return text if len(text) <= budget else text[: budget - 3] + "..."


_AST_FILE = os.path.realpath(ast.__file__)


def _paths(args: tuple[Any, ...], spec: tuple[tuple[int, int | None], ...]) -> list[str | None]:
    """The absolute paths an audited call names (None for one that cannot be resolved)."""
    out: list[str | None] = []
    for at, fd_at in spec:
        path = args[at] if at < len(args) else None
        if not isinstance(path, (str, bytes, os.PathLike)):
            out.append(None)
            continue
        text = os.fsdecode(path)
        dir_fd = args[fd_at] if fd_at is not None and fd_at < len(args) else None
        if isinstance(dir_fd, int) and not os.path.isabs(text):
            try:
                text = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), text)
            except OSError:
                out.append(None)
                continue
        out.append(os.path.abspath(text))
    return out


_INSTALLED_ROOTS = tuple({os.path.realpath(p) + "/" for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)})


def _installed_code(args: tuple[Any, ...]) -> bool:
    """The `compile`/`exec` argument is code of an installed module (frozen or under the interpreter's
    prefixes), judging by its file name."""
    first = args[0] if args else None
    filename = getattr(first, "co_filename", None) if not isinstance(first, (str, bytes)) else None
    if filename is None and len(args) > 1:
        filename = args[1]  # compile(source, filename)
    if not isinstance(filename, str):
        return False
    if filename.startswith("<frozen "):
        return True
    return os.path.realpath(filename).startswith(_INSTALLED_ROOTS)


def _called_by_importlib() -> bool:
    """The audited builtin was called by the import system (loading a module's code), frames
    counted as in `_called_by_ast_parse`."""
    return sys._getframe(3).f_code.co_filename.startswith("<frozen importlib")


def _in_trusted_module_code() -> bool:
    """The event comes from the module code of a trusted package being imported (sklearn importing
    the stdlib modules it needs): that is the library's code, not the payload's choice."""
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_name == "<module>":
            owner = str(frame.f_globals.get("__name__", ""))
            if owner.split(".")[0] in TRUSTED_PACKAGES:
                return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


def _module_exists(name: str) -> bool:
    """Whether an import of `name` would find code to run, found without importing anything (the
    parent of a dotted name was imported first, or its own import event was refused)."""
    if name in sys.builtin_module_names:
        return True
    parent, _, _ = name.rpartition(".")
    if parent:
        package = sys.modules.get(parent)
        search = getattr(package, "__path__", None)
        if package is None or search is None:
            return False
        return importlib.machinery.PathFinder.find_spec(name, list(search)) is not None
    return importlib.machinery.PathFinder.find_spec(name) is not None


def _called_by_ast_parse() -> bool:
    """The `compile` being audited was called by `ast.parse` (frame 0 is this function, 1 the hook,
    2 the caller of the builtin). A payload reaching `compile` through the unpickler has another
    caller; one calling `ast.parse` itself gets a syntax tree, which runs nothing."""
    frame = sys._getframe(3)
    return frame.f_code.co_name == "parse" and os.path.realpath(frame.f_code.co_filename) == _AST_FILE


class _Watch:
    """The audit hook of one worker: classifies, records (to a pipe) and aborts."""

    def __init__(self, fd: int, sandbox_dir: str, baseline: frozenset[str]) -> None:
        self.fd = fd
        self.sandbox_dir = os.path.realpath(sandbox_dir)
        self.scratch = os.path.join(self.sandbox_dir, "tmp")
        self.baseline = baseline
        self.read_roots = tuple(
            {
                self.sandbox_dir,
                os.path.realpath(sys.prefix),
                os.path.realpath(sys.base_prefix),
                os.path.realpath(sys.exec_prefix),
                "/usr/lib",
                "/usr/share/zoneinfo",
                "/proc/self",
                "/proc/meminfo",  # keras sizes its caches
                "/proc/cpuinfo",
                "/proc/stat",
                "/sys/devices/system/cpu",
                "/sys/fs/cgroup",
                "/dev/null",
                "/dev/urandom",
            }
        )
        self.armed = False

    def emit(self, event: Event) -> None:
        line = json.dumps(asdict(event)) + "\n"
        os.write(self.fd, line.encode("utf-8", "replace"))

    def classify(self, name: str, args: tuple[Any, ...]) -> str | None:
        """The reason `name(args)` is dangerous, or None."""
        if name in ("compile", "exec", "marshal.loads") and _called_by_importlib():
            # The import system loading a module's code: judged by the `import` event — unless the
            # code comes from outside the interpreter's own trees (a payload driving importlib's
            # machinery by hand, spec_from_file_location + exec_module, raises no import event).
            if name == "marshal.loads" or _installed_code(args):
                return None
            return "code execution through the import machinery"
        if name == "compile" and _called_by_ast_parse():
            return None  # numpy reads .npy headers with ast.literal_eval: a parse, no code object
        if name == "open":
            return self._open_reason(args)
        if name in SCRATCH_EVENTS and self._in_scratch(_paths(args, SCRATCH_EVENTS[name])):
            return None  # a loader's own temporary files (torch extracts legacy .tar checkpoints)
        for key, reason in DANGEROUS_EVENTS.items():
            if name == key or (key.endswith(".") and name.startswith(key)):
                return reason
        if name == "import":
            module = str(args[0])
            if module in self.baseline or module.split(".")[0] in TRUSTED_PACKAGES:
                return None
            if not _module_exists(module):
                return None  # nothing to run: the import fails
            return "import of a module outside the baseline"
        return None

    def _in_scratch(self, paths: list[str | None]) -> bool:
        """Every path is inside the worker's temporary-files folder (TMPDIR), not its cwd."""
        for path in paths:
            if path is None:
                return False
            real = os.path.realpath(path)
            if not (real == self.scratch or real.startswith(self.scratch + "/")):
                return False
        return bool(paths)

    def _open_reason(self, args: tuple[Any, ...]) -> str | None:
        path, mode, flags = (*args, None, None, None)[:3]
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & _WRITE_FLAGS
        )
        if writing:
            return None if self._in_scratch(_paths((path,), ((0, None),))) else "file write"
        if isinstance(path, int):
            return None  # an already open descriptor
        try:
            real = os.path.realpath(os.fsdecode(path))
        except (TypeError, ValueError):
            return "file read of an unusual path"
        if any(real == root or real.startswith(root.rstrip("/") + "/") for root in self.read_roots):
            return None
        return "file read outside the sandbox"

    def __call__(self, name: str, args: tuple[Any, ...]) -> None:
        if not self.armed:
            return
        if name in RECORDED_EVENTS:
            self.emit(Event(name, _summary(args), False))
            return
        reason = self.classify(name, args)
        if reason is not None and _in_trusted_module_code():
            reason = None  # a trusted library being imported does this itself (sklearn sets an env var)
        if reason is None:
            if name == "import":
                self.emit(Event(name, _summary(args[:1]), False))
            return
        shown = args[:1] if name == "import" else args  # not sys.path and the finders
        self.emit(Event(name, _summary(shown), True, reason))
        raise SandboxAbort(f"sandbox blocked {name}: {reason}")


class SandboxAbort(RuntimeError):
    """Raised by the audit hook to stop a dangerous action."""


# --------------------------------------------------------------------------------------------------
# the server (child process)


def _loader_function(loader: str) -> Any:
    """Import a loader's library (in the server) and return `load(path)`."""
    if loader == "pickle":
        import pickle

        def load_pickle(path: str) -> Any:
            with open(path, "rb") as f:
                return pickle.load(f)

        return load_pickle
    if loader == "torch":
        import torch

        torch.set_num_threads(1)
        return lambda path: torch.load(path, weights_only=False, map_location="cpu")
    if loader == "numpy":
        import numpy as np

        def load_numpy(path: str) -> Any:
            result = np.load(path, allow_pickle=True)
            if isinstance(result, np.lib.npyio.NpzFile):
                with result:
                    return {k: result[k] for k in result.files}
            return result

        return load_numpy
    if loader == "joblib":
        import joblib

        return joblib.load
    if loader == "keras":
        os.environ.setdefault("KERAS_BACKEND", "torch")
        import keras

        return lambda path: keras.saving.load_model(path, safe_mode=False)
    raise ValueError(f"unknown loader {loader!r}")


def _warm_up(loader: str, load: Any, scratch: Path) -> None:
    """Load benign files the server makes itself, so that the modules a loader imports lazily on its
    first use are part of the baseline (and not reported as imports outside it)."""
    import collections
    import pickle

    import numpy as np

    files: list[Path] = []
    if loader in ("pickle", "joblib"):
        p = scratch / "warm.pkl"
        data = collections.OrderedDict(a=np.arange(3), b=[1, 2.5, "x", b"y", None])
        p.write_bytes(pickle.dumps(data, protocol=2))
        files.append(p)
    if loader == "torch":
        import torch

        sd = {"w": torch.ones(2, 3), "b": torch.zeros(2, dtype=torch.bfloat16)}
        torch.save(sd, scratch / "warm.pt")
        torch.save(sd, scratch / "warm_legacy.pt", _use_new_zipfile_serialization=False)
        torch.save(torch.nn.Linear(2, 2), scratch / "warm_module.pt")
        files += [scratch / "warm.pt", scratch / "warm_legacy.pt", scratch / "warm_module.pt"]
    if loader == "numpy":
        np.save(scratch / "warm.npy", np.array([{"a": 1}, None], dtype=object))
        np.savez(scratch / "warm.npz", a=np.ones(3), b=np.array([1, "x"], dtype=object))
        files += [scratch / "warm.npy", scratch / "warm.npz"]
    if loader == "joblib":
        import joblib

        joblib.dump({"a": np.ones(4)}, scratch / "warm.joblib")
        joblib.dump({"a": np.ones(4)}, scratch / "warm_z.joblib", compress=3)
        files += [scratch / "warm.joblib", scratch / "warm_z.joblib"]
    if loader == "keras":
        import keras

        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        model.save(scratch / "warm.keras")
        files.append(scratch / "warm.keras")
    for f in files:
        load(str(f))


def _network_isolated() -> bool:
    """True when this process sees no network interface but loopback (its own namespace)."""
    import socket

    try:
        return {name for _, name in socket.if_nameindex()} <= {"lo"}
    except OSError:
        return False


def _copy_sample(src: Path, dest: Path) -> None:
    if src.is_dir():
        shutil.copytree(src, dest, symlinks=True, dirs_exist_ok=True)
    else:
        shutil.copy2(src, dest / src.name)


def _vm_size() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _module_snapshot() -> dict[tuple[str, str], int]:
    """Identity of every attribute of the modules a payload would monkeypatch (setattr on a module
    raises no audit event: a load that swaps `os.system` or `torch.load` is only seen afterwards)."""
    snapshot: dict[tuple[str, str], int] = {}
    for name in WATCHED_MODULES:
        module = sys.modules.get(name)
        if module is not None:
            for attr, value in list(vars(module).items()):
                snapshot[(name, attr)] = id(value)
    for name, module in list(sys.modules.items()):
        snapshot[("sys.modules", name)] = id(module)
    return snapshot


def _replaced(before: dict[tuple[str, str], int]) -> list[str]:
    """Attributes (and sys.modules entries) replaced or removed since `before`."""
    now = _module_snapshot()
    return sorted(
        f"{m}.{a}" if m != "sys.modules" else f"sys.modules[{a!r}]"
        for (m, a), v in before.items()
        if now.get((m, a)) != v
    )


def _worker(load: Any, path: str, workdir: str, fd: int, baseline: frozenset[str]) -> None:
    """In the forked worker: confine, arm the hook, load, report, exit (never returns)."""
    status = 0
    try:
        devnull = os.open(os.devnull, os.O_RDWR)
        for std in (0, 1, 2):  # fd 1 is the server's answer channel: the payload must not write there
            os.dup2(devnull, std)
        scratch = os.path.join(workdir, "tmp")
        os.chdir(os.path.join(workdir, "sample"))
        os.environ.update(TMPDIR=scratch, HOME=scratch)
        tempfile.tempdir = scratch
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))
        resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_WRITE_BYTES, MAX_WRITE_BYTES))
        limit = _vm_size() + MEMORY_HEADROOM
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        watch = _Watch(fd, workdir, baseline)
        before = _module_snapshot()
        sys.addaudithook(watch)
        watch.armed = True
        try:
            load(path)
            done: dict[str, Any] = {"done": True, "completed": True, "error": ""}
        except BaseException as exc:  # everything the load raised is the result
            message = exc.args[0] if exc.args and isinstance(exc.args[0], str) else ""
            done = {"done": True, "completed": False, "error": f"{type(exc).__name__}: {message[:300]}"}
        watch.armed = False
        replaced = _replaced(before)
        if replaced:
            watch.emit(Event("module.tampering", ", ".join(replaced[:10]), True, "module attribute replaced"))
        os.write(fd, (json.dumps(done) + "\n").encode())
    except BaseException:  # the worker must never return into the server's loop
        status = 3
    os._exit(status)


def _prepare(loader: str, loads: dict[str, Any], root: Path) -> None:
    if loader not in loads:
        load = _loader_function(loader)
        scratch = Path(tempfile.mkdtemp(dir=root))
        _warm_up(loader, load, scratch)
        shutil.rmtree(scratch, ignore_errors=True)
        loads[loader] = load


def _serve_one(request: dict[str, Any], loads: dict[str, Any], root: Path) -> dict[str, Any]:
    loader, sample, entry = request["loader"], Path(request["sample"]), request["entry"]
    timeout = float(request.get("timeout", DEFAULT_TIMEOUT))
    _prepare(loader, loads, root)
    workdir = Path(tempfile.mkdtemp(prefix="load-", dir=root))
    (workdir / "sample").mkdir()
    (workdir / "tmp").mkdir()
    _copy_sample(sample, workdir / "sample")
    baseline = frozenset(sys.modules)
    rfd, wfd = os.pipe()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the worker
        os.close(rfd)
        _worker(loads[loader], str(workdir / "sample" / entry), str(workdir), wfd, baseline)
    os.close(wfd)
    result = LoadResult(loader=loader, entry=entry)
    chunks: list[bytes] = []
    deadline = started + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            os.kill(pid, signal.SIGKILL)
            result.timed_out = True
            break
        ready, _, _ = select.select([rfd], [], [], left)
        if ready:
            chunk = os.read(rfd, 1 << 16)
            if not chunk:
                break
            if sum(map(len, chunks)) < 4 << 20:  # a payload spamming events cannot exhaust memory
                chunks.append(chunk)
    os.close(rfd)
    _, wait_status = os.waitpid(pid, 0)
    result.seconds = round(time.monotonic() - started, 4)
    done = False
    for line in b"".join(chunks).decode("utf-8", "replace").splitlines():
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if data.get("done"):
            result.completed, result.error, done = data["completed"], data["error"], True
        else:
            result.events.append(Event(**data))
    if not done and not result.timed_out:
        result.exit_status = wait_status
    shutil.rmtree(workdir, ignore_errors=True)
    return asdict(result)


def serve(stdin: IO[str], stdout: IO[str]) -> None:
    """The server loop: one JSON request per line in, one JSON LoadResult per line out."""
    for name in BASELINE_IMPORTS:
        importlib.import_module(name)
    for name in OPTIONAL_PRELOADS:
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)
    root = Path(tempfile.mkdtemp(prefix="mw-sandbox-"))
    loads: dict[str, Any] = {}
    # Every loader but keras (slow to import, loaded on first use) is ready before the first request,
    # so that the baseline does not depend on the order of requests: a pickle given to pickle.load
    # that names torch finds torch already imported, as it would in a training script.
    for loader in PRELOADED:
        _prepare(loader, loads, root)
    stdout.write(json.dumps({"ready": True, "network_isolated": _network_isolated()}) + "\n")
    stdout.flush()
    try:
        for line in stdin:
            try:
                answer = _serve_one(json.loads(line), loads, root)
            except Exception as exc:  # a bad request is answered, not fatal
                answer = {"server_error": f"{type(exc).__name__}: {exc}"}
            stdout.write(json.dumps(answer) + "\n")
            stdout.flush()
    finally:
        shutil.rmtree(root, ignore_errors=True)


# --------------------------------------------------------------------------------------------------
# the client (test side)


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    try:
        return subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


class Sandbox:
    """A running sandbox server; `load` sends it one file. Use as a context manager."""

    def __init__(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO), str(REPO / "src")] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        )
        env.update(KERAS_BACKEND="torch", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONWARNINGS="ignore")
        command = [sys.executable, "-m", "tests.support.sandbox", "serve"]
        self.unshared = _unshare_works()
        if self.unshared:
            command = ["unshare", "-n", "--", *command]
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=REPO,
        )
        hello = json.loads(self._readline(120))
        self.network_isolated: bool = hello["network_isolated"]

    def _readline(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.close()
            raise RuntimeError("sandbox server did not answer")
        return line

    def load(
        self, sample: Path, entry: str | None = None, loader: str = "pickle", timeout: float = DEFAULT_TIMEOUT
    ) -> LoadResult:
        """Load `sample` (a file, or a folder and the `entry` inside it to load) with `loader`."""
        if loader not in LOADERS:
            raise ValueError(f"unknown loader {loader!r}")
        sample = Path(sample).resolve()
        if entry is None:
            entry = sample.name if sample.is_file() else ""
        request = {"sample": str(sample), "entry": entry, "loader": loader, "timeout": timeout}
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        # Generous: the first request of a loader imports it and warms it up in the server.
        answer = json.loads(self._readline(timeout + 180))
        if "server_error" in answer:
            raise RuntimeError(f"sandbox server: {answer['server_error']}")
        return LoadResult.from_json(answer)

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def sandbox() -> Iterator[Sandbox]:
    box = Sandbox()
    try:
        yield box
    finally:
        box.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.sandbox")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="the server loop (started by Sandbox)")
    one = sub.add_parser("load", help="load one file in a fresh sandbox and print what it did")
    one.add_argument("path", type=Path)
    one.add_argument("--loader", choices=LOADERS, default="pickle")
    one.add_argument("--entry", default=None, help="file to load when PATH is a folder")
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(sys.stdin, sys.stdout)
        return 0
    with sandbox() as box:
        result = box.load(args.path, args.entry, args.loader)
    print(json.dumps(asdict(result), indent=2))
    return 1 if result.triggered else 0


if __name__ == "__main__":
    sys.exit(main())
