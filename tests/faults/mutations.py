"""Hypothesis strategies that damage valid input the ways transports, proxies, attackers and
careless editors do: bytes flipped, cut, dropped, inserted; lines duplicated or re-indented;
values replaced by the wrong type."""

from __future__ import annotations

from hypothesis import strategies as st

# Characters that mean something to YAML, XML or JSON, plus some that mean nothing anywhere.
SYNTAX = ":-?[]{},#&*!|>'\"%@`<>/=\\\t\n\r ;."
ALPHABET = st.sampled_from(list(SYNTAX) + list("aZ09_x") + ["打", "卡", "\u2005", "\x00", "é"])
TOKENS = st.sampled_from(
    [
        "",
        "-",
        "--5",
        "- -",
        "0",
        "-1",
        "99999999999999999999",
        "1e309",
        "NaN",
        "null",
        "~",
        "true",
        "[]",
        "{}",
        "[1, [2, [3]]]",
        "{a: {b: c}}",
        "25:99",
        "24:00",
        "00:00",
        "2026-02-30",
        "2026-12-01T08:00:00+25:00",
        "10000-01-01",
        "0h",
        "-3h",
        "999999999d",
        "&a x",
        "*a",
        "!!python/object:os.system",
        "!!binary AAAA",
        "<<: *a",
        '"\\ud800"',
        "'",
        "|",
        ">-",
        "\t",
        "\ufeff",
        "𝔘",
        "]]>",
        "<![CDATA[",
        "&amp;",
        "&#0;",
        "<xml>",
        "</xml>",
        '{"a":',
        "\\u0000",
        "1" * 40,
    ]
)


@st.composite
def mutated_text(draw: st.DrawFn, text: str, max_edits: int = 4) -> str:
    """`text` with up to `max_edits` line- or character-level edits."""
    lines = text.split("\n")
    for _ in range(draw(st.integers(1, max_edits))):
        kind = draw(
            st.sampled_from(
                ["delete", "duplicate", "insert", "value", "indent", "char", "truncate", "swap"]
            )
        )
        i = draw(st.integers(0, max(len(lines) - 1, 0)))
        if not lines:
            lines = [""]
        if kind == "delete" and len(lines) > 1:
            del lines[i]
        elif kind == "duplicate":
            lines.insert(i, lines[i])
        elif kind == "insert":
            lines.insert(i, draw(st.one_of(TOKENS, st.text(ALPHABET, max_size=30))))
        elif kind == "value":
            head, sep, _ = lines[i].partition(": ")
            filler = draw(st.one_of(TOKENS, st.text(ALPHABET, max_size=20)))
            lines[i] = f"{head}{sep or ': '}{filler}"
        elif kind == "indent":
            line = lines[i].lstrip(" ")
            lines[i] = " " * draw(st.integers(0, 12)) + line
        elif kind == "char" and lines[i]:
            at = draw(st.integers(0, len(lines[i]) - 1))
            new = draw(st.one_of(ALPHABET, st.just("")))
            lines[i] = lines[i][:at] + new + lines[i][at + 1 :]
        elif kind == "truncate":
            joined = "\n".join(lines)
            lines = joined[: draw(st.integers(0, len(joined)))].split("\n")
        elif kind == "swap" and len(lines) > 1:
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


@st.composite
def mutated_bytes(draw: st.DrawFn, data: bytes, max_edits: int = 4) -> bytes:
    """`data` with up to `max_edits` byte flips, cuts, drops and insertions."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, max_edits))):
        kind = draw(st.sampled_from(["flip", "cut", "drop", "insert"]))
        at = draw(st.integers(0, max(len(out) - 1, 0)))
        if kind == "flip" and out:
            out[at] ^= draw(st.integers(1, 255))
        elif kind == "cut":
            del out[at:]
        elif kind == "drop" and out:
            del out[at : at + draw(st.integers(1, 8))]
        elif kind == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=8))
    return bytes(out)
