"""What a preview says beside the plan: notes on single sends and warnings on the whole.

A plan is what the planner decided; some of it still needs saying to the person reading a
preview, and the views show it:

- notes on a send: a customer send that `botops run` does not make (it stores groups only),
  and a text showing the made-up figures of `--sample-checkins`;
- warnings: a playbook or segment that none of the targets matches, most often a typo in a
  tag (快闪群 / 快闪羣), which `botops validate` cannot see as it does not know the groups.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from botops.planning.planner import Plan
from botops.planning.sends import PlannedSend
from botops.planning.targets import Target, matches
from botops.playbook.library import PlaybookLibrary

CUSTOMERS_NOT_SENT = (
    "not sent by botops run: it does not send to individual customers yet (it stores groups only)"
)
SAMPLE_FIGURES = "text shows sample check-in figures (--sample-checkins), not real ones"


@dataclass(frozen=True, slots=True)
class Annotations:
    """Notes and warnings for one plan; the default has none beyond the customer note."""

    sample_figures: frozenset[str] = frozenset()  # keys of sends rendered with sample figures
    warnings: tuple[str, ...] = ()

    def notes(self, send: PlannedSend) -> tuple[str, ...]:
        notes = []
        if send.target_kind == "customer" and send.sendable:
            notes.append(CUSTOMERS_NOT_SENT)
        if send.key in self.sample_figures:
            notes.append(SAMPLE_FIGURES)
        return tuple(notes)


def annotate(
    plan: Plan,
    library: PlaybookLibrary,
    targets: Sequence[Target],
    *,
    sample_checkins: bool,
    source: str,
) -> Annotations:
    """`targets`: every target of `source` (the groups file or the store), not only those a
    `--group` filter kept, so that filtering does not make every other playbook look unused."""
    sampled = frozenset(
        s.key
        for s in plan.sends
        if sample_checkins
        and s.text
        and library.message(s.playbook, s.step, s.segment).reads_checkins
    )
    return Annotations(sampled, tuple(coverage_warnings(library, targets, source)))


def coverage_warnings(
    library: PlaybookLibrary, targets: Sequence[Target], source: str
) -> Iterable[str]:
    """Enabled playbooks no target matches, and their segments no matching target falls in."""
    if not targets:
        return
    for playbook in library.playbooks:
        if not playbook.enabled:
            continue
        audience = [t for t in targets if matches(playbook.audience, t)]
        if not audience:
            yield f"playbook {playbook.id!r} matches none of the {len(targets)} targets in {source}"
            continue
        # A segment is unused when no target lands in it: its `when` matches none, or an
        # earlier segment takes every target it matches.
        used = {playbook.segment_of(t.tags) for t in audience}
        for segment in playbook.segments:
            if segment.name not in used:
                yield (
                    f"playbook {playbook.id!r} segment {segment.name!r} matches none of its"
                    f" {len(audience)} targets"
                )
