"""HTML renderings, through Jinja2 with autoescaping (model names and card text are untrusted) and
only our own packaged templates (never a template from a model).

`assessment.html` is the standalone page of `assess --format html`; its body,
`_assessment_body.html`, is the same markup the web dashboard's assessment page includes
(web/templates/report.html), so the two show an assessment's conclusions identically.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape

from modelwarden.model import Assessment
from modelwarden.report.assess import DISCLAIMER, WORDS, band_text, headline, questions, summary
from modelwarden.untrusted.text import document

TEMPLATES = ("modelwarden.report", "templates")


def safe_url(value: object) -> str | None:
    """The URL if it is an absolute http(s) link, else None: `javascript:`, `data:` and relative
    links (from a model card, a rule file) never become clickable."""
    if not isinstance(value, str) or len(value) > 2048:
        return None
    text = value.strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    if any(ord(c) < 33 or c in "\"'<>`\\" for c in text):
        return None
    return text


def context(a: Assessment) -> dict[str, Any]:
    """What the assessment templates read (the standalone page and the dashboard's includes)."""
    from modelwarden.registry.summary import remaining_obligations

    return {
        "a": a,
        # Per regime, the obligations still owed (the rest are shown struck through).
        "in_force": {
            rid: set(remaining_obligations(r)) if r.in_force else set() for rid, r in a.regimes.items()
        },
        "headline": headline(a),
        "summary": summary(a),
        "questions": questions(a),
        "words": WORDS,
        "disclaimer": DISCLAIMER,
        "band_text": band_text,
    }


def _env() -> Environment:
    # The same settings as the dashboard's environment (web/templating.py), so that the shared
    # partials render the same markup in both.
    env = Environment(
        loader=PackageLoader(*TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["safe_url"] = safe_url
    return env


def assessment_html(a: Assessment) -> str:
    """The assessment as a standalone HTML page (the CLI's `--format html`)."""
    template = _env().get_template("assessment.html")
    return document(template.render(**context(a)))  # safe: packaged template
