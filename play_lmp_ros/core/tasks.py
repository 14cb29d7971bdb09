"""
CALVIN's 34-task oracle: which tasks a change between two scene snapshots achieves.

A task is a declarative spec (kind + arguments) whose ``achieved(start, end)`` reproduces the
condition of mees/calvin_env:calvin_env/envs/tasks.py (HEAD, which includes the 2022-02-17 change
to pushing and lifting) with the arguments of conf/tasks/new_playtable_tasks.yaml, identical to
mees/calvin:calvin_models/conf/callbacks/rollout/tasks/new_playtable_tasks.yaml.  Where CALVIN
compares pybullet uids, the specs compare body names; where it compares (uid, link id) pairs, they
compare (body, link) names.  Task categories come from
mees/calvin:calvin_models/calvin_agent/evaluation/multistep_sequences.py.
"""

import abc
from dataclasses import dataclass
import difflib
from typing import AbstractSet, Dict, FrozenSet, Iterable, Mapping, Optional, Set, Tuple

import numpy as np
from play_lmp_ros.core.layout import BLOCK_NAMES
from play_lmp_ros.core.scene_info import BlockInfo, Contact, ROBOT, SceneInfo, TABLE
from transforms3d.euler import mat2euler
from transforms3d.quaternions import quat2mat


def contact_bodies(contacts: Iterable[Contact]) -> FrozenSet[str]:
    """
    Return the bodies of a contact set, dropping the links.

    Most CALVIN checks look only at c[2] (the other body's uid), not at the link.

    :param contacts: (body, link) pairs.
    :return: the body names.
    """
    return frozenset(body for body, _ in contacts)


def relative_rotation_degrees(start_orientation: np.ndarray, end_orientation: np.ndarray
                              ) -> Tuple[float, float, float]:
    """
    Return the rotation R_end * R_start^-1 as extrinsic x, y, z euler angles in degrees.

    This is scipy's ``(end * start.inv()).as_euler('xyz', degrees=True)`` as CALVIN computes it:
    scipy's lowercase 'xyz' is extrinsic, which is transforms3d's 'sxyz'.

    :param start_orientation: (4,) quaternion, pybullet order (x, y, z, w).
    :param end_orientation: (4,) quaternion, pybullet order (x, y, z, w).
    :return: (x, y, z) in degrees; x and z in [-180, 180], y in [-90, 90].
    """
    def to_matrix(quaternion_xyzw: np.ndarray) -> np.ndarray:
        x, y, z, w = np.asarray(quaternion_xyzw, dtype=np.float64)
        return quat2mat((w, x, y, z))

    relative = to_matrix(end_orientation) @ to_matrix(start_orientation).T
    x, y, z = np.degrees(mat2euler(relative, 'sxyz'))
    return float(x), float(y), float(z)


def _velocity_below(block: BlockInfo, max_vel: float) -> bool:
    """
    Return whether every linear and angular velocity component is below max_vel in magnitude.

    :param block: the block state.
    :param max_vel: bound in m/s and rad/s alike, as in CALVIN.
    :return: True when the block is (nearly) at rest.
    """
    return bool(np.all(np.abs(block.linear_velocity) < max_vel)
                and np.all(np.abs(block.angular_velocity) < max_vel))


class TaskSpec(abc.ABC):
    """A CALVIN base task with its arguments bound."""

    @abc.abstractmethod
    def achieved(self, start: SceneInfo, end: SceneInfo) -> bool:
        """
        Return whether the change from start to end achieves this task.

        :param start: snapshot at the start of the (sub)task.
        :param end: the current snapshot.
        :return: True when CALVIN's condition holds.
        """


