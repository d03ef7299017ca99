"""LossConfig: the settings of the perceptual objective, as one typed object.

Training takes it as ``--model.loss.*`` (YAML: ``model: {loss: {...}}``), ``fst optimize``
reads the same YAML, and every model file stores it, so evaluation and optimisation
rebuild the exact objective a network was trained with (fst.loss.objective). Importing
this module loads no torch; building a LossConfig validates against the VGG layers and
the style-loss family, which do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields

from fst.errors import FstError

DEFAULT_STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")


@dataclass
class LossConfig:
    """Settings of the perceptual objective (the style images are not settings).

    Args:
        content_weight, style_weight, tv_weight: weights of the three terms.
        style_loss: gram, linear, poly, gaussian or bn, or a fusion {name: weight, ...}; a
            weight may be {weight: w, <option>: value} (e.g. {poly: {c: 0, d: 3}}). Each loss
            is pre-scaled to gram's strength (docs/style-losses.md).
        style_size: long side of each style image in pixels (None: as it is).
        content_layer: VGG-16 layer of the content term.
        style_layers: VGG-16 layers of the style term.
        style_layer_weights: one weight per style layer (None: 1 each).
        vgg_weights: "caffe" (original VGG-16), "torchvision", or a weights file path.
        calibrate_style: divide each painting's style term by the value an unstylized
            photo scores (fst.loss.calibration), so style_weight pulls equally hard
            towards every painting.
    """

    content_weight: float = 1.0
    style_weight: float = 3.0
    tv_weight: float = 1.0
    style_loss: dict[str, float | dict[str, float]] | str = "gram"
    style_size: int | None = 512
    content_layer: str = "relu2_2"
    style_layers: list[str] = field(default_factory=lambda: list(DEFAULT_STYLE_LAYERS))
    style_layer_weights: list[float] | None = None
    vgg_weights: str = "caffe"
    calibrate_style: bool = False

    def __post_init__(self) -> None:
        from fst.loss.style_losses import parse_style_loss  # torch: only where a config is built
        from fst.loss.vgg import RELU_NAMES

        self.check_types()
        self.style_layers = list(self.style_layers)
        unknown = sorted(set(self.style_layers + [self.content_layer]) - set(RELU_NAMES))
        if unknown:
            raise FstError(f"unknown VGG-16 layers {shown(unknown)}; choose from {', '.join(RELU_NAMES)}")
        if not self.style_layers:
            raise FstError("style_layers must name at least one VGG-16 layer")
        weights = self.style_layer_weights
        if weights is not None and len(weights) != len(self.style_layers):
            raise FstError("style_layer_weights needs one weight per style layer")
        if self.style_size is not None and self.style_size < 1:
            raise FstError(f"style_size must be a positive number of pixels, got {self.style_size}")
        parse_style_loss(self.style_loss)  # a bad style_loss fails here, with its own message

    def check_types(self) -> None:
        """FstError for a value of the wrong type: settings also come untyped, from model
        files and YAML read outside the LightningCLI."""
        for name in ("content_weight", "style_weight", "tv_weight"):
            if not is_number(getattr(self, name)):
                raise FstError(f"{name} must be a number, got {shown(getattr(self, name))}")
        layers = self.style_layers
        if not isinstance(layers, (list, tuple)) or not all(isinstance(layer, str) for layer in layers):
            raise FstError(f"style_layers must be a list of VGG-16 layer names, got {shown(layers)}")
        if not isinstance(self.content_layer, str):
            raise FstError(f"content_layer must be a VGG-16 layer name, got {shown(self.content_layer)}")
        weights = self.style_layer_weights
        if weights is not None:
            if not isinstance(weights, (list, tuple)):
                raise FstError(f"style_layer_weights must be a list of numbers, got {shown(weights)}")
            bad = [weight for weight in weights if not is_number(weight)]
            if bad:
                raise FstError(f"style_layer_weights must be numbers, got {shown(bad[0])}")
        size = self.style_size
        if size is not None and (not isinstance(size, int) or isinstance(size, bool)):
            raise FstError(f"style_size must be a whole number of pixels, got {shown(size)}")
        if not isinstance(self.calibrate_style, bool):
            raise FstError(f"calibrate_style must be true or false, got {shown(self.calibrate_style)}")
        if not isinstance(self.vgg_weights, str):
            raise FstError(
                f"vgg_weights must be caffe, torchvision or a weights file, got {shown(self.vgg_weights)}"
            )

    @property
    def layer_weights(self) -> dict[str, float]:
        """{style layer: its weight}."""
        weights = self.style_layer_weights or [1.0] * len(self.style_layers)
        return dict(zip(self.style_layers, weights, strict=True))

    def to_dict(self) -> dict:
        """Plain JSON-ready values (stored in checkpoints and model files)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, object], origin: str = "loss settings") -> LossConfig:
        """The inverse of to_dict; FstError naming ``origin`` for unknown keys or bad values."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise FstError(f"{origin}: unknown loss settings {unknown}; known: {', '.join(sorted(known))}")
        try:
            return cls(**values)
        except FstError as exc:
            raise FstError(f"{origin}: {exc}") from None
        except TypeError as exc:
            raise FstError(f"{origin}: bad loss settings ({exc})") from None


def shown(value: object, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters (values may come from any file)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_number(value: object) -> bool:
    """An int or float (not a bool: YAML's ``yes`` is no weight)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def loss_keys() -> tuple[str, ...]:
    """The names of LossConfig's settings."""
    return tuple(f.name for f in fields(LossConfig))
