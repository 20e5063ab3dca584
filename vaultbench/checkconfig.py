"""vaultbench.checkconfig: the ``--config FILE`` and ``--thorough`` options of ``check``.

A configuration file is TOML (read with the standard library's ``tomllib``) with up to five
tables, every key optional::

    [fleet]
    replicas = 5              # n, 3 to 64
    quorum = 3                # q, a majority: 2q > n and q <= n
    [vault]
    max_attempts = 10         # the attempt limit, >= 1
    [keys]
    modes = ["ota", "pinned"] # fleet-key modes, distinct, non-empty
    witness_policy = "log-only"   # or "vetting"
    client_attestation = true
    [knowledge]
    threshold = "2/3"         # t/n with 1 <= t <= n <= 5
    [campaign]
    seed = 1                  # >= 0
    walks = 4                 # >= 1
    steps = 300               # >= 1
    sim_seeds = 2             # >= 0 (0 skips the simulation)
    sim_steps = 1000          # >= 1
    fleet_walk_steps = 40     # >= 0 (0 skips the fleet walk)

Reading is strict: an unknown table or key, a value of the wrong type (a TOML boolean is
not a whole number) or out of range raises :class:`ConfigError`, which names the file and
the key; ``vaultbench check`` then exits 2 before running anything.

The sizes of the campaigns come, in this order of precedence, from a command-line flag,
from ``--thorough`` (which raises each size to at least :data:`THOROUGH`), from the
``[campaign]`` table, and from :data:`CAMPAIGN_DEFAULTS`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, cast

from model.bundles import Policy
from model.flows import MODES, POLICIES
from model.vault import DEFAULT_MAX_ATTEMPTS

#: The design's fleet: five replicas, quorums of three.
DEFAULT_REPLICAS: Final = 5
DEFAULT_QUORUM: Final = 3
MIN_REPLICAS: Final = 3
MAX_REPLICAS: Final = 64
#: The threshold design is modelled with at most five datacenters (``model.flows``).
MAX_DATACENTERS: Final = 5

#: The campaign sizes of a plain ``vaultbench check``.
CAMPAIGN_DEFAULTS: Final[Mapping[str, int]] = {
    "seed": 1,
    "walks": 4,
    "steps": 300,
    "sim_seeds": 2,
    "sim_steps": 1000,
    "fleet_walk_steps": 40,
}
#: The least of each campaign size under ``--thorough`` (the seed is not a size).
THOROUGH: Final[Mapping[str, int]] = {
    "walks": 16,
    "steps": 1000,
    "sim_seeds": 8,
    "sim_steps": 3000,
    "fleet_walk_steps": 200,
}
#: ``--thorough``: the single-copy vault's I3 BMC goes to ``2 * max_attempts + 3`` steps
#: (``proofs.vault_i3.check_i3``'s ``max_depth``; the default is ``max_attempts + 4``)
#: and the safe fleet's I2 Paxos BMC to this depth (``proofs.paxos_i2.check_i2``'s
#: ``max_depth``; the default is ``SAFE_DEPTH``, 10).
THOROUGH_I2_DEPTH: Final = 12


def thorough_i3_depth(max_attempts: int) -> int:
    """The single-copy vault's BMC depth under ``--thorough``."""
    return 2 * max_attempts + 3


#: Every table and key a configuration file may hold, with the minimum of each whole
#: number (``None``: not a whole number).
_MINIMUM: Final[Mapping[str, Mapping[str, int | None]]] = {
    "fleet": {"replicas": MIN_REPLICAS, "quorum": 1},
    "vault": {"max_attempts": 1},
    "keys": {"modes": None, "witness_policy": None, "client_attestation": None},
    "knowledge": {"threshold": None},
    "campaign": {
        "seed": 0,
        "walks": 1,
        "steps": 1,
        "sim_seeds": 0,
        "sim_steps": 1,
        "fleet_walk_steps": 0,
    },
}


class ConfigError(ValueError):
    """ConfigError: a configuration file that cannot be used; ``key`` is the dotted key
    (``fleet.quorum``), or ``""`` when the file as a whole is at fault."""

    def __init__(self, source: str, key: str, message: str) -> None:
        self.source = source
        self.key = key
        where = f"{source}: {key}: " if key else f"{source}: "
        super().__init__(where + message)


