"""Headless tests of the latent-space widgets: set a control's value, check the image it made.

Small untrained models keep these fast; what is tested (the view shows exactly what the decoder
gives for the code it holds) does not need training.
"""

from __future__ import annotations

import base64
import io
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from IPython.core.formatters import DisplayFormatter
from PIL import Image

from vae_tutorial import images, latent_space
from vae_tutorial import widgets as W
from vae_tutorial.models import VAE, Autoencoder

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(scope="module")
def vae():
    torch.manual_seed(0)
    return VAE(latent_dim=8, hidden_dim=32).eval()


@pytest.fixture(scope="module")
def data():
    generator = torch.Generator().manual_seed(1)
    x = torch.bernoulli(torch.full((40, 784), 0.3), generator=generator)
    y = torch.arange(40) % 4
    return x, y


def decoded(model, code) -> np.ndarray:
    """The decoder's own output for one code (latent_dim,): (28, 28)."""
    with torch.no_grad():
        z = torch.from_numpy(np.asarray(code, dtype=np.float32))[None]
        return model.decode_mean(z)[0].numpy().reshape(28, 28)


def mean_code(model, x) -> np.ndarray:
    with torch.no_grad():
        return model.encoder_params(x.reshape(1, -1))[0][0].numpy()


def read_png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


# ---------------------------------------------------------------------------------------------
# PNG and pixels
# ---------------------------------------------------------------------------------------------


def test_png_bytes_round_trip_through_pillow():
    pixels = np.random.default_rng(0).integers(0, 256, size=(13, 7), dtype=np.uint8)
    decoded_pixels = read_png(images.png_bytes(pixels))
    assert decoded_pixels.shape == (13, 7)
    np.testing.assert_array_equal(decoded_pixels, pixels)


def test_png_bytes_rejects_float_input():
    with pytest.raises(ValueError, match="uint8"):
        images.png_bytes(np.zeros((4, 4)))


def test_to_pixels_is_dark_ink_on_white_and_zooms():
    out = images.to_pixels(np.array([[0.0, 1.0], [0.5, 0.25]]), zoom=3)
    assert out.shape == (6, 6) and out.dtype == np.uint8
    assert out[0, 0] == 255 and out[0, 3] == 0 and out[3, 0] == 128 and out[5, 5] == 191


def test_tile_places_images_in_rows():
    stack = np.stack([np.full((2, 3), v, dtype=np.float32) for v in (0.2, 0.4, 0.6)])
    canvas = images.tile(stack, ncols=2, pad=1, background=0.0)
    assert canvas.shape == (2 * 3 + 1, 2 * 4 + 1)
    assert canvas[1, 1] == pytest.approx(0.2)
    assert canvas[1, 5] == pytest.approx(0.4)
    assert canvas[4, 1] == pytest.approx(0.6)
    assert canvas[4, 5] == 0.0  # the empty fourth cell


# ---------------------------------------------------------------------------------------------
# Interpolation and attribute vectors (plain functions)
# ---------------------------------------------------------------------------------------------


def test_lerp_and_slerp_endpoints_are_exact():
    rng = np.random.default_rng(0)
    z_a, z_b = rng.normal(size=5), rng.normal(size=5)
    for step in (latent_space.lerp, latent_space.slerp):
        np.testing.assert_array_equal(step(z_a, z_b, 0.0), z_a)
        np.testing.assert_array_equal(step(z_a, z_b, 1.0), z_b)


def test_slerp_moves_at_constant_angular_speed_between_codes_of_equal_length():
    rng = np.random.default_rng(1)
    z_a, z_b = rng.normal(size=6), rng.normal(size=6)
    z_b *= np.linalg.norm(z_a) / np.linalg.norm(z_b)
    omega = math.acos(z_a @ z_b / np.linalg.norm(z_a) / np.linalg.norm(z_b))
    for t in (0.2, 0.5, 0.9):
        z = latent_space.slerp(z_a, z_b, t)
        angle = math.acos(z @ z_a / np.linalg.norm(z) / np.linalg.norm(z_a))
        assert angle == pytest.approx(t * omega, abs=1e-9)


def test_slerp_keeps_the_norm_between_codes_of_equal_length():
    rng = np.random.default_rng(2)
    z_a, z_b = rng.normal(size=4), rng.normal(size=4)
    z_b *= np.linalg.norm(z_a) / np.linalg.norm(z_b)
    for t in np.linspace(0, 1, 7):
        assert np.linalg.norm(latent_space.slerp(z_a, z_b, t)) == pytest.approx(np.linalg.norm(z_a))


