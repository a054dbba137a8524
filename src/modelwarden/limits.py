"""One table of caps on untrusted sizes, used by every reader (inspect and scan alike).

A cap bounds what a hostile file can make us allocate or loop over. Exceeding one is reported as a
problem or finding naming the file and the cap, never a crash. Each cap says why it has its value; where
inspect and scan used to disagree, the one value here is the one both use.
"""

from __future__ import annotations

# --- containers, pickles, NumPy, Keras, folders (zip-family owner) ---

# Tensors and dimensions ------------------------------------------------------------------------------

# Tensors read from one file: 2.5x the most a real checkpoint file holds (~100k; DeepSeek-V3 has ~92k
# in all its 163 shards). Each tensor costs ~2 KB through inspect (JSON entry, TensorInfo, facts), so
# the cap bounds a file's cost at ~0.5 GB; at 2,000,000 a 77 MB safetensors header of 1.3M tiny tensors
# took 2.5 GB and 25 s. Inspect and scan already agreed on this value (artifacts/problems.py and the
# scan's Limits.max_tensors); the header formats import it from here.
MAX_TENSORS = 250_000
# Dimensions of one tensor: model weights have a handful (GGML allows 4, NumPy 2 at most 64). 32 reads
# every real weight and bounds the work per tensor. Inspect's value, now also the scan's.
MAX_DIMS = 32

# Pickles ---------------------------------------------------------------------------------------------

# Opcodes walked in one pickle, by inspect and scan alike. A torch.save state dict costs ~33 opcodes
# per tensor (measured with torch 2.13: 32,013 opcodes for 1,000 tensors), so 5M reads ~150,000
# tensors — 1.5x the largest real checkpoint file — and bounds the walk to seconds. Replaced inspect's
# 20,000,000 (artifacts/pickle_vm.py DEFAULT_MAX_OPS), which let a hostile data.pkl cost 4x the time
# scan allowed and let inspect describe a pickle scan had stopped reading.
MAX_PICKLE_OPS = 5_000_000
# Pickles read one after another from one stream (a legacy torch checkpoint holds 5, a joblib file a
# few; "nullifAI"-style padding needs more than one). Inspect and scan agreed.
MAX_PICKLES_PER_STREAM = 64
# Nodes of a pickle's object graph visited by one traversal (iter_nodes): the graph of MAX_PICKLE_OPS
# opcodes has at most that many nodes, so the traversal never stops before the walk did.
MAX_GRAPH_NODES = MAX_PICKLE_OPS
# An opcode argument up to this size is read by the fast walker into a window; larger ones are read in
# place by pickletools, so a declared 4 GB BINBYTES never becomes a 4 GB allocation.
PICKLE_MAX_WINDOW_BYTES = 16 << 20

# Archives and compressed streams ----------------------------------------------------------------------

# Containers within containers (zip in zip, nested pickles, a checkpoint in a Keras config).
MAX_NESTING_DEPTH = 6
# Decompressed bytes of one archive member held in memory (stored members are read in place and never
# copied). Replaced inspect's 512 MiB cap on a checkpoint's data.pkl (artifacts/problems.py
# PICKLE_MAX_BYTES) and its 1 TiB "cap" on a .keras weights member (artifacts/keras.py
# WEIGHTS_MAX_BYTES), so inspect reads every member scan judges: a data.pkl takes ~120 bytes per
# tensor (measured with torch 2.13), 12 MB for 100k tensors.
MAX_ENTRY_BYTES = 1 << 30
# Decompressed bytes read from one compressed stream (.gz, .xz, joblib's zlib) by the scan.
MAX_STREAM_BYTES = 8 << 30
# A member is a zip bomb when it would expand beyond ZIP_BOMB_MIN_BYTES at more than ZIP_BOMB_RATIO
# times its compressed size: model data (weights, pickles, JSON) compresses far less than 200:1, and
# a member under 64 MiB is cheap whatever its ratio. Inspect and scan agreed on both values.
ZIP_BOMB_RATIO = 200
ZIP_BOMB_MIN_BYTES = 64 << 20
# Of an entry already judged a bomb, the scan inflates and analyses only this prefix: enough for a
# payload placed early, small enough that a 1 MB bomb costs ~16 MB.
ZIP_BOMB_SCAN_BYTES = 16 << 20
# Entries listed from one central directory (and tar members): a torch.save archive holds one entry
# per storage, so this matches MAX_TENSORS with room for the records beside them; each listed entry
# costs a few hundred bytes.
MAX_ZIP_ENTRIES = 200_000

# NumPy -----------------------------------------------------------------------------------------------