@dataclass(frozen=True)
class RotateObject(TaskSpec):
    """
    CALVIN ``rotate_object``: turn a block about z by more than |degrees|, keeping it upright.

    :param block: block name.
    :param degrees: +60 for left (counter-clockwise seen from above), -60 for right.
    :param xy_threshold: the rotation about x and about y must stay below this (deg).
    :param z_threshold: the rotation about z must stay below this in magnitude (deg).
    :param movement_threshold: the block may move at most this far (m).
    """

    block: str
    degrees: float
    xy_threshold: float = 30.0
    z_threshold: float = 180.0
    movement_threshold: float = 0.1

    def achieved(self, start: SceneInfo, end: SceneInfo) -> bool:
        """
        Return whether the block turned far enough, stayed near its place and rests on something.

        :param start: snapshot at the start of the (sub)task.
        :param end: the current snapshot.
        :return: True when CALVIN's condition holds.
        """
        block_start, block_end = start.blocks[self.block], end.blocks[self.block]
        if np.linalg.norm(block_end.position - block_start.position) > self.movement_threshold:
            return False
        # Only bodies count (CALVIN uses c[2]): any link of the table or of a block will do.
        if not contact_bodies(block_end.contacts) - {ROBOT}:
            return False
        x, y, z = relative_rotation_degrees(block_start.orientation, block_end.orientation)
        upright = abs(x) < self.xy_threshold and abs(y) < self.xy_threshold
        if self.degrees > 0:
            return upright and self.degrees < z < self.z_threshold
        return upright and self.degrees > z > -self.z_threshold


@dataclass(frozen=True)
class PushObject(TaskSpec):
    """
    CALVIN ``push_object``: slide a block along x or y while it stays on the same surfaces.

    :param block: block name.
    :param x_direction: signed displacement to exceed along x (m), or 0.
    :param y_direction: signed displacement to exceed along y (m), or 0.
    :raises ValueError: unless exactly one direction is non-zero (CALVIN asserts this).
    """

    block: str
    x_direction: float
    y_direction: float

    def __post_init__(self) -> None:
        """
        Check that exactly one direction is non-zero.

        :raises ValueError: when both or neither are non-zero.
        """
        if self.x_direction * self.y_direction != 0 or self.x_direction + self.y_direction == 0:
            raise ValueError(
                f'push needs exactly one non-zero direction, got x={self.x_direction}, '
                f'y={self.y_direction}')

    def achieved(self, start: SceneInfo, end: SceneInfo) -> bool:
        """
        Return whether the block moved past the threshold while keeping its surface contacts.

        :param start: snapshot at the start of the (sub)task.
        :param end: the current snapshot.
        :return: True when CALVIN's condition holds.
        """
        block_start, block_end = start.blocks[self.block], end.blocks[self.block]
        start_surfaces = {c for c in block_start.contacts if c[0] != ROBOT}
        end_surfaces = {c for c in block_end.contacts if c[0] != ROBOT}
        # (body, link) pairs: start <= end means it never left the surfaces it started on.
        if not start_surfaces or not end_surfaces or not start_surfaces <= end_surfaces:
            return False
        displacement = block_end.position - block_start.position
        axis, threshold = (0, self.x_direction) if self.x_direction else (1, self.y_direction)
        if threshold > 0:
            return bool(displacement[axis] > threshold)
        return bool(displacement[axis] < threshold)


@dataclass(frozen=True)
class MoveDoor(TaskSpec):
    """
    CALVIN ``move_door_rel``: move a prismatic door joint by more than a signed amount.

    :param joint: 'base__slide' or 'base__drawer'.
    :param threshold: the change to exceed (m); its sign gives the direction.
    """

    joint: str
    threshold: float

    def achieved(self, start: SceneInfo, end: SceneInfo) -> bool:
        """
        Return whether the joint moved past the threshold in its direction.

        :param start: snapshot at the start of the (sub)task.
        :param end: the current snapshot.
        :return: True when CALVIN's condition holds.
        """
        change = end.doors[self.joint] - start.doors[self.joint]
        return 0 < self.threshold < change or 0 > self.threshold > change


