"""Train the project's expression network on labelled crops (Django-free).

The loss is the seed's: cross entropy weighted by inverse class frequency (AffectNet's best
column is the weighted-loss one, because Happy outnumbers Contempt 32 to 1) plus a squared-error
term for valence/arousal, left out for Uncertain and No-Face, which carry no point. On CUDA the
forward pass runs under bf16 autocast with channels_last tensors; on the CPU in float32.
Checkpoints are written after every epoch, so a run stopped at any point resumes from the last
finished epoch with the same model, optimizer, learning-rate step and random state.
"""
import hashlib
import math
import os
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F

from annotator.domain.categories import CATEGORY_NAMES, has_va
from annotator.suggestions.inference.base import Predictions
from annotator.suggestions.inference.checkpoint import (
    CheckpointError,
    checkpoint_config,
    checkpoint_load,
    checkpoint_save,
    predict_batches,
    to_eleven,
)
from annotator.suggestions.inference.device import pick_device
from annotator.suggestions.inference.network import ExpressionNet, NetConfig, load_backbone_weights
from annotator.training.evaluation import samples_evaluate
from annotator.training.samples import Sample, TrainingError, sample_image

LAST = "last.safetensors"  # the checkpoint of the last finished epoch (what --resume reads)
FINAL = "model.safetensors"  # weights and config only: what the suggester loads
LEGACY_LAST = "last.pt"  # what runs before safetensors wrote (torch.save); --resume still reads it


def last_checkpoint(run_dir) -> Optional[Path]:
    """Return the run's checkpoint of its last finished epoch: last.safetensors, else an older run's
    last.pt; None when the folder has neither."""
    for name in (LAST, LEGACY_LAST):
        path = Path(run_dir) / name
        if path.is_file():
            return path
    return None


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    va_weight: float = 1.0  # weight of the valence/arousal term beside the cross entropy
    seed: int = 0
    augment: bool = True
    device: Optional[str] = None
    workers: Optional[int] = None  # DataLoader processes; None: 0 on the CPU, up to 8 with CUDA
    max_steps: Optional[int] = None  # stop after this many optimizer steps (benchmarks, quick runs)
    bf16: bool = True  # bf16 autocast on CUDA (the CPU always trains in float32)


@dataclass
class TrainResult:
    checkpoint: Path
    history: list
    data: dict
    evaluation: Optional[dict] = None
    backbone_report: Optional[dict] = None
    device: str = "cpu"
    interrupted: bool = False
    extra: dict = field(default_factory=dict)


def usable_samples(samples: Sequence[Sample], num_classes: int) -> list:
    """Keep the samples whose category the network has (the 8-class net drops None, Uncertain, No-Face)."""
    return [s for s in samples if 0 <= s.category < num_classes]


def data_summary(samples: Sequence[Sample]) -> dict:
    """Return what data a model saw: face counts per category and a hash of the face ids."""
    counts = {name: 0 for name in CATEGORY_NAMES}
    for s in samples:
        counts[CATEGORY_NAMES[s.category]] += 1
    ids = sorted(s.face_id for s in samples if s.face_id is not None)
    return {
        "faces": len(samples),
        "per_category": counts,
        "ids_sha256": hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest() if ids else None,
    }


def class_weights(samples: Sequence[Sample], num_classes: int) -> torch.Tensor:
    """Inverse-frequency weights, scaled so a balanced set would weigh every class 1.

    weight_c = N / (K * n_c) over the K classes present; an absent class gets 1 (it has no targets).
    """
    counts = np.bincount([s.category for s in samples], minlength=num_classes).astype(np.float64)
    present = counts > 0
    weights = np.ones(num_classes, dtype=np.float64)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return torch.tensor(weights, dtype=torch.float32)


class CropDataset(torch.utils.data.Dataset):
    """Crops as uint8 (S, S, 3) tensors with targets; random flip, small crop and colour on training.

    The randomness of item i in epoch e comes from a generator seeded with (seed, e, i), so a resumed
    run sees the same augmented images as an uninterrupted one, whatever the number of workers.
    """

    def __init__(self, samples: Sequence[Sample], *, input_size: int, augment: bool, seed: int = 0):
        self.samples = list(samples)
        self.input_size = input_size
        self.augment = augment
        self.seed = seed
        self.epoch = 0

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        sample = self.samples[index]
        image = sample_image(sample)
        if self.augment:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            pixels = augment(image, rng, self.input_size)
        else:
            pixels = np.array(image.resize((self.input_size, self.input_size), Image.Resampling.BILINEAR))
        with_va = has_va(sample.category) and sample.valence is not None and sample.arousal is not None
        va = (sample.valence, sample.arousal) if with_va else (0.0, 0.0)
        return (
            torch.from_numpy(np.ascontiguousarray(pixels)),
            torch.tensor(sample.category, dtype=torch.long),
            torch.tensor(va, dtype=torch.float32),
            torch.tensor(with_va),
        )


