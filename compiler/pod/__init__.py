"""Programs shipped verbatim into pods: the evaluation gate (`gate.py`), the artifact
digest and its verification (`digest.py`), the wait for the evaluation Job (`jobwait.py`).

Each file is copied as it is into a ConfigMap and run by `python3` in the cluster, in
images that have nothing but the standard library.

May import: the standard library only; nothing of mlspec (the architecture test checks both).
The compiler imports them too: `mlspec digest` and `mlspec gate` run the same code.
"""
