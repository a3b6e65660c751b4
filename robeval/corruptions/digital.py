"""Digital families (Hendrycks & Dietterich's fourth category), one decorated function each."""

from __future__ import annotations

from io import BytesIO

import numpy as np
from PIL import Image

from robeval.corruptions.family import corruption


@corruption(
    category="digital", params=("quality",),
    cifar=(80, 65, 58, 50, 40), tinyimagenet=(65, 58, 50, 40, 25), imagenet=(25, 18, 15, 10, 7),
    sources="make_cifar_c.py, make_tinyimagenet_c.py and make_imagenet_c.py (= imagecorruptions): "
            "the same PIL encode/decode; only the qualities differ")
def jpeg_compression(image: np.ndarray, *, quality: int) -> np.ndarray:
    """PIL JPEG encode/decode at the given quality (PIL's defaults otherwise: 4:2:0)."""
    buf = BytesIO()
    Image.fromarray(image).save(buf, "JPEG", quality=int(quality))
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"))
