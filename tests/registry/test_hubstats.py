"""The hub view's aggregation (registry/hubstats.py) on SQLite and on a real PostgreSQL server, over
real assessments recorded under hub repository ids: exact counts per organisation and threshold
(straddling bands, unknown compute, a forged "below" call), top N + others, filters, bounds, and a
cross-check against the stored documents themselves."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from typing import Any

import pytest

from modelwarden.model import Assessment, Severity, ThresholdCall
from modelwarden.registry import Registry
from modelwarden.registry.hubstats import LOCAL, OTHERS, SEVERITY_KEYS, hub_stats
from modelwarden.registry.summary import worst_severity
from tests.registry.factory import corpus, make_assessment
from tests.registry.hubcorpus import (
    EXPECTED,
    EXPECTED_DECADES,
    EXPECTED_LISTS,
    fill_hub,
    real_profiles,
    renamed,
)


@pytest.fixture(scope="module")
def profiles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Assessment]:
    return real_profiles(tmp_path_factory.mktemp("profiles"))


def _expected_group(org: str) -> dict[str, Any]:
    e = EXPECTED[org]
    return {
        "org": org,
        "models": e["models"],
        "organisations": 1,
        "compute_unknown": e["compute_unknown"],
        "thresholds": e["thresholds"],
        "mof": e["mof"],
        "severity": {k: e["severity"].get(k, 0) for k in SEVERITY_KEYS},
    }


def _without_time(group: Any) -> dict[str, Any]:
    data: dict[str, Any] = group.model_dump(exclude={"latest_recorded_at"})
    return data


def _sum(orgs: list[str], label: str) -> dict[str, Any]:
    groups = [_expected_group(o) for o in orgs]

    def add(key: str) -> dict[str, Any]:
        first = groups[0][key]
        if isinstance(first, dict) and isinstance(next(iter(first.values())), dict):
            return {t: {s: sum(g[key][t][s] for g in groups) for s in first[t]} for t in first}
        return {k: sum(g[key][k] for g in groups) for k in first}

    return {
        "org": label,
        "models": sum(g["models"] for g in groups),
        "organisations": len(groups),
        "compute_unknown": sum(g["compute_unknown"] for g in groups),
        "thresholds": add("thresholds"),
        "mof": add("mof"),
        "severity": add("severity"),
    }


def test_counts_per_organisation_and_threshold_are_exact(
    db_url: str, profiles: dict[str, Assessment]
) -> None:
    with Registry(db_url) as reg:
        ids = fill_hub(reg, profiles)
        view = hub_stats(reg.engine)
        latest = reg.summary(ids[-1]).recorded_at
    assert view.models == 11 and view.organisations == 4 and view.org is None
    assert view.latest_recorded_at == latest
    # Largest first, ties by name; every organisation shown, so nothing folded.
    assert [g.org for g in view.top] == ["alpha", "beta", LOCAL, "gamma"]
    assert view.others is None
    for group in view.top:
        assert _without_time(group) == _expected_group(group.org), group.org
    assert _without_time(view.totals) == _sum(list(EXPECTED), "(all)")
    assert {b.decade: b.count for b in view.compute} == EXPECTED_DECADES
    assert [b.decade for b in view.compute] == sorted(EXPECTED_DECADES)
    for lst in view.lists:
        assert [(m.name, m.status) for m in lst.models] == EXPECTED_LISTS[lst.threshold], lst.threshold
        assert lst.counts == view.totals.thresholds[lst.threshold] and not lst.truncated
    # The straddling band is listed with its real edges, not as above.
    straddle = next(m for m in view.lists[1].models if m.name == "alpha/straddle")
    assert straddle.flop_low is not None and straddle.flop_high is not None
    assert straddle.flop_low < 1e25 < straddle.flop_high and straddle.call is ThresholdCall.UNCERTAIN
    # The forged "clearly below" document keeps its forged call on show, but is not believed.
    liar = next(m for m in view.lists[2].models if m.name == "beta/liar")
    assert liar.call is ThresholdCall.CLEARLY_BELOW and liar.status == "straddles"


def test_only_the_latest_assessment_of_each_model_counts(
    db_url: str, profiles: dict[str, Assessment]
) -> None:
    with Registry(db_url) as reg:
        ids = fill_hub(reg, profiles)
        reg.delete(ids[1])  # alpha/frontier's 3e26 assessment: its older 1e21 one is the latest again
        view = hub_stats(reg.engine, org="alpha")
    alpha = view.top[0]
    assert alpha.models == 4
    assert alpha.thresholds["1e26"].model_dump() == {"above": 0, "straddles": 0, "below": 3, "unknown": 1}
    assert alpha.mof.class_3 == 0 and alpha.mof.no_class == 2
    assert [m.name for m in view.lists[2].models] == []


def test_filter_by_organisation(db_url: str, profiles: dict[str, Assessment]) -> None:
    near = profiles["stated_1e21"]
    with Registry(db_url) as reg:
        fill_hub(reg, profiles)
        # Names next to "beta/" in any order: none of them is beta's.
        for name in ("beta-2/x", "beta0/y", "Beta/z", "beta.x/w", "betax", "beta"):
            reg.save(renamed(near, name))
        beta = hub_stats(reg.engine, org="beta")
        local = hub_stats(reg.engine, org=LOCAL)
        nobody = hub_stats(reg.engine, org="nobody")
        # A filter value that looks like a name prefix selects nothing: organisations have no "/".
        prefix = hub_stats(reg.engine, org="beta/liar")
    assert beta.models == 4 and beta.organisations == 1 and [g.org for g in beta.top] == ["beta"]
    assert _without_time(beta.totals) == _expected_group("beta") | {"org": "beta"}
    assert {m.name for lst in beta.lists for m in lst.models} == {"beta/straddle", "beta/liar"}
    assert local.models == 4 and local.top[0].org == LOCAL  # with "betax" and "beta", names without "/"
    assert {m.name for m in local.lists[0].models} == {"local-release"}
    for empty in (nobody, prefix):
        assert empty.models == 0 and empty.organisations == 0 and empty.top == [] and empty.others is None
        assert empty.latest_recorded_at is None and empty.compute == []
        assert all(lst.models == [] for lst in empty.lists)


def test_organisations_beyond_the_top_are_folded_together(
    db_url: str, profiles: dict[str, Assessment]
) -> None:
    with Registry(db_url) as reg:
        fill_hub(reg, profiles)
        view = hub_stats(reg.engine, top=2)
    assert [g.org for g in view.top] == ["alpha", "beta"]
    assert view.others is not None
    assert _without_time(view.others) == _sum([LOCAL, "gamma"], OTHERS)


def test_output_is_bounded_whatever_the_number_of_organisations(
    db_url: str, profiles: dict[str, Assessment]
) -> None:
    base = profiles["stated_3e26"]
    many = [renamed(base, f"org{i:04d}/model") for i in range(400)]
    with Registry(db_url) as reg:
        reg.save_many(many)
        view = hub_stats(reg.engine, top=5, list_limit=7)
        huge = hub_stats(reg.engine, top=10**9, list_limit=10**9)  # clamped, not obeyed
    assert view.models == 400 and view.organisations == 400
    assert len(view.top) == 5 and [g.org for g in view.top] == [f"org{i:04d}" for i in range(5)]
    assert view.others is not None and view.others.organisations == 395 and view.others.models == 395
    assert all(len(lst.models) == 7 and lst.truncated for lst in view.lists)
    assert all(lst.counts.above == 400 for lst in view.lists)
    assert len(huge.top) == 50 and all(len(lst.models) == 400 and not lst.truncated for lst in huge.lists)


# ------------------------------------------------------------------------------- cross-check (oracle)


def _org(name: str) -> str:
    head, sep, _ = name.partition("/")
    return head if sep and head else LOCAL


def _status(a: Assessment, threshold: str) -> str:
    call = a.compute.thresholds.get(threshold)
    band = a.compute.training_flop
    if call is None or call is ThresholdCall.INSUFFICIENT_DATA:
        return "unknown"
    if call.crossed is False and band is not None and band.low > float(threshold):
        return "straddles"
    return {True: "above", False: "below", None: "straddles"}[call.crossed]


def _severity(a: Assessment) -> str:
    if a.scan is None:
        return "not_scanned"
    worst = worst_severity(a)
    return "none" if worst is None else Severity(worst).value


def _mof(a: Assessment) -> str:
    if a.openness is None:
        return "not_classified"
    c = a.openness.mof.class_
    return f"class_{c}" if c else "no_class"


def test_counts_agree_with_the_recorded_documents(db_url: str) -> None:
    rng = random.Random(20)
    records = corpus(11, 120) + [
        make_assessment(rng, name=f"solo-{i}", findings=0) for i in range(5)
    ]  # names without an organisation
    records += [r.model_copy(update={"scan": None, "openness": None}) for r in corpus(12, 10)]
    with Registry(db_url) as reg:
        reg.save_many(records)
        view = hub_stats(reg.engine, top=50)
        latest = [s.assessment for s in reg.iter_stored(latest=True)]
    by_org: dict[str, list[Assessment]] = defaultdict(list)
    for a in latest:
        by_org[_org(a.subject.name)].append(a)
    assert view.models == len(latest) and view.organisations == len(by_org) and view.others is None
    for group in view.top:
        docs = by_org[group.org]
        assert group.models == len(docs)
        for t, counts in group.thresholds.items():
            assert counts.model_dump() == {
                s: n
                for s, n in (
                    {"above": 0, "straddles": 0, "below": 0, "unknown": 0}
                    | Counter(_status(a, t) for a in docs)
                ).items()
            }, (group.org, t)
        assert group.severity.model_dump() == {k: 0 for k in SEVERITY_KEYS} | Counter(
            _severity(a) for a in docs
        )
        assert group.mof.model_dump() == {
            "class_1": 0,
            "class_2": 0,
            "class_3": 0,
            "no_class": 0,
            "not_classified": 0,
        } | Counter(_mof(a) for a in docs)
        assert group.compute_unknown == sum(a.compute.training_flop is None for a in docs)
    # Decade e holds [10^e, 10^(e+1)): compared with the same float powers of ten as the SQL.
    decades = Counter(
        next(e for e in range(40, -1, -1) if a.compute.training_flop.central >= 10.0**e)
        for a in latest
        if a.compute.training_flop
    )
    assert {b.decade: b.count for b in view.compute} == dict(decades)


def test_a_kept_view_follows_every_change(db_url: str, profiles: dict[str, Assessment]) -> None:
    with Registry(db_url) as reg:
        ids = fill_hub(reg, profiles)
        first = hub_stats(reg.engine)
        assert hub_stats(reg.engine) == first  # kept, and equal
        added = reg.save(renamed(profiles["stated_3e26"], "delta/new"))
        grown = hub_stats(reg.engine)
        assert grown.models == 12 and "delta" in [g.org for g in grown.top]
        reg.delete(added)
        assert hub_stats(reg.engine) == first
        # Delete the newest, record another: the same count, and on SQLite the same highest id
        # (a new row takes the id of a deleted last one) — the view must still change.
        reg.delete(ids[-1])
        again = reg.save(renamed(profiles["stated_3e26"], "delta/other"))
        if reg.dialect == "sqlite":
            assert again == ids[-1]
        after = hub_stats(reg.engine)
    assert after.models == first.models == 11
    assert {g.org: g.models for g in after.top}[LOCAL] == 1 and "delta" in [g.org for g in after.top]
