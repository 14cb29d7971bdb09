"""
The scene's robot as one URDF: the play table and the Panda under a root link, for rviz and tf.

rviz's RobotModel (and robot_state_publisher, and Foxglove's 3D panel) take a single URDF text,
the ``robot_description``.  The simulator loads two robots, the table at the world origin and
the Panda with CALVIN's gripper (panda.py) at ROBOT_BASE_POSITION; this module joins them with
fixed joints under a root link named like the world frame, with the Panda's meshes as absolute
``file://`` URIs of pybullet_data's files.
"""

from pathlib import Path
from typing import Dict, List
import xml.etree.ElementTree as ElementTree

from play_lmp_ros.core.sim import panda, scene_geometry as geo


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
    robot_arm = panda.urdf_tree()
    for mesh in robot_arm.iter('mesh'):
        mesh.set('filename', Path(mesh.get('filename')).as_uri())
    robot = ElementTree.Element('robot', name='play_table_scene')
    ElementTree.SubElement(robot, 'link', name=root_link)
    robot.append(_fixed_joint(f'{root_link}__table', root_link, _root_link(table)))
    robot.append(_fixed_joint(f'{root_link}__panda', root_link, _root_link(robot_arm),
                              geo.ROBOT_BASE_POSITION))
    for source in (table, robot_arm):
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
