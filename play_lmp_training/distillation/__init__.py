"""Behaviour distillation: DAgger from the scripted experts into one goal-conditioned policy."""
