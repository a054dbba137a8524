"""HTML renderings, through Jinja2 with autoescaping (model names and card text are untrusted) and
only our own packaged templates (never a template from a model).

`assessment.html` is the standalone page of `assess --format html`; its body,
`_assessment_body.html`, is the same markup the web dashboard's assessment page includes
(web/templates/report.html), so the two show an assessment's conclusions identically.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from modelwarden.model import Assessment
from modelwarden.report.assess import DISCLAIMER, WORDS, band_text, headline, questions, summary
from modelwarden.untrusted.text import document

TEMPLATES = ("modelwarden.report", "templates")


def context(a: Assessment) -> dict[str, Any]:
    """What the assessment templates read (the standalone page and the dashboard's include)."""
    return {
        "a": a,
        "headline": headline(a),
        "summary": summary(a),
        "questions": questions(a),
        "words": WORDS,
        "disclaimer": DISCLAIMER,
        "band_text": band_text,
    }


def _env() -> Environment:
    return Environment(
        loader=PackageLoader(*TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
    )


def assessment_html(a: Assessment) -> str:
    """The assessment as a standalone HTML page (the CLI's `--format html`)."""
    template = _env().get_template("assessment.html")
    return document(template.render(**context(a)))  # safe: packaged template
