"""Helpers of the grading tests: submission folders built from the catalogue, and the results.json schema."""

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SUBMISSIONS = Path(__file__).resolve().parent / "submissions"


def submission(tmp_path: Path, source: Path, target: str = "ex07_vit_forward.py", **placeholders) -> Path:
    """A submission folder holding ``source`` as ``target`` and the catalogue's learner module."""
    folder = tmp_path / f"sub_{source.stem}"
    folder.mkdir()
    text = source.read_text()
    for key, value in placeholders.items():
        text = text.replace(f"__{key}__", str(value))
    (folder / target).write_text(text)
    shutil.copy(SUBMISSIONS / "learner_vit.py", folder / "learner_vit.py")
    return folder


def assert_gradescope_schema(data: dict) -> None:
    """Gradescope's results.json: the fields this grader promises, with their types."""
    assert isinstance(data["score"], (int, float))
    assert isinstance(data["execution_time"], (int, float)) and data["execution_time"] >= 0
    assert isinstance(data["output"], str)
    assert data["visibility"] in ("hidden", "after_due_date", "after_published", "visible")
    assert data["stdout_visibility"] in ("hidden", "after_due_date", "after_published", "visible")
    assert isinstance(data["tests"], list) and data["tests"]
    for t in data["tests"]:
        assert set(t) >= {"name", "number", "score", "max_score", "status", "output", "visibility"}
        assert isinstance(t["name"], str) and isinstance(t["number"], str) and isinstance(t["output"], str)
        assert 0 <= t["score"] <= t["max_score"] or t["max_score"] == 0
        assert t["status"] in ("passed", "failed")
    assert abs(data["score"] - sum(t["score"] for t in data["tests"])) < 1e-6
