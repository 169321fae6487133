"""Batch processing of mesh folders: tasks, local worker processes or Dask, a manifest, resume.

>>> from manifold_nets.batch import map_meshes, collect_inputs, make_task
>>> sorted(TASKS)
['convert', 'correspond', 'descriptors', 'geodesics', 'info', 'operators', 'repair', 'segment']

The pieces, one concept each: :mod:`.tasks` (what one file becomes; the registry),
:mod:`.inputs` (folders and globs to files with relative names), :mod:`.manifest` (the JSON-lines
record and the resume rule), :mod:`.executors` (local processes, Dask) and :mod:`.run`
(:func:`map_meshes`, which ties them together).  Importing this package never imports dask.
"""

from .executors import DaskExecutor, LocalExecutor, SchedulerError, available_cores
from .inputs import collect_inputs
from .manifest import MANIFEST_NAME, Manifest, final_view, read_manifest
from .run import BatchReport, OutputCollisionError, map_meshes, plan_outputs
from .tasks import TASKS, Job, MeshContext, Task, make_task, register_task, run_job

__all__ = [
    "BatchReport", "DaskExecutor", "Job", "LocalExecutor", "MANIFEST_NAME", "Manifest", "MeshContext",
    "OutputCollisionError", "SchedulerError", "TASKS", "Task", "available_cores", "collect_inputs", "final_view", "make_task",
    "map_meshes", "plan_outputs", "read_manifest", "register_task", "run_job",
]
