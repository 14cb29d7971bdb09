"""
Markers of the play table for rviz: the scene in its current state, and the active goal.

Pure functions from a 39-D state to a visualization_msgs/MarkerArray, so they are testable
without a ROS graph.  The table's shapes, colours and joints come from the simulator's own
description (core/sim/assets/play_table.urdf, read once) and the blocks and light colours from
core/sim/scene_geometry.py, so the markers follow any edit of the scene.

Every marker has a fixed (namespace, id), so a new array replaces the previous one in rviz.  The
goal is drawn as transparent copies of every part that moves (sliding door, drawer, button,
switch, lights, blocks) plus a ghost TCP (sphere and axes); goal_markers(None) deletes them.
The policy's current subgoal is drawn the same way, fainter, under 'subgoal/' namespaces.
"""

from dataclasses import dataclass
import functools
from typing import Dict, List, Optional, Sequence, Tuple
import xml.etree.ElementTree as ElementTree

from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point
import numpy as np
from play_lmp_ros.core import layout
from play_lmp_ros.core.sim import scene_geometry as geo
from std_msgs.msg import ColorRGBA
from transforms3d.euler import euler2mat, euler2quat
from transforms3d.quaternions import mat2quat
from visualization_msgs.msg import Marker, MarkerArray

TABLE_NS = 'table'
BLOCKS_NS = 'blocks'
TCP_NS = 'tcp'
GOAL_NS_PREFIX = 'goal/'
SUBGOAL_NS_PREFIX = 'subgoal/'
# Namespace of each moving table part, by the URDF joint or link that moves or lights it.
JOINT_NAMESPACES = {
    'base__slide': 'sliding_door',
    'base__drawer': 'drawer',
    'base__button': 'button',
    'base__switch': 'switch',
}
LIGHT_NAMESPACES = {'light_link': 'lightbulb', 'led_link': 'led'}
# Index of each table joint in scene_obs.
JOINT_STATE_INDEX = {
    'base__slide': layout.SLIDER,
    'base__drawer': layout.DRAWER,
    'base__button': layout.BUTTON,
    'base__switch': layout.SWITCH,
}
LIGHT_STATE_INDEX = {'lightbulb': layout.LIGHTBULB, 'led': layout.LED}
LIGHT_ON_RGBA = {'lightbulb': geo.LIGHTBULB_ON_RGBA, 'led': geo.LED_ON_RGBA}
# A light that is off shows its own colour this much darker, so "on" is the bright one.
LIGHT_OFF_BRIGHTNESS = 0.25

GOAL_ALPHA = 0.35
# The policy's subgoal: fainter than the goal, so the two ghosts tell apart.
SUBGOAL_ALPHA = 0.15
TCP_SPHERE_DIAMETER_M = 0.03
TCP_RGBA = (0.9, 0.9, 0.9, 1.0)
AXIS_LENGTH_M = 0.08
AXIS_SHAFT_DIAMETER_M = 0.006
AXIS_HEAD_DIAMETER_M = 0.014
AXIS_HEAD_LENGTH_M = 0.02
AXIS_RGBA = ((1.0, 0.0, 0.0, 1.0), (0.0, 1.0, 0.0, 1.0), (0.0, 0.0, 1.0, 1.0))

_SHAPES = {'box': Marker.CUBE, 'cylinder': Marker.CYLINDER, 'sphere': Marker.SPHERE}


@dataclass(frozen=True)
class _Visual:
    """
    One visual shape of the table URDF, in the frame of its link.

    :param namespace: marker namespace of the part it belongs to.
    :param link: URDF link name.
    :param position: (3,) position in the link frame (m).
    :param quaternion: (4,) orientation in the world, w first; constant, since the table's
        joints are fixed or prismatic.
    :param shape: Marker.CUBE, CYLINDER or SPHERE.
    :param scale: (3,) marker scale (m): box size, or diameters and length.
    :param rgba: colour.
    """

    namespace: str
    link: str
    position: np.ndarray
    quaternion: np.ndarray
    shape: int
    scale: Tuple[float, float, float]
    rgba: Tuple[float, float, float, float]


