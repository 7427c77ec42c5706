"""Training stages: teachers (pix2pix, CycleGAN), distillation into a mobile student, and the supernet."""

from .data import DataConfig
from .distill import DistillConfig, build_distill_config, load_teacher, train_distill
from .run import LoopConfig, RunFolder
from .teacher import TeacherConfig, build_teacher_config, train_teacher

__all__ = [
    "DataConfig",
    "DistillConfig",
    "LoopConfig",
    "RunFolder",
    "TeacherConfig",
    "build_distill_config",
    "build_teacher_config",
    "load_teacher",
    "train_distill",
    "train_teacher",
]
