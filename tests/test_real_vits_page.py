"""The "Real ViTs" page (book/09b_real_vits.md) executed in both of its states, without downloading anything.

With the weights: a temporary Hugging Face cache holds small random models saved by transformers under
the real names (google/vit-base-patch16-224, facebook/dino-vits16), with those checkpoints' image
preprocessing, and the page runs every real-model section on them: load_hf, the comparison with
Hugging Face, the maps, two explorers.  Without them: an empty cache, and the page says what it needs
and how to fetch it, and shows no real-model figure.  (The full book build, tests/test_book.py, builds the
page in whatever state this machine's cache is in.)
"""

from __future__ import annotations

import os

import jupytext
import pytest
from nbclient import NotebookClient

import vit_lessons as V

from .hf_helpers import PROCESSOR_DINO, PROCESSOR_VIT_B16, cache_as_hub, save_random_hf
from .test_book import REPO

PAGE = REPO / "book" / "09b_real_vits.md"
FETCH = "python -m vit_lessons.convert fetch google/vit-base-patch16-224 facebook/dino-vits16"
# the real models' shapes where it matters to the page (224 x 224, patches of 16, a thousand classes, DINO
# without a head), narrow and shallow so that the page runs in seconds
VIT_B16_LIKE = V.ViTConfig(image_size=224, patch_size=16, d_model=48, num_heads=12, d_ff=96, num_layers=2,
                           num_classes=1000, ln_eps=1e-12)
DINO_LIKE = V.ViTConfig(image_size=224, patch_size=16, d_model=24, num_heads=6, d_ff=48, num_layers=2,
                        num_classes=0, ln_eps=1e-12)


def execute_page(hf_home) -> list:
    """The page's cells after executing it in a kernel whose Hugging Face cache is ``hf_home`` (offline)."""
    nb = jupytext.read(PAGE)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env.update(PYTHONPATH=str(REPO), HF_HOME=str(hf_home), HF_HUB_OFFLINE="1")
    client = NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(REPO / "book")}})
    client.execute(env=env)
    return [c for c in nb.cells if c.cell_type == "code"]


def outputs(cells, kind: str) -> list:
    return [o for c in cells for o in c.get("outputs", []) if kind in o.get("data", {}) or o.get("output_type") == kind]


def text_of(cells) -> str:
    return "\n".join(o["data"]["text/markdown"] for o in outputs(cells, "text/markdown"))


def check_errors_only_where_expected(cells):
    for cell in cells:
        errors = [o for o in cell.outputs if o.output_type == "error"]
        stderr = [o for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"]
        if "raises-exception" in cell.metadata.get("tags", []):
            assert errors and errors[0].ename == "ValueError", cell.source
            assert "hidden_act='gelu_pytorch_tanh' is not supported" in errors[0].evalue
        else:
            assert not errors and not stderr, (cell.source[:300], errors or stderr)


@pytest.fixture(scope="module")
def cache_with_weights(tmp_path_factory):
    root = tmp_path_factory.mktemp("real_vits")
    hub = root / "hf" / "hub"
    cache_as_hub(hub, "google/vit-base-patch16-224",
                 save_random_hf(root / "b16", VIT_B16_LIKE, seed=0, processor=PROCESSOR_VIT_B16))
    cache_as_hub(hub, "facebook/dino-vits16",
                 save_random_hf(root / "dino", DINO_LIKE, seed=1, processor=PROCESSOR_DINO))
    return root / "hf"


def test_page_with_the_weights_shows_both_models(cache_with_weights):
    cells = execute_page(cache_with_weights)
    check_errors_only_where_expected(cells)
    text = text_of(cells)
    assert "In this build's Hugging Face cache: ViT-B/16 (`google/vit-base-patch16-224`), DINO ViT-S/16" in text
    assert "need the weights" not in text and "This needs the weights" not in text
    assert "The top three classes of each photograph" in text and "class " in text
    assert text.count("differ by at most") == 2                    # our outputs against Hugging Face's, both models
    assert "prepared by the checkpoint's own preprocessing (resize to 224 x 224 (bilinear), rescale by 1/255" in text
    views = outputs(cells, "application/vnd.jupyter.widget-view+json")
    assert len(views) == 2 and text.count("embedded state") == 2   # an explorer per model
    # the patch grids, the predictions, the maps of two photographs (one figure), DINO's heads
    assert len(outputs(cells, "image/png")) == 4


def test_page_without_the_weights_says_what_it_needs(tmp_path):
    cells = execute_page(tmp_path / "empty")
    check_errors_only_where_expected(cells)
    text = text_of(cells)
    assert "The real-model figures of this page need the weights of ViT-B/16" in text and FETCH in text
    assert "jupyter-book build . --all" in text
    assert text.count("This needs the weights of") == 5            # every real-model section says so
    assert "differ by at most" not in text and "embedded state" not in text
    assert not outputs(cells, "application/vnd.jupyter.widget-view+json")
    assert len(outputs(cells, "image/png")) == 1                   # the photographs cut into patches, nothing else
