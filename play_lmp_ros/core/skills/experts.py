"""
Every task's scripted skill as an expert that acts from any state: the labeller of DAgger.

A Skill is a phase machine that starts at the skill's start and walks its waypoints in order.
An Expert asks, at every call, what that skill would do if it took over in the state at hand:
it infers the phase from the state (a block held, the fingers closed on nothing, the hand
already over the handle, a block half pushed) and runs the skill's waypoints from there.  What
the task is judged against (how far a block has turned or moved, where a door started) comes
from the episode's start state, as the oracle's does; the rest comes from the state at hand.
So an Expert's action is a function of (start state, state), never of its own history, and it
labels a state that a student reached without having driven there itself.
"""

from typing import Callable, Dict, List, Optional

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_ros.core.sim import scene_geometry as geo
from play_lmp_ros.core.skills import feasibility
from play_lmp_ros.core.skills.controller import Skill, Waypoint
from play_lmp_ros.core.skills.geometry import (
    block_below, BLOCK_GRASP_DZ, block_pose, block_support, DOWN_ROLL_PITCH,
    FINGER_HALF_THICKNESS, footprint_extent, grasp_roll_pitch, grasp_yaw, held_block, is_upright,
    NEUTRAL_YAW, tcp_position)
from play_lmp_ros.core.skills.landmarks import (
    BUTTON_PRESS_Z, BUTTON_XY, LIGHT_STATE_INDEX, SWITCH_BAR0,
    SWITCH_DIRECTION, SWITCH_GRASP_YAW, SWITCH_OUTWARD, SWITCH_STANDOFF, TABLE_FRONT_Y,
    TRANSIT_Z)
from play_lmp_ros.core.skills.library import (
    _button_waypoints, _switch_waypoints, door_goal, DOOR_OVERSHOOT, door_waypoints, lift_waypoint,
    release_height, stack_release_height, TASK_SKILLS)
from play_lmp_ros.core.skills.motions import (
    carry_to, clear_height, fixed, grasp, HOVER, push, PUSH_DISTANCE, PUSH_GAP,
    retreat, ROTATE_ANGLE, TRANSIT_TOLERANCE)
from play_lmp_ros.core.tasks import (
    LiftObject, MoveDoor, PlaceObject, PushObject, PushObjectInto, RotateObject, StackObjects,
    TASK_NAMES, TASKS, ToggleLight, UnstackObjects)

# The hand is over a spot when its TCP is this close in xy (m), and turned to a grasp when its
# yaw is this close (rad).
OVER_XY = 0.012
NEAR_XY = 0.035
ALIGNED_YAW = 0.15
# The hand is at a height when this close in z (m).
AT_Z = 0.012
# Fingers closed on a handle or bar: the TCP this close to it (m).
GRIP_DISTANCE = 0.02
# A push is still worth this much travel when the block has nearly moved far enough (m).
MIN_PUSH_TRAVEL = 0.04
# The turn still left when a rotation counts as done (rad): CALVIN's 60 degrees and a margin.
ROTATION_DONE = np.radians(60.0) + 0.1
# Closed fingers have settled on a block once at most this much wider than it (m).
SETTLED_SLACK = 0.006
# A hand this close to the switch's way down to its standoff (m) goes to the standoff directly:
# rising to travel height from there made the labels flip between rising and tilting, and the
# top of that way is out of the arm's reach when the bar is up (the phase machine leaves it by
# its timeout).
SWITCH_ZONE = 0.08
# A block pushed off the table's front edge tips on its way into the drawer: with its centre
# this close to the edge (m) and the hand this close to it, the push goes on, this far past the
# edge, instead of refusing a block that is no longer upright.
EDGE_TIP_ZONE = 0.05
EDGE_TIP_REACH = 0.08
PUSH_PAST_EDGE = 0.035


class ExpertError(ValueError):
    """The expert has no sensible action in this state (say, a block tipped over)."""


