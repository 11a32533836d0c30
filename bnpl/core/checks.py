"""The project's own deployment checks (``manage.py check --deploy``): every production
requirement (bnpl/settings/requirements.py) as an error, for whichever settings module is loaded,
so a settings module built on production that switches a sandbox feature back on is caught."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register

from bnpl.settings.requirements import production_problems


@register(Tags.security, deploy=True)
def production_requirements_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """One error per problem, its id naming the variable at fault (e.g. ``bnpl.DATABASE_URL``):
    the settings' own requirements, then what serves live mode."""
    from bnpl.payments.checks import live_parts_problems

    problems = production_problems(lambda name: getattr(settings, name, None)) + live_parts_problems()
    return [
        Error(problem, hint="See .env.example and docs/operations.md.", id=f"bnpl.{_variable(problem)}")
        for problem in problems
    ]


def _variable(problem: str) -> str:
    """The variable a problem starts with ("DATABASE_URL: …" or "STRIPE_API_BASE is set: …")."""
    return problem.replace(":", " ").split(" ", 1)[0]
