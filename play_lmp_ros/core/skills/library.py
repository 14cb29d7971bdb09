"""
The skill of every task: one builder and one feasibility rule per kind of oracle task.

A task's arguments (which block, which way, which joint, which light, which surface) are those
of its spec in core.tasks.TASKS.  TASK_SKILLS maps each spec class to how its arguments read, the
builder that turns them into waypoints and the rule that says whether the skill can run.
"""

from typing import Callable, Dict, List, Mapping, NamedTuple, Optional, Tuple, Type

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_ros.core.sim import scene_geometry as geo
from play_lmp_ros.core.skills import feasibility
from play_lmp_ros.core.skills.controller import CONTACT_FRACTION, Goal, Skill, Waypoint
from play_lmp_ros.core.skills.geometry import (
    BLOCK_INDEX, block_pose, footprint_extent, grasp_roll_pitch, grasp_yaw, held_block,
    STACK_HEIGHT)
from play_lmp_ros.core.skills.landmarks import (
    BUTTON_PRESS_Z, BUTTON_XY, Door, DOORS, SURFACE_SUPPORTS, SWITCH_BAR0, SWITCH_DIRECTION,
    SWITCH_GRASP_ROLL_PITCH, SWITCH_GRASP_YAW, SWITCH_OUTWARD, SWITCH_STANDOFF, TABLE_FRONT_Y,
    TRANSIT_Z)
from play_lmp_ros.core.skills.motions import (
    BLOCK_GRASP_DZ, carry_to, clear_height, fixed, grasp, GRIPPER_SETTLE_STEPS, held_or_grasp,
    HOVER, push, PUSH_DISTANCE, PUSH_GAP, RELEASE_DROP, retreat, ROTATE_ANGLE, turn_grasp_yaw)
from play_lmp_ros.core.tasks import (
    LiftObject, MoveDoor, PlaceObject, PushObject, PushObjectInto, RotateObject, StackObjects,
    TASK_NAMES, TASKS, TaskSpec, ToggleLight, UnstackObjects)

SKILL_MAX_STEPS = 320
# A block lifted off the shelf rises this much (past CALVIN's 0.03 m) and comes forward to this
# y, below and in front of the lintel.
SHELF_LIFT_HEIGHT = 0.06
SHELF_LIFT_Y = 0.07
# Door and drawer moves aim this far past the oracle's threshold (0.15 m / 0.12 m).
DOOR_OVERSHOOT = 0.04

Arguments = Dict[str, object]


# ------------------------------------------------------------------ builders


def door_waypoints(door: Door, goal_value: float) -> List[Waypoint]:
    """
    Return the waypoints that grip a door's or drawer's handle where it is and pull it.

    :param door: the sliding door or the drawer.
    :param goal_value: the joint value (m) to pull it to.
    :return: waypoints: above handle, descend, grip, pull, then the retreat.
    """
    def current(obs: np.ndarray) -> np.ndarray:
        return door.handle(obs[layout.ROBOT_OBS_DIM + door.state_index])

    yaw = door.grasp_yaw

    def above(obs: np.ndarray) -> Tuple[np.ndarray, float]:
        return current(obs) + np.array([0.0, 0.0, HOVER]), yaw

    return [
        Waypoint('above handle', above, layout.GRIPPER_OPEN, tolerance=0.015),
        Waypoint('descend', lambda obs: (current(obs), yaw), layout.GRIPPER_OPEN,
                 tolerance=0.006, fraction=CONTACT_FRACTION),
        Waypoint('grip', lambda obs: (current(obs), yaw), layout.GRIPPER_CLOSE,
                 tolerance=0.02, hold=GRIPPER_SETTLE_STEPS),
        Waypoint('pull', fixed(door.handle(goal_value), yaw), layout.GRIPPER_CLOSE,
                 tolerance=0.01, fraction=0.6, timeout=80),
        *retreat(rise=HOVER),
    ]


