"""
The numbers of the play table scene that live on the Python side, in one place.

The table's own geometry (slabs, cabinet, door, drawer, handles, button, switch, lights) is in
assets/play_table.urdf, loaded at the world origin so that its numbers are world coordinates.
Everything here follows CALVIN scene D after its 0.8 global scaling (world frame as CALVIN's,
metres and radians).  The robot is panda.py's: pybullet_data's Panda with CALVIN's gripper.
"""

from pathlib import Path

import numpy as np

TABLE_URDF = Path(__file__).resolve().parent / 'assets' / 'play_table.urdf'

# Robot mount, CALVIN scene D: the base stands on a pedestal in front of the table's left half.
ROBOT_BASE_POSITION = (-0.34, -0.46, 0.24)
# CALVIN's initial arm joints (rad); also the null-space rest pose of the IK.
NEUTRAL_ARM_JOINTS = (
    -1.21779206, 1.03987646, 2.11978261, -2.34205014, -0.87015947, 1.64119353, 0.55344866)

# The Panda's link numbers (panda.LINK_NAMES), calvin_env's: joints 0-6 arm, 9 and 11 fingers,
# link 8 panda_hand, link 14 the gripper camera and link 15 the TCP, 0.14 m along the hand's z
# axis, 1.48 cm above the fingertips.
ARM_JOINT_IDS = (0, 1, 2, 3, 4, 5, 6)
FINGER_JOINT_IDS = (9, 11)
HAND_LINK_ID = 8
GRIPPER_CAMERA_LINK_ID = 14
TCP_LINK_ID = 15
FINGER_OPEN_M = 0.04

# Arm and gripper motors, as calvin_env's robot.
ARM_MAX_FORCE_N = 200.0
ARM_MAX_VELOCITY = 2.0
GRIPPER_CLOSE_FORCE_N = 200.0
GRIPPER_OPEN_FORCE_N = 2.0
GRIPPER_MAX_VELOCITY = 1.0
# Null-space IK bounds for the 9 movable joints (7 arm + 2 fingers), as calvin_env.
IK_NULLSPACE_LIMIT = 7.0

# The table's joints and links, by their URDF names (table_bodies.TableBodies.place).
BUTTON_JOINT = 'base__button'
SWITCH_JOINT = 'base__switch'
SLIDE_JOINT = 'base__slide'
DRAWER_JOINT = 'base__drawer'
LED_LINK = 'led_link'
LIGHT_LINK = 'light_link'
# In scene_obs order: door, drawer, button, switch.
ARTICULATED_JOINTS = (SLIDE_JOINT, DRAWER_JOINT, BUTTON_JOINT, SWITCH_JOINT)

# Scene part motors: doors and switch are held by friction, the button springs back.
DOOR_FRICTION_FORCE_N = 4.0
BUTTON_SPRING_FORCE_N = 4.0

# Light colours (RGBA): on = CALVIN's configured colour, off = white.
LIGHTBULB_ON_RGBA = (1.0, 1.0, 0.0, 1.0)
LED_ON_RGBA = (0.0, 1.0, 0.0, 1.0)
LIGHT_OFF_RGBA = (1.0, 1.0, 1.0, 1.0)

# Blocks in layout.BLOCK_NAMES order: full box sizes (m) and colours.
BLOCK_SIZES = ((0.056, 0.04, 0.04), (0.04, 0.04, 0.04), (0.08, 0.04, 0.04))
BLOCK_RGBA = ((0.85, 0.1, 0.1, 1.0), (0.1, 0.25, 0.85, 1.0), (0.95, 0.45, 0.7, 1.0))
BLOCK_MASS_KG = 1.0
BLOCK_LATERAL_FRICTION = 0.7
BLOCK_SPINNING_FRICTION = 0.001
SURFACE_LATERAL_FRICTION = 1.0

# Surface tops (z = 0.44) and the resting height of a block centre on them.
TABLE_TOP_Z = 0.44
BLOCK_REST_Z = 0.46

# Random block placement: (x_min, y_min), (x_max, y_max) of the block centre per surface.
PLACEMENT_SURFACES = {
    'table': ((0.0, -0.15), (0.35, -0.03)),
    'slider_left': ((-0.32, 0.05), (-0.16, 0.12)),
    'slider_right': ((-0.05, 0.05), (0.13, 0.12)),
}
# Minimum gap (m) between two randomly placed blocks' footprints.
PLACEMENT_CLEARANCE = 0.005
# No footprint may reach into this y band (m): the sliding door leans there over the desk top
# (its lower front edge at y -0.004, z 0.442; its back on the cabinet's face, y 0.043 at
# z 0.48), between the table area and the shelf.
PLACEMENT_KEEP_OUT_Y = (-0.006, 0.045)
PLACEMENT_MAX_TRIES = 1000
# A random placement is drawn again while a block reaches further than this (m) into the table
# (CALVIN's surfaces reach past the shelf's side walls and back wall).
PLACEMENT_PENETRATION_M = 0.001

# Before the first physics step after a reset, bodies this close (m) are in contact.
RESET_CONTACT_DISTANCE_M = 0.001

# A given scene state is refused when a block reaches further than this (m) into the table or
# another block: a state made for other geometry does; this simulator's own play does not (its
# deepest transient contact, a block dropped into the drawer, measured 6.8 mm).
PENETRATION_LIMIT_M = 0.015

# Static camera, CALVIN's: fixed pose looking at the table from the front right.
STATIC_CAMERA = {
    'look_from': (2.87146, -2.16660, 2.55516),
    'look_at': (-0.02624, -0.03023, 0.39200),
    'up': (0.40414, 0.22630, 0.88626),
    'fov_deg': 10.0, 'near': 0.01, 'far': 10.0, 'size': 200,
}
# Gripper camera, CALVIN's: at the gripper_cam link, looking along its y axis with up = -z.
GRIPPER_CAMERA = {'fov_deg': 75.0, 'near': 0.01, 'far': 2.0, 'size': 84}


def block_half_extents(block_index: int) -> np.ndarray:
    """
    Return half the box size of a block.

    :param block_index: 0 red, 1 blue, 2 pink.
    :return: (3,) half extents (m).
    """
    return np.asarray(BLOCK_SIZES[block_index]) / 2.0
