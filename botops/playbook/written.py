"""Numbers in a playbook's `vars` that print exactly as the YAML wrote them.

YAML reads `flash_price: 19.90` as the float 19.9, and `{{ vars.flash_price }}` would send
"19.9" to every group; `0520` would become 520 and `1e3` 1000.0. `WrittenInt` and
`WrittenFloat` are the same numbers — equal, same hash, and arithmetic, comparisons,
`"%.2f"|format`, `|round` and sorting work as on plain numbers, giving plain numbers — whose
`str()` is the source text. Jinja prints `{{ x }}`, `~`, `|string` and `"%s"|format` through
`str()`, and `format(x, "")` of a subclass of int or float falls back to `str()` too.

`repr()` stays the number's, as do JSON dumps (`|tojson`): machine formats want the value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.nodes import ScalarNode


class _AsWritten:
    """Prints as its source text. copy, deepcopy and pickle keep the text: the number's own
    reduction would call __new__ without it."""

    _text: str
    _plain: Callable[[Any], int | float]

    def __str__(self) -> str:
        return self._text

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self._plain(self), self._text))


class WrittenInt(_AsWritten, int):
    """An integer that prints as written: `0520`, `1_000`, `0x1F`."""

    _plain = int

    def __new__(cls, value: int, text: str) -> WrittenInt:
        number = int.__new__(cls, value)
        number._text = text
        return number


class WrittenFloat(_AsWritten, float):
    """A float that prints as written: `19.90`, `1.50`, `1e3`."""

    _plain = float

    def __new__(cls, value: float, text: str) -> WrittenFloat:
        number = float.__new__(cls, value)
        number._text = text
        return number


class WrittenNumbersConstructor(RoundTripConstructor):
    """The round-trip constructor, building WrittenInt and WrittenFloat for YAML numbers.

    A subclass, because ruamel registers constructors on the class: adding them to
    RoundTripConstructor would change every YAML file botops reads (config, groups, ...)."""

    def construct_written_int(self, node: ScalarNode) -> WrittenInt:
        # ruamel reads the value (octal, hex, underscores, YAML 1.1 sexagesimal); node.value
        # is the scalar's text, without a tag or quotes (`!!int "0520"` → 0520)
        return WrittenInt(self.construct_yaml_int(node), node.value)

    def construct_written_float(self, node: ScalarNode) -> WrittenFloat:
        return WrittenFloat(self.construct_yaml_float(node), node.value)


WrittenNumbersConstructor.add_constructor(
    "tag:yaml.org,2002:int", WrittenNumbersConstructor.construct_written_int
)
WrittenNumbersConstructor.add_constructor(
    "tag:yaml.org,2002:float", WrittenNumbersConstructor.construct_written_float
)
