"""Exact TreeSHAP contributions for many rows of a model made of shallow trees.

XGBoost's `pred_contribs` runs the TreeSHAP recursion for every row and every tree: for a
rescore that is fifty thousand rows times a few hundred trees, most of the job's time.

But a tree's contributions for a row depend on the row only through the side of each of the
tree's splits it falls on (TreeSHAP reads the row nowhere else), and so do those of a few trees
together. Trees with k splits between them therefore have at most 2**k different contribution
vectors, and the risk model's trees have three splits at most (max_depth 2). So, for a few
consecutive trees at a time: find which side of each split every row falls on, ask XGBoost for
the contributions of one real row per pattern seen, and hand every row the contributions of its
pattern. The sum is what `pred_contribs` returns, to float rounding; tests/scoring/test_shap.py
checks it against XGBoost on random data with missing values.

A model with deeper trees goes to `pred_contribs` directly.
"""

from __future__ import annotations

import json

import numpy as np
import xgboost as xgb

MAX_SPLITS = 12  # per group of trees: up to 4,096 patterns, still few next to the rows


def contributions(booster: xgb.Booster, matrix: np.ndarray, features: list[str]) -> np.ndarray:
    """Per-row, per-feature SHAP contributions to the margin (the bias column dropped)."""
    # few rows: the recursion is cheaper than reading the trees
    groups = _groups(booster) if len(matrix) >= 1_000 else None
    if groups is None:
        return booster.predict(xgb.DMatrix(matrix, feature_names=features), pred_contribs=True)[:, :-1]
    rows = len(matrix)
    columns = np.ascontiguousarray(matrix.T)  # one feature's values contiguous: read once per split
    out = np.zeros((matrix.shape[1], rows))  # transposed too: a feature's contributions are added in one sweep
    for (begin, end), splits in groups:
        pattern = np.zeros(rows, dtype=np.int64)
        for bit, (feature, threshold, default_left) in enumerate(splits):
            values = columns[feature]
            left = values < threshold  # what XGBoost does: below the threshold goes left, NaN compares false
            if default_left:
                left |= np.isnan(values)
            pattern |= left.astype(np.int64) << bit
        # one row showing each pattern: any will do, they all have the same contributions
        example = np.full(1 << len(splits), -1)
        example[pattern] = np.arange(rows)
        seen = np.flatnonzero(example >= 0)
        table = np.zeros((matrix.shape[1], len(example)))
        sample = xgb.DMatrix(matrix[example[seen]], feature_names=features)
        table[:, seen] = booster[begin:end].predict(sample, pred_contribs=True)[:, :-1].T
        for j in {feature for feature, _, _ in splits}:  # the features these trees split on; the others get nothing
            out[j] += table[j][pattern]
    return out.T


Split = tuple[int, np.float32, bool]  # feature index, threshold, missing goes left


def _groups(booster: xgb.Booster) -> list[tuple[tuple[int, int], list[Split]]] | None:
    """Consecutive trees gathered while their splits number MAX_SPLITS at most, each group as its
    (begin, end) rounds and its splits; None when the model is not one tree per round of plain
    numeric splits, each tree with MAX_SPLITS at most."""
    model = json.loads(booster.save_raw("json"))["learner"]["gradient_booster"]
    if model.get("name") != "gbtree":
        return None
    trees = model["model"]["trees"]
    if len(trees) != booster.num_boosted_rounds():
        return None  # several trees per round (multi-class, forests): slicing by round would mix them
    groups: list[tuple[tuple[int, int], list[Split]]] = []
    begin, splits = 0, []
    for number, tree in enumerate(trees):
        if any(tree.get("categories_nodes", [])):
            return None
        internal = [i for i, left in enumerate(tree["left_children"]) if left != -1]
        if len(internal) > MAX_SPLITS:
            return None
        if len(splits) + len(internal) > MAX_SPLITS:
            groups.append(((begin, number), splits))
            begin, splits = number, []
        splits += [
            (tree["split_indices"][i], np.float32(tree["split_conditions"][i]), bool(tree["default_left"][i]))
            for i in internal
        ]
    if len(trees) > begin:
        groups.append(((begin, len(trees)), splits))
    return groups
