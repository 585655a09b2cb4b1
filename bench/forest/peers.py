#!/usr/bin/python3
"""Peer side of the random forest benchmark (bench/forest/run.sh).

Usage: peers.py sklearn|xgbrf TRAIN.csv TEST.csv [THREADS [SEEDS]]

Reads the CSV matrix forestbench exported (8 numeric features, label last),
fits one peer with the benchmark's settings (20 trees, depth 5, 3 of 8
features per node; 32 bins for XGBoost's histogram method) once per seed
(random_state 0..SEEDS-1, default 5), times fit and predict, and prints one
JSON line in forestbench's result format: median fit and predict time, mean
accuracy, and the per-seed figures. Run with
Debian's interpreter (/usr/bin/python3: python3-sklearn, python3-xgboost,
python3-pandas).
"""
import gc
import json
import statistics
import sys
import time

import numpy as np
import pandas as pd

TREES, DEPTH, BINS, FEATURES_PER_NODE = 20, 5, 32, 3


def load(path):
    df = pd.read_csv(path, dtype=np.float32)
    y = df.pop("label").to_numpy().astype(np.int32)
    return np.ascontiguousarray(df.to_numpy(dtype=np.float32)), y


def main():
    system, train_path, test_path = sys.argv[1:4]
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    seeds = int(sys.argv[5]) if len(sys.argv) > 5 else 5
    x_train, y_train = load(train_path)
    x_test, y_test = load(test_path)
    n_features = x_train.shape[1]
    if system == "sklearn":
        from sklearn.ensemble import RandomForestClassifier

        model = RandomForestClassifier(
            n_estimators=TREES, max_depth=DEPTH, max_features=FEATURES_PER_NODE,
            bootstrap=True, n_jobs=threads, random_state=0)
        config = ("sklearn %s RandomForestClassifier(n_estimators=%d, max_depth=%d, "
                  "max_features=%d, bootstrap=True, n_jobs=%d); exact splits, no binning"
                  % (__import__("sklearn").__version__, TREES, DEPTH, FEATURES_PER_NODE, threads))
    elif system == "xgbrf":
        import xgboost
        from xgboost import XGBRFClassifier

        frac = FEATURES_PER_NODE / n_features
        model = XGBRFClassifier(
            n_estimators=TREES, max_depth=DEPTH, max_bin=BINS, tree_method="hist",
            colsample_bynode=frac, n_jobs=threads, random_state=0)
        config = ("xgboost %s XGBRFClassifier(n_estimators=%d, max_depth=%d, max_bin=%d, "
                  "tree_method=hist, colsample_bynode=%.3f, subsample=0.8 default, n_jobs=%d); "
                  "multi:softprob grows one forest per class"
                  % (xgboost.__version__, TREES, DEPTH, BINS, frac, threads))
    else:
        sys.exit("unknown system %r: want sklearn or xgbrf" % system)

    fits, predicts, accuracies = [], [], []
    for seed in range(seeds):
        model.set_params(random_state=seed)
        gc.collect()
        start = time.perf_counter()
        model.fit(x_train, y_train)
        fits.append(time.perf_counter() - start)
        start = time.perf_counter()
        pred = model.predict(x_test)
        predicts.append(time.perf_counter() - start)
        accuracies.append(float(np.mean(pred == y_test)))
    print(json.dumps({
        "system": system, "fit_s": statistics.median(fits),
        "predict_s": statistics.median(predicts),
        "predict_rows_per_s": len(y_test) / statistics.median(predicts),
        "accuracy": statistics.mean(accuracies),
        "train_rows": len(y_train), "test_rows": len(y_test), "threads": threads,
        "config": config + "; random_state 0..%d" % (seeds - 1),
        "fit_s_all": fits, "accuracy_all": accuracies,
    }))


if __name__ == "__main__":
    main()
