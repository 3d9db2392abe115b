"""Lists that can be frozen, and the lifecycle ``Signal`` built on them.

An application collects hooks, middlewares and routes while it is being set
up and freezes them when it starts: from then on the request path reads them
without locks or copies, and a late ``append`` is a bug that raises instead
of being silently ignored.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableSequence
from typing import Any, Generic, TypeVar, overload

__all__ = ["FrozenList", "Signal"]

T = TypeVar("T")


class FrozenList(MutableSequence[T], Generic[T]):
    """A list that refuses every change once ``freeze()`` was called.

    Args:
        items: initial contents.
    """

    __slots__ = ("_frozen", "_items")

    def __init__(self, items: Iterable[T] = ()) -> None:
        self._items: list[T] = list(items)
        self._frozen = False

    @property
    def frozen(self) -> bool:
        """Whether the list has been frozen."""
        return self._frozen

    def freeze(self) -> None:
        """Refuse changes from now on (idempotent)."""
        self._frozen = True

    def _check(self) -> None:
        if self._frozen:
            raise RuntimeError("cannot modify a frozen list (the application has started)")

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> list[T]: ...
    def __getitem__(self, index: int | slice) -> T | list[T]:
        return self._items[index]

    @overload
    def __setitem__(self, index: int, value: T) -> None: ...
    @overload
    def __setitem__(self, index: slice, value: Iterable[T]) -> None: ...
    def __setitem__(self, index: int | slice, value: Any) -> None:
        self._check()
        self._items[index] = value

    def __delitem__(self, index: int | slice) -> None:
        self._check()
        del self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[T]:
        return iter(self._items)

    def __reversed__(self) -> Iterator[T]:
        return reversed(self._items)

    def insert(self, index: int, value: T) -> None:
        """Insert ``value`` before ``index``.

        Raises:
            RuntimeError: the list is frozen.
        """
        self._check()
        self._items.insert(index, value)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} frozen={self._frozen} {self._items!r}>"


class Signal(FrozenList[Callable[..., Awaitable[object]]]):
    """An ordered list of async callbacks, all awaited by ``send``.

    ``on_startup``, ``on_shutdown``, ``on_cleanup`` and ``on_response_prepare``
    are signals. Callbacks run one after another in registration order; the
    first exception stops the rest and propagates.
    """

    __slots__ = ()

    async def send(self, *args: object) -> None:
        """Await every callback with ``args``, in order.

        Raises:
            Exception: whatever a callback raises.
        """
        for callback in self._items:
            await callback(*args)
