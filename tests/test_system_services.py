"""scripts/system-services: where it cannot install what the tests drive, it stops with one message that
names what is missing and how to install it (never a silent skip later)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "system-services"


def _bare_path(tmp_path: Path) -> str:
    """A PATH holding nothing: no chromium, redis-server, runuser, apt-get or sudo (the script is run by
    /bin/bash and uses only bash built-ins to decide)."""
    bindir = tmp_path / "empty-bin"
    bindir.mkdir()
    return str(bindir)


def _run(cmd: list[str], path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=60, env={"PATH": path, "HOME": "/tmp"}, check=False
    )


def test_without_a_package_manager_it_names_the_packages_and_fails(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.fail("this test checks the root path of the script; run the suite as root (as CI does)")
    result = _run(["/bin/bash", str(SCRIPT)], _bare_path(tmp_path))
    assert result.returncode == 1
    assert "missing Chromium" in result.stdout
    assert "missing Redis" in result.stdout
    assert "no apt-get on this machine" in result.stderr
    assert "chromium" in result.stderr and "redis-server" in result.stderr


def test_a_normal_user_without_sudo_gets_the_install_command(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.fail("runuser needs root; run the suite as root (as CI does)")
    path = _bare_path(tmp_path)
    runuser = shutil.which("runuser")
    assert runuser
    result = _run([runuser, "-u", "nobody", "--", "/bin/bash", str(SCRIPT)], path)
    assert result.returncode == 1, result.stderr
    assert "cannot install as a normal user without sudo" in result.stderr
    assert "sudo apt-get install -y --no-install-recommends chromium redis-server" in result.stderr


def test_on_this_machine_everything_the_tests_drive_is_present() -> None:
    result = subprocess.run([str(SCRIPT)], capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    assert "installed" in result.stdout
