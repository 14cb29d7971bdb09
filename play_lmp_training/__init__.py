"""Offline training-side tools of play_lmp_ros: CALVIN dataset I/O, sampling and summaries."""
