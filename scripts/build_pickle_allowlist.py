"""Build src/modelwarden/scan/data/pickle_allowlist.json: the exact pickle allowlist (docs/scan.md).

Run in the dev virtualenv at data-build time, never at scan time:

    PYTHONPATH=$PWD/src .venv/bin/python scripts/build_pickle_allowlist.py

It imports the real libraries named in scripts/pickle_allowlist_seeds.yaml and, for every candidate
name, resolves it to the object a loader would get (`importlib.import_module` + attribute lookup, as
`pickle.Unpickler.find_class` does). An entry is written only when

- the name resolves, and the object's own name (`__module__` + `__qualname__`) is the entry itself or
  another entry that passed (a re-export of `subprocess.check_output` is caught here: it resolves to a
  function the seeds never reviewed);
- for a function: the seeds reviewed it by name, or it comes from a seeded module of pure functions and
  its body calls nothing on the danger list below;
- for a class: every hook a loader runs on it (`__new__`, `__init__`, `__setstate__`, `__setattr__`,
  `__setitem__`, `append`, `extend`, `__getattr__`, `__getattribute__`, along the whole MRO, and the
  metaclass' `__call__`) is either a built-in of CPython's own types, or Python source whose calls avoid
  the danger list, or compiled code of a module the seeds reviewed. A class whose `__init__` alone is
  unsafe (xgboost's Booster reads a model file named by an argument) is kept as `new_only`: a loader
  may build it without calling `__init__` (copyreg.__newobj__, NEWOBJ), a call with arguments is a
  finding. A class whose other hooks call a danger-list name (a `__setstate__` that runs `pickle.loads`)
  is written to `dangerous` instead, with the reason.

While walking the seeded packages, every module attribute that is a re-export of a callable under a
dangerous module of data/pickle_policy.yaml (`sklearn.utils._testing.check_output` is
`subprocess.check_output`) is written to `dangerous` too, so scan names the real target.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import enum
import importlib
import inspect
import json
import pkgutil
import platform
import sys
import textwrap
import types
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "scripts" / "pickle_allowlist_seeds.yaml"
POLICY = ROOT / "src" / "modelwarden" / "scan" / "data" / "pickle_policy.yaml"
OUTPUT = ROOT / "src" / "modelwarden" / "scan" / "data" / "pickle_allowlist.json"

# Methods a loader may call on a class or its instances while unpickling.
HOOKS = (
    "__new__",
    "__init__",
    "__setstate__",
    "__setattr__",
    "__setitem__",
    "append",
    "extend",
    "__getattr__",
    "__getattribute__",
    "__post_init__",  # called by a dataclass __init__ only
)
# Names whose call in a hook means the hook can run code, import, open files or reach the network.
DANGER_CALLS = frozenset(
    {
        "eval", "exec", "compile", "__import__", "import_module", "reload", "exec_module",
        "open", "load", "loads", "load_model", "fromfile", "memmap", "from_file", "read_text",
        "read_bytes", "write_text", "write_bytes", "remove", "unlink", "rmtree", "rename",
        "system", "popen", "Popen", "spawnv", "spawnl", "check_output", "check_call", "getoutput",
        "urlopen", "urlretrieve", "get_file", "hf_hub_download", "cached_file", "from_pretrained",
        "run_path", "run_module", "CDLL", "LoadLibrary", "dlopen", "create_connection", "socket",
        "Client", "Listener", "connect", "bind", "create_server", "fork", "start_new_thread",
    }
)  # fmt: skip
# CPython's own types: their hooks are C code that only stores values.
BUILTIN_OWNERS = (object, type, dict, list, set, frozenset, tuple, int, float, str, bytes, bytearray)
SAFE_METACLASSES = (type, enum.EnumMeta, __import__("abc").ABCMeta)
MAX_ALIAS_PREFIX = 3


@dataclass
class Result:
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    dangerous: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def resolve(name: str) -> Any:
    """The object `module.qualname` names, resolved the way find_class does (longest importable module)."""
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(name)


def own_name(obj: Any) -> str | None:
    module = getattr(obj, "__module__", None)
    qual = getattr(obj, "__qualname__", None)
    if isinstance(module, str) and isinstance(qual, str):
        return f"{module}.{qual}"
    return None


def danger_in_source(func: Any, cls: type | None = None, depth: int = 0) -> list[str]:
    """Danger-list names called in `func`'s source; ['<no source>'] when it has none.

    With `cls`, methods the function calls on `self` (`self._load(path)`) are followed too, two levels
    deep: a hook that delegates its file reading to a helper method is caught.
    """
    func = inspect.unwrap(getattr(func, "__func__", func))
    try:
        source = textwrap.dedent(inspect.getsource(func))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError, IndentationError):
        return ["<no source>"]
    hits: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        target = node.func
        name = target.id if isinstance(target, ast.Name) else getattr(target, "attr", None)
        if name in DANGER_CALLS:
            hits.add(name)
        elif cls is not None and depth < 3 and (helper := _module_function(func, target)) is not None:
            # A class hook's module-level helper (ScoringMonitor.__setstate__ -> can_reuse_listener ->
            # Client). Not for value-only functions: a loader never calls those (pickle.call-of-value).
            # Followed three levels deep, like methods on self.
            inner = danger_in_source(helper, cls, depth + 1)
            hits.update(f"{helper.__name__}->{h}" for h in inner if h != "<no source>")
        elif (
            cls is not None
            and depth < 2
            and isinstance(target, ast.Attribute)
            and isinstance(target.value, ast.Name)
            and target.value.id in ("self", "cls")
        ):
            method = inspect.getattr_static(cls, target.attr, None)
            method = getattr(method, "__func__", method)
            if inspect.isfunction(method):
                inner = danger_in_source(method, cls, depth + 1)
                hits.update(f"{target.attr}->{h}" for h in inner if h != "<no source>")
    return sorted(hits)


def _module_function(func: Any, target: ast.expr) -> Any:
    """The Python function a call names through `func`'s module globals (`helper(...)` or
    `module.helper(...)`), or None."""
    scope = getattr(func, "__globals__", {})
    obj: Any = None
    if isinstance(target, ast.Name):
        obj = scope.get(target.id)
    elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
        module = scope.get(target.value.id)
        if isinstance(module, types.ModuleType):
            obj = getattr(module, target.attr, None)
    obj = getattr(obj, "__wrapped__", obj)
    return obj if inspect.isfunction(obj) else None


def _generated(func: Any) -> bool:
    code = getattr(func, "__code__", None)
    return code is not None and code.co_filename.startswith("<")


def check_class(cls: type, compiled_ok: dict[str, str]) -> tuple[str, str, bool]:
    """('ok'|'dangerous'|'unreviewed', reason, new_only) for a class a loader may instantiate."""
    notes: list[str] = []
    new_only = False
    # REDUCE on a class calls its metaclass' __call__ first (EnumMeta looks a member up by value).
    for owner in type(cls).__mro__:
        if owner in SAFE_METACLASSES:
            break
        if "__call__" in vars(owner):
            hits = danger_in_source(vars(owner)["__call__"])
            if hits == ["<no source>"] and owner.__module__ not in compiled_ok:
                return (
                    "unreviewed",
                    f"metaclass {own_name(owner)}.__call__ is compiled code nobody reviewed",
                    False,
                )
            if hits and hits != ["<no source>"]:
                return "dangerous", f"metaclass {own_name(owner)}.__call__ calls {', '.join(hits)}", False
            break
    for hook in HOOKS:
        for owner in cls.__mro__:
            if hook not in vars(owner):
                continue
            if owner in BUILTIN_OWNERS or owner.__module__ == "builtins":
                break
            impl = vars(owner)[hook]
            if hook == "__init__" and dataclasses.is_dataclass(owner) and _generated(impl):
                notes.append("dataclass __init__ assigns fields (then __post_init__, checked on its own)")
                break
            if hook == "__new__" and issubclass(owner, tuple) and hasattr(owner, "_fields"):
                notes.append("namedtuple __new__ builds the tuple")
                break
            hits = danger_in_source(impl, cls)
            if hits == ["<no source>"]:
                reviewed = compiled_ok.get(owner.__module__)
                if reviewed is None:
                    return "unreviewed", f"{own_name(owner)}.{hook} is compiled code nobody reviewed", False
                notes.append(f"{hook}: compiled, reviewed ({reviewed})")
            elif hits:
                where = f"{own_name(owner)}.{hook} calls {', '.join(hits)}"
                if hook in ("__init__", "__post_init__"):
                    new_only = True
                    notes.append(f"__init__ unsafe ({where}): only construction without __init__ is allowed")
                else:
                    return "dangerous", where, False
            break  # the first owner in the MRO is the one a loader calls
    if not notes:
        notes.append("no unpickling hook outside CPython's types calls code, imports, files or network")
    return "ok", "; ".join(dict.fromkeys(notes)), new_only


def walk_modules(package: str, skip: list[str], *, tests: bool = False) -> list[types.ModuleType]:
    root = importlib.import_module(package)
    mods = [root]
    if not hasattr(root, "__path__"):
        return mods
    for info in pkgutil.walk_packages(root.__path__, package + "."):
        parts = info.name.split(".")
        if any(part in parts for part in ("tests", "test")):
            continue  # test suites: not importable outside their runner
        if not tests and any(part in parts for part in ("_testing", "testing")):
            continue
        if any(info.name.startswith(s) for s in skip):
            continue
        try:
            mods.append(importlib.import_module(info.name))
        except (Exception, SystemExit) as exc:  # optional backends that need other libraries
            print(f"  not imported: {info.name} ({type(exc).__name__})", file=sys.stderr)
    return mods


def dangerous_prefix(name: str, dangerous: frozenset[str]) -> str | None:
    parts = name.split(".")
    for i in range(1, len(parts) + 1):
        if ".".join(parts[:i]) in dangerous:
            return ".".join(parts[:i])
    return None


def build(seeds: dict[str, Any], dangerous_modules: frozenset[str]) -> Result:
    res = Result()
    compiled_ok: dict[str, str] = seeds.get("compiled_reviewed", {})

    def add(name: str, tier: str, kind: str, why: str, new_only: bool = False) -> None:
        entry: dict[str, Any] = {"tier": tier, "kind": kind, "why": why}
        if new_only:
            entry["new_only"] = True
        res.entries[name] = entry

    def add_class(name: str, cls: Any, tier: str, why: str) -> None:
        status, reason, new_only = check_class(cls, compiled_ok)
        if status == "ok":
            add(name, tier, "class", f"{why}; {reason}", new_only)
        elif status == "dangerous":
            res.dangerous[name] = f"unpickling hook {reason}"
        else:
            res.skipped[name] = reason

    # 1. Callables and values reviewed by name.
    for name, why in seeds["functions"].items():
        try:
            obj = resolve(name)
        except (ImportError, AttributeError) as exc:
            res.skipped[name] = f"does not resolve here ({exc})"
            continue
        real = own_name(obj)
        if real and real != name and real not in seeds["functions"] and not isinstance(obj, type):
            sys.exit(f"seed {name} is really {real}, which the seeds never reviewed")
        add(name, "allow", "function", why)
    for tier in ("allow", "training", "library"):
        for name, why in seeds["classes"].get(tier, {}).items():
            try:
                obj = resolve(name)
            except (ImportError, AttributeError) as exc:
                res.skipped[name] = f"does not resolve here ({exc})"
                continue
            if not isinstance(obj, type):
                sys.exit(f"seed class {name} is a {type(obj).__name__}")
            add_class(name, obj, tier, why)
    for name, why in seeds.get("values", {}).items():
        try:
            obj = resolve(name)
        except (ImportError, AttributeError) as exc:
            res.skipped[name] = f"does not resolve here ({exc})"
            continue
        if callable(obj) and not isinstance(obj, type):
            sys.exit(f"seed value {name} is callable")
        add(name, "allow", "value", why)

    # 2. Families: every class (and Cython unpickler) defined in the packages, checked one by one.
    for fam in seeds["families"]:
        base = resolve(fam["base"]) if fam.get("base") else None
        kinds = fam.get("kinds", ["class"])
        mods = (
            walk_modules(fam["package"], fam.get("skip", []))
            if fam.get("walk", True)
            else [importlib.import_module(fam["package"])]
        )
        for mod in mods:
            for attr, obj in sorted(vars(mod).items()):
                name = f"{mod.__name__}.{attr}"
                if name in res.entries:
                    continue
                if "class" in kinds and isinstance(obj, type) and obj.__module__ == mod.__name__:
                    if base is not None and not issubclass(obj, base):
                        continue
                    if fam.get("enums_only") and not issubclass(obj, enum.Enum):
                        continue
                    add_class(name, obj, fam["tier"], fam["why"])
                elif (
                    "cython_unpickler" in kinds
                    and attr.startswith("__pyx_unpickle_")
                    and callable(obj)
                    and own_name(obj) == name  # not Cython's shared View.MemoryView helpers
                ):
                    add(
                        name,
                        "allow",
                        "function",
                        "Cython-generated unpickler: __new__, then typed fields set",
                    )
                elif "dtype" in kinds and type(obj).__name__ in fam.get("value_types", []):
                    add(name, "allow", "value", fam["why"])
                elif "pure_function" in kinds and inspect.isfunction(obj) and own_name(obj) == name:
                    hits = danger_in_source(obj)
                    if hits:
                        res.skipped[name] = f"calls {', '.join(hits)}"
                    else:
                        add(name, fam["tier"], "function", fam["why"])
                elif "ufunc" in kinds and type(obj).__name__ == "ufunc":
                    add(name, "allow", "value", "NumPy ufunc: element-wise arithmetic in C")

    # Other spellings of entries (pickles written by other Python or library versions).
    for name, target in seeds.get("aliases", {}).items():
        if target in res.entries and name not in res.entries:
            entry = dict(res.entries[target])
            entry["why"] = f"written as {target} here; {entry['why']}"
            res.entries[name] = entry

    # 3. Re-exports of dangerous callables, and classes with dangerous hooks, in the walked packages.
    for package in seeds.get("alias_scan", []):
        # Test helpers included: a pickle may name any importable module (sklearn.utils._testing).
        for mod in walk_modules(package, [], tests=True):
            for attr, obj in list(vars(mod).items()):
                if attr.startswith("__") or isinstance(obj, types.ModuleType):
                    continue
                real = own_name(obj)
                if not real or not callable(obj):
                    continue
                name = f"{mod.__name__}.{attr}"
                if isinstance(obj, type) and name not in res.entries:
                    # A class whose unpickling hooks load, evaluate or import (a __setstate__ running
                    # pickle.loads on its state) is dangerous under every name that reaches it.
                    status, reason, _ = check_class(obj, compiled_ok)
                    if status == "dangerous":
                        alias = "" if real == name else f"is {real}: "
                        res.dangerous[name] = f"{alias}unpickling hook {reason}"
                        continue
                hit = dangerous_prefix(real, dangerous_modules)
                if hit and not dangerous_prefix(name, dangerous_modules) and name not in res.entries:
                    res.dangerous[name] = f"is {real} (re-exported; under the dangerous {hit})"
    for name in list(res.entries):
        if name in res.dangerous:
            del res.entries[name]
    return res


def versions(seeds: dict[str, Any]) -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in seeds.get("versions_of", []):
        try:
            out[dist] = str(importlib.import_module(dist).__version__)
        except (ImportError, AttributeError):
            out[dist] = "not installed"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    seeds = yaml.safe_load(SEEDS.read_text("utf-8"))
    policy = yaml.safe_load(POLICY.read_text("utf-8"))
    res = build(seeds, frozenset(policy["dangerous_modules"]))
    # Compact on disk (parsed at every scan's start-up): each distinct reason once, entries point at it.
    reasons: list[str] = sorted({e["why"] for e in res.entries.values()})
    index = {why: i for i, why in enumerate(reasons)}
    entries = {
        name: [e["tier"], e["kind"], index[e["why"]], int(bool(e.get("new_only")))]
        for name, e in sorted(res.entries.items())
    }
    doc = {
        "generated_by": (
            "scripts/build_pickle_allowlist.py from scripts/pickle_allowlist_seeds.yaml; do not edit"
        ),
        "versions": versions(seeds),
        "format": "entries: name -> [tier, kind, index into reasons, new_only]",
        "reasons": reasons,
        "entries": entries,
        "dangerous": dict(sorted(res.dangerous.items())),
    }
    args.output.write_text(json.dumps(doc, indent=0, separators=(",", ":")) + "\n", "utf-8")
    tiers: dict[str, int] = {}
    for e in res.entries.values():
        tiers[e["tier"]] = tiers.get(e["tier"], 0) + 1
    print(f"{len(res.entries)} entries {tiers}, {len(res.dangerous)} dangerous, {len(res.skipped)} skipped")
    for name, why in sorted(res.skipped.items()):
        print(f"  skipped {name}: {why}")


if __name__ == "__main__":
    main()
