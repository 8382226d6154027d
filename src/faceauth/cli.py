"""The ``faceauth`` command line: serve, compare, eval, db."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from faceauth.config import Settings, get_settings
from faceauth.domain import FaceAuthError

logger = logging.getLogger(__name__)


def _load_engine(settings: Settings):  # type: ignore[no-untyped-def]
    from faceauth.vision.engine import FaceEngine

    return FaceEngine.load(settings)


def cmd_compare(args: argparse.Namespace) -> int:
    """Similarity of the faces in two image files, against the configured threshold."""
    from faceauth.vision.matching import cosine_similarity

    settings = get_settings()
    engine = _load_engine(settings)
    try:
        first = engine.embed_image(Path(args.image_a).read_bytes(), largest_face=True)
        second = engine.embed_image(Path(args.image_b).read_bytes(), largest_face=True)
    except FaceAuthError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    similarity = cosine_similarity(first, second)
    result = {
        "similarity": round(similarity, 4),
        "threshold": settings.match_threshold,
        "match": similarity >= settings.match_threshold,
    }
    if args.json:
        print(json.dumps(result))
    else:
        verdict = "same person" if result["match"] else "different people"
        print(f"similarity {similarity:.4f} (threshold {settings.match_threshold}): {verdict}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """ROC, EER and true-accept rates at fixed false-accept rates on a labelled image set."""
    from tqdm import tqdm

    from faceauth import evaluation

    settings = get_settings()
    csv_path = Path(args.images_csv)
    images = evaluation.read_images_csv(csv_path, Path(args.root) if args.root else None)
    engine = _load_engine(settings)
    with tqdm(total=len(images), desc="embedding", unit="img", file=sys.stderr) as bar:
        embedded = evaluation.embed_images(
            images, lambda data: engine.embed_image(data, largest_face=True), progress=lambda: bar.update()
        )
    scores = evaluation.pair_scores(embedded, max_impostor_pairs=args.max_impostor_pairs)
    report = evaluation.summarise(embedded, scores, settings.match_threshold, len(images))
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    if args.plot and len(scores.genuine) and len(scores.impostor):
        evaluation.plot_report(scores, settings.match_threshold, Path(args.plot))
        print(f"plot written to {args.plot}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="faceauth", description="Face-recognition login.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    commands = parser.add_subparsers(dest="command", required=True)

    compare = commands.add_parser("compare", help="compare the faces in two images")
    compare.add_argument("image_a")
    compare.add_argument("image_b")
    compare.add_argument("--json", action="store_true", help="print JSON")
    compare.set_defaults(handler=cmd_compare)

    evaluate = commands.add_parser("eval", help="measure accuracy on a labelled image set")
    evaluate.add_argument("--images-csv", required=True, help="CSV with path,identity rows")
    evaluate.add_argument("--root", help="folder the paths are relative to (default: the CSV's)")
    evaluate.add_argument("--json", metavar="OUT", help="also write the report to this file")
    evaluate.add_argument("--plot", metavar="OUT.png", help="write ROC and score histograms")
    evaluate.add_argument("--max-impostor-pairs", type=int, default=10_000_000)
    evaluate.set_defaults(handler=cmd_eval)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    handler = args.handler
    return int(handler(args))


if __name__ == "__main__":
    sys.exit(main())
