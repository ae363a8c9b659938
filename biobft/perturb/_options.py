"""Options of registered predictors: an unknown keyword is one clear error, not a bare TypeError.

Predictor classes pass ``**kw`` up to their base class, so the options a class takes are the
keyword-only parameters of every ``__init__`` along its MRO.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping
from typing import Any

__all__ = ["check_options", "options_of"]


def options_of(cls: type) -> list[str]:
    """Sorted keyword options ``cls(...)`` accepts, collected over its MRO's ``__init__``."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        for p in inspect.signature(init).parameters.values():
            if p.name != "self" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD):
                names.add(p.name)
    return sorted(names)


def check_options(cls: type, params: Mapping[str, Any], *, what: str) -> None:
    """Raise :class:`ValueError` naming the options of ``cls`` that ``params`` gets wrong.

    Parameters
    ----------
    cls
        A predictor class (e.g. ``PREDICTORS["knn"]``).
    params
        The keyword options about to be passed to it.
    what
        How the message names it (``"predictor 'knn'"``).

    Raises
    ------
    ValueError
        An option ``cls`` does not take, with the close match and the full list.
    """
    known = options_of(cls)
    unknown = sorted(set(params) - set(known))
    if not unknown:
        return
    close = {u: difflib.get_close_matches(u, known, n=1) for u in unknown}
    hints = "; ".join(f"did you mean {c[0]!r} for {u!r}?" for u, c in close.items() if c)
    raise ValueError(
        f"{what} takes no option(s) {unknown}"
        + (f" ({hints})" if hints else "")
        + f"; its options are {known}"
    )
