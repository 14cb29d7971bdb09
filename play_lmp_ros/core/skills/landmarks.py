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
from typing import Callable, Mapping, NamedTuple, Optional, Sequence, Tuple
import xml.etree.ElementTree as ElementTree

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_ros.core.scene_info import Contact, TABLE
from play_lmp_ros.core.sim import panda, scene_geometry as geo
from transforms3d.euler import euler2mat

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


def _rotation(rpy: np.ndarray) -> np.ndarray:
    """
    Return the rotation matrix of URDF roll, pitch, yaw (fixed axes x, y, z).

    :param rpy: (3,) rad.
    :return: (3, 3).
    """
    return euler2mat(*rpy, 'sxyz')


def _link_frame(link: str) -> Tuple[np.ndarray, np.ndarray]:
    """
    Return where a link's frame lies, and how it is turned, when every joint is at 0.

    :param link: a link of the table URDF.
    :return: (3,) position (m, world) and (3, 3) rotation; the root link's is the identity.
    """
    position, rotation = np.zeros(3), np.eye(3)
    while True:
        joints = [joint for joint in _TABLE.findall('joint')
                  if joint.find('child').get('link') == link]
        if not joints:
            return position, rotation
        (joint,) = joints
        origin = joint.find('origin')
        joint_rotation = _rotation(_xyz(origin, 'rpy'))
        position = _xyz(origin, 'xyz') + joint_rotation @ position
        rotation = joint_rotation @ rotation
        link = joint.find('parent').get('link')


def _collision(name: str) -> Tuple[str, ElementTree.Element]:
    """
    Find a named collision element.

    :param name: its name attribute.
    :return: its link's name and the element.
    :raises ValueError: when no collision element, or more than one, has that name.
    """
    found = [(link.get('name'), collision) for link in _TABLE.findall('link')
             for collision in link.findall('collision') if collision.get('name') == name]
    if len(found) != 1:
        raise ValueError(f'{geo.TABLE_URDF} has {len(found)} collision elements named {name!r}')
    return found[0]


class Solid(NamedTuple):
    """
    A box of the table, possibly turned, at joint value 0.

    :param centre: (3,) m, world.
    :param axes: (3, 3) its edge directions in world coordinates, one per column.
    :param half_size: (3,) half its size along each of those axes (m).
    """

    centre: np.ndarray
    axes: np.ndarray
    half_size: np.ndarray

    def point(self, local: Sequence[float]) -> np.ndarray:
        """
        Return a point given in units of the box's half sizes.

        :param local: (3,) e.g. (0, 0, 1) is the middle of the face at +half_size[2].
        :return: (3,) m, world.
        """
        return self.centre + self.axes @ (np.asarray(local) * self.half_size)


def _solid(name: str) -> Solid:
    """
    Return a named collision box (or the box around a cylinder) of the table at joint value 0.

    :param name: the collision element's name.
    :return: the box.
    :raises ValueError: when that element is neither a box nor a cylinder.
    """
    link, collision = _collision(name)
    box = collision.find('geometry/box')
    cylinder = collision.find('geometry/cylinder')
    if box is not None:
        half_size = _xyz(box, 'size') / 2.0
    elif cylinder is not None:
        radius, length = float(cylinder.get('radius')), float(cylinder.get('length'))
        half_size = np.array([radius, radius, length / 2.0])
    else:
        raise ValueError(f'collision {name} of {link} is neither a box nor a cylinder')
    frame_position, frame_rotation = _link_frame(link)
    origin = collision.find('origin')
    centre = frame_position + frame_rotation @ _xyz(origin, 'xyz')
    axes = frame_rotation @ _rotation(_xyz(origin, 'rpy'))
    return Solid(np.round(centre, _DECIMALS), axes, half_size)


def _collision_box(name: str) -> Box:
    """
    Return the world-axis bounding box of a named collision box, at joint value 0.

    :param name: the collision element's name.
    :return: the box.
    """
    solid = _solid(name)
    reach = np.abs(solid.axes) @ solid.half_size
    return Box(tuple(round(float(value), _DECIMALS) for value in solid.centre - reach),
               tuple(round(float(value), _DECIMALS) for value in solid.centre + reach))


def _joint(joint: str) -> Tuple[np.ndarray, np.ndarray]:
    """
    Return a joint's origin and its axis of motion in world coordinates, at joint value 0.

    :param joint: a joint of the table URDF.
    :return: (3,) m and (3,) unit vector.
    """
    element = _TABLE.find(f"joint[@name='{joint}']")
    position, rotation = _link_frame(element.find('child').get('link'))
    axis = rotation @ _xyz(element.find('axis'), 'xyz')
    return np.round(position, _DECIMALS), np.round(axis, _DECIMALS)


def _centre(box: Box) -> Tuple[float, float, float]:
    """
    Return the centre of a box.

    :param box: the box.
    :return: (3,) m.
    """
    return tuple(round((low + high) / 2.0, _DECIMALS) for low, high in zip(box.low, box.high))


