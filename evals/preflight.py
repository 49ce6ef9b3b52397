"""One cheap request that checks the endpoint and the model before a long eval run.

An eval of a few hundred problems that starts against a wrong URL, a wrong key
or a misspelt model name would otherwise fail every problem one by one (after
retries) and fill ``results.jsonl`` with errors. :func:`preflight` asks first::

    preflight(settings)          # None, or raises PreflightError with what to fix

It sends ``GET /models/{model}`` through the ``openai`` client with the run's
settings (URL, key, timeout); a 404 there is ambiguous (no such model, or a
server without that route), so it then lists ``GET /models`` and looks for the
model. A server that offers neither route is accepted once it answered at all:
the endpoint is reachable, and the model is checked by the first real request.
Errors are mapped by :func:`agent.errors.map_openai_error`, so the message
carries the same hints as an LLM failure during the run.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PreflightError", "preflight"]

_RETRIES = 2


class PreflightError(RuntimeError):
    """The endpoint or the model is not usable; the message says which and what to do."""


def _client(settings: Any) -> Any:
    import openai

    from agent.llm import OPENAI_BASE_URL, PLACEHOLDER_API_KEY

    key = settings.api_key.get_secret_value() if settings.api_key is not None else None
    return openai.OpenAI(
        api_key=key or PLACEHOLDER_API_KEY,
        base_url=settings.base_url or OPENAI_BASE_URL,
        timeout=min(float(settings.timeout or 30.0), 30.0),
        max_retries=_RETRIES,
    )


def _where(settings: Any) -> str:
    from agent.llm import OPENAI_BASE_URL

    return f"{settings.base_url or OPENAI_BASE_URL} (model {settings.model!r})"


def preflight(settings: Any) -> str:
    """Check that ``settings``' endpoint answers and offers its model; a one-line verdict.

    Raises :class:`PreflightError` when the endpoint is unreachable, refuses the
    key, or lists its models without this one (the message names those it has).
    """
    import openai

    from agent.errors import map_openai_error

    client = _client(settings)
    model = str(settings.model)
    try:
        try:
            found = client.models.retrieve(model)
            return f"preflight: {_where(settings)} answers and offers {found.id}"
        except openai.NotFoundError:
            pass
        try:
            offered = [m.id for m in client.models.list()]
        except openai.NotFoundError:
            return f"preflight: {_where(settings)} answers (it does not list its models)"
    except openai.OpenAIError as exc:
        error = map_openai_error(exc)
        raise PreflightError(
            f"the endpoint check failed for {_where(settings)}: {error}; nothing was run "
            "(--no-preflight skips this check)"
        ) from exc
    finally:
        client.close()
    if model in offered:
        return f"preflight: {_where(settings)} answers and offers {model}"
    shown = ", ".join(sorted(offered)[:20]) + (" ..." if len(offered) > 20 else "")
    raise PreflightError(
        f"the endpoint {_where(settings)} does not offer this model; it offers: "
        f"{shown or 'nothing'}. Pass --model NAME (nothing was run; --no-preflight skips "
        "this check)"
    )
