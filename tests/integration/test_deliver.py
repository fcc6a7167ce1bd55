"""deliver and keyvault push --for each consumer: what was written is read the way its consumer reads it, and a token
is got from the Maskinporten-compatible server with what was read.

pymaskinporten is run itself (PyPI, Python >= 3.13) in a virtual environment made once per session from a Python
3.13 interpreter found here; where there is none, or it cannot be installed, those tests are skipped with the
reason, and the in-process tests still read the same files by pymaskinporten's rules (its config.py: PRIVATE_KEY a
PEM read by PyJWT, KID, MASKINPORTEN_CLIENT_ID, SCOPE; secret stores with - for _).
"""

from __future__ import annotations

import base64
import glob
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import jwt
import kubernetes_validate
import pytest
import requests
import yaml
from azure.keyvault.secrets import SecretClient
from click.testing import Result
from dotenv import dotenv_values
from jwcrypto import jwk as jwcrypto_jwk

from jwks_tool.destinations.dotenv import quote
from jwks_tool.errors import InputError
from tests.servers.keyvault import KeyVaultServer
from tests.servers.maskinporten import MaskinportenServer

pytestmark = pytest.mark.integration
Run = Callable[..., Result]
CLIENT = "client-1"
SCOPES = ["altinn:instances.read", "altinn:instances.write"]
PYMASKINPORTEN = "pymaskinporten==2.1.0"
"""The release whose config.py these tests follow (secret stores' dashed names, prefix, token_url/audience)."""


# ---- fixtures --------------------------------------------------------------------------------------------------
@pytest.fixture
def mp(monkeypatch: pytest.MonkeyPatch) -> Iterator[MaskinportenServer]:
    import certifi

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    with MaskinportenServer() as server:
        yield server


@pytest.fixture
def acme(run: Run, mp: MaskinportenServer) -> dict[str, Any]:
    """A set "acme" whose key is registered for CLIENT; its private JWK (for comparisons only)."""
    assert run("generate", "acme", "--size", "2048").exit_code == 0
    jwks = json.loads(run("export", "acme", "--format", "jwks").output)
    mp.register_client(CLIENT, SCOPES, jwks)
    return dict(json.loads(run("export", "acme", "--private").output))


@pytest.fixture
def kv(vault: KeyVaultServer, monkeypatch: pytest.MonkeyPatch) -> KeyVaultServer:
    for name, value in vault.identity_env().items():
        monkeypatch.setenv(name, value)
    return vault


def scope_args() -> list[str]:
    return ["--client-id", CLIENT, "--scope", SCOPES[0], "--scope", SCOPES[1]]


def token_with(mp: MaskinportenServer, *, key: Any, kid: str, client_id: str, scope: str, aud: str) -> str:
    """Sign a grant as the consumers do (PyJWT, RS256, header kid) and post it; the access token."""
    now = int(time.time())
    claims = {"aud": aud, "iss": client_id, "scope": scope, "iat": now, "exp": now + 60, "jti": str(uuid.uuid4())}
    grant = jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})
    answer = requests.post(
        mp.token_url,
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": grant},
        verify=mp.ca_path,
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    token = str(answer.json()["access_token"])
    assert mp.issued_tokens[-1].access_token == token
    return token


# ---- pymaskinporten itself, in a Python 3.13 venv ------------------------------------------------------------------
def _python_313() -> str | None:
    for candidate in (
        shutil.which("python3.14"),
        shutil.which("python3.13"),
        *sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[3-9]*/bin/python3"))),
    ):
        if not candidate:
            continue
        probe = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info >= (3, 13))"], capture_output=True, text=True
        )
        if probe.returncode == 0 and probe.stdout.strip() == "True":
            return candidate
    return None


