from importlib.metadata import version as _v

__version__ = _v("robeval")


def __getattr__(name: str):
    """``robeval.evaluate`` (stages/api.py), imported on first use so ``import robeval`` stays light."""
    if name == "evaluate":
        from robeval.stages.api import evaluate

        return evaluate
    raise AttributeError(f"module 'robeval' has no attribute {name!r}")
