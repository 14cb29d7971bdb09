"""
The offline evaluation behind ``python -m play_lmp_training.evaluate``, one module per job.

episodes makes the single-protocol episodes and the chains, rollouts runs them with a policy,
summaries sums the results up, reports writes the tables and plots, and pool runs jobs in
worker processes.
"""
