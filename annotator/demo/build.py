"""Rebuild the demo faces (val_set/images + val_set/annotations/<id>_lnd.npy) from photos.

    python -m annotator.demo.build --detector dnn OUT_DIR PHOTO [PHOTO ...]

Each photo goes through the same pipeline as `manage.py import_images` (photos.detection, domain.crops):
EXIF orientation, face detector, 15% expansion, 224x224 crop, 68 landmarks in crop pixels. A
photo name ending in `@mirror` (e.g. `astronaut.png@mirror`) is used mirrored left-right.
Ids are given in order from 1. Sources and licences of the shipped set: LICENSE.md.
"""
import argparse
from pathlib import Path

import numpy as np
from PIL import ImageOps

from annotator.domain import crops
from annotator.photos import detection


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("photos", nargs="+")
    parser.add_argument("--detector", choices=detection.DETECTORS, default=detection.DNN)
    args = parser.parse_args(argv)
    models = detection.load_models(args.detector)
    images, annotations = args.out / "val_set" / "images", args.out / "val_set" / "annotations"
    images.mkdir(parents=True, exist_ok=True)
    annotations.mkdir(parents=True, exist_ok=True)
    next_id = 1
    for name in args.photos:
        path, mirror = (name[: -len("@mirror")], True) if name.endswith("@mirror") else (name, False)
        image = crops.photo_decode(Path(path).read_bytes(), name=path)
        if mirror:
            image = ImageOps.mirror(image)
        rgb = np.asarray(image)
        for box in models.detect(rgb):
            crop, region = crops.box_crop(image, box)
            points = crops.landmarks_scale(models.landmarks(rgb, box), region)
            (images / f"{next_id}.jpg").write_bytes(crops.crop_encode(crop))
            np.save(annotations / f"{next_id}_lnd.npy", np.asarray(points, dtype=np.float64))
            print(f"{next_id}: {name} box={tuple(round(v) for v in box)}")
            next_id += 1


if __name__ == "__main__":
    main()
