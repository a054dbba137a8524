"""Readers for bytes the tool does not trust: bounded file opening, text decoding, YAML without aliases.

Every stage that opens a file from a release goes through here, so one place decides how a symlink, a
device, an over-long file or a YAML "billion laughs" is refused.
"""
