"""Real throwaway servers for tests: PostgreSQL (initdb/pg_ctl) and Redis (redis-server).

PostgreSQL refuses to run as root, so when the tests run as root the cluster is created and
started as the unprivileged `nobody` user through `runuser`. Each server listens on a free
loopback port and is stopped when the test session ends.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def postgres_available() -> bool:
    return all(_pg_bin(n) for n in ("initdb", "pg_ctl", "postgres"))


def _as_unprivileged(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "nobody", "--", *cmd]


def _wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not start within {timeout}s")


@contextlib.contextmanager
def modelwarden_serve(db_url: str) -> Iterator[str]:
    """`modelwarden serve` on the registry at `db_url`, in a child process on a free loopback port with
    no API token; yields its base URL and stops it on leaving."""
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "modelwarden",
            "serve",
            "--db",
            db_url,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "MODELWARDEN_API_TOKEN": ""},
    )
    try:
        _wait_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Start a PostgreSQL cluster; yield a SQLAlchemy URL (psycopg 3) to a fresh database."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    assert initdb and pg_ctl, "PostgreSQL binaries (initdb, pg_ctl) not found"
    root = Path(tempfile.mkdtemp(prefix="mw-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, user="nobody")
        root.chmod(0o700)
    port = free_port()
    subprocess.run(
        _as_unprivileged([initdb, "-D", str(data), "-U", "mw", "--auth=trust", "-E", "UTF8", "--no-sync"]),
        check=True,
        capture_output=True,
    )
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off -c max_connections=200"
    subprocess.run(
        _as_unprivileged([pg_ctl, "-D", str(data), "-o", opts, "-l", str(root / "log"), "-w", "start"]),
        check=True,
        capture_output=True,
    )
    try:
        _wait_port(port)
        yield f"postgresql+psycopg://mw@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_unprivileged([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]), capture_output=True
        )
        shutil.rmtree(root, ignore_errors=True)


def redis_available() -> bool:
    return shutil.which("redis-server") is not None


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """Start redis-server on a free port without persistence; yield its redis:// URL."""
    exe = shutil.which("redis-server")
    assert exe, "redis-server not found (apt-get install redis-server)"
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="mw-redis-")
    proc = subprocess.Popen(
        [
            exe,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_port(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        if proc.poll() is None:
            proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)