def augment(image: Image.Image, rng: np.random.Generator, size: int) -> np.ndarray:
    """Return a uint8 (size, size, 3) array: a small random crop, maybe mirrored, with colour jitter.

    Mirroring keeps valence/arousal (an expression reads the same in a mirror). The crop keeps at
    least 85% of the side, so the face, framed with a 15% margin, stays whole.
    """
    width, height = image.size
    scale = rng.uniform(0.85, 1.0)
    side_w, side_h = width * scale, height * scale
    left, top = rng.uniform(0, width - side_w), rng.uniform(0, height - side_h)
    image = image.resize((size, size), Image.Resampling.BILINEAR, box=(left, top, left + side_w, top + side_h))
    pixels = np.asarray(image, dtype=np.float32)
    if rng.random() < 0.5:
        pixels = pixels[:, ::-1]
    brightness, contrast, saturation = rng.uniform(0.8, 1.2, size=3)
    luma = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    pixels = pixels * brightness
    mean = float((pixels @ luma).mean())
    pixels = mean + (pixels - mean) * contrast
    gray = (pixels @ luma)[..., None]
    pixels = gray + (pixels - gray) * saturation
    return np.clip(pixels, 0, 255).astype(np.uint8)


def expression_loss(logits, va_pred, target, va_true, va_mask, *, weights, va_weight=1.0):
    """Return (total, cross entropy, valence/arousal MSE); the MSE skips faces without a point."""
    ce = F.cross_entropy(logits.float(), target, weight=weights)
    if bool(va_mask.any()):
        mse = F.mse_loss(va_pred.float()[va_mask], va_true[va_mask])
    else:
        mse = va_pred.float().sum() * 0.0  # keeps the graph whole when a batch has only 9s and 10s
    return ce + va_weight * mse, ce, mse


