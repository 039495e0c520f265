"""Physical and behavioural constants of the arena world (pure data, no imports of ours)."""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("companion", "guard", "villager")
COMPANION, GUARD, VILLAGER = 0, 1, 2
PLAYER_MODES = ("waypoints", "random", "evasive")
WAYPOINTS, RANDOM, EVASIVE = 0, 1, 2

SIZE = 12.0  # [m] side of the square arena (outer walls included)
RADIUS = 0.3  # [m] every disc (player and NPCs)


TINY = 1e-12  # [m] distances below this count as zero (no division by them)

# Rows of the compiled step's feature array (kernel.py -> world.py)
F_DIST, F_LOS, F_WALL, F_AGENT, F_SPEED, F_JITTER = 0, 1, 2, 3, 4, 5
F_BLOCK, F_INSIDE, F_SPACE, F_CAUGHT, F_ESCAPED = 6, 7, 8, 9, 10
N_FEATURES = 11


@dataclass(frozen=True)
class ArenaParams:
    """What a world needs to know; the env's typed config is translated into this."""

    roles: tuple[int, ...] = (COMPANION, GUARD, VILLAGER, VILLAGER)  # one entry per NPC
    layout: str = "rooms"  # "open" | "rooms" | "corridors" | "procedural"
    player_mode: int = -1  # WAYPOINTS | RANDOM | EVASIVE, or -1: drawn per episode
    dt: float = 0.1  # [s] one policy step
    npc_speed: float = 2.0  # [m/s] top speed of an NPC
    player_speed: float = 1.5  # [m/s] top speed of the scripted player
    max_accel: float = 10.0  # [m/s^2] how fast a disc can change its velocity
    n_rays: int = 8  # lidar rays per NPC, evenly spread, world frame
    ray_range: float = 6.0  # [m] rays report min(distance to a wall, ray_range)
    n_neighbours: int = 2  # nearest other NPCs in an observation
    view_range: float = 6.0  # [m] how far a guard sees
    view_angle: float = 60.0  # [deg] half-angle of a guard's view cone
    hear_range: float = 1.5  # [m] a guard notices the player this close, whatever its heading
    lose_time: float = 3.0  # [s] out of sight this long, a guard gives up the pursuit
    catch_distance: float = 0.8  # [m] centre distance at which a guard catches the player
    personal_space: float = 1.0  # [m] centre distance the player treats as personal
    follow_distance: float = 1.2  # [m] where a scripted companion stops closing in
    block_length: float = 2.0  # [m] how far ahead along its path the player can be blocked
    backend: str = "auto"  # "numba" (compiled step), "numpy", or "auto": numba if installed

    @property
    def n_npcs(self) -> int:
        return len(self.roles)

    @property
    def substeps(self) -> int:
        """Collision substeps: a disc moves at most 0.7 radius per substep, so never tunnels."""
        top = max(self.npc_speed, self.player_speed) * self.dt  # [m] per policy step
        return max(1, int(-(-top // (0.7 * RADIUS))))
