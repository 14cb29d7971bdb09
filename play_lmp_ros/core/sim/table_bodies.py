"""
The play table in pybullet: its fixed structure as one body and each moving part as its own.

The table is authored as one URDF (assets/play_table.urdf), and the markers, the robot
description and the landmarks read it as one tree.  Loaded as one multibody, though, every
contact on any of its links (a block resting on the desk, the arm brushing the door) is solved
against all four of its moving joints together: measured under random actions, the joints cost
a quarter of the physics time, the door alone 350 us of a 1,100 us step.  The parts move on a
fixed base, independently of each other, so loading them apart changes no dynamics: the base
and its fixed links make one body, and each moving joint with its child link makes a body of its
own, rooted at the table's origin.  The parts keep ignoring the structure and each other, as the
links of one body do (pybullet's self-collision is off).
"""

import contextlib
import copy
from pathlib import Path
import tempfile
from typing import Dict, Iterator, List, Tuple
import xml.etree.ElementTree as ElementTree

# The root link of a part's body: no geometry, at the table's origin.
PART_ROOT = 'part_root'


def split_urdf(robot: ElementTree.Element) -> Tuple[ElementTree.Element,
                                                    List[ElementTree.Element]]:
    """
    Split a URDF tree into its fixed structure and one tree per moving joint.

    :param robot: the table's robot element; it is not changed.
    :return: the structure (the base and every link fixed to it) and, in joint order, one robot
        element per moving joint (a root link, the joint, its child link), each carrying the
        URDF's materials.
    :raises ValueError: when a moving part carries links of its own, which a one-joint body
        cannot hold.
    """
    structure = copy.deepcopy(robot)
    links = {link.get('name'): link for link in structure.findall('link')}
    joints = structure.findall('joint')
    moving = [joint for joint in joints if joint.get('type') != 'fixed']
    moving_links = {joint.find('child').get('link') for joint in moving}
    for joint in joints:
        parent = joint.find('parent').get('link')
        if parent in moving_links:
            raise ValueError(f'{parent} moves and carries {joint.find("child").get("link")}; '
                             'only links fixed to the base can hang on the structure')
    materials = structure.findall('material')
    parts = []
    for joint in moving:
        child = links[joint.find('child').get('link')]
        structure.remove(joint)
        structure.remove(child)
        part = ElementTree.Element('robot', name=child.get('name'))
        part.extend(copy.deepcopy(material) for material in materials)
        part.append(_root_link())
        joint.find('parent').set('link', PART_ROOT)
        part.extend([joint, child])
        parts.append(part)
    return structure, parts


def _root_link() -> ElementTree.Element:
    """
    Return a part's root link: massless, no geometry (pybullet warns about a link without mass).

    :return: the link element.
    """
    link = ElementTree.Element('link', name=PART_ROOT)
    inertial = ElementTree.SubElement(link, 'inertial')
    ElementTree.SubElement(inertial, 'mass', value='0')
    ElementTree.SubElement(inertial, 'inertia', ixx='0', ixy='0', ixz='0', iyy='0', iyz='0',
                           izz='0')
    return link


class TableBodies:
    """The table's bodies in one physics client, and where each URDF link and joint went."""

    def __init__(self, client, urdf: Path) -> None:
        """
        Load the table split into its structure and its moving parts, at the world origin.

        :param client: a pybullet client.
        :param urdf: the table's URDF.
        """
        robot = ElementTree.parse(urdf).getroot()
        structure, parts = split_urdf(robot)
        with _written([structure, *parts]) as paths:
            bodies = [client.loadURDF(path, useFixedBase=True) for path in paths]
        self.structure = bodies[0]
        self.parts = tuple(bodies[1:])
        self.bodies = tuple(bodies)
        self._where: Dict[str, Tuple[int, int]] = {
            client.getBodyInfo(self.structure)[0].decode(): (self.structure, -1)}
        self._names: Dict[Tuple[int, int], str] = {}
        for body in bodies:
            for link in range(client.getNumJoints(body)):
                info = client.getJointInfo(body, link)
                self._where[info[12].decode()] = (body, link)
                self._where[info[1].decode()] = (body, link)
        for name, place in self._where.items():
            self._names.setdefault(place, name)
        # Link names in joint order, as pybullet would number the one-body table's links and as
        # scene_info.TABLE_LINKS lists them.
        self.link_names = (self._names[(self.structure, -1)], *(
            joint.find('child').get('link') for joint in robot.findall('joint')))
        for part in self.parts:
            for other in self.bodies:
                if other == part:
                    continue
                for link in range(-1, client.getNumJoints(other)):
                    client.setCollisionFilterPair(part, other, 0, link, 0)

    def place(self, name: str) -> Tuple[int, int]:
        """
        Return where a URDF link or joint is: its body and its link index there.

        :param name: a link name ('drawer_link') or a joint name ('base__drawer').
        :return: (body id, link index), -1 for the structure's base.
        :raises KeyError: for a name that is not in the URDF.
        """
        return self._where[name]

    def link_name(self, body: int, link: int) -> str:
        """
        Return the URDF name of a link of one of the table's bodies.

        :param body: one of self.bodies.
        :param link: link index in that body, -1 for its base.
        :return: the link's name, e.g. 'base_link' or 'slide_link'.
        :raises KeyError: for a part's root, which has no geometry and no URDF name.
        """
        return self._names[(body, link)]


@contextlib.contextmanager
def _written(robots: List[ElementTree.Element]) -> Iterator[List[str]]:
    """
    Write URDF trees to temporary files for pybullet's loadURDF.

    :param robots: robot elements.
    :yield: their paths, in order; the files are removed when the block ends.
    """
    with tempfile.TemporaryDirectory(prefix='play_lmp_ros_table_') as folder:
        paths = []
        for index, robot in enumerate(robots):
            path = Path(folder) / f'{index}_{robot.get("name")}.urdf'
            ElementTree.ElementTree(robot).write(path, encoding='unicode')
            paths.append(str(path))
        yield paths
