"""Accounts to try the demo's partner and backbone pages with.

Made once per deployment by ``cim-demo`` (``make run``): the backbone, and one partner
account per partner that sends a feed, each with its own random password, listed in
``CIM_HOME/secrets/demo-accounts.txt`` (readable by its owner only). A real city makes its
accounts with ``cim accounts add`` or signs in through its identity provider.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cim.appstate import default_url, open_state
from cim.appstate.accounts import BACKBONE_ROLE, PARTNER_ROLE
from cim.city import City
from cim.settings import Paths

ACCOUNTS_FILE = "demo-accounts.txt"


def make_demo_accounts(city: City, paths: Paths) -> Path:
    """The file listing the demo accounts, made (with the accounts) if it is not there."""
    listing = paths.secrets / ACCOUNTS_FILE
    if listing.exists():
        return listing
    state = open_state(default_url(paths.home))
    senders = sorted({c.partner for c in city.contracts})
    wanted = [(BACKBONE_ROLE, BACKBONE_ROLE, None)] + [
        (partner, PARTNER_ROLE, partner)
        for partner in senders
        if not city.partner_by_id[partner].is_backbone
    ]
    lines = ["# user name, role, partner, password (demo only: never reuse these)"]
    for username, role, partner in wanted:
        password = secrets.token_urlsafe(12)
        if state.accounts.get(username) is None:
            state.accounts.create(username, password, role, partner_id=partner)
        else:
            state.accounts.set_password(username, password)
        lines.append(f"{username}\t{role}\t{partner or '-'}\t{password}")
    paths.secrets.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(listing, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    return listing
