"""Issue 28: the credential scan knows every GitHub token prefix, and only those."""

from __future__ import annotations

import pytest
from test_secrets import problems

BODY = "a1B2" * 9  # 36 characters, a token's length


@pytest.mark.parametrize("prefix", ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"])
def test_every_github_token_prefix_is_caught(prefix):
    [found] = problems({"k": prefix + BODY})
    assert "looks like a GitHub token" in found


@pytest.mark.parametrize("prefix", ["gha_", "ghx_", "ghp-", "gh_"])
def test_a_prefix_beside_them_is_not_a_github_token(prefix):
    assert problems({"k": prefix + BODY}) == []


@pytest.mark.parametrize("prefix", ["ghp_", "ghr_"])
def test_one_character_short_is_not_a_token(prefix):
    assert problems({"k": prefix + BODY[:35]}) == []
