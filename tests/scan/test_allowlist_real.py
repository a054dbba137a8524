"""False positives of the exact allowlist on real benign pickles, built with the real libraries.

Every artifact is written the way its library writes it (pickle.dumps, joblib.dump, torch.save) from
tiny fitted models, and only dumped, never loaded. The claim measured: none of them gets a finding at or
above medium (the default gate), so the exact allowlist keeps legitimate scikit-learn, XGBoost, LightGBM,
PyTorch and transformers-Trainer files passing while anything off the list is high.
"""

from __future__ import annotations

import pickle
import random
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch

from modelwarden.model import Severity
from modelwarden.scan import scan_paths

sklearn = pytest.importorskip("sklearn")
xgboost = pytest.importorskip("xgboost")
lightgbm = pytest.importorskip("lightgbm")


def _sklearn_models() -> Iterator[tuple[str, object]]:
    from sklearn import (
        calibration,
        cluster,
        compose,
        decomposition,
        discriminant_analysis,
        ensemble,
        feature_extraction,
        feature_selection,
        gaussian_process,
        impute,
        isotonic,
        kernel_approximation,
        linear_model,
        mixture,
        naive_bayes,
        neighbors,
        neural_network,
        pipeline,
        preprocessing,
        svm,
        tree,
    )

    rng = np.random.RandomState(0)
    x = rng.rand(60, 4)
    y = (x[:, 0] > 0.5).astype(int)
    yr = x[:, 1] * 3.0
    classifiers = [
        ensemble.RandomForestClassifier(n_estimators=3, random_state=0),
        ensemble.ExtraTreesClassifier(n_estimators=3, random_state=0),
        ensemble.GradientBoostingClassifier(n_estimators=3),
        ensemble.HistGradientBoostingClassifier(max_iter=3),
        ensemble.AdaBoostClassifier(n_estimators=3),
        ensemble.BaggingClassifier(n_estimators=2),
        ensemble.VotingClassifier(
            [("lr", linear_model.LogisticRegression()), ("nb", naive_bayes.GaussianNB())]
        ),
        linear_model.LogisticRegression(),
        linear_model.SGDClassifier(),
        linear_model.Perceptron(),
        tree.DecisionTreeClassifier(),
        svm.SVC(probability=True),
        svm.LinearSVC(),
        neighbors.KNeighborsClassifier(algorithm="kd_tree"),
        neighbors.KNeighborsClassifier(algorithm="ball_tree"),
        naive_bayes.GaussianNB(),
        neural_network.MLPClassifier(max_iter=5),
        discriminant_analysis.LinearDiscriminantAnalysis(),
        calibration.CalibratedClassifierCV(linear_model.LogisticRegression(), cv=2),
        pipeline.make_pipeline(preprocessing.StandardScaler(), linear_model.LogisticRegression()),
        pipeline.make_pipeline(feature_selection.SelectKBest(feature_selection.f_classif, k=2), svm.SVC()),
    ]
    regressors = [
        ensemble.RandomForestRegressor(n_estimators=3),
        ensemble.HistGradientBoostingRegressor(max_iter=3),
        ensemble.IsolationForest(n_estimators=3),
        linear_model.Ridge(),
        linear_model.Lasso(),
        linear_model.ElasticNet(),
        tree.DecisionTreeRegressor(),
        svm.SVR(),
        neighbors.KNeighborsRegressor(),
        gaussian_process.GaussianProcessRegressor(),
    ]
    unsupervised = [
        cluster.KMeans(n_clusters=2, n_init=1),
        cluster.MiniBatchKMeans(n_clusters=2, n_init=1),
        decomposition.PCA(2),
        decomposition.TruncatedSVD(2),
        mixture.GaussianMixture(2),
        kernel_approximation.RBFSampler(),
        preprocessing.StandardScaler(),
        preprocessing.MinMaxScaler(),
        preprocessing.OneHotEncoder(),
        preprocessing.PolynomialFeatures(),
        impute.SimpleImputer(),
        compose.ColumnTransformer([("s", preprocessing.StandardScaler(), [0, 1])], remainder="passthrough"),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for m in classifiers:
            yield type(m).__name__, m.fit(x, y)
        for m in regressors:
            yield type(m).__name__, m.fit(x, yr)
        for m in unsupervised:
            yield type(m).__name__, m.fit(x)
        yield "IsotonicRegression", isotonic.IsotonicRegression().fit(x[:, 0], yr)
        yield "LabelEncoder", preprocessing.LabelEncoder().fit(y)
        texts = ["a model card", "weights and biases", "a tokenizer file", "model weights"]
        yield "TfidfVectorizer", feature_extraction.text.TfidfVectorizer().fit(texts)
        yield "XGBClassifier", xgboost.XGBClassifier(n_estimators=2).fit(x, y)
        yield "XGBRegressor", xgboost.XGBRegressor(n_estimators=2).fit(x, yr)
        booster = xgboost.train({}, xgboost.DMatrix(x, label=y), num_boost_round=2)
        yield "xgboost.Booster", booster
        yield "LGBMClassifier", lightgbm.LGBMClassifier(n_estimators=2, verbose=-1).fit(x, y)
        lgb = lightgbm.LGBMRegressor(n_estimators=2, verbose=-1).fit(x, yr)
        yield "LGBMRegressor", lgb
        yield "lightgbm.Booster", lgb.booster_


def _torch_objects() -> Iterator[tuple[str, object]]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3),
        torch.nn.BatchNorm2d(2),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(8, 4),
        torch.nn.LayerNorm(4),
        torch.nn.Dropout(0.1),
        torch.nn.GELU(),
    )
    yield "whole model", model
    yield "transformer layer", torch.nn.TransformerEncoderLayer(8, 2, 16)
    yield "lstm", torch.nn.LSTM(4, 4)
    yield "embedding", torch.nn.Embedding(10, 4)
    yield "state_dict", model.state_dict()
    for opt_cls in (torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD):
        opt = opt_cls(model.parameters(), lr=0.01)
        model(torch.rand(1, 1, 4, 4)).sum().backward()
        opt.step()
        yield f"{opt_cls.__name__} state", opt.state_dict()
        yield f"{opt_cls.__name__} object", opt
    sched = torch.optim.lr_scheduler.StepLR(opt, 2)
    yield "scheduler state", sched.state_dict()
    yield "cosine scheduler", torch.optim.lr_scheduler.CosineAnnealingLR(opt, 10).state_dict()
    yield "grad scaler", torch.amp.GradScaler("cpu").state_dict()
    # transformers' Trainer rng_state.pth
    yield (
        "rng state",
        {
            "python": random.getstate(),
            "numpy": np.random.get_state(),
            "cpu": torch.random.get_rng_state(),
        },
    )