# Collision boxes by their names in the URDF.
_DESK_TOP = _collision_box('desk_top')
_LEFT_COLUMN = _collision_box('left_column_back')
_RIGHT_COLUMN = _collision_box('right_column_back')
_DOOR_PANEL = _solid('door_panel')
_DOOR_HANDLE_BAR = _solid('door_handle_bar')
_DRAWER_FLOOR = _collision_box('drawer_floor')
_DRAWER_FRONT_PANEL = _collision_box('drawer_front')
_DRAWER_LEFT_WALL = _collision_box('drawer_left_wall')
_DRAWER_RIGHT_WALL = _collision_box('drawer_right_wall')
_DRAWER_HANDLE_BAR = _collision_box('drawer_handle_bar')
_BUTTON_CAP = _collision_box('button_cap')
_SWITCH_BAR = _solid('switch_bar')
_SHELF_PLANK = _collision_box('plank')

# The closed fingertips reach this far below the TCP.
FINGERTIP_DROP = panda.FINGERTIP_DROP

# Desk top in front of the cabinet.
TABLE_X = _DESK_TOP.span(_X)
TABLE_FRONT_Y = _DESK_TOP.low[_Y]
# The cabinet's leaning face: its foot on the desk top and its slope (60 degrees), so that
# cabinet_face_y(z) is where the face stands at height z.
CABINET_FACE_FOOT = (_DESK_TOP.high[_Y], _DESK_TOP.high[_Z])
CABINET_FACE_SLOPE = float(np.tan(np.radians(30.0)))

# TCP yaw at which the fingers close along world x (the hand's neutral yaw) and along y.
_FINGERS_ALONG_X = 1.5708
_FINGERS_ALONG_Y = 0.0

# Sliding door, moving along -x by its joint value, leaning on the face: the fingers close
# along x on its handle bar, at the bar's centre.
SLIDER_GRASP_YAW = _FINGERS_ALONG_X
SLIDER_DIRECTION = _joint('base__slide')[1]
SLIDER_GRASP0 = tuple(_DOOR_HANDLE_BAR.centre)
SLIDER_HANDLE_HALF_WIDTH = float(_DOOR_HANDLE_BAR.half_size[_X])
DOOR_HALF_WIDTH = float(_DOOR_PANEL.half_size[_X])
DOOR_CENTRE_X0 = float(_DOOR_PANEL.centre[_X])
# The door's front stands this far in front of the face it slides on, horizontally.
DOOR_FRONT_OFFSET = round(2.0 * float(_DOOR_PANEL.half_size[_Z]) / np.cos(np.radians(30.0)),
                          _DECIMALS)
# Its handle's lower end comes forward to SLIDER_HANDLE_LOW_Y.
SLIDER_HANDLE_LOW_Y = round(float(_DOOR_HANDLE_BAR.point((0, -1, 1))[_Y]), _DECIMALS)

# Drawer, pulled along -y by its joint value: its handle is a bar along x; the fingers close
# across it (along y) with the pads level with its middle.
DRAWER_HANDLE_X, DRAWER_HANDLE_Y0, _DRAWER_HANDLE_Z = _centre(_DRAWER_HANDLE_BAR)
DRAWER_GRASP_Z = round(_DRAWER_HANDLE_Z + 0.005, _DECIMALS)
DRAWER_GRASP_YAW = _FINGERS_ALONG_Y
# The drawer box's inside: between the side walls, behind the front panel, above the floor.
DRAWER_INNER_X = (_DRAWER_LEFT_WALL.high[_X], _DRAWER_RIGHT_WALL.low[_X])
DRAWER_INNER_FRONT_Y0 = _DRAWER_FRONT_PANEL.high[_Y]
DRAWER_FLOOR_Z = _DRAWER_FLOOR.high[_Z]

# Push button: the closed fingertips press its cap 1.8 cm down (the trigger is at 1 cm).
BUTTON_XY = _centre(_BUTTON_CAP)[:2]
BUTTON_PRESS_Z = round(_BUTTON_CAP.high[_Z] - 0.018 + FINGERTIP_DROP, _DECIMALS)