def door_goal(door: Door, start_value: float, sign: float, travel: float) -> float:
    """
    Return the joint value a door move aims for: DOOR_OVERSHOOT past the oracle's threshold.

    :param door: the sliding door or the drawer.
    :param start_value: its joint value where the move starts (m).
    :param sign: +1 towards its upper joint limit, -1 towards the lower one.
    :param travel: the oracle's threshold (m).
    :return: the goal joint value (m), within the joint's range.
    """
    return float(np.clip(start_value + sign * (travel + DOOR_OVERSHOOT), *door.joint_range))


def _door_skill(obs: np.ndarray, rng: np.random.Generator, door: Door, sign: float,
                travel: float) -> List[Waypoint]:
    """
    Return the waypoints of move_slider_* and open/close_drawer: grip the handle and pull.

    :param obs: (39,) observation at skill start.
    :param rng: unused; the move has no choices.
    :param door: the sliding door or the drawer.
    :param sign: +1 towards its upper joint limit, -1 towards the lower one.
    :param travel: the oracle's threshold (m); the move aims DOOR_OVERSHOOT past it.
    :return: waypoints.
    """
    start = obs[layout.ROBOT_OBS_DIM + door.state_index]
    return door_waypoints(door, door_goal(door, start, sign, travel))


def _button_waypoints() -> List[Waypoint]:
    """
    Return the waypoints that press the button once with closed fingers.

    :return: waypoints.
    """
    above = (*BUTTON_XY, BUTTON_PRESS_Z + HOVER)
    return [
        Waypoint('above button', fixed(above), layout.GRIPPER_CLOSE, tolerance=0.01),
        Waypoint('press', fixed((*BUTTON_XY, BUTTON_PRESS_Z)), layout.GRIPPER_CLOSE,
                 tolerance=0.006, hold=2, fraction=CONTACT_FRACTION, timeout=40),
        Waypoint('lift off', fixed(above), layout.GRIPPER_CLOSE, tolerance=0.015),
    ]


def _switch_waypoints(end_state: int) -> List[Waypoint]:
    """
    Return the waypoints that grip the switch's bar and slide it up (on) or down (off).

    The hand tilts in front of the bar, comes in along the leaning face's normal, grips the bar
    across its thickness, slides it along the face and backs out the way it came.

    :param end_state: 1 to turn the lightbulb on, 0 to turn it off.
    :return: waypoints.
    """
    goal_value = layout.SWITCH_RANGE[1] - 0.004 if end_state else 0.004
    tilt = SWITCH_GRASP_ROLL_PITCH

    def bar(value: float) -> np.ndarray:
        return np.asarray(SWITCH_BAR0) + value * SWITCH_DIRECTION

    def knob(obs: np.ndarray) -> np.ndarray:
        return bar(obs[layout.ROBOT_OBS_DIM + layout.SWITCH])

    def standoff(obs: np.ndarray) -> Tuple[np.ndarray, float]:
        return knob(obs) + SWITCH_STANDOFF * SWITCH_OUTWARD, SWITCH_GRASP_YAW

    def grip(obs: np.ndarray) -> Tuple[np.ndarray, float]:
        return knob(obs), SWITCH_GRASP_YAW

    release = fixed(bar(goal_value), SWITCH_GRASP_YAW)
    backed_out = bar(goal_value) + SWITCH_STANDOFF * SWITCH_OUTWARD
    return [
        Waypoint('before knob', lambda obs: (standoff(obs)[0] + (0.0, 0.0, HOVER),
                                             SWITCH_GRASP_YAW),
                 layout.GRIPPER_OPEN, tolerance=0.015),
        Waypoint('tilt', standoff, layout.GRIPPER_OPEN, tolerance=0.01, roll_pitch=tilt),
        Waypoint('reach in', grip, layout.GRIPPER_OPEN, tolerance=0.006,
                 fraction=CONTACT_FRACTION, roll_pitch=tilt),
        Waypoint('grip', grip, layout.GRIPPER_CLOSE, tolerance=0.02, hold=GRIPPER_SETTLE_STEPS,
                 roll_pitch=tilt),
        Waypoint('slide', release, layout.GRIPPER_CLOSE, tolerance=0.006, fraction=0.5,
                 timeout=60, roll_pitch=tilt),
        Waypoint('release', release, layout.GRIPPER_OPEN, tolerance=0.02,
                 hold=GRIPPER_SETTLE_STEPS, timeout=GRIPPER_SETTLE_STEPS + 4, roll_pitch=tilt),
        Waypoint('back out', fixed(backed_out, SWITCH_GRASP_YAW), layout.GRIPPER_OPEN,
                 tolerance=0.015, roll_pitch=tilt),
        Waypoint('untilt', fixed(backed_out + (0.0, 0.0, HOVER), SWITCH_GRASP_YAW),
                 layout.GRIPPER_OPEN, tolerance=0.02),
    ]


