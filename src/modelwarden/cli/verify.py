"""`modelwarden verify PATH`: check a release's model signature and, optionally, a signed attestation
and a CEL policy over it, one line per check (docs/trust.md "Verifying").

Exit codes: 0 every check passed; 1 a check failed (tampering, another key, a policy condition that
is false or could not be evaluated); 2 the verification could not run (bad key file, a policy that
does not compile, the signing extra missing).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from modelwarden.cli import app, out
from modelwarden.cli._options import OUTPUT


class VerifyFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


@app.command()
def verify(
    path: Path = typer.Argument(..., help="Model folder or single file."),
    public_key: Path | None = typer.Option(
        None, "--public-key", help="The signer's public key (PEM), for key signatures."
    ),
    certificate_chain: list[Path] = typer.Option(
        [],
        "--certificate-chain",
        help="Trusted root (and intermediate) certificates (PEM; repeatable), for certificate signatures.",
    ),
    signature: Path | None = typer.Option(
        None, "--signature", help="The model signature (default: model.sig in the folder)."
    ),
    attestation: Path | None = typer.Option(
        None, "--attestation", help="A signed attestation of the release to check as well."
    ),
    policy: Path | None = typer.Option(
        None, "--policy", help="A policy file (CEL conditions) to check against the attestation."
    ),
    format: VerifyFormat = typer.Option(VerifyFormat.TEXT, "--format", "-f", help="text or json."),
    output: Path | None = OUTPUT,
) -> None:
    """Verify a release's signature, attestation and policy; exit 0 only when every check passes.

    Give exactly one of --public-key and --certificate-chain. A missing signature, a file changed,
    added or removed, a signature by another key, an attestation of other files, and a policy
    condition that is false or reads a missing field each fail (exit 1).
    """
    from modelwarden.errors import TrustFailed, UsageError
    from modelwarden.report.output import emit
    from modelwarden.trust import TrustAnchor
    from modelwarden.trust import verify as run
    from modelwarden.untrusted.text import markup

    if (public_key is None) == (not certificate_chain):
        raise UsageError("give exactly one of --public-key and --certificate-chain")
    anchor = TrustAnchor(public_key=public_key, certificate_chain=certificate_chain)
    report = run(path, anchor, signature=signature, attestation=attestation, policy=policy)
    if format is VerifyFormat.JSON:
        emit(report.model_dump_json(indent=2) + "\n", output)
    else:
        lines = [f"{'PASS' if c.passed else 'FAIL'}  {c.name}: {c.detail}" for c in report.checks]
        n_failed, total = len(report.failed()), len(report.checks)
        lines.append(
            f"PASS — all {total} check{'s' if total != 1 else ''} passed"
            if report.passed
            else f"FAIL — {n_failed} of {total} checks failed"
        )
        if output is not None:
            emit("\n".join(lines), output)
        else:
            for line in lines:
                style = "green" if line.startswith("PASS") else "bold red"
                word, rest = line[:4], line[4:]
                out.print(f"[{style}]{word}[/]{markup(rest)}", highlight=False)
    if not report.passed:
        failed = report.failed()
        raise TrustFailed(
            f"{len(failed)} of {len(report.checks)} checks failed: " + ", ".join(c.name for c in failed)
        )
