"""Goal-reaching manipulation learned from play, on ROS 2."""

__version__ = '0.1.0'