def test_slerp_falls_back_to_a_line_for_parallel_codes():
    z = np.array([1.0, 2.0])
    np.testing.assert_allclose(latent_space.slerp(z, 3 * z, 0.5), 2 * z)
    np.testing.assert_allclose(latent_space.slerp(np.zeros(2), z, 0.5), 0.5 * z)


def test_attribute_vector_is_a_difference_of_means():
    codes = np.arange(12, dtype=np.float32).reshape(6, 2)
    has = np.array([1, 1, 0, 0, 0, 0], bool)
    lacks = np.array([0, 0, 0, 0, 1, 1], bool)
    np.testing.assert_allclose(latent_space.attribute_vector(codes, has, lacks), [-8.0, -8.0])
    with pytest.raises(ValueError, match="at least one"):
        latent_space.attribute_vector(codes, np.zeros(6, bool), lacks)


def test_thickness_vector_compares_the_inkiest_and_lightest_quarters(vae):
    generator = torch.Generator().manual_seed(3)
    x = torch.rand(20, 784, generator=generator) * torch.linspace(0.1, 1.0, 20)[:, None]
    with torch.no_grad():
        codes = vae.encoder_params(x)[0].numpy()
    order = np.argsort(x.sum(1).numpy())
    expected = codes[order[-5:]].mean(0) - codes[order[:5]].mean(0)
    np.testing.assert_allclose(
        latent_space.thickness_vector(vae, x), expected, rtol=1e-5, atol=1e-6
    )


def test_thickness_vector_with_labels_averages_within_class_differences(vae):
    generator = torch.Generator().manual_seed(4)
    x = torch.rand(16, 784, generator=generator)
    labels = np.array([0] * 8 + [1] * 8)
    with torch.no_grad():
        codes = vae.encoder_params(x)[0].numpy()
    mass = x.sum(1).numpy()
    parts = []
    for c in (0, 1):
        idx = np.flatnonzero(labels == c)
        order = idx[np.argsort(mass[idx])]
        parts.append(codes[order[-2:]].mean(0) - codes[order[:2]].mean(0))
    got = latent_space.thickness_vector(vae, x, labels=labels)
    np.testing.assert_allclose(got, np.mean(parts, 0), rtol=1e-5, atol=1e-6)


def test_class_vector_points_from_source_to_target(vae, data):
    x, y = data
    with torch.no_grad():
        codes = vae.encoder_params(x)[0].numpy()
    got = latent_space.class_vector(vae, x, y, source=1, target=3)
    expected = codes[y.numpy() == 3].mean(0) - codes[y.numpy() == 1].mean(0)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_latent_activity_is_the_variance_of_the_mean_codes(vae, data):
    x, _ = data
    with torch.no_grad():
        mu = vae.encoder_params(x)[0].double().numpy()
    np.testing.assert_allclose(latent_space.latent_activity(vae, x), mu.var(0), rtol=1e-5)


# ---------------------------------------------------------------------------------------------
# LatentExplorer
# ---------------------------------------------------------------------------------------------


def test_latent_space_operations_need_no_widgets():
    code = "import sys; import vae_tutorial.latent_space; sys.exit('ipywidgets' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_slider_events_leave_the_thread_count_alone(vae, monkeypatch):
    explorer = W.LatentExplorer(vae)

    def refuse(n):
        raise AssertionError("a slider event changed the process's torch threads")

    monkeypatch.setattr(torch, "set_num_threads", refuse)
    explorer.sliders[0].value = 1.0


def test_slider_change_shows_exactly_the_decoded_code(vae):
    explorer = W.LatentExplorer(vae)
    before = explorer._image_widget.value
    explorer.sliders[2].value = 1.25
    expected_code = np.zeros(8, dtype=np.float32)
    expected_code[2] = 1.25
    np.testing.assert_array_equal(explorer.code, expected_code)
    np.testing.assert_array_equal(explorer.image, decoded(vae, expected_code))
    # The existing Image widget got new PNG bytes of exactly those pixels.
    assert explorer._image_widget.value != before
    shown = read_png(explorer._image_widget.value)
    np.testing.assert_array_equal(shown, W.to_pixels(explorer.image, explorer.zoom))


def test_every_slider_moves_its_own_dimension(vae):
    explorer = W.LatentExplorer(vae)
    for d, value in ((0, -0.5), (7, 2.0), (0, 0.75)):
        explorer.sliders[d].value = value
        assert explorer.code[d] == np.float32(value)
        np.testing.assert_array_equal(explorer.image, decoded(vae, explorer.code))
    assert explorer.code[7] == np.float32(2.0)


