import torch
from torch import nn

from compression.metrics import count_macs


def test_transposed_convolution_counts_four_times_its_real_work_in_the_paper_convention():
    layer = nn.ConvTranspose2d(8, 4, kernel_size=3, stride=2, padding=1, output_padding=1)
    report = count_macs(layer, size=16, input_channels=8)
    real = 16 * 16 * 8 * 4 * 9  # every input pixel scatters into a 3x3 window of every output channel
    assert report.macs_real == real
    assert report.macs == 32 * 32 * 4 * 8 * 9


def test_plain_convolution_counts_the_same_in_both_conventions():
    layer = nn.Conv2d(3, 8, kernel_size=3, padding=1, groups=1)
    report = count_macs(layer, size=10)
    assert report.macs == report.macs_real == 10 * 10 * 8 * 3 * 9
    assert report.params == 8 * 3 * 9 + 8


def test_count_macs_restores_training_mode():
    layer = nn.Sequential(nn.Conv2d(3, 3, 1), nn.BatchNorm2d(3)).train()
    count_macs(layer, size=8)
    assert layer.training
    assert torch.equal(layer[1].running_mean, torch.zeros(3))