def _light_skill(obs: np.ndarray, rng: np.random.Generator, light: str, start_state: int,
                 end_state: int) -> List[Waypoint]:
    """
    Return the waypoints of turn_on/off_led and turn_on/off_lightbulb.

    The button toggles the LED, so pressing it once switches it whatever its state; the switch
    sets the lightbulb by its position.

    :param obs: (39,) observation at skill start.
    :param rng: unused; the move has no choices.
    :param light: 'led' or 'lightbulb'.
    :param start_state: the light's state now, which feasibility has checked.
    :param end_state: the state to switch it to (0 or 1).
    :return: waypoints.
    """
    return _button_waypoints() if light == 'led' else _switch_waypoints(end_state)


def _lift_skill(obs: np.ndarray, rng: np.random.Generator, block: int,
                support: str) -> List[Waypoint]:
    """
    Return the waypoints of lift_*: grasp the block and hold it up in the air (no release).

    :param obs: (39,) observation at skill start.
    :param rng: unused; the move has no choices.
    :param block: 0 red, 1 blue, 2 pink.
    :param support: what it rests on; in the drawer the red block may be gripped either way.
    :return: waypoints.
    """
    start = block_pose(obs, block)[:3]
    any_side = support == 'drawer'
    roll_pitch = grasp_roll_pitch(*start[:2], grasp_yaw(obs, block, any_side=any_side))
    return [*grasp(block, any_side=any_side, roll_pitch=roll_pitch),
            lift_waypoint(start[:2], start[2], support, roll_pitch)]


def lift_waypoint(xy: np.ndarray, rest_z: float, support: str, roll_pitch: tuple) -> Waypoint:
    """
    Return the waypoint that lifts a gripped block off its support and holds it there.

    :param xy: (2,) the block's position where it is gripped (m).
    :param rest_z: its height where it rested (m).
    :param support: what it rested on (geometry.block_support).
    :param roll_pitch: the hand's roll and pitch, kept from the grasp.
    :return: the waypoint.
    """
    if support == 'slider':
        # Out of the shelf: up under the lintel and forwards, the hand still leaning if it did.
        lift_to = (xy[0], min(xy[1], SHELF_LIFT_Y), rest_z + SHELF_LIFT_HEIGHT)
    else:
        lift_to = (xy[0], xy[1], max(rest_z + 0.12, 0.52))
    return Waypoint('lift', fixed(lift_to, None), layout.GRIPPER_CLOSE, tolerance=0.01, hold=4,
                    fraction=0.5, roll_pitch=roll_pitch)


def _rotate_skill(obs: np.ndarray, rng: np.random.Generator, block: int,
                  sign: float) -> List[Waypoint]:
    """
    Return the waypoints of rotate_*: grasp, raise a little, turn about z, set down, release.

    :param obs: (39,) observation at skill start.
    :param rng: unused; the move has no choices.
    :param block: 0 red, 1 blue, 2 pink.
    :param sign: +1 for left (counter-clockwise from above), -1 for right.
    :return: waypoints.
    """
    start = block_pose(obs, block)[:3]
    memory: Dict[str, float] = {}

    def grasped_yaw(obs: np.ndarray) -> float:
        memory.setdefault('grasp', float(obs[layout.TCP_ORN][2]))
        return memory['grasp']

    def turned(height: float) -> Goal:
        def goal(obs: np.ndarray) -> Tuple[np.ndarray, float]:
            return start + (0.0, 0.0, height), grasped_yaw(obs) + sign * ROTATE_ANGLE
        return goal

    return [
        *grasp(block, turn_grasp_yaw(sign)),
        Waypoint('raise', lambda obs: (start + (0.0, 0.0, 0.02), grasped_yaw(obs)),
                 layout.GRIPPER_CLOSE, tolerance=0.008, fraction=0.5),
        Waypoint('turn', turned(0.02), layout.GRIPPER_CLOSE, tolerance=0.01, hold=6,
                 timeout=70),
        Waypoint('set down', turned(BLOCK_GRASP_DZ), layout.GRIPPER_CLOSE, tolerance=0.006,
                 fraction=CONTACT_FRACTION),
        *retreat(rise=TRANSIT_Z - start[2]),
    ]