def test_the_views_keep_their_image_widgets(vae):
    explorer = W.LatentExplorer(vae)
    image_widget = explorer._image_widget
    for value in np.linspace(-1, 1, 5):
        explorer.sliders[1].value = float(value)
    assert explorer._image_widget is image_widget
    assert image_widget in explorer.view.children[1].children


def test_top_k_shows_the_most_active_dimensions_and_the_selector_changes_them(vae, data):
    x, y = data
    explorer = W.LatentExplorer(vae, images=x, labels=y, top_k=3)
    activity = W.latent_activity(vae, x)
    assert explorer.dims == list(np.argsort(-activity)[:3])
    assert list(explorer._slider_box.children) == [explorer.sliders[d] for d in explorer.dims]
    explorer.selector.value = (5, 1)
    assert set(explorer.dims) == {5, 1}
    assert set(explorer._slider_box.children) == {explorer.sliders[1], explorer.sliders[5]}


def test_small_models_get_one_slider_per_dimension_and_no_selector():
    model = VAE(latent_dim=2, hidden_dim=8)
    explorer = W.LatentExplorer(model)
    assert explorer.dims == [0, 1] and explorer.selector is None


def test_start_from_an_image_sets_the_sliders_to_its_mean_code(vae, data):
    x, y = data
    explorer = W.LatentExplorer(vae, images=x, labels=y, limit=10.0)
    explorer.index.value = 7
    explorer.start_button.click()
    mu = mean_code(vae, x[7])
    np.testing.assert_allclose(explorer.code, mu, rtol=0, atol=1e-7)
    assert [s.value for s in explorer.sliders] == pytest.approx(mu.tolist(), abs=1e-7)
    np.testing.assert_array_equal(explorer.image, decoded(vae, explorer.code))
    np.testing.assert_array_equal(explorer.input_image, x[7].numpy().reshape(28, 28))
    assert "image #7" in explorer._status.value


def test_start_from_clips_codes_to_the_slider_range(vae, data):
    x, _ = data
    explorer = W.LatentExplorer(vae, limit=0.01)
    explorer.start_from(x[0])
    assert np.abs(explorer.code).max() <= 0.01 + 1e-7


def test_reset_goes_back_to_the_prior_mean(vae, data):
    x, _ = data
    explorer = W.LatentExplorer(vae, images=x)
    explorer.start_from(3)
    explorer.reset_button.click()
    np.testing.assert_array_equal(explorer.code, np.zeros(8, dtype=np.float32))
    np.testing.assert_array_equal(explorer.image, decoded(vae, np.zeros(8)))
    assert all(s.value == 0 for s in explorer.sliders)
    assert explorer.input_image is None and explorer._input_box.layout.display == "none"


def test_explorer_works_with_an_autoencoder(data):
    x, _ = data
    torch.manual_seed(0)
    ae = Autoencoder(latent_dim=3, hidden_dim=16).eval()
    explorer = W.LatentExplorer(ae, images=x)
    explorer.start_from(0)
    with torch.no_grad():
        expected = ae.encode(x[:1])[0].numpy()
    np.testing.assert_allclose(explorer.code, np.clip(expected, -4, 4), atol=1e-7)


# ---------------------------------------------------------------------------------------------
# Interpolator
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["linear", "spherical"])
def test_interpolation_endpoints_reproduce_the_two_encoded_digits(vae, data, method):
    x, _ = data
    interpolator = W.Interpolator(vae, x[0], x[1], method=method, steps=5)
    z_a, z_b = mean_code(vae, x[0]), mean_code(vae, x[1])
    np.testing.assert_array_equal(interpolator.z_a, z_a)
    np.testing.assert_array_equal(interpolator.code, z_a)  # t starts at 0
    np.testing.assert_array_equal(interpolator.image, decoded(vae, z_a))
    interpolator.t.value = 1.0
    np.testing.assert_array_equal(interpolator.code, z_b)
    np.testing.assert_array_equal(interpolator.image, decoded(vae, z_b))
    np.testing.assert_allclose(interpolator.strip[0], decoded(vae, z_a), atol=1e-6)
    np.testing.assert_allclose(interpolator.strip[-1], decoded(vae, z_b), atol=1e-6)


