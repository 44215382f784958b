"""Procedural optical, SAR and infrared scenes with known objects.

Every scene is a *layout* (terrain + objects with exact masks, drawn from one
random stream) rendered with a source's physics (a second stream):

* optical: top-of-atmosphere-like reflectance 0..1, bands R, G, B;
* sar: linear backscatter intensity, bands VV, VH, with gamma speckle, dark sea,
  cluttered land, bright ships with cross-shaped sidelobes;
* infrared: brightness temperature in kelvin, one band; cloudy sky with 1-9 px
  hot small targets, or ground seen from a drone with people and vehicles.

:func:`generate_colocated` renders one layout in all three sources, giving
co-registered multi-source views with identical objects. Only numpy and
scipy.ndimage are used; a 256 x 256 scene takes a few milliseconds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy import ndimage

from .vocabulary import CLASSES

__all__ = ["SyntheticScene", "generate_scene", "generate_layout", "generate_colocated",
           "SOURCE_CLASSES", "COLOCATED_CLASSES", "synthetic_ref", "parse_synthetic_ref"]

SOURCE_IDS = {"optical": 0, "sar": 1, "infrared": 2}

# scene kinds per source: kind -> labels it can hold
_KINDS: dict[str, dict[str, tuple[str, ...]]] = {
    "optical": {"coast": ("ship", "storage tank", "building", "car", "vehicle", "airplane", "oil well"),
                "land": ("oil well", "storage tank", "airplane", "car", "vehicle", "building")},
    "sar": {"sea": ("ship",), "coast": ("ship",), "airfield": ("airplane",)},
    "infrared": {"sky": ("small target",), "ground": ("person", "car", "vehicle")},
}
#: classes the generator draws for each source
SOURCE_CLASSES = {s: tuple(sorted({c for k in kinds.values() for c in k})) for s, kinds in _KINDS.items()}
#: classes of co-registered (colocated) scenes
COLOCATED_CLASSES = ("ship", "storage tank", "building", "car", "vehicle", "airplane")

# physical size ranges (length, width) in metres; width None = same as length (round/square)
_SIZES_M = {
    "ship": ((25.0, 160.0), (0.14, 0.22)),      # width as a fraction of length
    "airplane": ((25.0, 65.0), (0.9, 1.1)),     # wingspan as a fraction of length
    "storage tank": ((8.0, 35.0), None),
    "building": ((10.0, 45.0), (0.4, 0.9)),
    "car": ((4.0, 5.0), (0.38, 0.45)),
    "vehicle": ((7.0, 13.0), (0.22, 0.3)),
    "oil well": ((9.0, 16.0), None),
    "person": ((0.8, 1.4), (0.45, 0.6)),
    "small target": ((1.0, 9.0), None),       # pixels (sky has no ground sample distance)
}
_MIN_PX = {"ship": 7, "airplane": 12, "storage tank": 6, "building": 8, "car": 4, "vehicle": 7,
           "oil well": 9, "person": 5, "small target": 1}
_GSD = {("optical", "coast"): (0.6, 1.0), ("optical", "land"): (0.35, 0.7), ("sar", "sea"): (3.0, 10.0),
        ("sar", "coast"): (2.5, 6.0), ("sar", "airfield"): (0.8, 2.0), ("infrared", "ground"): (0.06, 0.12),
        ("colocated", "coast"): (0.6, 1.0)}


@dataclass
class SyntheticScene:
    """A generated scene.

    Attributes
    ----------
    source : str
        ``"optical"``, ``"sar"`` or ``"infrared"``.
    image : numpy.ndarray or None
        float32 (C, H, W): reflectance (optical RGB), linear intensity (SAR VV, VH)
        or brightness temperature in K (infrared); None for a layout only.
    objects : list of dict
        ``label`` (canonical), ``box`` ``[x0, y0, x1, y1]`` (pixel edges), ``mask`` bool (H, W).
    gsd_m : float or None
        Ground sample distance in metres (None for sky scenes).
    land_mask : numpy.ndarray or None
        bool (H, W), True on land, where the scene has sea and land.
    kind : str
        Scene kind (``"coast"``, ``"land"``, ``"sea"``, ``"airfield"``, ``"sky"``, ``"ground"``).
    seed : int
    meta : dict
        e.g. ``daynight`` for infrared ground scenes, ``colocated`` flag.
    """

    source: str
    image: np.ndarray | None
    objects: list[dict]
    gsd_m: float | None
    land_mask: np.ndarray | None
    kind: str
    seed: int
    meta: dict = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        any_mask = self.land_mask if self.land_mask is not None else self.meta["shape"]
        return tuple(any_mask.shape) if isinstance(any_mask, np.ndarray) else tuple(any_mask)


def synthetic_ref(source: str, seed: int, size: int | tuple = 256, colocated: bool = False) -> str:
    """Image reference of a synthetic scene: ``synthetic:<source>:<seed>:<size>[:colocated]``."""
    h, w = _hw(size)
    s = f"{h}" if h == w else f"{h}x{w}"
    return f"synthetic:{source}:{int(seed)}:{s}" + (":colocated" if colocated else "")


def parse_synthetic_ref(ref: str) -> tuple[str, int, tuple[int, int], bool]:
    """Inverse of :func:`synthetic_ref` (size defaults to 256)."""
    parts = ref.split(":")
    if len(parts) < 3 or parts[0] != "synthetic" or parts[1] not in SOURCE_IDS:
        raise ValueError(f"bad synthetic image reference {ref!r}; expected 'synthetic:<source>:<seed>[:<size>][:colocated]'")
    size = (256, 256)
    if len(parts) >= 4:
        h, _, w = parts[3].partition("x")
        size = (int(h), int(w or h))
    return parts[1], int(parts[2]), size, len(parts) >= 5 and parts[4] == "colocated"


def _hw(size: int | tuple) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        h = w = int(size)
    else:
        h, w = (int(v) for v in size)
    if h < 32 or w < 32:
        raise ValueError(f"scene size must be at least 32 x 32 pixels, got {h} x {w}")
    return h, w


# ----------------------------------------------------------------------------- noise and terrain

def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    """Zero-mean unit-std noise with correlation length ~scale pixels (cheap: coarse grid + zoom)."""
    h, w = shape
    f = max(1, int(scale))
    small = rng.standard_normal((h // f + 3, w // f + 3))
    if f > 1:
        small = ndimage.gaussian_filter(small, 0.8)
        big = ndimage.zoom(small, f, order=1)[:h, :w]
    else:
        big = small[:h, :w]
    big = big - big.mean()
    return (big / (big.std() + 1e-9)).astype(np.float32)


def _land_mask(rng: np.random.Generator, shape: tuple[int, int], land_fraction: float) -> np.ndarray:
    h, w = shape
    ang = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = ((xx - w / 2) * np.cos(ang) + (yy - h / 2) * np.sin(ang)) / (0.5 * max(h, w))
    field_ = 2.0 * ramp + 0.6 * _smooth_noise(rng, shape, max(h, w) / 8)
    thr = np.quantile(field_, 1.0 - land_fraction)
    return field_ > thr


# ----------------------------------------------------------------------------- shapes

def _local(cx: float, cy: float, angle: float, radius: float, shape: tuple[int, int]):
    """Slices of a patch around (cx, cy) and rotated coordinates (u along, v across) of its pixel centres."""
    h, w = shape
    r = int(np.ceil(radius)) + 2
    y0, y1 = max(0, int(cy) - r), min(h, int(cy) + r + 1)
    x0, x1 = max(0, int(cx) - r), min(w, int(cx) + r + 1)
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dx, dy = xx + 0.5 - cx, yy + 0.5 - cy
    c, s = np.cos(angle), np.sin(angle)
    return (slice(y0, y1), slice(x0, x1)), dx * c + dy * s, -dx * s + dy * c


def _shape(label: str, u: np.ndarray, v: np.ndarray, length: float, width: float) -> np.ndarray:
    half = length / 2
    if label == "ship":
        t = np.clip(np.abs(u) / half, 0, 1)
        prof = np.where(u > 0, np.sqrt(np.clip(1 - t ** 2.2, 0, 1)), np.sqrt(np.clip(1 - t ** 6, 0, 1)))
        return (np.abs(u) <= half) & (np.abs(v) <= np.maximum(width / 2 * prof, 0.5 * (np.abs(u) < half - 0.5)))
    if label == "airplane":
        span = width
        fus = (np.abs(u) <= half) & (np.abs(v) <= max(0.55, 0.055 * length))
        chord = 0.17 * length * (1 - 0.6 * np.abs(v) / (span / 2))
        wing = (np.abs(v) <= span / 2) & (u <= 0.12 * length) & (u >= 0.12 * length - chord)
        tail = (np.abs(v) <= 0.19 * span) & (u <= -0.36 * length) & (u >= -half)
        return fus | wing | tail
    if label in ("storage tank", "small target"):
        return u ** 2 + v ** 2 <= max(length / 2, 0.5) ** 2
    if label == "person":
        return (u / half) ** 2 + (v / (width / 2)) ** 2 <= 1.0
    # building, car, vehicle, oil well pad: rectangles
    return (np.abs(u) <= half) & (np.abs(v) <= width / 2)


# ----------------------------------------------------------------------------- layout

def _kind_for(source: str, classes: tuple[str, ...] | None, rng: np.random.Generator) -> tuple[str, tuple[str, ...]]:
    kinds = _KINDS[source]
    if classes is None:
        names = list(kinds)
        kind = names[int(rng.integers(len(names)))]
        return kind, kinds[kind]
    for c in classes:
        if c not in CLASSES:
            raise ValueError(f"unknown class {c!r}; known: {sorted(CLASSES)}")
    fits = [k for k, labels in kinds.items() if set(classes) & set(labels)]
    if not fits:
        raise ValueError(f"{source} scenes cannot hold {classes}; they hold {SOURCE_CLASSES[source]}")
    kind = fits[int(rng.integers(len(fits)))]
    return kind, tuple(c for c in kinds[kind] if c in classes)


def _place(rng, label, gsd, shape, land, occupied, sky) -> dict | None:
    h, w = shape
    (l0, l1), wf = _SIZES_M[label]
    length_m = rng.uniform(l0, l1)
    length = length_m if sky else length_m / gsd
    length = float(np.clip(length, _MIN_PX[label], 0.4 * min(h, w)))
    if wf is None:
        width = length
    else:
        width = max(2.0 if label != "person" else 3.0, length * rng.uniform(*wf))
    if label == "airplane":
        width = min(width, 0.4 * min(h, w))
    angle = 0.0 if label in ("storage tank", "small target") else rng.uniform(0, np.pi)
    radius = 0.5 * np.hypot(length, width)
    for _ in range(25):
        cx = rng.uniform(radius + 1, w - radius - 1) if w > 2 * radius + 2 else w / 2
        cy = rng.uniform(radius + 1, h - radius - 1) if h > 2 * radius + 2 else h / 2
        sl, u, v = _local(cx, cy, angle, radius, shape)
        m = _shape(label, u, v, length, width)
        if not m.any():
            yi, xi = min(h - 1, int(cy)), min(w - 1, int(cx))
            m = np.zeros_like(m)
            m[yi - sl[0].start, xi - sl[1].start] = True
        full = np.zeros(shape, bool)
        full[sl] = m
        if (ndimage.binary_dilation(full[sl], iterations=2) & occupied[sl]).any():
            continue
        if land is not None and label != "small target":
            on_land = land[sl][m].mean()
            if (label == "ship" and on_land > 0.0) or (label != "ship" and on_land < 1.0):
                continue
        occupied[sl] |= ndimage.binary_dilation(m, iterations=2)
        rows, cols = np.nonzero(m)
        box = [float(cols.min() + sl[1].start), float(rows.min() + sl[0].start),
               float(cols.max() + sl[1].start + 1), float(rows.max() + sl[0].start + 1)]
        return {"label": label, "box": box, "mask": full, "_geom": (cx, cy, angle, length, width)}
    return None


def _layout(source: str, seed: int, size, n_objects, classes, colocated: bool) -> SyntheticScene:
    h, w = _hw(size)
    rng = np.random.default_rng([int(seed), 100 + (9 if colocated else SOURCE_IDS[source])])
    if colocated:
        kind, labels = "coast", COLOCATED_CLASSES
        if classes is not None:
            labels = tuple(c for c in labels if c in classes) or labels
    else:
        kind, labels = _kind_for(source, tuple(classes) if classes is not None else None, rng)
    land = None
    if kind == "coast":
        land = _land_mask(rng, (h, w), rng.uniform(0.35, 0.65))
    elif kind == "sea" and rng.random() < 0.3:
        land = _land_mask(rng, (h, w), rng.uniform(0.05, 0.2))
    elif kind in ("sea",):
        land = np.zeros((h, w), bool)
    if kind == "land" and "ship" in labels:
        labels = tuple(c for c in labels if c != "ship")
    if not labels:
        labels = ("ship",)
    sky = kind == "sky"
    gsd = None if sky else float(rng.uniform(*_GSD[("colocated" if colocated else source, kind)]))
    if n_objects is None:
        hi = 4 if sky else (13 if kind == "ground" else 9)
        n_objects = 0 if rng.random() < 0.07 else int(rng.integers(1, hi))
    occupied = np.zeros((h, w), bool)
    objects = []
    for _ in range(int(n_objects)):
        label = labels[int(rng.integers(len(labels)))]
        obj = _place(rng, label, gsd, (h, w), land, occupied, sky)
        if obj is not None:
            objects.append(obj)
    meta = {"shape": (h, w), "colocated": colocated}
    if kind == "ground" or colocated:
        meta["daynight"] = "day" if rng.random() < 0.6 else "night"
    return SyntheticScene(source, None, objects, gsd, land, kind, int(seed), meta)


# ----------------------------------------------------------------------------- renderers

def _shadow(mask: np.ndarray, dx: int, dy: int) -> np.ndarray:
    sh = np.zeros_like(mask)
    h, w = mask.shape
    ys, xs = slice(max(0, dy), h + min(0, dy)), slice(max(0, dx), w + min(0, dx))
    yd, xd = slice(max(0, -dy), h - max(0, dy)), slice(max(0, -dx), w - max(0, dx))
    sh[ys, xs] = mask[yd, xd]
    return sh & ~mask


def _render_optical(sc: SyntheticScene, rng: np.random.Generator) -> np.ndarray:
    h, w = sc.size
    n1, n2, n3 = (_smooth_noise(rng, (h, w), s) for s in (w / 6, w / 20, 2))
    veg = np.array([0.05, 0.09, 0.04], np.float32)[:, None, None]
    soil = np.array([0.26, 0.21, 0.15], np.float32)[:, None, None]
    mix = 1 / (1 + np.exp(-1.5 * n1 - 0.6 * n2 + rng.uniform(-1, 1)))
    img = veg * (1 - mix) + soil * mix
    img = img * (1 + 0.08 * n3)
    if sc.land_mask is not None:
        water = np.array([0.025, 0.045, 0.07], np.float32)[:, None, None] * (1 + 0.05 * n2)
        img = np.where(sc.land_mask[None], img, water)
    sun = rng.uniform(0, 2 * np.pi)
    for o in sc.objects:
        cx, cy, ang, length, width = o["_geom"]
        m = o["mask"]
        lab = o["label"]
        if lab == "airplane":  # grey apron under the aircraft
            sl, u, v = _local(cx, cy, 0, 0.7 * max(length, width), (h, w))
            apron = (np.abs(u) <= 0.65 * max(length, width)) & (np.abs(v) <= 0.65 * max(length, width))
            if sc.land_mask is not None:
                apron &= sc.land_mask[sl]
            img[:, sl[0], sl[1]] = np.where(apron[None], np.float32(0.17), img[:, sl[0], sl[1]])
        if lab in ("building", "storage tank", "airplane", "oil well", "vehicle"):
            d = max(1, int(round((0.25 if lab != "building" else 0.45) * min(length, width))))
            sh = _shadow(m, int(round(d * np.cos(sun))), int(round(d * np.sin(sun))))
            img *= np.where(sh, np.float32(0.35), np.float32(1.0))[None]
        sl, u, v = _local(cx, cy, ang, 0.5 * np.hypot(length, width), (h, w))
        mm = m[sl]
        if lab == "ship":
            col = np.full((3,) + u.shape, rng.uniform(0.45, 0.7), np.float32)
            deck = (np.abs(v) < width * 0.18) & (u > -length * 0.3) & (u < length * 0.1)
            col[:, deck] *= 0.55
        elif lab == "airplane":
            col = np.full((3,) + u.shape, rng.uniform(0.62, 0.85), np.float32)
        elif lab == "storage tank":
            r = np.hypot(u, v)
            col = np.full((3,) + u.shape, rng.uniform(0.6, 0.85), np.float32)
            col[:, np.abs(r - 0.33 * length) < 0.6] *= 0.7
        elif lab == "building":
            roof = [(0.38, 0.16, 0.11), (0.32, 0.32, 0.33), (0.55, 0.55, 0.53), (0.12, 0.2, 0.34)][int(rng.integers(4))]
            col = np.array(roof, np.float32)[:, None, None] * np.ones((3,) + u.shape, np.float32)
            col[:, np.abs(v) < 0.6] *= 0.8  # ridge
        elif lab in ("car", "vehicle"):
            paint = [(0.6, 0.05, 0.05), (0.05, 0.12, 0.45), (0.75, 0.75, 0.75), (0.04, 0.04, 0.04), (0.5, 0.5, 0.55)][int(rng.integers(5))]
            col = np.array(paint, np.float32)[:, None, None] * np.ones((3,) + u.shape, np.float32)
            front = (u > 0.1 * length) & (u < 0.3 * length) if lab == "car" else (u > 0.3 * length)
            col[:, front] = col[:, front] * 0.4 if lab == "car" else np.float32(0.8)
        elif lab == "oil well":
            col = np.array([0.36, 0.31, 0.25], np.float32)[:, None, None] * np.ones((3,) + u.shape, np.float32)
            beam = (np.abs(v) < max(0.7, 0.06 * length)) & (np.abs(u) < 0.4 * length)
            post = (np.abs(u) < 0.06 * length + 0.5) & (np.abs(v) < 0.2 * length)
            head = (u > 0.32 * length) & (u < 0.44 * length) & (np.abs(v) < 0.12 * length + 0.5)
            col[:, beam | post | head] = 0.04
        else:
            col = np.full((3,) + u.shape, 0.5, np.float32)
        img[:, sl[0], sl[1]] = np.where(mm[None], col, img[:, sl[0], sl[1]])
    img = img + rng.normal(0, 0.006, img.shape).astype(np.float32)
    return np.clip(img, 0, 1)


def _sidelobes(img: np.ndarray, x: int, y: int, power: float, reach: int) -> None:
    """Add cross-shaped (range/azimuth) sidelobes of a bright point scatterer."""
    _, h, w = img.shape
    d = np.arange(-reach, reach + 1)
    lobe = (power * 0.25 / (1.0 + (d / 1.5) ** 2)).astype(np.float32)
    lobe[reach] = 0
    xs, ys = np.clip(x + d, 0, w - 1), np.clip(y + d, 0, h - 1)
    okx, oky = (x + d >= 0) & (x + d < w), (y + d >= 0) & (y + d < h)
    img[0, y, xs[okx]] += lobe[okx]
    img[0, ys[oky], x] += lobe[oky]
    img[1, y, xs[okx]] += 0.2 * lobe[okx]
    img[1, ys[oky], x] += 0.2 * lobe[oky]


def _render_sar(sc: SyntheticScene, rng: np.random.Generator) -> np.ndarray:
    h, w = sc.size
    wind = _smooth_noise(rng, (h, w), w / 5)
    sea = rng.uniform(0.006, 0.03) * np.exp(0.35 * wind)
    vv = sea.astype(np.float32)
    land = sc.land_mask if sc.land_mask is not None else (np.ones((h, w), bool) if sc.kind == "airfield" else None)
    if land is not None and land.any():
        tex = np.exp(0.9 * _smooth_noise(rng, (h, w), 6) + 0.5 * _smooth_noise(rng, (h, w), w / 8))
        ground = rng.uniform(0.04, 0.15) * tex
        urban = rng.random((h, w)) < 0.004
        ground = np.where(urban, ground * rng.uniform(5, 30), ground)
        if sc.kind == "airfield":
            yy, xx = np.mgrid[0:h, 0:w]
            a = rng.uniform(0, np.pi)
            runway = np.abs((xx - w / 2) * np.sin(a) - (yy - h / 2) * np.cos(a)) < rng.uniform(6, 14)
            ground = np.where(runway, 0.004, ground)
        vv = np.where(land, ground, vv).astype(np.float32)
    ratio = np.where(land, 0.25, 0.06) if land is not None else np.float32(0.06)
    img = np.stack([vv, vv * ratio]).astype(np.float32)
    for o in sc.objects:
        cx, cy, ang, length, width = o["_geom"]
        sl, u, v = _local(cx, cy, ang, 0.5 * np.hypot(length, width), (h, w))
        mm = o["mask"][sl]
        if not mm.any():
            continue
        lab = o["label"]
        base = {"ship": (0.8, 6.0), "airplane": (0.4, 2.5), "storage tank": (0.2, 0.6), "building": (0.3, 1.0),
                "car": (0.3, 1.5), "vehicle": (0.4, 2.0), "oil well": (0.3, 1.0)}.get(lab, (0.3, 1.0))
        val = rng.uniform(*base) * np.exp(0.6 * rng.standard_normal(u.shape)).astype(np.float32)
        if lab == "storage tank":
            ring = np.abs(np.hypot(u, v) - length / 2) < 1.2
            val = np.where(ring, val * 12, val)
        if lab == "building":
            edge = (np.abs(u + length / 2) < 1.2) | (np.abs(v + width / 2) < 1.2)
            val = np.where(edge, val * 8, val)
        region = img[:, sl[0], sl[1]]
        region[0] = np.where(mm, val, region[0])
        region[1] = np.where(mm, val * rng.uniform(0.08, 0.3), region[1])
        # a few dominant scatterers with cross sidelobes (ships and aircraft)
        if lab in ("ship", "airplane", "vehicle"):
            ys, xs = np.nonzero(mm)
            for k in rng.choice(ys.size, size=min(ys.size, int(rng.integers(1, 4))), replace=False):
                y, x = ys[k] + sl[0].start, xs[k] + sl[1].start
                p = float(rng.uniform(20, 120) if lab == "ship" else rng.uniform(8, 40))
                img[0, y, x] += p
                img[1, y, x] += 0.2 * p
                _sidelobes(img, x, y, p, int(min(3 * length, 0.3 * max(h, w))))
    looks = float(rng.choice([1.0, 2.0, 3.0, 4.0]))
    img *= rng.gamma(looks, 1.0 / looks, img.shape).astype(np.float32)
    return img.astype(np.float32)


def _render_infrared(sc: SyntheticScene, rng: np.random.Generator) -> np.ndarray:
    h, w = sc.size
    night = sc.meta.get("daynight") == "night"
    if sc.kind == "sky":
        yy = np.linspace(0, 1, h, dtype=np.float32)[:, None]
        sky = rng.uniform(235, 268) + rng.uniform(3, 12) * yy
        cloud = _smooth_noise(rng, (h, w), w / 8) + 0.4 * _smooth_noise(rng, (h, w), w / 30)
        cover = 1 / (1 + np.exp(-3 * (cloud - rng.uniform(-0.5, 1.5))))
        temp = sky + rng.uniform(6, 25) * cover
        if rng.random() < 0.3:  # tree line / ground strip at the bottom
            hor = int(h * rng.uniform(0.75, 0.95)) + (4 * _smooth_noise(rng, (1, w), 6)[0]).astype(int)
            ground = np.arange(h)[:, None] >= hor[None, :]
            temp = np.where(ground, rng.uniform(275, 290) + 2 * _smooth_noise(rng, (h, w), 3), temp)
        img = temp.astype(np.float32)
        for o in sc.objects:
            cx, cy, _, length, _ = o["_geom"]
            sl, u, v = _local(cx, cy, 0, length, (h, w))
            sigma = max(0.5, length / 4)
            bump = np.exp(-(u ** 2 + v ** 2) / (2 * sigma ** 2))
            local_bg = float(np.median(img[sl]))
            peak = rng.uniform(6, 35)
            img[sl] = np.maximum(img[sl], np.where(o["mask"][sl], local_bg + peak * np.maximum(bump, 0.45), img[sl]))
        img = img + rng.normal(0, rng.uniform(0.1, 0.5), img.shape)
        return img[None].astype(np.float32)
    # ground or coast seen by a thermal camera
    amb = rng.uniform(272, 286) if night else rng.uniform(290, 305)
    img = amb + (2.0 if night else 6.0) * _smooth_noise(rng, (h, w), w / 10) + 0.8 * _smooth_noise(rng, (h, w), 3)
    if sc.kind == "ground":
        yy, xx = np.mgrid[0:h, 0:w]
        a = rng.uniform(0, np.pi)
        road = np.abs((xx - w / 2) * np.sin(a) - (yy - h / 2) * np.cos(a)) < rng.uniform(10, 40)
        img = np.where(road, img + (4 if night else 12), img)
    if sc.land_mask is not None:
        img = np.where(sc.land_mask, img, rng.uniform(283, 290) + 0.4 * _smooth_noise(rng, (h, w), w / 6))
    img = img.astype(np.float32)
    for o in sc.objects:
        cx, cy, ang, length, width = o["_geom"]
        sl, u, v = _local(cx, cy, ang, 0.5 * np.hypot(length, width), (h, w))
        mm = o["mask"][sl]
        lab = o["label"]
        bg = float(np.median(img[sl]))
        if lab == "person":
            t = np.full(u.shape, max(304.0, bg + 5) + rng.uniform(0, 3), np.float32)
            t[u > 0.25 * length] += 2.0  # head
        elif lab in ("car", "vehicle"):
            body = bg + (2.5 if night else rng.uniform(6, 14))
            t = np.full(u.shape, body, np.float32)
            t[u > 0.3 * length] = bg + rng.uniform(10, 20)  # engine
            t[(u > 0.0) & (u < 0.25 * length)] -= 3.0  # windscreen reflects cold sky
        elif lab == "ship":
            t = np.full(u.shape, img[sl][~mm].mean() + rng.uniform(3, 8) if (~mm).any() else 295, np.float32)
            t[(np.abs(u + 0.15 * length) < 0.06 * length + 1) & (np.abs(v) < 0.2 * width + 1)] += 20  # funnel
        elif lab == "airplane":
            t = np.full(u.shape, bg - rng.uniform(5, 10), np.float32)  # low-emissivity metal looks cold
        elif lab == "storage tank":
            t = np.full(u.shape, bg + rng.uniform(4, 9), np.float32) - 3 * (np.hypot(u, v) < 0.3 * length)
        elif lab == "building":
            t = np.full(u.shape, bg + (rng.uniform(3, 6) if night else rng.uniform(8, 15)), np.float32)
        else:
            t = np.full(u.shape, bg + 6, np.float32)
        img[sl] = np.where(mm, t, img[sl])
    img = ndimage.gaussian_filter(img, 0.6) + rng.normal(0, 0.15, img.shape).astype(np.float32)
    return img[None].astype(np.float32)


_RENDER: dict[str, Callable[[SyntheticScene, np.random.Generator], np.ndarray]] = {
    "optical": _render_optical, "sar": _render_sar, "infrared": _render_infrared}


def _finish(sc: SyntheticScene, source: str, render: bool) -> SyntheticScene:
    out = SyntheticScene(source, None, [{"label": o["label"], "box": list(o["box"]), "mask": o["mask"],
                                         "_geom": o["_geom"]} for o in sc.objects],
                         sc.gsd_m, sc.land_mask, sc.kind, sc.seed, dict(sc.meta))
    if render:
        rng = np.random.default_rng([sc.seed, 200 + SOURCE_IDS[source] + (10 if sc.meta.get("colocated") else 0)])
        out.image = _RENDER[source](out, rng)
    for o in out.objects:
        del o["_geom"]
    return out


def generate_layout(source: str, seed: int, size: int | tuple = 256, *, n_objects: int | None = None,
                    classes: tuple | None = None) -> SyntheticScene:
    """The objects and terrain of :func:`generate_scene` without rendering pixels (``image`` is None)."""
    _check_source(source)
    return _finish(_layout(source, seed, size, n_objects, classes, False), source, render=False)


def generate_scene(source: str, seed: int, size: int | tuple = 256, *, n_objects: int | None = None,
                   classes: tuple | None = None) -> SyntheticScene:
    """Generate one procedural scene with known objects.

    Parameters
    ----------
    source : {"optical", "sar", "infrared"}
    seed : int
        Same seed, same scene (layout and pixels).
    size : int or (int, int)
        Side, or (height, width), in pixels; at least 32.
    n_objects : int, optional
        Objects to try to place (some may not fit); random when None.
    classes : tuple of str, optional
        Restrict the classes drawn (canonical labels, see ``SOURCE_CLASSES``).

    Returns
    -------
    SyntheticScene

    Raises
    ------
    ValueError
        Unknown source or class, or a class the source cannot render.
    """
    _check_source(source)
    return _finish(_layout(source, seed, size, n_objects, classes, False), source, render=True)


def generate_colocated(seed: int, size: int | tuple = 256, *, render: bool = True) -> dict[str, SyntheticScene]:
    """Optical, SAR and infrared views of one coastal layout (same objects, same pixels, same grid)."""
    lay = _layout("optical", seed, size, None, None, True)
    return {s: _finish(lay, s, render) for s in SOURCE_IDS}


def _check_source(source: str) -> None:
    if source not in SOURCE_IDS:
        raise ValueError(f"source must be one of {list(SOURCE_IDS)}, got {source!r}")
