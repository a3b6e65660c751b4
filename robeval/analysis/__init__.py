"""Layer 1 component, analysis: metrics on what ``robeval eval`` writes (features, logits,
labels, class vectors); metrics.py holds one record per metric.

Pure numpy/scipy: imports only ``robeval.core``, never data, models or corruptions, so every number can be
recomputed from the saved ``eval/*.npz`` files alone. Every function returns plain floats, ints,
lists or ``None`` (with a ``note`` saying why) -- never NaN -- so reports can print them as they are.
"""

from robeval.analysis.collapse import neural_collapse
from robeval.analysis.geometry import (
    class_means,
    compactness,
    confusion_matrix,
    cosine_matrix,
    feature_norms,
    pca_2d,
    separability,
    spearman_confusion,
    weights_vs_centres,
)
from robeval.analysis.stats import paired_differences, t_interval

__all__ = [
    "class_means", "compactness", "confusion_matrix", "cosine_matrix", "feature_norms",
    "neural_collapse", "paired_differences", "pca_2d", "separability", "spearman_confusion",
    "t_interval", "weights_vs_centres",
]
