"""``NamedTuple``, ``Protocol`` and ``TYPE_CHECKING`` for the daemon's modules, without
importing ``typing`` (issue 18).

Importing ``typing`` and building the config model's classes with ``typing.NamedTuple``
(which compiles every field's annotation into a ``ForwardRef``) cost every tenant runtime
about 0.7 MiB of private memory, for names that only document types: nothing in the daemon
checks them at run time. So the daemon's modules import these three from here:

- ``TYPE_CHECKING`` is False: ``typing``'s own names (``Any``, ``TextIO``...) are imported
  under ``if TYPE_CHECKING:`` and used in annotations only (``from __future__ import
  annotations`` keeps those unevaluated strings);
- ``NamedTuple`` builds the same class ``typing.NamedTuple`` builds (a
  ``collections.namedtuple`` with the fields, defaults, methods and docstring of the class
  statement), minus the evaluated annotations;
- ``Protocol`` is a plain base: the daemon's protocols only describe what a caller passes.

A type checker sees ``typing``'s own names.
"""

from __future__ import annotations

from collections import namedtuple

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import NamedTuple as NamedTuple
    from typing import Protocol as Protocol
else:
    # What typing.NamedTuple does not let a class statement set, or sets itself.
    _PROHIBITED = frozenset(
        {"__new__", "__init__", "__slots__", "__getnewargs__", "_fields", "_field_defaults"}
        | {"_make", "_replace", "_asdict", "_source"}
    )
    _SPECIAL = frozenset({"__module__", "__name__", "__annotations__"})

    class _NamedTupleMeta(type):
        """``class X(NamedTuple): field: type = default`` -> a namedtuple class."""

        def __new__(mcls, typename: str, bases: tuple, namespace: dict) -> type:
            if not bases:  # NamedTuple itself
                return super().__new__(mcls, typename, bases, namespace)
            if bases != (NamedTuple,):
                raise TypeError("a NamedTuple class can only inherit from NamedTuple")
            fields = list(namespace.get("__annotations__", {}))
            defaults = []
            for name in fields:
                if name in namespace:
                    defaults.append(namespace[name])
                elif defaults:
                    raise TypeError(f"non-default field {name!r} follows a default one")
            cls = namedtuple(typename, fields, defaults=defaults, module=namespace["__module__"])
            cls.__annotations__ = namespace.get("__annotations__", {})
            for key, value in namespace.items():
                if key in _PROHIBITED:
                    raise AttributeError(f"cannot overwrite NamedTuple attribute {key}")
                if key not in _SPECIAL and key not in fields:
                    setattr(cls, key, value)
            return cls

    class NamedTuple(metaclass=_NamedTupleMeta):
        pass

    class Protocol:
        __slots__ = ()