def _push_skill(obs: np.ndarray, rng: np.random.Generator, block: int,
                sign: float) -> List[Waypoint]:
    """
    Return the waypoints of push_*_block_*: slide the block along x with closed fingers.

    :param obs: (39,) observation at skill start.
    :param rng: unused; the move has no choices.
    :param block: 0 red, 1 blue, 2 pink.
    :param sign: +1 right (+x), -1 left.
    :return: waypoints.
    """
    return push(obs, block, np.array([sign, 0.0]), PUSH_DISTANCE + PUSH_GAP)


def release_height(support: str) -> float:
    """
    Return the TCP height at which the fingers let a carried block go onto a surface.

    :param support: 'table', 'slider' (the shelf) or 'drawer'.
    :return: m.
    """
    if support == 'drawer':
        # Released above the table top's height so that no finger can catch its front edge.
        return geo.TABLE_TOP_Z + 0.02
    return geo.BLOCK_REST_Z + BLOCK_GRASP_DZ + RELEASE_DROP


def stack_release_height(obs: np.ndarray, base: int) -> float:
    """
    Return the TCP height at which the fingers let a carried block go onto another one.

    :param obs: (39,) observation.
    :param base: the block it goes onto.
    :return: m.
    """
    return block_pose(obs, base)[2] + STACK_HEIGHT + BLOCK_GRASP_DZ + RELEASE_DROP


def _stack_skill(obs: np.ndarray, rng: np.random.Generator) -> List[Waypoint]:
    """
    Return the waypoints of stack_block: put one block on top of another, release, retreat.

    :param obs: (39,) observation at skill start.
    :param rng: chooses the pair among those feasible.
    :return: waypoints.
    """
    block, base = feasibility.stack_pair(obs, rng)
    release_z = stack_release_height(obs, base)
    return [
        *held_or_grasp(obs, block),
        *carry_to(lambda obs: block_pose(obs, base)[:2], release_z),
        *retreat(rise=TRANSIT_Z - release_z),
    ]


def _unstack_skill(obs: np.ndarray, rng: np.random.Generator) -> List[Waypoint]:
    """
    Return the waypoints of unstack_block: take the top block to a free spot on the table.

    :param obs: (39,) observation at skill start.
    :param rng: unused; the top block and its spot are the first found.
    :return: waypoints.
    """
    block = feasibility.stacked_block(obs)
    spot = feasibility.table_spot(obs, block)
    release_z = release_height('table')
    return [*grasp(block), *carry_to(lambda obs: spot, release_z),
            *retreat(rise=TRANSIT_Z - release_z)]


def _place_skill(obs: np.ndarray, rng: np.random.Generator, support: str) -> List[Waypoint]:
    """
    Return the waypoints of place_in_slider / place_in_drawer: carry the held block and let go.

    :param obs: (39,) observation at skill start.
    :param rng: unused; the spot is the first found.
    :param support: 'slider' (the shelf) or 'drawer'.
    :return: waypoints.
    """
    spot = feasibility.place_spot(obs, support, held_block(obs))
    release_z = release_height(support)
    return [*carry_to(lambda obs: spot, release_z, TRANSIT_Z),
            *retreat(rise=TRANSIT_Z - release_z)]


