"""The platform file (`.mlspec/platform.yaml`): what is the same for every model of a
repository. `platformfile` (find, load, check, merge defaults under a spec, layout),
`runtimes` (serving runtimes as data; the built-ins are defined the same way).

Policy rules are declared here; they are judged in `mlspec.pipeline.policy`, on the
resolved release, because judging what the cluster will do needs the rollout arithmetic.

May import: `mlspec.spec`, `mlspec.files`, `mlspec.pod`.
"""
