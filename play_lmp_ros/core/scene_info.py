"""
A plain-data snapshot of the play table, the input of the task oracle.

The simulator fills it after every step on request; tests build it by hand.  Contacts are named
rather than numbered so that snapshots mean the same thing in every simulator backend:
a contact is a (body, link) pair such as ('table', 'drawer_link') or ('block_blue', 'base_link').
Bodies are 'robot', 'table' and the block names of layout.BLOCK_NAMES.  The table's links are
TABLE_LINKS; a block has the single link 'base_link'.
"""

from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Tuple

import numpy as np

ROBOT = 'robot'
TABLE = 'table'
TABLE_LINKS = (
    'base_link', 'button_link', 'switch_link', 'slide_link', 'drawer_link', 'led_link',
    'light_link', 'plank_link',
)

Contact = Tuple[str, str]


@dataclass(frozen=True)
class BlockInfo:
    """
    State of one movable block.

    :param position: (3,) world position of the block centre (m).
    :param orientation: (4,) world orientation quaternion, pybullet order (x, y, z, w).
    :param linear_velocity: (3,) m/s.
    :param angular_velocity: (3,) rad/s.
    :param contacts: every (body, link) the block touches.
    """

    position: np.ndarray
    orientation: np.ndarray
    linear_velocity: np.ndarray = field(default_factory=lambda: np.zeros(3))
    angular_velocity: np.ndarray = field(default_factory=lambda: np.zeros(3))
    contacts: FrozenSet[Contact] = frozenset()


@dataclass(frozen=True)
class SceneInfo:
    """
    Everything the 34-task oracle looks at.

    :param doors: joint value (m) per door: 'base__slide' and 'base__drawer'.
    :param lights: logical state (0 or 1) per light: 'lightbulb' and 'led'.
    :param blocks: BlockInfo per block name.
    :param robot_contacts: every (body, link) the robot touches, itself excluded.
    """

    doors: Dict[str, float]
    lights: Dict[str, int]
    blocks: Dict[str, BlockInfo]
    robot_contacts: FrozenSet[Contact] = frozenset()
