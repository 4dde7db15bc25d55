"""Small helpers to read a CheckSpec's options with errors in config terms."""

from __future__ import annotations

from vipd.health.api import CheckSpec


def text(spec: CheckSpec, key: str, default: str | None = None) -> str:
    """Option ``key`` as a string (lists are joined with spaces).

    Raises:
        ValueError: missing and no default.
    """
    value = spec.options.get(key, default)
    if value is None:
        raise ValueError(f"{spec.type} check {spec.name}: '{key}' is required")
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    return str(value)


def integer(spec: CheckSpec, key: str, default: int | None = None, *, lo: int = 0, hi: int = 2**31) -> int:
    """Option ``key`` as an integer in lo..hi.

    Raises:
        ValueError: missing, not an integer, or out of range.
    """
    raw = spec.options.get(key, default)
    if raw is None:
        raise ValueError(f"{spec.type} check {spec.name}: '{key}' is required")
    try:
        value = int(str(raw), 10)
    except ValueError:
        raise ValueError(f"{spec.type} check {spec.name}: '{key}' must be a whole number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ValueError(f"{spec.type} check {spec.name}: '{key}' must be {lo}..{hi}, got {value}")
    return value


def flag(spec: CheckSpec, key: str, default: bool) -> bool:
    """Option ``key`` as a boolean (on/off, yes/no, true/false, 1/0).

    Raises:
        ValueError: not a boolean word.
    """
    raw = spec.options.get(key)
    if raw is None:
        return default
    if isinstance(raw, bool):
        return raw
    word = str(raw).lower()
    if word in ("on", "yes", "true", "1"):
        return True
    if word in ("off", "no", "false", "0"):
        return False
    raise ValueError(f"{spec.type} check {spec.name}: '{key}' must be on/off, got {raw!r}")
