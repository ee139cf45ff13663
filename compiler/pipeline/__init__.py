"""The pure compile pipeline: spec text in, Kubernetes objects out; no disk.

`rules` (validation that needs the rollout arithmetic), `resolve` (environment overlay,
platform defaults, derived names), `names`, `delivery` (how pods get the pinned bytes),
rollout arithmetic (`traffic`, `surge`, `capacity`, `autoscaling`, `strategy`,
`placement`), `policy` (the platform rules, judged on the resolved release), `render`
(Jinja2), `verify` (self-check, full schema check), `core` (the stages in order).

May import: `mlspec.platform`, `mlspec.spec`, `mlspec.files`, `mlspec.pod`. What the
GitOps repository adds (ledgers, reconciliation) comes in through `core.Reconciler`,
which `mlspec.records` implements.
"""
