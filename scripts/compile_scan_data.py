"""Compile the scanner's YAML data files (src/modelwarden/scan/data/*.yaml) to JSON beside them.

The YAML files are the source people edit (with comments); the scanner reads the JSON, because
importing PyYAML and parsing the policy cost a scan ~15-20 ms of start-up, as much as picklescan's
whole scan of a checkpoint (docs/scan.md, "Where the time goes"). tests/scan/test_policy_data.py fails when a
JSON file no longer equals its YAML source: run `make scan-data` after editing one.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

DATA = Path(__file__).resolve().parents[1] / "src" / "modelwarden" / "scan" / "data"
SOURCES = ("pickle_policy.yaml", "format_policy.yaml", "rules.yaml")


def main() -> None:
    for name in SOURCES:
        data = yaml.load((DATA / name).read_text("utf-8"), Loader=yaml.SafeLoader)
        out = DATA / name.replace(".yaml", ".json")
        out.write_text(json.dumps(data, ensure_ascii=False, sort_keys=True, indent=0) + "\n", "utf-8")
        print(f"{out.relative_to(DATA.parents[3])}")


if __name__ == "__main__":
    main()
