"""Realistic, varied `Assessment` records built from the typed contract, for registry and web tests
and for `benchmarks/registry_bench.py`.

The shapes follow the stage contracts (issues inspect, scan, openness, assess): MOF component ids,
threshold keys "1e23"/"1e25"/"1e26", regime ids and obligation ids with citations. `hostile=True`
puts script tags, attribute-breaking quotes and `javascript:` links into every string a page shows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from typing import Any

from modelwarden.model import (
    ArtifactFormat,
    ArtifactInfo,
    Assessment,
    Band,
    CardInfo,
    Citation,
    Classification,
    ComponentEvidence,
    ComputeEstimate,
    EosaiScores,
    EuFossVerdict,
    Evidence,
    Exemption,
    Fact,
    Finding,
    LicenseFile,
    LicenseInfo,
    Location,
    ModelFacts,
    MofVerdict,
    Obligation,
    OpennessReport,
    OsaidVerdict,
    ParameterCount,
    Provenance,
    RegimeResult,
    ScannedFile,
    ScanReport,
    Severity,
    Source,
    Subject,
    ThresholdCall,
    TraceStep,
    YesNoReview,
)

HOSTILE = [
    "<script>alert('xss')</script>",
    '"><img src=x onerror=alert(1)>',
    "' onmouseover='alert(2)",
    "javascript:alert(3)",
    "</td></tr></table><svg onload=alert(4)>",
    "{{ 7*7 }}{% raw %}",
    '=HYPERLINK("http://evil")',
]

COMPONENTS = [
    "model_architecture",
    "model_parameters_final",
    "model_parameters_intermediate",
    "model_metadata",
    "datasets",
    "data_preprocessing_code",
    "training_code",
    "inference_code",
    "evaluation_code",
    "evaluation_data",
    "evaluation_results",
    "supporting_libraries",
    "model_card",
    "data_card",
    "technical_report",
    "research_paper",
    "sample_outputs",
]

LICENCES = [
    ("apache-2.0", YesNoReview.YES, True),
    ("mit", YesNoReview.YES, True),
    ("llama3.1", YesNoReview.NO, False),
    ("cc-by-nc-4.0", YesNoReview.NO, False),
    ("openrail++", YesNoReview.NEEDS_REVIEW, False),
    ("gemma", YesNoReview.NO, False),
    ("other", YesNoReview.NEEDS_REVIEW, False),
]

FAMILIES = [
    # (org, base name, parameter sizes (billions), moe active fraction or None)
    ("meta-llama", "Llama-3.1", [8, 70, 405], None),
    ("mistralai", "Mixtral", [47, 141], 0.28),
    ("Qwen", "Qwen3", [0.6, 4, 8, 32, 235], None),
    ("deepseek-ai", "DeepSeek-V3", [671], 0.055),
    ("sentence-transformers", "all-MiniLM", [0.0227], None),
    ("allenai", "OLMo-2", [1, 7, 13, 32], None),
    ("acme-lab", "tiny-llama-test", [0.001, 0.01], None),
]

THRESHOLD_VALUES = {"1e23": 1e23, "1e25": 1e25, "1e26": 1e26}


def _prov(
    source: Source,
    file: str | None = None,
    field: str | None = None,
    quote: str | None = None,
    note: str | None = None,
) -> Provenance:
    return Provenance(source=source, file=file, field=field, quote=quote, note=note)


def threshold_call(band: Band | None, limit: float) -> ThresholdCall:
    """The call a band makes against a threshold (a plausible stand-in for the assess stage)."""
    if band is None:
        return ThresholdCall.INSUFFICIENT_DATA
    if band.high < limit * 0.7:
        return ThresholdCall.CLEARLY_BELOW
    if band.low > limit * 1.3:
        return ThresholdCall.CLEARLY_ABOVE
    if band.high <= limit:
        return ThresholdCall.NEAR_BELOW
    if band.low > limit:
        return ThresholdCall.NEAR_ABOVE
    return ThresholdCall.UNCERTAIN


def _cite(instrument: str, article: str, url: str | None) -> Citation:
    return Citation(instrument=instrument, article=article, url=url)


EU = "Regulation (EU) 2024/1689 (AI Act)"
EU_URL = "https://eur-lex.europa.eu/eli/reg/2024/1689/oj"


def _regimes(
    rng: random.Random, calls: dict[str, ThresholdCall], foss: YesNoReview, as_of: dt.date, evil: str
) -> dict[str, RegimeResult]:
    above_25 = calls["1e25"] in (ThresholdCall.NEAR_ABOVE, ThresholdCall.CLEARLY_ABOVE)
    above_26 = calls["1e26"] in (ThresholdCall.NEAR_ABOVE, ThresholdCall.CLEARLY_ABOVE)
    gpai = calls["1e23"] in (ThresholdCall.NEAR_ABOVE, ThresholdCall.CLEARLY_ABOVE, ThresholdCall.UNCERTAIN)
    regimes: dict[str, RegimeResult] = {}

    eu_in_force = as_of >= dt.date(2025, 8, 2)
    obligations: list[Obligation] = []
    exemptions: list[Exemption] = []
    if gpai:
        for oid, letter in (
            ("eu.art53.1a", "a"),
            ("eu.art53.1b", "b"),
            ("eu.art53.1c", "c"),
            ("eu.art53.1d", "d"),
        ):
            obligations.append(
                Obligation(
                    id=oid,
                    title=f"Art. 53(1)({letter}) duty{evil}",
                    citation=_cite(EU, f"Art. 53(1)({letter})", EU_URL),
                    applies_from=dt.date(2025, 8, 2),
                    deadline="2027-08-02" if rng.random() < 0.3 else None,
                )
            )
        if above_25:
            obligations.append(
                Obligation(
                    id="eu.art52.1",
                    title="Notify the Commission",
                    citation=_cite(EU, "Art. 52(1)", EU_URL),
                    deadline="within 2 weeks of the threshold being met or foreseeable",
                )
            )
            obligations.append(
                Obligation(id="eu.art55", title="Systemic-risk duties", citation=_cite(EU, "Art. 55", EU_URL))
            )
        elif foss is YesNoReview.YES:
            exemptions.append(
                Exemption(
                    id="eu.art53.2",
                    title="Free and open-source licence exemption",
                    citation=_cite(EU, "Art. 53(2)", EU_URL),
                    removes=["eu.art53.1a", "eu.art53.1b"],
                )
            )
    regimes["eu_ai_act"] = RegimeResult(
        id="eu_ai_act",
        instrument=EU,
        in_force=eu_in_force,
        classification={
            "gpai_model": Classification.YES if gpai else Classification.NO,
            "systemic_risk": Classification.YES if above_25 else Classification.NO,
            "open_source_exemption": {
                YesNoReview.YES: Classification.YES,
                YesNoReview.NO: Classification.NO,
                YesNoReview.NEEDS_REVIEW: Classification.NEEDS_REVIEW,
            }[foss],
        },
        obligations=obligations,
        exemptions=exemptions,
        trace=[
            TraceStep(
                rule="eu.gpai",
                expression="compute.training_flop.central > 1e23",
                result=str(gpai).lower(),
                explanation=f"GPAI indicator (Guidelines §2.1 para 17){evil}",
            )
        ],
        needs_review=(
            ["Are the licence's use restrictions narrow safety-oriented restrictions (Art. 53(2))?"]
            if foss is YesNoReview.NEEDS_REVIEW
            else []
        ),
    )
    ca_in_force = as_of >= dt.date(2026, 1, 1)
    regimes["us_ca_sb53"] = RegimeResult(
        id="us_ca_sb53",
        instrument="California SB 53 (Transparency in Frontier AI Act)",
        in_force=ca_in_force,
        classification={
            "frontier_model": Classification.YES if above_26 else Classification.NO,
            "large_frontier_developer": Classification.INSUFFICIENT_DATA,
        },
        obligations=(
            [
                Obligation(
                    id="ca.sb53.transparency_report",
                    title="Publish a transparency report",
                    citation=_cite("Cal. Bus. & Prof. Code", "§22757.12(c)", None),
                )
            ]
            if above_26
            else []
        ),
    )
    regimes["us_eo_14110"] = RegimeResult(
        id="us_eo_14110",
        instrument="Executive Order 14110",
        in_force=dt.date(2023, 10, 30) <= as_of < dt.date(2025, 1, 20),
        classification={"reporting_required": Classification.YES if above_26 else Classification.NO},
    )
    regimes["kr_ai_basic_act"] = RegimeResult(
        id="kr_ai_basic_act",
        instrument="Korea AI Basic Act",
        in_force=as_of >= dt.date(2026, 1, 22),
        classification={
            "high_performance_ai": Classification.NEEDS_REVIEW if above_26 else Classification.NO,
        },
        obligations=(
            [
                Obligation(
                    id="kr.art32",
                    title="Risk management for high-performance AI",
                    citation=_cite("AI Basic Act", "Art. 32", None),
                )
            ]
            if above_26
            else []
        ),
        needs_review=["Does the model pose broad, serious risk to life, safety or rights?"]
        if above_26
        else [],
    )
    return regimes


def make_assessment(
    rng: random.Random,
    *,
    name: str | None = None,
    version: str | None = None,
    hostile: bool = False,
    hostile_text: str | None = None,
    findings: int | None = None,
    as_of: dt.date | None = None,
    with_tensors: int = 0,
) -> Assessment:
    """One realistic assessment; every choice comes from `rng`, so a seed gives the same record."""
    org, base, sizes, moe = rng.choice(FAMILIES)
    size_b = rng.choice(sizes)
    evil = " " + (hostile_text or rng.choice(HOSTILE)) if hostile else ""
    if name is None:
        suffix = rng.choice(["", "-Instruct", "-Base", "-GPTQ", "-FP8"])
        name = f"{org}/{base}-{size_b:g}B{suffix}"
        if hostile:
            name += evil
    total = int(size_b * 1e9) + rng.randrange(1_000_000)
    active = int(total * moe) if moe else None
    tokens = rng.choice([1e9, 3e11, 2e12, 1.5e13, 3.6e13]) if rng.random() < 0.9 else None
    flop_params = active or total
    band = None
    if tokens is not None:
        central = 6 * flop_params * tokens
        band = Band(low=central * 0.7, central=central, high=central * 1.4)
    calls = {k: threshold_call(band, v) for k, v in THRESHOLD_VALUES.items()}
    lic_id, foss, lic_open = rng.choice(LICENCES)
    if hostile:
        lic_id = f"other{evil}"
    as_of = as_of or dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(1100))
    created = dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=rng.randrange(30_000_000))
    shards = rng.randint(1, 4)
    files: list[ArtifactInfo] = []
    hashes: dict[str, str] = {}
    for i in range(shards):
        path = f"model-{i + 1:05d}-of-{shards:05d}.safetensors" if shards > 1 else "model.safetensors"
        if hostile and i == 0:
            path = f"weights{evil}.safetensors"
        sha = hashlib.sha256(f"{name}{version}{i}{rng.random()}".encode("utf-8", "replace")).hexdigest()
        hashes[path] = sha
        files.append(
            ArtifactInfo(
                path=path,
                format=ArtifactFormat.SAFETENSORS,
                size=total * 2 // shards,
                sha256=sha,
            )
        )
    files.append(ArtifactInfo(path="config.json", format=ArtifactFormat.JSON, size=700))
    if with_tensors:
        from modelwarden.model import TensorInfo

        files[0].tensors = [
            TensorInfo(
                name=f"model.layers.{j}.mlp.up_proj.weight",
                dtype="BF16",
                shape=(4096, 14336),
                parameters=4096 * 14336,
                component="layers",
            )
            for j in range(with_tensors)
        ]
    card_links = ["https://huggingface.co/" + name.split(" ")[0], "https://arxiv.org/abs/2407.21783"]
    if hostile:
        card_links += ["javascript:alert(document.cookie)", 'https://ok.example/"onmouseover="alert(5)']
    facts = ModelFacts(
        name=name,
        root=f"/models/{name}",
        layout=rng.choice(["hf_snapshot", "folder", "sentence_transformers"]),  # type: ignore[arg-type]
        revision=version,
        files=files,
        parameters=ParameterCount(
            total=total,
            active=active,
            source="tensors",
            config_total=total,
            breakdown={
                "embedding": total // 20,
                "layers": total - total // 10,
                "head": total // 20 + total % 20,
            },
            provenance=_prov(Source.TENSORS, note="sum of tensor shapes"),
        ),
        architecture=Fact[str](
            value=("LlamaForCausalLM" if not hostile else f"LlamaForCausalLM{evil}"),
            provenance=_prov(Source.CONFIG, "config.json", "architectures[0]"),
        ),
        model_type=Fact[str](value="llama", provenance=_prov(Source.CONFIG, "config.json", "model_type")),
        context_length=Fact[int](
            value=rng.choice([512, 8192, 131072]),
            provenance=_prov(Source.CONFIG, "config.json", "max_position_embeddings"),
        ),
        license=LicenseInfo(
            id=lic_id,
            link=("javascript:alert('licence')" if hostile else f"https://example.org/licences/{lic_id}"),
            provenance=_prov(Source.CARD, "README.md", "license", quote=f"license: {lic_id}"),
        ),
        license_files=[
            LicenseFile(path="LICENSE", kind="license", identified_as=lic_id, method="fingerprint")
        ],
        datasets=[
            Fact[str](
                value=f"HuggingFaceFW/fineweb{evil}",
                provenance=_prov(Source.CARD, "README.md", "datasets", quote=f"trained on fineweb{evil}"),
            )
        ],
        card=CardInfo(
            path="README.md",
            metadata={"license": lic_id, "tags": ["text-generation", *([evil.strip()] if hostile else [])]},
            links=card_links,
            text_chars=rng.randrange(100, 20_000),
        ),
    )
    n_findings = findings if findings is not None else rng.choice([0, 0, 0, 0, 1, 2, 5])
    severities = list(Severity)
    scan = ScanReport(
        files=[ScannedFile(path=f.path, format=f.format, size=f.size, sha256=f.sha256) for f in files],
        findings=[
            Finding(
                rule_id=rng.choice(
                    ["pickle.dangerous-import", "pickle.unknown-import", "folder.remote-code"]
                ),
                severity=rng.choice(severities),
                file=rng.choice(files).path,
                location=Location(entry="archive/data.pkl", opcode_index=rng.randrange(100)),
                message=f"imports a callable that runs code{evil}",
                evidence=rng.choice(["os.system", "builtins.eval", "subprocess.Popen"]) + evil,
            )
            for _ in range(n_findings)
        ],
    )
    components: dict[str, ComponentEvidence] = {}
    for comp in COMPONENTS:
        present = (
            comp in ("model_architecture", "model_parameters_final", "model_card") or rng.random() < 0.35
        )
        components[comp] = ComponentEvidence(
            present=present,
            evidence=(
                [Evidence(description=f"found {comp}{evil}", provenance=_prov(Source.FILE, "README.md"))]
                if present
                else []
            ),
            licence=lic_id if present else None,
            open=(lic_open if present else None),
        )
    mof_class = rng.choice([None, None, 3, 2, 1]) if lic_open else None
    openness = OpennessReport(
        components=components,
        mof=MofVerdict(class_=mof_class, progress={"3": 1.0 if mof_class else 0.5, "2": 0.4, "1": 0.1}),
        osaid=OsaidVerdict(
            pass_=lic_open and rng.random() < 0.3, failing=[] if lic_open else ["weights licence"]
        ),
        eu_foss_licence=EuFossVerdict(verdict=foss, reasons=[f"licence {lic_id}"]),
        eosai=EosaiScores(scores={"weights": 1.0, "code": 0.5}, mean=0.75),
        release_level=rng.choice(["downloadable", "fully_open", None]),
    )
    compute = ComputeEstimate(
        training_flop=band,
        cumulative_flop=band,
        method="operation_count" if band else "insufficient_data",
        thresholds=dict(calls),
        warnings=[] if band else ["no token count: compute cannot be estimated"],
        assumptions=(
            [
                Fact[str](
                    value=f"{tokens:.3g} tokens",
                    provenance=_prov(Source.MANIFEST, "modelwarden.yaml", "training.tokens"),
                )
            ]
            if tokens
            else []
        ),
    )
    return Assessment(
        subject=Subject(name=name, version=version, root=facts.root, file_hashes=hashes),
        as_of=as_of,
        created_at=created,
        tool_version="0.1.0",
        ruleset_version=rng.choice(["2026.11", "2026.10"]),
        facts=facts,
        scan=scan,
        openness=openness,
        compute=compute,
        regimes=_regimes(rng, calls, foss, as_of, evil),
    )


def corpus(seed: int, count: int, **kwargs: Any) -> list[Assessment]:
    rng = random.Random(seed)
    return [make_assessment(rng, **kwargs) for _ in range(count)]
