"""
Write config/play_lmp.foxglove.json, the Foxglove layout of the play table, from code.

    python tools/make_foxglove_layout.py            # rewrite the file
    python tools/make_foxglove_layout.py --check    # exit 1 when the file is out of date

In the Foxglove app: Layouts, Import from file.  The 3D panel draws the scene markers, the TCP
pose and the robot (its URDF from robot_description, moved by joint_states) in the world frame;
a plot follows the TCP from the observation's named fields; two Service Call panels reset the
table and send a goal through the bridge's services; the diagnostics list every node.
"""

import argparse
from pathlib import Path
import sys

import foxglove.layouts as fl
from play_lmp_ros import qos
from play_lmp_ros.core.cli_help import HelpFormatter

LAYOUT_FILE = Path(__file__).resolve().parents[1] / 'config' / 'play_lmp.foxglove.json'
WORLD_FRAME = 'world'


def topic(name: str) -> str:
    """Return a topic of the play table's namespace, fully qualified."""
    return f'/{qos.NAMESPACE}/{name}'


def build_layout() -> fl.Layout:
    """
    Describe the layout.

    :return: the layout.
    """
    scene = fl.ThreeDeePanel(title='Play table', config=fl.ThreeDeeConfig(
        fixed_frame=WORLD_FRAME, follow_tf=WORLD_FRAME, topics={
            topic(qos.MARKERS_TOPIC): fl.BaseRendererSceneUpdateTopicSettings(visible=True),
            topic(qos.ROBOT_DESCRIPTION_TOPIC): fl.BaseRendererUrdfTopicSettings(
                visible=True, control_mode='jointStates',
                joint_states_topic=topic(qos.JOINT_STATES_TOPIC)),
            topic(qos.TCP_POSE_TOPIC): fl.BaseRendererPoseTopicSettings(visible=True)}))
    tcp = fl.PlotPanel(title='TCP position (m)', config=fl.PlotConfig(paths=[
        fl.PlotSeries(value=f'{topic(qos.OBSERVATION_TOPIC)}.{name}', label=name)
        for name in ('tcp_x', 'tcp_y', 'tcp_z')]))
    reset = fl.ServiceCallPanel(title='Reset', config=fl.ServiceCallConfig(
        service_name=topic(qos.RESET_SERVICE), request_payload='{"seed": 0}',
        button_text='Reset'))
    goal = fl.ServiceCallPanel(title='Goal', config=fl.ServiceCallConfig(
        service_name=topic(qos.REACH_GOAL_ACTION),
        request_payload='{"task": "open_drawer", "timeout_s": 0}', button_text='Send goal'))
    side = fl.SplitContainer(direction='column', items=[
        fl.SplitItem(proportion=2, content=tcp), fl.SplitItem(proportion=1, content=reset),
        fl.SplitItem(proportion=1, content=goal),
        fl.SplitItem(proportion=2, content=fl.DiagnosticsSummaryPanel())])
    return fl.Layout(content=fl.SplitContainer(direction='row', items=[
        fl.SplitItem(proportion=2, content=scene), fl.SplitItem(proportion=1, content=side)]))


def layout_text() -> str:
    """Return the layout file's text."""
    return build_layout().to_json() + '\n'


def main(argv=None) -> int:
    """
    Write or check the layout file.

    :param argv: command line arguments (sys.argv[1:] when None).
    :return: 0, or 1 when --check finds the file out of date.
    """
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.formatter_class = HelpFormatter
    parser.add_argument('--check', action='store_true',
                        help='only compare the file with what this script writes')
    args = parser.parse_args(argv)
    text = layout_text()
    if args.check:
        current = LAYOUT_FILE.read_text() if LAYOUT_FILE.exists() else ''
        if current != text:
            print(f'{LAYOUT_FILE} is out of date: run python tools/make_foxglove_layout.py',
                  file=sys.stderr)
            return 1
        return 0
    LAYOUT_FILE.write_text(text)
    print(LAYOUT_FILE)
    return 0


if __name__ == '__main__':
    sys.exit(main())
