"""Install the play_lmp_ros ament_python package."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE_NAME = 'play_lmp_ros'

setup(
    name=PACKAGE_NAME,
    version='0.1.0',
    packages=find_packages(include=[PACKAGE_NAME, f'{PACKAGE_NAME}.*']),
    # The bundled model's graphs and its card. The export's parity reports (*parity.json) stay in
    # the source tree: nothing reads them at run time.
    package_data={PACKAGE_NAME: ['core/sim/assets/*.urdf', 'models/*/*.onnx',
                                 'models/*/README.md']},
    data_files=[
        ('share/ament_index/resource_index/packages', [f'resource/{PACKAGE_NAME}']),
        (f'share/{PACKAGE_NAME}', ['package.xml']),
        (f'share/{PACKAGE_NAME}/launch', glob('launch/*.launch.py')),
        (f'share/{PACKAGE_NAME}/config', glob('config/*.yaml') + glob('config/*.rviz')
         + glob('config/*.foxglove.json')),
    ],
    install_requires=['setuptools'],
    zip_safe=False,
    maintainer='play_lmp_ros maintainers',
    maintainer_email='maintainers@play-lmp-ros.dev',
    description='Goal-reaching manipulation learned from play: simulator, policy, ROS 2 nodes.',
    license='Apache-2.0',
    extras_require={'test': ['pytest']},
    entry_points={
        'console_scripts': [
            'play-lmp-sim = play_lmp_ros.core.sim.cli:main',
            'sim_node = play_lmp_ros.sim_node:main',
            'goal_server = play_lmp_ros.goal_server_node:main',
            'policy_node = play_lmp_ros.policy_node:main',
            'rollout = play_lmp_ros.rollout.cli:main',
            'foxglove_bridge = play_lmp_ros.foxglove_bridge_node:main',
        ],
    },
)
