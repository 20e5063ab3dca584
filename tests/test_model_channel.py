"""Tests of model.vault with the operator on the channel: each attack of docs/channel.rst
("The attacks, before the fix") is refused by the safe model and succeeds under the
matching unsafe variant, and honest use works as before."""

from __future__ import annotations

import pytest

from model.vault import (
    ADVERSARY_SECRET,
    VARIANTS,
    Challenge,
    Channel,
    Destroyed,
    Disabled,
    Method,
    NoRecord,
    Refused,
    Registered,
    Released,
    Retired,
    Stale,
    VaultConfig,
    VaultState,
    WrongGuess,
    check_i3,
    client_begin,
    client_enrol,
    client_guess,
    client_retire,
    guess,
    inject_begin,
    inject_guess,
    inject_register,
    register,
    replay,
)

ALICE = "alice"
LIMIT = 3
SAFE = VaultConfig(LIMIT)


def config(variant: str | None) -> VaultConfig:
    return VaultConfig(LIMIT, variant)


def enrolled(cfg: VaultConfig, method: Method = Method.PASSWORD) -> Channel:
    world, result = client_enrol(Channel(), ALICE, method, config=cfg)
    assert result == Registered(1)
    return world


def spend(world: Channel, cfg: VaultConfig, times: int) -> Channel:
    """The adversary's own wrong guesses, each at the current version."""
    for _ in range(times):
        world, _ = inject_guess(world, ALICE, world.vault.version(ALICE), config=cfg)
    return world


def details(world: Channel, cfg: VaultConfig) -> list[str]:
    return [v.detail for v in check_i3(world.vault, cfg)]


def test_the_channel_variants_are_named() -> None:
    for name in ("replayable-registration", "replayable-guess", "superseding-challenge"):
        assert name in VARIANTS


# ---------------------------------------------------------------------------------------
# 1. Replayed enrolment: unlimited guesses against one password, a destroyed record back


@pytest.mark.parametrize("variant", [None, "replayable-registration"])
def test_replayed_enrolment(variant: str | None) -> None:
    cfg = config(variant)
    world = spend(enrolled(cfg), cfg, LIMIT)
    record = world.vault.get(ALICE)
    assert record is not None
    assert record.destroyed
    world, result = replay(world, 1, config=cfg)
    if variant is None:
        assert result == Stale(1, LIMIT)
        world, result = inject_guess(world, ALICE, world.vault.version(ALICE), config=cfg)
        assert result == Destroyed()
        assert details(world, cfg) == []
        assert world.replay_refused
        return
    assert result == Registered(2)
    world = spend(world, cfg, 1)
    assert details(world, cfg) == [
        f"{LIMIT + 1} wrong guesses answered against secret 1, limit {LIMIT}",
        "secret 1's record was destroyed or retired, and it answered again",
    ]


def test_replayed_enrolment_before_destruction_gives_no_fresh_budget() -> None:
    """Replaying the enrolment after limit - 1 wrong guesses is refused: the record
    moved on; under the variant it would have reset the budget."""
    world = spend(enrolled(SAFE), SAFE, LIMIT - 1)
    world, result = replay(world, 1, config=SAFE)
    assert result == Stale(1, LIMIT - 1)
    world = spend(world, SAFE, 5)
    assert details(world, SAFE) == []
    assert dict(world.vault.ghost.wrong) == {(ALICE, 1): LIMIT}


# ---------------------------------------------------------------------------------------
# 2. Resurrection after migration: the retired record back on the old fleet


@pytest.mark.parametrize("variant", [None, "replayable-registration"])
def test_resurrection_after_migration(variant: str | None) -> None:
    cfg = config(variant)
    world = enrolled(cfg)
    world, result = client_retire(world, ALICE, config=cfg)
    assert result == Retired()
    world, result = replay(world, 1, config=cfg)
    if variant is None:
        assert result == Stale(1, 0)
        record = world.vault.get(ALICE)
        assert record is not None
        assert record.retired
        world, result = inject_guess(world, ALICE, (1, 0), config=cfg)
        assert result == Retired()  # a tombstone of a migration answers Retired
        assert details(world, cfg) == []
        return
    assert result == Registered(2)
    world = spend(world, cfg, 1)
    assert details(world, cfg) == [
        "secret 1's record was destroyed or retired, and it answered again"
    ]


# ---------------------------------------------------------------------------------------
# 3. Forged overwrite: the operator's own registration over alice's live record


@pytest.mark.parametrize("variant", [None, "replayable-registration"])
@pytest.mark.parametrize("prove", [False, True])
def test_forged_overwrite(variant: str | None, prove: bool) -> None:
    cfg = config(variant)
    world = enrolled(cfg)
    world, result = inject_register(world, ALICE, (1, 0), prove=prove, config=cfg)
    record = world.vault.get(ALICE)
    assert record is not None
    if variant is None:
        # Even at the right version, with a proof of its own secret: refused.
        assert isinstance(result, Refused)
        assert record.secret == 1
        return
    assert result == Registered(2)
    assert record.secret == ADVERSARY_SECRET


def test_the_operator_may_register_over_a_tombstone() -> None:
    """Allowed (it is availability, out of scope): the new record is the operator's, and
    alice's old secret is never answered again."""
    world = spend(enrolled(SAFE), SAFE, LIMIT)
    world, result = inject_register(world, ALICE, (1, LIMIT), config=SAFE)
    assert result == Registered(2)
    world, result = client_begin(world, ALICE, config=SAFE)
    world, result = client_guess(world, ALICE, True, config=SAFE)
    assert result == WrongGuess(LIMIT - 1)  # alice's secret against the operator's
    assert details(world, SAFE) == []


