#!/usr/bin/python3
"""scikit-learn reference for the flight-delay model (docs/flights.md).

Reads DIR/train.csv and DIR/test.csv written by
`datalab features flights --csv-dir DIR` (the exact feature vectors the Go
forest is trained and tested on: the seed's 9 features, StringIndexers
fitted on the training split, indexes as numbers) and fits
RandomForestClassifier(n_estimators=20, max_depth=5) — the seed's forest
size — for several random states, printing held-out accuracy per state and
the mean as JSON.
"""
import json
import sys
import time

import pandas as pd
import sklearn
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, f1_score, log_loss, precision_score


def main(d, seeds):
    train = pd.read_csv(f"{d}/train.csv")
    test = pd.read_csv(f"{d}/test.csv")
    feats = [c for c in train.columns if c != "label"]
    xtr, ytr = train[feats].to_numpy(), train["label"].to_numpy()
    xte, yte = test[feats].to_numpy(), test["label"].to_numpy()
    out = {"sklearn": sklearn.__version__, "features": feats, "train_rows": len(ytr), "test_rows": len(yte), "runs": []}
    for s in seeds:
        m = RandomForestClassifier(n_estimators=20, max_depth=5, random_state=s, n_jobs=2)
        t0 = time.time()
        m.fit(xtr, ytr)
        fit = time.time() - t0
        proba = m.predict_proba(xte)
        pred = m.classes_[proba.argmax(axis=1)]
        out["runs"].append({
            "random_state": s, "fit_sec": round(fit, 3),
            "accuracy": accuracy_score(yte, pred),
            "weighted_precision": precision_score(yte, pred, average="weighted", zero_division=0),
            "weighted_f1": f1_score(yte, pred, average="weighted"),
            "log_loss": log_loss(yte, proba, labels=m.classes_),
        })
    accs = [r["accuracy"] for r in out["runs"]]
    out["mean_accuracy"] = sum(accs) / len(accs)
    out["min_accuracy"], out["max_accuracy"] = min(accs), max(accs)
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main(sys.argv[1], [int(s) for s in sys.argv[2:]] or [0, 1, 2, 3, 4])
