"""The method registry: every socket method with its parameters and access level."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from billingd.control.params import Param

Handler = Callable[..., Any]
QuickWhen = Callable[[dict[str, Any]], bool]


@dataclass(frozen=True)
class Method:
    name: str
    handler: Handler
    params: dict[str, Param]
    writes: bool
    summary: str
    result: str
    """What a call returns, naming the objects of ``billingd.views.OBJECTS`` in backticks."""
    admin_only: bool = False
    quick: bool | QuickWhen = False
    """A bounded, indexed read with no file or network work of its own: on an embedded
    database it is answered on the event loop itself, without a thread hand-off. A
    callable decides per call from the checked parameters (a text search scans rows)."""

    def is_quick(self, params: dict[str, Any]) -> bool:
        return self.quick(params) if callable(self.quick) else self.quick


METHODS: dict[str, Method] = {}


def method(
    method_name: str,
    /,
    *,
    writes: bool,
    result: str,
    admin_only: bool = False,
    quick: bool | QuickWhen = False,
    **params: Param,
) -> Callable[[Handler], Handler]:
    """Register ``handler(ctx, **params)`` as socket method ``method_name``.

    The handler's docstring's first line is the method's summary in docs/protocol.md;
    ``result`` describes what it returns there.
    """

    def register(handler: Handler) -> Handler:
        if method_name in METHODS:
            raise ValueError(f"method {method_name} registered twice")
        if quick and writes:
            raise ValueError(f"method {method_name}: only reads can be quick")
        summary = (handler.__doc__ or "").strip().splitlines()[0] if handler.__doc__ else ""
        named = {key: param.named(key) for key, param in params.items()}
        METHODS[method_name] = Method(
            method_name, handler, named, writes, summary, result, admin_only, quick
        )
        return handler

    return register