def _rising(obs: np.ndarray) -> List[Waypoint]:
    """
    Return the waypoints that open the hand and rise to travel height, where nothing is left.

    :param obs: (39,) state.
    :return: waypoints.
    """
    return retreat(rise=max(TRANSIT_Z - tcp_position(obs)[2], 0.0))


def _reached(waypoint: Waypoint, obs: np.ndarray) -> bool:
    """
    Return whether the state is at a waypoint's goal, as the phase machine judges it.

    :param waypoint: the phase.
    :param obs: (39,) state.
    :return: True when within its position and orientation tolerances.
    """
    position, yaw = waypoint.goal(obs)
    error = np.abs(layout.wrap_to_pi(np.array([*waypoint.roll_pitch, yaw]) - obs[layout.TCP_ORN]))
    if waypoint.roll_pitch == DOWN_ROLL_PITCH:
        error = error[2:]
    return bool(np.linalg.norm(position - tcp_position(obs)) < waypoint.tolerance
                and np.all(error < waypoint.yaw_tolerance))


def _gripped(obs: np.ndarray, block: int) -> bool:
    """
    Return whether the fingers have closed on a block and settled on its width.

    geometry.held_block counts a block as held as soon as the fingers start closing around it;
    lifting then would leave it behind.

    :param obs: (39,) state.
    :param block: 0 red, 1 blue, 2 pink.
    :return: True when held with the fingers at most SETTLED_SLACK wider than its long side.
    """
    widest = 2.0 * float(max(geo.block_half_extents(block)[:2]))
    return held_block(obs) == block and obs[layout.GRIPPER_WIDTH] < widest + SETTLED_SLACK


def _on_segment(point: np.ndarray, start: np.ndarray, end: np.ndarray, radius: float) -> float:
    """
    Return how far along a segment a point lies, if it lies within a radius of it.

    :param point: (3,) m.
    :param start: (3,) m.
    :param end: (3,) m.
    :param radius: m.
    :return: the fraction in [0, 1] of the nearest point on the segment, or -1 when farther.
    """
    span = end - start
    along = float(np.clip((point - start) @ span / max(float(span @ span), 1e-12), 0.0, 1.0))
    return along if float(np.linalg.norm(point - start - along * span)) < radius else -1.0


def _from_travel(obs: np.ndarray, steps: List[Waypoint]) -> List[Waypoint]:
    """
    Return a skill's approach from the state: at once from high enough, else after a rise.

    High enough is travel height, or the first waypoint's own height where that is lower: the
    hand on its way down to it must not be sent back up (the phase machine would not).

    :param obs: (39,) state.
    :param steps: the approach waypoints.
    :return: waypoints.
    """
    first_z = float(steps[0].goal(obs)[0][2])
    if tcp_position(obs)[2] >= min(TRANSIT_Z, first_z) - TRANSIT_TOLERANCE:
        return steps
    return [clear_height(obs), *steps]


