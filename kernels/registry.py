"""A tiny registry keyed by the string the YAML uses (STYLE.md: "a registry instead of if/elif chains").

Each plug-in family (workload kinds, figures, techniques, timed ops) owns one `Registry`. Registering the same
key twice is a bug and raises; looking up an unknown key raises `KeyError` listing the known keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects of one family, e.g. ``WORKLOADS.get("collective")``."""

    def __init__(self, family: str):
        self.family = family
        self._items: dict[str, T] = {}

    def add(self, name: str, item: T) -> T:
        if name in self._items:
            raise ValueError(f"{self.family} {name!r} is registered twice")
        self._items[name] = item
        return item

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form: ``@REG.register("name")``."""

        def decorate(item: T) -> T:
            return self.add(name, item)

        return decorate

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "(none)"
            raise KeyError(f"unknown {self.family} {name!r}; known: {known}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def items(self) -> list[tuple[str, T]]:
        return sorted(self._items.items())

    def __len__(self) -> int:
        return len(self._items)
