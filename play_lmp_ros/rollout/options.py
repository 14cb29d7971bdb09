"""
What the rollout command line decides, as one dataclass, with the composed nodes' defaults.

The graph and the summary read these options; only the command line builds them.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

from play_lmp_ros.rollout.goals import GoalSpec

DEFAULT_BACKEND = 'onnx'
DEFAULT_MODE = 'lockstep'


@dataclass
class RolloutOptions:
    """
    Everything the command line decides.

    :param goals: the goals, in order.
    :param backend: policy backend for composed nodes ('onnx' or 'scripted').
    :param model_dir: model folder for the onnx backend; '' is the bundled model.
    :param mode: 'lockstep' or 'realtime', for composed nodes.
    :param seed: scene seed of the reset, and seed of the composed nodes.
    :param timeout_s: default per-goal timeout (s); 0 is the goal server's default.
    :param replan_every: policy replanning period for composed nodes; None keeps its default.
    :param plan_mode: subgoal plan mode of the composed policy; None keeps the model's.
    :param attach: use running nodes instead of composing them.
    :param out: output folder.
    :param record: write <out>/rollout.mcap.
    :param video: write <out>/rollout.mp4 (or .gif without ffmpeg).
    :param video_every: keep every this many-th observation for the video.
    :param video_size: video side in pixels; None is the camera's 200.
    :param foxglove: serve the run on a Foxglove WebSocket.
    :param foxglove_port: its port.
    :param foxglove_wait_s: with foxglove, wait this long for a client before the first goal.
    :param wait_s: how long to wait for nodes to appear.
    :param json_only: stdout carries only the JSON summary (goal lines go to stderr).
    :param ros_args: arguments for rclpy.init (everything from --ros-args on).
    :param namespace: the nodes' namespace; '' gives composed nodes a new one of their own
        (private_namespace()) and attaches to 'play_lmp'.
    """

    goals: List[GoalSpec]
    backend: str = DEFAULT_BACKEND
    model_dir: str = ''
    mode: str = DEFAULT_MODE
    seed: int = 0
    timeout_s: float = 0.0
    replan_every: Optional[int] = None
    plan_mode: Optional[str] = None
    attach: bool = False
    out: Path = Path('out/rollout')
    record: bool = False
    video: bool = False
    video_every: int = 3
    video_size: Optional[int] = None
    foxglove: bool = False
    foxglove_port: int = 8765
    foxglove_wait_s: float = 0.0
    wait_s: float = 30.0
    json_only: bool = False
    ros_args: List[str] = field(default_factory=list)
    namespace: str = ''
