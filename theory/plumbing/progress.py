"""Progress bars that turn themselves off when output is not a terminal (or with ``--quiet``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def progress(
    iterable: Iterable[T], *, total: int | None = None, desc: str = "", quiet: bool = False, **kwargs: Any
) -> Iterator[T]:
    """Wrap ``iterable`` in a tqdm bar; ``disable=None`` hides it off a TTY (SLURM logs, CI).

    Args:
        iterable: What to iterate.
        total: Length, if ``iterable`` has none.
        desc: Label in front of the bar.
        quiet: Hide the bar entirely.
        **kwargs: Passed to ``tqdm``.

    Returns:
        An iterator over ``iterable``.
    """
    if quiet:
        return iter(iterable)
    from tqdm.auto import tqdm  # imported lazily: only long jobs pay for it

    return iter(tqdm(iterable, total=total, desc=desc, disable=None, leave=False, **kwargs))