@dataclass(frozen=True)
class _Joint:
    """
    One URDF joint: the pose of its child link is parent * origin * (axis * q).

    :param name: joint name.
    :param parent: parent link name.
    :param position: (3,) origin position in the parent frame (m).
    :param rotation: (3, 3) origin rotation in the parent frame.
    :param axis: (3,) unit axis of a prismatic joint, zeros for a fixed one.
    """

    name: str
    parent: str
    position: np.ndarray
    rotation: np.ndarray
    axis: np.ndarray


@dataclass(frozen=True)
class _Table:
    """
    The table URDF, reduced to what the markers need.

    :param root: name of the root link.
    :param joints: child link name -> the joint that carries it.
    :param visuals: every visual shape, in URDF order.
    """

    root: str
    joints: Dict[str, _Joint]
    visuals: Tuple[_Visual, ...]


def _floats(text: Optional[str], count: int) -> np.ndarray:
    """
    Parse a URDF list of numbers.

    :param text: space-separated numbers, or None (URDF's default: zeros).
    :param count: expected count.
    :return: (count,) float64.
    :raises ValueError: on a wrong count.
    """
    if text is None:
        return np.zeros(count)
    values = np.array([float(value) for value in text.split()])
    if values.size != count:
        raise ValueError(f'expected {count} numbers in the table URDF, got {text!r}')
    return values


def _origin(element: ElementTree.Element) -> Tuple[np.ndarray, np.ndarray]:
    """
    Read the <origin> of a URDF element.

    :param element: a joint or visual element.
    :return: (3,) position (m) and (3, 3) rotation (URDF rpy: fixed axes x, y, z).
    """
    origin = element.find('origin')
    xyz = _floats(None if origin is None else origin.get('xyz'), 3)
    rpy = _floats(None if origin is None else origin.get('rpy'), 3)
    return xyz, euler2mat(*rpy, 'sxyz')


def _geometry(visual: ElementTree.Element) -> Tuple[int, Tuple[float, float, float]]:
    """
    Turn a URDF visual geometry into a marker type and scale.

    :param visual: the <visual> element.
    :return: Marker type and (3,) scale (m).
    :raises ValueError: on a geometry that is not a box, cylinder or sphere.
    """
    geometry = visual.find('geometry')
    shape = geometry[0] if geometry is not None and len(geometry) else None
    if shape is None or shape.tag not in _SHAPES:
        found = None if shape is None else shape.tag
        raise ValueError(
            f'table URDF visual geometry must be a box, cylinder or sphere, got {found}')
    if shape.tag == 'box':
        scale = tuple(_floats(shape.get('size'), 3).tolist())
    elif shape.tag == 'cylinder':
        diameter = 2.0 * float(shape.get('radius'))
        scale = (diameter, diameter, float(shape.get('length')))
    else:
        diameter = 2.0 * float(shape.get('radius'))
        scale = (diameter, diameter, diameter)
    return _SHAPES[shape.tag], scale


def _namespace(link: str, joint_of_link: Dict[str, str]) -> str:
    """
    Name the part a link belongs to.

    :param link: URDF link name.
    :param joint_of_link: child link name -> joint name.
    :return: the marker namespace.
    """
    if link in LIGHT_NAMESPACES:
        return LIGHT_NAMESPACES[link]
    return JOINT_NAMESPACES.get(joint_of_link.get(link, ''), TABLE_NS)


