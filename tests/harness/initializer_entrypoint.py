"""The storage-initializer image's entrypoint, as KServe's image runs it
(`/storage-initializer/scripts/initializer-entrypoint SRC_URI DEST_PATH`):
the PyPI package `kserve-storage` does the fetching."""

import logging
import sys

from kserve_storage import Storage

if len(sys.argv) != 3:
    print("Usage: initializer-entrypoint src_uri dest_path")
    sys.exit(1)

logging.basicConfig(level=logging.INFO)
logging.info("Initializing, args: src_uri [%s] dest_path [%s]", sys.argv[1], sys.argv[2])
Storage.download(sys.argv[1], sys.argv[2])