@dataclass(frozen=True)
class CheckConfig:
    """CheckConfig: the settings of one ``vaultbench check``, from a file or the defaults.

    ``campaign`` holds only the ``[campaign]`` keys the file set; ``max_attempts`` is
    ``None`` unless ``[vault] max_attempts`` was given.
    """

    source: str | None = None
    replicas: int = DEFAULT_REPLICAS
    quorum: int = DEFAULT_QUORUM
    max_attempts: int | None = None
    modes: tuple[str, ...] = MODES
    witness_policy: Policy = "log-only"
    client_attestation: bool = True
    threshold: tuple[int, int] | None = None
    campaign: Mapping[str, int] = field(default_factory=dict)

    def key_setting(self) -> str:
        """The fleet-key setting, for the I1, I4 and I7 row labels: empty on the
        defaults (log-only witness, client attestation on, the single fleet)."""
        parts = []
        if self.witness_policy != "log-only":
            parts.append(f"{self.witness_policy} witness")
        if not self.client_attestation:
            parts.append("client attestation off")
        if self.threshold is not None:
            parts.append(f"{self.threshold[0]}-of-{self.threshold[1]} datacenters")
        return ", ".join(parts)

    def describe(self) -> str:
        """describe: one line for the table's title: the file and what it sets."""
        parts = [f"n={self.replicas}, q={self.quorum}"]
        if self.max_attempts is not None:
            parts.append(f"{self.max_attempts} attempts")
        if self.modes != MODES:
            parts.append(f"modes {'+'.join(self.modes)}")
        if setting := self.key_setting():
            parts.append(setting)
        return f"{self.source}: {', '.join(parts)}"

    def to_json(self) -> dict[str, object]:
        return {
            "source": self.source,
            "replicas": self.replicas,
            "quorum": self.quorum,
            "max_attempts": self.max_attempts,
            "modes": list(self.modes),
            "witness_policy": self.witness_policy,
            "client_attestation": self.client_attestation,
            "threshold": None
            if self.threshold is None
            else f"{self.threshold[0]}/{self.threshold[1]}",
            "campaign": dict(self.campaign),
        }