@functools.lru_cache(maxsize=None)
def _table() -> _Table:
    """
    Read the table URDF once.

    :return: its root, joints and visual shapes.
    :raises ValueError: on a joint type other than fixed or prismatic, a prismatic joint that
        scene_obs does not hold, or an unknown geometry.
    """
    robot = ElementTree.parse(geo.TABLE_URDF).getroot()
    materials = {
        material.get('name'): tuple(_floats(material.find('color').get('rgba'), 4).tolist())
        for material in robot.findall('material') if material.find('color') is not None}
    joints = {}
    for joint in robot.findall('joint'):
        kind = joint.get('type')
        if kind not in ('fixed', 'prismatic'):
            raise ValueError(
                f'table URDF joint {joint.get("name")} is {kind}; markers draw fixed and '
                'prismatic joints only')
        position, rotation = _origin(joint)
        axis = np.zeros(3)
        if kind == 'prismatic':
            if joint.get('name') not in JOINT_STATE_INDEX:
                raise ValueError(
                    f'table URDF joint {joint.get("name")} has no value in scene_obs')
            axis_element = joint.find('axis')
            # URDF's default axis is x.
            axis = _floats('1 0 0' if axis_element is None else axis_element.get('xyz'), 3)
        joints[joint.find('child').get('link')] = _Joint(
            name=joint.get('name'), parent=joint.find('parent').get('link'),
            position=position, rotation=rotation, axis=axis)
    joint_of_link = {link: joint.name for link, joint in joints.items()}
    roots = [link.get('name') for link in robot.findall('link') if link.get('name') not in joints]
    if len(roots) != 1:
        raise ValueError(f'table URDF must have one root link, got {roots}')
    rest_poses = _link_poses(_Table(root=roots[0], joints=joints, visuals=()),
                             np.zeros(layout.SCENE_OBS_DIM))
    visuals = []
    for link in robot.findall('link'):
        name = link.get('name')
        for visual in link.findall('visual'):
            position, rotation = _origin(visual)
            shape, scale = _geometry(visual)
            material = visual.find('material')
            rgba = (1.0, 1.0, 1.0, 1.0)
            if material is not None:
                color = material.find('color')
                rgba = (tuple(_floats(color.get('rgba'), 4).tolist()) if color is not None
                        else materials.get(material.get('name'), rgba))
            visuals.append(_Visual(
                namespace=_namespace(name, joint_of_link), link=name, position=position,
                quaternion=mat2quat(rest_poses[name][1] @ rotation), shape=shape, scale=scale,
                rgba=rgba))
    return _Table(root=roots[0], joints=joints, visuals=tuple(visuals))


def _link_poses(table: _Table, scene_obs: np.ndarray) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """
    Place every table link in the world for a scene state.

    :param table: the parsed URDF.
    :param scene_obs: (24,) scene state; the four joint values are read from it.
    :return: link name -> (3,) position (m) and (3, 3) rotation in the world.
    """
    poses = {table.root: (np.zeros(3), np.eye(3))}

    def pose_of(link: str) -> Tuple[np.ndarray, np.ndarray]:
        if link not in poses:
            joint = table.joints[link]
            parent_position, parent_rotation = pose_of(joint.parent)
            rotation = parent_rotation @ joint.rotation
            index = JOINT_STATE_INDEX.get(joint.name)
            value = 0.0 if index is None else scene_obs[index]
            position = (parent_position + parent_rotation @ joint.position
                        + rotation @ (joint.axis * value))
            poses[link] = (position, rotation)
        return poses[link]

    for link in table.joints:
        pose_of(link)
    return poses


def _color(rgba: Sequence[float], alpha: Optional[float] = None) -> ColorRGBA:
    """
    Build a ColorRGBA.

    :param rgba: (4,) red, green, blue, alpha in [0, 1].
    :param alpha: replaces rgba's alpha when given.
    :return: the colour.
    """
    return ColorRGBA(r=float(rgba[0]), g=float(rgba[1]), b=float(rgba[2]),
                     a=float(rgba[3] if alpha is None else alpha))


def _marker(namespace: str, marker_id: int, shape: int, stamp: Time, frame_id: str) -> Marker:
    """
    Start a marker that adds (or replaces) the shape with this namespace and id.

    :param namespace: marker namespace.
    :param marker_id: id within the namespace.
    :param shape: Marker type.
    :param stamp: header stamp.
    :param frame_id: header frame.
    :return: the marker, pose at the origin, unit scale.
    """
    marker = Marker(ns=namespace, id=marker_id, type=shape, action=Marker.ADD)
    marker.header.stamp = stamp
    marker.header.frame_id = frame_id
    return marker


