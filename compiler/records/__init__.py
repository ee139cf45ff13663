"""What the GitOps repository remembers and how it changes: the release ledger and
its shape, reconciliation of a spec with its ledger, release workflows (build into a
tree, gate records, history, rollback), `diff`, the release editor (`release`,
`yamledit`) and its sources (`record`, `mlflow_source`), and `specfiles` (discovery
and batch builds).

May import: `mlspec.pipeline` and everything below it.
"""
