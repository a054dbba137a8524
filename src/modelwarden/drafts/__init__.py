"""Drafts of the documents the law asks for, prefilled from a release's facts, manifest and compute.

`render_drafts(...) -> {file name: Markdown}` and `write_drafts(..., out_dir)`: the EU public summary
of training content (the Commission template's sections, regulation.md §1.12), Annex XI technical
documentation and Annex XII downstream information (regulation.md §1.6), the California SB 53
transparency report where it applies (regulation.md §2.4) and a model-card gap list. Every prefilled
value names where it came from; every gap is a question a person must answer.

The templates are our own files in this package, rendered by Jinja2 with StrictUndefined; no template
text ever comes from a release.
"""

from modelwarden.drafts.build import Draft, Item, render_drafts, write_drafts

__all__ = ["Draft", "Item", "render_drafts", "write_drafts"]
