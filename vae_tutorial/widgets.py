"""Interactive views of a trained model's latent space, for JupyterLab (ipywidgets 8).

Four views, each a small object with a ``.view`` (an ipywidgets box) that displays itself:

- :class:`LatentExplorer`: one slider per latent dimension (or the most active ones), the decoded
  image E[x|z] updating as you slide; "start from this image"; reset.
- :class:`Interpolator`: the path between the codes of two digits, linear or spherical.
- :class:`PriorSampler`: a grid of decoded prior samples z ~ N(0, T^2 I); new draws, temperature T.
- :class:`AttributeSlider`: move an image's code along a direction computed from data
  (:func:`thickness_vector`, :func:`class_vector`).

The latent-space operations behind them (codes, interpolation, attribute vectors) live in
:mod:`vae_tutorial.latent_space` and need no widgets; PNG encoding is in :mod:`vae_tutorial.images`.
Every update happens in place: a slider change decodes the code(s), encodes the pixels as PNG and
assigns the bytes to an existing ``ipywidgets.Image``; no figure is rebuilt.
Each view keeps what it last showed (``.code``, ``.image`` or ``.images``, pixel probabilities in
[0, 1]) so tests can compare it with ``model.decode_mean``.

Where no widget front end runs (GitHub, nbconvert, a static viewer), displaying a view shows a PNG
grid of the same content instead of a text repr: ``_repr_mimebundle_`` returns the widget view
together with ``image/png`` and ``text/plain``.
"""

from __future__ import annotations

import base64
import math

import ipywidgets as widgets
import numpy as np
import torch

from ._checks import check_choice, check_positive_int, to_numpy
from .images import png_bytes, tile, to_pixels
from .latent_space import (  # noqa: F401 (the operations lesson 06 calls as widgets.<name>)
    METHODS,
    as_images,
    attribute_vector,
    class_vector,
    decoded_pixels,
    ink,
    interpolate,
    latent_activity,
    lerp,
    mean_codes,
    slerp,
    thickness_vector,
    traversal,
)

decode, encode = decoded_pixels, mean_codes  # the names lesson 06 uses
_NARROW = {"width": "200px"}  # number boxes: room for a 5-digit image index


# ----------------------------------------------------------------------------------------------
# Input checks
# ----------------------------------------------------------------------------------------------


def _check_model(model, who: str, needs_encoder: bool = False, needs_prior: bool = False) -> None:
    """Raise a clear ValueError unless model can decode (and encode / sample when asked)."""
    if not (hasattr(model, "decode_mean") and isinstance(getattr(model, "latent_dim", None), int)):
        raise ValueError(
            f"{who} needs a model with a decoder: latent_dim and decode_mean(z), such as "
            f"vae_tutorial.models.VAE; got {type(model).__name__}, which has no decoder."
        )
    if needs_encoder and not hasattr(model, "embed"):
        raise ValueError(
            f"{who} needs a model with an encoder (model.embed(x)) to turn images into codes; "
            f"{type(model).__name__} has none. Pass a VAE or an Autoencoder."
        )
    if needs_prior:
        try:
            model.prior()
        except (AttributeError, ValueError, NotImplementedError):
            raise ValueError(
                f"{who} needs a model with a prior p(z) to sample codes from; "
                f"{type(model).__name__} has none (an Autoencoder decodes only codes that an "
                "image gave it). Pass a VAE."
            ) from None


def _image_shape(model, image_shape) -> tuple[int, int]:
    if image_shape is not None:
        height, width = image_shape
        if height * width != model.input_dim:
            raise ValueError(
                f"image_shape={tuple(image_shape)} has {height * width} pixels but the model has "
                f"{model.input_dim}; pass a shape whose product is {model.input_dim}."
            )
        return int(height), int(width)
    side = math.isqrt(model.input_dim)
    if side * side == model.input_dim:
        return side, side
    return 1, model.input_dim


