"""One table of caps on untrusted sizes, used by every reader (inspect and scan alike).

A cap bounds what a hostile file can make us allocate or loop over. Exceeding one is reported as a
problem or finding naming the file and the cap, never a crash. Each cap says why it has its value; where
inspect and scan used to disagree, the one value here is the one both use.
"""

from __future__ import annotations

# --- containers, pickles, NumPy, Keras, folders (zip-family owner) ---

# --- safetensors, GGUF, ONNX (header-format owner) ---
# One reader per format (artifacts/safetensors.py, gguf.py, onnx.py) applies these for inspect and scan
# alike; where the loader itself refuses a file, the cap is the loader's.

# The safetensors reference implementation refuses a header longer than 100 MB (its
# MAX_HEADER_SIZE). Replaces three copies of the same value: artifacts/problems.py,
# artifacts/detect.py and scan/safetensors_files.py HEADER_CAP.
SAFETENSORS_MAX_HEADER = 100_000_000
# Tensor entries parsed from one safetensors header: 2.5x the most a real checkpoint file holds
# (~100k). Counted on the raw header bytes before json.loads builds an object per entry (1.3M tiny
# tensors took 2.5 GB). Inspect (problems.MAX_TENSORS) and scan (Limits.max_tensors) both had 250,000;
# scan may still lower it through its Limits.
SAFETENSORS_MAX_TENSORS = 250_000
# Dimensions of one safetensors tensor. The format sets no bound; 32 is NumPy 1.x's NPY_MAXDIMS, the
# least of the array libraries a safetensors file is loaded into. Inspect applied 32 (problems.MAX_DIMS)
# and scan none: a 40-dimension tensor passed the scan and failed inspect.
SAFETENSORS_MAX_DIMS = 32

# GGML_MAX_DIMS: llama.cpp's gguf reader refuses a tensor with more than 4 dimensions. Inspect allowed
# 32 (problems.MAX_DIMS), scan 4: a 5-dimension tensor was inspected as valid and refused by the scan.
GGUF_MAX_DIMS = 4
# Metadata key-values of one GGUF header. llama.cpp bounds them only by memory; real files carry
# tens of keys (a vocabulary is one key, an array). Each key becomes a
# metadata entry of inspect's report, so 65,536 keeps that bounded with three orders of magnitude to
# spare. Replaces inspect's 1,000,000 and scan's 1 << 20, which accepted different files.
GGUF_MAX_KV = 65_536
# Tensor infos of one GGUF header: real files hold a few thousand (a DeepSeek-V3 shard ~1,000); the
# same 250,000 as safetensors. Replaces inspect's 250,000 and scan's 1 << 18 (262,144).
GGUF_MAX_TENSORS = 250_000
# Arrays of arrays: llama.cpp refuses any nesting ("invalid GGUF type"), so the reader does too and
# needs no depth cap (scan used to walk 16 levels of them, inspect refused them).
# Inspect's metadata keeps arrays up to this many items and strings up to this many bytes; longer
# ones are summarised by their length (a 128k-token vocabulary as {"array_length": 128256}).
GGUF_MAX_ARRAY_KEPT = 64
GGUF_MAX_STRING_KEPT = 256 * 1024
# A metadata key or tensor name is read up to 64 KiB; a longer one stops the walk. Real keys and names
# are tens of bytes (llama.cpp refuses tensor names of 64 bytes or more, GGML_MAX_NAME); neither reader
# bounded them before, so one name could take as much memory as the file is long.
GGUF_MAX_NAME_BYTES = 64 * 1024
# A chat template is read whole up to 8 MiB: four times the 2 Mi characters the scan's template
# analysis takes (a character is at most 4 UTF-8 bytes), so no template it would analyse is cut; a
# longer one is reported by its length without being read (scan kept every template whole, however
# long the file made it).
GGUF_MAX_TEMPLATE_BYTES = 8 * 1024 * 1024

# protobuf refuses to parse a message over 2 GiB, so `onnx.load` cannot load a larger .onnx file (its
# weights must be external). Inspect refused beyond it; the scan walked any size: both refuse now.
ONNX_MAX_BYTES = 2**31
# Graphs nested in graphs (If/Loop/Scan bodies, attributes holding graphs): real models nest a few
# levels; protobuf's own parser stops at 100 message levels (about 33 graph levels). Scan's walker
# refused more than 24, inspect (onnx.load) accepted them: both refuse them now.
ONNX_MAX_DEPTH = 24
# Dimensions of one ONNX initializer: ONNX sets no bound; 32 as for safetensors (NumPy 1.x's
# NPY_MAXDIMS), the value inspect applied before (problems.MAX_DIMS), now named for this format.
ONNX_MAX_DIMS = 32
# A string field of an ONNX file (a name, a domain, an external-data location) is read up to 1 MiB;
# a longer one is cut and marked. No real name comes near it, and no file system takes a path that
# long (Linux's PATH_MAX is 4 KiB). The scan used to cut such strings at 4 KiB silently, so a long
# location could hide the `..` that makes it climb out of the model's folder.
ONNX_MAX_TEXT_BYTES = 1024 * 1024
# Strings kept from an ONNX file's metadata_props values (inspect's metadata): the first 1,000
# characters, as before.
ONNX_MAX_PROP_CHARS = 1000
