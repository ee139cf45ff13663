"""The training job: a tiny scikit-learn model, its holdout set, and the
predictions the model itself makes (the truth the served model must match)."""

import json
import sys

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression

out = sys.argv[1]
rng = np.random.default_rng(1234)
X = rng.normal(size=(200, 4))
y = (X[:, 0] + 0.5 * X[:, 1] - X[:, 2] > 0).astype(np.int64)
model = LogisticRegression(random_state=1234).fit(X[:150], y[:150])
joblib.dump(model, f"{out}/model.joblib")
np.savez(f"{out}/holdout.npz", X=X[150:], y=y[150:])
probe = X[150:155]
json.dump({"inputs": probe.tolist(), "predictions": model.predict(probe).tolist(),
           "accuracy": float((model.predict(X[150:]) == y[150:]).mean())}, open(f"{out}/expected.json", "w"))
