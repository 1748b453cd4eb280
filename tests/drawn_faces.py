"""Drawn face crops with matching 68 landmarks, for the browser tests and the page benchmark (no photos needed)."""
import io
import math

from PIL import Image, ImageDraw

from annotator.faces.store import NewFace, faces_store


def _ellipse(cx, cy, rx, ry, n, start=0.0, stop=2 * math.pi, closed=True):
    step = (stop - start) / (n if closed else n - 1)
    return [(cx + rx * math.cos(start + i * step), cy + ry * math.sin(start + i * step)) for i in range(n)]


def drawn_landmarks():
    """Return 68 (x, y) points in the iBUG 300-W order, in 224x224 crop pixels."""
    pts = _ellipse(112, 100, 72, 92, 17, math.pi, 0, closed=False)  # jaw, left ear to right ear
    pts += [(62 + 10 * i, 74 - 6 * math.sin(math.pi * i / 4)) for i in range(5)]  # brows
    pts += [(122 + 10 * i, 74 - 6 * math.sin(math.pi * i / 4)) for i in range(5)]
    pts += [(112, 88 + 10 * i) for i in range(4)]  # nose bridge
    pts += [(98 + 7 * i, 128 + (2 if i in (1, 2, 3) else 0)) for i in range(5)]  # nostrils
    pts += _ellipse(84, 94, 13, 6, 6, math.pi)  # eyes
    pts += _ellipse(140, 94, 13, 6, 6, math.pi)
    pts += _ellipse(112, 160, 28, 11, 12, math.pi)  # outer lips
    pts += _ellipse(112, 160, 18, 4, 8, math.pi)  # inner lips
    return pts


def drawn_face_jpeg(seed: int) -> bytes:
    """Return a 224x224 JPEG of a drawn face whose colours vary with seed."""
    image = Image.new("RGB", (224, 224), ((40 + seed * 37) % 200, (60 + seed * 53) % 200, (90 + seed * 71) % 200))
    draw = ImageDraw.Draw(image)
    draw.ellipse((36, 0, 188, 196), fill=(224, 182, 150))
    pts = drawn_landmarks()
    for a, b in ((36, 41), (42, 47)):
        draw.polygon(pts[a:b + 1], fill=(255, 255, 255), outline=(60, 40, 30))
    draw.ellipse((78, 88, 90, 100), fill=(70, 50, 30))
    draw.ellipse((134, 88, 146, 100), fill=(70, 50, 30))
    draw.line(pts[17:22], fill=(90, 60, 40), width=4)
    draw.line(pts[22:27], fill=(90, 60, 40), width=4)
    draw.line(pts[27:31] + [pts[33]], fill=(170, 120, 100), width=3)
    draw.polygon(pts[48:60], fill=(180, 80, 80))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def store_drawn_faces(count: int, *, required=1, start_seed=0):
    """Store `count` drawn faces with landmarks through faces_store; return them in id order."""
    landmarks = [v for p in drawn_landmarks() for v in p]
    new = [NewFace(drawn_face_jpeg(start_seed + i), landmarks=landmarks, required_annotations=required)
           for i in range(count)]
    return sorted(faces_store(new), key=lambda f: f.pk)
