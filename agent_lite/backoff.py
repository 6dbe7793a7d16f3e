"""Jittered exponential backoff, so many agents retrying against one parent never retry in lockstep."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["Backoff", "jittered"]


def jittered(period: float, factor: float, *, rng: random.Random | None = None) -> float:
    """``period`` plus up to ``factor`` times itself, like Kubernetes' wait.Jitter."""
    draw = (rng or random).random()
    return period + draw * factor * period


@dataclass
class Backoff:
    """Delays that start at ``initial``, grow by ``factor`` per failure up to ``maximum``, each jittered.

    ``reset()`` after a success brings the next delay back to ``initial``.
    """

    initial: float = 1.0
    maximum: float = 60.0
    factor: float = 2.0
    jitter: float = 0.3
    rng: random.Random | None = None
    _current: float = field(default=0.0, init=False)

    def next_delay(self) -> float:
        base = self.initial if self._current == 0.0 else min(self._current * self.factor, self.maximum)
        self._current = base
        return min(jittered(base, self.jitter, rng=self.rng), self.maximum * (1 + self.jitter))

    def reset(self) -> None:
        self._current = 0.0
