"""Layer 4, stages: one module or package per verb, in pipeline order (train, evaluate,
analyze, report, reproduce, importer, browse, export).

May import the shared contracts (``runs``, ``conditions``), ``training``, the components and
``core``. Inside this layer only ``reproduce`` calls other stages, and ``report`` calls
``analyze`` for runs whose analysis is stale; ``cli`` is the only importer of stages.
"""