def _push_into_drawer_skill(obs: np.ndarray, rng: np.random.Generator,
                            blocks: Tuple[int, ...]) -> List[Waypoint]:
    """
    Return the waypoints of push_into_drawer: push a block off the table's front edge.

    :param obs: (39,) observation at skill start.
    :param rng: chooses the block among those that can go.
    :param blocks: the blocks to choose from.
    :return: waypoints.
    """
    candidates = feasibility.drawer_candidates(obs, blocks)
    block = candidates[int(rng.integers(len(candidates)))]
    pose = block_pose(obs, block)
    extent = footprint_extent(block, pose[5])[1]
    # The TCP travels until the block's centre is well past the table's front edge.
    distance = pose[1] - TABLE_FRONT_Y + extent + 0.035
    return push(obs, block, np.array([0.0, -1.0]), distance)


# ------------------------------------------------------------------ arguments from the specs


def _sign(value: float) -> float:
    """
    Return the direction of a signed oracle argument.

    :param value: a threshold, angle or displacement; never 0 in the oracle's table.
    :return: +1.0 or -1.0.
    """
    return 1.0 if value > 0 else -1.0


def _rotate_arguments(spec: RotateObject) -> Arguments:
    """
    Read a rotation's block and direction.

    :param spec: the task.
    :return: block, sign.
    """
    return {'block': BLOCK_INDEX[spec.block], 'sign': _sign(spec.degrees)}


def _push_arguments(spec: PushObject) -> Arguments:
    """
    Read a push's block and direction.

    :param spec: the task.
    :return: block, sign.
    :raises ValueError: for a push along y, which no skill does.
    """
    if spec.y_direction:
        raise ValueError(f'only pushes along x are scripted, not {spec}')
    return {'block': BLOCK_INDEX[spec.block], 'sign': _sign(spec.x_direction)}


def _door_arguments(spec: MoveDoor) -> Arguments:
    """
    Read which part moves, which way and how far.

    :param spec: the task.
    :return: door, sign, travel.
    """
    return {'door': DOORS[spec.joint], 'sign': _sign(spec.threshold),
            'travel': abs(spec.threshold)}


def _lift_arguments(spec: LiftObject) -> Arguments:
    """
    Read which block is lifted from where.

    :param spec: the task.
    :return: block, support.
    """
    return {'block': BLOCK_INDEX[spec.block], 'support': SURFACE_SUPPORTS[spec.surface]}


def _place_arguments(spec: PlaceObject) -> Arguments:
    """
    Read where the held block goes.

    :param spec: the task.
    :return: support.
    """
    return {'support': SURFACE_SUPPORTS[spec.destination]}


def _light_arguments(spec: ToggleLight) -> Arguments:
    """
    Read which light goes from which state to which.

    :param spec: the task.
    :return: light, start_state, end_state.
    """
    return {'light': spec.light, 'start_state': spec.start_state, 'end_state': spec.end_state}


def _push_into_arguments(spec: PushObjectInto) -> Arguments:
    """
    Read which blocks may be pushed into the drawer.

    :param spec: the task.
    :return: blocks.
    :raises ValueError: unless the push goes from the table into the drawer, the one scripted.
    """
    if (SURFACE_SUPPORTS[spec.source], SURFACE_SUPPORTS[spec.destination]) != (
            'table', 'drawer'):
        raise ValueError(f'only pushes from the table into the drawer are scripted, not {spec}')
    return {'blocks': tuple(BLOCK_INDEX[block] for block in spec.blocks)}


def _no_arguments(spec: TaskSpec) -> Arguments:
    """
    Read nothing: the skill finds its blocks in the state.

    :param spec: the task.
    :return: no arguments.
    """
    return {}


# ------------------------------------------------------------------ the table


class TaskSkill(NamedTuple):
    """
    How one kind of oracle task is scripted.

    :param arguments: spec -> the keyword arguments of build and infeasibility.
    :param build: (obs, rng, **arguments) -> the waypoints after the first rise to a safe height.
    :param infeasibility: (obs, **arguments) -> why the skill cannot run from obs, or None.
    :param acted_on: spec -> the object it acts on, e.g. 'block_red', 'slider', 'led', 'blocks'.
    :param needs_free_hand: whether holding a block rules it out.
    """

    arguments: Callable[[TaskSpec], Arguments]
    build: Callable[..., List[Waypoint]]
    infeasibility: Callable[..., Optional[str]]
    acted_on: Callable[[TaskSpec], str]
    needs_free_hand: bool = True


