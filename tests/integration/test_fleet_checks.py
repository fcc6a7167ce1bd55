"""review12: what a client's run would refuse because of where a delivery writes is refused before a key is made for
it (``plan`` shows it as that client's error; ``apply`` makes no key and no PUT), and a business certificate file
that is gone by sign-in is named as the manifest names it."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from jwks_tool.core.model import SetRef
from jwks_tool.services.fleet.engine import Outcome
from tests.fleet_world import ClientDef, World
from tests.integration import test_fleet
from tests.integration.test_fleet import cli_args

pytestmark = pytest.mark.integration
kv = test_fleet.kv
make_world = test_fleet.make_world
"""The fleet tests' fixtures: the Key Vault test server's sign-in and passphrases, and worlds."""
Run = Callable[..., Result]
DOTENV = '[[clients.deliver]]\nto = "dotenv"\nfor = "nais"\nout = "a.env"\n'


def symlink(root: Path) -> tuple[Path, str]:
    target = root / "public.txt"
    target.write_text("public\n")
    target.chmod(0o644)
    (root / "a.env").symlink_to(target)
    return target, "is a symbolic link; give the path of the file itself: links are not followed"


def folder(root: Path) -> tuple[Path, str]:
    (root / "a.env").mkdir()
    return root / "a.env", "is a folder; remove it or give another path: a file goes there"


@pytest.mark.parametrize("make", [symlink, folder])
def test_a_dotenv_out_that_is_a_link_or_a_folder_stops_the_client_before_any_key_or_put(
    run: Run, make_world: Callable[..., World], make: Callable[[Path], tuple[Path, str]]
) -> None:
    world = make_world([ClientDef("a", deliver=False), ClientDef("b")])
    world.manifest_path.write_text(
        world.manifest_path.read_text().replace(
            'register = "api"\n',
            'register = "api"\n[[clients.deliver]]\nto = "dotenv"\nfor = "nais"\nout = "a.env"\n',
            1,
        )
    )
    target, why = make(world.root)
    before = target.read_bytes() if target.is_file() else None
    error = f"{world.root / 'a.env'} {why}"

    plan = world.fleet().plan()
    assert [(item.client.ref.name, item.error) for item in plan] == [("a", error), ("b", None)]
    planned = run("plan", *cli_args(world))
    assert planned.exit_code == 12
    assert f"a (test)  error     {error}\n" in planned.stdout

    run_result = world.fleet().apply()
    a, b = run_result.results
    assert (a.outcome, a.steps, a.error) == (Outcome.FAILED, (), error)
    assert b.outcome is Outcome.CONVERGED, b.error  # the other client goes on
    assert world.service().store.read_set(SetRef.parse("a", "test")) is None  # no key was made for it
    assert world.mp["test"].registered_jwks("a-id")["keys"] == []
    puts = world.mp["test"].find_requests("PUT")
    assert [record.path for record in puts] == ["/api/v1/clients/b-id/jwks"]  # no PUT for a
    assert (target.read_bytes() if target.is_file() else None) == before  # the link's target is untouched


def test_a_certificate_file_gone_by_sign_in_is_named_as_the_manifest_names_it(make_world: Callable[..., World]) -> None:
    world = make_world([ClientDef("a")])
    fleet = world.fleet()  # the manifest was read (and its certificate found) ...
    os.unlink(world.root / "virksomhet.p12")  # ... then the file went away
    lines = world.manifest_path.read_text().splitlines()
    line = lines.index('certificate = "virksomhet.p12"', lines.index("[admin.test]")) + 1
    result = fleet.apply().results[0]
    assert (result.outcome, result.steps) == (Outcome.FAILED, ())
    assert result.error == (
        f"cannot read the certificate file {world.root / 'virksomhet.p12'}: No such file or directory; check "
        f"certificate in [admin.test] of {world.manifest_path} (line {line})"
    )


def test_an_out_folder_that_is_a_symbolic_link_is_named_as_one(make_world: Callable[..., World]) -> None:
    """review12b N8: the folder exists (it is a link): the message says so, not "does not exist"."""
    world = make_world([ClientDef("a", deliver=False)])
    outside = world.root.parent / "outside"
    outside.mkdir(mode=0o700)
    (world.root / "lnk").symlink_to(outside)
    world.manifest_path.write_text(world.manifest_path.read_text() + DOTENV.replace("a.env", "lnk/x.env"))
    plan = world.fleet().plan()[0]
    assert plan.error == (
        f"the folder {world.root / 'lnk'} is a symbolic link; give a path in the folder itself: links are not followed"
    )
    result = world.fleet().apply().results[0]
    assert (result.outcome, result.steps, result.error) == (Outcome.FAILED, (), plan.error)
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize(
    ("to", "out"), [("file", "lnk/keys"), ("dotenv", "lnk/sub/x.env"), ("kubernetes", "lnk/sub/s.yaml")]
)
def test_a_link_deeper_in_out_cannot_carry_a_delivery_out_of_the_manifests_folder(
    make_world: Callable[..., World], to: str, out: str
) -> None:
    """A folder link anywhere in `out` (a file delivery makes its last folder: `lnk/keys` would be made in the link's
    target) is refused as `..` is, unless allow_outside: the path written must really be in the manifest's folder."""
    world = make_world([ClientDef("a", deliver=False)])
    outside = world.root.parent / "outside"
    (outside / "sub").mkdir(mode=0o700, parents=True)
    (world.root / "lnk").symlink_to(outside)
    delivery = f'[[clients.deliver]]\nto = "{to}"\nfor = "nais"\nout = "{out}"\n'
    if to == "kubernetes":
        delivery += 'secret_name = "maskinporten"\n'
    world.manifest_path.write_text(world.manifest_path.read_text() + delivery)
    plan = world.fleet().plan()[0]
    assert plan.error == (
        f"{world.root / out} is outside the manifest's folder {world.root} (a symbolic link leads to "
        f"{outside / out.removeprefix('lnk/')}); give a path inside it, or set allow_outside = true on this delivery"
    )
    result = world.fleet().apply().results[0]
    assert (result.outcome, result.steps) == (Outcome.FAILED, ())
    assert sorted(path.name for path in outside.rglob("*")) == ["sub"]