@pytest.fixture(scope="session")
def pymaskinporten_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The python of a fresh venv (Python >= 3.13) with pymaskinporten[azure] and python-dotenv installed."""
    interpreter = _python_313()
    if interpreter is None:
        pytest.skip("pymaskinporten needs Python >= 3.13 and none is installed here (pyenv install 3.13)")
    venv = tmp_path_factory.mktemp("pymaskinporten-venv")
    made = subprocess.run([interpreter, "-m", "venv", str(venv)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot make a venv with {interpreter}: {made.stderr.strip()[-300:]}")
    python = str(venv / "bin" / "python")
    installed = subprocess.run(
        [python, "-m", "pip", "install", "-q", f"{PYMASKINPORTEN.replace('==', '[azure]==')}", "python-dotenv"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if installed.returncode != 0:
        pytest.skip(f"cannot install {PYMASKINPORTEN} from PyPI: {installed.stderr.strip()[-300:]}")
    return python


READ_AND_ASK = """
import json, os, sys
from pymaskinporten.config import load_config
from pymaskinporten.request_token import request_maskinporten_token

mode, source, prefix, token_url, audience = sys.argv[1:6]
if mode == "local":
    from dotenv import load_dotenv
    load_dotenv(source)
    cfg = load_config(prefix=prefix)
else:
    cfg = load_config("azure", key_vault_uri=source, prefix=prefix)
token, expires_in = request_maskinporten_token("test", cfg, token_url=token_url, audience=audience)
print(json.dumps({"kid": cfg.KID, "client_id": cfg.MASKINPORTEN_CLIENT_ID, "scope": cfg.SCOPE,
                  "pem": cfg.PRIVATE_KEY.splitlines()[0], "token": token}))