def _grasp_from_here(obs: np.ndarray, block: int, preferred_yaw: float = NEUTRAL_YAW,
                     any_side: bool = False,
                     roll_pitch=DOWN_ROLL_PITCH) -> List[Waypoint]:
    """
    Return the rest of a grasp of a resting block from the state: the phase is inferred.

    :param obs: (39,) state; the block is not held.
    :param block: 0 red, 1 blue, 2 pink.
    :param preferred_yaw: the grasp yaw to stay close to (motions.grasp).
    :param any_side: the red block may be gripped across its long side.
    :param roll_pitch: the hand's roll and pitch on the way down.
    :return: waypoints ending with the gripper closed on the block.
    :raises ExpertError: when the block is not upright, so no grasp from above fits.
    """
    if not is_upright(obs, block):
        raise ExpertError(f'{layout.BLOCK_NAMES[block]} is not upright')
    # above block, in front, align, descend, grasp
    steps = grasp(block, preferred_yaw, any_side, roll_pitch)
    pose, tcp = block_pose(obs, block), tcp_position(obs)
    yaw = grasp_yaw(obs, block, preferred_yaw, any_side)
    xy_error = float(np.linalg.norm(tcp[:2] - pose[:2]))
    aligned = (xy_error < OVER_XY
               and abs(layout.wrap_to_pi(yaw - obs[layout.TCP_ORN][2])) < ALIGNED_YAW)
    closing = obs[layout.GRIPPER_ACTION] == layout.GRIPPER_CLOSE
    if aligned and abs(tcp[2] - (pose[2] + BLOCK_GRASP_DZ)) < AT_Z:
        return steps[4:]
    if closing and xy_error < 2 * NEAR_XY and tcp[2] < pose[2] + HOVER:
        # The fingers closed on nothing near the block: open them, back up over it, go again.
        reopen = Waypoint('reopen', fixed((*tcp[:2], pose[2] + HOVER), None),
                          layout.GRIPPER_OPEN, tolerance=0.015, roll_pitch=roll_pitch)
        return [reopen, *steps[2:]]
    if aligned and tcp[2] <= pose[2] + HOVER + AT_Z:
        return steps[3:]
    # The fingertips clear the block's top once the TCP is HOVER / 2 above its centre.
    near = xy_error < NEAR_XY and tcp[2] >= pose[2] + HOVER / 2
    return steps[2:] if near else _from_travel(obs, steps)


def _carry_from_here(obs: np.ndarray, spot: np.ndarray, release_z: float) -> List[Waypoint]:
    """
    Return the rest of carrying the held block over a spot and letting it go there.

    :param obs: (39,) state; a block is held.
    :param spot: (2,) TCP xy over the spot (m).
    :param release_z: TCP height at which the fingers open (m).
    :return: waypoints.
    """
    tcp = tcp_position(obs)
    over = float(np.linalg.norm(tcp[:2] - spot)) < OVER_XY
    let_go = retreat(rise=TRANSIT_Z - release_z)
    # raise, carry, approach, lower
    steps = carry_to(lambda obs: spot, release_z)
    if over and abs(tcp[2] - release_z) < AT_Z / 2:
        return let_go
    if over and tcp[2] < release_z + HOVER + AT_Z:
        return [*steps[3:], *let_go]
    return [*(steps[2:] if over else steps), *let_go]


# ------------------------------------------------------------------ the families


def _rotate(expert: 'Expert', obs: np.ndarray) -> List[Waypoint]:
    """
    Return the rest of rotate_*: grasp, raise, turn what is left of the turn, set down.

    :param expert: the expert (task arguments, start state).
    :param obs: (39,) state.
    :return: waypoints.
    """
    block, sign = expert.arguments['block'], expert.arguments['sign']
    start = block_pose(expert.start, block)
    now = block_pose(obs, block)
    turned = sign * float(layout.wrap_to_pi(now[5] - start[5]))
    left = ROTATE_ANGLE - turned
    rest_z = now[2] if held_block(obs) != block else start[2]
    set_down = Waypoint('set down', fixed((*now[:2], rest_z + BLOCK_GRASP_DZ), None),
                        layout.GRIPPER_CLOSE, tolerance=0.006, fraction=0.4)
    release = retreat(rise=TRANSIT_Z - rest_z)
    if _gripped(obs, block):
        if turned >= ROTATION_DONE:
            return [set_down, *release]
        tcp = tcp_position(obs)
        raised = max(tcp[2], rest_z + BLOCK_GRASP_DZ + 0.02)
        goal_yaw = float(obs[layout.TCP_ORN][2]) + sign * left
        turn = Waypoint('turn', fixed((*tcp[:2], raised), goal_yaw), layout.GRIPPER_CLOSE,
                        tolerance=0.01, hold=6, timeout=70)
        return [turn, set_down, *release]
    if turned >= ROTATION_DONE:
        return _rising(obs)
    preferred = NEUTRAL_YAW - sign * left / 2.0
    return _grasp_from_here(obs, block, preferred)


