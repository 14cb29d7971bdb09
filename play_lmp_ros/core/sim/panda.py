"""
The scene's Panda: pybullet_data's arm and hand with CALVIN's longer fingers and its TCP.

pybullet_data ships the Franka Panda with its short stock fingers and the TCP (panda_grasptarget)
0.105 m below the hand.  CALVIN's robot (panda_longer_finger in calvin_env) has fingers 4.26 cm
longer, with gel pads on the inner faces of their tips, and its TCP link 'tcp' 0.14 m below the
hand, so the same robot_obs means a different hand pose there.  This module builds CALVIN's
gripper on pybullet_data's arm: the fingers are boxes at CALVIN's measured finger size, the pads
separate links as in CALVIN, and the links after the fingers come in CALVIN's order, so that the
finger joints are 9 and 11 and the TCP is link 15, as calvin_env numbers them.  The arm and the
hand keep pybullet_data's meshes, referenced by absolute path.
"""

import contextlib
from pathlib import Path
import tempfile
from typing import Iterator, Sequence
import xml.etree.ElementTree as ElementTree

import pybullet_data

STOCK_URDF = Path(pybullet_data.getDataPath()) / 'franka_panda' / 'panda.urdf'
MESH_PREFIX = 'package://'

# CALVIN's finger, in the finger link's frame (m): 2.1 cm wide, its inner face 3.9 mm from the
# finger frame, 2.31 cm thick and 9.64 cm long from the finger joint (0.0584 m below the hand).
FINGER_HALF_WIDTH = 0.0105
FINGER_INNER_Y = 0.0039
FINGER_OUTER_Y = 0.027
FINGER_LENGTH = 0.0964
# pybullet_data's finger joints stand this far below the hand (m).
FINGER_ORIGIN_Z = 0.0584
# The gel pad on a fingertip: its link's origin and yaw in the finger's frame, and the pad box in
# the pad link's frame, as CALVIN places them; the pad stands 2.9 mm proud of the finger's face.
PAD_ORIGIN = (0.0009, 0.021, 0.066)
PAD_YAW = -1.57
PAD_CENTRE = (0.018, 0.0, 0.0172)
PAD_SIZE = (0.004, 0.0184, 0.025)
# Fixed frames on the hand (m, rad), CALVIN's: the grasp target, the gripper camera and the TCP.
GRASPTARGET_Z = 0.105
GRIPPER_CAMERA_XYZ = (-0.1, 0.0, 0.0)
GRIPPER_CAMERA_RPY = (1.3, 0.0, -1.57)
TCP_Z = 0.14
# How far the fingertips reach below the TCP (m).
FINGERTIP_DROP = round(FINGER_ORIGIN_Z + FINGER_LENGTH - TCP_Z, 6)

# Link numbers in pybullet (joint order), which these names must keep.
LINK_NAMES = (
    'panda_link1', 'panda_link2', 'panda_link3', 'panda_link4', 'panda_link5', 'panda_link6',
    'panda_link7', 'panda_link8', 'panda_hand', 'panda_leftfinger', 'finger_left_tip',
    'panda_rightfinger', 'finger_right_tip', 'panda_grasptarget', 'gripper_cam', 'tcp')


def _numbers(values: Sequence[float]) -> str:
    """Format a triple for a URDF attribute."""
    return ' '.join(f'{value:.6g}' for value in values)


def _box_element(tag: str, centre: Sequence[float], size: Sequence[float],
                 name: str = '') -> ElementTree.Element:
    """Build a visual or collision element holding one box."""
    element = ElementTree.Element(tag, {'name': name} if name else {})
    ElementTree.SubElement(element, 'origin', xyz=_numbers(centre), rpy='0 0 0')
    geometry = ElementTree.SubElement(element, 'geometry')
    ElementTree.SubElement(geometry, 'box', size=_numbers(size))
    if tag == 'visual':
        ElementTree.SubElement(element, 'material', name='panda_white')
    return element


def _link(name: str, mass: float) -> ElementTree.Element:
    """Build a link with a small inertia."""
    link = ElementTree.Element('link', name=name)
    inertial = ElementTree.SubElement(link, 'inertial')
    ElementTree.SubElement(inertial, 'origin', xyz='0 0 0', rpy='0 0 0')
    ElementTree.SubElement(inertial, 'mass', value=f'{mass:g}')
    ElementTree.SubElement(inertial, 'inertia', ixx='1e-4', ixy='0', ixz='0', iyy='1e-4',
                           iyz='0', izz='1e-4')
    return link


def _fixed_joint(name: str, parent: str, child: str, xyz: Sequence[float],
                 rpy: Sequence[float] = (0.0, 0.0, 0.0)) -> ElementTree.Element:
    """Build a fixed joint."""
    joint = ElementTree.Element('joint', name=name, type='fixed')
    ElementTree.SubElement(joint, 'parent', link=parent)
    ElementTree.SubElement(joint, 'child', link=child)
    ElementTree.SubElement(joint, 'origin', xyz=_numbers(xyz), rpy=_numbers(rpy))
    return joint


