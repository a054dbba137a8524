"""One table of caps on untrusted sizes, used by every reader (inspect and scan alike).

A cap bounds what a hostile file can make us allocate or loop over. Exceeding one is reported as a
problem or finding naming the file and the cap, never a crash. Each cap says why it has its value; where
inspect and scan used to disagree, the one value here is the one both use.
"""

from __future__ import annotations

# --- containers, pickles, NumPy, Keras, folders (zip-family owner) ---

# --- safetensors, GGUF, ONNX (header-format owner) ---
