"""`modelwarden tiers`: show and check the gateway's tier definitions."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from modelwarden.cli import _gateway_common as c
from modelwarden.cli import app, out
from modelwarden.untrusted.text import markup, text

if TYPE_CHECKING:
    from modelwarden.gateway.tiers import TierSet

tiers_app = typer.Typer(help="Gateway tiers (data/tiers.yaml or the file named in gateway.yaml).")
app.add_typer(tiers_app, name="tiers")


def _tiers(config: Path | None, file: Path | None) -> TierSet:
    from modelwarden.gateway.config import load_config
    from modelwarden.gateway.tiers import load_tiers

    if file is not None:
        return load_tiers(file)
    return load_tiers(load_config(config).tiers)


@tiers_app.command("list")
def list_(
    file: Path | None = typer.Option(None, "--file", help="A tiers YAML file instead of the configured one."),
    config: Path | None = c.ConfigOpt,
    as_json: bool = c.JsonOpt,
) -> None:
    """One line per tier: requirements, caps and limits."""
    ts = _tiers(config, file)
    if as_json:
        c.emit_json(ts.model_dump(mode="json"))
        return
    c.table(
        "tiers" + f" (default: {ts.default_tier})",
        ["tier", "requires", "fallback", "models", "max_tokens", "rpm", "tpm", "daily", "stream", "logs"],
        [
            [
                t.name,
                t.requires.verification + (" + agreement" if t.requires.agreement else ""),
                t.fallback,
                " ".join(t.models),
                t.max_tokens_cap,
                t.rpm or "∞",
                t.tpm or "∞",
                t.daily_tokens or "∞",
                "yes" if t.stream_allowed else "no",
                t.log_level,
            ]
            for t in ts.tiers.values()
        ],
    )


@tiers_app.command("show")
def show(
    name: str = typer.Argument(..., help="Tier name (see `tiers list`)."),
    file: Path | None = typer.Option(None, "--file", help="A tiers YAML file instead of the configured one."),
    config: Path | None = c.ConfigOpt,
    as_json: bool = c.JsonOpt,
) -> None:
    """A tier's moderation policy per hazard category and its escalation ladder."""
    from modelwarden.gateway.hazards import codes

    ts = _tiers(config, file)
    if name not in ts.tiers:
        raise typer.BadParameter(f"no tier {name!r}; tiers: {', '.join(ts.tiers)}")
    t = ts.tiers[name]
    if as_json:
        c.emit_json(t.model_dump(mode="json"))
        return
    rows = []
    for code in codes():
        p = t.moderation.for_code(code)
        rows.append([code, p.action, f"{p.threshold:g}", p.fail])
    c.table(f"{name}: moderation", ["code", "action", "threshold", "fail"], rows)
    esc = t.escalation
    line = (
        f"escalation: half-life {esc.half_life_hours:g} h, strike weights block {esc.weights.block:g} / "
        f"flag {esc.weights.flag:g}; ladder "
        + ", ".join(
            f"{s.action} at {s.at:g}"
            + (f" (×{s.factor:g} for {s.hours:g} h)" if s.action == "throttle" else "")
            for s in esc.ladder
        )
        + f"; automatic suspension only for {', '.join(esc.auto_suspend_categories) or 'nothing'}"
    )
    out.print(text(line))


@tiers_app.command("check")
def check(file: Path = typer.Argument(..., help="A tiers YAML file.")) -> None:
    """Validate a tiers file; print advisories (e.g. a tier that does not block S4 or S9)."""
    from modelwarden.gateway.tiers import load_tiers

    ts = load_tiers(file)
    for w in ts.warnings():
        c.note(f"[yellow]advisory:[/] {markup(w)}")
    out.print(text(f"{file}: {len(ts.tiers)} tiers OK ({', '.join(ts.tiers)})"))
