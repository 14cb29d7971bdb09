"""
Hierarchical goal conditioning learned from play: a subgoal proposer and a k-step distance model.

The proposer predicts, from a state and a far goal, the state about k steps ahead on the way (a
Gaussian mixture over it); the distance model predicts how many steps separate two states.  Both
are trained by hindsight on unlabelled play and exported next to the actor, where
play_lmp_ros.core.subgoals plans subgoals with them (sampling, best-of-N or collocation).
"""
