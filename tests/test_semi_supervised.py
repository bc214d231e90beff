"""The M2 model's objectives against independent computations with torch.distributions."""

import math

import pytest
import torch
from torch.distributions import Bernoulli, Categorical, Independent, Normal, kl_divergence
from torch.nn import functional as F

from vae_tutorial import semi_supervised as ss

# Statistical checks allow this many Monte-Carlo standard errors.
K_SE = 5
LOG2 = math.log(2.0)


def small_model(seed=0):
    torch.manual_seed(seed)
    return ss.M2(latent_dim=3, hidden_dim=16)


def binary_images(n, seed=1):
    return torch.bernoulli(torch.rand(n, 784, generator=torch.Generator().manual_seed(seed)))


def explicit_labelled_elbo(model, x, y, eps):
    """L(x, y) written with distribution objects and an explicit one-hot input."""
    one_hot = F.one_hot(y, 10).float()
    hidden = torch.relu(model.encoder_x(x) + one_hot @ model.encoder_y.weight.t())
    mu, log_sigma = model.encoder_out(hidden).chunk(2, dim=-1)
    q_z = Independent(Normal(mu, log_sigma.exp()), 1)
    z = mu + log_sigma.exp() * eps
    hidden = torch.relu(model.decoder_z(z) + one_hot @ model.decoder_y.weight.t())
    log_px = Independent(Bernoulli(logits=model.decoder_out(hidden)), 1).log_prob(x)
    prior = Independent(Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
    log_py = Categorical(probs=torch.full((10,), 0.1)).log_prob(y)
    return log_px + log_py - kl_divergence(q_z, prior)


def test_labelled_elbo_matches_an_explicit_computation():
    model, x = small_model(), binary_images(6)
    y = torch.tensor([0, 3, 9, 1, 1, 7])
    eps = torch.randn(6, 3)
    with torch.no_grad():
        ours = ss.labelled_elbo(model, x, y, eps=eps)
        theirs = explicit_labelled_elbo(model, x, y, eps)
    assert ours.shape == (6,)
    assert torch.allclose(ours, theirs, rtol=1e-5, atol=1e-4)


def test_unlabelled_elbo_equals_the_explicit_sum_over_labels():
    model, x = small_model(), binary_images(5)
    eps = torch.randn(10, 5, 3)
    with torch.no_grad():
        ours = ss.unlabelled_elbo(model, x, eps=eps)
        table = torch.stack(
            [explicit_labelled_elbo(model, x, torch.full((5,), k), eps[k]) for k in range(10)], -1
        )
        probs = torch.softmax(model.classifier(x), -1)
        entropy = -(probs * probs.log()).sum(-1)
        explicit = (probs * table).sum(-1) + entropy
    assert ours.shape == (5,)
    assert torch.allclose(ss.elbo_table(model, x, eps=eps), table, rtol=1e-5, atol=1e-4)
    assert torch.allclose(ours, explicit, rtol=1e-5, atol=1e-4)


def test_enumeration_agrees_with_monte_carlo_over_labels():
    model, x = small_model(2), binary_images(4, seed=3)
    eps = torch.randn(10, 4, 3)
    draws = 4000
    with torch.no_grad():
        exact = ss.unlabelled_elbo(model, x, eps=eps)
        q_y = model.classify(x)
        y = q_y.sample((draws,))  # (draws, 4)
        noise = eps[y, torch.arange(4)]  # the noise the enumeration used for label y
        values = ss.labelled_elbo(model, x, y, eps=noise) - q_y.log_prob(y)
    mc, se = values.mean(0), values.std(0) / math.sqrt(draws)
    assert (se > 0).all()
    assert ((mc - exact).abs() < K_SE * se).all()


def zero_decoder(model):
    with torch.no_grad():
        for layer in (model.decoder_z, model.decoder_y, model.decoder_out):
            for p in layer.parameters():
                p.zero_()
    return model


def test_labelled_elbo_of_a_zero_decoder_and_encoder_is_known():
    model = zero_decoder(small_model())
    with torch.no_grad():
        model.encoder_out.weight.zero_()
        model.encoder_out.bias.zero_()  # q(z|x,y) = N(0, I) = p(z): KL = 0
        x, y = binary_images(4), torch.tensor([0, 5, 9, 2])
        value = ss.labelled_elbo(model, x, y)
    expected = -784 * LOG2 - math.log(10)  # every pixel has probability 1/2; p(y) = 1/10
    assert torch.allclose(value, torch.full((4,), expected), atol=1e-3)


def test_zero_decoder_leaves_minus_the_kl_and_the_entropy():
    model = zero_decoder(small_model(3))
    x = binary_images(5)
    y = torch.arange(5)
    with torch.no_grad():
        q_z = model.encode(x, y)
        prior = Independent(Normal(torch.zeros(3), torch.ones(3)), 1)
        expected = -784 * LOG2 - math.log(10) - kl_divergence(q_z, prior)
        assert torch.allclose(ss.labelled_elbo(model, x, y), expected, atol=1e-3)
        model.classifier.net[-1].weight.zero_()
        model.classifier.net[-1].bias.zero_()  # q(y|x) uniform: H = log 10
        kl_all = torch.stack(
            [kl_divergence(model.encode(x, torch.full((5,), k)), prior) for k in range(10)], -1
        )
        unlabelled = ss.unlabelled_elbo(model, x)
    assert torch.allclose(unlabelled, -784 * LOG2 - kl_all.mean(-1), atol=1e-3)


def test_objective_combines_the_terms():
    model, x_l, x_u = small_model(), binary_images(4), binary_images(6, seed=5)
    y_l = torch.tensor([1, 2, 3, 4])
    torch.manual_seed(7)
    ours = ss.m2_objective(model, x_l, y_l, x_u, alpha=3.0)
    torch.manual_seed(7)  # the same noise, drawn in the same order: labelled first
    labelled = ss.labelled_elbo(model, x_l, y_l)
    unlabelled = ss.unlabelled_elbo(model, x_u).mean()
    log_q = Categorical(logits=model.classifier(x_l)).log_prob(y_l)
    assert torch.allclose(ours, unlabelled + (labelled + 3.0 * log_q).mean(), atol=1e-3)
    assert torch.allclose(ss.classification_log_likelihood(model, x_l, y_l), log_q)


@pytest.mark.parametrize("bad, message", [(10, "label 10, outside 0-9"), (-1, "label -1")])
def test_labels_outside_0_to_9_are_refused(bad, message):
    model, x = small_model(), binary_images(3)
    with pytest.raises(ValueError, match=message):
        ss.labelled_elbo(model, x, torch.tensor([0, bad, 2]))
    with pytest.raises(ValueError, match=message):
        ss.train_m2(model, x, torch.tensor([0, bad, 2]), torch.ones(3, dtype=torch.bool), 1)


def test_bad_masks_and_label_types_are_refused():
    model, x = small_model(), binary_images(4)
    y = torch.tensor([0, 1, 2, 3])
    with pytest.raises(ValueError, match="has shape \\(3,\\) but x has 4 images"):
        ss.train_m2(model, x, y, torch.ones(3, dtype=torch.bool), 1)
    with pytest.raises(ValueError, match="marks no image as labelled"):
        ss.train_m2(model, x, y, torch.zeros(4, dtype=torch.bool), 1)
    with pytest.raises(ValueError, match="boolean tensor"):
        ss.train_m2(model, x, y, torch.ones(4), 1)
    with pytest.raises(ValueError, match="integer tensor"):
        ss.labelled_elbo(model, x, y.float())
    with pytest.raises(ValueError, match="one label per image"):
        ss.labelled_elbo(model, x, y[:3])
    with pytest.raises(ValueError, match="marks no image"):
        ss.train_classifier(x, y, torch.zeros(4, dtype=torch.bool), steps=1)
    # labels of unlabelled images are never read, so a placeholder such as -1 is fine there
    ss.train_m2(
        model,
        x,
        torch.tensor([0, -1, -1, 3]),
        torch.tensor([True, False, False, True]),
        1,
        progress=False,
    )


def test_training_improves_the_objective_and_records_test_error():
    data_x = torch.rand(300, 784, generator=torch.Generator().manual_seed(0))
    data_y = torch.randint(10, (300,), generator=torch.Generator().manual_seed(1))
    mask = ss.labelled_mask(range(20), 300)
    model = small_model()
    history = ss.train_m2(
        model,
        data_x,
        data_y,
        mask,
        epochs=3,
        seed=0,
        progress=False,
        test_x=data_x[:50],
        test_y=data_y[:50],
    )
    assert history.epochs == 3 and len(history.test) == 3
    assert all(0 <= e <= 1 for e in history.test)
    assert history.train[-1] > history.train[0]
    generated = model.generate(torch.zeros(4, 3), 7)
    assert generated.shape == (4, 784) and ((generated >= 0) & (generated <= 1)).all()


def test_shared_m2_is_cached_per_seed(tmp_path):
    recipe = {"hidden_dim": 8, "latent_dim": 2, "epochs": 1, "batch_size": 1000}
    first, history, mask = ss.shared_m2(seed=0, progress=False, cache_dir=tmp_path, **recipe)
    assert mask.sum() == 100 and history.epochs == 1
    again, _, mask_again = ss.shared_m2(seed=0, progress=False, cache_dir=tmp_path, **recipe)
    assert torch.equal(mask, mask_again)
    for a, b in zip(first.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    other, _, other_mask = ss.shared_m2(seed=1, progress=False, cache_dir=tmp_path, **recipe)
    assert len(list((tmp_path / "models").glob("m2-*.pt"))) == 2
    assert not torch.equal(mask, other_mask)
    with pytest.raises(ValueError, match="not M2 recipe settings"):
        ss.shared_m2(cache_dir=tmp_path, hidden=3)
