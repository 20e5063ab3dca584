"""proofs.quorum: I2 ``quorum-safety`` for the configured fleet: do its quorums intersect?

Paxos is safe when any two quorums share a replica that remembers what it promised and
voted (``proofs.paxos_i2`` assumes exactly that, as an axiom). With ``n`` replicas,
quorums of ``q`` and up to ``r`` replicas whose storage may be rolled back to an older
image (SVR2's threat), the fleet needs every two quorums to share a replica *outside* the
rolled-back set.

- :func:`check_quorums` asks Z3, over Booleans, for two quorums of exactly ``q`` members
  and a set of at most ``r`` rolled-back replicas such that every common member is rolled
  back. UNSAT is PASS; SAT is a counterexample naming the replicas.
- :func:`parametric_lemma` proves, in linear integer arithmetic with ``n``, ``q``, ``r``
  symbolic, that ``2q > n + r`` suffices (``|A ∩ B| >= |A| + |B| - n``) and that any
  ``(n, q, r)`` with ``2q <= n + r`` has a counterexample.
- :func:`rollback_budget` is the largest tolerated ``r``: ``max(0, 2q - n - 1)``.

Since issue 14 the safe fleet does not rely on this budget: the operator owns every disk,
and every rollback (or edit) of a store is *detected* at boot and the replica rejoins
(``amnesia`` in :mod:`model.consensus`, proved for any number of them by
``proofs.paxos_i2``). The budget is what an *undetected* rollback could be tolerated on:
it survives as the variant ``rollback-beyond-budget`` (one replica past it, the bounded
case of ``rollback-undetected``), and this module proves that it is exact.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Final

import z3

from proofs.report import Obligation

PROPERTY_NAME: Final = "I2 quorum-safety"


class QuorumConfigError(ValueError):
    """A fleet configuration that is not even well formed (``1 <= q <= n``, ``r >= 0``)."""


def validate(n: int, q: int, r: int = 0) -> None:
    """validate: raise ``QuorumConfigError`` unless ``1 <= q <= n`` and ``0 <= r``."""
    if n < 1:
        raise QuorumConfigError(f"a fleet needs at least one replica, got n = {n}")
    if not 1 <= q <= n:
        raise QuorumConfigError(f"quorum size must be in 1..n = 1..{n}, got q = {q}")
    if r < 0:
        raise QuorumConfigError(f"the number of rolled-back replicas is >= 0, got r = {r}")


def rollback_budget(n: int, q: int) -> int:
    """rollback_budget: how many replicas may be rolled back, *undetected*, with quorums of
    ``q`` of ``n``: ``max(0, 2q - n - 1)`` (two quorums share at least ``2q - n``
    replicas). The safe fleet detects rollbacks and does not need it."""
    validate(n, q)
    return max(0, 2 * q - n - 1)


def crashes_tolerated(n: int, q: int) -> int:
    """How many replicas may be down while a quorum is still up (liveness): ``n - q``."""
    validate(n, q)
    return n - q


@dataclass(frozen=True)
class QuorumReport:
    """QuorumReport: the intersection check for one ``(n, q, r)``.

    ``holds`` when no two quorums can miss each other outside the rolled-back set;
    otherwise ``quorum1``, ``quorum2`` and ``rolled_back`` are a counterexample.
    """

    n: int
    q: int
    r: int
    holds: bool
    seconds: float
    quorum1: tuple[int, ...] = ()
    quorum2: tuple[int, ...] = ()
    rolled_back: tuple[int, ...] = ()

    @property
    def status(self) -> str:
        return "PASS" if self.holds else "FAIL"

    @property
    def counterexample(self) -> str | None:
        """``Q1 = {r0, r1}, Q2 = {r2, r3}, rolled back = {}``, or ``None`` on PASS."""
        if self.holds:
            return None

        def show(members: tuple[int, ...]) -> str:
            return "{" + ", ".join(f"r{i}" for i in members) + "}"

        return (
            f"Q1 = {show(self.quorum1)}, Q2 = {show(self.quorum2)}, "
            f"rolled back = {show(self.rolled_back)}"
        )

    def render(self) -> str:
        head = (
            f"quorums of {self.q} among {self.n}, up to {self.r} rolled back: {self.status}"
            f"  ({self.seconds * 1000:.1f} ms)"
        )
        if self.holds:
            return head
        return f"{head}\n  two quorums meet only in rolled-back replicas: {self.counterexample}"

    def to_json(self) -> dict[str, object]:
        return {
            "n": self.n,
            "q": self.q,
            "r": self.r,
            "status": self.status,
            "seconds": self.seconds,
            "quorum1": list(self.quorum1),
            "quorum2": list(self.quorum2),
            "rolled_back": list(self.rolled_back),
        }


def check_quorums(n: int, q: int, r: int = 0) -> QuorumReport:
    """check_quorums: can two ``q``-quorums of ``n`` replicas meet only in at most ``r``
    rolled-back replicas? One Boolean per replica for each set; UNSAT is PASS.

    Raises ``QuorumConfigError`` unless ``1 <= q <= n`` and ``r >= 0``.
    """
    validate(n, q, r)
    started = time.perf_counter()
    a = [z3.Bool(f"Q1[r{i}]") for i in range(n)]
    b = [z3.Bool(f"Q2[r{i}]") for i in range(n)]
    rolled = [z3.Bool(f"rolled[r{i}]") for i in range(n)]
    solver = z3.Solver()
    solver.add(z3.PbEq([(x, 1) for x in a], q), z3.PbEq([(x, 1) for x in b], q))
    solver.add(z3.PbLe([(x, 1) for x in rolled], r))
    # Every replica in both quorums has been rolled back.
    solver.add(*(z3.Implies(z3.And(a[i], b[i]), rolled[i]) for i in range(n)))
    answer = solver.check()
    seconds = time.perf_counter() - started
    if answer == z3.unsat:
        return QuorumReport(n, q, r, True, seconds)
    model = solver.model()

    def members(xs: list[Any]) -> tuple[int, ...]:
        return tuple(i for i, x in enumerate(xs) if z3.is_true(model.eval(x, True)))

    # Report only the rolled-back replicas that matter: those in both quorums.
    both = tuple(i for i in members(a) if i in members(b))
    return QuorumReport(n, q, r, False, seconds, members(a), members(b), both)


def parametric_lemma() -> list[Obligation]:
    """parametric_lemma: the intersection bound for every ``n``, ``q``, ``r`` (integers).

    - ``intersection > r``: from ``1 <= q <= n``, ``0 <= r``, ``2q > n + r`` and two subsets
      of sizes ``q`` whose union has at most ``n`` elements, the intersection
      (``|A| + |B| - |A ∪ B|``) exceeds ``r``;
    - ``bound is tight``: when ``2q <= n + r``, the two quorums can be laid
      out to share exactly ``2q - n`` replicas when ``2q > n`` (else none), at most ``r``:
      the sizes of a counterexample exist.
    """
    n, q, r, union, inter = z3.Ints("n q r union inter")
    wf = z3.And(q >= 1, q <= n, r >= 0)
    results: list[Obligation] = []

    def discharge(name: str, negated: Any) -> None:
        solver = z3.Solver()
        started = time.perf_counter()
        solver.add(negated)
        answer = solver.check()
        seconds = time.perf_counter() - started
        results.append(Obligation(name, "PASS" if answer == z3.unsat else "FAIL", seconds))

    # |A ∪ B| <= n, |A ∪ B| >= q, |A ∩ B| = |A| + |B| - |A ∪ B|.
    sizes = z3.And(union <= n, union >= q, inter == 2 * q - union)
    discharge(
        "intersection > r",
        z3.And(wf, 2 * q > n + r, sizes, z3.Not(inter > r)),
    )
    # Tightness: with 2q <= n + r, the layout "overlap max(0, 2q - n)" is a
    # valid pair of quorums whose overlap is at most r.
    overlap = z3.If(2 * q - n > 0, 2 * q - n, 0)
    discharge(
        "bound is tight",
        z3.And(
            wf,
            2 * q <= n + r,
            z3.Not(z3.And(overlap <= r, overlap <= q, 2 * q - overlap <= n)),
        ),
    )
    return results
