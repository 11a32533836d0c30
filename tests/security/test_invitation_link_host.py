"""Finding: the team invitation link (a credential: whoever opens it may join the team) was built from
the request's Host header. A request with ``Host: evil.example`` (accepted wherever ALLOWED_HOSTS is
loose, or a proxy passes the client's Host on) emailed the invitee a link to the attacker's host,
which would capture the token when the invitee clicked it.

Links we hand out are built on PUBLIC_BASE_URL whatever the Host (bnpl.core.links.public_url): the
invitation email and page, and the API's pagination links (tests/security/test_crafted_cursors.py).
"""

from __future__ import annotations

import re
from typing import Any

from django.core import mail
from django.test import Client

from merchants.models import Invitation
from tests.helpers import verified_client
from tests.merchants.factories import Tenant, make_member


def test_an_invitation_link_goes_to_the_public_base_url_whatever_the_host(tenant: Tenant, settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["testserver", "evil.example"]
    settings.PUBLIC_BASE_URL = "https://pay.example.com"
    owner = Client()
    verified_client(make_member(merchant=tenant.merchant), client=owner)

    response = owner.post(
        "/merchant/team/invitations",
        {"email": "new.hire@example.com", "role": "analyst"},
        headers={"Host": "evil.example"},
    )

    assert response.status_code == 200
    assert Invitation.objects.filter(merchant=tenant.merchant, email="new.hire@example.com").exists()
    (message,) = mail.outbox
    links = re.findall(r"https?://\S+", str(message.body))
    assert len(links) == 1 and links[0].startswith("https://pay.example.com/merchant/invitations/inv_"), links
    assert "evil.example" not in message.body
    shown = re.findall(r'id="invitation-link">([^<]*)<', response.content.decode())
    assert shown == links

    token_path = links[0].removeprefix("https://pay.example.com")
    assert Client().get(token_path).status_code == 200  # the link works
