import os

# No test reaches the Hugging Face hub: huggingface_hub reads this when it is first imported.  Tests of the
# online and offline paths run in subprocesses with an environment of their own.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import vit_lessons as V  # noqa: E402


def small_config(pool="cls", **changes):
    base = dict(image_size=(12, 8), patch_size=4, d_model=8, num_heads=2, d_ff=16, num_layers=2,
                num_classes=3, pool=pool)
    base.update(changes)
    return V.ViTConfig(**base)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