def _as_image(x, name: str, model) -> torch.Tensor:
    """One image as (input_dim,), (1, input_dim) or (height, width) -> (1, input_dim)."""
    x = torch.from_numpy(x) if isinstance(x, np.ndarray) else x
    dim, square = model.input_dim, _image_shape(model, None)
    if not isinstance(x, torch.Tensor) or tuple(x.shape) not in {(dim,), (1, dim), square}:
        raise ValueError(
            f"{name} must be one image with {dim} pixels: shape ({dim},), (1, {dim}) or "
            f"{square}; got {tuple(getattr(x, 'shape', ())) or type(x).__name__}. To pick one "
            "image of a batch use images[i]."
        )
    return as_images(x.reshape(1, dim), model, name)


def _check_labels(labels, n: int):
    if labels is None:
        return None
    labels = to_numpy(labels)
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), one per image; got {labels.shape}.")
    return labels


# ----------------------------------------------------------------------------------------------
# The views
# ----------------------------------------------------------------------------------------------


class _LatentView:
    """What all views share: the model, an in-place image setter and the static fallback."""

    def __init__(self, model, image_shape=None, zoom: int = 6):
        check_positive_int("zoom", zoom)
        self.model = model
        self.image_shape = _image_shape(model, image_shape)
        self.zoom = zoom
        self.view: widgets.Box  # each view builds its box last, once its parts exist

    def _finish(self, view: widgets.Box, image: widgets.Image) -> widgets.Box:
        """Tag the view and its main image with CSS classes, so pages and tests can find them."""
        view.add_class("vae-tutorial-view")
        view.add_class(f"vae-{type(self).__name__.lower()}")
        image.add_class("vae-decoded-image")
        return view

    def _show(self, target: widgets.Image, canvas: np.ndarray, zoom: int | None = None) -> None:
        # The only per-event work after decoding: a few-kilobyte PNG into an existing Image.
        target.value = png_bytes(to_pixels(canvas, zoom or self.zoom))

    def _image(self, flat: np.ndarray) -> np.ndarray:
        return flat.reshape(self.image_shape)

    def static_grid(self) -> np.ndarray:
        """The view's content as one picture: (height, width) pixel probabilities."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def _repr_mimebundle_(self, include=None, exclude=None):
        # JupyterLab renders the widget view; front ends without the widget model (GitHub,
        # nbviewer, nbconvert without saved widget state) fall back to the PNG, then the text.
        bundle = dict(self.view._repr_mimebundle_(include=include, exclude=exclude) or {})
        picture = png_bytes(to_pixels(self.static_grid(), 2))
        bundle["image/png"] = base64.b64encode(picture).decode("ascii")
        bundle["text/plain"] = self.describe()
        return bundle

    def __repr__(self) -> str:
        return self.describe()


class LatentExplorer(_LatentView):
    """Sliders over latent dimensions; the decoded image E[x|z] follows them.

    model: a trained VAE (or Autoencoder). images: optional (n, input_dim) pool, e.g. test digits;
    it ranks the dimensions by activity and feeds "start from this image". labels: (n,) digits.
    dims: dimensions that get a visible slider; default all when latent_dim <= top_k, else the
    top_k most active (a selector shows others). limit: sliders span [-limit, limit]; codes
    outside are clipped to it (4 covers the mean codes of MNIST digits under a trained VAE).

    ``.code`` (latent_dim,) and ``.image`` (height, width) are what the view shows now;
    ``.input_image`` the image it started from (None after a reset); ``.sliders[d]`` is the
    slider of dimension d.
    """

    def __init__(
        self,
        model,
        images=None,
        labels=None,
        top_k: int = 6,
        dims=None,
        limit: float = 4.0,
        step: float = 0.05,
        zoom: int = 6,
        image_shape=None,
    ):
        _check_model(model, "LatentExplorer", needs_encoder=images is not None)
        super().__init__(model, image_shape, zoom)
        check_positive_int("top_k", top_k)
        if not limit > 0:
            raise ValueError(f"limit must be positive, got {limit}.")
        latent_dim = model.latent_dim
        self.limit = float(limit)
        self.images = None if images is None else as_images(images, model)
        self.labels = None if images is None else _check_labels(labels, len(self.images))
        self.activity = None if images is None else latent_activity(model, self.images)
        ranked = (
            list(range(latent_dim))
            if self.activity is None
            else [int(d) for d in np.argsort(-self.activity, kind="stable")]
        )
        if dims is None:
            dims = ranked[: min(top_k, latent_dim)]
        dims = [int(d) for d in dims]
        if not dims or any(not 0 <= d < latent_dim for d in dims):
            raise ValueError(
                f"dims must list dimensions between 0 and {latent_dim - 1}, got {dims}."
            )
        self.ranked = ranked
        self.code = np.zeros(latent_dim, dtype=np.float32)
        self.source_index: int | None = None
        self._holding = False

        self.sliders = [self._make_slider(d, step) for d in range(latent_dim)]
        self._slider_box = widgets.VBox()
        self._image_widget = widgets.Image(format="png")
        self._input_widget = widgets.Image(format="png")
        self._input_box = widgets.VBox([widgets.Label("input image"), self._input_widget])
        self._status = widgets.Label()
        controls = [self._status]
        if latent_dim > len(dims):
            self.selector = widgets.SelectMultiple(
                options=[(self._dim_label(d), d) for d in ranked],
                value=tuple(dims),
                rows=min(8, latent_dim),
                description="dimensions",
            )
            self.selector.observe(self._on_select, names="value")
            controls.append(self.selector)
        else:
            self.selector = None
        if self.images is not None:
            self.index = widgets.BoundedIntText(
                value=0, min=0, max=len(self.images) - 1, description="image #", layout=_NARROW
            )
            self.start_button = widgets.Button(
                description="start from this image", layout=widgets.Layout(width="auto")
            )
            self.start_button.on_click(lambda _: self.start_from(self.index.value))
        self.reset_button = widgets.Button(
            description="reset to z = 0", layout=widgets.Layout(width="auto")
        )
        self.reset_button.on_click(lambda _: self.reset())
        buttons = [self.reset_button]
        if self.images is not None:
            buttons = [self.index, self.start_button, self.reset_button]
        controls.append(widgets.HBox(buttons))
        self._set_dims(dims)
        pictures = widgets.VBox(
            [widgets.Label("decoded E[x|z]"), self._image_widget, self._input_box]
        )
        self.view = self._finish(
            widgets.HBox([widgets.VBox(controls + [self._slider_box]), pictures]),
            self._image_widget,
        )
        self.reset()

    def _dim_label(self, d: int) -> str:
        if self.activity is None:
            return f"z{d}"
        return f"z{d} (activity {self.activity[d]:.2f})"

    def _make_slider(self, d: int, step: float) -> widgets.FloatSlider:
        slider = widgets.FloatSlider(
            value=0.0,
            min=-self.limit,
            max=self.limit,
            step=step,
            description=f"z{d}",
            readout_format=".2f",
            continuous_update=True,
            layout=widgets.Layout(width="420px"),
        )
        slider.observe(lambda change, d=d: self._on_slide(d, change["new"]), names="value")
        return slider

    @property
    def dims(self) -> list[int]:
        """The dimensions whose sliders are visible."""
        return list(self._dims)

    def _set_dims(self, dims) -> None:
        self._dims = [d for d in self.ranked if d in set(dims)]
        self._slider_box.children = [self.sliders[d] for d in self._dims]

    def _on_select(self, change) -> None:
        if change["new"]:
            self._set_dims(change["new"])

    def _on_slide(self, d: int, value: float) -> None:
        self.code[d] = value
        if not self._holding:
            self._refresh()

    def _refresh(self) -> None:
        self.image = self._image(decoded_pixels(self.model, self.code[None])[0])
        self._show(self._image_widget, self.image)

    def set_code(self, code) -> None:
        """Move every slider to code (latent_dim,) (clipped to +-limit) and decode once."""
        code = np.asarray(code, dtype=np.float32).reshape(-1)
        if code.shape != (self.model.latent_dim,):
            raise ValueError(f"code must have shape ({self.model.latent_dim},), got {code.shape}.")
        code = np.clip(code, -self.limit, self.limit)
        self._holding = True
        try:
            for d, slider in enumerate(self.sliders):
                slider.value = float(code[d])
        finally:
            self._holding = False
        self.code = code.copy()
        self._refresh()

    def start_from(self, image) -> None:
        """Set the sliders to the code of an image: an index into ``images`` or one image."""
        if isinstance(image, (int, np.integer)):
            if self.images is None:
                raise ValueError(
                    "start_from(index) needs the images= pool; pass LatentExplorer(model, "
                    "images=...) or give the image itself."
                )
            if not 0 <= image < len(self.images):
                raise ValueError(f"index must be in 0..{len(self.images) - 1}, got {image}.")
            self.source_index = int(image)
            x = self.images[image : image + 1]
        else:
            _check_model(self.model, "start_from", needs_encoder=True)
            self.source_index = None
            x = _as_image(image, "image", self.model)
        self.input_image = self._image(x[0].numpy())
        self._show(self._input_widget, self.input_image, zoom=3)
        self._input_box.layout.display = ""
        self.set_code(mean_codes(self.model, x)[0])
        label = ""
        if self.source_index is not None and self.labels is not None:
            label = f" (a {self.labels[self.source_index]})"
        where = f"image #{self.source_index}" if self.source_index is not None else "your image"
        self._status.value = f"started from the encoder's mean code of {where}{label}"

    def reset(self) -> None:
        """All sliders back to z = 0, the prior mean."""
        self.input_image = None
        self._input_box.layout.display = "none"
        self.source_index = None
        self.set_code(np.zeros(self.model.latent_dim, dtype=np.float32))
        self._status.value = "started from z = 0, the prior mean"

    def static_grid(self, steps: int = 7) -> np.ndarray:
        values = np.linspace(-self.limit, self.limit, steps, dtype=np.float32)
        images = traversal(self.model, self.code, self._dims, values)
        return tile(images.reshape(-1, *self.image_shape), ncols=steps)

    def describe(self) -> str:
        dims = ", ".join(f"z{d}" for d in self._dims)
        return (
            f"LatentExplorer: sliders over {dims} of a {self.model.latent_dim}-d "
            f"{type(self.model).__name__}. Static view: row i sweeps the i-th of these dimensions "
            f"from {-self.limit:g} to {self.limit:g} around the current code; open the notebook "
            "in JupyterLab and run it to slide."
        )


class Interpolator(_LatentView):
    """Decode the path between the codes of two digits, z(t) for t from 0 to 1.

    x_a, x_b: the two images (input_dim,), or indices into ``images`` (then two boxes pick them).
    method: "linear" (a straight line) or "spherical" (an arc, see :func:`slerp`).
    steps: images in the strip. ``.code``/``.image``: z(t) and its decoding now; ``.strip``:
    (steps, height, width) along the whole path; ``.z_a``, ``.z_b``: the endpoint codes.
    """

    def __init__(
        self,
        model,
        x_a,
        x_b,
        images=None,
        labels=None,
        steps: int = 9,
        method: str = "linear",
        zoom: int = 6,
        image_shape=None,
    ):
        _check_model(model, "Interpolator", needs_encoder=True)
        super().__init__(model, image_shape, zoom)
        check_choice("method", method, METHODS)
        check_positive_int("steps", steps)
        if steps < 2:
            raise ValueError(f"steps must be at least 2 (the two endpoints), got {steps}.")
        self.steps = steps
        self.images = None if images is None else as_images(images, model)
        self.labels = None if images is None else _check_labels(labels, len(self.images))
        self.t = widgets.FloatSlider(
            value=0.0, min=0.0, max=1.0, step=0.01, description="t", readout_format=".2f"
        )
        self.method = widgets.ToggleButtons(options=list(METHODS), value=method)
        self._image_widget = widgets.Image(format="png")
        self._strip_widget = widgets.Image(format="png")
        self._ends = [widgets.Image(format="png"), widgets.Image(format="png")]
        self.x = [None, None]
        self.z = [None, None]
        self.pickers = []
        controls = []
        for end, x in enumerate((x_a, x_b)):
            if isinstance(x, (int, np.integer)):
                if self.images is None:
                    raise ValueError(
                        "x_a and x_b are indices, so Interpolator needs images=... to pick from."
                    )
                picker = widgets.BoundedIntText(
                    value=int(x),
                    min=0,
                    max=len(self.images) - 1,
                    description="AB"[end] + " #",
                    layout=_NARROW,
                )
                picker.observe(lambda c, end=end: self._set_end(end, c["new"]), names="value")
                self.pickers.append(picker)
                controls.append(picker)
            self._set_end(end, x, refresh=False)
        self.t.observe(lambda _: self._refresh(), names="value")
        self.method.observe(lambda _: self._refresh_path(), names="value")
        self._refresh_path()
        self.view = self._finish(
            widgets.VBox(
                [
                    widgets.HBox(controls + [self.method]),
                    widgets.HBox([self.t, self._image_widget]),
                    widgets.Label(f"the whole path, {steps} steps from A (left) to B (right)"),
                    widgets.HBox([self._ends[0], self._strip_widget, self._ends[1]]),
                ]
            ),
            self._image_widget,
        )

    @property
    def z_a(self) -> np.ndarray:
        return self.z[0]

    @property
    def z_b(self) -> np.ndarray:
        return self.z[1]

    def _set_end(self, end: int, x, refresh: bool = True) -> None:
        name = ("x_a", "x_b")[end]
        if isinstance(x, (int, np.integer)):
            if self.images is None or not 0 <= x < len(self.images):
                raise ValueError(f"{name} index {x} is not an image of the pool.")
            image = self.images[x : x + 1]
        else:
            image = _as_image(x, name, self.model)
        self.x[end] = image
        self.z[end] = mean_codes(self.model, image)[0]
        self._show(self._ends[end], self._image(image[0].numpy()), zoom=3)
        if refresh:
            self._refresh_path()

    def codes(self, ts, method: str | None = None) -> np.ndarray:
        """z(t) for each t in ts: (len(ts), latent_dim)."""
        return interpolate(self.z[0], self.z[1], ts, method or self.method.value)

    def _refresh_path(self) -> None:
        ts = np.linspace(0.0, 1.0, self.steps)
        self.strip = decoded_pixels(self.model, self.codes(ts)).reshape(-1, *self.image_shape)
        self._show(self._strip_widget, tile(self.strip, ncols=self.steps, pad=0), zoom=3)
        self._refresh()

    def _refresh(self) -> None:
        self.code = self.codes([self.t.value])[0]
        self.image = self._image(decoded_pixels(self.model, self.code[None])[0])
        self._show(self._image_widget, self.image)

    def static_grid(self) -> np.ndarray:
        ts = np.linspace(0.0, 1.0, self.steps)
        rows = []
        for method in METHODS:
            path = decoded_pixels(self.model, self.codes(ts, method)).reshape(-1, *self.image_shape)
            ends = [x[0].numpy().reshape(self.image_shape) for x in self.x]
            rows.append(np.concatenate([ends[0][None], path, ends[1][None]]))
        return tile(np.concatenate(rows), ncols=self.steps + 2)

    def describe(self) -> str:
        return (
            f"Interpolator: {self.steps} decoded steps from digit A to digit B in the latent space "
            f"of a {self.model.latent_dim}-d {type(self.model).__name__}. Static view: top row "
            "linear, bottom row spherical; the first and last columns are the input images."
        )


class PriorSampler(_LatentView):
    """A grid of decoded prior samples: z = T * eps, eps ~ N(0, I), image = E[x|z].

    n: samples per grid. seed: the same seed gives the same sequence of grids. temperature T
    scales the draws (T < 1: safer, more typical digits; T > 1: more varied, more broken ones);
    moving its slider re-decodes the same eps. The button draws new eps.
    ``.eps`` (n, latent_dim), ``.codes`` = T * eps, ``.images`` (n, height, width).
    """

    def __init__(
        self,
        model,
        n: int = 32,
        ncols: int = 8,
        temperature: float = 1.0,
        seed: int = 0,
        zoom: int = 3,
        image_shape=None,
    ):
        _check_model(model, "PriorSampler", needs_prior=True)
        super().__init__(model, image_shape, zoom)
        check_positive_int("n", n)
        check_positive_int("ncols", ncols)
        if not 0 <= temperature <= 3:
            raise ValueError(f"temperature must be between 0 and 3, got {temperature}.")
        self.n, self.ncols, self.seed = n, ncols, seed
        self.generator = torch.Generator().manual_seed(seed)
        self.draws = 0
        self.temperature = widgets.FloatSlider(
            value=temperature, min=0.0, max=3.0, step=0.05, description="temperature"
        )
        self.button = widgets.Button(description="new samples")
        self._grid_widget = widgets.Image(format="png")
        self._status = widgets.Label()
        self.button.on_click(lambda _: self.resample())
        self.temperature.observe(lambda _: self._refresh(), names="value")
        self.view = self._finish(
            widgets.VBox(
                [widgets.HBox([self.button, self.temperature, self._status]), self._grid_widget]
            ),
            self._grid_widget,
        )
        self.resample()

    def resample(self) -> None:
        """Draw n fresh eps ~ N(0, I) from the seeded generator and decode them."""
        self.eps = torch.randn(self.n, self.model.latent_dim, generator=self.generator).numpy()
        self.draws += 1
        self._refresh()

    def _refresh(self) -> None:
        self.codes = (np.float32(self.temperature.value) * self.eps).astype(np.float32)
        self.images = decoded_pixels(self.model, self.codes).reshape(-1, *self.image_shape)
        self._show(self._grid_widget, tile(self.images, self.ncols))
        self._status.value = f"draw {self.draws} (seed {self.seed})"

    def static_grid(self) -> np.ndarray:
        return tile(self.images, self.ncols)

    def describe(self) -> str:
        return (
            f"PriorSampler: {self.n} decoded samples z ~ N(0, T^2 I), T = "
            f"{self.temperature.value:g}, from a {self.model.latent_dim}-d "
            f"{type(self.model).__name__} (seed {self.seed}, draw {self.draws})."
        )


class AttributeSlider(_LatentView):
    """Move an image's code along an attribute direction: z = mu(x) + alpha * v.

    images: (n, input_dim) pool to pick the image from (``index``). directions: one vector v
    (latent_dim,) or a dict {name: v} (then a menu picks one). limit: alpha spans [-limit, limit].
    ``.code``, ``.image``: now; ``.strip``: (steps, height, width) for alpha from -limit to limit;
    ``.ink``: the expected ink (pixel mass) of ``.image``, as a readout of the attribute.
    """

    def __init__(
        self,
        model,
        images,
        directions,
        labels=None,
        index: int = 0,
        limit: float = 2.0,
        steps: int = 9,
        zoom: int = 6,
        image_shape=None,
    ):
        _check_model(model, "AttributeSlider", needs_encoder=True)
        super().__init__(model, image_shape, zoom)
        self.images = as_images(images, model)
        self.labels = _check_labels(labels, len(self.images))
        if not isinstance(directions, dict):
            directions = {"attribute": directions}
        if not directions:
            raise ValueError("directions is empty; pass a vector or a dict {name: vector}.")
        self.directions = {}
        for name, v in directions.items():
            v = to_numpy(v, np.float32)
            if v.shape != (model.latent_dim,) or not np.isfinite(v).all():
                raise ValueError(
                    f"direction {name!r} must be a finite vector of shape ({model.latent_dim},) "
                    f"(a difference of codes); got shape {v.shape}."
                )
            self.directions[name] = v
        check_positive_int("steps", steps)
        if not 0 <= index < len(self.images):
            raise ValueError(f"index must be in 0..{len(self.images) - 1}, got {index}.")
        self.limit, self.steps = float(limit), steps
        self.alpha = widgets.FloatSlider(
            value=0.0, min=-limit, max=limit, step=0.05, description="alpha", readout_format=".2f"
        )
        self.direction = widgets.Dropdown(options=list(self.directions), description="direction")
        self.index = widgets.BoundedIntText(
            value=index, min=0, max=len(self.images) - 1, description="image #", layout=_NARROW
        )
        self._image_widget = widgets.Image(format="png")
        self._strip_widget = widgets.Image(format="png")
        self._readout = widgets.Label()
        self.alpha.observe(lambda _: self._refresh(), names="value")
        self.direction.observe(lambda _: self._refresh_path(), names="value")
        self.index.observe(lambda c: self._pick(c["new"]), names="value")
        controls = [self.index] + ([self.direction] if len(self.directions) > 1 else [])
        self.view = self._finish(
            widgets.VBox(
                [
                    widgets.HBox(controls),
                    widgets.HBox([self.alpha, self._image_widget, self._readout]),
                    widgets.Label(f"alpha from {-limit:g} (left) to {limit:g} (right)"),
                    self._strip_widget,
                ]
            ),
            self._image_widget,
        )
        self._pick(index)

    def _pick(self, index: int) -> None:
        if not 0 <= index < len(self.images):
            raise ValueError(f"index must be in 0..{len(self.images) - 1}, got {index}.")
        self.base_code = mean_codes(self.model, self.images[index : index + 1])[0]
        self._refresh_path()

    @property
    def vector(self) -> np.ndarray:
        return self.directions[self.direction.value]

    def alphas(self) -> np.ndarray:
        return np.linspace(-self.limit, self.limit, self.steps, dtype=np.float32)

    def path(self, name: str | None = None) -> np.ndarray:
        """Decoded images (steps, height, width) along one direction for the current image."""
        v = self.directions[name or self.direction.value]
        codes = self.base_code[None] + self.alphas()[:, None] * v[None]
        return decoded_pixels(self.model, codes).reshape(-1, *self.image_shape)

    def _refresh_path(self) -> None:
        self.strip = self.path()
        self._show(self._strip_widget, tile(self.strip, self.steps, pad=0), zoom=3)
        self._refresh()

    def _refresh(self) -> None:
        self.code = self.base_code + np.float32(self.alpha.value) * self.vector
        self.image = self._image(decoded_pixels(self.model, self.code[None])[0])
        self._show(self._image_widget, self.image)
        self.ink = float(self.image.sum(dtype=np.float64))
        self._readout.value = f"ink: {self.ink:.1f} pixels"

    def static_grid(self) -> np.ndarray:
        rows = [self.path(name) for name in self.directions]
        return tile(np.concatenate(rows), ncols=self.steps)

    def describe(self) -> str:
        names = ", ".join(self.directions)
        return (
            f"AttributeSlider: image #{self.index.value} moved along {names} in the latent space "
            f"of a {self.model.latent_dim}-d {type(self.model).__name__}. Static view: one row "
            f"per direction, alpha from {-self.limit:g} to {self.limit:g}."
        )
