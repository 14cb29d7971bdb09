"""
The play table's landmarks that the skills aim at, in world coordinates (m).

Where the table's own description has a number (handles, drawer box, button, switch, shelf,
cabinet walls), it is read from scene_geometry.TABLE_URDF, the file the simulator loads at the
world origin; a child link's boxes are placed at its joint's origin, i.e. at joint value 0.  The
rest are choices of where the hand grips or travels, kept here with what they are chosen from.
The parts of the scene are also named here the way the task oracle (core.tasks) names them:
doors by their joint, lights by name, surfaces by their link.
"""

from dataclasses import dataclass
from typing import Callable, Mapping, NamedTuple, Optional, Tuple
import xml.etree.ElementTree as ElementTree

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_ros.core.scene_info import Contact, TABLE
from play_lmp_ros.core.sim import scene_geometry as geo

_TABLE = ElementTree.parse(geo.TABLE_URDF).getroot()
_X, _Y, _Z = range(3)
# The URDF is authored to 0.1 mm; rounding to 1 um drops the float noise of adding an element's
# origin to its joint's, so each landmark is the decimal number the file means.
_DECIMALS = 6


class Box(NamedTuple):
    """
    An axis-aligned box in world coordinates.

    :param low: (3,) smallest x, y, z (m).
    :param high: (3,) largest x, y, z (m).
    """

    low: Tuple[float, float, float]
    high: Tuple[float, float, float]

    def span(self, axis: int) -> Tuple[float, float]:
        """
        Return the box's extent along one axis.

        :param axis: 0 x, 1 y, 2 z.
        :return: (low, high) m.
        """
        return self.low[axis], self.high[axis]

    def half_size(self, axis: int) -> float:
        """
        Return half the box's size along one axis.

        :param axis: 0 x, 1 y, 2 z.
        :return: m.
        """
        return round((self.high[axis] - self.low[axis]) / 2.0, _DECIMALS)


def _xyz(element: Optional[ElementTree.Element], attribute: str) -> np.ndarray:
    """
    Return a URDF triple attribute, zeros when it is absent.

    :param element: an origin or box element, or None.
    :param attribute: 'xyz', 'rpy' or 'size'.
    :return: (3,) values.
    """
    text = '0 0 0' if element is None else element.get(attribute, '0 0 0')
    return np.array([float(value) for value in text.split()])


def _frame_origin(link: str) -> np.ndarray:
    """
    Return where a link's frame lies when its joint is at 0.

    :param link: a link of the table URDF.
    :return: (3,) m, world; zeros for the root link.
    :raises ValueError: when the joint is rotated, which the boxes below do not account for.
    """
    origin = np.zeros(3)
    while True:
        joints = [joint for joint in _TABLE.findall('joint')
                  if joint.find('child').get('link') == link]
        if not joints:
            return origin
        (joint,) = joints
        if np.any(_xyz(joint.find('origin'), 'rpy')):
            raise ValueError(f'joint {joint.get("name")} is rotated; landmarks assume it is not')
        origin = origin + _xyz(joint.find('origin'), 'xyz')
        link = joint.find('parent').get('link')


def _collision_box(link: str, index: int) -> Box:
    """
    Return one collision box of a link, at joint value 0.

    :param link: a link of the table URDF.
    :param index: the box's place among the link's collision elements, in file order.
    :return: the box.
    :raises ValueError: when that collision element is not a box.
    """
    collision = _TABLE.find(f"link[@name='{link}']").findall('collision')[index]
    box = collision.find('geometry/box')
    if box is None:
        raise ValueError(f'collision {index} of {link} is not a box')
    centre = _frame_origin(link) + _xyz(collision.find('origin'), 'xyz')
    half = _xyz(box, 'size') / 2.0
    return Box(tuple(round(float(value), _DECIMALS) for value in centre - half),
               tuple(round(float(value), _DECIMALS) for value in centre + half))


def _joint_origin(joint: str) -> Tuple[float, float, float]:
    """
    Return a joint's origin in world coordinates.

    :param joint: a joint of the table URDF.
    :return: (3,) m.
    """
    child = _TABLE.find(f"joint[@name='{joint}']/child").get('link')
    return tuple(round(float(value), _DECIMALS) for value in _frame_origin(child))


def _centre(box: Box) -> Tuple[float, float, float]:
    """
    Return the centre of a box.

    :param box: the box.
    :return: (3,) m.
    """
    return tuple(round((low + high) / 2.0, _DECIMALS) for low, high in zip(box.low, box.high))


# Collision elements in the URDF's order.
_TABLE_TOP_SLAB = _collision_box('base_link', 0)
_CABINET_LEFT_COLUMN = _collision_box('base_link', 3)
_CABINET_RIGHT_BOX = _collision_box('base_link', 5)
_DOOR_PANEL = _collision_box('slide_link', 0)
_DOOR_HANDLE_BAR = _collision_box('slide_link', 1)
_DRAWER_FLOOR = _collision_box('drawer_link', 0)
_DRAWER_FRONT_PANEL = _collision_box('drawer_link', 1)
_DRAWER_LEFT_WALL = _collision_box('drawer_link', 3)
_DRAWER_RIGHT_WALL = _collision_box('drawer_link', 4)
_DRAWER_HANDLE_BAR = _collision_box('drawer_link', 5)
_SWITCH_KNOB = _collision_box('switch_link', 0)
_SHELF_PLANK = _collision_box('plank_link', 0)

