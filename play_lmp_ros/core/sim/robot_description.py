"""
The scene's robot as one URDF: the play table and the Panda under a root link, for rviz and tf.

rviz's RobotModel (and robot_state_publisher, and Foxglove's 3D panel) take a single URDF text,
the ``robot_description``.  The simulator loads two files, the table at the world origin and
pybullet_data's Panda at ROBOT_BASE_POSITION; this module joins them with fixed joints under a
root link named like the world frame, and turns the Panda's ``package://meshes/...`` paths,
which no ROS package resolves, into absolute ``file://`` URIs of pybullet_data's meshes.
"""

from pathlib import Path
from typing import Dict, List
import xml.etree.ElementTree as ElementTree

from play_lmp_ros.core.sim import scene_geometry as geo
import pybullet_data

PANDA_MESH_PREFIX = 'package://'


def _panda_urdf() -> Path:
    """Return the path of pybullet_data's Panda URDF."""
    return Path(pybullet_data.getDataPath()) / geo.ROBOT_URDF


def _fixed_joint(name: str, parent: str, child: str, xyz=(0.0, 0.0, 0.0)) -> ElementTree.Element:
    """Build a fixed URDF joint."""
    joint = ElementTree.Element('joint', name=name, type='fixed')
    ElementTree.SubElement(joint, 'origin', xyz=' '.join(f'{value:g}' for value in xyz),
                           rpy='0 0 0')
    ElementTree.SubElement(joint, 'parent', link=parent)
    ElementTree.SubElement(joint, 'child', link=child)
    return joint


def _root_link(tree: ElementTree.Element) -> str:
    """Return the link of a URDF that is no joint's child."""
    children = {joint.find('child').get('link') for joint in tree.findall('joint')}
    roots = [link.get('name') for link in tree.findall('link') if link.get('name') not in children]
    if len(roots) != 1:
        raise ValueError(f'a URDF must have one root link, found {roots}')
    return roots[0]


def robot_description(root_link: str = 'world') -> str:
    """
    Build the URDF of the whole scene robot: the table and the Panda, joined under root_link.

    :param root_link: the root link's name; the world frame the simulator publishes in, so that
        tf's frames and the URDF's links meet.
    :return: the URDF as XML text.
    :raises ValueError: when a mesh of the Panda is missing or a source URDF is malformed.
    """
    table = ElementTree.parse(geo.TABLE_URDF).getroot()
    panda_path = _panda_urdf()
    panda = ElementTree.parse(panda_path).getroot()
    for mesh in panda.iter('mesh'):
        filename = mesh.get('filename', '')
        relative = filename[len(PANDA_MESH_PREFIX):] if filename.startswith(
            PANDA_MESH_PREFIX) else filename
        path = (panda_path.parent / relative).resolve()
        if not path.is_file():
            raise ValueError(f'{panda_path}: mesh {filename} not found at {path}')
        mesh.set('filename', path.as_uri())
    robot = ElementTree.Element('robot', name='play_table_scene')
    ElementTree.SubElement(robot, 'link', name=root_link)
    robot.append(_fixed_joint(f'{root_link}__table', root_link, _root_link(table)))
    robot.append(_fixed_joint(f'{root_link}__panda', root_link, _root_link(panda),
                              geo.ROBOT_BASE_POSITION))
    for source in (table, panda):
        for element in source:
            robot.append(element)
    return ElementTree.tostring(robot, encoding='unicode')


def link_names(description: str) -> List[str]:
    """
    List the links of a URDF.

    :param description: URDF text.
    :return: the link names, in file order.
    """
    return [link.get('name') for link in ElementTree.fromstring(description).findall('link')]


def static_links(description: str) -> List[str]:
    """
    List the links fixed to the root: those whose every joint up to the root is fixed.

    They never move, so tf gets them once on /tf_static rather than on /tf at every step.

    :param description: URDF text.
    :return: their names in file order, the root itself left out.
    """
    root = ElementTree.fromstring(description)
    parent_joint: Dict[str, ElementTree.Element] = {
        joint.find('child').get('link'): joint for joint in root.findall('joint')}

    def is_static(link: str) -> bool:
        while link in parent_joint:
            joint = parent_joint[link]
            if joint.get('type') != 'fixed':
                return False
            link = joint.find('parent').get('link')
        return True

    return [name for name in link_names(description)[1:] if is_static(name)]
