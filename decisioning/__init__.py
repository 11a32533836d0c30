"""Credit decisioning, reached through one door: ``decide(application=...) -> Decision``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from decisioning.policy import Application, Decision


def decide(*, application: Application) -> Decision:
    from decisioning.services import credit_decide

    return credit_decide(application=application)