"""


def run_pymaskinporten(
    python: str, mp: MaskinportenServer, mode: str, source: str, prefix: str, extra_env: Mapping[str, str]
) -> dict[str, Any]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.lower().endswith("_proxy") and not key.startswith(("JWKS_TOOL_", "AZURE_"))
    }
    env |= {"SSL_CERT_FILE": mp.ca_path, "NO_PROXY": "127.0.0.1,localhost", "STRICT_KEY_VALIDATION": "1", **extra_env}
    done = subprocess.run(
        [python, "-c", READ_AND_ASK, mode, source, prefix, mp.token_url, mp.audience],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return dict(json.loads(done.stdout))


def test_pymaskinporten_itself_reads_the_dotenv_file_and_gets_a_token(
    run: Run, mp: MaskinportenServer, acme: dict[str, Any], tmp_path: Path, pymaskinporten_python: str
) -> None:
    env_file = tmp_path / "app.env"
    args = ["deliver", "acme", "--to", "dotenv", "--for", "pymaskinporten", *scope_args(), "--prefix", "PROD_"]
    result = run(*args, "--out", str(env_file))
    assert result.exit_code == 0, result.stderr
    read = run_pymaskinporten(pymaskinporten_python, mp, "local", str(env_file), "PROD_", {})
    assert read["kid"] == acme["kid"]
    assert read["client_id"] == CLIENT
    assert read["scope"] == " ".join(SCOPES)
    assert read["pem"] == "-----BEGIN PRIVATE KEY-----"  # PKCS#8, unencrypted (STRICT_KEY_VALIDATION parsed it)
    assert read["token"] == mp.issued_tokens[-1].access_token


def test_pymaskinporten_itself_reads_key_vault_and_gets_a_token(
    run: Run, mp: MaskinportenServer, acme: dict[str, Any], kv: KeyVaultServer, pymaskinporten_python: str
) -> None:
    prefix = "maskinporten-test-"
    result = run(
        "keyvault", "push", "acme", "--vault", kv.url, "--credential", "managed-identity", "--ca-bundle", kv.ca_path,
        "--for", "pymaskinporten", *scope_args(), "--prefix", prefix,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.output.splitlines() == [
        f"created           {prefix}MASKINPORTEN-CLIENT-ID  {CLIENT}",
        f"created           {prefix}KID  {acme['kid']}",
        f"created           {prefix}SCOPE  {' '.join(SCOPES)}",
        f"created           {prefix}PRIVATE-KEY  kid {acme['kid']}",
    ]
    read = run_pymaskinporten(pymaskinporten_python, mp, "azure", kv.url, prefix, kv.identity_env())
    assert (read["kid"], read["client_id"], read["scope"]) == (acme["kid"], CLIENT, " ".join(SCOPES))
    assert read["token"] == mp.issued_tokens[-1].access_token


# ---- pymaskinporten by its rules, in process (always runs) ------------------------------------------------------
def test_pymaskinporten_dotenv_read_by_python_dotenv_and_bash_gets_a_token(
    run: Run, mp: MaskinportenServer, acme: dict[str, Any], tmp_path: Path
) -> None:
    env_file = tmp_path / ".env"
    result = run("deliver", "acme", "--to", "dotenv", "--for", "pymaskinporten", *scope_args(), "--out", str(env_file))
    assert result.exit_code == 0, result.stderr
    assert result.output == f"created           {env_file}  kid {acme['kid']}\n"
    assert env_file.stat().st_mode & 0o777 == 0o600
    values = dotenv_values(env_file)
    assert list(values) == ["PRIVATE_KEY", "MASKINPORTEN_CLIENT_ID", "KID", "SCOPE"]
    shell = subprocess.run(
        ["bash", "-c", f'set -a; . "{env_file}"; set +a; {sys.executable} -c "import json,os; '
         "print(json.dumps({k: os.environ[k] for k in ['PRIVATE_KEY','MASKINPORTEN_CLIENT_ID','KID','SCOPE']}))\""],
        capture_output=True, text=True, env={"PATH": os.environ["PATH"]},
    )  # fmt: skip
    assert shell.returncode == 0, shell.stderr
    assert json.loads(shell.stdout) == values  # bash and python-dotenv read the same values
    pem = str(values["PRIVATE_KEY"])
    assert pem.startswith("-----BEGIN PRIVATE KEY-----\n")
    assert pem.endswith("-----END PRIVATE KEY-----\n")
    assert values["KID"] == acme["kid"]
    assert values["SCOPE"] == " ".join(SCOPES)
    token_with(mp, key=pem, kid=str(values["KID"]), client_id=CLIENT, scope=str(values["SCOPE"]), aud=mp.audience)
    again = run("deliver", "acme", "--to", "dotenv", "--for", "pymaskinporten", *scope_args(), "--out", str(env_file))
    assert again.output == f"unchanged         {env_file}  kid {acme['kid']}\n"


# ---- NAIS ------------------------------------------------------------------------------------------------------
def read_manifest(text: str) -> dict[str, Any]:
    manifest = yaml.safe_load(text)
    assert kubernetes_validate.validate(manifest, "1.30", strict=True) == "1.30"
    return dict(manifest)


def test_nais_secret_manifest_is_valid_and_its_variables_get_a_token(
    run: Run, mp: MaskinportenServer, acme: dict[str, Any]
) -> None:
    result = run(
        "deliver", "acme", "--to", "kubernetes", "--for", "nais", *scope_args(), "--secret-name", "acme-maskinporten",
        "--namespace", "team-a", "--label", "app=acme",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.stderr == f"printed           -  kid {acme['kid']}\n"
    manifest = read_manifest(result.stdout)
    assert manifest["metadata"]["name"] == "acme-maskinporten"
    assert manifest["metadata"]["namespace"] == "team-a"
    assert manifest["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "jwks-tool", "app": "acme"}
    assert manifest["metadata"]["annotations"]["reloader.stakater.com/match"] == "true"
    assert manifest["metadata"]["annotations"]["jwks-tool/kid"] == acme["kid"]
    for value in manifest["metadata"]["annotations"].values():
        assert acme["d"] not in value
    data = manifest["stringData"]
    assert sorted(data) == sorted(
        [
            "MASKINPORTEN_CLIENT_ID", "MASKINPORTEN_CLIENT_JWK", "MASKINPORTEN_SCOPES", "MASKINPORTEN_WELL_KNOWN_URL",
            "MASKINPORTEN_ISSUER", "MASKINPORTEN_JWKS_URI", "MASKINPORTEN_TOKEN_ENDPOINT",
        ]
    )  # fmt: skip
    assert data["MASKINPORTEN_WELL_KNOWN_URL"] == "https://test.maskinporten.no/.well-known/oauth-authorization-server"
    assert data["MASKINPORTEN_ISSUER"] == "https://test.maskinporten.no/"
    assert data["MASKINPORTEN_JWKS_URI"] == "https://test.maskinporten.no/jwk"
    assert data["MASKINPORTEN_TOKEN_ENDPOINT"] == "https://test.maskinporten.no/token"
    assert data["MASKINPORTEN_SCOPES"] == " ".join(SCOPES)
    key = jwcrypto_jwk.JWK.from_json(data["MASKINPORTEN_CLIENT_JWK"])  # as NAIS apps load it (nimbus/jose alike)
    assert key.has_private
    assert key.get("kid") == acme["kid"]
    assert json.loads(data["MASKINPORTEN_CLIENT_JWK"])["d"] == acme["d"]
    pem = key.export_to_pem(private_key=True, password=None)
    kid = str(key.get("kid"))
    client_id, scope, aud = data["MASKINPORTEN_CLIENT_ID"], data["MASKINPORTEN_SCOPES"], data["MASKINPORTEN_ISSUER"]
    token_with(mp, key=pem, kid=kid, client_id=client_id, scope=scope, aud=aud)


def test_nais_variables_in_a_dotenv_file_read_by_bash_match_python_dotenv(
    run: Run, acme: dict[str, Any], tmp_path: Path
) -> None:
    env_file = tmp_path / "nais.env"
    assert (
        run("deliver", "acme", "--to", "dotenv", "--for", "nais", *scope_args(), "--out", str(env_file)).exit_code == 0
    )
    values = dotenv_values(env_file)
    shell = subprocess.run(
        ["bash", "-c", f'set -a; . "{env_file}"; set +a; printf %s "$MASKINPORTEN_CLIENT_JWK"'],
        capture_output=True, text=True, env={"PATH": os.environ["PATH"]},
    )  # fmt: skip
    assert shell.stdout == values["MASKINPORTEN_CLIENT_JWK"]
    assert json.loads(shell.stdout)["d"] == acme["d"]


# ---- Altinn Studio -----------------------------------------------------------------------------------------------
def check_altinn_studio_settings(text: str, acme: dict[str, Any], mp: MaskinportenServer) -> None:
    settings = json.loads(text)["MaskinportenSettings"]
    assert list(settings) == ["Jwks", "Jwk", "ClientId", "Authority"]  # the operator's SecretStateContent
    assert settings["ClientId"] == CLIENT
    assert settings["Authority"] == "https://test.maskinporten.no/"
    assert settings["Jwks"]["keys"] == [settings["Jwk"]]
    key = jwt.PyJWK(settings["Jwk"])  # the app signs with Jwk
    assert key.key_id == acme["kid"]
    token_with(mp, key=key.key, kid=acme["kid"], client_id=CLIENT, scope=SCOPES[0], aud=settings["Authority"])


def test_altinn_studio_settings_file_in_a_folder_gets_a_token(
    run: Run, mp: MaskinportenServer, acme: dict[str, Any], tmp_path: Path
) -> None:
    folder = tmp_path / "secret-volume"
    result = run(
        "deliver", "acme", "--to", "file", "--for", "altinn-studio", "--client-id", CLIENT, "--out", str(folder)
    )
    assert result.exit_code == 0, result.stderr
    assert folder.stat().st_mode & 0o777 == 0o700
    assert [path.name for path in folder.iterdir()] == ["maskinporten-settings.json"]
    assert (folder / "maskinporten-settings.json").stat().st_mode & 0o777 == 0o600
    check_altinn_studio_settings((folder / "maskinporten-settings.json").read_text(), acme, mp)


def test_altinn_studio_secret_manifest_in_a_file_is_valid_and_gets_a_token(
    run: Run, mp: MaskinportenServer, acme: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "secret.yaml"
    args = ["deliver", "acme", "--to", "kubernetes", "--for", "altinn-studio", "--client-id", CLIENT]
    result = run(*args, "--secret-name", "acme-deployment", "--no-reloader", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert result.output == f"created           {out}  kid {acme['kid']}\n"
    assert out.stat().st_mode & 0o777 == 0o600
    manifest = read_manifest(out.read_text())
    assert "reloader.stakater.com/match" not in manifest["metadata"]["annotations"]
    assert list(manifest["stringData"]) == ["maskinporten-settings.json"]
    check_altinn_studio_settings(manifest["stringData"]["maskinporten-settings.json"], acme, mp)
    assert run(*args, "--secret-name", "acme-deployment", "--no-reloader", "--out", str(out)).output.startswith(
        "unchanged"
    )


def test_altinn_studio_settings_pushed_to_key_vault(
    run: Run, mp: MaskinportenServer, acme: dict[str, Any], kv: KeyVaultServer
) -> None:
    args = ["--vault", kv.url, "--credential", "managed-identity", "--ca-bundle", kv.ca_path]
    result = run("keyvault", "push", "acme", *args, "--for", "altinn-studio", "--client-id", CLIENT)
    assert result.exit_code == 0, result.stderr
    assert result.output == f"created           maskinporten-settings  kid {acme['kid']}\n"
    secret = SecretClient(kv.url, kv.credential(), **kv.client_kwargs()).get_secret("maskinporten-settings")
    assert secret.value is not None
    assert secret.properties.content_type == "application/json"
    assert (secret.properties.tags or {})["kid"] == acme["kid"]
    check_altinn_studio_settings(secret.value, acme, mp)


# ---- Altinn's .NET libraries, through environment variables --------------------------------------------------------
@pytest.mark.parametrize(("preset", "member"), [("apiclient", "EncodedJwk"), ("altinn-app", "JwkBase64")])
def test_altinn_presets_as_dotnet_environment_variables_get_a_token(
    run: Run, mp: MaskinportenServer, acme: dict[str, Any], tmp_path: Path, preset: str, member: str
) -> None:
    env_file = tmp_path / ".env"
    args = ["deliver", "acme", "--to", "dotenv", "--for", preset, "--client-id", CLIENT, "--out", str(env_file)]
    assert run(*args).exit_code == 0
    values = dotenv_values(env_file)
    assert values[f"MaskinportenSettings__{member}"] is not None
    assert values["MaskinportenSettings__ClientId"] == CLIENT
    private = json.loads(base64.b64decode(str(values[f"MaskinportenSettings__{member}"]), validate=True))
    key = jwt.PyJWK(private)
    token_with(mp, key=key.key, kid=private["kid"], client_id=CLIENT, scope=SCOPES[0], aud=mp.audience)


# ---- the same care as Key Vault push: checks first, nothing half-written ------------------------------------------
def test_keyvault_push_for_nais_checks_names_before_anything_is_sent(
    run: Run, acme: dict[str, Any], kv: KeyVaultServer
) -> None:
    args = ["--vault", kv.url, "--credential", "managed-identity", "--ca-bundle", kv.ca_path]
    result = run("keyvault", "push", "acme", *args, "--for", "nais", *scope_args(), "--prefix", "prod_")
    assert result.exit_code == 3
    assert result.stderr.startswith("jwks-tool: error: ")
    assert "'prod_MASKINPORTEN-CLIENT-ID'" in result.stderr
    assert result.stderr.count("\n") == 1
    assert kv.secret_names() == []
    assert kv.requests == []  # refused before signing in or sending anything


def test_deliver_to_keyvault_is_keyvault_push(run: Run, acme: dict[str, Any], kv: KeyVaultServer) -> None:
    args = ["--vault", kv.url, "--credential", "managed-identity", "--ca-bundle", kv.ca_path, "--client-id", CLIENT]
    delivered = run("deliver", "acme", "--to", "keyvault", "--for", "apiclient", *args)
    assert delivered.exit_code == 0, delivered.stderr
    assert delivered.output.splitlines() == [
        f"created           MaskinportenSettings--ClientId  kid {acme['kid']}",
        f"created           MaskinportenSettings--EncodedJwk  kid {acme['kid']}",
    ]
    pushed = run("keyvault", "push", "acme", "--for", "apiclient", *args)
    assert pushed.output.splitlines() == [
        f"unchanged         MaskinportenSettings--ClientId  {CLIENT}",
        f"unchanged         MaskinportenSettings--EncodedJwk  kid {acme['kid']}",
    ]


def test_keyvault_push_for_nais_writes_every_variable_and_re_push_writes_nothing(
    run: Run, acme: dict[str, Any], kv: KeyVaultServer
) -> None:
    args = [
        "keyvault",
        "push",
        "acme",
        "--vault",
        kv.url,
        "--credential",
        "managed-identity",
        "--ca-bundle",
        kv.ca_path,
    ]
    assert run(*args, "--for", "nais", *scope_args()).exit_code == 0
    assert kv.secret_names() == sorted(
        f"MASKINPORTEN-{name}"
        for name in ("CLIENT-ID", "CLIENT-JWK", "SCOPES", "WELL-KNOWN-URL", "ISSUER", "JWKS-URI", "TOKEN-ENDPOINT")
    )
    reader = SecretClient(kv.url, kv.credential(), **kv.client_kwargs())
    jwk_secret = reader.get_secret("MASKINPORTEN-CLIENT-JWK")
    assert json.loads(str(jwk_secret.value))["d"] == acme["d"]
    assert jwk_secret.properties.expires_on is not None
    assert int(jwk_secret.properties.expires_on.timestamp()) == acme["exp"]
    puts = len([r for r in kv.requests if r.method == "PUT"])
    again = run(*args, "--for", "nais", *scope_args())
    assert {line.split()[0] for line in again.output.splitlines()} == {"unchanged"}
    assert len([r for r in kv.requests if r.method == "PUT"]) == puts


K8S_OK = ["--to", "kubernetes", "--for", "nais", *scope_args(), "--secret-name", "ok"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--to", "dotenv", "--for", "nais", "--client-id", CLIENT], 3, "nais needs the scopes; pass --scope"),
        (["--to", "dotenv", "--for", "pymaskinporten", "--scope", "a"], 3, "pymaskinporten needs the client id"),
        (
            ["--to", "dotenv", "--for", "altinn-studio", "--client-id", CLIENT],
            3,
            "altinn-studio reads a settings file, not environment variables; deliver it --to file or --to kubernetes",
        ),
        (
            ["--to", "dotenv", "--for", "pymaskinporten", "--client-id", "it's", "--scope", "a"],
            3,
            "a value holds a quote, backslash, $, carriage return or NUL",
        ),
        (
            ["--to", "dotenv", "--for", "pymaskinporten", "--client-id", CLIENT, "--scope", "altinn:${HOME}"],
            3,
            "a value holds a quote, backslash, $, carriage return or NUL, which .env readers do not agree on; check "
            "the client id and scopes",
        ),
        (["--to", "dotenv", "--for", "nais", *scope_args(), "--prefix", "9"], 3, "'9MASKINPORTEN_CLIENT_ID' is not"),
        (["--to", "kubernetes", "--for", "nais", *scope_args()], 3, "--to kubernetes needs the Secret's name"),
        (
            ["--to", "kubernetes", "--for", "nais", *scope_args(), "--secret-name", "Acme"],
            3,
            "'Acme' is not a valid Secret name",
        ),
        (["--to", "file", "--for", "nais", *scope_args()], 3, "--to file needs the folder to write; pass --out DIR"),
        (
            ["--to", "dotenv", "--for", "nais", *scope_args(), "--out", "-"],
            3,
            "--to dotenv needs the file to write (not stdout); pass --out .env (a file of its own)",
        ),
        (
            [
                "--to",
                "kubernetes",
                "--for",
                "nais",
                *scope_args(),
                "--secret-name",
                "ok",
                "--annotation",
                "jwks-tool/kid=x",
            ],
            3,
            "the annotation 'jwks-tool/kid' is jwks-tool's own; choose another --annotation key (jwks-tool sets "
            "jwks-tool/* and app.kubernetes.io/managed-by)",
        ),
        (
            [*K8S_OK, "--label", "app.kubernetes.io/managed-by=me"],
            3,
            "the label 'app.kubernetes.io/managed-by' is jwks-tool's own; choose another --label key",
        ),
        ([*K8S_OK, "--label", "jwks-tool/set=x"], 3, "the label 'jwks-tool/set' is jwks-tool's own"),
        ([*K8S_OK, "--label", "a=b", "--label", "a=c"], 3, "--label 'a' is given twice; give each --label key once"),
        ([*K8S_OK, "--annotation", "a=b", "--annotation", "a=c"], 3, "--annotation 'a' is given twice"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    run: Run, acme: dict[str, Any], tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    out = tmp_path / "out"
    result = run(
        "deliver", "acme", *args, *(["--out", str(out)] if args[1] == "dotenv" and "--out" not in args else [])
    )
    assert result.exit_code == code, result.stderr
    assert result.stderr.startswith(f"jwks-tool: error: {message}")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert not out.exists()


def test_python_dotenv_expands_a_dollar_in_single_quotes_so_dotenv_refuses_it(tmp_path: Path) -> None:
    """Why ``$`` is refused: python-dotenv (what ``load_dotenv`` uses) reads ``'${HOME}'`` as the home folder, the
    shell as written; so ``quote`` must never write it."""
    sample = tmp_path / "sample.env"
    sample.write_text("X='a${HOME}b'\n")
    assert dotenv_values(sample)["X"] != "a${HOME}b"  # python-dotenv expanded it
    shell = subprocess.run(
        ["bash", "-c", f'set -a; . {shlex.quote(str(sample))}; printf %s "$X"'], capture_output=True, text=True
    )
    assert shell.stdout == "a${HOME}b"  # the shell did not: the two would disagree
    with pytest.raises(InputError, match=r"a value holds a quote, backslash, \$"):
        quote("a${HOME}b")
    assert quote("altinn:instances.read") == "'altinn:instances.read'"


def test_an_existing_file_is_replaced_only_with_force(run: Run, acme: dict[str, Any], tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("OTHER=1\n")
    args = ["deliver", "acme", "--to", "dotenv", "--for", "nais", *scope_args(), "--out", str(env_file)]
    refused = run(*args)
    assert refused.exit_code == 7
    assert (
        refused.stderr == f"jwks-tool: error: {env_file} exists; pass --force to replace it, or choose another path\n"
    )
    assert env_file.read_text() == "OTHER=1\n"
    replaced = run(*args, "--force")
    assert replaced.output == f"replaced          {env_file}  kid {acme['kid']}\n"
    assert "OTHER" not in env_file.read_text()
    link = tmp_path / "link.env"
    link.symlink_to(env_file)
    through_link = run(*args[:-1], str(link), "--force")
    assert through_link.exit_code == 3
    assert through_link.stderr.startswith(f"jwks-tool: error: {link} is a symbolic link")


def test_a_folder_others_can_write_to_is_refused_unless_sticky(run: Run, acme: dict[str, Any], tmp_path: Path) -> None:
    """As the file store: whoever can write to the folder could later replace the key files an app reads."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    hint = f"run `chmod go-w {shared}`, or write to a folder of your own\n"
    refused = f"jwks-tool: error: the folder {shared} can be written by other users, who could replace the key files; "
    for to, out in [("file", shared), ("file", shared / "new"), ("dotenv", shared / ".env")]:
        result = run("deliver", "acme", "--to", to, "--for", "pymaskinporten", *scope_args(), "--out", str(out))
        assert result.exit_code == 3, result.stderr
        assert result.stderr == refused + hint
        assert list(shared.iterdir()) == []
    inside = shared / "own"
    inside.mkdir(mode=0o700)
    below = run("deliver", "acme", "--to", "dotenv", "--for", "nais", *scope_args(), "--out", str(inside / ".env"))
    assert below.exit_code == 3  # a folder of one's own inside it can itself be swapped
    assert below.stderr == refused + hint
    shared.chmod(0o1777)  # sticky, as /tmp: others cannot replace what is not theirs
    sticky = run("deliver", "acme", "--to", "dotenv", "--for", "nais", *scope_args(), "--out", str(shared / ".env"))
    assert sticky.exit_code == 0, sticky.stderr
    assert (shared / ".env").stat().st_mode & 0o777 == 0o600


