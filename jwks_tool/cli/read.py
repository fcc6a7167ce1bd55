"""Read-only commands: list and show. Kept small: listing must start about as fast as click itself."""

from __future__ import annotations

import click

from jwks_tool.cli.main import (
    EXIT_CODES,
    StoreOptions,
    cli,
    json_option,
    make_service,
    print_json,
    require_store,
    set_json,
    set_options,
    store_options,
)
from jwks_tool.core.model import KeySet
from jwks_tool.errors import StoreError
from jwks_tool.stores import open_store  # the store alone: listing needs no crypto and no passphrase
from jwks_tool.stores.interface import DamagedSet


@cli.command("list")
@store_options
@json_option
def list_(store: StoreOptions, as_json: bool) -> None:
    """List the key sets in the store with their keys (never key material).

    A set that cannot be read is listed as DAMAGED, with the rest, and named on stderr with its repair (exit 5).
    """
    opened = open_store(store.url)
    require_store(opened)
    items = list(opened.read_sets_or_damage())
    sets = [item for item in items if isinstance(item, KeySet)]
    damaged = [item for item in items if isinstance(item, DamagedSet)]
    if as_json:
        print_json(
            {
                "store": opened.describe(),
                "sets": [set_json(keyset) for keyset in sets],
                "damaged": [item.to_dict() for item in damaged],
            }
        )
    elif not items:  # a store made by `init` that holds no set yet
        click.echo(f"No key sets in {opened.describe()}. Make one: jwks-tool generate NAME")
    else:
        _table(items)
    for item in damaged:
        click.echo(f"jwks-tool: error: key set {item.ref} is damaged: {item.problem}; {item.fix}", err=True)
    if damaged:
        click.get_current_context().exit(EXIT_CODES[StoreError])


def _table(items: list[KeySet | DamagedSet]) -> None:
    rows = [("SET", "ENV", "PROFILE", "KID", "STATE", "KEY", "ALG", "EXPIRES", "")]
    for keyset in items:
        if isinstance(keyset, DamagedSet):
            rows.append((keyset.ref.name, keyset.ref.env.value, "?", "-", "DAMAGED", "-", "-", "-", ""))
            continue
        newest = keyset.newest
        for key in keyset.keys:
            marker = "newest" if newest is not None and key.kid == newest.kid else ""
            rows.append(
                (
                    keyset.ref.name,
                    keyset.ref.env.value,
                    keyset.profile,
                    key.kid,
                    key.state.value,
                    key.describe(),
                    key.alg,
                    key.expires.strftime("%Y-%m-%d"),
                    marker,
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


@cli.command()
@click.argument("name")
@set_options
@store_options
@json_option
def show(name: str, env: str, store: StoreOptions, as_json: bool) -> None:
    """Show one key set: each key's kid, algorithm, size, thumbprint, dates and state (never key material)."""
    svc = make_service(store)
    keyset = svc.get_set(name, env)
    if as_json:
        print_json({"store": svc.store.describe(), **set_json(keyset)})
        return
    from jwks_tool.documents.templates import render_template  # start-up: list loads this module, not templates

    click.echo(render_template("show.txt.j2", keyset=keyset, store=svc.store.describe()), nl=False)
