"""'Did you mean ...?' for a name botops does not know: a setting (config.yaml or the
environment), a playbook key, a template variable or filter, a playbook or group id."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(name: str, known: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    """The known name `name` is most likely a typo of, if one is close enough (`cutoff`:
    difflib's similarity ratio)."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=cutoff)
    return close[0] if close else None


def did_you_mean(
    name: str, known: Iterable[str], *, quote: bool = True, cutoff: float = 0.6
) -> str:
    """` (did you mean 'corp_id'?)` (`quote=False`: `(did you mean BOTOPS_WECOM__SECRET?)`),
    or "" when no known name is close."""
    match = closest(name, known, cutoff=cutoff)
    if match is None:
        return ""
    return f" (did you mean {match!r}?)" if quote else f" (did you mean {match}?)"
