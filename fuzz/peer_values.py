"""fuzz.peer_values: valid peer-wire values at their bounds, for the near-valid inputs.

``strategy(kind)`` draws a value of one encoding (``message``, ``command``, ``ballot``,
``proposal``, ``snapshot``, ``durable_state``) with every integer, length and count at or
near its bound; ``encode(kind, value)`` is its canonical encoding.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import strategies as st

from impl.method import Method
from impl.peer_messages import (
    Accept,
    Accepted,
    AcceptedEntry,
    Ballot,
    CatchUp,
    CatchUpReply,
    ChosenEntry,
    Commit,
    DurableState,
    Noop,
    Prepare,
    Promise,
    Proposal,
    Reject,
    Snapshot,
)
from impl.peer_wire import (
    encode_ballot,
    encode_command,
    encode_durable_state,
    encode_peer_message,
    encode_proposal,
    encode_snapshot,
)
from impl.redact import Secret
from impl.vault import (
    ConsumeAttempt,
    Destroy,
    PasskeyFactor,
    PasswordFactor,
    Register,
    Retire,
    Settle,
    VaultRecord,
)

u16s = st.sampled_from((0, 1, 2, 4, 65535)) | st.integers(0, 65535)
u32s = st.sampled_from((0, 1, 2**32 - 1)) | st.integers(0, 2**32 - 1)
u64s = st.sampled_from((0, 1, 2**63, 2**64 - 1)) | st.integers(0, 2**64 - 1)


def _sized(lo: int, hi: int) -> st.SearchStrategy[bytes]:
    return st.sampled_from((lo, hi, (lo + hi) // 2)).map(lambda n: bytes([n % 251]) * n)


users = st.sampled_from(("a", "u" * 128, "\u00e9" * 64, "\U0001f600" * 32, "alice", "bob")) | (
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=20).filter(
        lambda s: len(s.encode("utf-8")) <= 128
    )
)
ballots = st.builds(Ballot, u64s, u16s)
factors = st.one_of(
    st.builds(PasswordFactor, _sized(16, 64), _sized(1, 64).map(Secret)),
    st.builds(PasskeyFactor, _sized(1, 1023), _sized(1, 1024), _sized(16, 64), u32s),
)
commands = st.one_of(
    st.just(Noop()),
    st.builds(
        Register, users, u32s, u32s, st.sampled_from(Method), factors, _sized(1, 256).map(Secret)
    ),
    st.builds(ConsumeAttempt, users, u32s, u32s),
    st.builds(Settle, users, u32s, u32s, st.booleans(), u32s),
    st.builds(Destroy, users, u32s),
    st.builds(Retire, users, u32s, u32s),
)
proposals = st.builds(Proposal, st.binary(min_size=16, max_size=16), commands)


@st.composite
def records(draw: st.DrawFn) -> VaultRecord:
    destroyed = draw(st.booleans())
    return VaultRecord(
        draw(users),
        draw(st.sampled_from(Method)),
        draw(u32s),
        draw(factors),
        Secret(draw(_sized(0, 256))),
        draw(u32s),
        destroyed,
        draw(st.booleans()),
        destroyed and draw(st.booleans()),
    )


snapshots = st.builds(
    Snapshot,
    u64s,
    st.lists(records(), max_size=3, unique_by=lambda r: r.user).map(
        lambda rs: tuple(sorted(rs, key=lambda r: r.user))
    ),
)
accepted_entries = st.builds(AcceptedEntry, u64s, ballots, proposals)
chosen_entries = st.builds(ChosenEntry, u64s, proposals)
messages = st.one_of(
    st.builds(Prepare, ballots, u64s),
    st.builds(Promise, ballots, u64s, st.lists(accepted_entries, max_size=3).map(tuple), u64s),
    st.builds(Accept, ballots, u64s, proposals, u64s),
    st.builds(Accepted, ballots, u64s),
    st.builds(Reject, ballots, ballots),
    st.builds(Commit, ballots, u64s),
    st.builds(CatchUp, u64s),
    st.builds(CatchUpReply, st.none() | snapshots, st.lists(chosen_entries, max_size=3).map(tuple)),
)


@st.composite
def durable_states(draw: st.DrawFn) -> DurableState:
    accepted = draw(st.lists(accepted_entries, max_size=3))
    return DurableState(
        draw(ballots),
        {e.slot: e for e in accepted},
        draw(st.dictionaries(u64s, proposals, max_size=3)),
        draw(snapshots),
        draw(u64s),
    )


_STRATEGIES: dict[str, st.SearchStrategy[object]] = {
    "message": messages,
    "command": commands,
    "ballot": ballots,
    "proposal": proposals,
    "snapshot": snapshots,
    "durable_state": durable_states(),
}
_ENCODERS: dict[str, Callable[..., bytes]] = {
    "message": encode_peer_message,
    "command": encode_command,
    "ballot": encode_ballot,
    "proposal": encode_proposal,
    "snapshot": encode_snapshot,
    "durable_state": encode_durable_state,
}


def strategy(kind: str) -> st.SearchStrategy[object]:
    """strategy: valid values of the ``kind`` encoding, at their bounds."""
    return _STRATEGIES[kind]


def encode(kind: str, value: object) -> bytes:
    """encode: the canonical encoding of ``value`` as a ``kind``."""
    return _ENCODERS[kind](value)