def _push(expert: 'Expert', obs: np.ndarray) -> List[Waypoint]:
    """
    Return the rest of push_*_block_*: closed fingers behind the block, push what is left.

    :param expert: the expert.
    :param obs: (39,) state.
    :return: waypoints.
    """
    block, sign = expert.arguments['block'], expert.arguments['sign']
    direction = np.array([sign, 0.0])
    moved = float((block_pose(obs, block)[:2] - block_pose(expert.start, block)[:2]) @ direction)
    travel = max(PUSH_DISTANCE - moved, MIN_PUSH_TRAVEL) + PUSH_GAP
    return _push_from_here(obs, block, direction, travel)


def _push_into_drawer(expert: 'Expert', obs: np.ndarray) -> List[Waypoint]:
    """
    Return the rest of push_into_drawer: the block chosen at the start, off the front edge.

    :param expert: the expert.
    :param obs: (39,) state.
    :return: waypoints.
    """
    block = expert.choice
    if block_support(obs, block) == 'drawer':
        return _rising(obs)
    pose = block_pose(obs, block)
    tcp = tcp_position(obs)
    if (not is_upright(obs, block) and held_block(obs) is None
            and pose[1] < TABLE_FRONT_Y + EDGE_TIP_ZONE
            and float(np.linalg.norm(tcp[:2] - pose[:2])) < EDGE_TIP_REACH):
        return [Waypoint('push', fixed((tcp[0], TABLE_FRONT_Y - PUSH_PAST_EDGE, tcp[2])),
                         layout.GRIPPER_CLOSE, tolerance=0.008, fraction=0.5), *_rising(obs)]
    travel = pose[1] - TABLE_FRONT_Y + footprint_extent(block, pose[5])[1] + 0.035
    return _push_from_here(obs, block, np.array([0.0, -1.0]), travel)


def _push_from_here(obs: np.ndarray, block: int, direction: np.ndarray,
                    travel: float) -> List[Waypoint]:
    """
    Return the rest of a push from the state: the phase is inferred from the hand's place.

    :param obs: (39,) state.
    :param block: the block.
    :param direction: (2,) unit push direction.
    :param travel: how far the TCP is to move past its contact point (m).
    :return: waypoints.
    :raises ExpertError: when a block is held or the block is not upright.
    """
    if held_block(obs) is not None:
        raise ExpertError('a block is held; a push needs the fingers closed on nothing')
    if not is_upright(obs, block):
        raise ExpertError(f'{layout.BLOCK_NAMES[block]} is not upright')
    # above start, lower, descend, push, back off, retreat
    steps = push(obs, block, direction, travel)
    pose, tcp = block_pose(obs, block), tcp_position(obs)
    height = pose[2] + BLOCK_GRASP_DZ
    contact = pose[:2] - direction * (float(footprint_extent(block, pose[5]) @ np.abs(direction))
                                      + FINGER_HALF_THICKNESS)
    behind = contact - direction * PUSH_GAP
    lateral = np.array([-direction[1], direction[0]])
    along = float((tcp[:2] - contact) @ direction)
    low = abs(tcp[2] - height) < AT_Z
    if (low and -PUSH_GAP - OVER_XY < along < OVER_XY
            and abs(float((tcp[:2] - contact) @ lateral)) < OVER_XY):
        return steps[3:]
    over = float(np.linalg.norm(tcp[:2] - behind)) < OVER_XY
    if over and tcp[2] < height + HOVER + AT_Z:
        return steps[2:]
    near = float(np.linalg.norm(tcp[:2] - behind)) < NEAR_XY and tcp[2] > height + HOVER / 2
    return steps[1:] if near else _from_travel(obs, steps)


