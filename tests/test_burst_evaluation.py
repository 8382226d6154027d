"""The login protocol on a table of known per-frame embeddings: who enrolls from what, which bursts
are genuine or impostor, and refusals of bursts with too few usable frames."""

from __future__ import annotations

import numpy as np
import pytest

from faceauth.burst_evaluation import BurstPolicy, FrameTable, login_protocol

POLICY = BurstPolicy(
    frames=4, min_good_frames=3, models=("facenet",), best_frames=0, threshold=0.9, enroll_min_consistency=0.5
)


def table(rows: list[tuple[str, str, bool]]) -> FrameTable:
    """One frame per row; a person's frames all embed to that person's own axis."""
    axes = {identity: position for position, identity in enumerate(sorted({row[0] for row in rows}))}
    vectors = np.zeros((len(rows), 8), np.float32)
    for index, (identity, _, _) in enumerate(rows):
        vectors[index, axes[identity]] = 1.0
    return FrameTable(
        identities=[row[0] for row in rows],
        sessions=[row[1] for row in rows],
        usable=np.array([row[2] for row in rows]),
        sharpness=np.ones(len(rows)),
        embeddings={"facenet": vectors},
    )


def test_enroll_from_one_session_probe_with_the_others() -> None:
    frames = (
        [("ann", "s1", True)] * 8  # enrollment (first 4), then a burst of the same session: not probed
        + [("ann", "s2", True)] * 8  # two genuine bursts
        + [("bob", "s1", True)] * 4  # bob enrolls; his burst is an impostor burst for ann
        + [("cid", "s1", False)] * 4  # cid never enrolls; his burst is refused (impostor for ann, bob)
    )
    scores = login_protocol(table(frames), POLICY)
    assert scores.enrolled == 2 and scores.not_enrolled == ["cid"]
    assert scores.genuine == pytest.approx([1.0, 1.0])
    # ann's 4 bursts vs bob's template, bob's burst vs ann's: orthogonal people score 0
    assert scores.impostor == pytest.approx([0.0] * 5)
    assert scores.impostor_refused == 2 and scores.genuine_refused == 0


def test_a_genuine_burst_with_too_few_usable_frames_is_a_refusal() -> None:
    frames = [("ann", "s1", True)] * 4 + [("ann", "s2", True)] * 2 + [("ann", "s2", False)] * 2
    scores = login_protocol(table(frames), POLICY)
    assert scores.genuine == [] and scores.genuine_refused == 1


def test_a_session_with_too_few_usable_frames_does_not_enroll() -> None:
    frames = [("ann", "s1", True)] * 3 + [("ann", "s1", False)] * 5 + [("ann", "s2", True)] * 4
    scores = login_protocol(table(frames), POLICY)
    assert scores.enrolled == 1  # from s2, since s1 has only 3 usable frames
    assert scores.genuine == [1.0]  # s1's first burst: 3 usable frames, enough for a verify
    assert scores.genuine_refused == 1  # its second: none usable
