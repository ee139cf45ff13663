"""The spec: what a ModelDeployment is and what makes one valid on its own.

`fields` (field types), `model` / `model_rollout` / `model_scaling` (the pydantic
models = the spec and its JSON Schema), `check` (pydantic errors -> positioned
diagnostics, the spec-local cross-field rules), `scan` (the credential scan), `schema`
(the JSON Schema for editors), `overlay` (deep merge of environment overlays and
defaults), `scaffold` (what `mlspec init` writes).

May import: `mlspec.files`, `mlspec.pod`.
"""
