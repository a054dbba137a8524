"""`modelwarden sign PATH`: sign a release in the OpenSSF model-signing format (docs/trust.md).

Exit codes: 0 signed; 2 the key material or the path cannot be used, or the signing extra is missing.
"""

from __future__ import annotations

from pathlib import Path

import typer

from modelwarden.cli import app, out
from modelwarden.cli._options import CERTIFICATE, CHAIN, KEY
from modelwarden.untrusted.text import markup


@app.command()
def sign(
    path: Path = typer.Argument(..., help="Model folder or single file."),
    key: Path = KEY,
    certificate: Path | None = CERTIFICATE,
    chain: list[Path] = CHAIN,
    signature: Path | None = typer.Option(
        None, "--signature", help="Where to write the signature (default: model.sig in the folder)."
    ),
) -> None:
    """Sign a release's files with a private key or certificate (OpenSSF model signing, offline).

    The signature (a Sigstore bundle, model_signing's format) covers every file with its SHA-256,
    except the signature itself, model.intoto.json and git metadata. `model_signing verify key|certificate`
    verifies it, and `modelwarden verify` verifies what `model_signing sign` writes. Keyless Sigstore
    signing needs the network: use the model_signing tool (docs/trust.md "Keyless signing").
    """
    from modelwarden.trust import SigningKey, sign_model

    result = sign_model(path, SigningKey(private_key=key, certificate=certificate, chain=chain), signature)
    out.print(
        f"signed {result.files} file{'' if result.files == 1 else 's'} by {result.method}: "
        f"{markup(str(result.signature))}",
        highlight=False,
    )
