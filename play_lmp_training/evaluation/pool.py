"""
Run evaluation jobs in worker processes, or in this one, in job order with a progress bar.

Workers are spawned (never forked) and each runs its initializer once, so that a policy loads
once per process; the results come back in the order of the jobs, whatever the number of
workers.
"""

import multiprocessing
from typing import Callable, Optional

from tqdm import tqdm


def pool_map(function: Callable, jobs: list, workers: int, desc: str, progress: bool,
             initializer: Optional[Callable] = None, initargs: tuple = ()) -> list:
    """
    Run jobs in worker processes (or in this one), with a progress bar, in job order.

    :param function: called with one job; must be importable by name (spawned workers).
    :param jobs: the jobs.
    :param workers: worker processes; 1, or a single job, runs them in this process.
    :param desc: the progress bar's label.
    :param progress: show a progress bar.
    :param initializer: called once per process with initargs before its first job.
    :param initargs: the initializer's arguments.
    :return: function's result for each job, in job order.
    """
    bar = tqdm(total=len(jobs), desc=desc, disable=not progress)
    results = []
    if workers <= 1 or len(jobs) <= 1:
        if initializer is not None:
            initializer(*initargs)
        for job in jobs:
            results.append(function(job))
            bar.update()
    else:
        context = multiprocessing.get_context('spawn')
        with context.Pool(min(workers, len(jobs)), initializer, initargs) as pool:
            for result in pool.imap(function, jobs):
                results.append(result)
                bar.update()
    bar.close()
    return results
