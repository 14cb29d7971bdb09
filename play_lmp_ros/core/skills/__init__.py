"""
Closed-loop scripted skills for CALVIN's 34 tasks on the play table.

A skill is a short list of waypoints (approach above, descend, grasp or press, move, release,
retreat) whose goals are recomputed from the current 39-D observation at every step.

- landmarks: the table's handles, button, switch, shelf and drawer, read from its URDF.
- geometry: poses, what a block rests on, where the hand and fingers fit.
- controller: Waypoint and Skill, the P-controller that turns goals into relative actions.
- motions: the waypoint sequences skills share (grasp, carry, push, retreat).
- feasibility: the rules that say whether a skill can run, and what it would act on.
- library: TASK_SKILLS, one builder and rule per kind of oracle task; make_skill,
  infeasibility, feasible_tasks.
- runner: run_skill, a skill run to its end against the simulator and the oracle.
- experts: Expert, a task's skill asked in any state what it would do from there (DAgger's
  labeller); run_expert.
"""

from play_lmp_ros.core.skills.controller import Goal, Skill, Waypoint
from play_lmp_ros.core.skills.feasibility import DRAWER_OPEN_FOR_BLOCKS
from play_lmp_ros.core.skills.geometry import (
    BLOCK_COLORS, block_pose, block_support, footprint_extent, held_block, REACH_X_MAX,
    STACK_HEIGHT)
from play_lmp_ros.core.skills.landmarks import (
    DOOR_CENTRE_X0, DOOR_HALF_WIDTH, DRAWER_FLOOR_Z, DRAWER_INNER_FRONT_Y0, DRAWER_INNER_X,
    TABLE_FRONT_Y)
from play_lmp_ros.core.skills.library import (
    feasible_tasks, infeasibility, make_skill, TASK_OBJECTS, TASK_SKILLS, TaskSkill)
from play_lmp_ros.core.skills.runner import run_skill, SkillRun

__all__ = [
    'BLOCK_COLORS', 'DOOR_CENTRE_X0', 'DOOR_HALF_WIDTH', 'DRAWER_FLOOR_Z', 'DRAWER_INNER_FRONT_Y0',
    'DRAWER_INNER_X', 'DRAWER_OPEN_FOR_BLOCKS', 'Goal', 'REACH_X_MAX', 'STACK_HEIGHT', 'Skill',
    'SkillRun', 'TABLE_FRONT_Y', 'TASK_OBJECTS', 'TASK_SKILLS', 'TaskSkill', 'Waypoint',
    'block_pose', 'block_support', 'feasible_tasks', 'footprint_extent', 'held_block',
    'infeasibility', 'make_skill', 'run_skill',
]