@dataclass(frozen=True)
class LiftObject(TaskSpec):
    """
    CALVIN ``lift_object``: raise a block off a given surface so that only the robot holds it.

    CALVIN's HEAD no longer requires the robot to be off the block at the start (that check was
    commented out on 2022-02-17), so neither does this spec.

    :param block: block name.
    :param z_threshold: height gain to exceed (m).
    :param surface: the (body, link) the block must touch at the start.
    """

    block: str
    z_threshold: float
    surface: Contact

    def achieved(self, start: SceneInfo, end: SceneInfo) -> bool:
        """
        Return whether the block rose far enough from the surface and only the robot touches it.

        :param start: snapshot at the start of the (sub)task.
        :param end: the current snapshot.
        :return: True when CALVIN's condition holds.
        """
        block_start, block_end = start.blocks[self.block], end.blocks[self.block]
        rise = block_end.position[2] - block_start.position[2]
        return bool(rise > self.z_threshold
                    and contact_bodies(block_end.contacts) == {ROBOT}
                    and self.surface in block_start.contacts)


@dataclass(frozen=True)
class PlaceObject(TaskSpec):
    """
    CALVIN ``place_object``: set the block the robot holds in the air down on a destination.

    :param destination: the (body, link) the released block must touch at the end.
    """

    destination: Contact

    def achieved(self, start: SceneInfo, end: SceneInfo) -> bool:
        """
        Return whether the held block was released onto the destination.

        :param start: snapshot at the start of the (sub)task.
        :param end: the current snapshot.
        :return: True when CALVIN's condition holds.
        """
        held = contact_bodies(start.robot_contacts)
        if len(held) != 1:
            return False
        (block,) = held
        if block not in start.blocks or block in contact_bodies(end.robot_contacts):
            return False
        return bool(contact_bodies(start.blocks[block].contacts) == {ROBOT}
                    and self.destination in end.blocks[block].contacts)


@dataclass(frozen=True)
class StackObjects(TaskSpec):
    """
    CALVIN ``stack_objects``: some block that touched no block now rests on blocks only.

    :param max_vel: every end velocity component (m/s, rad/s) must be below this.
    """

    max_vel: float = 1.0

    def achieved(self, start: SceneInfo, end: SceneInfo) -> bool:
        """
        Return whether some block was stacked and has settled.

        :param start: snapshot at the start of the (sub)task.
        :param end: the current snapshot.
        :return: True when CALVIN's condition holds.
        """
        blocks = frozenset(start.blocks)
        for name in start.blocks:
            start_bodies = contact_bodies(start.blocks[name].contacts)
            end_bodies = contact_bodies(end.blocks[name].contacts)
            if (not start_bodies & blocks and end_bodies & blocks and not end_bodies - blocks
                    and _velocity_below(end.blocks[name], self.max_vel)):
                return True
        return False


@dataclass(frozen=True)
class UnstackObjects(TaskSpec):
    """
    CALVIN ``unstack_objects``: some block that rested on blocks only now touches no block.

    CALVIN checks the velocities at the start, not at the end, and so does this spec.

    :param max_vel: every start velocity component (m/s, rad/s) must be below this.
    """

    max_vel: float = 1.0

    def achieved(self, start: SceneInfo, end: SceneInfo) -> bool:
        """
        Return whether some settled stacked block was taken off the stack.

        :param start: snapshot at the start of the (sub)task.
        :param end: the current snapshot.
        :return: True when CALVIN's condition holds.
        """
        blocks = frozenset(start.blocks)
        for name in start.blocks:
            start_bodies = contact_bodies(start.blocks[name].contacts)
            end_bodies = contact_bodies(end.blocks[name].contacts)
            if (start_bodies & blocks and not start_bodies - blocks and not end_bodies & blocks
                    and _velocity_below(start.blocks[name], self.max_vel)):
                return True
        return False


@dataclass(frozen=True)
class ToggleLight(TaskSpec):
    """
    CALVIN ``toggle_light``: a light's logical state goes from one value to another.

    :param light: 'lightbulb' or 'led'.
    :param start_state: required logical state at the start (0 or 1).
    :param end_state: required logical state at the end (0 or 1).
    """

    light: str
    start_state: int
    end_state: int

    def achieved(self, start: SceneInfo, end: SceneInfo) -> bool:
        """
        Return whether the light was in start_state at the start and is in end_state now.

        :param start: snapshot at the start of the (sub)task.
        :param end: the current snapshot.
        :return: True when CALVIN's condition holds.
        """
        return (start.lights[self.light] == self.start_state
                and end.lights[self.light] == self.end_state)


