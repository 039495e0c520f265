"""Single-NPC Gymnasium views of the arena: ``ArenaCompanion-v0`` and ``ArenaGuard-v0``.

:class:`ArenaAgentsCore` is a :class:`BatchedCore` whose slots are (world, controlled NPC)
pairs: with one controlled NPC (:class:`ArenaSingleCore`) slot i is world i and the usual
seeding contract holds (slot i of a vector env seeded s = a single env seeded s + i). With M
controlled NPCs per world (the shared-policy route in ``agents.npc_training``) the M slots
of a world start and end together and world w runs on the seed of its first slot.

:meth:`ArenaAgentsCore.slot_subjects` names each slot's NPC (its index, agent name and
role), and :func:`clip_subjects` turns them into the entries a slot's clips carry in their
config, so that the feedback app rings the judged NPC (``feedback_ui/subject.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rlhf_sandbox.config import ConfigError, build_config
from rlhf_sandbox.envs.arena_config import ArenaConfig, agent_names
from rlhf_sandbox.envs.arena_v0 import RENDER_SIZE, ArenaBatch
from rlhf_sandbox.envs.core import BatchedCore, CoreEnv, CoreVectorEnv, StepResult
from rlhf_sandbox.envs.pz_game import SUBJECT  # the key a PettingZoo game's clips use too


class ArenaAgentsCore(BatchedCore):
    """``n_worlds`` arena worlds x the NPCs ``controlled``, one slot per pair (world-major)."""

    render_size = RENDER_SIZE

    def __init__(self, config: ArenaConfig, n_worlds: int, controlled: tuple[int, ...]) -> None:
        if not controlled:
            raise ConfigError("no NPC to control")
        self.m = len(controlled)
        self.controlled = tuple(int(i) for i in controlled)
        super().__init__(n_worlds * self.m)
        self.config = config
        self.batch = ArenaBatch(config, n_worlds, np.asarray(controlled))
        self.single_observation_space = self.batch.observation_space
        self.single_action_space = self.batch.action_space
        self.metadata = {"render_fps": 10}
        self.policy_hz = 1.0 / config.dt
        self._world_of_slot = np.arange(self.num_envs) // self.m

    def _reset(self, mask: np.ndarray) -> None:
        worlds = np.asarray(mask.reshape(-1, self.m).any(axis=1))
        self.batch.reset(worlds, self.seeds.reshape(-1, self.m)[:, 0].copy())

    def observe(self) -> np.ndarray:
        obs = self.batch.observe()
        return obs.reshape(self.num_envs, obs.shape[-1])

    def step(self, actions: np.ndarray) -> StepResult:
        shape = (self.batch.n_worlds, self.m, *actions.shape[1:])
        reward, term, trunc, info = self.batch.step(actions.reshape(shape))
        flat = {
            group: {k: v.reshape(self.num_envs) for k, v in parts.items()}
            for group, parts in info.items()
        }
        return StepResult(
            reward.reshape(self.num_envs),
            np.repeat(term, self.m),
            np.repeat(trunc, self.m),
            flat,
        )

    def reset_info(self) -> dict[str, Any]:
        return {}

    def render_slot(self, slot: int, width: int, height: int) -> np.ndarray:
        return self.batch.render(slot // self.m, width, height)

    def slot_states(self) -> dict[str, np.ndarray]:
        """The world state of each slot's world (a world's M slots share it)."""
        return {k: v[self._world_of_slot] for k, v in self.batch.world.get_state().items()}

    def slot_subjects(self) -> tuple[dict[str, Any], ...]:
        """Each slot's NPC: ``{"npc": i, "agent": name, "role": role}``, ``i`` its index in
        ``config.roles`` (figure ``i + 1`` of a state's ``pos``: figure 0 is the player),
        ``name`` its agent name in ``arena_v0`` (``companion_1``)."""
        names = agent_names(self.config)
        npcs = [
            {"npc": i, "agent": names[i], "role": self.config.roles[i]} for i in self.controlled
        ]
        return tuple(dict(npcs[s % self.m]) for s in range(self.num_envs))


class ArenaSingleCore(ArenaAgentsCore):
    """One controlled NPC per world (NPC 0, the first in ``config.roles``)."""

    def __init__(self, config: ArenaConfig, n_worlds: int) -> None:
        super().__init__(config, n_worlds, (0,))


def clip_subjects(core: Any) -> tuple[dict[str, Any], ...]:
    """The config entry each slot's clips carry, ``{SUBJECT: {"npc", "agent", "role"}}``
    (``ClipSource.slot_config``), for a core of NPC slots; ``()`` for any other core."""
    if not isinstance(core, ArenaAgentsCore):
        return ()
    return tuple({SUBJECT: s} for s in core.slot_subjects())


COMPANION_DEFAULTS = ArenaConfig(roles=("companion", "villager", "villager"))
GUARD_DEFAULTS = ArenaConfig(roles=("guard", "villager", "villager"))


def role_vec_env(role: str, n_worlds: int, config: ArenaConfig | None = None, **kw: Any) -> Any:
    """SB3 ``VecEnv`` over ``n_worlds`` arenas; slot ``w * M + j`` is the j-th NPC of ``role``
    in world w (one shared policy per role). A world's M slots end together; world w runs on
    slot ``w * M``'s seed."""
    from rlhf_sandbox.envs.sb3 import CoreVecEnv  # SB3 only where it is asked for

    cfg = build_config(ArenaConfig, config, **kw)
    controlled = tuple(i for i, r in enumerate(cfg.roles) if r == role)
    if not controlled:
        raise ConfigError(f"no NPC has the role {role!r} in roles={cfg.roles}")
    return CoreVecEnv(ArenaAgentsCore(cfg, n_worlds, controlled))


def _config(role: str, config: ArenaConfig | None, kwargs: dict[str, Any]) -> ArenaConfig:
    base = COMPANION_DEFAULTS if role == "companion" else GUARD_DEFAULTS
    cfg = build_config(ArenaConfig, config if config is not None else base, **kwargs)
    if cfg.roles[0] != role:
        raise ConfigError(f"ArenaConfig.roles[0] must be {role!r} here (the trained NPC)")
    return cfg


class _ArenaSingleEnv(CoreEnv):
    role = "companion"
    metadata = {"render_modes": ["human", "rgb_array"], "render_fps": 10}
    render_size = RENDER_SIZE

    def __init__(
        self, render_mode: str | None = None, config: ArenaConfig | None = None, **kwargs: Any
    ) -> None:
        self.config = _config(self.role, config, kwargs)
        self._bind(ArenaSingleCore(self.config, 1), render_mode)


class ArenaCompanionEnv(_ArenaSingleEnv):
    """One companion NPC learns to stay with a scripted player; the other NPCs are scripted.

    ## Action Space
    ``Discrete(9)``: 0 stay, 1..8 move at ``npc_speed`` toward E, NE, N, NW, W, SW, S, SE.
    With ``continuous=True``: ``Box(-1, 1, (2,))``, desired velocity / ``npc_speed``.

    ## Observation Space
    ``Box(-1, 1, (11 + n_rays + 5 n_neighbours + 3,))`` float32: own velocity and heading,
    the player's relative position and velocity, line of sight, wall ray distances, the
    nearest other NPCs, own role (see ``sim.arena.features.observe``).

    ## Rewards
    Minus the distance to the player [m], every step (``info["rewards"]["distance"]``).
    Behaviour features in ``info["features"]``.

    ## Starting State
    Layout, spawns and the player's script drawn from the seed; everyone at rest.

    ## Episode End
    Truncated after ``max_steps`` (300 = 30 s); terminated if a scripted guard (none by
    default) catches the player and ``end_on_catch``.

    ## Arguments
    ``render_mode``, ``config: ArenaConfig`` and its fields as keywords. Default roles
    ``("companion", "villager", "villager")``; ``roles[0]`` must be ``"companion"``.

    ## Version History
    * v0: initial version.
    """

    role = "companion"


class ArenaGuardEnv(_ArenaSingleEnv):
    """One guard NPC learns to catch a scripted player; the other NPCs are scripted.

    ## Action Space
    As ``ArenaCompanionEnv``: ``Discrete(9)`` moves, or a velocity ``Box`` when continuous.

    ## Observation Space
    As ``ArenaCompanionEnv``.

    ## Rewards
    +1 on the step the guard catches the player (``info["rewards"]["catch"]``), else 0.

    ## Starting State
    Layout, spawns and the player's script drawn from the seed; everyone at rest.

    ## Episode End
    Terminated on a catch (``end_on_catch``); truncated after ``max_steps``.

    ## Arguments
    ``render_mode``, ``config: ArenaConfig`` and its fields as keywords. Default roles
    ``("guard", "villager", "villager")``; ``roles[0]`` must be ``"guard"``.

    ## Version History
    * v0: initial version.
    """

    role = "guard"


def _vector(role: str, num_envs: int, render_mode: str | None, config: Any, kw: Any) -> Any:
    return CoreVectorEnv(ArenaSingleCore(_config(role, config, kw), num_envs), render_mode)


def make_companion_vector(
    num_envs: int = 1,
    render_mode: str | None = None,
    config: ArenaConfig | None = None,
    **kwargs: Any,
) -> CoreVectorEnv:
    """``ArenaCompanion-v0`` batched: one array call per step for all ``num_envs`` worlds."""
    return _vector("companion", num_envs, render_mode, config, kwargs)


def make_guard_vector(
    num_envs: int = 1,
    render_mode: str | None = None,
    config: ArenaConfig | None = None,
    **kwargs: Any,
) -> CoreVectorEnv:
    """``ArenaGuard-v0`` batched: one array call per step for all ``num_envs`` worlds."""
    return _vector("guard", num_envs, render_mode, config, kwargs)
