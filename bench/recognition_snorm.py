"""Adaptive S-norm against a cohort of other enrolled templates: does it make one threshold hold
on people it was not fitted on?

Per model: s' = ((s - mean_p) / std_p + (s - mean_t) / std_t) / 2, where mean and std are taken over
the probe's (p) and the template's (t) top-K scores against the cohort; fused: the mean of the
models' s'. The deployment's cohort is its other enrolled templates, so the fitting mimics a small
deployment: on LFW each image gets a random cohort of COHORT other LFW images, the threshold is set at
FAR 1e-5 of the LFW impostor pairs, and then NUAA's login protocol is scored with the other enrolled
NUAA templates as the cohort. Run by ``bench/recognition.py snorm``."""

from __future__ import annotations

import numpy as np

from faceauth import calibration
from faceauth.burst_evaluation import BurstPolicy, FrameTable, burst_probe, enroll_templates
from faceauth.evaluation import roc_auc

COHORT = 14  # NUAA's other enrolled templates: a 15-person deployment
TOP_K = 10


def cohort_stats(scores: np.ndarray, top_k: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of each row's ``top_k`` highest cohort scores."""
    top = -np.sort(-scores, axis=1)[:, :top_k]
    return top.mean(axis=1), np.maximum(top.std(axis=1), 1e-3)


def lfw_snorm_impostors(vectors: dict[str, np.ndarray], seed: int = 0) -> dict[str, np.ndarray]:
    """S-normed impostor scores of all LFW pairs, per model, each image with a random small cohort."""
    count = len(next(iter(vectors.values())))
    rng = np.random.default_rng(seed)
    cohorts = np.stack([rng.choice(count, COHORT, replace=False) for _ in range(count)])
    upper = np.triu_indices(count, k=1)
    normed = {}
    for model, matrix in vectors.items():
        scores = matrix @ matrix.T
        mean, std = cohort_stats(np.take_along_axis(scores, cohorts, axis=1), TOP_K)
        pair = scores[upper]
        normed[model] = (
            (pair - mean[upper[0]]) / std[upper[0]] + (pair - mean[upper[1]]) / std[upper[1]]
        ) / 2
    return normed


def nuaa_snorm(
    table: FrameTable, policy: BurstPolicy
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Per model, S-normed genuine and impostor burst scores, the cohort being the other templates."""
    templates, _ = enroll_templates(table, policy)
    names = list(templates)
    stacked = {m: np.stack([templates[n][1][m] for n in names]) for m in policy.models}
    genuine: dict[str, list[float]] = {m: [] for m in policy.models}
    impostor: dict[str, list[float]] = {m: [] for m in policy.models}
    runs: dict[tuple[str, str], list[int]] = {}
    for index, key in enumerate(zip(table.identities, table.sessions, strict=True)):
        runs.setdefault(key, []).append(index)
    for (identity, session), indices in runs.items():
        for start in range(0, len(indices) - policy.frames + 1, policy.frames):
            probe = burst_probe(table, indices[start : start + policy.frames], policy)
            if probe is None:
                continue
            for claimed, name in enumerate(names):
                if name == identity and session == templates[name][0]:
                    continue
                others = [i for i in range(len(names)) if i != claimed]
                for model in policy.models:
                    template_scores = stacked[model] @ stacked[model][claimed]
                    probe_scores = stacked[model] @ probe[model]
                    score = float(probe_scores[claimed])
                    mean_p, std_p = cohort_stats(probe_scores[others][None], TOP_K)
                    mean_t, std_t = cohort_stats(template_scores[others][None], TOP_K)
                    value = ((score - mean_p[0]) / std_p[0] + (score - mean_t[0]) / std_t[0]) / 2
                    (genuine if name == identity else impostor)[model].append(value)
    return genuine, impostor


def compare(
    lfw_vectors: dict[str, np.ndarray], table: FrameTable, policy_for: dict[tuple[str, ...], BurstPolicy]
) -> dict[str, object]:
    lfw = lfw_snorm_impostors(lfw_vectors)
    report: dict[str, object] = {"cohort": COHORT, "top_k": TOP_K}
    full = policy_for[("facenet", "sface")]
    genuine, impostor = nuaa_snorm(table, full)
    for models in policy_for:
        lfw_scores = np.mean([lfw[m] for m in models], axis=0)
        threshold = calibration.threshold_for_far(lfw_scores, 1e-5)
        g = np.mean([genuine[m] for m in models], axis=0)
        i = np.mean([impostor[m] for m in models], axis=0)
        rates = calibration.rates_at(g, i, threshold)
        report["+".join(models)] = {
            "lfw_threshold_far_1e-5": round(threshold, 4),
            "nuaa_auc": round(roc_auc(g, i), 5),
            "nuaa_at_lfw_threshold": rates.as_dict(),
            "nuaa_tar_at_far": {t: calibration.tar_at_far(g, i, float(t)) for t in ("0.01", "0.001")},
        }
    return report
