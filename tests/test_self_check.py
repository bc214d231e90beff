"""The lessons' "predict, then check" checkers: right, wrong with a named hint, unanswered."""

import math

import torch

from vae_tutorial.self_check import PLACEHOLDER_HINT, check_answer, check_function


def test_check_answer_verdicts(capsys):
    sigma = 0.5
    mistakes = [(math.log(sigma), "is this sigma or log sigma?")]
    assert check_answer(0.5, sigma, mistakes) is True
    assert check_answer(math.log(0.5), sigma, mistakes) is False
    assert "sigma or log sigma" in capsys.readouterr().out
    assert check_answer(7.0, sigma, mistakes) is False
    assert "Not quite" in capsys.readouterr().out
    assert check_answer(..., sigma, mistakes) is False
    assert PLACEHOLDER_HINT in capsys.readouterr().out
    # tolerance is relative by default: 2% of the expected value
    assert check_answer(101.0, 100.0) and not check_answer(103.0, 100.0)
    # arrays: shape matters
    assert check_answer(torch.ones(3), [1.0, 1.0, 1.0])
    assert not check_answer(torch.ones(3), [1.0, 1.0])
    assert not check_answer("a word", 1.0)


def test_check_function_names_the_mistake(capsys):
    def reference(mu, log_sigma, eps):
        return mu + log_sigma.exp() * eps

    def log_sigma_as_sigma(mu, log_sigma, eps):
        return mu + log_sigma * eps

    mistakes = [(log_sigma_as_sigma, "you multiplied by log sigma, not sigma")]
    cases = [(torch.zeros(2, 3), torch.full((2, 3), 0.3), torch.randn(2, 3))]
    assert check_function(reference, cases, reference, mistakes)
    assert not check_function(log_sigma_as_sigma, cases, reference, mistakes)
    assert "not sigma" in capsys.readouterr().out

    def unanswered(*args):
        raise NotImplementedError

    assert not check_function(unanswered, cases, reference, mistakes)
    assert "NotImplementedError" in capsys.readouterr().out

    def crashes(*args):
        raise KeyError("oops")

    assert not check_function(crashes, cases, reference)
    assert "KeyError" in capsys.readouterr().out

    def wrong_shape(mu, log_sigma, eps):
        return reference(mu, log_sigma, eps).sum(-1)

    assert not check_function(wrong_shape, cases, reference)
    assert "shape (2,)" in capsys.readouterr().out
