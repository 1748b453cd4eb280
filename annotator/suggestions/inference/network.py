"""The project's own expression network, in plain torch (torchvision is not importable here).

A ResNet backbone (He et al. 2016, "basic" blocks as in ResNet-18/34) with two heads: one scores
the categories (8 or 11), one regresses valence and arousal (tanh, so both stay in [-1, 1]).
The backbone's parameter names are those of torchvision's ResNet (conv1, bn1, layer1.0.conv1, ...),
so a user's own ResNet-18 weights file loads into it (see load_backbone_weights).
"""
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

# ImageNet statistics: what backbones pretrained elsewhere expect; harmless when training from scratch.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class NetConfig:
    """Everything needed to rebuild the network; stored in every checkpoint."""

    num_classes: int = 8
    width: int = 64  # channels of the first stage; ResNet-18 has 64
    layers: tuple = (2, 2, 2, 2)  # blocks per stage; ResNet-18 is (2, 2, 2, 2), ResNet-34 (3, 4, 6, 3)
    input_size: int = 224  # crops are resized to this before the network (64 makes CPU tests quick)
    dropout: float = 0.2
    mean: tuple = field(default=IMAGENET_MEAN)
    std: tuple = field(default=IMAGENET_STD)

    def __post_init__(self):
        if self.num_classes not in (8, 11):
            raise ValueError(f"num_classes: {self.num_classes} (must be 8 or 11)")
        if self.width < 1 or not self.layers or any(n < 1 for n in self.layers):
            raise ValueError(f"width/layers: {self.width}, {self.layers} (need positive numbers)")
        if self.input_size < 32:
            raise ValueError(f"input_size: {self.input_size} (at least 32)")
        self.layers = tuple(int(n) for n in self.layers)
        self.mean = tuple(float(v) for v in self.mean)
        self.std = tuple(float(v) for v in self.std)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["layers"] = list(self.layers)
        data["mean"] = list(self.mean)
        data["std"] = list(self.std)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "NetConfig":
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_channels, channels, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.downsample = None
        if stride != 1 or in_channels != channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False), nn.BatchNorm2d(channels)
            )

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNetBackbone(nn.Module):
    """ResNet without its classifier: image (N, 3, H, W) -> feature vector (N, width * 8)."""

    def __init__(self, width=64, layers=(2, 2, 2, 2)):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        in_channels = width
        for stage, blocks in enumerate(layers):
            channels = width * 2**stage
            stride = 1 if stage == 0 else 2
            stage_blocks = []
            for i in range(blocks):
                stage_blocks.append(BasicBlock(in_channels, channels, stride if i == 0 else 1))
                in_channels = channels
            self.add_module(f"layer{stage + 1}", nn.Sequential(*stage_blocks))
        self.num_stages = len(layers)
        self.out_features = in_channels
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, BasicBlock):
                # Each residual branch starts as zero, so a deep net trains like a shallow one at first.
                nn.init.zeros_(module.bn2.weight)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for stage in range(self.num_stages):
            x = getattr(self, f"layer{stage + 1}")(x)
        return torch.flatten(self.avgpool(x), 1)


class ExpressionNet(nn.Module):
    """Backbone + category head (logits) + valence/arousal head (tanh)."""

    def __init__(self, config: NetConfig):
        super().__init__()
        self.config = config
        self.backbone = ResNetBackbone(config.width, config.layers)
        self.dropout = nn.Dropout(config.dropout)
        self.categories = nn.Linear(self.backbone.out_features, config.num_classes)
        self.va = nn.Linear(self.backbone.out_features, 2)
        self.register_buffer("mean", torch.tensor(config.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(config.std).view(1, 3, 1, 1), persistent=False)

    def preprocess(self, crops: torch.Tensor) -> torch.Tensor:
        """Turn uint8 crops (N, H, W, 3) into the normalised float input (N, 3, S, S), in the plain (NCHW)
        layout; CUDA callers turn it channels_last together with the weights."""
        # A permuted tensor keeps its strides through .float(): without .contiguous() every CPU conv saw
        # a channels_last input beside NCHW weights, and ran oneDNN's mixed-layout kernels.
        x = crops.permute(0, 3, 1, 2).float().contiguous().div_(255.0)
        size = self.config.input_size
        if x.shape[-2:] != (size, size):
            x = nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        return (x - self.mean) / self.std

    def forward(self, x):
        """Return (category logits (N, num_classes), valence/arousal (N, 2) in [-1, 1])."""
        features = self.dropout(self.backbone(x))
        return self.categories(features), torch.tanh(self.va(features))


def is_safetensors(path) -> bool:
    """Tell a safetensors file by its first bytes: an 8-byte header length, then the JSON header's "{"."""
    with open(path, "rb") as fh:
        head = fh.read(9)
    return len(head) == 9 and head[8:9] == b"{"


def load_backbone_weights(model: ExpressionNet, path) -> dict:
    """Load a user's pretrained backbone weights (a state_dict file) into the model's backbone.

    A .safetensors file, or a torch.save file read with weights_only=True (no arbitrary objects are unpickled). Keys may carry a "module."
    (DataParallel) or "backbone." prefix; a torchvision ResNet's own "fc.*" comes back as unexpected.
    Shapes that differ are skipped and reported, never silently half-loaded. Return the report:
    {"loaded": n, "missing": [...], "unexpected": [...], "mismatched": [...]}.
    """
    try:
        if is_safetensors(path):
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a damaged file, or a pickle of more than tensors (weights_only refuses it)
        raise ValueError(f"{path}: not a readable weights file ({' '.join(str(exc).split())[:300]})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: not a state_dict of tensors")
    cleaned = {}
    for key, value in state.items():
        for prefix in ("module.", "backbone."):
            if key.startswith(prefix):
                key = key[len(prefix):]
        cleaned[key] = value
    own = model.backbone.state_dict()
    mismatched = [k for k, v in cleaned.items() if k in own and own[k].shape != v.shape]
    usable = {k: v for k, v in cleaned.items() if k not in mismatched}
    result = model.backbone.load_state_dict(usable, strict=False)
    return {
        "loaded": len(usable) - len(result.unexpected_keys),
        "missing": list(result.missing_keys),
        "unexpected": list(result.unexpected_keys),
        "mismatched": mismatched,
    }