# ---------------------------------------------------------------------------------------
# 4. Replayed guesses: one typo (or one right guess) charged on every replay


@pytest.mark.parametrize("variant", [None, "replayable-guess"])
@pytest.mark.parametrize("correct", [False, True])
def test_replayed_guess(variant: str | None, correct: bool) -> None:
    cfg = config(variant)
    world, _ = client_guess(enrolled(cfg), ALICE, correct, config=cfg)
    for _ in range(LIMIT + 1):
        world, result = replay(world, 2, config=cfg)
        if variant is None:
            assert isinstance(result, Stale)
    record = world.vault.get(ALICE)
    assert record is not None
    if variant is None:
        assert record.attempts == 1
        assert details(world, cfg) == []
        return
    assert record.destroyed
    assert f"honest request 2 charged {LIMIT} times" in details(world, cfg)


# ---------------------------------------------------------------------------------------
# 5. Challenge race (passkey): the operator's BeginRecovery spoils alice's assertion


@pytest.mark.parametrize("variant", [None, "superseding-challenge"])
def test_challenge_race(variant: str | None) -> None:
    cfg = config(variant)
    world = enrolled(cfg, Method.PASSKEY)
    world, answer = client_begin(world, ALICE, config=cfg)
    assert isinstance(answer, Challenge)
    world, answer = inject_begin(world, ALICE, config=cfg)
    world, result = client_guess(world, ALICE, True, config=cfg)
    if variant is None:
        assert result == Released(1)
        assert details(world, cfg) == []
        return
    assert result == WrongGuess(LIMIT - 1)
    assert details(world, cfg) == ["honest right guess (request 2) answered wrong"]


def test_challenge_race_needs_a_passkey() -> None:
    cfg = config("superseding-challenge")
    world, _ = inject_begin(enrolled(cfg, Method.PASSWORD), ALICE, config=cfg)
    world, result = client_guess(world, ALICE, True, config=cfg)
    assert result == Released(1)


# ---------------------------------------------------------------------------------------
# The protocol's other rules, and honest use


def test_re_registration_needs_a_proof_right_after_one() -> None:
    world = enrolled(SAFE)
    world, _ = client_guess(world, ALICE, False, config=SAFE)  # a charge: not proved
    world, _ = client_begin(world, ALICE, config=SAFE)
    world, result = client_enrol(world, ALICE, config=SAFE)
    assert isinstance(result, Refused)
    world, _ = client_guess(world, ALICE, True, config=SAFE)  # a release: proved
    world, _ = client_begin(world, ALICE, config=SAFE)
    world, result = client_enrol(world, ALICE, config=SAFE)
    assert result == Registered(2)
    record = world.vault.get(ALICE)
    assert record is not None
    assert record.secret == 3
    assert record.attempts == 0


def test_dropped_request_delivered_later_applies_once() -> None:
    world, result = client_guess(enrolled(SAFE), ALICE, False, deliver=False, config=SAFE)
    assert result is None
    world, result = replay(world, 2, config=SAFE)
    assert result == WrongGuess(LIMIT - 1)
    world, result = replay(world, 2, config=SAFE)
    assert result == Stale(1, 1)
    assert details(world, SAFE) == []


def test_a_crash_leaves_the_record_charged_and_the_next_request_destroys() -> None:
    world = spend(enrolled(SAFE), SAFE, LIMIT - 1)
    world, result = inject_guess(world, ALICE, (1, LIMIT - 1), crash=True, config=SAFE)
    world, result = replay(world, 1, config=SAFE)
    assert result == Stale(1, LIMIT)
    world, result = inject_guess(world, ALICE, (1, LIMIT), config=SAFE)
    assert result == Destroyed()
    assert (ALICE, 1) in world.vault.ghost.dead


def test_honest_client_actions_that_need_a_secret_are_disabled_without_one() -> None:
    with pytest.raises(Disabled):
        client_guess(Channel(), ALICE, True)
    with pytest.raises(Disabled):
        client_retire(Channel(), ALICE)
    with pytest.raises(Disabled):
        replay(Channel(), 1)


def test_plain_register_and_guess_keep_their_meaning() -> None:
    state, result = register(VaultState(), ALICE, Method.PASSWORD, 7)
    assert result == Registered(1)
    for remaining in range(LIMIT - 1, -1, -1):
        state, result = guess(state, ALICE, False, config=SAFE)
        assert result == WrongGuess(remaining)
    state, result = guess(state, ALICE, True, config=SAFE)
    assert result == Destroyed()
    state, result = register(state, ALICE, Method.PASSWORD, 8)
    assert result == Registered(2)
    state, result = guess(state, ALICE, True, config=SAFE)
    assert result == Released(8)
    state, result = guess(state, "bob", True, config=SAFE)
    assert result == NoRecord()
    # Over a live record a registration needs a proof of its secret.
    state, result = register(state, ALICE, Method.PASSWORD, 9)
    assert isinstance(result, Refused)
    state, result = register(state, ALICE, Method.PASSWORD, 9, proof=8)
    assert result == Registered(3)
    assert check_i3(state, SAFE) == []


def test_a_record_proved_with_its_last_attempt_may_be_retired() -> None:
    from model.vault import VaultConfig, client_begin, client_guess

    cfg = VaultConfig(max_attempts=2)
    world = enrolled(cfg)
    world, _ = client_begin(world, ALICE, config=cfg)
    world, result = client_guess(world, ALICE, False, config=cfg)
    assert result == WrongGuess(1)
    world, _ = client_begin(world, ALICE, config=cfg)
    world, result = client_guess(world, ALICE, True, config=cfg)
    assert isinstance(result, Released)
    world, _ = client_begin(world, ALICE, config=cfg)
    world, result = client_retire(world, ALICE, config=cfg)
    assert result == Retired()
