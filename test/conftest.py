"""Shared fixtures: a private ROS domain per test so parallel runs never cross-talk."""

import os
import random

import pytest


@pytest.fixture
def ros_domain(monkeypatch) -> int:
    """
    Give the test (and every process it starts) its own ROS_DOMAIN_ID on the loopback only.

    :return: the domain id.
    """
    domain_id = random.Random(os.getpid() * 7919 + id(monkeypatch)).randint(1, 100)
    monkeypatch.setenv('ROS_DOMAIN_ID', str(domain_id))
    monkeypatch.setenv('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    return domain_id


TINY_EPISODE_FRAMES = 100


@pytest.fixture(scope='session')
def tiny_play(tmp_path_factory):
    """
    Generate a tiny scripted-play dataset once per session: nine training, one validation episode.

    :return: the dataset root.
    """
    from play_lmp_training.collect import generate, PlayConfig

    root = tmp_path_factory.mktemp('tiny_play') / 'play'
    generate(root, 10 * TINY_EPISODE_FRAMES, seed=3, workers=1,
             config=PlayConfig(episode_frames=TINY_EPISODE_FRAMES), progress=False)
    return root
