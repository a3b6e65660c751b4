"""A tiny name -> record registry, so `--help`, tests and errors all list the same choices.

One idiom everywhere: a record carries its own ``name`` and is added with ``REGISTRY.add(record)``;
a function-shaped entry (an init, a genset builder) is registered with the decorator
``@REGISTRY.register("name")``. tests/test_registry_coverage.py finds every Registry in the package
and fails when one has no test over every entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from robeval.core.errors import RobevalError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to records; unknown names give a RobevalError listing the choices."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def add(self, record: T) -> T:
        """Add a record under its own ``name``; returns it, so a module can keep a handle."""
        name = getattr(record, "name", None)
        if not isinstance(name, str) or not name:
            raise TypeError(f"a {self.kind} record needs a non-empty str .name, got {record!r}")
        self._put(name, record)
        return record

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator for function-shaped entries, which have no ``name`` field of their own."""

        def put(fn: T) -> T:
            self._put(name, fn)
            return fn

        return put

    def _put(self, name: str, obj: T) -> None:
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._items[name] = obj

    def remove(self, name: str) -> T:
        """Take an entry out again (a test that registered its own); returns it."""
        return self._items.pop(name)

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise RobevalError(
                f"unknown {self.kind} {name!r}; choose one of: {', '.join(self.names())}"
            ) from None

    def names(self) -> list[str]:
        return list(self._items)

    def records(self) -> list[T]:
        return list(self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)