def _lr_at(step: int, total: int, base: float) -> float:
    """Cosine decay from base to 5% of it, after a short linear warm-up (a function of the step alone)."""
    warmup = min(100, max(1, total // 20))
    if step < warmup:
        return base * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def _batch_to_device(batch, device):
    pixels, target, va, mask = batch
    non_blocking = device.type == "cuda"
    return (pixels.to(device, non_blocking=non_blocking), target.to(device, non_blocking=non_blocking),
            va.to(device, non_blocking=non_blocking), mask.to(device, non_blocking=non_blocking))


def _forward(model, pixels, device, *, bf16=True):
    x = model.preprocess(pixels)
    if device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16 and device.type == "cuda"):
        return model(x)


def network_predict(model: ExpressionNet, crops: np.ndarray, *, device, batch_size=64) -> Predictions:
    """Predict for uint8 crops (N, 224, 224, 3) with the network being trained, as the 11 categories."""
    p, v = predict_batches(model, crops, device=device, batch_size=batch_size)
    return Predictions(to_eleven(p, range(model.config.num_classes)), v[:, 0].copy(), v[:, 1].copy())


def _rng_state(device):
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _same_network(saved: dict, net_config: NetConfig) -> bool:
    mine = net_config.to_dict()
    return all(saved.get(k) == mine[k] for k in ("num_classes", "width", "layers", "input_size"))


def train(
    samples: Sequence[Sample],
    *,
    out_dir,
    name: str,
    version: str,
    net_config: NetConfig,
    train_config: TrainConfig | None = None,
    val_samples: Sequence[Sample] = (),
    resume: bool = False,
    backbone=None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    evaluation_min_n: int = 0,
) -> TrainResult:
    """Train on the samples, checkpointing to out_dir after every epoch; evaluate on val_samples
    (a part of the table with fewer than evaluation_min_n faces is marked as not meaningful).

    Return the result with the path of the final weights (out_dir/model.safetensors). A KeyboardInterrupt
    ends the run after the last finished epoch's checkpoint; result.interrupted says so.
    """
    from tqdm import tqdm

    out_dir = Path(out_dir)
    train_config = train_config or TrainConfig()  # a fresh default per call (a shared one could be mutated)
    device = pick_device(train_config.device)
    samples = usable_samples(samples, net_config.num_classes)
    if not samples:
        raise TrainingError(f"no training faces with a category the {net_config.num_classes}-class network has")
    torch.manual_seed(train_config.seed)
    weights = class_weights(samples, net_config.num_classes)
    model = ExpressionNet(net_config)
    report = None
    if backbone and resume:
        log(f"backbone {backbone} not loaded: a resumed run continues from its own checkpoint")
    elif backbone:
        try:
            report = load_backbone_weights(model, backbone)
        except ValueError as exc:
            raise TrainingError(f"--backbone: {exc}") from None
        log(f"backbone {backbone}: {report['loaded']} tensors loaded, missing {len(report['missing'])}: "
            f"{report['missing'][:8]}, unexpected {len(report['unexpected'])}: {report['unexpected'][:8]}, "
            f"shape mismatch {len(report['mismatched'])}: {report['mismatched'][:8]}")
    model.to(device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input size: let cuDNN pick the fastest kernels once
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=train_config.lr, weight_decay=train_config.weight_decay)
    config = checkpoint_config(net_config, name=name, version=version)
    summary = data_summary(samples)

    start_epoch, step, history = 1, 0, []
    if resume:
        path = last_checkpoint(out_dir)
        if path is None:
            raise TrainingError(f"{out_dir / LAST}: no checkpoint to resume (nor an older {LEGACY_LAST})")
        try:
            state = checkpoint_load(path, map_location=device)
        except CheckpointError as exc:
            raise TrainingError(str(exc)) from None
        lacking = [k for k in ("optimizer", "epoch", "step", "rng") if k not in state]
        if lacking or not isinstance(state.get("rng"), dict) or "torch" not in state["rng"]:
            raise TrainingError(f"{path}: lacks the training state a resume needs ({', '.join(lacking) or 'rng.torch'})")
        if not _same_network(state["config"], net_config):
            raise TrainingError(f"{path}: a checkpoint of another network ({state['config']}); "
                                "use the same --categories/--width/--depth/--input-size, or another --name")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch, step, history = int(state["epoch"]) + 1, int(state["step"]), list(state.get("history", []))
        torch.set_rng_state(state["rng"]["torch"].cpu())
        if device.type == "cuda" and "cuda" in state["rng"]:
            torch.cuda.set_rng_state(state["rng"]["cuda"].cpu(), device)
        log(f"resuming {path} after epoch {start_epoch - 1} (step {step})")

    dataset = CropDataset(samples, input_size=net_config.input_size, augment=train_config.augment,
                          seed=train_config.seed)
    workers = train_config.workers
    if workers is None:
        workers = min(8, max(0, (os.cpu_count() or 1) - 1)) if device.type == "cuda" else 0
    batch_size = min(train_config.batch_size, len(dataset))
    steps_per_epoch = len(dataset) // batch_size if len(dataset) > batch_size else 1
    total_steps = steps_per_epoch * train_config.epochs
    if train_config.max_steps:
        total_steps = min(total_steps, train_config.max_steps)
    weights = weights.to(device)
    interrupted = False

    for epoch in range(start_epoch, train_config.epochs + 1):
        if step >= total_steps:
            break
        dataset.epoch = epoch
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=batch_size, shuffle=True, drop_last=len(dataset) > batch_size,
            num_workers=workers, pin_memory=device.type == "cuda",
            generator=torch.Generator().manual_seed(train_config.seed * 100003 + epoch),
        )
        model.train()
        seen, started = 0, time.perf_counter()
        # Sums stay on the device: reading a CUDA number every step would stall the GPU; the bar reads
        # them every 20 steps.
        sums = torch.zeros(3, dtype=torch.float64, device=device)
        bar = tqdm(total=steps_per_epoch * batch_size, desc=f"epoch {epoch}/{train_config.epochs}", unit="img",
                   disable=not progress, dynamic_ncols=True)
        try:
            for batch in loader:
                if step >= total_steps:
                    break
                for group in optimizer.param_groups:
                    group["lr"] = _lr_at(step, total_steps, train_config.lr)
                pixels, target, va, mask = _batch_to_device(batch, device)
                logits, va_pred = _forward(model, pixels, device, bf16=train_config.bf16)
                loss, ce, mse = expression_loss(logits, va_pred, target, va, mask, weights=weights,
                                                va_weight=train_config.va_weight)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step += 1
                n = len(target)
                seen += n
                sums += torch.stack([loss.detach(), ce.detach(), mse.detach()]).double() * n
                bar.update(n)
                if step % 20 == 0 or seen == n:
                    bar.set_postfix(loss=f"{float(sums[0]) / seen:.4f}", lr=f"{optimizer.param_groups[0]['lr']:.2e}")
            if seen:
                bar.set_postfix(loss=f"{float(sums[0]) / seen:.4f}", lr=f"{optimizer.param_groups[0]['lr']:.2e}")
        except KeyboardInterrupt:
            interrupted = True
        finally:
            bar.close()
        if interrupted:
            kept = f"the checkpoint of epoch {epoch - 1} is kept" if epoch > 1 else "no epoch was finished"
            log(f"stopped during epoch {epoch}; {kept} (resume with --resume)")
            break
        loss_sum, ce_sum, mse_sum = (float(v) for v in sums.cpu())
        seconds = time.perf_counter() - started
        history.append({
            "epoch": epoch, "step": step, "images": seen, "seconds": round(seconds, 3),
            "images_per_second": round(seen / seconds, 2) if seconds > 0 else None,
            "loss": loss_sum / max(1, seen), "cross_entropy": ce_sum / max(1, seen), "va_mse": mse_sum / max(1, seen),
        })
        checkpoint_save(out_dir / LAST, model=model, config=config, optimizer=optimizer.state_dict(),
                        epoch=epoch, step=step, rng=_rng_state(device), history=history, data=summary,
                        class_weights=weights.cpu())
        log(f"epoch {epoch}: loss {history[-1]['loss']:.4f} (cross entropy {history[-1]['cross_entropy']:.4f}, "
            f"V/A MSE {history[-1]['va_mse']:.4f}), {history[-1]['images_per_second']} img/s")

    evaluation = None
    if not interrupted:
        if val_samples:
            evaluation = samples_evaluate(val_samples, partial(network_predict, model, device=device),
                                          categories=range(net_config.num_classes), min_n=evaluation_min_n)
        _write_final(out_dir, model=model, config=config, history=history, summary=summary, evaluation=evaluation,
                     train_config=train_config, device=device)
    return TrainResult(checkpoint=out_dir / FINAL, history=history, data=summary, evaluation=evaluation,
                       backbone_report=report, device=str(device), interrupted=interrupted)