def test_interpolation_slider_and_method_update_the_image(vae, data):
    x, _ = data
    interpolator = W.Interpolator(vae, x[2], x[3])
    interpolator.t.value = 0.3
    z_a, z_b = mean_code(vae, x[2]), mean_code(vae, x[3])
    np.testing.assert_allclose(interpolator.code, 0.7 * z_a + 0.3 * z_b, atol=1e-6)
    np.testing.assert_array_equal(interpolator.image, decoded(vae, interpolator.code))
    linear_strip = interpolator.strip.copy()
    interpolator.method.value = "spherical"
    expected = W.slerp(z_a, z_b, 0.3).astype(np.float32)
    np.testing.assert_array_equal(interpolator.code, expected)
    np.testing.assert_array_equal(interpolator.image, decoded(vae, expected))
    assert not np.array_equal(interpolator.strip, linear_strip)


def test_interpolation_pickers_choose_digits_from_a_pool(vae, data):
    x, y = data
    interpolator = W.Interpolator(vae, 0, 1, images=x, labels=y)
    interpolator.pickers[1].value = 9
    interpolator.t.value = 1.0
    np.testing.assert_array_equal(interpolator.z_b, mean_code(vae, x[9]))
    np.testing.assert_array_equal(interpolator.image, decoded(vae, mean_code(vae, x[9])))


# ---------------------------------------------------------------------------------------------
# PriorSampler
# ---------------------------------------------------------------------------------------------


def test_prior_sampler_is_seeded(vae):
    one, two = W.PriorSampler(vae, n=6, seed=5), W.PriorSampler(vae, n=6, seed=5)
    np.testing.assert_array_equal(one.images, two.images)
    one.button.click()
    two.resample()
    np.testing.assert_array_equal(one.images, two.images)
    other = W.PriorSampler(vae, n=6, seed=6)
    assert not np.array_equal(other.eps, two.eps)


def test_prior_sampler_decodes_temperature_times_standard_normal_draws(vae):
    sampler = W.PriorSampler(vae, n=4, seed=2, temperature=0.5)
    eps = torch.randn(4, 8, generator=torch.Generator().manual_seed(2))
    np.testing.assert_array_equal(sampler.eps, eps.numpy())
    with torch.no_grad():
        expected = vae.decode_mean(0.5 * eps).numpy().reshape(4, 28, 28)
    np.testing.assert_allclose(sampler.images, expected, atol=1e-6)
    sampler.temperature.value = 1.5  # same draws, re-decoded
    np.testing.assert_array_equal(sampler.eps, eps.numpy())
    with torch.no_grad():
        expected = vae.decode_mean(1.5 * eps).numpy().reshape(4, 28, 28)
    np.testing.assert_allclose(sampler.images, expected, atol=1e-6)


def test_new_samples_button_draws_fresh_codes(vae):
    sampler = W.PriorSampler(vae, n=4, seed=0)
    first = sampler.eps.copy()
    sampler.button.click()
    assert sampler.draws == 2 and not np.array_equal(first, sampler.eps)


# ---------------------------------------------------------------------------------------------
# AttributeSlider
# ---------------------------------------------------------------------------------------------


def test_attribute_slider_moves_the_code_along_the_direction(vae, data):
    x, y = data
    v = np.linspace(-1, 1, 8).astype(np.float32)
    slider = W.AttributeSlider(vae, x, {"up": v, "down": -v}, index=4)
    base = mean_code(vae, x[4])
    np.testing.assert_array_equal(slider.base_code, base)
    slider.alpha.value = 1.5
    np.testing.assert_allclose(slider.code, base + 1.5 * v, atol=1e-6)
    np.testing.assert_array_equal(slider.image, decoded(vae, slider.code))
    assert slider.ink == pytest.approx(float(decoded(vae, slider.code).sum()), rel=1e-6)
    slider.direction.value = "down"
    np.testing.assert_allclose(slider.code, base - 1.5 * v, atol=1e-6)
    slider.index.value = 5
    np.testing.assert_array_equal(slider.base_code, mean_code(vae, x[5]))
    assert slider.strip.shape == (9, 28, 28)


# ---------------------------------------------------------------------------------------------
# Static fallbacks
# ---------------------------------------------------------------------------------------------


def all_views(vae, data):
    x, y = data
    v = np.ones(8, dtype=np.float32)
    return [
        W.LatentExplorer(vae, images=x, labels=y, top_k=3),
        W.Interpolator(vae, x[0], x[1]),
        W.PriorSampler(vae, n=8),
        W.AttributeSlider(vae, x, v),
    ]


def test_every_view_offers_a_png_and_a_readable_text_beside_the_widget(vae, data):
    for view in all_views(vae, data):
        bundle = view._repr_mimebundle_()
        assert bundle[WIDGET_MIME]["model_id"] == view.view.model_id
        picture = read_png(base64.b64decode(bundle["image/png"]))
        assert picture.ndim == 2 and picture.shape[0] > 28 and picture.shape[1] > 28
        assert picture.min() < picture.max()  # not a blank picture
        text = bundle["text/plain"]
        assert text.startswith(type(view).__name__) and "Box(" not in text


