"""The sandboxed loader oracle the red-team pass used (docs/scan.md "Red-team bypasses"). Not a test.

    python -m tests.scan.redteam_oracle pickle|torch|numpy|joblib FILE

copies FILE into a throwaway directory and loads it there with the real loader in a child process
without network (`unshare -n` when available), under a `sys.addaudithook` that records and blocks
process creation, exec/compile outside imports, sockets, file writes and removals. Prints one JSON
line: the dangerous events, how many imports the load made, and the loader's error.
Never call it from a pytest process's own interpreter: it only ever loads in the child.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

_CHILD = r"""
import json, os, sys
loader, path = sys.argv[1], sys.argv[2]
import pickle, numpy, joblib, torch, sklearn  # their own imports are not the file's doing
events = []
armed = False
BLOCK = ("os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "subprocess", "exec",
         "compile", "socket.", "os.remove", "os.rename", "os.mkdir", "os.rmdir", "os.chmod",
         "os.symlink", "shutil.rmtree", "ctypes.dlopen", "os.truncate", "urllib.Request")
def in_import():
    f = sys._getframe(2)
    while f is not None:
        if f.f_code.co_filename.startswith("<frozen importlib"):
            return True
        f = f.f_back
    return False
def hook(ev, args):
    if not armed:
        return
    if ev == "import":
        events.append(["import", str(args[0])])
        return
    if ev == "open":
        mode = args[1] if len(args) > 1 else "r"
        flags = args[2] if len(args) > 2 else 0
        if (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)):
            events.append(["open-write", repr(args[0])[:200]])
            raise PermissionError("blocked write")
        return
    if ev in ("exec", "compile") and in_import():
        return  # a module body run by an import (recorded as the import)
    if ev.startswith(BLOCK):
        events.append([ev, repr(args)[:200]])
        raise PermissionError("blocked " + ev)
sys.addaudithook(hook)
err = None
armed = True
try:
    if loader == "pickle":
        with open(path, "rb") as f:
            pickle.load(f)
    elif loader == "torch":
        torch.load(path, weights_only=False)
    elif loader == "numpy":
        r = numpy.load(path, allow_pickle=True)
        for k in getattr(r, "files", []):
            r[k]
    elif loader == "joblib":
        joblib.load(path)
except BaseException as e:
    err = f"{type(e).__name__}: {e}"[:300]
armed = False
print(json.dumps({"danger": [e for e in events if e[0] != "import"],
                  "imports": sum(e[0] == "import" for e in events), "error": err}))
"""


def run(loader: str, file: Path, timeout: float = 120.0) -> dict[str, object]:
    """Load `file` with `loader` in a sandboxed child; the child's JSON report."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        target = work / file.name
        shutil.copyfile(file, target)
        cmd = [sys.executable, "-c", _CHILD, loader, str(target)]
        if shutil.which("unshare") and subprocess.run(["unshare", "-n", "true"], check=False).returncode == 0:
            cmd = ["unshare", "-n", *cmd]
        out = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=timeout, check=False)
    lines = out.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else {"danger": [], "imports": 0, "error": out.stderr[-300:]}


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1], Path(sys.argv[2]))))
