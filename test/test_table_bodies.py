"""Tests of the table loaded as its fixed structure plus one body per moving part."""

import xml.etree.ElementTree as ElementTree

import numpy as np
from play_lmp_ros.core import layout
from play_lmp_ros.core.scene_info import TABLE_LINKS
from play_lmp_ros.core.sim import PlayTableSim, scene_geometry as geo
from play_lmp_ros.core.sim.table_bodies import PART_ROOT, split_urdf
import pytest

# Blocks on the desk top's front corners and in the shelf, clear of every part's travel.
RESTING_BLOCKS = ((0.36, -0.15, 0.46), (-0.40, -0.15, 0.46), (-0.25, 0.08, 0.46))


@pytest.fixture(scope='module')
def sim():
    """Share one simulator across the tests, each of which resets it first."""
    with PlayTableSim(seed=0) as shared:
        yield shared


def test_the_split_keeps_every_link_once_and_every_moving_joint_apart():
    """The structure holds the base and its fixed links; each part one joint and its link."""
    table = ElementTree.parse(geo.TABLE_URDF).getroot()
    structure, parts = split_urdf(table)
    assert all(joint.get('type') == 'fixed' for joint in structure.findall('joint'))
    assert [part.get('name') for part in parts] == [
        'button_link', 'switch_link', 'slide_link', 'drawer_link']
    for part in parts:
        (joint,) = part.findall('joint')
        assert joint.find('parent').get('link') == PART_ROOT
        assert [link.get('name') for link in part.findall('link')] == [
            PART_ROOT, joint.find('child').get('link')]
        assert {material.get('name') for material in part.findall('material')} == {
            material.get('name') for material in table.findall('material')}
    names = [link.get('name') for tree in (structure, *parts) for link in tree.findall('link')]
    assert sorted(name for name in names if name != PART_ROOT) == sorted(TABLE_LINKS)
    # The source tree is left as it was.
    assert len(table.findall('joint')) == 7


def test_a_moving_part_that_carries_a_link_is_refused():
    """A one-joint body cannot carry a second link, and the error names both."""
    table = ElementTree.parse(geo.TABLE_URDF).getroot()
    extra = ElementTree.SubElement(table, 'joint', name='drawer__tray', type='fixed')
    ElementTree.SubElement(extra, 'parent', link='drawer_link')
    ElementTree.SubElement(extra, 'child', link='tray')
    ElementTree.SubElement(table, 'link', name='tray')
    with pytest.raises(ValueError, match='drawer_link moves and carries tray'):
        split_urdf(table)


def test_the_parts_pass_through_the_structure_as_links_of_one_body_do(sim):
    """Door, drawer, switch and button at their limits touch no other part of the table."""
    client = sim._client
    ends = (layout.SLIDER_RANGE, layout.DRAWER_RANGE, layout.BUTTON_RANGE, layout.SWITCH_RANGE)
    for end in (0, 1):
        values = [limits[end] for limits in ends]
        scene = np.zeros(layout.SCENE_OBS_DIM)
        for block, position in enumerate(RESTING_BLOCKS):
            scene[layout.block_slice(block)][:3] = position
        scene[[layout.SLIDER, layout.DRAWER, layout.BUTTON, layout.SWITCH]] = values
        sim.reset(None, scene)
        for _ in range(3):
            sim.step(np.array([0.0] * 6 + [layout.GRIPPER_OPEN]))
        bodies = sim._table.bodies
        for body in bodies:
            assert not [point for point in client.getContactPoints(bodyA=body)
                        if point[2] in bodies]
        # Held by friction, the parts stay where they were put.
        assert sim.scene_obs[[layout.SLIDER, layout.DRAWER, layout.SWITCH]] == pytest.approx(
            [values[0], values[1], values[3]], abs=1e-3)


def test_link_boxes_and_poses_name_every_table_link_in_calvins_order(sim):
    """The split table reports its links as the one-body URDF numbers them."""
    sim.reset()
    assert tuple(sim.table_link_boxes()) == TABLE_LINKS
    names = [name for name, _, _ in sim.link_poses()]
    assert names[:len(TABLE_LINKS)] == list(TABLE_LINKS)
    assert PART_ROOT not in names