def _set_pose(marker: Marker, position: np.ndarray, quaternion_wxyz: np.ndarray) -> None:
    """
    Set a marker's pose.

    :param marker: the marker.
    :param position: (3,) m.
    :param quaternion_wxyz: (4,) unit quaternion, w first (transforms3d's order).
    """
    marker.pose.position.x, marker.pose.position.y, marker.pose.position.z = (
        float(value) for value in position)
    orientation = marker.pose.orientation
    orientation.w, orientation.x, orientation.y, orientation.z = (
        float(value) for value in quaternion_wxyz)


def _scaled(marker: Marker, scale: Sequence[float]) -> Marker:
    """
    Set a marker's scale.

    :param marker: the marker.
    :param scale: (3,) m.
    :return: the marker.
    """
    marker.scale.x, marker.scale.y, marker.scale.z = (float(value) for value in scale)
    return marker


def _part_markers(state: np.ndarray, stamp: Time, frame_id: str, prefix: str,
                  alpha: Optional[float], moving_only: bool) -> List[Marker]:
    """
    Draw the table parts, the lights in their state's colour, and the blocks.

    :param state: (39,) validated state.
    :param stamp: header stamp.
    :param frame_id: header frame.
    :param prefix: prepended to every namespace.
    :param alpha: overrides every colour's alpha when given.
    :param moving_only: skip the static table (goal copies draw only what can change).
    :return: the markers.
    """
    scene_obs = state[layout.ROBOT_OBS_DIM:]
    table = _table()
    poses = _link_poses(table, scene_obs)
    markers = []
    ids: Dict[str, int] = {}
    for visual in table.visuals:
        if moving_only and visual.namespace == TABLE_NS:
            continue
        marker_id = ids.get(visual.namespace, 0)
        ids[visual.namespace] = marker_id + 1
        rgba = visual.rgba
        if visual.namespace in LIGHT_STATE_INDEX:
            on_rgba = LIGHT_ON_RGBA[visual.namespace]
            if scene_obs[LIGHT_STATE_INDEX[visual.namespace]] >= 0.5:
                rgba = on_rgba
            else:
                rgba = (*(np.asarray(on_rgba[:3]) * LIGHT_OFF_BRIGHTNESS), on_rgba[3])
        link_position, link_rotation = poses[visual.link]
        marker = _scaled(_marker(prefix + visual.namespace, marker_id, visual.shape, stamp,
                                 frame_id), visual.scale)
        _set_pose(marker, link_position + link_rotation @ visual.position, visual.quaternion)
        marker.color = _color(rgba, alpha)
        markers.append(marker)
    for block_index, (size, rgba) in enumerate(zip(geo.BLOCK_SIZES, geo.BLOCK_RGBA)):
        pose = scene_obs[layout.block_slice(block_index)]
        marker = _scaled(_marker(prefix + BLOCKS_NS, block_index, Marker.CUBE, stamp, frame_id),
                         size)
        _set_pose(marker, pose[:3], euler2quat(*pose[3:], 'sxyz'))
        marker.color = _color(rgba, alpha)
        markers.append(marker)
    return markers