@dataclass(frozen=True)
class PushObjectInto(TaskSpec):
    """
    CALVIN ``push_object_into``: any of the blocks goes from resting on source to touching dest.

    CALVIN means the robot to touch the block neither at the start nor at the end, but its test
    ``robot_uid not in start_contacts | end_contacts`` looks for a bare uid in a set of (uid, link)
    pairs and so never fails.  The start half still holds because the start contacts must be
    exactly the source; the end half does not.  To score like CALVIN this spec reproduces that:
    a robot touching the block at the end does not prevent success.

    :param blocks: candidate block names; one success suffices.
    :param source: the only (body, link) a block may touch at the start.
    :param destination: a (body, link) the block must touch at the end.
    """

    blocks: Tuple[str, ...]
    source: Contact
    destination: Contact

    def achieved(self, start: SceneInfo, end: SceneInfo) -> bool:
        """
        Return whether some block left the source for the destination.

        :param start: snapshot at the start of the (sub)task.
        :param end: the current snapshot.
        :return: True when CALVIN's condition holds.
        """
        return any(start.blocks[name].contacts == {self.source}
                   and self.destination in end.blocks[name].contacts
                   for name in self.blocks)


def _color(block: str) -> str:
    """
    Return the colour word CALVIN uses in task names for a block.

    :param block: e.g. 'block_red'.
    :return: e.g. 'red'.
    """
    return block[len('block_'):]


def _build_tasks() -> Dict[str, TaskSpec]:
    """
    Build the task table in the order of CALVIN's new_playtable_tasks.yaml.

    :return: task name -> spec, insertion-ordered.
    """
    tasks: Dict[str, TaskSpec] = {}
    for block in BLOCK_NAMES:
        tasks[f'rotate_{_color(block)}_block_right'] = RotateObject(block, -60)
        tasks[f'rotate_{_color(block)}_block_left'] = RotateObject(block, 60)
    for block in BLOCK_NAMES:
        tasks[f'push_{_color(block)}_block_right'] = PushObject(block, 0.1, 0)
        tasks[f'push_{_color(block)}_block_left'] = PushObject(block, -0.1, 0)
    tasks['move_slider_left'] = MoveDoor('base__slide', 0.15)
    tasks['move_slider_right'] = MoveDoor('base__slide', -0.15)
    tasks['open_drawer'] = MoveDoor('base__drawer', 0.12)
    tasks['close_drawer'] = MoveDoor('base__drawer', -0.12)
    for block in BLOCK_NAMES:
        tasks[f'lift_{_color(block)}_block_table'] = LiftObject(block, 0.05, (TABLE, 'base_link'))
        tasks[f'lift_{_color(block)}_block_slider'] = LiftObject(
            block, 0.03, (TABLE, 'plank_link'))
        tasks[f'lift_{_color(block)}_block_drawer'] = LiftObject(
            block, 0.05, (TABLE, 'drawer_link'))
    tasks['place_in_slider'] = PlaceObject((TABLE, 'plank_link'))
    tasks['place_in_drawer'] = PlaceObject((TABLE, 'drawer_link'))
    tasks['stack_block'] = StackObjects(max_vel=1.0)
    tasks['unstack_block'] = UnstackObjects(max_vel=1.0)
    tasks['turn_on_lightbulb'] = ToggleLight('lightbulb', 0, 1)
    tasks['turn_off_lightbulb'] = ToggleLight('lightbulb', 1, 0)
    tasks['turn_on_led'] = ToggleLight('led', 0, 1)
    tasks['turn_off_led'] = ToggleLight('led', 1, 0)
    tasks['push_into_drawer'] = PushObjectInto(
        BLOCK_NAMES, (TABLE, 'base_link'), (TABLE, 'drawer_link'))
    return tasks


TASKS: Mapping[str, TaskSpec] = _build_tasks()
TASK_NAMES: Tuple[str, ...] = tuple(TASKS)

