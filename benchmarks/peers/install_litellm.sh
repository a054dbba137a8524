#!/usr/bin/env bash
# Install the LiteLLM proxy peer into benchmarks/.peers/litellm (gitignored), hash-checked.
# Every distribution is pinned with its SHA-256 (--require-hashes) and installed without resolving
# anything else (--no-deps), so nothing outside litellm-requirements.txt can enter the environment.
# LiteLLM 1.82.7 and 1.82.8 were compromised releases; the pin below is neither.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/../.peers/litellm"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --require-hashes --no-deps --only-binary=:all: \
  -r "$here/litellm-requirements.txt"
"$venv/bin/python" -c "import importlib.metadata as m; v = m.version('litellm'); \
assert v not in ('1.82.7', '1.82.8'), v; print('litellm', v)"
