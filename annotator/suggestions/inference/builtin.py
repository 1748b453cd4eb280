"""The built-in default suggester: a small FER2013 CNN with real pretrained weights, offline.

Network and weights come from the `facial_emotion_recognition==0.3.4` sdist (MIT, Rayyan Akhtar;
see weights/LICENSE-facial_emotion_recognition). The network below is its `NetworkV2(in_c=1, nl=32,
out_f=7)` written again in plain torch, so that package (and its facenet_pytorch/opencv-python
dependencies) never comes into the project; `weights/fer2013_networkv2.pt` is a weights-only copy of
its `model/model.pkl` state_dict (stored as float16 to halve its size; loaded with weights_only=True).

Input: 48x48 grayscale, (x - 0.5) / 0.5. Output: sigmoid scores over FER2013's seven classes,
normalised to sum to one and mapped onto AffectNet's indices; Contempt, None, Uncertain and No-Face,
which FER2013 lacks, get 0. Valence/arousal are estimated from the probabilities (inference/va.py).
"""
from pathlib import Path

import numpy as np

from annotator.suggestions.inference.base import Predictions
from annotator.suggestions.inference.device import autocast_for, gray_input, pick_device
from annotator.suggestions.inference.va import va_from_probabilities

WEIGHTS = Path(__file__).resolve().parent / "weights" / "fer2013_networkv2.pt"
NAME = "fer2013-networkv2"
VERSION = "0.3.4"

# FER2013 order: Angry, Disgust, Fear, Happy, Sad, Surprise, Neutral -> AffectNet indices.
FER_TO_AFFECTNET = (6, 5, 4, 1, 2, 3, 0)
INPUT_SIZE = 48


def build_network():
    """Return NetworkV2(in_c=1, nl=32, out_f=7) as a plain torch module (same parameter names)."""
    from torch import nn

    def block(in_c, out_c, stride):
        return nn.Sequential(
            nn.ReflectionPad2d(padding=1),
            nn.Conv2d(in_c, out_c, kernel_size=3, stride=stride, padding=0),
            nn.BatchNorm2d(out_c),
            nn.ReLU(inplace=True),
        )

    class NetworkV2(nn.Module):
        def __init__(self, in_c=1, nl=32, out_f=7):
            super().__init__()
            self.conv_1 = block(in_c, nl, 1)
            self.conv_2 = block(nl, 2 * nl, 2)
            self.conv_3 = block(2 * nl, 4 * nl, 2)
            self.conv_4 = block(4 * nl, 8 * nl, 2)
            self.linear = nn.Sequential(
                nn.Linear(8 * nl * 6 * 6, 256), nn.ReLU(inplace=True), nn.Linear(256, out_f), nn.Sigmoid()
            )

        def forward(self, x):
            x = self.conv_4(self.conv_3(self.conv_2(self.conv_1(x))))
            return self.linear(x.reshape(x.shape[0], -1))

    return NetworkV2()


class BuiltinModel:
    """The FER2013 CNN behind the ExpressionModel interface."""

    name = NAME
    version = VERSION

    def __init__(self, device=None, weights=WEIGHTS):
        import torch

        self.device = pick_device(device)
        state = torch.load(weights, map_location="cpu", weights_only=True)
        network = build_network()
        network.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
        self.network = network.eval().to(self.device)
        if self.device.type == "cuda":
            self.network = self.network.to(memory_format=torch.channels_last)

    def preprocess(self, crops: np.ndarray):
        """Return the network's input tensor for uint8 (N, 224, 224, 3) RGB crops."""
        import torch

        gray = gray_input(crops, self.device, INPUT_SIZE)
        if self.device.type == "cuda":
            gray = gray.contiguous(memory_format=torch.channels_last)
        return gray

    def forward(self, tensor) -> np.ndarray:
        """Return FER2013 sigmoid scores (N, 7) for a preprocessed batch."""
        import torch

        with torch.inference_mode(), autocast_for(self.device):
            return self.network(tensor).float().cpu().numpy()

    def predict(self, crops: np.ndarray) -> Predictions:
        scores = self.forward(self.preprocess(crops))
        return predictions_from_fer_scores(scores)


def predictions_from_fer_scores(scores: np.ndarray) -> Predictions:
    """Normalise FER2013 sigmoid scores and place them on AffectNet's eleven categories."""
    scores = np.asarray(scores, dtype=np.float32)
    total = scores.sum(axis=1, keepdims=True)
    normalised = np.divide(scores, total, out=np.full_like(scores, 1 / scores.shape[1]), where=total > 0)
    probabilities = np.zeros((scores.shape[0], 11), dtype=np.float32)
    probabilities[:, list(FER_TO_AFFECTNET)] = normalised
    valence, arousal = va_from_probabilities(probabilities)
    return Predictions(probabilities=probabilities, valence=valence, arousal=arousal)
