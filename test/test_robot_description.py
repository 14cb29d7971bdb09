"""The scene's URDF: one root, the simulator's links and movable joints, meshes that exist."""

from pathlib import Path
from urllib.parse import unquote, urlparse
import xml.etree.ElementTree as ElementTree

from play_lmp_ros.core.sim import make_sim
from play_lmp_ros.core.sim.robot_description import link_names, robot_description, static_links
from play_lmp_ros.sim_node import JOINT_NAMES


def test_the_urdf_joins_table_and_panda_under_the_world_frame():
    """One root named like the world frame, each simulated link once, the movable joints."""
    description = robot_description('map')
    root = ElementTree.fromstring(description)
    links = link_names(description)
    assert links[0] == 'map' and len(links) == len(set(links))
    children = {joint.find('child').get('link') for joint in root.findall('joint')}
    assert set(links) - children == {'map'}
    with make_sim(seed=0) as sim:
        simulated = [name for name, _, _ in sim.link_poses()]
    assert set(links[1:]) == set(simulated)
    movable = {joint.get('name') for joint in root.findall('joint')
               if joint.get('type') != 'fixed'}
    assert movable == set(JOINT_NAMES)


def test_every_mesh_is_an_absolute_file_that_exists():
    """The Panda's package://meshes paths, which no ROS package resolves, become file:// URIs."""
    meshes = [mesh.get('filename')
              for mesh in ElementTree.fromstring(robot_description()).iter('mesh')]
    assert meshes
    for uri in meshes:
        parsed = urlparse(uri)
        assert parsed.scheme == 'file', uri
        assert Path(unquote(parsed.path)).is_file(), uri


def test_the_static_links_are_those_fixed_all_the_way_to_the_root():
    """The table and Panda bases and what is bolted to the table; nothing behind a moving joint."""
    assert static_links(robot_description()) == [
        'base_link', 'led_link', 'light_link', 'plank_link', 'panda_link0']