TASK_SKILLS: Mapping[Type[TaskSpec], TaskSkill] = {
    RotateObject: TaskSkill(_rotate_arguments, _rotate_skill, feasibility.rotate_reason,
                            lambda spec: spec.block),
    PushObject: TaskSkill(_push_arguments, _push_skill, feasibility.push_reason,
                          lambda spec: spec.block),
    MoveDoor: TaskSkill(_door_arguments, _door_skill, feasibility.door_reason,
                        lambda spec: DOORS[spec.joint].part),
    LiftObject: TaskSkill(_lift_arguments, _lift_skill, feasibility.lift_reason,
                          lambda spec: spec.block),
    PlaceObject: TaskSkill(_place_arguments, _place_skill, feasibility.place_reason,
                           lambda spec: 'blocks', needs_free_hand=False),
    StackObjects: TaskSkill(_no_arguments, _stack_skill, feasibility.stack_reason,
                            lambda spec: 'blocks', needs_free_hand=False),
    UnstackObjects: TaskSkill(_no_arguments, _unstack_skill, feasibility.unstack_reason,
                              lambda spec: 'blocks'),
    ToggleLight: TaskSkill(_light_arguments, _light_skill, feasibility.light_reason,
                           lambda spec: spec.light),
    PushObjectInto: TaskSkill(_push_into_arguments, _push_into_drawer_skill,
                              feasibility.push_into_drawer_reason, lambda spec: 'blocks'),
}

# The object each task acts on: a block's name, 'slider', 'drawer', 'led', 'lightbulb', or
# 'blocks' for the tasks that choose their blocks from the state.
TASK_OBJECTS: Mapping[str, str] = {
    task: TASK_SKILLS[type(spec)].acted_on(spec) for task, spec in TASKS.items()}


def infeasibility(task: str, obs: np.ndarray) -> Optional[str]:
    """
    Return why a task's skill cannot run from a state, or None when it can.

    :param task: one of the 34 task names.
    :param obs: (39,) observation.
    :return: the reason or None.
    :raises ValueError: when the task is unknown.
    """
    if task not in TASKS:
        raise ValueError(f'unknown task {task!r}; known tasks: {", ".join(TASK_NAMES)}')
    spec = TASKS[task]
    skill = TASK_SKILLS[type(spec)]
    if skill.needs_free_hand and held_block(obs) is not None:
        return 'a block is held; only placing and stacking can follow'
    return skill.infeasibility(obs, **skill.arguments(spec))


def feasible_tasks(obs: np.ndarray) -> List[str]:
    """
    Return the tasks whose skills can run from a state, in TASK_NAMES order.

    :param obs: (39,) observation.
    :return: task names.
    """
    obs = layout.check_vector(obs, layout.OBS_DIM, 'observation')
    return [task for task in TASK_NAMES if infeasibility(task, obs) is None]


def make_skill(task: str, obs: np.ndarray, rng: np.random.Generator,
               speed: float = 1.0) -> Skill:
    """
    Build the skill for a task from the current state.

    :param task: one of the 34 task names.
    :param obs: (39,) current observation.
    :param rng: chooses among equivalent options (which blocks to stack, which to push).
    :param speed: factor on the cruise speed, e.g. in [0.7, 1.2].
    :return: a fresh Skill.
    :raises ValueError: when the task is unknown or infeasible from this state (says why).
    """
    obs = layout.check_vector(obs, layout.OBS_DIM, 'observation')
    reason = infeasibility(task, obs)
    if reason is not None:
        raise ValueError(f'{task} is not feasible here: {reason}')
    spec = TASKS[task]
    skill = TASK_SKILLS[type(spec)]
    waypoints = [clear_height(obs), *skill.build(obs, rng, **skill.arguments(spec))]
    return Skill(task, waypoints, speed, SKILL_MAX_STEPS)
