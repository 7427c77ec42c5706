"""A distillation run as one of the processes torchrun starts (or alone): `python -m tests.support.distributed_distill
TEACHER OUT STEPS [--resume] [--device NAME]` (the CPU unless named). The tests compare what one process and two
make of the same global batch."""

import sys
from pathlib import Path

from compression.training import DataConfig, DistillRun, train_distill
from compression.training.placement import training_placement
from ganc.spec import TrainingSpec

BATCH, EVERY = 4, 2


def main() -> None:
    teacher, out, steps = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    run = DistillRun(
        out=out,
        data=DataConfig(),
        teacher=teacher,
        student="supernet",
        choices="channels-16",
        training=TrainingSpec(steps=steps, batch_size=BATCH, every=EVERY, lr=1e-3, beta1=0.9),
        lambda_gan=0.0,  # a discriminator's batch norm would see each process's share of the batch
    )
    device = sys.argv[sys.argv.index("--device") + 1] if "--device" in sys.argv else "cpu"
    with training_placement(device) as placement:
        train_distill(run, resume="--resume" in sys.argv, placement=placement)


if __name__ == "__main__":
    main()
