"""Fixtures for the scan tests: the corpus of malicious and benign artifacts, built once per session."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.scan import corpus


@dataclass
class Corpus:
    root: Path
    malicious: list[corpus.Sample]
    benign: list[corpus.Sample]


@pytest.fixture(scope="session")
def scan_corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    root = tmp_path_factory.mktemp("scan-corpus")
    logging.getLogger("absl").setLevel(logging.ERROR)  # keras' "HDF5 is legacy" notice
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        malicious = corpus.build_malicious(root / "malicious")
        benign = corpus.build_benign(root / "benign")
        benign.append(corpus.build_training_args(root / "benign"))
    yield Corpus(root, malicious, benign)