def _tcp_markers(state: np.ndarray, stamp: Time, frame_id: str, namespace: str,
                 alpha: Optional[float]) -> List[Marker]:
    """
    Draw the TCP: a sphere at its position (id 0) and its x, y, z axes as arrows (ids 1-3).

    :param state: (39,) validated state.
    :param stamp: header stamp.
    :param frame_id: header frame.
    :param namespace: marker namespace.
    :param alpha: overrides every colour's alpha when given.
    :return: the four markers.
    """
    position = state[layout.TCP_POS]
    rotation = euler2mat(*state[layout.TCP_ORN], 'sxyz')
    sphere = _scaled(_marker(namespace, 0, Marker.SPHERE, stamp, frame_id),
                     (TCP_SPHERE_DIAMETER_M,) * 3)
    _set_pose(sphere, position, (1.0, 0.0, 0.0, 0.0))
    sphere.color = _color(TCP_RGBA, alpha)
    markers = [sphere]
    for axis, rgba in enumerate(AXIS_RGBA):
        # An arrow given by points ignores its pose: scale is shaft diameter, head diameter
        # and head length.
        arrow = _scaled(_marker(namespace, axis + 1, Marker.ARROW, stamp, frame_id),
                        (AXIS_SHAFT_DIAMETER_M, AXIS_HEAD_DIAMETER_M, AXIS_HEAD_LENGTH_M))
        tip = position + rotation[:, axis] * AXIS_LENGTH_M
        arrow.points = [Point(x=float(position[0]), y=float(position[1]), z=float(position[2])),
                        Point(x=float(tip[0]), y=float(tip[1]), z=float(tip[2]))]
        arrow.color = _color(rgba, alpha)
        markers.append(arrow)
    return markers


def scene_markers(state: np.ndarray, stamp: Time, frame_id: str = 'world') -> MarkerArray:
    """
    Draw the play table in a state: table, moving parts, lights, blocks and the TCP.

    Namespaces: 'table' (static parts), 'sliding_door', 'drawer', 'button', 'switch',
    'lightbulb' and 'led' (in their colour when on, LIGHT_OFF_BRIGHTNESS of it when off),
    'blocks' (ids 0 red, 1 blue, 2 pink) and 'tcp' (sphere and axes).

    :param state: (39,) observation.
    :param stamp: header stamp of every marker.
    :param frame_id: frame of every marker (the world frame of the simulator).
    :return: the markers, all with action ADD.
    :raises ValueError: on a state with the wrong length or non-finite values.
    """
    state = layout.check_vector(state, layout.OBS_DIM, 'marker state')
    markers = _part_markers(state, stamp, frame_id, '', None, moving_only=False)
    markers += _tcp_markers(state, stamp, frame_id, TCP_NS, None)
    return MarkerArray(markers=markers)


def goal_markers(goal: Optional[np.ndarray], stamp: Time, frame_id: str = 'world',
                 prefix: str = GOAL_NS_PREFIX, alpha: float = GOAL_ALPHA) -> MarkerArray:
    """
    Draw a goal state as transparent copies of the moving parts and a ghost TCP, or delete it.

    Namespaces are the scene's with the prefix (no static table); every colour has the alpha.

    :param goal: (39,) goal state, or None when there is no active goal.
    :param stamp: header stamp of every marker.
    :param frame_id: frame of every marker.
    :param prefix: namespace prefix ('goal/'; 'subgoal/' for the policy's subgoal).
    :param alpha: opacity of every marker.
    :return: ADD markers for a goal; for None, DELETE markers for the same namespaces and ids.
    :raises ValueError: on a goal with the wrong length or non-finite values.
    """
    if goal is None:
        drawn = goal_markers(np.zeros(layout.OBS_DIM), stamp, frame_id, prefix, alpha)
        for marker in drawn.markers:
            marker.action = Marker.DELETE
        return drawn
    goal = layout.check_vector(goal, layout.OBS_DIM, 'goal state')
    markers = _part_markers(goal, stamp, frame_id, prefix, alpha, moving_only=True)
    markers += _tcp_markers(goal, stamp, frame_id, prefix + TCP_NS, alpha)
    return MarkerArray(markers=markers)


def subgoal_markers(subgoal: Optional[np.ndarray], stamp: Time,
                    frame_id: str = 'world') -> MarkerArray:
    """
    Draw the policy's current subgoal as a second, fainter ghost, or delete it.

    :param subgoal: (39,) subgoal, or None.
    :param stamp: header stamp of every marker.
    :param frame_id: frame of every marker.
    :return: goal_markers with the 'subgoal/' prefix and SUBGOAL_ALPHA.
    """
    return goal_markers(subgoal, stamp, frame_id, SUBGOAL_NS_PREFIX, SUBGOAL_ALPHA)
