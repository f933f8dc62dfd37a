import numpy as np
import pytest

import vit_lessons as V


def small_config(pool="cls", **changes):
    base = dict(image_size=(12, 8), patch_size=4, d_model=8, num_heads=2, d_ff=16, num_layers=2,
                num_classes=3, pool=pool)
    base.update(changes)
    return V.ViTConfig(**base)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
