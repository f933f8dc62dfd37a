"""Chapter 12's sentences are asserts on the record: the chapter's cells run on the shipped record pass, and
on a record that measured something else (the models' results swapped, the CNN's curve flattened, the ViT
fitting every set or still gaining) one of its
hidden claim cells fails, so a re-run sweep that disagrees with the prose fails the build instead of
printing a false sentence.  The live re-run cell is left out here (the book build runs it)."""

import copy

import jupytext
import matplotlib
import pytest

from vit_lessons import experiments as X

matplotlib.use("Agg")
CHAPTER = X.Path(__file__).resolve().parents[1] / "book" / "12_data.md"


def code_cells() -> list[tuple[str, list[str]]]:
    """(source, tags) of the chapter's code cells, in order, without the live re-run."""
    nb = jupytext.read(CHAPTER)
    skip = ("X.check_point(", "time.perf_counter() - start")
    return [(c.source, c.metadata.get("tags", [])) for c in nb.cells
            if c.cell_type == "code" and not any(s in c.source for s in skip)]


def run_chapter(record: dict, monkeypatch) -> None:
    import matplotlib.pyplot as plt

    shipped = X.load_record
    monkeypatch.setattr(X, "load_record",
                        lambda name="data_scaling": copy.deepcopy(record) if name == "data_scaling" else shipped(name))
    monkeypatch.setattr(plt, "show", lambda *a, **k: plt.close("all"))
    namespace: dict = {}
    for source, _ in code_cells():
        exec(compile(source, str(CHAPTER), "exec"), namespace)


def test_the_claim_cells_are_hidden_and_assert():
    claims = [s for s, tags in code_cells() if "remove-input" in tags and "assert" in s]
    assert len(claims) >= 3


def test_the_chapter_runs_on_the_shipped_record(monkeypatch):
    run_chapter(X.load_record("data_scaling"), monkeypatch)


def swap_models(record: dict, a: str, b: str) -> dict:
    """The results of ``a`` and ``b`` exchanged."""
    out = copy.deepcopy(record)
    for r in out["results"]:
        if r["model"] in (a, b):
            r["model"] = b if r["model"] == a else a
    return out


def flatten(record: dict, model: str, key: str = "test_accuracy") -> dict:
    """Every size of ``model`` gets the ``key`` accuracies of its smallest size."""
    out = copy.deepcopy(record)
    small = min(r["size"] for r in out["results"] if r["model"] == model)
    first = {r["seed"]: r[key] for r in out["results"] if r["model"] == model and r["size"] == small}
    for r in out["results"]:
        if r["model"] == model:
            r[key] = first[r["seed"]]
    return out


def learns_like_the_cnn(record: dict, model: str) -> dict:
    """``model``'s held-out and training accuracies replaced by the CNN's at the same size and seed."""
    out = copy.deepcopy(record)
    cnn = {(r["size"], r["seed"]): r for r in out["results"] if r["model"] == "cnn"}
    for r in out["results"]:
        if r["model"] == model:
            r["test_accuracy"] = cnn[r["size"], r["seed"]]["test_accuracy"]
            r["train_accuracy"] = cnn[r["size"], r["seed"]]["train_accuracy"]
    return out


def vit_keeps_learning(record: dict) -> dict:
    """The ViT's largest size ten points better than measured."""
    out = copy.deepcopy(record)
    large = max(r["size"] for r in out["results"])
    for r in out["results"]:
        if r["model"] == "vit" and r["size"] == large:
            r["test_accuracy"] += 0.1
    return out


def cnn_underfits_the_smallest_set(record: dict) -> dict:
    """The CNN's training accuracy at the smallest size that of its held-out accuracy."""
    out = copy.deepcopy(record)
    small = min(r["size"] for r in out["results"])
    for r in out["results"]:
        if r["model"] == "cnn" and r["size"] == small:
            r["train_accuracy"] = r["test_accuracy"]
    return out


TAMPERED = {
    "vit-cnn-swapped": lambda r: swap_models(r, "vit", "cnn"),
    "cnn-flat": lambda r: flatten(r, "cnn"),
    "vit-learns": lambda r: learns_like_the_cnn(r, "vit"),
    "sincos-learns": lambda r: learns_like_the_cnn(r, "vit-sincos"),
    "vit-keeps-learning": vit_keeps_learning,
    "vit-fits-every-set": lambda r: flatten(r, "vit", "train_accuracy"),
    "cnn-underfits-the-smallest-set": cnn_underfits_the_smallest_set,
}


@pytest.mark.parametrize("name", sorted(TAMPERED))
def test_a_record_that_measured_something_else_fails_a_claim(monkeypatch, name):
    with pytest.raises(AssertionError):
        run_chapter(TAMPERED[name](X.load_record("data_scaling")), monkeypatch)
