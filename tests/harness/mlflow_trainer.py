"""The training job of a team that tracks with MLflow, run in the MLflow image
(requirements/harness-mlflow.txt) against the tracking server MLFLOW_TRACKING_URI:
a tiny scikit-learn model on iris, logged with a signature and an input example,
its seed as a param, its training dataset as an input, the training image as a
tag; registered and given an alias. MLflow itself records the Git commit and
remote of the checkout this script runs from (none outside a checkout).

Usage: python mlflow_trainer.py OUT.json MODEL_NAME ALIAS [EXPERIMENT [ARTIFACT_LOCATION]]
OUT.json receives what the run holds as the test must find it: the run id, the
registered version, the probe inputs and the model's own predictions for them.
"""

import json
import sys

import mlflow
from mlflow.models import infer_signature
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

out, name, alias = sys.argv[1:4]
experiment = sys.argv[4] if len(sys.argv) > 4 else "iris"
location = sys.argv[5] if len(sys.argv) > 5 else None
SEED = 1234
IMAGE = "registry.example.com/acme/iris-train@sha256:" + "7" * 64

client = mlflow.MlflowClient()
if client.get_experiment_by_name(experiment) is None:
    client.create_experiment(experiment, artifact_location=location)
mlflow.set_experiment(experiment)

iris = load_iris(as_frame=True)
frame = iris.frame
X, y = iris.data.to_numpy(), iris.target.to_numpy()
with mlflow.start_run() as run:
    mlflow.log_param("seed", SEED)
    mlflow.set_tag("mlspec.training.image", IMAGE)
    dataset = mlflow.data.from_pandas(frame, source="s3://data/iris/iris.csv", name="iris", targets="target")
    mlflow.log_input(dataset, context="training")
    model = LogisticRegression(max_iter=500, random_state=SEED).fit(X, y)
    probe = X[::30]
    predictions = model.predict(probe)
    info = mlflow.sklearn.log_model(model, name="model", input_example=probe,
                                    signature=infer_signature(probe, predictions), registered_model_name=name)
version = info.registered_model_version
client.set_registered_model_alias(name, alias, version)
json.dump({"run_id": run.info.run_id, "version": str(version), "dataset_digest": dataset.digest,
           "inputs": probe.tolist(), "predictions": predictions.tolist()}, open(out, "w"))
