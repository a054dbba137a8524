"""Licence texts identified by fingerprints; unknown text stays unknown."""

from __future__ import annotations

import pytest

from modelwarden.facts.licence_text import identify, kind_of

APACHE = """
                                 Apache License
                           Version 2.0, January 2004
                        http://www.apache.org/licenses/

   TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION

   1. Definitions.
"""
MIT = """MIT License

Copyright (c) 2024 Someone

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction...

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (APACHE, "apache-2.0"),
        (MIT, "mit"),
        ('Licensed under the Apache License, Version 2.0 (the "License");\n'
         "you may not use this file except in compliance with the License.", "apache-2.0"),
        ("GNU GENERAL PUBLIC LICENSE\n Version 3, 29 June 2007\n", "gpl-3.0"),
        ("GNU LESSER GENERAL PUBLIC LICENSE\n Version 3, 29 June 2007\n This version of the GNU "
         "Lesser General Public License incorporates the terms of the GNU General Public License",
         "lgpl-3.0"),
        ("Creative Commons Attribution-NonCommercial 4.0 International Public License\n\nBy exercising...",
         "cc-by-nc-4.0"),
        ("Creative Commons Attribution 4.0 International Public License", "cc-by-4.0"),
        ("META LLAMA 3 COMMUNITY LICENSE AGREEMENT ... greater than 700 million monthly active users",
         "llama3"),
        ("LLAMA 3.1 COMMUNITY LICENSE AGREEMENT\nLlama 3.1 Version Release Date: July 23, 2024\n"
         "... 700 million monthly active users", "llama3.1"),
        ("Gemma Terms of Use\n\nLast modified: ...\n\"Model Derivatives\" means ...", "gemma"),
        ("Copyright (c) 2022 Robin Rombach and Patrick Esser and contributors\n\nCreativeML Open RAIL-M\n"
         "dated August 22, 2022\n\nCreativeML Open RAIL-M License", "creativeml-openrail-m"),
        ("CreativeML Open RAIL++-M License\ndated July 26, 2023", "openrail++"),
        ("DEEPSEEK LICENSE AGREEMENT\n\nVersion 1.0, 23 October 2023", "deepseek"),
    ],
)  # fmt: skip
def test_known_texts(text: str, expected: str) -> None:
    found = identify(text)
    assert found.id == expected, found
    assert found.method is not None and found.method.startswith(f"fingerprint {expected}#")


def test_unknown_text_stays_unknown() -> None:
    assert identify("You may use this model for good things only. Ask us otherwise.").id is None
    assert identify("").id is None


def test_modified_mit_is_not_mit() -> None:
    text = (
        "Modified MIT License\n\n"
        + MIT
        + "\nOur only modification: if the Software is used by more than 100 million monthly active users ..."
    )
    assert identify(text).id is None


def test_first_licence_wins_and_others_are_named() -> None:
    found = identify(APACHE + "\n\nThird-party notices:\n\n" + MIT)
    assert found.id == "apache-2.0"
    assert found.method is not None and "also contains text of: mit" in found.method


def test_use_policies() -> None:
    assert identify("Llama 3.2 Acceptable Use Policy\n\nMeta is committed...", "use_policy").id == "llama3.2"
    assert identify("Gemma Prohibited Use Policy", "use_policy").id == "gemma"


@pytest.mark.parametrize(
    ("name", "kind"),
    [("LICENSE", "license"), ("LICENSE.txt", "license"), ("LICENCE.md", "license"),
     ("license-model", "license"), ("COPYING", "license"), ("USE_POLICY.md", "use_policy"),
     ("NOTICE", "notice"), ("Notice.txt", "notice"),
     ("ACCEPTABLE_USE_POLICY.md", "acceptable_use"), ("README.md", None), ("licenses.json", None)],
)  # fmt: skip
def test_kind_of(name: str, kind: str | None) -> None:
    assert kind_of(name) == kind
