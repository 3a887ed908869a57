"""``flask --app admin_web ...`` commands for a first setup: migrate, add an admin."""

from __future__ import annotations

import click
from flask import Flask, current_app
from hosting import db, services
from hosting.errors import InvalidInput


@click.command("init-db")
def init_db_command() -> None:
    """Migrate the database to the newest schema."""
    db.upgrade(current_app.config["DATABASE_URL"])
    click.echo("database is at the newest revision")


@click.command("create-user")
@click.option("--email", prompt=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--admin/--no-admin", default=False)
def create_user_command(email: str, password: str, admin: bool) -> None:
    """Add a user (the first admin, typically)."""
    from admin_web.extensions import get_session

    session = get_session()
    try:
        user = services.create_user(session, email, password, is_admin=admin)
        session.commit()
    except InvalidInput as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {user.email}{' (admin)' if admin else ''}")


def init_app(app: Flask) -> None:
    app.cli.add_command(init_db_command)
    app.cli.add_command(create_user_command)