def test_ipython_formats_views_with_the_png_fallback(vae, data):
    formatter = DisplayFormatter()
    for view in all_views(vae, data):
        formatted, _ = formatter.format(view)
        assert {"image/png", "text/plain", WIDGET_MIME} <= set(formatted)


def test_static_grid_shows_the_same_content(vae, data):
    x, _ = data
    sampler = W.PriorSampler(vae, n=8, ncols=4)
    np.testing.assert_array_equal(sampler.static_grid(), W.tile(sampler.images, 4))
    explorer = W.LatentExplorer(vae, dims=[3], limit=3.0)
    grid = explorer.static_grid(steps=3)
    expected = W.traversal(vae, explorer.code, [3], np.array([-3, 0, 3], np.float32))
    np.testing.assert_array_equal(grid[1:29, 1:29], expected[0, 0].reshape(28, 28))


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------


def test_a_model_without_a_decoder_is_refused():
    for make in (
        lambda m: W.LatentExplorer(m),
        lambda m: W.PriorSampler(m),
        lambda m: W.Interpolator(m, torch.zeros(784), torch.zeros(784)),
    ):
        with pytest.raises(ValueError, match="needs a model with a decoder"):
            make(torch.nn.Linear(784, 20))


def test_an_autoencoder_cannot_feed_the_prior_sampler():
    with pytest.raises(ValueError, match="PriorSampler needs a model with a prior"):
        W.PriorSampler(Autoencoder(latent_dim=2, hidden_dim=8))


@pytest.mark.parametrize("bad_shape", [(10,), (2, 784), (784, 1), (1, 28, 28), (14, 56)], ids=str)
def test_wrong_image_shapes_are_named(vae, bad_shape):
    with pytest.raises(ValueError, match=r"x_b must be one image with 784 pixels"):
        W.Interpolator(vae, torch.zeros(784), torch.zeros(bad_shape))


def test_images_of_28_by_28_are_accepted(vae, data):
    x, _ = data
    interpolator = W.Interpolator(vae, x[0].reshape(28, 28), x[1].numpy())
    np.testing.assert_array_equal(interpolator.z_a, mean_code(vae, x[0]))


def test_other_bad_inputs_get_clear_errors(vae, data):
    x, y = data
    with pytest.raises(ValueError, match="outside"):
        W.Interpolator(vae, 255 * x[0], x[1])
    with pytest.raises(ValueError, match="method='cubic'"):
        W.Interpolator(vae, x[0], x[1], method="cubic")
    with pytest.raises(ValueError, match="images"):
        W.Interpolator(vae, 0, 1)
    with pytest.raises(ValueError, match=r"labels must have shape \(40,\)"):
        W.LatentExplorer(vae, images=x, labels=y[:5])
    with pytest.raises(ValueError, match=r"images must be a batch .* \(n, 784\)"):
        W.LatentExplorer(vae, images=x[:, :100])
    with pytest.raises(ValueError, match="dims must list"):
        W.LatentExplorer(vae, dims=[8])
    with pytest.raises(ValueError, match=r"direction 'v' must be a finite vector of shape \(8,\)"):
        W.AttributeSlider(vae, x, {"v": np.ones(3)})
    with pytest.raises(ValueError, match="index must be in"):
        W.AttributeSlider(vae, x, np.ones(8), index=40)
    with pytest.raises(ValueError, match="needs the images= pool"):
        W.LatentExplorer(vae).start_from(0)
    with pytest.raises(ValueError, match="image_shape"):
        W.PriorSampler(vae, image_shape=(20, 20))


def test_an_html_export_without_widget_state_shows_the_picture(vae, data):
    nbformat = pytest.importorskip("nbformat")
    nbconvert = pytest.importorskip("nbconvert")
    view = W.PriorSampler(vae, n=8)
    formatted, _ = DisplayFormatter().format(view)
    cell = nbformat.v4.new_code_cell("W.PriorSampler(vae)", execution_count=1)
    cell.outputs = [nbformat.v4.new_output("execute_result", data=formatted, execution_count=1)]
    notebook = nbformat.v4.new_notebook(cells=[cell])
    html, _ = nbconvert.HTMLExporter().from_notebook_node(notebook)
    assert f"data:image/png;base64,{formatted['image/png'][:64]}" in html
    assert "widget-view+json" not in html