def _door(expert: 'Expert', obs: np.ndarray) -> List[Waypoint]:
    """
    Return the rest of move_slider_* and open/close_drawer: grip the handle and pull it.

    :param expert: the expert.
    :param obs: (39,) state.
    :return: waypoints.
    """
    door, sign, travel = (expert.arguments[key] for key in ('door', 'sign', 'travel'))
    index = layout.ROBOT_OBS_DIM + door.state_index
    start_value, value = expert.start[index], obs[index]
    if sign * (value - start_value) >= travel + DOOR_OVERSHOOT / 2:
        return _rising(obs)
    steps = door_waypoints(door, door_goal(door, start_value, sign, travel))
    approach, pull = steps[:3], steps[3:]
    handle, tcp = door.handle(value), tcp_position(obs)
    if (obs[layout.GRIPPER_ACTION] == layout.GRIPPER_CLOSE
            and float(np.linalg.norm(tcp - handle)) < GRIP_DISTANCE):
        return pull
    over = float(np.linalg.norm(tcp[:2] - handle[:2])) < OVER_XY
    if over and obs[layout.GRIPPER_ACTION] == layout.GRIPPER_OPEN and tcp[2] < handle[2] + AT_Z:
        return [*approach[2:], *pull]
    if over and tcp[2] < handle[2] + HOVER + AT_Z:
        return [*approach[1:], *pull]
    near = (float(np.linalg.norm(tcp[:2] - handle[:2])) < NEAR_XY
            and tcp[2] > handle[2] + HOVER / 2)
    return [*(approach if near else _from_travel(obs, approach)), *pull]


def _light(expert: 'Expert', obs: np.ndarray) -> List[Waypoint]:
    """
    Return the rest of turn_on/off_led (press the button) and turn_on/off_lightbulb.

    :param expert: the expert.
    :param obs: (39,) state.
    :return: waypoints.
    """
    light, end_state = expert.arguments['light'], expert.arguments['end_state']
    index = layout.ROBOT_OBS_DIM + LIGHT_STATE_INDEX[light]
    if round(float(obs[index])) == end_state:
        return _rising(obs)
    tcp = tcp_position(obs)
    if light == 'led':
        # above button, press, lift off
        steps = _button_waypoints()
        over = float(np.linalg.norm(tcp[:2] - BUTTON_XY)) < OVER_XY
        if over and tcp[2] < BUTTON_PRESS_Z + HOVER + AT_Z:
            return steps[1:]
        return _from_travel(obs, steps)
    # before knob, tilt, reach in, grip, slide, release, back out, untilt
    steps = _switch_waypoints(end_state)
    knob = np.asarray(SWITCH_BAR0) + obs[layout.ROBOT_OBS_DIM + layout.SWITCH] * SWITCH_DIRECTION
    if (obs[layout.GRIPPER_ACTION] == layout.GRIPPER_CLOSE
            and float(np.linalg.norm(tcp - knob)) < GRIP_DISTANCE):
        return steps[4:]
    standoff = knob + SWITCH_STANDOFF * SWITCH_OUTWARD
    above = standoff + (0.0, 0.0, HOVER)
    turned = abs(layout.wrap_to_pi(obs[layout.TCP_ORN][2] - SWITCH_GRASP_YAW)) < ALIGNED_YAW
    # On the way in along the face's normal, or on the way down to its start: the phase
    # machine moves on from 'before knob' after a timeout when it does not reach it.
    if turned and _on_segment(tcp, standoff, knob, AT_Z) > 0.0:
        return steps[2:]
    if _on_segment(tcp, above, standoff, SWITCH_ZONE) >= 0.0:
        return steps[1:]
    return _from_travel(obs, steps)