# Table top in front of the cabinet.
TABLE_X = _TABLE_TOP_SLAB.span(_X)
TABLE_FRONT_Y = _TABLE_TOP_SLAB.low[_Y]

# Sliding door, moving along -x by its joint value: the handle bar stands in front of the panel,
# free at its top.
SLIDER_HANDLE_X0, SLIDER_HANDLE_Y = _centre(_DOOR_HANDLE_BAR)[:2]
SLIDER_HANDLE_HALF_WIDTH = _DOOR_HANDLE_BAR.half_size(_X)
# The fingers close on the bar (z 0.49..0.57) 2.5 cm below its free top.
SLIDER_GRASP_Z = 0.545
DOOR_HALF_WIDTH = _DOOR_PANEL.half_size(_X)
DOOR_FRONT_Y, DOOR_BACK_Y = _DOOR_PANEL.span(_Y)

# Drawer, pulled along -y by its joint value: handle bar in front of its panel.
DRAWER_HANDLE_X, DRAWER_HANDLE_Y0 = _centre(_DRAWER_HANDLE_BAR)[:2]
# The fingers close on the bar (z 0.315..0.395) in its upper half, clear of its stand-off.
DRAWER_GRASP_Z = 0.37
# The drawer box's inside: between the side walls, behind the front panel, above the floor.
DRAWER_INNER_X = (_DRAWER_LEFT_WALL.high[_X], _DRAWER_RIGHT_WALL.low[_X])
DRAWER_INNER_FRONT_Y0 = _DRAWER_FRONT_PANEL.high[_Y]
DRAWER_FLOOR_Z = _DRAWER_FLOOR.high[_Z]

# Push button: its joint stands at the cap's centre; the cap's top is at 0.48 when released, and
# the closed fingertips press it down to this TCP height.
BUTTON_XY = _joint_origin('base__button')[:2]
BUTTON_PRESS_Z = 0.452

# Slide switch, moving up along +z by its joint value: the knob sticks out of the right box.
_SWITCH_ORIGIN = _joint_origin('base__switch')
SWITCH_X, SWITCH_Z0 = _SWITCH_ORIGIN[_X], _SWITCH_ORIGIN[_Z]
SWITCH_KNOB_HALF_WIDTH = _SWITCH_KNOB.half_size(_X)
SWITCH_KNOB_Y = _SWITCH_KNOB.span(_Y)
# The fingers grip the knob's front part, keeping the wrist clear of the box.
SWITCH_GRASP_Y = -0.065

# Shelf plank behind the door, its top flush with the table top.
PLANK_X = _SHELF_PLANK.span(_X)
PLANK_Y = _SHELF_PLANK.span(_Y)
# Blocks go down on the shelf's front half, where the wrist stays clear of the back wall.
SHELF_PLACE_Y = 0.09

# The cabinet's columns left and right of the shelf, seen from above: (x range, y range).
CABINET_LEFT_COLUMN_XY = (_CABINET_LEFT_COLUMN.span(_X), _CABINET_LEFT_COLUMN.span(_Y))
CABINET_RIGHT_BOX_XY = (_CABINET_RIGHT_BOX.span(_X), _CABINET_RIGHT_BOX.span(_Y))

# Travel height above every part of the scene (door top 0.60, raised switch knob 0.63).
TRANSIT_Z = 0.64


def slider_handle(value: float) -> np.ndarray:
    """
    Return the point where the fingers grip the sliding door's handle.

    :param value: the door's joint value (m).
    :return: (3,) TCP position (m).
    """
    return np.array([SLIDER_HANDLE_X0 - value, SLIDER_HANDLE_Y, SLIDER_GRASP_Z])


def drawer_handle(value: float) -> np.ndarray:
    """
    Return the point where the fingers grip the drawer's handle.

    :param value: the drawer's joint value (m).
    :return: (3,) TCP position (m).
    """
    return np.array([DRAWER_HANDLE_X, DRAWER_HANDLE_Y0 - value, DRAWER_GRASP_Z])


@dataclass(frozen=True)
class Door:
    """
    A part that the hand moves by its handle: the sliding door or the drawer.

    :param part: the object's short name, e.g. 'slider'.
    :param description: how messages name it, e.g. 'sliding door'.
    :param state_index: its joint value's index in scene_obs.
    :param joint_range: (lower, upper) joint limits (m).
    :param handle: joint value (m) -> (3,) TCP position where the fingers grip the handle.
    """

    part: str
    description: str
    state_index: int
    joint_range: Tuple[float, float]
    handle: Callable[[float], np.ndarray]


# By the joint name that the oracle's MoveDoor tasks name.
DOORS: Mapping[str, Door] = {
    'base__slide': Door('slider', 'sliding door', layout.SLIDER, layout.SLIDER_RANGE,
                        slider_handle),
    'base__drawer': Door('drawer', 'drawer', layout.DRAWER, layout.DRAWER_RANGE, drawer_handle),
}

# Each light's logical state's index in scene_obs, by the name that ToggleLight tasks use.
LIGHT_STATE_INDEX: Mapping[str, int] = {'lightbulb': layout.LIGHTBULB, 'led': layout.LED}

# The oracle's surfaces, (body, link) contacts, in the words of geometry.block_support.
SURFACE_SUPPORTS: Mapping[Contact, str] = {
    (TABLE, 'base_link'): 'table', (TABLE, 'plank_link'): 'slider',
    (TABLE, 'drawer_link'): 'drawer'}
