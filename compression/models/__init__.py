"""The generator zoo and the one factory (`build_model`) that builds any of it by name."""

from . import discriminators, mobile_resnet, resnet, super_mobile_resnet, unet  # noqa: F401  (registers builders)
from .channel_config import CHOICE_SETS, TRUNK_SUFFIX, ChannelConfig, ChannelConfigError, ChoiceSet, get_choice_set
from .discriminators import NLayerDiscriminator
from .mobile_resnet import MobileResnetGenerator, SubMobileResnetGenerator
from .registry import ModelSpec, UnknownModelError, build_model, list_models, register_model
from .resnet import ResnetGenerator
from .super_mobile_resnet import SuperMobileResnetGenerator, extract_subnet
from .unet import UnetGenerator

__all__ = [
    "CHOICE_SETS",
    "TRUNK_SUFFIX",
    "ChannelConfig",
    "ChannelConfigError",
    "ChoiceSet",
    "MobileResnetGenerator",
    "ModelSpec",
    "NLayerDiscriminator",
    "ResnetGenerator",
    "SubMobileResnetGenerator",
    "SuperMobileResnetGenerator",
    "UnetGenerator",
    "UnknownModelError",
    "build_model",
    "extract_subnet",
    "get_choice_set",
    "list_models",
    "register_model",
]
