"""The credential scan: every pattern catches its credential, and a near miss of each
(a digest, a commit, a user name, a word) is left alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mlspec.cli.main import main
from mlspec.files import loader
from mlspec.spec import scan

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = (ROOT / "examples" / "minimal.yaml").read_text()
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
HEX64 = "3e116e20f1052fa651525e829e0737fcabf0cc4561d5fd40ca682990b829ce95"
COMMIT = "c25581cc75e0ebf2bbe0e564efcdfeb69f198bab"


def _doc(data: dict[str, Any]) -> loader.Document:
    return loader.load(MINIMAL.replace("seed: 7\n", f"seed: 7\n    hyperparameters: {json.dumps(data)}\n"), "x.yaml")


def problems(data: dict[str, Any]) -> list[str]:
    return [d.message for d in scan.text_problems(_doc(data))]


# (id, hyperparameters, what the message says it looks like)
LABEL_KEY = "w.rbt2.g.30o5zuim.l.9lp1i.2.w.3.7.ob6q4we6j.sk4.j.lmq.c/L"  # a valid, random-looking label key

CAUGHT = [
    ("aws-access-key-id", {"k": "AKIAIOSFODNN7EXAMPLE"}, "an AWS access key id"),
    ("aws-secret-shape", {"k": f"aws_secret_access_key = {AWS_SECRET}"}, "an AWS secret access key"),
    ("private-key", {"k": "-----BEGIN RSA PRIVATE KEY-----\nMIIE..."}, "a private key"),
    ("github-classic", {"k": "ghp_" + "a1B2" * 9}, "a GitHub token"),
    ("github-fine-grained", {"k": "github_pat_" + "a1B2_" * 9}, "a GitHub token"),
    ("gitlab", {"k": "glpat-" + "x1Y2z" * 4}, "a GitLab token"),
    ("slack", {"k": "xoxb-1234567890-abcdef"}, "a Slack token"),
    ("google", {"k": "AIza" + "Sy" + "a1B2c" * 6 + "d3E"}, "a Google API key"),
    ("api-secret-key", {"k": "sk-proj-" + "a1B2c3" * 4}, "an API secret key"),
    ("hugging-face", {"k": "hf_" + "a1B2c3" * 6}, "a Hugging Face token"),
    ("jwt", {"k": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV"},
     "a JSON Web Token"),
    ("url-password", {"k": "https://alice:hunter2@example.com/x"}, "a URL with an embedded password"),
    ("url-password-upper-case", {"k": "HTTPS://alice:hunter2@example.com/x"}, "a URL with an embedded password"),
    ("url-token", {"k": "https://x9f8e7d6c5b4a3z2y1x0w@git.example.com/repo"}, "a URL with an embedded token"),
    ("azure-account-key", {"k": "DefaultEndpointsProtocol=https;AccountKey=" + "Ab3+" * 10}, "an Azure storage key"),
    ("azure-sas", {"k": "https://a.blob.core.windows.net/c/m?sv=2022&sig=" + "abcd%2B" * 4},
     "an Azure storage key or SAS token"),
    ("query-access-token", {"k": "https://api.example.com/v1?access_token=abcdef123456"},
     "a signed URL or a credential in a URL query"),
    ("query-amz-signature", {"k": "https://b.s3.amazonaws.com/m.onnx?X-Amz-Date=1&X-Amz-Signature=" + HEX64[:32]},
     "a signed URL or a credential in a URL query"),
    ("basic-header", {"k": "Authorization: Basic YWxpY2U6aHVudGVyMg=="}, "an HTTP Basic credential"),
    # unpadded, 15 characters: one `=` restores it (three would not decode)
    ("basic-header-unpadded", {"k": "Authorization: Basic Ym9iOmh1bnRlcjI"}, "an HTTP Basic credential"),
    ("basic-header-overpadded", {"k": "Authorization: Basic Ym9iOmh1bnRlcjI=="}, "an HTTP Basic credential"),
    ("bearer-header", {"k": "Authorization: Bearer 9fJx2LqP7zRt4WbNk8Mc"}, "an HTTP bearer token"),
    ("password-option", {"args": ["serve", "--db-password=hunter22"]}, "a credential passed as a command-line argument"),
    ("token-option", {"args": ["--token=Xk9pQ2vL"]}, "a credential passed as a command-line argument"),
    ("option-then-value", {"args": ["--password", "hunter22"]}, "a credential (the value of `--password`)"),
    ("named-env-value", {"env": [{"name": "AWS_SECRET_ACCESS_KEY", "value": AWS_SECRET}]},
     "a secret value (`AWS_SECRET_ACCESS_KEY` names a credential)"),
    ("named-key-camel-case", {"apiToken": "Xk9pQ2vLm7RtZ4wB8c1d"}, "a secret value (`apiToken` names a credential)"),
    ("credential-in-a-key", {"https://bob:pw12345@h.example.com": 1}, "a URL with an embedded password"),
    # a short, guessable value under a password's name is a password all the same
    ("password-env-short", {"env": [{"name": "DB_PASSWORD", "value": "hunter2"}]},
     "a secret value (`DB_PASSWORD` names a credential)"),
    ("password-key-short", {"password": "changeme"}, "a secret value (`password` names a credential)"),
    ("password-one-word", {"PGPASSWORD": "s3cr3t"}, "a secret value (`PGPASSWORD` names a credential)"),
    ("secret-camel-case", {"clientSecret": "abc123"}, "a secret value (`clientSecret` names a credential)"),
    ("pass-suffix", {"db_pass": "letmein"}, "a secret value (`db_pass` names a credential)"),
    ("aws-secret-neutral-name", {"k": AWS_SECRET}, "an AWS secret access key"),
    ("aws-secret-three-slashes-and-pluses", {"k": AWS_SECRET[:-2] + "+Y"}, "an AWS secret access key"),
    ("pass-option", {"args": ["--db-pass=hunter2"]}, "a credential passed as a command-line argument"),
    ("password-option-space", {"command": "serve --db-password hunter2"},
     "a credential passed as a command-line argument"),
    ("pass-option-then-value", {"args": ["--db-pass", "hunter2"]}, "a credential (the value of `--db-pass`)"),
    # a password written out inside a string: a DSN, JSON or YAML text, a shell command
    ("password-in-a-dsn", {"k": "host=db user=app password=hunter2"}, "a password written out in a string"),
    ("password-in-json-text", {"k": '{"db_password": "hunter2"}'}, "a password written out in a string"),
    ("password-in-yaml-text", {"k": "db:\n  password: hunter2\n"}, "a password written out in a string"),
    ("password-in-a-shell-command", {"args": ["sh", "-c", "PGPASSWORD=hunter2 psql"]},
     "a password written out in a string"),
    ("authorization-short-bearer", {"args": ["-H", "Authorization: Bearer abc123"]},
     "an HTTP Authorization header credential"),
    ("authorization-short-token", {"k": "authorization=token s3cr"}, "an HTTP Authorization header credential"),
]

NEAR_MISSES = [
    ("embedded-password-references", {"k": "host=db password=$(PW)", "j": "password_file: /etc/pw",
                                      "l": "secretName: db-creds", "m": "--bypass=cache", "n": "passwordLength=12",
                                      "o": '{"password": "${DB_PASSWORD}"}', "p": "password: /run/secrets/pw"}),
    ("authorization-references", {"k": "Authorization: Bearer $(TOKEN)", "j": "authorization: token"}),
    ("aws-id-too-short", {"k": "AKIAIOSFODNN7EXAMP"}),
    ("aws-id-inside-a-word", {"k": "XAKIAIOSFODNN7EXAMPLE"}),
    ("aws-secret-reference", {"k": "aws_secret_access_key = from-the-secret"}),
    ("public-key", {"k": "-----BEGIN PUBLIC KEY-----"}),
    ("github-too-short", {"k": "ghp_abc", "j": "github_pat_short"}),
    ("gitlab-too-short", {"k": "glpat-abc"}),
    ("slack-unknown-prefix", {"k": "xoxz-1234567890-abcdef"}),
    ("google-too-short", {"k": "AIzaSyShort"}),
    ("api-key-too-short", {"k": "sk-learn"}),
    ("hugging-face-uri", {"k": "hf://acme/model", "j": "hf_short"}),
    ("jwt-header-alone", {"k": "eyJhbGciOiJIUzI1NiJ9"}),
    ("url-with-port", {"k": "https://host.example.com:8443/path?x=a:b@c"}),
    ("url-user-name", {"k": "ssh://git@github.com/acme/model", "j": "https://alice@example.com/x"}),
    ("oci-digest-reference", {"k": f"oci://byku7k-uhciqqjzfsu7gfwz0h@sha256:{HEX64}"}),
    ("azure-short", {"k": "AccountKey=short", "j": "sig=abc"}),
    ("query-without-credentials", {"k": "https://h.example.com/x?version=12345678&page=2&token=short"}),
    ("basic-word", {"k": "Basic configuration options", "j": "basic setup"}),
    ("basic-base64-without-a-colon", {"k": "Basic aGVsbG93b3JsZA=="}),  # "helloworld": no user:password
    ("bearer-word", {"k": "Bearer authentication is used"}),
    ("credential-files", {"args": ["--token-file=/var/run/secrets/token", "--max-tokens=512",
                                   "--password-file", "/etc/pw", "--token", "$(TOKEN)", "--token", "--verbose"]}),
    ("digests-under-secret-names", {"SECRET_DIGEST": f"sha256:{HEX64}", "cacheKey": HEX64, "GIT_TOKEN_COMMIT": COMMIT,
                                    "imageKey": f"ghcr.io/acme/x@sha256:{HEX64}"}),
    ("words-under-secret-names", {"tokenizer": "meta-llama/Llama-2-7b-hf", "max_tokens": "512",
                                  "secretKeyRef": {"name": "aws", "key": "AWS_SECRET_ACCESS_KEY"},
                                  "key": "Model2Version3Alpha"}),
    # references to a credential, not credentials: `valueFrom`, `$(VAR)`, files, empty, a Secret's name
    ("password-references", {"env": [{"name": "DB_PASSWORD", "value": "$(DB_PASSWORD_FROM_SECRET)"},
                                     {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}},
                                     {"name": "PGPASSWORD", "value": ""},
                                     {"name": "DB_PASSWORD", "value": "/var/run/secrets/db/password"}],
                             "password": "${DB_PASSWORD}", "secret": "./secrets/token", "clientSecret": "~/.secret",
                             "db_password": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db",
                             "secretName": "db-creds", "envFromSecret": "s3-creds", "password_file": "/etc/pw",
                             "passwordLength": "12", "secretKeyRef": {"name": "aws", "key": "DB_PASSWORD"}}),
    ("option-references", {"args": ["--db-pass=$(DB_PASS)", "--db-password", "/run/secrets/pw",
                                    "--password=/run/secrets/pw", "--db-pass", "$(DB_PASS)"],
                           "command": "serve --db-password $(DB_PASSWORD) --max-tokens 512 --password-file /etc/pw",
                           "other": "--bypass=cache --pass 3"}),
    ("forty-character-look-alikes", {"commit": COMMIT, "path": "Models/Fraud/Detector/V2/Checkpoints/Bst",
                                     "digest": f"sha256:{HEX64}", "shorter": AWS_SECRET[:39],
                                     "longer": AWS_SECRET + "A"}),
    # 40 characters of base64 with upper case, but 16 letters repeated (4.0 bits, a key has 4.2+)
    ("forty-characters-four-pluses", {"k": "wJalrXUtnFEMI+K7MDENG+bPxRfiC+EXAMPLE+EY"}),  # > 3 of / and +
    ("forty-characters-repeating", {"k": "AbCdEfGh12345678" * 2 + "AbCdEfGh"}),
    # a label's name in a selector requirement or a toleration (found by the property test)
    ("label-keys-of-requirements", {"matchExpressions": [{"key": LABEL_KEY, "operator": "DoesNotExist"}],
                                    "tolerations": [{"key": LABEL_KEY, "operator": "Exists", "effect": "NoSchedule"}]}),
]


@pytest.mark.parametrize("data,what", [c[1:] for c in CAUGHT], ids=[c[0] for c in CAUGHT])
def test_each_credential_shape_is_caught(data, what):
    found = problems(data)
    assert len(found) == 1, found
    assert f"looks like {what}" in found[0] and "never commit credentials" in found[0]


@pytest.mark.parametrize("data", [c[1] for c in NEAR_MISSES], ids=[c[0] for c in NEAR_MISSES])
def test_near_misses_are_not_flagged(data):
    assert problems(data) == []


def test_every_pattern_has_a_case_that_it_is_the_first_to_catch():
    def first(text: str) -> int | None:
        return next((i for i, (pattern, _, _) in enumerate(scan._SECRETS) if pattern.search(text)), None)

    def strings(node: Any) -> list[str]:
        if isinstance(node, dict):
            return [s for k, v in node.items() for s in [k, *strings(v)]]
        if isinstance(node, list):
            return [s for v in node for s in strings(v)]
        return [node] if isinstance(node, str) else []

    caught = {first(s) for _, data, _ in CAUGHT for s in strings(data)} - {None}
    assert caught == set(range(len(scan._SECRETS)))


def test_a_key_holding_a_credential_is_pointed_at_and_not_repeated():
    doc = _doc({"https://bob:pw12345@h.example.com": 1})
    [problem] = scan.text_problems(doc)
    assert (problem.line, problem.col) == (18, 23)
    assert "pw12345" not in problem.message
    assert problem.message.startswith("a key in `spec.training.hyperparameters` looks like a URL")


def test_an_aws_secret_in_the_serving_env_fails_the_build_and_writes_nothing(tmp_path):
    spec = tmp_path / "churn.yaml"
    spec.write_text(MINIMAL.replace(
        "  serving:\n",
        f"  serving:\n    env:\n      - {{name: AWS_SECRET_ACCESS_KEY, value: \"{AWS_SECRET}\"}}\n"))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["build", str(spec), "-o", str(out)])
    assert result.exit_code == 1
    assert f"{spec}:22:46: error: `spec.serving.env[0].value` looks like a secret value" in result.stderr
    assert AWS_SECRET not in result.output
    assert not out.exists()


def test_only_a_requirements_key_is_a_label_name_a_random_value_under_key_elsewhere_is_one():
    assert len(problems({"key": LABEL_KEY})) == 1
    assert len(problems({"matchExpressions": [{"key": "x", "operator": "In", "token": LABEL_KEY}]})) == 1


def test_a_secret_value_is_said_once_and_the_rest_of_its_mapping_is_still_scanned():
    found = problems({"password": "changeme", "zz": "AKIAIOSFODNN7EXAMPLE"})
    assert len(found) == 2, found
    assert "names a credential" in found[0] + found[1] and "an AWS access key id" in found[0] + found[1]


def test_a_query_is_known_by_its_last_four_keys_however_shallow():
    """`analysis.metrics[i].query` with nothing above it is a query too (its args are checked)."""
    doc = loader.load('analysis: {metrics: [{query: "rate({{args.nope}}[5m])"}]}\n', "q.yaml")
    (found,) = [d.message for d in scan.text_problems(doc)]
    assert found.startswith("query references `{{args.nope}}`, which mlspec does not pass")


def test_a_bearer_token_of_exactly_the_entropy_threshold_is_caught():
    token = "aabbccddEEFFGGHH1111222233334444"  # 8 letters twice, 4 digits four times: 3.5 bits exactly
    (found,) = problems({"k": f"Authorization: Bearer {token}"})
    assert "looks like an HTTP bearer token" in found


def test_a_key_holding_a_template_tag_is_refused():
    (found,) = problems({"{{x}}": 1})
    assert found.startswith("the key `spec.training.hyperparameters.{{x}}` holds `{{`"), found
