r"""Hyper-parameters chosen by the stream itself: a bounded population scored test-then-train.

A fixed population of :math:`P` candidate models learns the same stream. Before
each member learns sample :math:`t` it predicts it, and its faded accuracy
(an exponentially weighted prequential accuracy, Gama, Sebastiao & Rodrigues
2013, Machine Learning 90) moves by

.. math::

    s_i \leftarrow \lambda\, s_i + (1 - \lambda)\,\mathbb{1}[\hat y_i(x_t) = y_t],
    \qquad \lambda = 1 - 1/w,

with ``window`` :math:`w`. Prediction goes to the member with the largest
:math:`s_i` (ties: the earlier candidate), so the choice at sample :math:`t`
depends on samples :math:`< t` only (no look-ahead).

**Successive halving** (Jamieson & Talwalkar 2016, AISTATS; Karnin, Koren &
Somekh 2013, ICML): after ``grace`` samples, and again each time the number of
samples seen doubles (``grace``, ``2 grace``, ``4 grace``, ...), the members
with the lower half of the scores are dropped, down to ``survivors`` members.
The population therefore never grows (memory: the sum of the members' bounded
states), and the cost per sample falls from :math:`P` members (each predicting and
learning) to ``survivors``; once a single member is left it only learns (its score,
no longer needed, stays frozen).
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["PrequentialSelector", "PrequentialLossSelector"]


class _Population:
    """What both selectors share: the members, their original ids, the fading factor and
    the successive halving. A subclass keeps one value per member in ``self._values``
    (its own name for them as a property) and says whether higher is better."""

    _higher_is_better = True

    def __init__(self, members: list, window: int, grace: int, survivors: int, name: str) -> None:
        if not members:
            raise ValueError(f"{name} needs at least one member")
        self.members = list(members)
        #: index of each member in the original population (survives halving)
        self.ids = list(range(len(members)))
        self._values = [0.0] * len(members)
        self.fade = 1.0 - 1.0 / window
        self.grace = grace
        self.survivors = max(1, survivors)
        self.n_seen = 0
        self._next_halving = grace if grace > 0 else math.inf
        self.halvings: list[tuple[int, list[int]]] = []  #: (sample, ids kept) per halving

    def _merit(self, i: int) -> float:
        v = self._values[i]
        return v if self._higher_is_better else -v

    @property
    def best_index(self) -> int:
        """Position (in :attr:`members`) of the best member (ties: the earlier one)."""
        s = self._values if self._higher_is_better else [-v for v in self._values]
        best = 0
        for i in range(1, len(s)):
            if s[i] > s[best]:
                best = i
        return best

    @property
    def best(self) -> Any:
        """The member that predicts (answers) now."""
        return self.members[self.best_index]

    def _count_and_maybe_halve(self) -> None:
        self.n_seen += 1
        if self.n_seen >= self._next_halving:
            self._halve()
            self._next_halving *= 2

    def _halve(self) -> None:
        n = len(self.members)
        keep_n = max(self.survivors, (n + 1) // 2)
        if keep_n >= n:
            return
        # stable: among equal values the earlier candidate stays
        order = sorted(range(n), key=lambda i: (-self._merit(i), i))[:keep_n]
        order.sort()
        self.members = [self.members[i] for i in order]
        self._values = [self._values[i] for i in order]
        self.ids = [self.ids[i] for i in order]
        self.halvings.append((self.n_seen, list(self.ids)))


class PrequentialSelector(_Population):
    """A population of river classifiers, the prequentially best one predicting.

    Parameters
    ----------
    members:
        The candidate models (river classifiers), in order of preference for ties.
    window:
        Fading window :math:`w` of the accuracy (:math:`\\lambda = 1 - 1/w`).
    grace:
        Samples before the first halving; ``0``: never halve.
    survivors:
        Members kept by the halving (at least 1).
    """

    def __init__(self, members: list, window: int = 200, grace: int = 100, survivors: int = 2):
        super().__init__(members, window, grace, survivors, "PrequentialSelector")

    @property
    def scores(self) -> list[float]:
        """Faded accuracy of each member (higher is better)."""
        return self._values

    @scores.setter
    def scores(self, v: list[float]) -> None:
        self._values = v

    def learn_one(self, x: dict, y: Any) -> None:
        """Each member predicts ``x`` (scored against ``y``), then learns it; maybe halve."""
        if len(self.members) == 1:  # nothing left to choose: no scoring, learning only
            self.members[0].learn_one(x, y)
            self.n_seen += 1
            return
        f = self.fade
        for i, m in enumerate(self.members):
            fused = getattr(m, "_predict_then_learn", None)  # one encoding, same results
            if fused is not None:
                hit = fused(x, y) == y
            else:
                hit = m.predict_one(x) == y
                m.learn_one(x, y)
            self._values[i] = f * self._values[i] + (1.0 - f) * hit
        self._count_and_maybe_halve()


class PrequentialLossSelector(_Population):
    r"""A population scored by a prequential *loss* (lower is better), e.g. without labels.

    The caller computes each member's loss :math:`\ell_i(t)` on sample :math:`t`
    from what the member did *before* it learned that sample, and passes the
    losses to :meth:`update`; the faded mean loss moves by

    .. math::

        L_i \leftarrow \lambda L_i + (1 - \lambda)\,\ell_i(t), \qquad \lambda = 1 - 1/w,

    the member of least :math:`L_i` is :attr:`best` (ties: the earlier
    candidate), and the population is halved as in :class:`PrequentialSelector`
    (after ``grace`` samples, then each time the count doubles, down to
    ``survivors``; the upper half of the losses is dropped). Memory: the
    members plus one float per member.
    """

    _higher_is_better = False

    def __init__(self, members: list, window: int = 500, grace: int = 100, survivors: int = 1):
        super().__init__(members, window, grace, survivors, "PrequentialLossSelector")

    @property
    def losses(self) -> list[float]:
        """Faded mean loss of each member (lower is better)."""
        return self._values

    @losses.setter
    def losses(self, v: list[float]) -> None:
        self._values = v

    def update(self, losses: list[float]) -> None:
        """Fold one sample's losses (one per current member, in order) in; maybe halve."""
        if len(losses) != len(self.members):
            raise ValueError(f"expected {len(self.members)} losses, got {len(losses)}")
        f = self.fade
        for i, loss in enumerate(losses):
            self._values[i] = f * self._values[i] + (1.0 - f) * loss
        self._count_and_maybe_halve()