def _trainer_objects(tmp_path: Path) -> Iterator[tuple[str, object]]:
    transformers = pytest.importorskip("transformers")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield "training_args", transformers.TrainingArguments(output_dir=str(tmp_path / "out"), report_to=[])
        yield (
            "seq2seq training_args",
            transformers.Seq2SeqTrainingArguments(output_dir=str(tmp_path / "out2"), report_to=[]),
        )
        yield "generation config", transformers.GenerationConfig(max_new_tokens=8)


Writer = Callable[[object, Path], None]


def _pickle(protocol: int) -> Writer:
    def write(obj: object, path: Path) -> None:
        path.write_bytes(pickle.dumps(obj, protocol=protocol))

    return write


def _joblib(compress: int) -> Writer:
    def write(obj: object, path: Path) -> None:
        joblib.dump(obj, path, compress=compress)

    return write


def _torch_save(obj: object, path: Path) -> None:
    torch.save(obj, path)


def _torch_save_legacy(obj: object, path: Path) -> None:
    torch.save(obj, path, _use_new_zipfile_serialization=False)


def build_benign(tmp_path: Path) -> list[Path]:
    """Write every benign artifact; returns their paths (names say library, object and writer)."""
    paths: list[Path] = []

    def emit(label: str, obj: object, writers: dict[str, Writer]) -> None:
        for how, write in writers.items():
            path = tmp_path / f"{label.replace(' ', '_')}.{how}"
            write(obj, path)
            paths.append(path)

    model_writers = {"p2.pkl": _pickle(2), "p4.pkl": _pickle(4), "p5.pkl": _pickle(5), "joblib": _joblib(0),
                     "z3.joblib": _joblib(3)}  # fmt: skip
    for label, obj in _sklearn_models():
        emit("sklearn_" + label, obj, model_writers)
    torch_writers = {"pt": _torch_save, "legacy.pt": _torch_save_legacy}
    for label, obj in _torch_objects():
        emit("torch_" + label, obj, torch_writers)
    for label, obj in _trainer_objects(tmp_path):
        emit("trainer_" + label, obj, {"bin": _torch_save, "p2.pkl": _pickle(2)})
    return paths


@pytest.fixture(scope="module")
def benign(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return build_benign(tmp_path_factory.mktemp("benign-real"))


def test_real_benign_pickles_have_no_finding_at_or_above_medium(benign: list[Path]) -> None:
    assert len(benign) >= 250  # the measurement is only worth its breadth
    noisy: dict[str, list[tuple[str, str, str | None]]] = {}
    for path in benign:
        report = scan_paths([path], hash_files=False)
        over = report.at_or_above(Severity.MEDIUM)
        if over or report.problems:
            noisy[path.name] = [(f.rule_id, f.severity.value, f.evidence) for f in over]
    assert not noisy, f"{len(noisy)} false positives of {len(benign)}: {noisy}"


def test_library_objects_are_named_at_low(benign: list[Path]) -> None:
    # A pickled model is not silent: its classes are reported (low), by their exact import path.
    path = next(p for p in benign if p.name == "sklearn_RandomForestClassifier.p4.pkl")
    report = scan_paths([path], hash_files=False)
    names = {f.evidence for f in report.findings if f.rule_id == "pickle.library-class"}
    assert "sklearn.ensemble._forest.RandomForestClassifier" in names
    assert "sklearn.tree._tree.Tree" in names