# .npy header bytes parsed, by inspect and scan. NumPy's own reader caps headers at 10,000 bytes but
# ignores its cap when allow_pickle is on, so ours is only a memory bound that reads any header a
# loader could; structured dtypes with many fields make long headers.
MAX_NPY_HEADER_BYTES = 64 << 20
# Nesting of a dtype description (sub-arrays of structured fields); deeper ones are taken to hold
# objects (fail closed: a pickle walk, never a missed pickle).
MAX_NPY_DESCR_DEPTH = 64
# Fields of one structured dtype; more are taken to hold objects (fail closed).
MAX_NPY_FIELDS = 100_000

# Keras / HDF5 ----------------------------------------------------------------------------------------

# JSON nodes of one Keras config walked by the scan (a node is one dict, list or value).
MAX_KERAS_CONFIG_NODES = 1_000_000
# Layers of one Keras config summarised by inspect.
MAX_KERAS_LAYERS = 100_000
# HDF5 global heap collections and objects checked before a variable-length attribute is read (HDF5
# allocates what a collection or reference declares before comparing it with the data).
MAX_HDF5_HEAP_COLLECTIONS = 64
MAX_HDF5_HEAP_OBJECTS = 10_000

# JSON, cards, text -----------------------------------------------------------------------------------

# config / index / tokenizer JSON and Keras configs (DeepSeek-V3's index is ~9 MB). Inspect and scan
# agreed.
MAX_JSON_BYTES = 64 << 20
# Pages of a hub listing a crawl follows (100 ids a page): a hub whose `Link` headers never end stops
# here (docs/crawl.md).
MAX_LIST_PAGES = 1_000
# Long range reads (≥ 1 MiB) one repository's remote files keep between them: inspect and the scan
# walk the same headers with the same reader, so a GGUF vocabulary (7 MB for Llama 3) kept once is not
# downloaded twice. What does not fit is fetched again, never held beyond the cap.
MAX_REMOTE_KEPT_BYTES = 256 << 20
# README.md model cards: past the cap only the start is read (a problem says so).
MAX_CARD_BYTES = 8 << 20
# LICENSE / USE_POLICY texts: past the cap the text is not identified (a problem says so).
MAX_TEXT_BYTES = 4 << 20
# Characters of one chat template analysed by the scan; longer ones are a finding.
MAX_TEMPLATE_CHARS = 1 << 21

# Folders ---------------------------------------------------------------------------------------------

# Files listed in one release folder, by inspect (release.py) and scan (scan/folders.py) alike.
# Replaced the scan's 200,000 (scan/folders.py MAX_FILES), which let scan list twice the files inspect
# would; the files past the cap are reported as a problem, never passed.
MAX_FOLDER_FILES = 100_000

# Output ----------------------------------------------------------------------------------------------

# Findings listed per file and rule; the rest are counted (a pickle importing os.system 10,000 times
# is one finding with a count, not 10,000 lines).
MAX_FINDINGS_PER_RULE = 200
# Problems inspect lists for one file and kind (tensors without storage, reader disagreements); the
# rest are counted. A hostile file can hold a million broken tensors; the report stays readable.
MAX_PROBLEMS_PER_FILE = 50

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
SAFETENSORS_MAX_TENSORS = MAX_TENSORS
# Dimensions of one safetensors tensor. The format sets no bound; 32 is NumPy 1.x's NPY_MAXDIMS, the
# least of the array libraries a safetensors file is loaded into. Inspect applied 32 (problems.MAX_DIMS)
# and scan none: a 40-dimension tensor passed the scan and failed inspect.
SAFETENSORS_MAX_DIMS = MAX_DIMS

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
GGUF_MAX_TENSORS = MAX_TENSORS
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
ONNX_MAX_DIMS = MAX_DIMS
# A string field of an ONNX file (a name, a domain, an external-data location) is read up to 1 MiB;
# a longer one is cut and marked. No real name comes near it, and no file system takes a path that
# long (Linux's PATH_MAX is 4 KiB). The scan used to cut such strings at 4 KiB silently, so a long
# location could hide the `..` that makes it climb out of the model's folder.
ONNX_MAX_TEXT_BYTES = 1024 * 1024
# Strings kept from an ONNX file's metadata_props values (inspect's metadata): the first 1,000
# characters, as before.
ONNX_MAX_PROP_CHARS = 1000

# --- reading through a ByteSource ---

# A header walker's reads are grouped into chunks (one `read_at`, remotely one HTTP Range request, per
# chunk): the first is one page, most headers being a few KiB; a sequential walk doubles it up to 1 MiB,
# which bounds what one request holds in memory and what a jump over tensor data can over-fetch.
WINDOW_FIRST_CHUNK = 4096
WINDOW_MAX_CHUNK = 1 << 20

# Attestations ----------------------------------------------------------------------------------------

# Bytes of one DSSE attestation envelope the registry accepts and stores (`registry attach`, the API).
# An in-toto subject costs ~200 bytes once base64-encoded, so MAX_FOLDER_FILES (100,000) files take
# ~20 MB; 32 MiB holds them with the predicate and equals the server's default request-body cap.
MAX_ATTESTATION_BYTES = 32 << 20
