"""Executors: run a job's commands locally or through a scheduler."""
