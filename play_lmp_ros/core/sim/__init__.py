"""
The play table simulator: CALVIN scene D semantics with CALVIN's observation/action contract.

make_sim('pybullet') builds the project's own PyBullet scene (PlayTableSim); make_sim('calvin_env')
wraps calvin_env when it is installed (imported only then).
"""

from play_lmp_ros.core.sim.pybullet_sim import PlayTableSim, SimStateToken

BACKENDS = ('pybullet', 'calvin_env')


def make_sim(backend: str = 'pybullet', **kwargs):
    """
    Build a simulator.

    :param backend: 'pybullet' (PlayTableSim) or 'calvin_env' (CalvinEnvSim).
    :param kwargs: passed to the simulator's constructor (seed, gui).
    :return: a simulator with the PlayTableSim API.
    :raises ValueError: on an unknown backend.
    :raises ImportError: for 'calvin_env' when calvin_env is not importable.
    """
    if backend == 'pybullet':
        return PlayTableSim(**kwargs)
    if backend == 'calvin_env':
        from play_lmp_ros.core.sim.calvin_backend import CalvinEnvSim
        return CalvinEnvSim(**kwargs)
    raise ValueError(f'backend must be one of {BACKENDS}, got {backend!r}')


__all__ = ['BACKENDS', 'PlayTableSim', 'SimStateToken', 'make_sim']
