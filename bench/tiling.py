"""Tiles against the whole image: every published variant, old tiles (each its own statistics) and new (the whole
image's, from a copy), at 1024 and 2048 px on a landscape and a portrait photo, and one 12 MP request's cost.

    .venv/bin/python bench/tiling.py --photos data/photos/mate-backgrounds--Garden.jpg \\
        data/photos/lomiri-wallpapers-16.04--Wine_by_Jakkub_Mede.jpg

For each variant, photo and size: PSNR of the old and the new tiled answer against the same variant run on the
whole image, and both tiled latencies (side by side, the same sessions). For each variant: one 12 MP request
(4000x3000, the first photo) old and new, each in a fresh process, with its peak memory (the process's peak
resident set during the request, over its size before) and latency. Tiles, overlap and the copy's size are the
gateway's defaults (GANC_TILE_SIZE, GANC_TILE_OVERLAP, GANC_STATISTICS_SIZE). Prints JSON, writes it under
bench/out/, and draws whole | old | new for each family's smallest variant (docs/tiling_grid.jpg).
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image, ImageDraw

from ganc.card import INPUT_NAME, OUTPUT_NAME, STATISTICS_INPUT, STATISTICS_OUTPUT
from ganc.repository import read_index
from ganc.repository.image_statistics import statistics_form, tile_form
from ganc.settings import Settings
from service.images import finish, prepare
from service.tiling import Blender, plan_tiles, statistics_copy, statistics_shape

SIDES = (1024, 2048)
BIG = (4000, 3000)  # 12 MP
DEFAULTS = Settings()


class Forms:
    """A variant's three sessions: whole image, statistics of a copy, tile with given statistics."""

    def __init__(self, onnx_path: Path, threads: int) -> None:
        graph = onnx.load(onnx_path)

        def session(model: onnx.ModelProto, arena: bool = True) -> ort.InferenceSession:
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.enable_cpu_mem_arena = arena  # as the gateway has them (service/backends/onnx_cpu.py)
            return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])

        self.whole = session(graph)
        self.statistics = session(statistics_form(graph, STATISTICS_OUTPUT), arena=False)
        self.tile = session(tile_form(graph, STATISTICS_INPUT))

    def run_whole(self, x: np.ndarray) -> np.ndarray:
        return self.whole.run([OUTPUT_NAME], {INPUT_NAME: x})[0]

    def tiled(self, x: np.ndarray, shared: bool, multiple: int) -> np.ndarray:
        """What the gateway answers for an image larger than a tile, the old way or the new (service/gateway.py)."""
        height, width = x.shape[2:]
        if shared and height * width <= DEFAULTS.statistics_size**2:
            return self.run_whole(x)
        feeds = {}
        if shared:
            shape = statistics_shape(height, width, DEFAULTS.statistics_size**2, multiple)
            copy = statistics_copy(x, *shape)
            feeds[STATISTICS_INPUT] = self.statistics.run([STATISTICS_OUTPUT], {INPUT_NAME: copy})[0]
        blender = Blender(x.shape[1], height, width, DEFAULTS.tile_overlap)
        tile_size = DEFAULTS.tile_size // multiple * multiple
        for tile in plan_tiles(height, width, tile_size, DEFAULTS.tile_overlap):
            rows, cols = tile.region()
            part = np.ascontiguousarray(x[:, :, rows, cols])
            session = self.tile if shared else self.whole
            blender.add(tile, session.run([OUTPUT_NAME], {INPUT_NAME: part, **feeds})[0])
        return blender.result()


def photo_at(path: Path, size: tuple[int, int] | int) -> np.ndarray:
    """RGB uint8, resized to `size` (width, height), or so that its long side is `size`."""
    image = Image.open(path).convert("RGB")
    if isinstance(size, int):
        scale = size / max(image.size)
        size = (round(image.width * scale), round(image.height * scale))
    return np.asarray(image.resize(size, Image.BICUBIC))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 100.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def timed(function, *args) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def one_big_request(onnx_path: Path, multiple: int, photo: Path, shared: bool, threads: int) -> dict:
    """In this (fresh) process: load, warm up as the gateway does, then one 12 MP request from its bytes."""
    forms = Forms(onnx_path, threads)
    for side in (64, 256):
        x = np.zeros((1, 3, side, side), np.float32)
        forms.run_whole(x)
        if shared:
            forms.tile.run(
                [OUTPUT_NAME], {INPUT_NAME: x, STATISTICS_INPUT: forms.statistics.run(None, {INPUT_NAME: x})[0]}
            )
    rgb = photo_at(photo, BIG)
    before = rss_mb()
    Path("/proc/self/clear_refs").write_text("5")  # the peak resident set starts again from here
    start = time.perf_counter()
    prepared = prepare(rgb, multiple)
    answer = finish(forms.tiled(prepared.tensor, shared, multiple), prepared)
    seconds = time.perf_counter() - start
    assert answer.shape == rgb.shape
    return {"peak_mb": round(peak_rss_mb() - before, 1), "seconds": round(seconds, 2)}


