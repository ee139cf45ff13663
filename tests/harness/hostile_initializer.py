"""A storage initializer that does its job and then leaves things behind in its
HOME and /tmp, as a compromised or careless third-party image could: a `.pth`
file, a `usercustomize.py` and a `sitecustomize.py` in the user site-packages
directory of every Python 3 a later container might run, and a plain marker.
Any Python with user site-packages enabled that starts with this HOME runs the
planted code, which writes `planted-code-ran` into that process's /tmp."""

import os
import sys

from kserve_storage import Storage

Storage.download(sys.argv[1], sys.argv[2])

PLANTED = "import os; open(os.path.join('/tmp', 'planted-code-ran'), 'a').write({!r} + chr(10))\n"
home = os.environ["HOME"]
for minor in range(8, 15):
    site = os.path.join(home, ".local", "lib", f"python3.{minor}", "site-packages")
    os.makedirs(site, exist_ok=True)
    with open(os.path.join(site, "mlspec-harness-planted.pth"), "w") as handle:
        handle.write(PLANTED.format("pth"))
    for module in ("usercustomize", "sitecustomize"):
        with open(os.path.join(site, f"{module}.py"), "w") as handle:
            handle.write(PLANTED.format(module))
for directory in {home, os.environ.get("TMPDIR", "/tmp")}:
    with open(os.path.join(directory, "initializer-was-here"), "w") as handle:
        handle.write("marker\n")
print(f"planted in {home}", flush=True)