def _lift(expert: 'Expert', obs: np.ndarray) -> List[Waypoint]:
    """
    Return the rest of lift_*: grasp the block and hold it up.

    :param expert: the expert.
    :param obs: (39,) state.
    :return: waypoints.
    """
    block, support = expert.arguments['block'], expert.arguments['support']
    start = block_pose(expert.start, block)[:3]
    pose = block_pose(obs, block)[:3]
    any_side = support == 'drawer'
    roll_pitch = grasp_roll_pitch(*pose[:2], grasp_yaw(obs, block, any_side=any_side))
    lift = lift_waypoint(pose[:2], start[2], support, roll_pitch)
    if _gripped(obs, block):
        return [lift]
    if held_block(obs) not in (None, block):
        raise ExpertError('another block is held')
    return [*_grasp_from_here(obs, block, any_side=any_side, roll_pitch=roll_pitch), lift]


def _bring(obs: np.ndarray, block: int, spot: np.ndarray, release_z: float,
           held: bool) -> List[Waypoint]:
    """
    Return the rest of taking a block to a spot and letting it go: grasp it first unless held.

    :param obs: (39,) state.
    :param block: 0 red, 1 blue, 2 pink.
    :param spot: (2,) TCP xy over the spot (m).
    :param release_z: TCP height at which the fingers open (m).
    :param held: the block is held, ready to carry.
    :return: waypoints.
    :raises ExpertError: when another block is held.
    """
    if held:
        return _carry_from_here(obs, spot, release_z)
    if held_block(obs) not in (None, block):
        raise ExpertError('another block is held')
    return [*_grasp_from_here(obs, block), *carry_to(lambda obs: spot, release_z),
            *retreat(TRANSIT_Z - release_z)]


def _place(expert: 'Expert', obs: np.ndarray) -> List[Waypoint]:
    """
    Return the rest of place_in_slider / place_in_drawer: the block held at the start, put.

    :param expert: the expert.
    :param obs: (39,) state.
    :return: waypoints.
    """
    support, block = expert.arguments['support'], expert.choice
    held = held_block(obs) == block
    if not held and block_support(obs, block) == support:
        return _rising(obs)
    spot = feasibility.place_spot(obs, support, block)
    if spot is None:
        raise ExpertError(f'no room on the {support} for {layout.BLOCK_NAMES[block]}')
    return _bring(obs, block, spot, release_height(support), held)


def _stack(expert: 'Expert', obs: np.ndarray) -> List[Waypoint]:
    """
    Return the rest of stack_block: the pair chosen at the start, top block onto base.

    :param expert: the expert.
    :param obs: (39,) state.
    :return: waypoints.
    """
    block, base = expert.choice
    held = _gripped(obs, block)
    if not held and block_below(obs, block) == base:
        return _rising(obs)
    return _bring(obs, block, block_pose(obs, base)[:2], stack_release_height(obs, base), held)


def _unstack(expert: 'Expert', obs: np.ndarray) -> List[Waypoint]:
    """
    Return the rest of unstack_block: the block stacked at the start, to a free spot.

    :param expert: the expert.
    :param obs: (39,) state.
    :return: waypoints.
    """
    block = expert.choice
    if block_support(obs, block) == 'table':
        return _rising(obs)
    spot = feasibility.table_spot(obs, block)
    if spot is None:
        raise ExpertError(f'no free spot on the table for {layout.BLOCK_NAMES[block]}')
    return _bring(obs, block, spot, release_height('table'), _gripped(obs, block))


FAMILIES: Dict[type, Callable[['Expert', np.ndarray], List[Waypoint]]] = {
    RotateObject: _rotate, PushObject: _push, MoveDoor: _door, LiftObject: _lift,
    PlaceObject: _place, StackObjects: _stack, UnstackObjects: _unstack,
    ToggleLight: _light, PushObjectInto: _push_into_drawer,
}


