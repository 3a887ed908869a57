"""``%(name)s`` expansion of config values.

supervisord expands values with Python's ``%`` operator against a dict of names, so the
full printf mini-language works (``%(process_num)02d``) and ``%%`` is a literal percent.
Which names exist depends on the key; the loader builds those dicts, this module only
applies them and words the errors exactly as supervisord does.
"""

from __future__ import annotations

from collections.abc import Mapping


def expand(template: str, names: Mapping[str, object], label: str) -> str:
    """Expand ``template``; ``label`` (e.g. ``program:x.command``) is used in errors."""
    try:
        return template % names
    except KeyError as missing:
        available = ", ".join(sorted(names))
        raise ValueError(
            f"Format string {template!r} for {label!r} contains names ({missing}) which "
            f"cannot be expanded. Available names: {available}"
        ) from None
    except Exception as exc:  # any other formatting failure: bad spec, wrong type, ...
        raise ValueError(
            f"Format string {template!r} for {label!r} is badly formatted: {exc}"
        ) from None


def env_names(environ: Mapping[str, str]) -> dict[str, str]:
    """``ENV_X`` names for each variable X of an environment."""
    return {f"ENV_{key}": value for key, value in environ.items()}