def measure_training_speed(samples: Sequence[Sample], *, net_config: NetConfig, device, batch_size=32, steps=10,
                           warmup=3, bf16=True, workers=0) -> float:
    """Return training images per second (data loading, augmentation, forward, backward, step).

    The same code path as train(); the first `warmup` steps (allocation, cuDNN autotuning) are not
    timed, and CUDA is synchronised before the clock is read.
    """
    device = pick_device(device)
    torch.manual_seed(0)
    model = ExpressionNet(net_config).to(device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        model.to(memory_format=torch.channels_last)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    weights = class_weights(samples, net_config.num_classes).to(device)
    repeats = math.ceil((steps + warmup) * batch_size / len(samples))
    dataset = CropDataset(list(samples) * repeats, input_size=net_config.input_size, augment=True)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True,
                                         num_workers=workers, pin_memory=device.type == "cuda")
    started, timed = None, 0
    for index, batch in enumerate(loader):
        if index == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            started = time.perf_counter()
        if index >= warmup + steps:
            break
        pixels, target, va, mask = _batch_to_device(batch, device)
        logits, va_pred = _forward(model, pixels, device, bf16=bf16)
        loss, _, _ = expression_loss(logits, va_pred, target, va, mask, weights=weights)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if index >= warmup:
            timed += len(target)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return timed / (time.perf_counter() - started)


def _write_final(out_dir, *, model, config, history, summary, evaluation, train_config, device):
    """Write model.safetensors (weights + config + record of the run); a copy of the tensors, never a half file."""
    cpu_model = model
    if device.type != "cpu":
        cpu_model = ExpressionNet(model.config)
        cpu_model.load_state_dict({k: v.cpu() for k, v in model.state_dict().items()})
    training = asdict(train_config) | {"device": str(device), "epochs_done": len(history)}
    checkpoint_save(out_dir / FINAL, model=cpu_model, config=config, history=history, data=summary,
                    training=training, evaluation=evaluation or {})