def big_request_in_a_fresh_process(onnx_path: Path, multiple: int, photo: Path, shared: bool, threads: int) -> dict:
    command = [sys.executable, __file__, "--one-big-request", str(onnx_path), str(multiple), str(photo)]
    command += ["--threads", str(threads)] + (["--shared"] if shared else [])
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.splitlines()[-1])


def crop_grid(rows: list[tuple[str, list[np.ndarray]]], out: Path) -> None:
    """One row per family: whole | old tiles | new tiles, each a crop across a tile seam."""
    crops = [[image[256:768, 256:768] for image in images] for _, images in rows]
    side, label = 512, 24
    grid = Image.new("RGB", (3 * side, len(rows) * (side + label)), "white")
    draw = ImageDraw.Draw(grid)
    for r, ((name, _), images) in enumerate(zip(rows, crops, strict=True)):
        for c, (image, title) in enumerate(zip(images, ("whole image", "old tiles", "new tiles"), strict=True)):
            grid.paste(Image.fromarray(image), (c * side, r * (side + label) + label))
            draw.text((c * side + 6, r * (side + label) + 6), f"{name}: {title}", fill="black")
    grid.save(out, quality=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=Path, nargs="+", help="at least one landscape and one portrait")
    parser.add_argument("--repo", type=Path, default=Path("model_repository"))
    parser.add_argument("--families", nargs="*", help="default: every family in the repository")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    parser.add_argument("--grid", type=Path, default=Path("docs/tiling_grid.jpg"))
    parser.add_argument("--one-big-request", nargs=3, metavar=("ONNX", "MULTIPLE", "PHOTO"), help=argparse.SUPPRESS)
    parser.add_argument("--shared", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_big_request:
        onnx_path, multiple, photo = args.one_big_request
        print(json.dumps(one_big_request(Path(onnx_path), int(multiple), Path(photo), args.shared, args.threads)))
        return

    families = read_index(args.repo).families()
    report = {"settings": {k: getattr(DEFAULTS, k) for k in ("tile_size", "tile_overlap", "statistics_size")}}
    grid_rows = []
    for family in args.families or sorted(families):
        variants = {name: versions[-1] for name, versions in families[family].items()}
        smallest = min(variants, key=lambda name: variants[name].card.macs)
        for name, entry in sorted(variants.items()):
            multiple = entry.card.size_multiple
            forms = Forms(entry.onnx_path, args.threads)
            rows = {}
            for photo in args.photos:
                for side in SIDES:
                    prepared = prepare(photo_at(photo, side), multiple)
                    whole = finish(forms.run_whole(prepared.tensor), prepared)
                    old, old_s = timed(forms.tiled, prepared.tensor, False, multiple)
                    new, new_s = timed(forms.tiled, prepared.tensor, True, multiple)
                    old, new = finish(old, prepared), finish(new, prepared)
                    rows[f"{photo.stem}@{side}"] = {
                        "size": [prepared.width, prepared.height],
                        "old_db": round(psnr(old, whole), 2),
                        "new_db": round(psnr(new, whole), 2),
                        "old_s": round(old_s, 2),
                        "new_s": round(new_s, 2),
                        "latency_ratio": round(new_s / old_s, 3),
                    }
                    if name == smallest and side == 2048 and photo == args.photos[0]:
                        grid_rows.append((f"{family}--{name}", [whole, old, new]))
            big = {
                mode: big_request_in_a_fresh_process(
                    entry.onnx_path, multiple, args.photos[0], mode == "new", args.threads
                )
                for mode in ("old", "new")
            }
            big["memory_ratio"] = round(big["new"]["peak_mb"] / big["old"]["peak_mb"], 3)
            big["latency_ratio"] = round(big["new"]["seconds"] / big["old"]["seconds"], 3)
            report[f"{family}--{name}"] = {"tile_statistics": entry.card.tile_statistics, **rows, "12MP": big}
            print(f"{family}--{name}", json.dumps(report[f"{family}--{name}"]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tiling.json").write_text(json.dumps(report, indent=2) + "\n")
    if grid_rows:
        crop_grid(grid_rows, args.grid)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
