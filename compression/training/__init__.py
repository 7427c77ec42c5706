"""Training stages: teachers (pix2pix, CycleGAN), distillation into a mobile student, and the supernet."""

from .data import DataConfig
from .distill import DistillRun, Teacher, load_teacher, train_distill, train_distill_side_by_side
from .run import RunFolder
from .teacher import TeacherRun, train_teacher

__all__ = [
    "DataConfig",
    "DistillRun",
    "RunFolder",
    "Teacher",
    "TeacherRun",
    "load_teacher",
    "train_distill",
    "train_distill_side_by_side",
    "train_teacher",
]
