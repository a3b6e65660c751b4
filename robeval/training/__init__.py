"""Layer 2, training machinery: the run configuration and its presets, optimisers and LR
schedulers (a registry of records), batched augmentation and data-parallel helpers.

May import the components (``models``, ``data``, ...) and ``core``; never ``runs``,
``conditions``, ``stages`` or ``cli``.
"""