class Expert:
    """One task's scripted skill, asked at every state what it would do from there."""

    def __init__(self, task: str, start: np.ndarray, seed: int = 0) -> None:
        """
        Create the expert of one task episode.

        :param task: one of the 34 task names.
        :param start: (39,) the episode's start state, which the task is judged against.
        :param seed: chooses among equivalent options (the pair to stack), once, here.
        :raises ValueError: for an unknown task.
        :raises ExpertError: when the start state leaves the task nothing to act on.
        """
        if task not in TASKS:
            raise ValueError(f'unknown task {task!r}; known tasks: {", ".join(TASK_NAMES)}')
        self.task = task
        self.start = layout.check_vector(start, layout.OBS_DIM, 'start state')
        spec = TASKS[task]
        self.arguments = TASK_SKILLS[type(spec)].arguments(spec)
        self._family = FAMILIES[type(spec)]
        self.choice = self._choose(spec, np.random.default_rng(seed))
        self.phase = ''

    def _choose(self, spec, rng: np.random.Generator):
        """
        Fix the options that the skill would choose at the start: blocks, pairs.

        :param spec: the task's spec.
        :param rng: random source.
        :return: the choice, or None when the task has none.
        :raises ExpertError: when there is nothing to choose from.
        """
        start = self.start
        if isinstance(spec, StackObjects):
            held = held_block(start)
            if held is None:
                pair = feasibility.stack_pair(start, rng)
            else:
                bases = [b for b in range(len(layout.BLOCK_NAMES)) if b != held
                         and block_support(start, b) == 'table']
                pair = (held, bases[0]) if bases else None
            if pair is None:
                raise ExpertError('no pair of blocks to stack')
            return pair
        if isinstance(spec, UnstackObjects):
            block = feasibility.stacked_block(start)
            if block is None:
                raise ExpertError('no stacked block')
            return block
        if isinstance(spec, PlaceObject):
            block = held_block(start)
            if block is None:
                raise ExpertError('no block is held at the start')
            return block
        if isinstance(spec, PushObjectInto):
            candidates = feasibility.drawer_candidates(start, self.arguments['blocks'])
            if not candidates:
                raise ExpertError('no block can be pushed into the drawer')
            return candidates[int(rng.integers(len(candidates)))]
        return None

    def waypoints(self, obs: np.ndarray) -> List[Waypoint]:
        """
        Return the skill's waypoints from the phase that the state is in.

        :param obs: (39,) state.
        :return: waypoints (never empty).
        :raises ExpertError: when the state leaves the expert no sensible action.
        """
        obs = layout.check_vector(obs, layout.OBS_DIM, 'observation')
        steps = self._family(self, obs) or _rising(obs)
        # A phase machine leaves a phase once its goal is reached; so does the expert, from the
        # state.  Phases that hold (the gripper settling) are left by the family rules instead.
        while len(steps) > 1 and steps[0].hold == 0 and _reached(steps[0], obs):
            steps = steps[1:]
        return steps

    def act(self, obs: np.ndarray) -> np.ndarray:
        """
        Return the action of the skill taking over in this state.

        :param obs: (39,) state.
        :return: (7,) relative action: motion in [-1, 1], gripper -1 or +1.
        :raises ExpertError: when the state leaves the expert no sensible action.
        """
        steps = self.waypoints(obs)
        self.phase = steps[0].name
        action = Skill(self.task, steps).act(obs)
        if not np.all(np.isfinite(action)):
            raise ExpertError(f'the {self.phase} phase gave a non-finite action')
        return action


def run_expert(sim, expert: Expert, oracle, start_info, max_steps: int,
               check_every: int = 2) -> Optional[int]:
    """
    Let an expert drive the simulator from its current state until the oracle sees the task.

    :param sim: a simulator with the PlayTableSim API.
    :param expert: the expert of the task.
    :param oracle: a TaskOracle.
    :param start_info: the scene_info of the episode's start, which the task is judged against.
    :param max_steps: step budget.
    :param check_every: judge every this many steps (and at the last).
    :return: the steps after which the task was seen done, or None.
    :raises ExpertError: when the expert has no action in a state it reached.
    """
    obs = sim.observe()
    for step in range(1, max_steps + 1):
        obs = sim.step(expert.act(obs))
        if ((step % check_every == 0 or step == max_steps)
                and oracle.check(expert.task, start_info, sim.scene_info())):
            return step
    return None
