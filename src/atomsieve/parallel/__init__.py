"""The one place that knows how to run independent jobs, in-process or on Dask distributed."""

from atomsieve.parallel.runner import TaskRunner, run_tasks

__all__ = ["TaskRunner", "run_tasks"]
