"""`modelwarden attest PATH`: assess a release and write a signed in-toto attestation of the
assessment whose subjects are its files (docs/trust.md "Attestations").

Exit codes: 0 written; 2 the key, the path or the assessment could not be used.
"""

from __future__ import annotations

from pathlib import Path

import typer

from modelwarden.cli import app, out
from modelwarden.cli._options import CERTIFICATE, CHAIN, KEY
from modelwarden.untrusted.text import markup


@app.command()
def attest(
    path: Path = typer.Argument(..., help="Model folder or single file."),
    key: Path = KEY,
    certificate: Path | None = CERTIFICATE,
    chain: list[Path] = CHAIN,
    attestation: Path | None = typer.Option(
        None, "--attestation", help="Where to write it (default: model.intoto.json in the folder)."
    ),
    signature: Path | None = typer.Option(
        None,
        "--signature",
        help="The model signature, when not model.sig in the folder (left out of the subjects).",
    ),
    as_of: str | None = typer.Option(None, "--as-of", help="Assess the law as of this date (YYYY-MM-DD)."),
) -> None:
    """Assess a release and sign the result as an in-toto Statement in a DSSE envelope.

    The subjects are the release's files with the SHA-256 digests the model signature covers; the
    predicate is the assessment's summary (scan verdict, openness, compute band, obligations, tool and
    rule-set versions, as-of date). Sign with the key that signs the model: `modelwarden verify
    --attestation` checks the attestation with the key the model signature was verified with.
    """
    import datetime as dt

    from modelwarden.errors import UsageError
    from modelwarden.trust import SigningKey, attest_release

    try:
        date = dt.date.fromisoformat(as_of) if as_of else None
    except ValueError:
        raise UsageError(f"--as-of {as_of!r} is not a date in the form YYYY-MM-DD") from None
    key_material = SigningKey(private_key=key, certificate=certificate, chain=chain)
    result = attest_release(path, key_material, attestation, as_of=date, signature=signature)
    out.print(
        f"attested {result.subjects} file{'' if result.subjects == 1 else 's'}: "
        f"{markup(str(result.attestation))}",
        highlight=False,
    )
