"""The loader oracle (docs/scan.md, "The loader oracle"): pickle programs and containers written byte by
byte (pickles.py, containers.py, mutate.py), drawn per seed (cases.py), scanned and loaded in the
sandbox (oracle.py, tests/support/sandbox.py), and the minimised bypasses of the old scanner
(known_bypasses.py)."""
