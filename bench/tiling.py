"""How much tiling changes a generator's answer: each shipped variant on a 1024-px photo, whole and in tiles.

    .venv/bin/python bench/tiling.py --family sr4x --photo /tmp/photos/grace_hopper.jpg

The gateway runs images larger than GANC_TILE_SIZE in overlapping tiles blended across GANC_TILE_OVERLAP
pixels (service/tiling.py). InstanceNorm computes its statistics per tile, so a tile's output differs from
the same region of the whole image's; this measures by how much (PSNR of the tiled answer against the whole
one) for every tile size and overlap given, and the time of each. Prints JSON and writes it under bench/out/.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

from ganc.card import INPUT_NAME, OUTPUT_NAME
from ganc.repository import read_index
from service.images import finish, prepare
from service.tiling import Blender, plan_tiles

SIDE = 1024


def run(session: ort.InferenceSession, x: np.ndarray) -> np.ndarray:
    return session.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(x)})[0]


def tiled(session: ort.InferenceSession, x: np.ndarray, tile: int, overlap: int) -> np.ndarray:
    blender = Blender(x.shape[1], x.shape[2], x.shape[3], overlap)
    for part in plan_tiles(x.shape[2], x.shape[3], tile, overlap):
        rows, cols = part.region()
        blender.add(part, run(session, x[:, :, rows, cols]))
    return blender.result()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 100.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="sr4x")
    parser.add_argument("--repo", type=Path, default=Path("model_repository"))
    parser.add_argument("--photo", type=Path, required=True, help="resized so its long side is 1024 px")
    parser.add_argument("--tiles", type=int, nargs="+", default=[256, 384, 512])
    parser.add_argument("--overlaps", type=int, nargs="+", default=[16, 32, 64, 96])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args()

    photo = Image.open(args.photo).convert("RGB")
    scale = SIDE / max(photo.size)
    photo = photo.resize((round(photo.width * scale), round(photo.height * scale)), Image.BICUBIC)
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    family = read_index(args.repo).families()[args.family]
    report = {"family": args.family, "photo": args.photo.name, "size": list(photo.size), "variants": {}}
    for name, versions in sorted(family.items()):
        session = ort.InferenceSession(str(versions[-1].onnx_path), options, providers=["CPUExecutionProvider"])
        prepared = prepare(np.asarray(photo), versions[-1].card.size_multiple)
        start = time.perf_counter()
        whole = finish(run(session, prepared.tensor), prepared)
        rows = {"whole_s": round(time.perf_counter() - start, 2)}
        for tile in args.tiles:
            for overlap in (o for o in args.overlaps if 2 * o < tile):
                start = time.perf_counter()
                answer = finish(tiled(session, prepared.tensor, tile, overlap), prepared)
                rows[f"{tile}px/{overlap}"] = {
                    "psnr_vs_whole": round(psnr(answer, whole), 2),
                    "seconds": round(time.perf_counter() - start, 2),
                }
        report["variants"][name] = rows
        print(name, json.dumps(rows), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"tiling_{args.family}.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
