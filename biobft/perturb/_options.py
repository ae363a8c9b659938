"""Options of registered predictors: an unknown keyword is one clear error, not a bare TypeError.

Predictor classes pass ``**kw`` up to their base class, so the options a class takes are the
keyword-only parameters of every ``__init__`` along its MRO. :func:`predictor_specs` is the one
reader of a ``predictors=`` argument (a name, names, or ``{label: {"predictor": name, ...}}``).
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["check_options", "missing_hint", "options_of", "predictor_specs"]


def missing_hint(*choices: str) -> str:
    """How to accept absent genes, for a message read from Python and the command line alike.

    ``missing_hint("skip", "mean")`` -> ``"pass missing='skip' or 'mean' (command line:
    --missing skip)"``.
    """
    listed = " or ".join(repr(c) for c in choices)
    return f"pass missing={listed} (command line: --missing {choices[0]})"


def _name_hint(name: str, registry: Mapping[str, Any]) -> str:
    """The fix for an unknown name: the names it joins, else the close match, then the choices."""
    parts = [p.strip() for p in name.replace(" ", ",").split(",") if p.strip()]
    if len(parts) > 1:
        return (
            f" looks like several names in one string; pass them as a list, e.g. {parts} "
            f"(command line: --predictors {','.join(parts)}); choose from {list(registry)}"
        )
    close = difflib.get_close_matches(name.strip(), list(registry), n=1)
    return (f" (did you mean {close[0]!r}?)" if close else "") + f"; choose from {list(registry)}"


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


def predictor_specs(
    predictors: str | Iterable[str] | Mapping[str, Mapping[str, Any]],
    registry: Mapping[str, type],
    *,
    what: str = "predictor",
    allow_empty: bool = False,
) -> dict[str, tuple[str, dict[str, Any]]]:
    """Read a ``predictors=`` argument into ``{label: (name, params)}``, checked against a registry.

    Parameters
    ----------
    predictors
        One name (``"knn"``: a single predictor, not its letters), several names, or
        ``{label: {"predictor": name, **params}}`` (``"predictor"`` defaults to the label).
    registry
        ``{name: class}`` (e.g. :data:`biobft.perturb.predictors.PREDICTORS`).
    what
        How messages name a predictor (``"predictor"``, ``"DE-pair predictor"``).
    allow_empty
        Accept no predictor at all (e.g. when baselines are scored anyway).

    Returns
    -------
    dict
        ``{label: (registered name, keyword options)}`` in the given order.

    Raises
    ------
    TypeError
        Not a name, names or a mapping; a name that is not a string; a spec that is not a dict.
    ValueError
        No predictor (unless ``allow_empty``), a name given twice, an unknown name (with the close
        match) or an option the predictor does not take (see :func:`check_options`).
    """
    if isinstance(predictors, str):
        predictors = [predictors]
    if isinstance(predictors, Mapping):
        items = list(predictors.items())
        bad = [label for label, spec in items if not isinstance(spec, Mapping)]
        if bad:
            raise TypeError(
                f"predictors[{bad[0]!r}] must be a dict such as {{'predictor': 'knn', 'k': 10}}; "
                f"got {type(predictors[bad[0]]).__name__}"
            )
    else:
        try:
            names = list(predictors)
        except TypeError:
            raise TypeError(
                f"predictors must be a name, a list of names or a dict of specs; got "
                f"{type(predictors).__name__}"
            ) from None
        wrong = [n for n in names if not isinstance(n, str)]
        if wrong:
            raise TypeError(
                f"predictor names must be strings; got {wrong[0]!r} ({type(wrong[0]).__name__})"
            )
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(
                f"predictor(s) {twice} are named more than once; name each once (several "
                "configurations of one: {label: {'predictor': name, ...}})"
            )
        items = [(n, {"predictor": n}) for n in names]
    if not items and not allow_empty:
        raise ValueError(f"predictors is empty; name at least one of {list(registry)}")
    specs: dict[str, tuple[str, dict[str, Any]]] = {}
    for label, spec in items:
        params = dict(spec)
        name = params.pop("predictor", label)
        if name not in registry:
            raise ValueError(f"unknown {what} {name!r}{_name_hint(str(name), registry)}")
        named = f"{what} {label!r}" + ("" if str(label) == name else f" ({name})")
        check_options(registry[name], params, what=named)
        specs[str(label)] = (name, params)
    return specs