def test_a_folder_or_a_link_where_a_file_or_folder_belongs_is_named(
    run: Run, acme: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "f8"
    (out / "PRIVATE_KEY").mkdir(parents=True)
    args = ["deliver", "acme", "--to", "file", "--for", "pymaskinporten", *scope_args()]
    result = run(*args, "--out", str(out), "--force")
    assert result.exit_code == 3
    assert result.stderr == (
        f"jwks-tool: error: {out / 'PRIVATE_KEY'} is a folder; remove it or give another path: a file goes there\n"
    )
    assert sorted(path.name for path in out.iterdir()) == ["PRIVATE_KEY"]
    link = tmp_path / "linkdir"
    link.symlink_to(out)
    linked = run(*args, "--out", str(link))
    assert linked.exit_code == 3
    assert linked.stderr == (
        f"jwks-tool: error: {link} is a symbolic link; give --out the folder itself: links are not followed\n"
    )


def test_a_failure_while_writing_a_folder_leaves_it_as_it_was(
    run: Run, acme: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "vol"
    args = ["deliver", "acme", "--to", "file", "--for", "nais", "--out", str(folder), "--scope", SCOPES[0]]
    assert run(*args, "--client-id", "client-0").exit_code == 0
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    real_fsync = os.fsync
    calls = []

    def failing(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", failing)
    result = run(*args, "--client-id", CLIENT, "--scope", SCOPES[1], "--force")  # two files differ: the 2nd fails
    assert result.exit_code == 74, result.stderr
    assert result.stderr.count("\n") == 1
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before  # no temp left, nothing replaced


def test_dry_run_redacts_and_writes_nothing(run: Run, acme: dict[str, Any], tmp_path: Path) -> None:
    args = ["deliver", "acme", "--to", "kubernetes", "--for", "pymaskinporten", *scope_args(), "--secret-name", "a"]
    result = run(*args, "--dry-run")
    assert result.exit_code == 0, result.stderr
    manifest = read_manifest(result.stdout)
    assert manifest["stringData"]["PRIVATE_KEY"].startswith("<")
    assert manifest["stringData"]["PRIVATE_KEY"].endswith("characters, redacted>")
    assert manifest["stringData"]["KID"] == acme["kid"]
    assert "PRIVATE KEY" not in result.stdout
    assert result.stderr == "would-print       -  kid " + acme["kid"] + "\nDry run: nothing was written.\n"
    out = tmp_path / ".env"
    dry = run("deliver", "acme", "--to", "dotenv", "--for", "nais", *scope_args(), "--out", str(out), "--dry-run")
    assert dry.output == f"would-create      {out}  kid {acme['kid']}\nDry run: nothing was written.\n"
    assert not out.exists()


# ---- the registry ------------------------------------------------------------------------------------------------
def test_destination_and_consumer_lists_agree_everywhere() -> None:
    import tomllib

    from jwks_tool.cli.deliver import DESTINATIONS
    from jwks_tool.cli.vault import CONSUMERS
    from jwks_tool.core.consumers import Consumer
    from jwks_tool.destinations import BUILT_IN_DESTINATIONS, destination_class

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert pyproject["project"]["entry-points"]["jwks_tool.destinations"] == BUILT_IN_DESTINATIONS
    assert sorted(DESTINATIONS) == sorted(BUILT_IN_DESTINATIONS)
    assert [consumer.value for consumer in Consumer] == CONSUMERS
    for name in BUILT_IN_DESTINATIONS:
        assert destination_class(name).name == name


@pytest.mark.parametrize("args", [("deliver", "--help"), ("keyvault", "push", "--help")])
def test_help_of_the_delivering_commands_imports_no_heavy_module(args: tuple[str, ...]) -> None:
    code = (
        "import sys\n"
        "from jwks_tool.cli.main import main\n"
        f"sys.argv = ['jwks-tool', *{list(args)!r}]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(*sys.modules, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "--for [apiclient|altinn-app|pymaskinporten|nais|altinn-studio]" in done.stdout
    loaded = {name.split(".")[0] for name in done.stderr.split()}
    assert not loaded & {"azure", "boto3", "cryptography", "jinja2", "jwcrypto", "yaml", "requests"}


def test_a_secret_manifest_is_printed_to_a_terminal_only_after_a_yes(tmp_path: Path, store_dir: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    env = {**os.environ, "JWKS_TOOL_STORE": str(store_dir), "NO_COLOR": "1"}
    gen = pexpect.spawn(sys.executable, ["-m", "jwks_tool", "generate", "acme", "--size", "2048"], env=env, timeout=60)
    gen.expect(pexpect.EOF)
    gen.close()
    assert gen.exitstatus == 0
    args = ["-m", "jwks_tool", "deliver", "acme", "--to", "kubernetes", "--for", "nais", *scope_args()]
    child = pexpect.spawn(sys.executable, [*args, "--secret-name", "acme"], env=env, timeout=60)
    child.expect(r"Print a Secret holding the PRIVATE key to this terminal\? \[y/N\]: ")
    child.sendline("n")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 9
    assert b"stringData" not in (child.before or b"")