def _reshape_finger(link: ElementTree.Element, side: float) -> None:
    """
    Replace a stock finger's meshes by CALVIN's finger box.

    :param link: panda_leftfinger or panda_rightfinger.
    :param side: +1 for the left finger (its outer side along +y), -1 for the right one.
    """
    for tag in ('visual', 'collision'):
        for element in link.findall(tag):
            link.remove(element)
    centre = (0.0, side * (FINGER_INNER_Y + FINGER_OUTER_Y) / 2.0, FINGER_LENGTH / 2.0)
    size = (2.0 * FINGER_HALF_WIDTH, FINGER_OUTER_Y - FINGER_INNER_Y, FINGER_LENGTH)
    link.append(_box_element('visual', centre, size))
    link.append(_box_element('collision', centre, size, 'finger'))


def _pad(side_name: str, finger: str, side: float) -> Iterator[ElementTree.Element]:
    """
    Build a fingertip's gel pad link and the joint that fixes it to its finger.

    :param side_name: 'left' or 'right'.
    :param finger: the finger link's name.
    :param side: +1 left, -1 right.
    :yield: the joint, then the link.
    """
    name = f'finger_{side_name}_tip'
    x, y, z = PAD_ORIGIN
    yield _fixed_joint(f'joint_finger_tip_{side_name}', finger, name,
                       (side * x, side * y, z), (0.0, 0.0, side * PAD_YAW))
    link = _link(name, 0.0001)
    link.append(_box_element('visual', PAD_CENTRE, PAD_SIZE))
    link.append(_box_element('collision', PAD_CENTRE, PAD_SIZE, 'gel'))
    yield link


def urdf_tree() -> ElementTree.Element:
    """
    Build the Panda with CALVIN's gripper as a URDF tree.

    Mesh filenames are absolute paths into pybullet_data.

    :return: the robot element.
    :raises ValueError: when pybullet_data's Panda lacks a link or a mesh this relies on.
    """
    robot = ElementTree.parse(STOCK_URDF).getroot()
    for mesh in robot.iter('mesh'):
        filename = mesh.get('filename', '')
        relative = filename[len(MESH_PREFIX):] if filename.startswith(MESH_PREFIX) else filename
        path = (STOCK_URDF.parent / relative).resolve()
        if not path.is_file():
            raise ValueError(f'{STOCK_URDF}: mesh {filename} not found at {path}')
        mesh.set('filename', str(path))
    links = {link.get('name'): link for link in robot.findall('link')}
    joints = {joint.get('name'): joint for joint in robot.findall('joint')}
    for needed in ('panda_hand', 'panda_leftfinger', 'panda_rightfinger', 'panda_grasptarget'):
        if needed not in links:
            raise ValueError(f'{STOCK_URDF} has no link {needed}')
    _reshape_finger(links['panda_leftfinger'], 1.0)
    _reshape_finger(links['panda_rightfinger'], -1.0)
    # Everything below the hand is rebuilt in CALVIN's order: left finger and its pad, right
    # finger and its pad, grasp target, camera, TCP.
    tail = [links['panda_leftfinger'], links['panda_rightfinger'], links['panda_grasptarget'],
            joints['panda_finger_joint1'], joints['panda_finger_joint2'],
            joints['panda_grasptarget_hand']]
    for element in tail:
        robot.remove(element)
    joints['panda_grasptarget_hand'].find('origin').set('xyz', _numbers((0, 0, GRASPTARGET_Z)))
    robot.extend([joints['panda_finger_joint1'], links['panda_leftfinger'],
                  *_pad('left', 'panda_leftfinger', 1.0),
                  joints['panda_finger_joint2'], links['panda_rightfinger'],
                  *_pad('right', 'panda_rightfinger', -1.0),
                  joints['panda_grasptarget_hand'], links['panda_grasptarget'],
                  _fixed_joint('camera_joint', 'panda_hand', 'gripper_cam', GRIPPER_CAMERA_XYZ,
                               GRIPPER_CAMERA_RPY), _link('gripper_cam', 0.0),
                  _fixed_joint('tcp_joint', 'panda_hand', 'tcp', (0.0, 0.0, TCP_Z)),
                  _link('tcp', 0.0)])
    return robot


@contextlib.contextmanager
def urdf_file() -> Iterator[str]:
    """
    Write the Panda with CALVIN's gripper to a temporary URDF file for pybullet's loadURDF.

    :yield: the file's path; the file is removed when the block ends.
    """
    with tempfile.TemporaryDirectory(prefix='play_lmp_ros_panda_') as folder:
        path = Path(folder) / 'panda_calvin_gripper.urdf'
        ElementTree.ElementTree(urdf_tree()).write(path, encoding='unicode')
        yield str(path)