def load_config(path: str | Path) -> CheckConfig:
    """load_config: read and validate a TOML configuration file (see the module doc)."""
    source = str(path)
    try:
        with Path(path).open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(source, "", "no such file") from None
    except OSError as exc:
        raise ConfigError(source, "", f"cannot read it: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, "", f"not valid TOML: {exc}") from None
    return parse_config(data, source)


def parse_config(data: Mapping[str, object], source: str = "<config>") -> CheckConfig:
    """parse_config: validate the parsed TOML ``data`` (strict, see the module doc)."""
    for table, body in data.items():
        if table not in _MINIMUM:
            known = ", ".join(f"[{name}]" for name in _MINIMUM)
            raise ConfigError(source, table, f"unknown table or key; known tables: {known}")
        if not isinstance(body, dict):
            raise ConfigError(
                source, table, f"expected a table [{table}], got {_kind(body)} {body!r}"
            )
        for key in body:
            if key not in _MINIMUM[table]:
                known = ", ".join(_MINIMUM[table])
                raise ConfigError(source, f"{table}.{key}", f"unknown key; [{table}] knows {known}")

    def section(name: str) -> Mapping[str, object]:
        body = data.get(name, {})
        assert isinstance(body, dict)
        return body

    def whole(table: str, key: str) -> int | None:
        value = section(table).get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(
                source, f"{table}.{key}", f"expected a whole number, got {_kind(value)} {value!r}"
            )
        minimum = _MINIMUM[table][key]
        assert minimum is not None
        if value < minimum:
            raise ConfigError(
                source, f"{table}.{key}", f"expected a number >= {minimum}, got {value}"
            )
        return value

    replicas = whole("fleet", "replicas")
    quorum = whole("fleet", "quorum")
    if replicas is not None and replicas > MAX_REPLICAS:
        raise ConfigError(
            source, "fleet.replicas", f"expected a number <= {MAX_REPLICAS}, got {replicas}"
        )
    n = DEFAULT_REPLICAS if replicas is None else replicas
    if quorum is None:
        q = DEFAULT_QUORUM if replicas is None else n // 2 + 1
    else:
        q = quorum
        if q > n:
            raise ConfigError(
                source, "fleet.quorum", f"a quorum of {q} is more than the {n} replicas"
            )
        if 2 * q <= n:
            raise ConfigError(
                source,
                "fleet.quorum",
                f"quorums of {q} among {n} replicas are not a majority (need 2 * quorum > "
                f"replicas); the minority-quorum variant is --variant minority-quorum",
            )

    keys = section("keys")
    modes = _modes(source, keys.get("modes", list(MODES)))
    policy = keys.get("witness_policy", "log-only")
    if not isinstance(policy, str) or policy not in POLICIES:
        raise ConfigError(
            source,
            "keys.witness_policy",
            f"expected one of {', '.join(map(repr, POLICIES))}, got {_kind(policy)} {policy!r}",
        )
    attestation = keys.get("client_attestation", True)
    if not isinstance(attestation, bool):
        raise ConfigError(
            source,
            "keys.client_attestation",
            f"expected true or false, got {_kind(attestation)} {attestation!r}",
        )

    threshold = _threshold(source, section("knowledge").get("threshold"))
    campaign = {
        key: value for key in _MINIMUM["campaign"] if (value := whole("campaign", key)) is not None
    }
    return CheckConfig(
        source=source,
        replicas=n,
        quorum=q,
        max_attempts=whole("vault", "max_attempts"),
        modes=modes,
        witness_policy=cast(Policy, policy),
        client_attestation=attestation,
        threshold=threshold,
        campaign=campaign,
    )


def _kind(value: object) -> str:
    """The TOML name of a parsed value's type, for messages."""
    kinds = {bool: "a boolean", int: "an integer", float: "a float", str: "a string"}
    kinds.update({list: "an array", dict: "a table"})
    return kinds.get(type(value), type(value).__name__)


def _modes(source: str, value: object) -> tuple[str, ...]:
    key = "keys.modes"
    if not isinstance(value, list) or not value:
        raise ConfigError(
            source, key, f'expected a non-empty array such as ["ota", "pinned"], got {value!r}'
        )
    modes: list[str] = []
    for item in value:
        if not isinstance(item, str) or item not in MODES:
            raise ConfigError(
                source, key, f"expected modes among {', '.join(map(repr, MODES))}, got {item!r}"
            )
        if item in modes:
            raise ConfigError(source, key, f"mode {item!r} given twice")
        modes.append(item)
    # The rows come in the design's order whatever the file's order.
    return tuple(mode for mode in MODES if mode in modes)


def _threshold(source: str, value: object) -> tuple[int, int] | None:
    if value is None:
        return None
    key = "knowledge.threshold"
    if not isinstance(value, str):
        raise ConfigError(source, key, f'expected a string "t/n" such as "2/3", got {value!r}')
    t_text, slash, n_text = value.partition("/")
    if not slash or not t_text.isdigit() or not n_text.isdigit():
        raise ConfigError(source, key, f'expected "t/n" such as "2/3", got {value!r}')
    t, n = int(t_text), int(n_text)
    if not 1 <= t <= n <= MAX_DATACENTERS:
        raise ConfigError(source, key, f"expected 1 <= t <= n <= {MAX_DATACENTERS}, got {t}/{n}")
    return t, n


@dataclass(frozen=True)
class Campaign:
    """Campaign: the resolved sizes of one run (see the module doc for the precedence)."""

    max_attempts: int
    seed: int
    walks: int
    steps: int
    sim_seeds: int
    sim_steps: int
    fleet_walk_steps: int


def resolve_campaign(
    flags: Mapping[str, int | None], config: CheckConfig, thorough: bool
) -> Campaign:
    """resolve_campaign: each size from its flag (``None``: not given), else from
    ``--thorough`` and the file, else the default. ``--thorough`` only ever raises a size."""
    values: dict[str, int] = {}
    for key, default in CAMPAIGN_DEFAULTS.items():
        flag = flags.get(key)
        if flag is not None:
            values[key] = flag
            continue
        value = config.campaign.get(key, default)
        if thorough and key in THOROUGH:
            value = max(value, THOROUGH[key])
        values[key] = value
    flag_limit = flags.get("max_attempts")
    if flag_limit is not None:
        limit = flag_limit
    elif config.max_attempts is not None:
        limit = config.max_attempts
    else:
        limit = DEFAULT_MAX_ATTEMPTS
    return Campaign(max_attempts=limit, **values)
