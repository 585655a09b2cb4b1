"""Compute pipeline/evaluate's metrics with scikit-learn for the cross-check
in sklearn_test.go. Reads fixtures as JSON on stdin, writes results as JSON on
stdout."""
import json
import sys

import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.metrics import (accuracy_score, balanced_accuracy_score,
                             brier_score_loss, confusion_matrix, log_loss,
                             precision_recall_fscore_support, roc_auc_score,
                             roc_curve)

out = []
for fx in json.load(sys.stdin):
    y = np.array(fx["y_true"])
    p = np.array(fx["proba"], dtype=np.float64)
    k = p.shape[1]
    labels = list(range(k))
    pred = p.argmax(axis=1)
    prec, rec, f1, sup = precision_recall_fscore_support(
        y, pred, labels=labels, zero_division=0)
    wp, wr, wf, _ = precision_recall_fscore_support(
        y, pred, labels=labels, average="weighted", zero_division=0)
    onehot = np.eye(k)[y]
    r = {
        "accuracy": accuracy_score(y, pred),
        "balanced_accuracy": balanced_accuracy_score(y, pred),
        "weighted_precision": wp,
        "weighted_recall": wr,
        "weighted_f1": wf,
        "log_loss": log_loss(y, p, eps=1e-15, labels=labels),
        "brier": float(np.mean(np.sum((p - onehot) ** 2, axis=1))),
        "confusion": confusion_matrix(y, pred, labels=labels).tolist(),
        "precision": prec.tolist(),
        "recall": rec.tolist(),
        "f1": f1.tolist(),
        "support": sup.tolist(),
        "class_auc": [roc_auc_score(y == c, p[:, c]) for c in labels],
        "roc": [],
    }
    curve_classes = [1] if k == 2 else labels
    for c in curve_classes:
        fpr, tpr, _ = roc_curve(y == c, p[:, c])
        r["roc"].append({"fpr": fpr.tolist(), "tpr": tpr.tolist()})
    if k == 2:
        r["auc"] = roc_auc_score(y, p[:, 1])
        r["brier_binary"] = brier_score_loss(y, p[:, 1])
        hit, score = (y == 1), p[:, 1]
    else:
        r["auc"] = roc_auc_score(y, p, multi_class="ovr", average="macro", labels=labels)
        hit, score = (pred == y), p.max(axis=1)
    observed, mean = calibration_curve(hit, score, n_bins=10, strategy="uniform")
    r["calibration_observed"] = observed.tolist()
    r["calibration_mean"] = mean.tolist()
    out.append(r)
json.dump(out, sys.stdout)
