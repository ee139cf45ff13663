"""A team's evaluator, as its image would hold it: load the verified model at
MLSPEC_MODEL_PATH and the verified dataset at MLSPEC_DATASET_PATH, write the
metrics where mlspec's gate reads them."""

import json
import os

import joblib
import numpy as np


def only_file(path: str) -> str:
    if os.path.isfile(path):
        return path
    [name] = os.listdir(path)  # a single-file artifact, fetched into a directory
    return os.path.join(path, name)


model = joblib.load(only_file(os.environ["MLSPEC_MODEL_PATH"]))
data = np.load(only_file(os.environ["MLSPEC_DATASET_PATH"]))
accuracy = float((model.predict(data["X"]) == data["y"]).mean())
with open(os.environ["MLSPEC_METRICS_PATH"], "w") as handle:
    json.dump({"accuracy": accuracy}, handle)
print(f"evaluated {os.environ['MLSPEC_MODEL_NAME']} {os.environ['MLSPEC_MODEL_VERSION']}: accuracy={accuracy}")
