"""The file layer: everything that touches bytes on disk or turns them into data.

`errors` (the exception root and `Diagnostic`), `text` (escaping user strings),
`safepath` (the one safe-path layer: no symlink followed, confined to a root), `loader`
(the budgeted, strict YAML loader with line:col), `emit` (canonical YAML, kustomization),
`outtree` (the output tree: staging, atomic swap, drift), `layout` (a model key -> paths).

May import: `mlspec.pod`. Nothing here knows what a spec is.
"""