# Used to forbid two tasks of one category in a 5-task evaluation chain; CALVIN's numbering.
TASK_CATEGORIES: Mapping[str, int] = {
    'rotate_red_block_right': 1, 'rotate_red_block_left': 1,
    'rotate_blue_block_right': 1, 'rotate_blue_block_left': 1,
    'rotate_pink_block_right': 1, 'rotate_pink_block_left': 1,
    'push_red_block_right': 1, 'push_red_block_left': 1,
    'push_blue_block_right': 1, 'push_blue_block_left': 1,
    'push_pink_block_right': 1, 'push_pink_block_left': 1,
    'move_slider_left': 2, 'move_slider_right': 2,
    'open_drawer': 3, 'close_drawer': 3,
    'lift_red_block_table': 4, 'lift_blue_block_table': 4, 'lift_pink_block_table': 4,
    'lift_red_block_slider': 5, 'lift_blue_block_slider': 5, 'lift_pink_block_slider': 5,
    'lift_red_block_drawer': 6, 'lift_blue_block_drawer': 6, 'lift_pink_block_drawer': 6,
    'place_in_slider': 7, 'place_in_drawer': 7,
    'turn_on_lightbulb': 8, 'turn_off_lightbulb': 8, 'turn_on_led': 8, 'turn_off_led': 8,
    'push_into_drawer': 9,
    'stack_block': 10,
    'unstack_block': 11,
}


class TaskOracle:
    """Detect which CALVIN tasks a change between two scene snapshots achieves."""

    def __init__(self, tasks: Optional[Mapping[str, TaskSpec]] = None) -> None:
        """
        Create an oracle over a task table.

        :param tasks: task name -> spec; CALVIN's 34 tasks (TASKS) when omitted.
        """
        self.tasks: Mapping[str, TaskSpec] = dict(TASKS if tasks is None else tasks)
        self._longest_name = max(len(name) for name in self.tasks)

    def require_known(self, names: Iterable[str]) -> None:
        """
        Raise unless every name is a task of this oracle.

        :param names: task names to check.
        :raises ValueError: naming the first unknown task and its closest known names.
        """
        longest = self._longest_name
        for name in names:
            if name in self.tasks:
                continue
            name = str(name)
            if len(name) > 2 * longest:
                # Neither echoed nor fuzzy-matched: both cost in proportion to its length.
                raise ValueError(f'unknown task: a name of {len(name)} characters (task names '
                                 f'have at most {longest})')
            close = difflib.get_close_matches(name, list(self.tasks), n=3)
            hint = f'; did you mean {", ".join(close)}?' if close else ''
            raise ValueError(f'unknown task {name!r}{hint}')

    def check(self, task: str, start: SceneInfo, end: SceneInfo) -> bool:
        """
        Return whether one task is achieved between start and end.

        :param task: a task name, e.g. 'open_drawer'.
        :param start: snapshot at the start of the (sub)task.
        :param end: the current snapshot.
        :return: True when CALVIN's condition for the task holds.
        :raises ValueError: when the task name is unknown.
        """
        self.require_known([task])
        return bool(self.tasks[task].achieved(start, end))

    def get_task_info(self, start: SceneInfo, end: SceneInfo) -> Set[str]:
        """
        Return every task achieved between start and end.

        :param start: snapshot at the start of the (sub)task.
        :param end: the current snapshot.
        :return: the names of the achieved tasks.
        """
        return {name for name, spec in self.tasks.items() if spec.achieved(start, end)}

    def get_task_info_for_set(self, start: SceneInfo, end: SceneInfo,
                              tasks: AbstractSet[str]) -> Set[str]:
        """
        Return the tasks of a given set that are achieved between start and end.

        Unlike CALVIN, which silently skips names it does not know, unknown names raise so that
        a typo cannot turn into a task that never succeeds.

        :param start: snapshot at the start of the (sub)task.
        :param end: the current snapshot.
        :param tasks: the task names to check.
        :return: the achieved subset of tasks.
        :raises ValueError: when a task name is unknown.
        """
        self.require_known(tasks)
        return {name for name in tasks if self.tasks[name].achieved(start, end)}