@pytest.mark.parametrize("token", ["eyJ0eXAi.e30.c2ln\x1b[2J", "two words", "line\nbreak"])
def test_a_portal_token_that_is_not_one_printable_token_is_refused_before_it_is_sent(
    run: Run, make_world: Callable[..., World], monkeypatch: pytest.MonkeyPatch, token: str
) -> None:
    """review12b N9: JWKS_TOOL_PORTAL_TOKEN with a control character or a space is not sent (nor shown)."""
    world = make_world([ClientDef("a", deliver=False)])
    world.manifest_path.write_text(world.manifest_path.read_text().replace('certificate = "virksomhet.p12"\n', ""))
    monkeypatch.setenv("JWKS_TOOL_PORTAL_TOKEN", token)
    result = run("apply", "--yes", *cli_args(world))
    assert result.exit_code == 12, result.output
    assert result.stdout == (
        "a (test): failed; JWKS_TOOL_PORTAL_TOKEN is not one printable token: it holds a space, a line break or a "
        "control character; set JWKS_TOOL_PORTAL_TOKEN to the access token alone (printable ASCII, nothing around "
        "it)\n"
    )
    assert [record for record in world.mp["test"].requests if record.path.startswith("/api/")] == []


@pytest.mark.parametrize(
    ("to", "out", "content", "extra"),
    [
        ("dotenv", "app.env", "DATABASE_URL=postgres://app:pw@db/app\n", ""),
        ("kubernetes", "s.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n", 'secret_name = "mp"\n'),
        ("file", "keys", None, ""),
    ],
    ids=["dotenv", "kubernetes", "file"],
)
def test_a_file_jwks_tool_did_not_write_is_not_replaced_unless_adopt(
    make_world: Callable[..., World], to: str, out: str, content: str | None, extra: str
) -> None:
    """review12c M1: an app's own .env (or a hand-written YAML, or a folder holding other files of these names) lost
    what it held to apply; `deliver` refuses that without --force. It is that client's error in plan and apply, no
    key made, unless the delivery says adopt = true."""
    world = make_world([ClientDef("a", deliver=False)])
    target = world.root / out
    if content is None:
        target.mkdir(mode=0o700)
        (target / "MASKINPORTEN_CLIENT_JWK").write_text("someone else's\n")
        content = "someone else's\n"
        held = target / "MASKINPORTEN_CLIENT_JWK"
    else:
        target.write_text(content)
        held = target
    held.chmod(0o600)
    delivery = f'[[clients.deliver]]\nto = "{to}"\nfor = "nais"\nout = "{out}"\n{extra}'
    world.manifest_path.write_text(world.manifest_path.read_text() + delivery)
    plan = world.fleet().plan()[0]
    assert plan.error == (
        f"{target} holds something jwks-tool did not write (no mark of a kid it delivered); set adopt = true on this "
        "delivery to replace it, or give another out"
    )
    result = world.fleet().apply().results[0]
    assert (result.outcome, result.steps) == (Outcome.FAILED, ())
    assert held.read_text() == content
    world.manifest_path.write_text(world.manifest_path.read_text().replace(delivery, delivery + "adopt = true\n"))
    adopted = world.fleet().apply().results[0]
    assert adopted.outcome is Outcome.CONVERGED, adopted.error
    assert held.read_text() != content


def test_a_delivery_holding_a_key_this_store_does_not_know_is_not_replaced_unless_adopt(
    make_world: Callable[..., World],
) -> None:
    """review12d: a second store (a laptop's and CI's, or a lost store) replaced the first one's delivered key each
    run, so the consumers' key flipped. A delivery whose jwks-tool mark names a kid the store does not know is that
    client's error, no key made, unless adopt = true."""
    world = make_world([ClientDef("a", deliver=False)])
    env = world.root / "a.env"
    theirs = "# jwks-tool: nais for a-id, kid other-store-kid\nMASKINPORTEN_CLIENT_JWK='{}'\n"
    env.write_text(theirs)
    env.chmod(0o600)
    world.manifest_path.write_text(world.manifest_path.read_text() + DOTENV)
    plan = world.fleet().plan()[0]
    assert plan.error == (
        f"dotenv {env} (nais) holds other-store-kid, a key this store does not know (another store's, or one that was "
        "lost): each would replace the other's key; point the manifest at the store that made it (store = ...), or "
        "set adopt = true on this delivery to replace it"
    )
    result = world.fleet().apply().results[0]
    assert (result.outcome, result.steps) == (Outcome.FAILED, ())
    assert env.read_text() == theirs
    assert world.service().store.read_set(SetRef.parse("a", "test")) is None
    world.manifest_path.write_text(world.manifest_path.read_text().replace(DOTENV, DOTENV + "adopt = true\n"))
    adopted = world.fleet().apply().results[0]
    assert adopted.outcome is Outcome.CONVERGED, adopted.error
    assert "other-store-kid" not in env.read_text()
    again = world.fleet().plan()[0]  # its own key now: no error, even with adopt removed
    world.manifest_path.write_text(world.manifest_path.read_text().replace("adopt = true\n", ""))
    assert (again.error, world.fleet().plan()[0].error) == (None, None)