# Slide switch, moving up the leaning face by its joint value: its handle is a bar along x.
SWITCH_DIRECTION = _joint('base__switch')[1]
SWITCH_BAR0 = tuple(_SWITCH_BAR.centre)
SWITCH_BAR_HALF_WIDTH = float(_SWITCH_BAR.half_size[_X])
# The hand grips the bar tilted so that it points into the leaning face (its roll pi - 60
# degrees at yaw pi): the fingers then close along the slope across the bar's 3.2 cm, and both
# stay clear of the face.  The hand comes in along the face's normal from SWITCH_STANDOFF away.
SWITCH_GRASP_YAW = np.pi
SWITCH_GRASP_ROLL_PITCH = (round(np.pi - np.radians(60.0), _DECIMALS), 0.0)
SWITCH_OUTWARD = np.round(_SWITCH_BAR.axes[:, 1], _DECIMALS)
SWITCH_STANDOFF = 0.08
# The bar's up-slope face, which the closed fingertips press down to switch the light off,
# and its down-slope face, which they push up to switch it on.
SWITCH_TOP0 = tuple(_SWITCH_BAR.point((0, 0, -1)))
SWITCH_BOTTOM0 = tuple(_SWITCH_BAR.point((0, 0, 1)))
# Seen from above, the switch's handle covers this y band in front of the column.
SWITCH_LOW_Y = (round(float(_SWITCH_BAR.point((0, 1, 1))[_Y]), _DECIMALS), CABINET_FACE_FOOT[0])

_SHELF_BACK_Y = _collision_box('shelf_back').high[_Y]

# Shelf plank behind the door, its top flush with the desk top.
PLANK_X = _SHELF_PLANK.span(_X)
PLANK_Y = _SHELF_PLANK.span(_Y)
# The shelf's lintel, seen from above: the top of a hand working at block height meets it.
_SHELF_LINTEL = _collision_box('shelf_lintel')
SHELF_LINTEL_XY = (_SHELF_LINTEL.span(_X), (_SHELF_LINTEL.low[_Y], _SHELF_BACK_Y))
# The hand comes down no further back than this: its top (3.16 cm to each side of the finger
# axis) stays in front of the lintel's front edge.
HAND_REACH_Y = round(float(_SHELF_LINTEL.low[_Y]) - 0.0316 - 0.005, _DECIMALS)
# Blocks go down on the shelf behind the door's lean, within the wrist's reach.
SHELF_PLACE_Y = 0.07

# The cabinet's columns left and right of the shelf, seen from above: (x range, y range).
CABINET_LEFT_COLUMN_XY = (_LEFT_COLUMN.span(_X), (CABINET_FACE_FOOT[0], _LEFT_COLUMN.high[_Y]))
CABINET_RIGHT_BOX_XY = (_RIGHT_COLUMN.span(_X), (CABINET_FACE_FOOT[0], _RIGHT_COLUMN.high[_Y]))
# The shelf's back wall, seen from above.
_SHELF_BACK = _collision_box('shelf_back')
SHELF_BACK_XY = (_SHELF_BACK.span(_X), _SHELF_BACK.span(_Y))

# Travel height of the TCP above every part the hand passes over in front of the cabinet's top
# (door top 0.65 at y 0.116).
TRANSIT_Z = 0.66


def cabinet_face_y(z: float) -> float:
    """
    Return where the cabinet's leaning face stands at a height.

    :param z: height (m), at or above the desk top.
    :return: y (m).
    """
    return CABINET_FACE_FOOT[0] + (z - CABINET_FACE_FOOT[1]) * CABINET_FACE_SLOPE


def door_y_band(z_low: float, z_high: float) -> Tuple[float, float]:
    """
    Return the y band the leaning sliding door covers between two heights.

    :param z_low: lower height (m).
    :param z_high: upper height (m).
    :return: (front y at z_low, back y at z_high) m.
    """
    return cabinet_face_y(z_low) - DOOR_FRONT_OFFSET, cabinet_face_y(z_high)


def slider_handle(value: float) -> np.ndarray:
    """
    Return the point where the fingers grip the sliding door's handle.

    :param value: the door's joint value (m).
    :return: (3,) TCP position (m).
    """
    return np.asarray(SLIDER_GRASP0) + value * SLIDER_DIRECTION


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
    :param grasp_yaw: TCP yaw (rad) at which the fingers close across the handle.
    """

    part: str
    description: str
    state_index: int
    joint_range: Tuple[float, float]
    handle: Callable[[float], np.ndarray]
    grasp_yaw: float


# By the joint name that the oracle's MoveDoor tasks name.
DOORS: Mapping[str, Door] = {
    'base__slide': Door('slider', 'sliding door', layout.SLIDER, layout.SLIDER_RANGE,
                        slider_handle, SLIDER_GRASP_YAW),
    'base__drawer': Door('drawer', 'drawer', layout.DRAWER, layout.DRAWER_RANGE, drawer_handle,
                         DRAWER_GRASP_YAW),
}

# Each light's logical state's index in scene_obs, by the name that ToggleLight tasks use.
LIGHT_STATE_INDEX: Mapping[str, int] = {'lightbulb': layout.LIGHTBULB, 'led': layout.LED}

# The oracle's surfaces, (body, link) contacts, in the words of geometry.block_support.
SURFACE_SUPPORTS: Mapping[Contact, str] = {
    (TABLE, 'base_link'): 'table', (TABLE, 'plank_link'): 'slider',
    (TABLE, 'drawer_link'): 'drawer'}
