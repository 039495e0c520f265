"""Keys of play and correction mode to actions, by key name (``pygame.key.name``): no
pygame import here.

Driving, on the horizontal roads (highway, merge), as highway-env's manual control:
right = faster, left = slower, up = lane left, down = lane right (the road runs left to
right, the ego's left is up the screen). At the intersection the ego drives up the
screen: up = faster, down = slower, left / right = lane left / right. A discrete config
takes the last arrow pressed during a decision (none: idle); a continuous config reads the
arrows held at the decision (accelerate / brake, steer left / right). WASD work as arrows.

Arena: the held arrows give a direction (diagonals by two arrows); an NPC takes the
nearest of its 9 moves (or the velocity, continuous), the player a velocity.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from rlhf_sandbox.envs.driving import ACTIONS

LANE_LEFT, IDLE, LANE_RIGHT, FASTER, SLOWER = (ACTIONS.index(a) for a in ACTIONS)
WASD = {"w": "up", "a": "left", "s": "down", "d": "right"}
PAUSE = ("p", "space")
QUIT = ("escape", "q")
TAKE_OVER = ("t", "return")
NEW_EPISODE = ("n",)

# key -> meaning, per road orientation
_HORIZONTAL = {"right": "faster", "left": "slower", "up": "lane_left", "down": "lane_right"}
_VERTICAL = {"up": "faster", "down": "slower", "left": "lane_left", "right": "lane_right"}
_META = {"faster": FASTER, "slower": SLOWER, "lane_left": LANE_LEFT, "lane_right": LANE_RIGHT}
STEER = 0.3  # steering per held arrow, as a share of the full lock (a gentle turn)


def arrow(name: str) -> str:
    """``"w"`` -> ``"up"``, ...; other names unchanged."""
    return WASD.get(name, name)


def driving_meanings(road: str) -> dict[str, str]:
    """Arrow -> meaning (faster, slower, lane_left, lane_right) for a road layout."""
    return _VERTICAL if road == "intersection" else _HORIZONTAL


def driving_discrete(pressed: Iterable[str], road: str) -> int:
    """The meta-action of the last arrow pressed during a decision (IDLE when none)."""
    meaning = driving_meanings(road)
    action = IDLE
    for name in pressed:
        m = meaning.get(arrow(name))
        if m is not None:
            action = _META[m]
    return action


def driving_continuous(held: Iterable[str], road: str) -> np.ndarray:
    """(acceleration, steering) in [-1, 1] from the arrows held; steering left is negative."""
    meaning = driving_meanings(road)
    on = {meaning.get(arrow(k)) for k in held}
    accel = float("faster" in on) - float("slower" in on)
    steer = float("lane_right" in on) - float("lane_left" in on)
    return np.array([accel, STEER * steer], dtype=np.float32)


def direction(held: Iterable[str]) -> np.ndarray:
    """Unit direction (east, north) of the held arrows; zero when none or opposed."""
    on = {arrow(k) for k in held}
    v = np.array(
        [float("right" in on) - float("left" in on), float("up" in on) - float("down" in on)]
    )
    n = float(np.hypot(*v))
    return v / n if n > 0 else v


def arena_move(held: Iterable[str]) -> int:
    """The arena's discrete move (0 stay, 1..8 E, NE, N, NW, W, SW, S, SE) of the arrows."""
    d = direction(held)
    if not d.any():
        return 0
    angle = float(np.degrees(np.arctan2(d[1], d[0]))) % 360.0
    return round(angle / 45.0) % 8 + 1


def help_lines(driving: bool, road: str, continuous: bool, correct: bool) -> list[str]:
    """What the HUD says about the keys."""
    if driving:
        m = {v: k for k, v in driving_meanings(road).items()}
        name = {"up": "Up", "down": "Down", "left": "Left", "right": "Right"}
        side = "steer" if continuous else "lane"
        drive = (
            f"{name[m['faster']]} faster  {name[m['slower']]} slower   "
            f"{name[m['lane_left']]} {side} left  {name[m['lane_right']]} {side} right"
        )
    else:
        drive = "arrows (or WASD) move, two at once for diagonals"
    rest = "P/space pause   N new episode   Esc/Q quit (saves)"
    if correct:
        rest = "T/Enter take over   " + rest
    return [drive, rest]
